//! Integration tests: a real node on 127.0.0.1:0, driven through the generated gRPC clients.

mod common;

use common::connect;
use serde_json::{Value, json};
use std::time::Duration;
use tonic::transport::Channel;
use twinstore::pb;
use twinstore::pb::model_service_client::ModelServiceClient;
use twinstore::pb::relationship_service_client::RelationshipServiceClient;
use twinstore::pb::twin_service_client::TwinServiceClient;
use twinstore::server::{Node, NodeConfig};

const MODELS: &str = r#"[
  {"@id": "dtmi:it:Thermostat;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "contents": [{"@type": "Property", "name": "setpoint", "schema": "double"}]},
  {"@id": "dtmi:it:Sensor;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "contents": [{"@type": "Property", "name": "kind", "schema": "string"}]},
  {"@id": "dtmi:it:Room;1", "@type": "Interface", "@context": "dtmi:dtdl:context;3",
   "displayName": "Room",
   "contents": [{"@type": "Property", "name": "temperature", "schema": "double"},
                {"@type": "Component", "name": "thermostat", "schema": "dtmi:it:Thermostat;1"},
                {"@type": "Relationship", "name": "hasSensor", "target": "dtmi:it:Sensor;1"}]}
]"#;

struct Clients {
    twins: TwinServiceClient<Channel>,
    rels: RelationshipServiceClient<Channel>,
    models: ModelServiceClient<Channel>,
}

async fn start(dir: &std::path::Path) -> (Node, Clients) {
    let node = Node::start(NodeConfig::new(dir, "127.0.0.1:0".parse().unwrap())).await.unwrap();
    let channel = connect(node.addr(), Duration::from_secs(10)).await;
    let clients = Clients {
        twins: TwinServiceClient::new(channel.clone()),
        rels: RelationshipServiceClient::new(channel.clone()),
        models: ModelServiceClient::new(channel),
    };
    (node, clients)
}

fn code(s: &tonic::Status) -> &str {
    s.metadata().get("x-ms-error-code").and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn opts(if_match: &str, if_none_match: bool) -> Option<pb::WriteOptions> {
    Some(pb::WriteOptions { if_match: if_match.into(), if_none_match, ..Default::default() })
}

impl Clients {
    async fn put(
        &mut self,
        id: &str,
        doc: Value,
        options: Option<pb::WriteOptions>,
    ) -> Result<pb::PutTwinResponse, tonic::Status> {
        self.twins
            .put_twin(pb::PutTwinRequest { id: id.into(), twin_json: doc.to_string(), options })
            .await
            .map(|r| r.into_inner())
    }

    async fn get(&mut self, id: &str) -> Result<Value, tonic::Status> {
        let r = self
            .twins
            .get_twin(pb::GetTwinRequest { id: id.into(), options: None })
            .await?
            .into_inner();
        Ok(serde_json::from_str(&r.twin_json).unwrap())
    }

    async fn patch(
        &mut self,
        id: &str,
        p: Value,
        options: Option<pb::WriteOptions>,
    ) -> Result<pb::PatchTwinResponse, tonic::Status> {
        self.twins
            .patch_twin(pb::PatchTwinRequest { id: id.into(), patch_json: p.to_string(), options })
            .await
            .map(|r| r.into_inner())
    }

    async fn all_twins(&mut self, ids: &[&str]) -> Vec<Option<Value>> {
        let mut out = Vec::new();
        for id in ids {
            out.push(self.get(id).await.ok());
        }
        out
    }
}

fn room(t: f64) -> Value {
    json!({"$metadata": {"$model": "dtmi:it:Room;1"}, "temperature": t, "thermostat": {"setpoint": 20.0}})
}

#[tokio::test]
async fn full_lifecycle_through_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut c) = start(dir.path()).await;

    let added = c
        .models
        .add_models(pb::AddModelsRequest { models_json: MODELS.into(), options: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.model_json.len(), 3);
    let again = c
        .models
        .add_models(pb::AddModelsRequest { models_json: MODELS.into(), options: None })
        .await
        .unwrap_err();
    assert_eq!(code(&again), "ModelAlreadyExists");
    assert_eq!(again.code(), tonic::Code::AlreadyExists);

    // Twins.
    let created = c.put("room1", room(21.0), opts("", true)).await.unwrap();
    assert!(created.etag.starts_with("W/\""));
    let doc = c.get("room1").await.unwrap();
    assert_eq!(doc["$etag"], created.etag.as_str());
    assert_eq!(doc["thermostat"]["setpoint"], 20.0);
    let dup = c.put("room1", room(22.0), opts("", true)).await.unwrap_err();
    assert_eq!(code(&dup), "PreconditionFailed");
    c.put("s1", json!({"$metadata": {"$model": "dtmi:it:Sensor;1"}, "kind": "co2"}), None)
        .await
        .unwrap();

    // Patch with If-Match.
    let patched = c
        .patch(
            "room1",
            json!([{"op": "replace", "path": "/temperature", "value": 23.5}]),
            opts(&created.etag, false),
        )
        .await
        .unwrap();
    assert_ne!(patched.etag, created.etag);
    let stale = c
        .patch(
            "room1",
            json!([{"op": "replace", "path": "/temperature", "value": 0}]),
            opts(&created.etag, false),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&stale), "PreconditionFailed");
    assert_eq!(stale.code(), tonic::Code::FailedPrecondition);
    assert_eq!(c.get("room1").await.unwrap()["temperature"], 23.5);

    // Components.
    let comp = c
        .twins
        .get_component(pb::GetComponentRequest {
            id: "room1".into(),
            component: "thermostat".into(),
            options: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serde_json::from_str::<Value>(&comp.component_json).unwrap()["setpoint"], 20.0);
    c.twins
        .patch_component(pb::PatchComponentRequest {
            id: "room1".into(),
            component: "thermostat".into(),
            patch_json: json!([{"op": "replace", "path": "/setpoint", "value": 19.0}]).to_string(),
            options: None,
        })
        .await
        .unwrap();
    assert_eq!(c.get("room1").await.unwrap()["thermostat"]["setpoint"], 19.0);
    let missing = c
        .twins
        .get_component(pb::GetComponentRequest {
            id: "room1".into(),
            component: "nope".into(),
            options: None,
        })
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "ComponentNotFound");

    // Telemetry is validated, not stored.
    c.twins
        .publish_telemetry(pb::PublishTelemetryRequest {
            id: "room1".into(),
            message_id: "m1".into(),
            telemetry_json: "{\"t\": 1}".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let no_id = c
        .twins
        .publish_telemetry(pb::PublishTelemetryRequest {
            id: "room1".into(),
            telemetry_json: "{}".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(code(&no_id), "InvalidArgument");
    let ghost = c
        .twins
        .publish_telemetry(pb::PublishTelemetryRequest {
            id: "ghost".into(),
            message_id: "m".into(),
            telemetry_json: "{}".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(code(&ghost), "DigitalTwinNotFound");

    // Relationships.
    let rel = c
        .rels
        .put_relationship(pb::PutRelationshipRequest {
            source_id: "room1".into(),
            relationship_id: "r1".into(),
            relationship_json: json!({"$targetId": "s1", "$relationshipName": "hasSensor"})
                .to_string(),
            options: None,
        })
        .await
        .unwrap()
        .into_inner();
    let rel_doc: Value = serde_json::from_str(&rel.relationship_json).unwrap();
    assert_eq!(rel_doc["$sourceId"], "room1");
    assert_eq!(rel_doc["$etag"], rel.etag.as_str());
    let listed = c
        .rels
        .list_relationships(pb::ListRelationshipsRequest {
            source_id: "room1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.relationship_json.len(), 1);
    let incoming = c
        .rels
        .list_incoming_relationships(pb::ListIncomingRelationshipsRequest {
            target_id: "s1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serde_json::from_str::<Value>(&incoming.incoming_json[0]).unwrap()["$relationshipId"],
        "r1"
    );
    let blocked = c
        .twins
        .delete_twin(pb::DeleteTwinRequest { id: "room1".into(), options: None })
        .await
        .unwrap_err();
    assert_eq!(code(&blocked), "RelationshipsNotDeleted");
    let self_rel = c
        .rels
        .put_relationship(pb::PutRelationshipRequest {
            source_id: "room1".into(),
            relationship_id: "r2".into(),
            relationship_json: json!({"$targetId": "room1", "$relationshipName": "hasSensor"})
                .to_string(),
            options: None,
        })
        .await
        .unwrap_err();
    assert_eq!(code(&self_rel), "OperationNotAllowed");
    c.rels
        .delete_relationship(pb::DeleteRelationshipRequest {
            source_id: "room1".into(),
            relationship_id: "r1".into(),
            options: None,
        })
        .await
        .unwrap();
    let gone = c
        .rels
        .get_relationship(pb::GetRelationshipRequest {
            source_id: "room1".into(),
            relationship_id: "r1".into(),
            options: None,
        })
        .await
        .unwrap_err();
    assert_eq!(code(&gone), "RelationshipNotFound");

    // Models: decommission, delete.
    c.models
        .decommission_model(pb::DecommissionModelRequest {
            id: "dtmi:it:Sensor;1".into(),
            options: None,
        })
        .await
        .unwrap();
    let refused =
        c.put("s2", json!({"$metadata": {"$model": "dtmi:it:Sensor;1"}}), None).await.unwrap_err();
    assert_eq!(code(&refused), "ModelDecommissioned");
    let referenced = c
        .models
        .delete_model(pb::DeleteModelRequest { id: "dtmi:it:Thermostat;1".into(), options: None })
        .await
        .unwrap_err();
    assert_eq!(code(&referenced), "ModelReferencesNotDeleted");
    let model = c
        .models
        .get_model(pb::GetModelRequest {
            id: "dtmi:it:Room;1".into(),
            include_definition: true,
            options: None,
        })
        .await
        .unwrap()
        .into_inner();
    let data: Value = serde_json::from_str(&model.model_json).unwrap();
    assert_eq!(data["displayName"]["en"], "Room");
    assert_eq!(data["model"]["@id"], "dtmi:it:Room;1");
    let list = c
        .models
        .list_models(pb::ListModelsRequest {
            dependencies_for: vec!["dtmi:it:Room;1".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.model_json.len(), 2, "Room and Thermostat");

    // Delete twins.
    c.twins
        .delete_twin(pb::DeleteTwinRequest {
            id: "room1".into(),
            options: opts("W/\"wrong\"", false),
        })
        .await
        .unwrap_err();
    c.twins.delete_twin(pb::DeleteTwinRequest { id: "room1".into(), options: None }).await.unwrap();
    assert_eq!(code(&c.get("room1").await.unwrap_err()), "DigitalTwinNotFound");
    node.shutdown().await;
}

#[tokio::test]
async fn data_survives_a_restart_with_the_same_etags() {
    let dir = tempfile::tempdir().unwrap();
    let ids = ["a", "b", "c"];
    let before = {
        let (node, mut c) = start(dir.path()).await;
        c.models
            .add_models(pb::AddModelsRequest { models_json: MODELS.into(), options: None })
            .await
            .unwrap();
        for (i, id) in ids.iter().enumerate() {
            c.put(id, room(i as f64), None).await.unwrap();
        }
        c.patch("b", json!([{"op": "replace", "path": "/temperature", "value": 99}]), None)
            .await
            .unwrap();
        let docs = c.all_twins(&ids).await;
        node.shutdown().await;
        docs
    };
    let (node, mut c) = start(dir.path()).await;
    let after = c.all_twins(&ids).await;
    assert_eq!(before, after);
    assert!(after.iter().all(Option::is_some));
    // And writes continue with fresh ETags.
    let r = c
        .patch("a", json!([{"op": "replace", "path": "/temperature", "value": 1}]), None)
        .await
        .unwrap();
    assert!(after.iter().all(|d| d.as_ref().unwrap()["$etag"] != r.etag.as_str()));
    node.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_the_right_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut c) = start(dir.path()).await;
    c.models
        .add_models(pb::AddModelsRequest { models_json: MODELS.into(), options: None })
        .await
        .unwrap();
    c.put("room1", room(20.0), None).await.unwrap();
    let before = c.get("room1").await.unwrap();

    let cases: Vec<(&str, tonic::Status)> = vec![
        ("InvalidArgument", c.twins.put_twin(pb::PutTwinRequest { id: "room1".into(), twin_json: "{oops".into(), options: None }).await.unwrap_err()),
        ("ValidationFailed", c.put("room1", json!({"$metadata": {"$model": "dtmi:it:Nope;1"}}), None).await.unwrap_err()),
        ("ValidationFailed", c.put("room1", json!({"$metadata": {"$model": "dtmi:it:Room;1"}, "temperature": "warm", "thermostat": {}}), None).await.unwrap_err()),
        ("PreconditionFailed", c.patch("room1", json!([{"op": "add", "path": "/temperature", "value": 1}]), opts("W/\"nope\"", false)).await.unwrap_err()),
        ("LimitExceeded", c.put("room1", json!({"$metadata": {"$model": "dtmi:it:Sensor;1"}, "kind": "x".repeat(40 * 1024)}), None).await.unwrap_err()),
        ("JsonPatchInvalid", c.twins.patch_twin(pb::PatchTwinRequest { id: "room1".into(), patch_json: "not a patch".into(), options: None }).await.unwrap_err()),
        ("InvalidArgument", c.twins.get_twin(pb::GetTwinRequest { id: String::new(), options: None }).await.unwrap_err()),
        ("DTDLParserError", c.models.add_models(pb::AddModelsRequest { models_json: r#"[{"@id": "not a dtmi", "@type": "Interface", "@context": "dtmi:dtdl:context;3"}]"#.into(), options: None }).await.unwrap_err()),
        ("BadRequest", c.rels.list_relationships(pb::ListRelationshipsRequest { source_id: "room1".into(), continuation_token: "zz!".into(), ..Default::default() }).await.unwrap_err()),
    ];
    for (want, status) in &cases {
        assert_eq!(code(status), *want, "{status:?}");
        assert!(status.message().starts_with(want), "{status:?}");
    }
    assert_eq!(c.get("room1").await.unwrap(), before);

    // Garbage bytes on the wire: a raw HTTP/2 gRPC call whose body is not a PutTwinRequest.
    let channel =
        Channel::from_shared(format!("http://{}", node.addr())).unwrap().connect().await.unwrap();
    let mut raw = tonic::client::Grpc::new(channel);
    raw.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/twinstore.v1.TwinService/PutTwin");
    let garbage = raw
        .unary(tonic::Request::new(vec![0xff_u8, 0xff, 0xff, 0x0f, 0x12, 0x80]), path, RawCodec)
        .await
        .unwrap_err();
    assert_ne!(garbage.code(), tonic::Code::Ok);
    assert_eq!(c.get("room1").await.unwrap(), before);
    node.shutdown().await;
}

#[tokio::test]
async fn retried_writes_are_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let (node, mut c) = start(dir.path()).await;
    c.models
        .add_models(pb::AddModelsRequest { models_json: MODELS.into(), options: None })
        .await
        .unwrap();
    c.put("room1", room(20.0), None).await.unwrap();
    let options = Some(pb::WriteOptions {
        client_id: "client-a".into(),
        request_id: 1,
        ..Default::default()
    });
    let first = c
        .patch(
            "room1",
            json!([{"op": "replace", "path": "/temperature", "value": 30}]),
            options.clone(),
        )
        .await
        .unwrap();
    // A retry while nothing changed the twin gets the very first answer.
    let retry = c
        .patch(
            "room1",
            json!([{"op": "replace", "path": "/temperature", "value": 30}]),
            options.clone(),
        )
        .await
        .unwrap();
    assert_eq!(first.twin_json, retry.twin_json);
    assert_eq!(first.etag, retry.etag);
    // A concurrent writer changes the twin; the retry must not re-apply over it. The dedupe table
    // keeps the answer's ETag, not the document, so the retry gets the twin as it is now, with its
    // current ETag (a consistent pair).
    let other = c
        .patch("room1", json!([{"op": "replace", "path": "/temperature", "value": 40}]), None)
        .await
        .unwrap();
    let retry = c
        .patch("room1", json!([{"op": "replace", "path": "/temperature", "value": 30}]), options)
        .await
        .unwrap();
    assert_eq!(retry.etag, other.etag);
    assert_eq!(retry.twin_json, other.twin_json);
    assert_eq!(c.get("room1").await.unwrap()["temperature"], 40);
    node.shutdown().await;
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (node, _c) = start(dir.path()).await;
    let channel =
        Channel::from_shared(format!("http://{}", node.addr())).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let resp = health
        .check(tonic_health::pb::HealthCheckRequest { service: "twinstore.v1.TwinService".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
    node.shutdown().await;
}

/// Sends and receives raw bytes, to put garbage on the wire.
#[derive(Clone, Copy)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut v = vec![0; src.remaining()];
        src.copy_to_slice(&mut v);
        Ok(Some(v))
    }
}
