//! Roles, and the table of what each gRPC method needs.
//!
//! Three roles, each including the one before (as ADT's "Azure Digital Twins Data Reader / Data
//! Owner" and an administrator):
//!
//! | role | may call |
//! |---|---|
//! | `DataReader` | reads and queries of twins, relationships and models; status (cluster, DR, node, region and both-regions health), which clients also use to find the leader and the primary |
//! | `DataOwner` | the above, plus writes of twins, components, relationships and models, and telemetry |
//! | `Admin` | the above, plus membership changes, failover, reprotect, the divergent writes, the incident history and the audit trail |
//!
//! Beside the roles, two kinds of method need no role:
//!
//! - **Internal** methods are what nodes call on each other: all of `RaftService` (raft's
//!   messages, forwarded writes and read-index requests), DR log shipping (`Pull`, `Confirm`,
//!   `Snapshot`) and the planned-failover steps between regions (`Fence`, `Follow`), and the
//!   incident exchange (`ExportIncidents`, `SubmitIncident`). No token is ever enough for them,
//!   whatever its role: only a node, identified by its certificate, may call them. A token that
//!   could append raft entries would bypass every other check.
//! - **Open** methods need no credential: the standard `grpc.health.v1.Health` (load balancers
//!   and orchestrators probe it without tokens, and it says only SERVING or not) and gRPC
//!   reflection (it serves the API's schema, which is public in `proto/` anyway).
//!
//! **Default deny**: a method not in the table (a new RPC nobody classified) is refused. A unit
//! test walks every service in the generated descriptor set and fails when one of its methods is
//! missing here, so a new RPC cannot ship unclassified.

use serde::{Deserialize, Serialize};

/// A client's role: each includes the ones before it (`DataReader < DataOwner < Admin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Reads and queries.
    DataReader,
    /// Reads, plus writes of twins, relationships and models, and telemetry.
    DataOwner,
    /// Everything a client may do: plus cluster membership, DR operations, incident history.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::DataReader, Role::DataOwner, Role::Admin];

    /// The role's name, as in tokens and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::DataReader => "DataReader",
            Role::DataOwner => "DataOwner",
            Role::Admin => "Admin",
        }
    }

    /// Parses a role name (case-insensitive).
    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What calling a method takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: anyone may call it.
    Open,
    /// A principal with at least this role.
    Role(Role),
    /// A node of the deployment (node-to-node calls); never a token.
    Internal,
}

/// What the method at a gRPC request path (`/twinstore.v1.TwinService/PutTwin`) needs; `None`
/// for a method not in the table, which must be refused (default deny).
pub fn need(path: &str) -> Option<Need> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    if service == "grpc.health.v1.Health"
        || service == "grpc.reflection.v1.ServerReflection"
        || service == "grpc.reflection.v1alpha.ServerReflection"
    {
        return Some(Need::Open);
    }
    use Need::{Internal, Role as R};
    use Role::{Admin, DataOwner, DataReader};
    let need = match (service.strip_prefix("twinstore.v1.")?, method) {
        ("TwinService", "GetTwin" | "GetComponent") => R(DataReader),
        ("TwinService", "PutTwin" | "PatchTwin" | "DeleteTwin" | "PatchComponent") => R(DataOwner),
        ("TwinService", "PublishTelemetry") => R(DataOwner),
        (
            "RelationshipService",
            "GetRelationship" | "ListRelationships" | "ListIncomingRelationships",
        ) => R(DataReader),
        ("RelationshipService", "PutRelationship" | "PatchRelationship" | "DeleteRelationship") => {
            R(DataOwner)
        }
        ("ModelService", "GetModel" | "ListModels") => R(DataReader),
        ("ModelService", "AddModels" | "DecommissionModel" | "DeleteModel") => R(DataOwner),
        ("QueryService", "Query") => R(DataReader),
        ("ClusterService", "ClusterStatus") => R(DataReader),
        ("ClusterService", "AddNode" | "RemoveNode") => R(Admin),
        ("DrService", "DrStatus") => R(DataReader),
        ("DrService", "Failover" | "Reprotect" | "Divergent") => R(Admin),
        ("DrService", "Pull" | "Confirm" | "Snapshot" | "Fence" | "Follow") => Internal,
        ("HealthService", "NodeHealth" | "RegionHealth" | "Overview") => R(DataReader),
        ("HealthService", "ListIncidents" | "GetIncident") => R(Admin),
        ("HealthService", "ExportIncidents" | "SubmitIncident") => Internal,
        ("AuditService", "ListAuditEntries") => R(Admin),
        ("RaftService", "AppendEntries" | "Vote" | "InstallSnapshot" | "Forward" | "ReadIndex") => {
            Internal
        }
        _ => return None,
    };
    Some(need)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Every method of every service the node serves from `twinstore.v1` is classified, so the
    /// default deny never refuses a real API call by accident.
    #[test]
    fn every_rpc_in_the_descriptors_is_classified() {
        let set = prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
        let mut count = 0;
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    assert!(need(&path).is_some(), "{path} is not in the role table");
                    count += 1;
                }
            }
        }
        // Nine services, 44 methods today; the count guards against walking an empty set.
        assert!(count >= 44, "only {count} methods found in the descriptor set");
    }

    #[test]
    fn unknown_methods_are_not_classified() {
        assert_eq!(need("/twinstore.v1.TwinService/DropEverything"), None);
        assert_eq!(need("/twinstore.v2.TwinService/GetTwin"), None);
        assert_eq!(need("/other.Service/GetTwin"), None);
        assert_eq!(need("garbage"), None);
        assert_eq!(need(""), None);
    }

    #[test]
    fn the_table_says_what_the_docs_say() {
        assert_eq!(need("/twinstore.v1.TwinService/GetTwin"), Some(Need::Role(Role::DataReader)));
        assert_eq!(need("/twinstore.v1.TwinService/PutTwin"), Some(Need::Role(Role::DataOwner)));
        assert_eq!(need("/twinstore.v1.DrService/Failover"), Some(Need::Role(Role::Admin)));
        assert_eq!(need("/twinstore.v1.ClusterService/AddNode"), Some(Need::Role(Role::Admin)));
        assert_eq!(need("/twinstore.v1.RaftService/AppendEntries"), Some(Need::Internal));
        assert_eq!(need("/twinstore.v1.DrService/Pull"), Some(Need::Internal));
        assert_eq!(need("/grpc.health.v1.Health/Check"), Some(Need::Open));
    }

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::DataReader < Role::DataOwner && Role::DataOwner < Role::Admin);
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("Root"), None);
    }
}
