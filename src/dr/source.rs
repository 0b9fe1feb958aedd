//! The primary side of log shipping: a stream of the region's committed log for one standby.
//!
//! Any node of the primary region can serve it — every node has the committed log (what raft
//! replicated to it, plus what retention kept behind snapshots). The stream starts exactly where
//! the standby asks, sends whole contiguous runs of the log as this node applies them, and sends a
//! heartbeat when there is nothing new, so the standby knows how fresh it is. When the asked-for
//! entry is no longer here the stream ends with `NeedReseed` and the standby reseeds from a
//! snapshot (or tries another node).
//!
//! A fenced old primary still serves its history up to the fence, which is how a planned
//! failover drains it; it never ships past the fence.

use super::Dr;
use crate::err;
use crate::error::{Error, Result};
use crate::model::time::Timestamp;
use crate::raft::reader;
use crate::storage::dr::{Role, ShipBatch};
use std::time::Duration;
use tokio::sync::mpsc;

/// Heartbeats go out this often when there is nothing new to ship.
pub const HEARTBEAT: Duration = Duration::from_millis(100);

/// The most log entries in one shipped batch.
pub const MAX_BATCH_ENTRIES: usize = 2000;

/// One message of the stream: a batch and the primary's applied index when it was sent.
pub type Shipment = (ShipBatch, u64);

/// Starts streaming this node's log from `from` into a channel. The task ends when the receiver
/// is dropped, or after sending an error.
pub fn stream(geo: Dr, from: u64) -> mpsc::Receiver<Result<Shipment>> {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        if let Err(e) = run(&geo, from, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

async fn run(geo: &Dr, from: u64, tx: &mpsc::Sender<Result<Shipment>>) -> Result<()> {
    let mut next = from.max(1);
    let mut metrics = geo.node.raft().metrics();
    loop {
        // A node that is stopping ends its streams (they would otherwise outlive it).
        if metrics.borrow().state == openraft::ServerState::Shutdown {
            return Err(err!(Unavailable, "node {} is shutting down", geo.id));
        }
        let dr = geo.store.dr()?;
        // What this node may ship: its applied log as primary, or its history up to the fence.
        let (cap, epoch) = match (dr.role, dr.fenced_at) {
            (Role::Primary, _) => (geo.store.applied_index(), dr.epoch),
            (Role::Standby, Some(f)) => (f.index.min(geo.store.applied_index()), f.epoch),
            (Role::Standby, None) => {
                return Err(err!(
                    ReadOnlyRegion,
                    "region '{}' is a standby and has no log to ship",
                    geo.region
                ));
            }
        };
        if let Some(p) = dr.promoted_at
            && dr.role == Role::Primary
            && next <= p.index
        {
            return Err(need_reseed(format!(
                "index {next} is before region '{}' became primary (after index {}); reseed",
                geo.region, p.index
            )));
        }
        if next <= cap {
            let log = geo.log.clone();
            let run = tokio::task::spawn_blocking(move || {
                reader::read_run(&log, next, cap, MAX_BATCH_ENTRIES)
            })
            .await
            .map_err(|e| err!(Internal, "reading the log: {e}"))??;
            let Some(run) = run else {
                return Err(need_reseed(format!(
                    "node {} no longer has log index {next} (purged behind a snapshot); reseed",
                    geo.id
                )));
            };
            let batch = ShipBatch {
                source_epoch: epoch,
                from: next,
                to: run.to,
                entries: run.entries,
                source_time: Timestamp::now(),
                caught_up: run.to == cap,
            };
            next = run.to + 1;
            if tx.send(Ok((batch, cap))).await.is_err() {
                return Ok(());
            }
            continue;
        }
        // Nothing new: a heartbeat, then wait for the next apply (or the heartbeat period).
        let heartbeat = ShipBatch {
            source_epoch: epoch,
            from: next,
            to: next - 1,
            entries: Vec::new(),
            source_time: Timestamp::now(),
            caught_up: true,
        };
        if tx.send(Ok((heartbeat, cap))).await.is_err() {
            return Ok(());
        }
        if let Ok(Err(_)) = tokio::time::timeout(HEARTBEAT, metrics.changed()).await {
            return Err(err!(Unavailable, "node {} has stopped", geo.id));
        }
    }
}

/// The error that tells a standby to reseed.
pub fn need_reseed(why: String) -> Error {
    Error::new(crate::error::ErrorCode::BadRequest, format!("{RESEED_MARK}{why}"))
}

/// The start of a reseed error's message.
pub const RESEED_MARK: &str = "reseed needed: ";
