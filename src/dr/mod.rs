//! Cross-region disaster recovery: a warm geo-pair fed by log shipping, failover the operator
//! starts, fencing by epoch, failback.
//!
//! THE PAIR. A deployment has a primary region and a standby region, each its own raft group. The
//! standby's leader pulls the primary's committed log over gRPC ([`source`] on the primary side,
//! [`shipper`] on the standby side) and proposes it, batch by batch, into its own raft group, so
//! the standby is highly available too and every one of its nodes applies the same batches. A
//! batch is applied whole (one atomic state-machine entry), re-sent batches are no-ops and a gap is
//! refused (see `storage::dr`), so the standby is always exactly "the primary as of position N".
//! ETags and timestamps come from the commands, so they are byte-identical on both sides.
//!
//! RETENTION. The primary keeps its log behind raft's snapshots until the standby confirms it
//! (the raft log store's retention floor, fed by [`monitor`]), up to a bound; a standby that falls
//! behind the bound, or a brand-new one, is reseeded from a snapshot and streams on from there.
//!
//! FAILOVER ([`failover`]). Planned: the primary is fenced (it stops taking writes under a higher
//! epoch and says where its history ends), the standby catches up to exactly that position, is
//! promoted under the new epoch, and the old primary follows it — zero loss, and the write pause is
//! measured. Forced: the standby is promoted at the position it has; the report says which
//! position and what time that was. When the old primary is back, `reprotect` fences it, keeps
//! aside the writes it had accepted that the new primary never received, reseeds it from the new
//! primary and makes it the standby. Failing back is a planned failover the other way.
//!
//! FENCING ([`monitor`]). A primary region's leader watches its peer; a peer that is primary at a
//! higher epoch fences this region at once. Apply refuses every write whose epoch is not the
//! region's current one, so a fenced region takes no write on any replica. Two regions have no
//! quorum of their own: while the old primary cannot reach the new one it cannot know it was
//! replaced, and writes it takes in that window are exactly what reprotect keeps aside.

pub mod failover;
pub mod lag;
pub mod monitor;
pub mod shipper;
pub mod source;
pub mod status;

use crate::error::Result;
use crate::pb::dr_service_client::DrServiceClient;
use crate::raft::handle::{LEADER_WAIT, RaftHandle};
use crate::raft::{ShipReader, network};
use crate::storage::{Op, Reply, Store};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tonic::transport::Channel;

/// What the DR machinery of one node needs.
#[derive(Clone)]
pub struct Dr {
    /// The node's way into its region's raft group (leader, proposals, channels to the other
    /// region).
    pub node: RaftHandle,
    /// The state machine (the node's own).
    pub store: Arc<Store>,
    /// This node's raft log, retained entries included (the shipper reads it).
    pub log: ShipReader,
    /// This node's id.
    pub id: u64,
    /// This node's region.
    pub region: String,
    /// Replication progress and latency, kept by the standby's leader.
    pub lag: Arc<Mutex<lag::Lag>>,
    /// The raft log store's retention floor.
    pub retention: Arc<AtomicU64>,
}

/// A DrService client over `channel`, for messages as large as raft's (shipped batches, snapshot
/// chunks).
fn client_over(channel: Channel) -> DrServiceClient<Channel> {
    DrServiceClient::new(channel)
        .max_decoding_message_size(network::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(network::MAX_MESSAGE_BYTES)
}

impl Dr {
    /// The DR machinery of the node `node` leads into; `log` reads its raft log
    /// ([`LogStore::shipping_reader`](crate::raft::LogStore::shipping_reader)).
    pub fn new(node: RaftHandle, log: ShipReader, retention: Arc<AtomicU64>) -> Dr {
        Dr {
            store: node.store().clone(),
            id: node.id(),
            region: node.region().to_string(),
            node,
            log,
            lag: Arc::new(Mutex::new(lag::Lag::default())),
            retention,
        }
    }

    /// The links cut for tests (the shipper checks them).
    pub fn faults(&self) -> &network::Faults {
        self.node.faults()
    }

    /// A DrService client for the node at `addr` (the other region's, usually), over the node's
    /// channel pool.
    pub fn client(&self, addr: &str) -> Result<DrServiceClient<Channel>> {
        Ok(client_over(self.node.channel(addr)?))
    }

    /// A DrService client for this region's leader when it is another node; `None` when this
    /// node leads (waiting a while for a leader).
    pub async fn leader_client(&self) -> Result<Option<DrServiceClient<Channel>>> {
        Ok(self.node.leader_channel().await?.map(client_over))
    }

    /// Whether this node leads its region now.
    pub fn is_leader(&self) -> bool {
        self.node.is_leader()
    }

    /// This region's members' URLs.
    pub fn endpoints(&self) -> Vec<String> {
        self.node.members().into_iter().map(|(_, addr)| addr).collect()
    }

    /// Proposes a control op on this node, which must lead its region; returns the reply.
    pub async fn propose(&self, op: Op) -> Result<(u64, Reply)> {
        self.node.propose(op, LEADER_WAIT).await
    }
}
