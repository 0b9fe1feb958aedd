//! Failover the operator starts, and reprotect after a forced one.
//!
//! Each runs on the leader of the region it changes (the API passes the request there).
//!
//! PLANNED (run on the standby's leader): fence the primary under epoch+1 — from that entry on it
//! refuses every write, on every replica, and it reports where its history ends (F); wait until
//! this region has applied exactly up to F (the shipper keeps pulling: a fenced primary still
//! ships its history up to the fence); promote this region under epoch+1; tell the old primary to
//! follow this region's log from the promotion on. Nothing acknowledged is lost: every write the
//! old primary acknowledged is at or before F. The write pause is from the fence to the promotion.
//! If the catch-up does not finish in time, nothing is promoted and the command fails; the old
//! primary stays fenced, so run it again (fencing again at the same epoch is a no-op) or force.
//!
//! FORCED (run on the standby's leader): promote at the position this region has. The report gives
//! that position and the primary's time of it — the RPO actually taken.
//!
//! REPROTECT (run on the old primary's leader, once it is back): fence this region under the new
//! primary's epoch; find the writes it acknowledged after the position the new primary was
//! promoted at (its own log, their outcomes from its dedupe table) and keep them aside; reseed
//! from the new primary; from then on this region is the standby and ships the other way.

use super::Dr;
use super::shipper::{reseed, status_error};
use crate::err;
use crate::error::Result;
use crate::model::time::Timestamp;
use crate::pb;
use crate::raft::reader;
use crate::storage::dr::{DrState, PeerRegion, Position, Role};
use crate::storage::{Command, Op, Reply, RequestId};
use std::time::{Duration, Instant};

/// How long a planned failover waits for the standby to catch up with the fenced primary.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);

/// What a failover did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The new epoch.
    pub epoch: u64,
    /// The position of the old primary's history the new primary holds.
    pub at: Position,
    /// The old primary's time of that position.
    pub at_time: Timestamp,
    /// Planned: how long writes were refused.
    pub write_pause: Duration,
    /// Forced: entries the old primary had that this region had not received, at least: the old
    /// primary's last reported position less the position promoted at (it may have applied more
    /// before it died, unreported; `reprotect` lists the writes exactly).
    pub lost_estimate: u64,
    /// A summary for people.
    pub summary: String,
}

fn my_region(geo: &Dr) -> PeerRegion {
    PeerRegion { name: geo.region.clone(), endpoints: geo.endpoints() }
}

/// The region's DR state, which must be a standby's to fail over to it.
fn standby_state(geo: &Dr) -> Result<DrState> {
    let dr = geo.store.dr()?;
    if dr.role != Role::Standby {
        return Err(err!(
            OperationNotAllowed,
            "region '{}' is already the primary (epoch {})",
            geo.region,
            dr.epoch
        ));
    }
    Ok(dr)
}

