"""A twin's lifecycle through Python stubs generated from proto/ with grpcio-tools.

Run by tests/python_client.rs, which starts a twinstore node and generates the stubs:

    python twin_lifecycle.py <stubs dir> <host:port>

It proves the API is usable from another language than Rust: models, a twin created, read,
patched with If-Match (and a stale ETag refused), a relationship, a query, deletes and NOT_FOUND,
plus the raft role read as an enum. Every step is asserted; any mismatch exits non-zero with the
step's name. Every call has a deadline.
"""

import json
import sys
import time

STUBS, TARGET = sys.argv[1], sys.argv[2]
sys.path.insert(0, STUBS)

import grpc  # noqa: E402

from twinstore.v1 import cluster_pb2, cluster_pb2_grpc  # noqa: E402
from twinstore.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from twinstore.v1 import query_pb2, query_pb2_grpc  # noqa: E402
from twinstore.v1 import roles_pb2  # noqa: E402
from twinstore.v1 import twins_pb2, twins_pb2_grpc  # noqa: E402

# One call's deadline, and how long the node may take to elect itself leader.
DEADLINE = 10.0
READY_WITHIN = 30.0

MODELS = [
    {
        "@id": "dtmi:py:Sensor;1",
        "@type": "Interface",
        "@context": "dtmi:dtdl:context;3",
        "contents": [{"@type": "Property", "name": "kind", "schema": "string"}],
    },
    {
        "@id": "dtmi:py:Room;1",
        "@type": "Interface",
        "@context": "dtmi:dtdl:context;3",
        "contents": [
            {"@type": "Property", "name": "temperature", "schema": "double"},
            {"@type": "Relationship", "name": "hasSensor", "target": "dtmi:py:Sensor;1"},
        ],
    },
]


class Failed(Exception):
    pass


def check(step, cond, detail=""):
    if not cond:
        raise Failed(f"{step}: {detail}")
    print(f"ok  {step}")


def error_code(err):
    """ADT's error code: the x-ms-error-code metadata entry, or the message's prefix."""
    for key, value in list(err.trailing_metadata() or []) + list(err.initial_metadata() or []):
        if key == "x-ms-error-code":
            return value
    return (err.details() or "").split(":", 1)[0]


def refused(step, call, status, code):
    """Runs `call`, which must fail with gRPC `status` and ADT `code`."""
    try:
        call()
    except grpc.RpcError as err:
        check(
            step,
            err.code() == status and error_code(err) == code,
            f"expected {status} {code}, got {err.code()} {error_code(err)}: {err.details()}",
        )
        return
    raise Failed(f"{step}: the call succeeded; expected {status} {code}")


def wait_ready(models):
    """The first write, retried while the new node elects itself (UNAVAILABLE)."""
    request = twins_pb2.AddModelsRequest(models_json=json.dumps(MODELS))
    give_up = time.monotonic() + READY_WITHIN
    while True:
        try:
            return models.AddModels(request, timeout=DEADLINE)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > give_up:
                raise
            time.sleep(0.2)


