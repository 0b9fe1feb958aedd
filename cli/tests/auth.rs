//! Client authentication and roles, over real sockets: a node started with token keys, called
//! through the generated gRPC clients with chosen `authorization` headers, and through the
//! `twinstore` binary with `--token`.
//!
//! Every refused call is checked three ways: the gRPC code, the error code in `x-ms-error-code`
//! and at the start of the message, and the stored graph's fingerprint, which must be the same
//! before and after (a refused call changes nothing).

mod common;

use common::connect;

use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::Channel;
use twinstore::pb;
use twinstore::pb::cluster_service_client::ClusterServiceClient;
use twinstore::pb::dr_service_client::DrServiceClient;
use twinstore::pb::health_service_client::HealthServiceClient;
use twinstore::pb::model_service_client::ModelServiceClient;
use twinstore::pb::raft_service_client::RaftServiceClient;
use twinstore::pb::twin_service_client::TwinServiceClient;
use twinstore::security::token::{KeyPair, Signer, TokenSpec, now_secs};
use twinstore::security::{AuthConfig, Role};
use twinstore::server::{Node, NodeConfig};

const MODEL: &str = r#"[{"@id": "dtmi:auth:Room;1", "@type": "Interface",
  "@context": "dtmi:dtdl:context;3",
  "contents": [{"@type": "Property", "name": "temperature", "schema": "double"}]}]"#;

/// A key pair on disk: its signer and the public key file for the node.
struct Keys {
    signer: Signer,
    public: PathBuf,
}

fn keys(dir: &Path) -> Keys {
    let (private, public) = KeyPair::generate().unwrap().write(dir).unwrap();
    Keys { signer: Signer::load(&private).unwrap(), public }
}

fn spec(role: Role, ttl: Duration) -> TokenSpec {
    TokenSpec {
        subject: format!("test-{role}"),
        role,
        issuer: "twinstore".into(),
        audience: "twinstore".into(),
        ttl,
    }
}

impl Keys {
    fn token(&self, role: Role) -> String {
        self.signer.issue(&spec(role, Duration::from_secs(600)), now_secs()).unwrap()
    }
}

async fn start(data: &Path, public_keys: &[&Path]) -> Node {
    let mut config = NodeConfig::new(data, "127.0.0.1:0".parse().unwrap());
    config.auth = Some(AuthConfig::new(public_keys.iter().map(|p| p.to_path_buf()).collect()));
    Node::start(config).await.unwrap()
}

async fn channel(node: &Node) -> Channel {
    connect(node.addr(), Duration::from_secs(20)).await
}

