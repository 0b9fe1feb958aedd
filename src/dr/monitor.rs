//! The DR housekeeping every node runs: keeps the raft log's retention floor at what the standby
//! has confirmed, proposes the region's initial DR role once, and — on a primary's leader — fences
//! the region as soon as its peer turns out to be primary at a higher epoch.

use super::Dr;
use crate::pb;
use crate::storage::Op;
use crate::storage::dr::{PeerRegion, Role};
use crate::storage::keys::meta;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the monitor looks.
const PERIOD: Duration = Duration::from_millis(300);

/// Runs until raft shuts down. `init` is the region's configured DR role (a `DrInit` op).
pub async fn run(geo: Dr, init: Option<Op>) {
    loop {
        if geo.node.raft().metrics().borrow().state == openraft::ServerState::Shutdown {
            return;
        }
        if let Err(e) = tick(&geo, init.as_ref()).await {
            tracing::debug!("DR monitor: {e}");
        }
        tokio::time::sleep(PERIOD).await;
    }
}

async fn tick(geo: &Dr, init: Option<&Op>) -> crate::error::Result<()> {
    let dr = geo.store.dr()?;
    let floor =
        if dr.role == Role::Primary && dr.peer.is_some() { dr.standby_confirmed } else { u64::MAX };
    geo.retention.store(floor, Ordering::SeqCst);
    if !geo.is_leader() {
        return Ok(());
    }
    if let Some(op) = init
        && geo.store.meta(meta::DR)?.is_none()
    {
        geo.propose(op.clone()).await?;
        return Ok(());
    }
    if dr.role == Role::Primary
        && let Some(peer) = &dr.peer
    {
        fence_if_replaced(geo, dr.epoch, peer).await?;
    }
    Ok(())
}

/// Fences this region if any node of its peer is primary at a higher epoch.
async fn fence_if_replaced(geo: &Dr, epoch: u64, peer: &PeerRegion) -> crate::error::Result<()> {
    for addr in &peer.endpoints {
        let Ok(mut c) = geo.client(addr) else { continue };
        let mut req = tonic::Request::new(pb::DrStatusRequest {});
        req.set_timeout(Duration::from_millis(500));
        let Ok(status) = c.dr_status(req).await else { continue };
        let s = status.into_inner();
        if s.role() == pb::DrRole::Primary && s.epoch > epoch {
            tracing::warn!(
                peer = %s.region, peer_epoch = s.epoch, epoch,
                "the peer region is primary at a higher epoch: fencing this region"
            );
            let peer = PeerRegion { name: s.region.clone(), endpoints: s.endpoints.clone() };
            geo.propose(Op::Fence { epoch: s.epoch, peer: Some(peer) }).await?;
            return Ok(());
        }
    }
    Ok(())
}
