//! The internal services answer only the deployment's nodes.
//!
//! One listener serves everything — the public API and the node-to-node services — so the line
//! between them is drawn per method, here, and applied by the node's one checking layer
//! ([`super::auth::AuthLayer`]) before a call reaches its handler: with TLS on, a call
//! to an internal method (raft's messages, forwarded writes and read indexes, log shipping,
//! planned failover's fencing, the incident exchange) is served only when the connection's
//! client certificate — already checked by TLS to chain to the deployment's CA — names a node
//! ([`Peer::Node`]), and raft's own methods only a node of *this* region. Anything else (no
//! certificate, a client's certificate, a node of the other region speaking raft) is refused with
//! `PermissionDenied` and the handler never runs, so nothing changes.
//!
//! The layer puts the peer into the request's extensions, so a handler can check that a message
//! claims to come from the member whose certificate carried it (the raft service does: an
//! AppendEntries or vote from "node 2" must come over node 2's certificate).
//!
//! Without TLS there are no identities and no guard: plaintext is allowed on loopback only, or
//! off loopback when the operator asked for it by name (`--insecure`).

use super::identity::Peer;
use super::roles::{self, Need};

/// Which nodes may call a method: `None` for a method that is not internal. Which methods are
/// internal is the role table's ([`roles::need`]); raft's are for this region's nodes only.
fn internal(path: &str) -> Option<Scope> {
    if roles::need(path) != Some(Need::Internal) {
        return None;
    }
    if path.starts_with("/twinstore.v1.RaftService/") {
        Some(Scope::OwnRegion)
    } else {
        Some(Scope::AnyRegion)
    }
}

/// The nodes an internal method serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// Nodes of this node's region (raft).
    OwnRegion,
    /// Nodes of either region of the DR pair.
    AnyRegion,
}

/// Why `peer` may not call a method of `scope` on a node of `region`; `None` when it may.
fn refusal(scope: Scope, peer: Option<&Peer>, region: &str, path: &str) -> Option<String> {
    let why = match peer {
        Some(Peer::Node { region: r, .. }) if scope == Scope::AnyRegion || **r == *region => {
            return None;
        }
        Some(node @ Peer::Node { .. }) => format!("{node} is not a member of region '{region}'"),
        Some(client) => format!("{client} is not a node"),
        None => "the connection has no node certificate".to_string(),
    };
    Some(format!(
        "{path} is an internal service, answered only for a node of the deployment presenting \
         its certificate: {why}"
    ))
}

/// Why `peer` may not call `path` on a node of `region`, served over TLS; `None` when it may, or
/// when `path` is not an internal method.
pub fn refusal_for(path: &str, peer: Option<&Peer>, region: &str) -> Option<String> {
    refusal(internal(path)?, peer, region, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_methods_are_for_nodes_and_raft_for_this_regions() {
        let node = |r: &str, id| Peer::Node { region: r.into(), id };
        let client = Peer::Client { role: "Admin".into(), name: "ops".into() };
        let raft = "/twinstore.v1.RaftService/AppendEntries";
        let pull = "/twinstore.v1.DrService/Pull";
        let scope = |p| internal(p).unwrap();
        assert_eq!(refusal(scope(raft), Some(&node("eu", 2)), "eu", raft), None);
        let other = refusal(scope(raft), Some(&node("us", 2)), "eu", raft).unwrap();
        assert!(other.contains("node 2 of region 'us' is not a member of region 'eu'"), "{other}");
        assert_eq!(refusal(scope(pull), Some(&node("us", 2)), "eu", pull), None);
        let c = refusal(scope(pull), Some(&client), "eu", pull).unwrap();
        assert!(c.contains("client 'ops' (Admin) is not a node"), "{c}");
        let none = refusal(scope(raft), None, "eu", raft).unwrap();
        assert!(none.contains("no node certificate"), "{none}");
        for public in [
            "/twinstore.v1.TwinService/PutTwin",
            "/twinstore.v1.DrService/Failover",
            "/twinstore.v1.HealthService/NodeHealth",
            "/grpc.health.v1.Health/Check",
        ] {
            assert_eq!(internal(public), None, "{public}");
        }
    }
}
