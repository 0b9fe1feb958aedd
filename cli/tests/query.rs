//! Integration tests of the query language: a real node on 127.0.0.1:0, loaded through the gRPC
//! API with the sample building (`scripts/sample/`) and a generated campus, queried through the
//! generated `QueryService` client.
//!
//! The generated campus, so that every expected result below can be worked out by hand:
//! - buildings `gb-B` (B = 0..3), each `contains` floors `gf-B-F` (F = 0..4, `level` F),
//!   each `contains` rooms `gr-B-F-R` (R = 0..5) with `Capacity` 10·R, `temperature` 20 + F,
//!   `name` "Room BFR";
//! - 3 + 12 + 60 = 75 twins and 12 + 60 = 72 relationships.
//!
//! The sample building adds 11 twins (rooms with Capacity 12, 2, 8, 4 and temperatures 22.5,
//! 19.0, 21.5, 20.0) and 10 relationships: 86 twins and 82 relationships in all.

mod common;

use common::connect;
use serde_json::{Value, json};
use std::time::Duration;
use tonic::transport::Channel;
use twinstore::pb;
use twinstore::pb::model_service_client::ModelServiceClient;
use twinstore::pb::query_service_client::QueryServiceClient;
use twinstore::pb::relationship_service_client::RelationshipServiceClient;
use twinstore::pb::twin_service_client::TwinServiceClient;
use twinstore::server::{Node, NodeConfig};

struct Env {
    node: Node,
    channel: Channel,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let node =
            Node::start(NodeConfig::new(dir.path(), "127.0.0.1:0".parse().unwrap())).await.unwrap();
        let channel = connect(node.addr(), Duration::from_secs(30)).await;
        let env = Env { node, channel, _dir: dir };
        let mut models = ModelServiceClient::new(env.channel.clone());
        for (_, m) in twinstore::model::sample::MODELS {
            models
                .add_models(pb::AddModelsRequest { models_json: m.into(), options: None })
                .await
                .unwrap();
        }
        env
    }

    async fn put_twin(&self, id: &str, doc: Value) -> pb::PutTwinResponse {
        let mut twins = TwinServiceClient::new(self.channel.clone());
        let req = pb::PutTwinRequest { id: id.into(), twin_json: doc.to_string(), options: None };
        twins.put_twin(req).await.unwrap_or_else(|e| panic!("put {id}: {e}")).into_inner()
    }

    async fn put_rel(&self, source: &str, id: &str, doc: Value) {
        let mut rels = RelationshipServiceClient::new(self.channel.clone());
        let req = pb::PutRelationshipRequest {
            source_id: source.into(),
            relationship_id: id.into(),
            relationship_json: doc.to_string(),
            options: None,
        };
        rels.put_relationship(req).await.unwrap_or_else(|e| panic!("put {source}/{id}: {e}"));
    }

    async fn load(&self) {
        let twins: Vec<Value> = serde_json::from_str(twinstore::model::sample::TWINS).unwrap();
        for t in twins {
            let id = t["$dtId"].as_str().unwrap().to_string();
            self.put_twin(&id, t).await;
        }
        let rels: Vec<Value> =
            serde_json::from_str(twinstore::model::sample::RELATIONSHIPS).unwrap();
        for r in rels {
            let (s, id) = (
                r["$sourceId"].as_str().unwrap().to_string(),
                r["$relationshipId"].as_str().unwrap().to_string(),
            );
            self.put_rel(&s, &id, r).await;
        }
        let contains = |target: &str| json!({"$targetId": target, "$relationshipName": "contains"});
        for b in 0..3 {
            let building = format!("gb-{b}");
            self.put_twin(&building, json!({"$metadata": {"$model": "dtmi:example:Building;1"}, "name": format!("Building {b}")})).await;
            for f in 0..4 {
                let floor = format!("gf-{b}-{f}");
                self.put_twin(
                    &floor,
                    json!({"$metadata": {"$model": "dtmi:example:Floor;1"}, "level": f}),
                )
                .await;
                self.put_rel(&building, &format!("c-{floor}"), contains(&floor)).await;
                for r in 0..5 {
                    let room = format!("gr-{b}-{f}-{r}");
                    let doc = json!({"$metadata": {"$model": "dtmi:example:Room;1"}, "name": format!("Room {b}{f}{r}"),
                                     "Capacity": 10 * r, "temperature": 20.0 + f as f64, "thermostat": {}});
                    self.put_twin(&room, doc).await;
                    self.put_rel(&floor, &format!("c-{room}"), contains(&room)).await;
                }
            }
        }
    }

    fn client(&self) -> QueryServiceClient<Channel> {
        QueryServiceClient::new(self.channel.clone())
    }

    async fn page(
        &self,
        query: &str,
        page_size: u32,
        token: &str,
    ) -> Result<pb::QueryResponse, tonic::Status> {
        let req = pb::QueryRequest {
            query: query.into(),
            page_size,
            continuation_token: token.into(),
            options: None,
        };
        self.client().query(req).await.map(|r| r.into_inner())
    }

    /// Every row, following the continuation tokens.
    async fn rows(&self, query: &str) -> Vec<Value> {
        self.rows_paged(query, 0).await.0
    }

    async fn rows_paged(&self, query: &str, page_size: u32) -> (Vec<Value>, usize) {
        let mut rows = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let p = self
                .page(query, page_size, &token)
                .await
                .unwrap_or_else(|e| panic!("{query}: {e}"));
            pages += 1;
            rows.extend(p.row_json.iter().map(|r| serde_json::from_str::<Value>(r).unwrap()));
            if p.continuation_token.is_empty() {
                return (rows, pages);
            }
            token = p.continuation_token;
        }
    }

    async fn column(&self, query: &str, key: &str) -> Vec<String> {
        self.rows(query).await.iter().map(|r| r[key].as_str().unwrap_or("?").to_string()).collect()
    }

    async fn count(&self, query: &str) -> u64 {
        let rows = self.rows(query).await;
        assert_eq!(rows.len(), 1, "{query}");
        rows[0]["COUNT"].as_u64().unwrap()
    }
}

