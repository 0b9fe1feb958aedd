//! The audit trail over real sockets: administrative operations a node ran are listed with who
//! ran them, when and how they ended; refused calls are not; the trail survives a restart; and
//! `twinstore audit list` shows it (as `anonymous` on a node without authentication).

mod common;

use common::connect;

use std::path::Path;
use std::time::Duration;
use tonic::transport::Channel;
use twinstore::model::time::Timestamp;
use twinstore::pb;
use twinstore::pb::audit_service_client::AuditServiceClient;
use twinstore::pb::cluster_service_client::ClusterServiceClient;
use twinstore::pb::dr_service_client::DrServiceClient;
use twinstore::security::token::{KeyPair, Signer, TokenSpec, now_secs};
use twinstore::security::{AuthConfig, Role};
use twinstore::server::{Node, NodeConfig};

fn token(signer: &Signer, role: Role) -> String {
    let spec = TokenSpec {
        subject: format!("op-{role}"),
        role,
        issuer: "twinstore".into(),
        audience: "twinstore".into(),
        ttl: Duration::from_secs(600),
    };
    signer.issue(&spec, now_secs()).unwrap()
}

fn req<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

async fn start(data: &Path, public: &Path) -> (Node, Channel) {
    let mut config = NodeConfig::new(data, "127.0.0.1:0".parse().unwrap());
    config.auth = Some(AuthConfig::new(vec![public.to_path_buf()]));
    let node = Node::start(config).await.unwrap();
    let ch = connect(node.addr(), Duration::from_secs(20)).await;
    (node, ch)
}

async fn list(ch: &Channel, token: &str) -> Result<Vec<pb::AuditEntry>, tonic::Status> {
    let r = AuditServiceClient::new(ch.clone())
        .list_audit_entries(req(pb::ListAuditEntriesRequest { limit: 0 }, token))
        .await?;
    Ok(r.into_inner().entries)
}

#[tokio::test]
async fn admin_operations_are_recorded_with_who_what_when_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = KeyPair::generate().unwrap().write(&dir.path().join("keys")).unwrap();
    let signer = Signer::load(&private).unwrap();
    let (admin, owner) = (token(&signer, Role::Admin), token(&signer, Role::DataOwner));
    let data = dir.path().join("node");
    let (node, ch) = start(&data, &public).await;
    let mut cluster = ClusterServiceClient::new(ch.clone());
    let mut dr = DrServiceClient::new(ch.clone());
    assert!(list(&ch, &admin).await.unwrap().is_empty());

    let started = Timestamp::now().0;
    // Two operations that run and fail: both on the trail, with their errors.
    let e = cluster.remove_node(req(pb::RemoveNodeRequest { id: 7 }, &admin)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    let e = dr.failover(req(pb::FailoverRequest { planned: false }, &admin)).await.unwrap_err();
    assert!(
        !matches!(e.code(), tonic::Code::PermissionDenied | tonic::Code::Unauthenticated),
        "{e:?}"
    );
    // A refused one is not: it never ran.
    let refused = dr.failover(req(pb::FailoverRequest { planned: true }, &owner)).await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);
    let ended = Timestamp::now().0;

    let entries = list(&ch, &admin).await.unwrap();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    let (failover, remove) = (&entries[0], &entries[1]);
    assert_eq!(
        (remove.subject.as_str(), remove.role.as_str(), remove.via.as_str()),
        ("op-Admin", "Admin", "token")
    );
    assert_eq!((remove.method.as_str(), remove.detail.as_str()), ("RemoveNode", "node 7"));
    assert!(remove.outcome.starts_with("InvalidArgument: node 7 is not a member"), "{remove:?}");
    assert_eq!((failover.method.as_str(), failover.detail.as_str()), ("Failover", "forced"));
    assert_eq!(failover.outcome, e.message(), "the outcome is the answer the caller got");
    for entry in &entries {
        assert!((started..=ended).contains(&entry.time_ns), "{entry:?} not in {started}..{ended}");
        assert_eq!((entry.node_id, entry.region.as_str()), (1, "primary"));
    }
    assert!(failover.index > remove.index);

    // Listing it takes Admin.
    let denied = list(&ch, &owner).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    assert!(denied.message().contains("role Admin needed"), "{}", denied.message());

    // It is in the region's log: a restarted node still has it.
    node.shutdown().await;
    let (node, ch) = start(&data, &public).await;
    assert_eq!(list(&ch, &admin).await.unwrap(), entries);
    node.shutdown().await;
}

/// Through the binary, on a node without authentication: the caller is `anonymous`.
#[test]
fn the_command_lists_the_trail() {
    let dir = tempfile::tempdir().unwrap();
    let node = common::NodeProc::start(&dir.path().join("node"));
    let ep = node.endpoint();
    let out = common::run(&ep, &["audit", "list"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("no administrative operations recorded"), "{out:?}");
    common::run(&ep, &["cluster", "remove-node", "9"]).assert_code("InvalidArgument");
    let listed = common::json(&ep, &["audit", "list", "--limit", "5"]);
    let entries = listed.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{listed}");
    let e = &entries[0];
    assert_eq!((e["subject"].as_str(), e["via"].as_str()), (Some("anonymous"), Some("none")));
    assert_eq!((e["method"].as_str(), e["detail"].as_str()), (Some("RemoveNode"), Some("node 9")));
    assert!(e["outcome"].as_str().unwrap().starts_with("InvalidArgument: "), "{e}");
    let text = common::run(&ep, &["audit", "list"]);
    assert!(
        text.stdout.contains("anonymous (none)  RemoveNode node 9  InvalidArgument:"),
        "{text:?}"
    );
}