/// A request with `authorization: Bearer <token>` when a token is given.
fn req<T>(msg: T, token: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Some(t) = token {
        r.metadata_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

fn put(id: &str, t: f64) -> pb::PutTwinRequest {
    let doc = json!({"$metadata": {"$model": "dtmi:auth:Room;1"}, "temperature": t});
    pb::PutTwinRequest { id: id.into(), twin_json: doc.to_string(), options: None }
}

fn get(id: &str) -> pb::GetTwinRequest {
    pb::GetTwinRequest { id: id.into(), options: None }
}

/// Asserts a refusal: the gRPC code, the error code in the metadata and first in the message,
/// and a fragment of the message.
fn assert_refused(
    result: Result<impl std::fmt::Debug, tonic::Status>,
    code: tonic::Code,
    says: &str,
) {
    let s = result.expect_err("the call should have been refused");
    assert_eq!(s.code(), code, "{s:?}");
    let name = format!("{code:?}");
    assert_eq!(s.metadata().get("x-ms-error-code").unwrap().to_str().unwrap(), name, "{s:?}");
    assert!(s.message().starts_with(&format!("{name}: ")), "{}", s.message());
    assert!(s.message().contains(says), "expected '{says}' in: {}", s.message());
}

const UNAUTH: tonic::Code = tonic::Code::Unauthenticated;
const DENIED: tonic::Code = tonic::Code::PermissionDenied;

#[tokio::test]
async fn every_refused_call_says_why_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(&dir.path().join("keys"));
    let other = keys(&dir.path().join("other"));
    let node = start(&dir.path().join("node"), &[&k.public]).await;
    let ch = channel(&node).await;
    let mut twins = TwinServiceClient::new(ch.clone());
    let mut models = ModelServiceClient::new(ch.clone());
    let (reader, owner, admin) =
        (k.token(Role::DataReader), k.token(Role::DataOwner), k.token(Role::Admin));

    // An owner builds a small graph.
    models
        .add_models(req(
            pb::AddModelsRequest { models_json: MODEL.into(), options: None },
            Some(&owner),
        ))
        .await
        .unwrap();
    twins.put_twin(req(put("room1", 21.0), Some(&owner))).await.unwrap();
    let fingerprint = || node.store().fingerprint().unwrap();
    let before = fingerprint();

    // Missing, garbled, expired, foreign and misdirected credentials: Unauthenticated.
    assert_refused(twins.put_twin(req(put("room1", 99.0), None)).await, UNAUTH, "no credential");
    assert_refused(twins.get_twin(req(get("room1"), None)).await, UNAUTH, "no credential");
    assert_refused(
        twins.put_twin(req(put("room1", 99.0), Some("not-a-jwt"))).await,
        UNAUTH,
        "malformed",
    );
    let mut bad_scheme = tonic::Request::new(put("room1", 99.0));
    bad_scheme.metadata_mut().insert("authorization", format!("Basic {owner}").parse().unwrap());
    assert_refused(twins.put_twin(bad_scheme).await, UNAUTH, "not 'Bearer <token>'");
    let expired =
        k.signer.issue(&spec(Role::Admin, Duration::from_secs(60)), now_secs() - 3600).unwrap();
    assert_refused(
        twins.put_twin(req(put("room1", 99.0), Some(&expired))).await,
        UNAUTH,
        "expired at",
    );
    let foreign = other.token(Role::Admin);
    assert_refused(
        twins.put_twin(req(put("room1", 99.0), Some(&foreign))).await,
        UNAUTH,
        "does not accept",
    );
    let mut elsewhere = spec(Role::Admin, Duration::from_secs(600));
    elsewhere.audience = "another-deployment".into();
    let elsewhere = k.signer.issue(&elsewhere, now_secs()).unwrap();
    assert_refused(
        twins.put_twin(req(put("room1", 99.0), Some(&elsewhere))).await,
        UNAUTH,
        "for audience 'another-deployment'",
    );
    assert_eq!(fingerprint(), before, "a refused credential changed the graph");

    // A reader reads, and may not write.
    let got = twins.get_twin(req(get("room1"), Some(&reader))).await.unwrap().into_inner();
    assert!(got.twin_json.contains("21"), "{}", got.twin_json);
    assert_refused(
        twins.put_twin(req(put("room1", 99.0), Some(&reader))).await,
        DENIED,
        "role DataOwner needed for /twinstore.v1.TwinService/PutTwin",
    );
    assert_refused(
        models
            .delete_model(req(
                pb::DeleteModelRequest { id: "dtmi:auth:Room;1".into(), ..Default::default() },
                Some(&reader),
            ))
            .await,
        DENIED,
        "role DataOwner needed",
    );
    assert_eq!(fingerprint(), before, "a reader's refused write changed the graph");

    // An owner writes, and may not fail over or change the membership.
    let mut dr = DrServiceClient::new(ch.clone());
    let mut cluster = ClusterServiceClient::new(ch.clone());
    let before = {
        twins.put_twin(req(put("room2", 19.0), Some(&owner))).await.unwrap();
        fingerprint()
    };
    assert_refused(
        dr.failover(req(pb::FailoverRequest { planned: true }, Some(&owner))).await,
        DENIED,
        "role Admin needed for /twinstore.v1.DrService/Failover",
    );
    assert_refused(
        cluster
            .add_node(req(
                pb::AddNodeRequest { id: 9, addr: "http://127.0.0.1:1".into() },
                Some(&owner),
            ))
            .await,
        DENIED,
        "role Admin needed for /twinstore.v1.ClusterService/AddNode",
    );
    assert_refused(
        cluster.remove_node(req(pb::RemoveNodeRequest { id: 1 }, Some(&owner))).await,
        DENIED,
        "role Admin needed",
    );
    assert_eq!(fingerprint(), before, "an owner's refused admin call changed the graph");

    // No token opens an internal method, not even an admin's.
    let mut raft = RaftServiceClient::new(ch.clone());
    assert_refused(
        raft.vote(req(pb::VoteRequest { data: vec![1, 2, 3] }, Some(&admin))).await,
        DENIED,
        "internal service, node certificate required",
    );
    assert_refused(
        raft.append_entries(req(pb::AppendEntriesRequest { data: vec![] }, Some(&admin))).await,
        DENIED,
        "internal service",
    );
    assert_refused(
        dr.confirm(req(pb::ConfirmRequest { index: 1 }, Some(&admin))).await,
        DENIED,
        "internal service",
    );
    assert_eq!(fingerprint(), before, "a refused internal call changed the graph");

    // An admin reaches the admin methods: the incident history, and failover (which the node
    // itself then refuses, for it has no standby: the answer comes from DR, not from auth).
    let mut health = HealthServiceClient::new(ch.clone());
    health
        .list_incidents(req(pb::ListIncidentsRequest { since_ns: 0, limit: 10 }, Some(&admin)))
        .await
        .unwrap();
    let s =
        dr.failover(req(pb::FailoverRequest { planned: true }, Some(&admin))).await.unwrap_err();
    assert!(!matches!(s.code(), UNAUTH | DENIED), "auth refused an admin's failover: {s:?}");
    assert_eq!(fingerprint(), before);

    // grpc.health.v1 is open: probes carry no token.
    let mut probe = tonic_health::pb::health_client::HealthClient::new(ch);
    let r = probe.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await;
    assert_eq!(
        r.unwrap().into_inner().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    node.shutdown().await;
}

#[tokio::test]
async fn rotation_accepts_the_old_key_until_it_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let old = keys(&dir.path().join("old"));
    let new = keys(&dir.path().join("new"));
    let data = dir.path().join("node");
    let (old_token, new_token) = (old.token(Role::DataOwner), new.token(Role::DataOwner));

    // Both keys listed: tokens from either are accepted.
    let node = start(&data, &[&old.public, &new.public]).await;
    let mut twins = TwinServiceClient::new(channel(&node).await);
    let mut models = ModelServiceClient::new(channel(&node).await);
    models
        .add_models(req(
            pb::AddModelsRequest { models_json: MODEL.into(), options: None },
            Some(&new_token),
        ))
        .await
        .unwrap();
    twins.put_twin(req(put("a", 1.0), Some(&old_token))).await.unwrap();
    twins.put_twin(req(put("b", 2.0), Some(&new_token))).await.unwrap();
    node.shutdown().await;

    // The old key removed (the node restarted with the new one only): the old token is refused
    // and changes nothing; the new one still works.
    let node = start(&data, &[&new.public]).await;
    let mut twins = TwinServiceClient::new(channel(&node).await);
    twins.get_twin(req(get("a"), Some(&new_token))).await.unwrap();
    let before = node.store().fingerprint().unwrap();
    assert_refused(
        twins.put_twin(req(put("a", 5.0), Some(&old_token))).await,
        UNAUTH,
        "which this node does not accept",
    );
    assert_refused(
        twins.get_twin(req(get("a"), Some(&old_token))).await,
        UNAUTH,
        "does not accept",
    );
    assert_eq!(node.store().fingerprint().unwrap(), before);
    twins.put_twin(req(put("a", 6.0), Some(&new_token))).await.unwrap();
    node.shutdown().await;
}

/// `twinstore token keygen` and `issue`, a node started with `--token-key`, and client commands
/// with `--token`, `--token @FILE` and `TWINSTORE_TOKEN`.
#[test]
fn the_command_issues_tokens_that_nodes_accept() {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let keys_arg = keys_dir.display().to_string();
    let out = common::run(&common::closed_endpoint(), &["token", "keygen", "--out", &keys_arg]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("token-verify.pem"), "{out:?}");
    let again = common::run(&common::closed_endpoint(), &["token", "keygen", "--out", &keys_arg]);
    again.assert_code("InvalidArgument");

    let private = keys_dir.join("token-signing.pem").display().to_string();
    let issue = |role: &str| {
        let out = common::run(
            &common::closed_endpoint(),
            &[
                "token",
                "issue",
                "--key",
                &private,
                "--role",
                role,
                "--ttl",
                "10m",
                "--subject",
                "ci",
            ],
        );
        assert_eq!(out.code, Some(0), "{out:?}");
        out.stdout.trim().to_string()
    };
    let (reader, owner) = (issue("DataReader"), issue("dataowner"));
    assert_eq!(reader.split('.').count(), 3, "not a JWT: {reader}");

    let data = dir.path().join("node");
    let public = keys_dir.join("token-verify.pem").display().to_string();
    let node = common::NodeProc::start_with(
        &data,
        &["--data", &data.display().to_string(), "--listen", "127.0.0.1:0", "--token-key", &public],
    );
    let ep = node.endpoint();
    let model_file = dir.path().join("model.json");
    std::fs::write(&model_file, MODEL).unwrap();
    let model_arg = model_file.display().to_string();

    common::run(&ep, &["model", "list"]).assert_code("Unauthenticated");
    common::run(&ep, &["--token", &reader, "model", "add", &model_arg])
        .assert_code("PermissionDenied");
    let owner_file = dir.path().join("owner.token");
    std::fs::write(&owner_file, format!("{owner}\n")).unwrap();
    let owner_arg = format!("@{}", owner_file.display());
    let out = common::run(&ep, &["--token", &owner_arg, "model", "add", &model_arg]);
    assert_eq!(out.code, Some(0), "{out:?}");

    // The environment variable, as scripts set it.
    let out = std::process::Command::new(common::bin())
        .args(["--endpoint", &ep, "--output", "json", "model", "list"])
        .env("TWINSTORE_TOKEN", &reader)
        .env_remove("TWINSTORE_ENDPOINT")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("dtmi:auth:Room;1"), "{out:?}");
    let line =
        common::run(&ep, &["--token", "garbage", "model", "list"]).assert_code("Unauthenticated");
    assert!(line.contains("malformed"), "{line}");
}