def main():
    channel = grpc.insecure_channel(TARGET)
    grpc.channel_ready_future(channel).result(timeout=DEADLINE)
    models = twins_pb2_grpc.ModelServiceStub(channel)
    twins = twins_pb2_grpc.TwinServiceStub(channel)
    rels = twins_pb2_grpc.RelationshipServiceStub(channel)
    query = query_pb2_grpc.QueryServiceStub(channel)
    cluster = cluster_pb2_grpc.ClusterServiceStub(channel)
    health = health_pb2_grpc.HealthServiceStub(channel)

    added = wait_ready(models)
    check("models added", len(added.model_json) == 2 and added.index > 0, str(added))
    got = models.GetModel(twins_pb2.GetModelRequest(id="dtmi:py:Room;1"), timeout=DEADLINE)
    check("model read", json.loads(got.model_json)["id"] == "dtmi:py:Room;1", got.model_json)

    # The roles are enums on the wire: this single node leads its region.
    status = cluster.ClusterStatus(cluster_pb2.ClusterStatusRequest(), timeout=DEADLINE)
    check("raft role is an enum", status.role == roles_pb2.RAFT_ROLE_LEADER, str(status.role))
    node = health.NodeHealth(health_pb2.NodeHealthRequest(), timeout=DEADLINE).node
    check(
        "node health",
        node.raft_role == roles_pb2.RAFT_ROLE_LEADER
        and node.state == health_pb2.HEALTH_STATE_AVAILABLE,
        f"{node.raft_role} {node.state} {list(node.reasons)}",
    )

    # Create (If-None-Match: *), read.
    room = {"$metadata": {"$model": "dtmi:py:Room;1"}, "temperature": 21.5}
    put = twins.PutTwin(
        twins_pb2.PutTwinRequest(
            id="room-1",
            twin_json=json.dumps(room),
            options=twins_pb2.WriteOptions(if_none_match=True),
        ),
        timeout=DEADLINE,
    )
    check("twin created", put.etag.startswith('W/"') and put.index > 0, str(put))
    refused(
        "a second create with If-None-Match is refused",
        lambda: twins.PutTwin(
            twins_pb2.PutTwinRequest(
                id="room-1",
                twin_json=json.dumps(room),
                options=twins_pb2.WriteOptions(if_none_match=True),
            ),
            timeout=DEADLINE,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PreconditionFailed",
    )
    get = twins.GetTwin(twins_pb2.GetTwinRequest(id="room-1"), timeout=DEADLINE)
    doc = json.loads(get.twin_json)
    check(
        "twin read",
        doc["$dtId"] == "room-1"
        and doc["temperature"] == 21.5
        and doc["$etag"] == put.etag == get.etag,
        get.twin_json,
    )
    check(
        "read served linearizably, after the write",
        get.read.consistency == twins_pb2.CONSISTENCY_LINEARIZABLE
        and get.read.applied_index >= put.index,
        str(get.read),
    )

    # Patch with If-Match on the ETag; the old ETag is stale afterwards.
    patch = [{"op": "replace", "path": "/temperature", "value": 23.0}]
    patched = twins.PatchTwin(
        twins_pb2.PatchTwinRequest(
            id="room-1",
            patch_json=json.dumps(patch),
            options=twins_pb2.WriteOptions(if_match=put.etag),
        ),
        timeout=DEADLINE,
    )
    check(
        "patched with If-Match",
        patched.etag != put.etag and json.loads(patched.twin_json)["temperature"] == 23.0,
        str(patched),
    )
    refused(
        "a stale ETag is refused",
        lambda: twins.PatchTwin(
            twins_pb2.PatchTwinRequest(
                id="room-1",
                patch_json=json.dumps([{"op": "replace", "path": "/temperature", "value": 0}]),
                options=twins_pb2.WriteOptions(if_match=put.etag),
            ),
            timeout=DEADLINE,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PreconditionFailed",
    )

    # A relationship to a second twin.
    twins.PutTwin(
        twins_pb2.PutTwinRequest(
            id="sensor-1",
            twin_json=json.dumps({"$metadata": {"$model": "dtmi:py:Sensor;1"}, "kind": "co2"}),
        ),
        timeout=DEADLINE,
    )
    rel = rels.PutRelationship(
        twins_pb2.PutRelationshipRequest(
            source_id="room-1",
            relationship_id="r1",
            relationship_json=json.dumps(
                {"$targetId": "sensor-1", "$relationshipName": "hasSensor"}
            ),
        ),
        timeout=DEADLINE,
    )
    rel_doc = json.loads(rel.relationship_json)
    check("relationship created", rel_doc["$targetId"] == "sensor-1", rel.relationship_json)
    listed = rels.ListRelationships(
        twins_pb2.ListRelationshipsRequest(source_id="room-1"), timeout=DEADLINE
    )
    check("relationship listed", len(listed.relationship_json) == 1, str(listed))

    # Queries: a twin by property, and a join along the relationship.
    rows = query.Query(
        query_pb2.QueryRequest(query="SELECT * FROM DIGITALTWINS T WHERE T.temperature = 23"),
        timeout=DEADLINE,
    ).row_json
    check(
        "query by property",
        [json.loads(r)["$dtId"] for r in rows] == ["room-1"],
        str(list(rows)),
    )
    joined = query.Query(
        query_pb2.QueryRequest(
            query="SELECT S FROM DIGITALTWINS R JOIN S RELATED R.hasSensor "
            "WHERE R.$dtId = 'room-1'"
        ),
        timeout=DEADLINE,
    ).row_json
    check(
        "query along the relationship",
        [json.loads(r)["S"]["$dtId"] for r in joined] == ["sensor-1"],
        str(list(joined)),
    )

    # Deletes: a twin with relationships cannot go; without them it can; then NOT_FOUND.
    refused(
        "a twin with relationships is not deleted",
        lambda: twins.DeleteTwin(twins_pb2.DeleteTwinRequest(id="room-1"), timeout=DEADLINE),
        grpc.StatusCode.FAILED_PRECONDITION,
        "RelationshipsNotDeleted",
    )
    rels.DeleteRelationship(
        twins_pb2.DeleteRelationshipRequest(source_id="room-1", relationship_id="r1"),
        timeout=DEADLINE,
    )
    deleted = twins.DeleteTwin(twins_pb2.DeleteTwinRequest(id="room-1"), timeout=DEADLINE)
    check("twin deleted", deleted.index > patched.index, str(deleted))
    refused(
        "a deleted twin is not found",
        lambda: twins.GetTwin(twins_pb2.GetTwinRequest(id="room-1"), timeout=DEADLINE),
        grpc.StatusCode.NOT_FOUND,
        "DigitalTwinNotFound",
    )
    channel.close()


if __name__ == "__main__":
    try:
        main()
    except Failed as failure:
        print(f"FAILED {failure}")
        sys.exit(1)
    except grpc.RpcError as err:
        print(f"FAILED with an unexpected gRPC error: {err.code()} {err.details()}")
        sys.exit(1)
    print("PASSED: a twin's lifecycle through the Python stubs")