/// A planned failover (switchover) to this region.
pub async fn planned(geo: &Dr) -> Result<Report> {
    let dr = standby_state(geo)?;
    let peer = dr.peer.clone().ok_or_else(|| {
        err!(OperationNotAllowed, "region '{}' has no primary configured", geo.region)
    })?;
    let epoch = dr.epoch + 1;
    let started = Instant::now();
    let fence = fence_peer(geo, &peer, epoch).await?;
    tracing::info!(epoch, fenced_at = fence.index, "planned failover: the primary is fenced");
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        let dr = geo.store.dr()?;
        if dr.upstream.index >= fence.index && dr.upstream.epoch == fence.epoch || fence.index == 0
        {
            break;
        }
        if Instant::now() >= deadline {
            return Err(err!(
                Unavailable,
                "the standby reached index {} of the primary's {} in {:?}; not promoted (the primary \
                 stays fenced: retry the planned failover, or force it)",
                dr.upstream.index,
                fence.index,
                CATCH_UP_TIMEOUT
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (at, at_time, index) = promote(geo, epoch, &peer).await?;
    let write_pause = started.elapsed();
    // The old primary follows this region from the promotion on.
    let follow = pb::FollowRequest {
        epoch,
        index,
        peer_region: geo.region.clone(),
        peer_endpoints: geo.endpoints(),
    };
    let mut told = false;
    for addr in &peer.endpoints {
        if let Ok(mut c) = geo.client(addr)
            && c.follow(follow.clone()).await.is_ok()
        {
            told = true;
            break;
        }
    }
    let summary = format!(
        "region '{}' is the primary at epoch {epoch}; nothing was lost (promoted at {}:{} = the old \
         primary's last position); writes paused for {:.0} ms{}",
        geo.region,
        at.epoch,
        at.index,
        write_pause.as_secs_f64() * 1000.0,
        if told {
            ""
        } else {
            "; the old primary could not be told to follow: run `dr reprotect` on it"
        }
    );
    Ok(Report { epoch, at, at_time, write_pause, lost_estimate: 0, summary })
}

/// A forced failover to this region: promote it at the position it has.
pub async fn forced(geo: &Dr) -> Result<Report> {
    let dr = standby_state(geo)?;
    let peer = dr.peer.clone().unwrap_or_default();
    let primary_applied = geo.lag.lock().unwrap_or_else(|e| e.into_inner()).primary_applied;
    let (at, at_time, _) = promote(geo, dr.epoch + 1, &peer).await?;
    let lost_estimate = primary_applied.saturating_sub(at.index);
    let rpo = Timestamp::now().0.saturating_sub(at_time.0) as f64 / 1e9;
    let summary = format!(
        "region '{}' is the primary at epoch {}; it holds the old primary's history up to {}:{} \
         (the old primary's time {}, {rpo:.3} s ago); writes after that position were not carried \
         over (at least {lost_estimate} log entries, by the old primary's last reported position) — \
         run `dr reprotect` on the old primary when it is back to list them exactly",
        geo.region,
        dr.epoch + 1,
        at.epoch,
        at.index,
        at_time.to_adt_string(),
    );
    Ok(Report {
        epoch: dr.epoch + 1,
        at,
        at_time,
        write_pause: Duration::ZERO,
        lost_estimate,
        summary,
    })
}

async fn promote(geo: &Dr, epoch: u64, peer: &PeerRegion) -> Result<(Position, Timestamp, u64)> {
    match geo.propose(Op::Promote { epoch, peer: Some(peer.clone()) }).await? {
        (_, Reply::Promoted { at, replicated_time, index }) => Ok((at, replicated_time, index)),
        (_, other) => Err(err!(Internal, "unexpected reply to a promotion: {other:?}")),
    }
}

async fn fence_peer(geo: &Dr, peer: &PeerRegion, epoch: u64) -> Result<Position> {
    let me = my_region(geo);
    let req = pb::FenceRequest {
        epoch,
        peer_region: me.name.clone(),
        peer_endpoints: me.endpoints.clone(),
    };
    let mut last = err!(Unavailable, "the primary region '{}' has no endpoints", peer.name);
    for addr in &peer.endpoints {
        let mut c = geo.client(addr)?;
        let mut r = tonic::Request::new(req.clone());
        r.set_timeout(Duration::from_secs(10));
        match c.fence(r).await {
            Ok(resp) => {
                let f = resp.into_inner();
                return Ok(Position { epoch: f.epoch, index: f.index });
            }
            Err(s) => last = status_error(s),
        }
    }
    Err(err!(
        Unavailable,
        "cannot reach the primary region '{}' to fence it ({}); if it is gone, use a forced failover",
        peer.name,
        last.message
    ))
}

/// Reprotect: this region (an old primary) becomes the standby of the current primary.
pub async fn reprotect(geo: &Dr) -> Result<(u64, Position)> {
    let dr = geo.store.dr()?;
    let peer = dr.peer.clone().ok_or_else(|| {
        err!(OperationNotAllowed, "region '{}' has no peer region configured", geo.region)
    })?;
    // The new primary: its epoch and where it was promoted in our history.
    let mut found = None;
    for addr in &peer.endpoints {
        if let Ok(mut c) = geo.client(addr)
            && let Ok(s) = c.dr_status(pb::DrStatusRequest {}).await
        {
            let s = s.into_inner();
            if s.role() == pb::DrRole::Primary {
                found = Some((addr.clone(), s));
                break;
            }
        }
    }
    let (addr, primary) = found
        .ok_or_else(|| err!(Unavailable, "no node of region '{}' answers as primary", peer.name))?;
    if primary.epoch <= dr.epoch && dr.role == Role::Primary {
        return Err(err!(
            OperationNotAllowed,
            "region '{}' is the primary at epoch {}, not behind region '{}' (epoch {})",
            geo.region,
            dr.epoch,
            primary.region,
            primary.epoch
        ));
    }
    let new_primary =
        PeerRegion { name: primary.region.clone(), endpoints: primary.endpoints.clone() };
    geo.propose(Op::Fence { epoch: primary.epoch, peer: Some(new_primary) }).await?;
    let dr = geo.store.dr()?;
    // Writes this region acknowledged after the position the new primary holds.
    let promoted_at = Position { epoch: primary.replicated_epoch, index: primary.replicated_index };
    let mut divergent = Vec::new();
    if let Some(fenced) = dr.fenced_at
        && fenced.epoch == promoted_at.epoch
        && fenced.index > promoted_at.index
    {
        let mut next = promoted_at.index + 1;
        while next <= fenced.index {
            let log = geo.log.clone();
            let run = tokio::task::spawn_blocking(move || {
                reader::read_run(&log, next, fenced.index, 10_000)
            })
            .await
            .map_err(|e| err!(Internal, "{e}"))??;
            let Some(run) = run else { break };
            for (i, cmd) in run.entries {
                if let Some(cmd) = acknowledged_part(geo, cmd, fenced.epoch)? {
                    divergent.push((i, cmd));
                }
            }
            next = run.to + 1;
        }
    }
    let kept = divergent.len() as u64;
    for chunk in divergent.chunks(500) {
        geo.propose(Op::KeepDivergent { entries: chunk.to_vec() }).await?;
    }
    let position = reseed(geo, &addr).await?;
    Ok((kept, position))
}

/// The part of a write of epoch `epoch` that was acknowledged: the write itself, or of a batch the
/// batch of its acknowledged writes (`None` if nothing of it was).
fn acknowledged_part(geo: &Dr, cmd: Command, epoch: u64) -> Result<Option<Command>> {
    if let Op::Batch(cmds) = &cmd.op {
        let mut kept = Vec::new();
        for c in cmds {
            if c.epoch == epoch && acknowledged(geo, c.request.as_ref())? {
                kept.push(c.clone());
            }
        }
        return Ok((!kept.is_empty()).then_some(Command { op: Op::Batch(kept), ..cmd }));
    }
    Ok((cmd.epoch == epoch && acknowledged(geo, cmd.request.as_ref())?).then_some(cmd))
}

/// Whether a write was acknowledged: its remembered outcome was a success (or is unknown — the
/// dedupe record was evicted — in which case it counts, to be safe).
fn acknowledged(geo: &Dr, request: Option<&RequestId>) -> Result<bool> {
    match request {
        Some(r) => Ok(geo.store.remembered(r)?.unwrap_or(true)),
        None => Ok(true),
    }
}