/// `Client::with_token`: every call carries the token, discovery included; without one the
/// library reports the server's `Unauthenticated` with its code.
#[tokio::test]
async fn the_client_library_sends_its_token() {
    use twinstore::client::{Client, Consistency};
    use twinstore::error::ErrorCode;
    let dir = tempfile::tempdir().unwrap();
    let k = keys(&dir.path().join("keys"));
    let node = start(&dir.path().join("node"), &[&k.public]).await;
    let ep = format!("http://{}", node.addr());
    let owner = Client::new([&ep]).unwrap().with_token(&k.token(Role::DataOwner)).unwrap();
    owner.add_models(MODEL).await.unwrap();
    let doc = json!({"$metadata": {"$model": "dtmi:auth:Room;1"}, "temperature": 1.0});
    let conditions = twinstore::client::Conditions::none();
    owner.put_twin("t", &doc.to_string(), conditions.clone()).await.unwrap();

    let anonymous = Client::new([&ep]).unwrap();
    let e = anonymous.get_twin("t", Consistency::Linearizable).await.unwrap_err();
    assert_eq!(e.code, Some(ErrorCode::Unauthenticated), "{e}");
    let reader = Client::new([&ep]).unwrap().with_token(&k.token(Role::DataReader)).unwrap();
    reader.get_twin("t", Consistency::Linearizable).await.unwrap();
    let e = reader.put_twin("t", &doc.to_string(), conditions).await.unwrap_err();
    assert_eq!(e.code, Some(ErrorCode::PermissionDenied), "{e}");
    assert!(!e.is_retryable());
    assert!(Client::new([&ep]).unwrap().with_token("line\nbreak").is_err());
    node.shutdown().await;
}