fn code(s: &tonic::Status) -> &str {
    s.metadata().get("x-ms-error-code").and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn results_over_the_sample_building_and_a_generated_campus() {
    let env = Env::start().await;
    env.load().await;

    // The issue's examples.
    let rows =
        env.rows("SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN ['room-101', 'gr-2-3-4']").await;
    let ids: Vec<&str> = rows.iter().map(|r| r["$dtId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["room-101", "gr-2-3-4"]);
    assert_eq!(rows[1]["Capacity"], 40);
    let rows = env
        .rows(
            "SELECT T, CT FROM DIGITALTWINS T JOIN CT RELATED T.contains WHERE T.$dtId = 'gf-2-3'",
        )
        .await;
    let cts: Vec<&str> = rows.iter().map(|r| r["CT"]["$dtId"].as_str().unwrap()).collect();
    assert_eq!(cts, ["gr-2-3-0", "gr-2-3-1", "gr-2-3-2", "gr-2-3-3", "gr-2-3-4"]);
    assert!(rows.iter().all(|r| r["T"]["$dtId"] == "gf-2-3"));
    let q = "SELECT Floor, Room FROM DIGITALTWINS MATCH (Floor)-[:contains*..2]->(Room) WHERE Floor.$dtId = 'floor-1'";
    let rooms: Vec<String> = env
        .rows(q)
        .await
        .iter()
        .map(|r| r["Room"]["$dtId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rooms, ["room-101", "room-102"]);
    // Sample rooms hold 12, 2, 8, 4: none over 20. Campus rooms hold 0..40: R = 3, 4 on 12 floors.
    let q = "SELECT COUNT() FROM DIGITALTWINS c WHERE IS_OF_MODEL('dtmi:example:Room;1') AND c.Capacity > 20";
    assert_eq!(env.count(q).await, 24);

    // Totals.
    assert_eq!(env.count("SELECT COUNT() FROM DIGITALTWINS").await, 86);
    assert_eq!(env.count("SELECT COUNT() FROM RELATIONSHIPS").await, 82);
    assert_eq!(
        env.count("SELECT COUNT() FROM RELATIONSHIPS R WHERE R.$relationshipName = 'hasSensor'")
            .await,
        4
    );
    // Up to two hops from a campus building: 4 floors and 20 rooms; exactly two: the rooms.
    assert_eq!(
        env.rows(
            "SELECT R FROM DIGITALTWINS MATCH (B)-[:contains*..2]->(R) WHERE B.$dtId = 'gb-1'"
        )
        .await
        .len(),
        24
    );
    let q = "SELECT R.$dtId AS r FROM DIGITALTWINS MATCH (B)-[*1..2]->(R) WHERE B.$dtId = 'gb-1'";
    let rooms = env.column(q, "r").await;
    assert_eq!(rooms.len(), 20);
    assert!(rooms.iter().all(|r| r.starts_with("gr-1-")));
    // Back up from a room to its building.
    let q = "SELECT B.name FROM DIGITALTWINS MATCH (B)-[:contains]->(F)-[:contains]->(R) WHERE R.$dtId = 'gr-2-0-3'";
    assert_eq!(env.column(q, "name").await, ["Building 2"]);
    // Temperature 23 is floor 3 of each campus building: 15 rooms; no sample room is at 23.
    assert_eq!(env.count("SELECT COUNT() FROM DIGITALTWINS T WHERE T.temperature = 23").await, 15);
    // The biggest rooms, ordered.
    let q = "SELECT TOP(3) T.$dtId AS id FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Room;1') \
             ORDER BY T.Capacity DESC, T.$dtId";
    assert_eq!(env.column(q, "id").await, ["gr-0-0-4", "gr-0-1-4", "gr-0-2-4"]);
    // Projections with AS and a component property.
    let q = "SELECT T.name AS n, T.thermostat.mode FROM DIGITALTWINS T WHERE T.$dtId IN ['room-101', 'gr-0-0-0']";
    assert_eq!(
        env.rows(q).await,
        [json!({"n": "Room 101", "mode": "heat"}), json!({"n": "Room 000"})]
    );
}

#[tokio::test]
async fn paging_cost_and_errors() {
    let env = Env::start().await;
    env.load().await;

    // 4 sample rooms and 60 campus rooms, 10 a page.
    let q = "SELECT T.$dtId AS id FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Room;1')";
    let (rows, pages) = env.rows_paged(q, 10).await;
    assert_eq!((rows.len(), pages), (64, 7));
    let mut ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64);

    // Cost: the first page read the 64 index entries and the 64 twins; later pages read nothing.
    let first = env.page(q, 10, "").await.unwrap();
    assert_eq!(first.rows_scanned, 128);
    assert!(first.query_charge > 12.0, "{}", first.query_charge);
    let second = env.page(q, 10, &first.continuation_token).await.unwrap();
    assert_eq!(second.rows_scanned, 0);
    assert!(second.query_charge < first.query_charge);
    let read = second.read.unwrap();
    assert_eq!(read.applied_index, first.read.unwrap().applied_index);
    assert!(read.applied_index > 0);
    // A lookup reads one twin.
    assert_eq!(
        env.page("SELECT * FROM DIGITALTWINS T WHERE T.$dtId = 'gb-0'", 0, "")
            .await
            .unwrap()
            .rows_scanned,
        1
    );

    // Errors carry ADT codes and say where.
    let e = env.page("SELECT * FORM DIGITALTWINS", 0, "").await.unwrap_err();
    assert_eq!((e.code(), code(&e)), (tonic::Code::InvalidArgument, "InvalidArgument"));
    assert_eq!(
        e.message(),
        "InvalidArgument: query syntax error at line 1, column 10: expected FROM, found 'FORM'"
    );
    let e = env.page("", 0, "").await.unwrap_err();
    assert_eq!(e.message(), "InvalidArgument: the query is empty");
    let e = env.page(q, 10, "q1-00000000000000000000000000000001-0").await.unwrap_err();
    assert_eq!(code(&e), "BadRequest");
    let e = env.page(q, 10, "not-a-token").await.unwrap_err();
    assert_eq!(code(&e), "BadRequest");
    let long = format!("SELECT * FROM DIGITALTWINS T WHERE T.name = '{}'", "x".repeat(8000));
    assert_eq!(code(&env.page(&long, 0, "").await.unwrap_err()), "LimitExceeded");
    let items: Vec<String> = (0..51).map(|i| format!("'{i}'")).collect();
    let many = format!("SELECT * FROM DIGITALTWINS T WHERE T.$dtId IN [{}]", items.join(","));
    assert_eq!(code(&env.page(&many, 0, "").await.unwrap_err()), "LimitExceeded");
    let e = env.page("SELECT * FROM DIGITALTWINS MATCH (a)-[*11]->(b)", 0, "").await.unwrap_err();
    assert_eq!(code(&e), "LimitExceeded");
}

#[tokio::test]
async fn a_write_is_in_the_next_query() {
    let env = Env::start().await;
    let q = "SELECT T.$dtId AS id, T.temperature AS t FROM DIGITALTWINS T WHERE IS_OF_MODEL(T, 'dtmi:example:Room;1')";
    assert!(env.rows(q).await.is_empty());
    let room = |t: f64| json!({"$metadata": {"$model": "dtmi:example:Room;1"}, "temperature": t, "thermostat": {}});
    for i in 0..20 {
        let written = env.put_twin(&format!("r{i:02}"), room(i as f64)).await;
        // Immediately queried: there, with the value just written.
        let page = env.page(&format!("{q} AND T.$dtId = 'r{i:02}'"), 0, "").await.unwrap();
        assert_eq!(page.row_json.len(), 1, "write {i} missing from the query right after it");
        assert!(page.read.unwrap().applied_index >= written.index);
        assert_eq!(env.rows(q).await.len(), i + 1);
    }
    let mut twins = TwinServiceClient::new(env.channel.clone());
    let patch = json!([{"op": "replace", "path": "/temperature", "value": 99.5}]).to_string();
    twins
        .patch_twin(pb::PatchTwinRequest { id: "r07".into(), patch_json: patch, options: None })
        .await
        .unwrap();
    assert_eq!(
        env.rows(&format!("{q} AND T.temperature > 99")).await,
        [json!({"id": "r07", "t": 99.5})]
    );
    twins.delete_twin(pb::DeleteTwinRequest { id: "r07".into(), options: None }).await.unwrap();
    assert!(env.rows(&format!("{q} AND T.$dtId = 'r07'")).await.is_empty());
    env.node.shutdown().await;
}

#[tokio::test]
async fn a_client_that_gives_up_does_not_hurt_the_node() {
    let env = Env::start().await;
    env.load().await;
    // A query whose client stops waiting almost at once: the request future is dropped and the
    // query is cancelled. The node keeps serving.
    let mut req = tonic::Request::new(pb::QueryRequest {
        query: "SELECT * FROM DIGITALTWINS MATCH (a)-[*..5]-(b)".into(),
        page_size: 0,
        continuation_token: String::new(),
        options: None,
    });
    req.set_timeout(Duration::from_millis(1));
    let e = env.client().query(req).await.unwrap_err();
    assert!(matches!(e.code(), tonic::Code::Cancelled | tonic::Code::DeadlineExceeded), "{e:?}");
    assert_eq!(env.count("SELECT COUNT() FROM DIGITALTWINS").await, 86);
}

#[tokio::test]
async fn the_query_command_prints_rows_as_json() {
    let env = Env::start().await;
    env.load().await;
    let endpoint = format!("http://{}", env.node.addr());
    let run = |args: Vec<String>| {
        let endpoint = endpoint.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_twinstore"))
                .arg("--endpoint")
                .arg(endpoint)
                .args(args)
                .output()
                .unwrap()
        })
    };
    let q = "SELECT T.$dtId AS id FROM DIGITALTWINS T WHERE STARTSWITH(T.$dtId, 'gf-1-')";
    // --all follows the tokens: the 4 floors of building 1, two a page.
    let out = run(vec![
        "--output".into(),
        "json".into(),
        "query".into(),
        q.into(),
        "--page-size".into(),
        "2".into(),
        "--all".into(),
    ])
    .await
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rows,
        json!([{"id": "gf-1-0"}, {"id": "gf-1-1"}, {"id": "gf-1-2"}, {"id": "gf-1-3"}])
    );
    // One page, with the way to the next on stderr.
    let out = run(vec!["query".into(), q.into(), "--page-size".into(), "3".into()]).await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("3 rows, query charge "), "{err}");
    let token =
        err.split("--continuation ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    let out = run(vec![
        "--output".into(),
        "json".into(),
        "query".into(),
        q.into(),
        "--continuation".into(),
        token,
    ])
    .await
    .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), json!([{"id": "gf-1-3"}]));
    // Errors: one line, the ADT code first, exit code 1.
    let out = run(vec!["query".into(), "SELECT * FROM DIGITALTWINS WHERE".into()]).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "InvalidArgument: query syntax error at line 1, column 33: expected a property name or a value, found the end of the query"
    );
}
