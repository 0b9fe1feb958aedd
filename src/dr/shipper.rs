//! The standby side of log shipping: the leader of the standby region pulls the primary's log and
//! proposes it into its own raft group, batch by batch.
//!
//! Only the standby's leader runs it (every node runs the loop, idle unless it leads and its
//! region is a standby). It asks the primary for the log from one past the position its region
//! has applied — read from the replicated DR state, so a new leader resumes exactly where the old
//! one stopped: no gap, no double apply (and a re-sent batch would be a no-op anyway). It follows
//! the primary across its nodes: on an error it tries the next endpoint. When no primary node has
//! the log any more, it reseeds the region from a snapshot (and starts a reseed again when one was
//! cut short: the graph is incomplete until a reseed's last part is applied).

use super::Dr;
use super::source::RESEED_MARK;
use crate::err;
use crate::error::{Error, Result};
use crate::model::time::Timestamp;
use crate::pb;
use crate::raft::network;
use crate::storage::dr::{Position, Role, ShipBatch};
use crate::storage::{Op, Store};
use std::time::{Duration, Instant};

/// How long to wait between attempts when the primary is unreachable.
const RETRY: Duration = Duration::from_millis(200);

/// About the size of each part a reseed proposes (one raft entry each; see `storage::dr`).
pub const RESEED_PART_BYTES: usize = 256 << 10;

/// How often the standby confirms its position to the primary (for the primary's retention).
const CONFIRM_EVERY: Duration = Duration::from_secs(1);

/// Runs the shipper loop until raft shuts down.
pub async fn run(geo: Dr) {
    let mut next_endpoint = 0usize;
    let mut reseed_votes = 0usize;
    loop {
        if geo.node.raft().metrics().borrow().state == openraft::ServerState::Shutdown {
            return;
        }
        let dr = match geo.store.dr() {
            Ok(dr) => dr,
            Err(e) => {
                tracing::error!("reading the DR state: {e}");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let endpoints = dr.peer.as_ref().map(|p| p.endpoints.clone()).unwrap_or_default();
        if dr.role != Role::Standby {
            // Not a standby (any more): nothing to pull, and no replication figures to show.
            *geo.lag.lock().unwrap_or_else(|e| e.into_inner()) = super::lag::Lag::default();
        }
        if dr.role != Role::Standby
            || endpoints.is_empty()
            || !geo.is_leader()
            || dr.fenced_at.is_some() && dr.upstream == Position::default()
        {
            set_connected(&geo, false, "");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        let addr = endpoints[next_endpoint % endpoints.len()].clone();
        if dr.reseeding.is_some() {
            // A reseed was cut short (this node has just become the leader, say): the graph is
            // incomplete, and only a whole reseed makes it a prefix of the primary's again.
            if let Err(e) = reseed(&geo, &addr).await {
                tracing::warn!(%addr, "reseeding again failed: {e}");
                set_connected(&geo, false, &e.to_string());
                next_endpoint += 1;
                tokio::time::sleep(RETRY).await;
            }
            continue;
        }
        match follow(&geo, &addr).await {
            Ok(()) => {}
            Err(e) if e.message.contains(RESEED_MARK) => {
                reseed_votes += 1;
                tracing::warn!(%addr, "the primary cannot ship from our position: {e}");
                if reseed_votes >= endpoints.len() {
                    reseed_votes = 0;
                    if let Err(e) = reseed(&geo, &addr).await {
                        tracing::warn!(%addr, "reseeding failed: {e}");
                        set_connected(&geo, false, &e.to_string());
                    }
                }
                next_endpoint += 1;
            }
            Err(e) => {
                tracing::debug!(%addr, "shipping stopped: {e}");
                set_connected(&geo, false, &e.to_string());
                next_endpoint += 1;
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// The most shipped entries, and about the most bytes, one proposal carries when the primary's
/// messages queued up while the previous proposal was replicated (one source batch is at most
/// `source::MAX_BATCH_ENTRIES`).
const MAX_MERGED_ENTRIES: usize = 2 * super::source::MAX_BATCH_ENTRIES;
const MAX_MERGED_BYTES: usize = 4 << 20;

/// The primary's messages as this node sees them. A reader task drains the stream at full speed
/// into a queue, stamping each message with the time it may be handed on: at once, or, with a
/// fault-injected WAN delay, `delay ± jitter` after it arrived, in order (only latency is added,
/// as on a long link). The queue is what lets the shipper take every message that is due in one
/// go ([`Incoming::ready`]) and propose them as one raft entry: a standby proposes one entry at
/// a time and each costs two `fdatasync`s in a row, so proposing message by message would cap
/// the standby at a few hundred of the primary's entries a second and let it fall behind.
struct Incoming {
    rx: tokio::sync::mpsc::Receiver<(tokio::time::Instant, Message)>,
    held: Option<(tokio::time::Instant, Message)>,
}

type Message = std::result::Result<Option<pb::PullResponse>, tonic::Status>;

///
/// The reader also notes each message's `primary_applied` in `lag` as it arrives, so the lag in
/// entries counts what is queued here but not applied yet, and `caught_up` cannot be claimed on
/// the strength of an old message while newer ones wait behind it.
fn incoming(
    mut stream: tonic::Streaming<pb::PullResponse>,
    delay: Option<network::Delay>,
    lag: std::sync::Arc<std::sync::Mutex<super::lag::Lag>>,
) -> Incoming {
    let (tx, rx) = tokio::sync::mpsc::channel(4096);
    tokio::spawn(async move {
        let mut last = tokio::time::Instant::now();
        loop {
            let msg = stream.message().await;
            let end = !matches!(msg, Ok(Some(_)));
            if let Ok(Some(m)) = &msg {
                lag.lock().unwrap_or_else(|e| e.into_inner()).primary_applied = m.primary_applied;
            }
            let now = tokio::time::Instant::now();
            last = last.max(delay.map_or(now, |d| now + d.sample()));
            if tx.send((last, msg)).await.is_err() || end {
                return;
            }
        }
    });
    Incoming { rx, held: None }
}

impl Incoming {
    /// The next message, when it is due.
    async fn next(&mut self) -> Message {
        let (due, msg) = match self.held.take() {
            Some(item) => item,
            None => match self.rx.recv().await {
                Some(item) => item,
                None => return Ok(None),
            },
        };
        tokio::time::sleep_until(due).await;
        msg
    }

    /// The next message if it has arrived and is due, without waiting (an error or the end of
    /// the stream is left for [`Incoming::next`]).
    fn ready(&mut self) -> Option<pb::PullResponse> {
        let item = self.held.take().or_else(|| self.rx.try_recv().ok())?;
        match item {
            (due, Ok(Some(m))) if due <= tokio::time::Instant::now() => Some(m),
            other => {
                self.held = Some(other);
                None
            }
        }
    }

    /// Puts back a message [`Incoming::ready`] gave, to be the next one.
    fn hold(&mut self, m: pb::PullResponse) {
        self.held = Some((tokio::time::Instant::now(), Ok(Some(m))));
    }
}

fn set_connected(geo: &Dr, connected: bool, error: &str) {
    let mut lag = geo.lag.lock().unwrap_or_else(|e| e.into_inner());
    lag.connected = connected;
    lag.error = error.to_string();
}

/// Pulls from one primary node until the stream ends, an error, or this node stops leading.
async fn follow(geo: &Dr, addr: &str) -> Result<()> {
    if geo.faults().blocked(addr) {
        return Err(err!(Unavailable, "the link to {addr} is cut (fault injection)"));
    }
    let dr = geo.store.dr()?;
    let mut client = geo.client(addr)?;
    let request = pb::PullRequest {
        from_index: dr.upstream.index + 1,
        epoch: dr.epoch,
        region: geo.region.clone(),
        confirmed_index: dr.upstream.index,
    };
    let stream = client.pull(request).await.map_err(status_error)?.into_inner();
    let mut stream = incoming(stream, geo.faults().wan_delay_of(addr), geo.lag.clone());
    set_connected(geo, true, "");
    let mut last_confirm = Instant::now();
    loop {
        let msg = match tokio::time::timeout(Duration::from_secs(3), stream.next()).await {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => {
                return Err(err!(Unavailable, "the primary at {addr} ended the stream"));
            }
            Ok(Err(s)) => return Err(status_error(s)),
            Err(_) => return Err(err!(Unavailable, "no word from the primary at {addr} for 3 s")),
        };
        if !geo.is_leader() {
            return Ok(());
        }
        if geo.faults().blocked(addr) {
            return Err(err!(Unavailable, "the link to {addr} is cut (fault injection)"));
        }
        // The region was promoted, or told to follow another position or epoch, since this
        // stream started: this stream is stale; start again from the new state.
        let now = geo.store.dr()?;
        let moved = dr.upstream != Position::default() && now.upstream.epoch != dr.upstream.epoch;
        if now.role != Role::Standby || now.epoch != dr.epoch || moved {
            return Ok(());
        }
        let decode = |m: &pb::PullResponse| -> Result<ShipBatch> {
            network::decode(&m.batch).map_err(|e| err!(Internal, "bad batch: {e}"))
        };
        // This message and every one after it that is already due, as one batch.
        let mut batch = decode(&msg)?;
        let mut primary_applied = msg.primary_applied;
        let mut newest: Vec<Timestamp> =
            batch.entries.last().map(|(_, c)| c.time).into_iter().collect();
        let mut bytes = msg.batch.len();
        while batch.entries.len() < MAX_MERGED_ENTRIES && bytes < MAX_MERGED_BYTES {
            let Some(m) = stream.ready() else { break };
            let next = decode(&m)?;
            let time = next.entries.last().map(|(_, c)| c.time);
            if batch.append(next).is_err() {
                stream.hold(m);
                break;
            }
            bytes += m.batch.len();
            primary_applied = m.primary_applied;
            newest.extend(time);
        }
        let caught_up = batch.caught_up.then_some(batch.source_time);
        let upstream = if batch.to >= batch.from {
            match geo.propose(Op::Replicate(batch)).await? {
                (_, crate::storage::Reply::Replicated { upstream }) => upstream,
                (_, other) => return Err(err!(Internal, "unexpected reply to a batch: {other:?}")),
            }
        } else {
            geo.store.dr()?.upstream.index
        };
        {
            let mut lag = geo.lag.lock().unwrap_or_else(|e| e.into_inner());
            // One sample per message, as if each had been proposed alone.
            for t in newest {
                lag.record(t);
            }
            if let Some(t) = caught_up
                && upstream >= primary_applied
            {
                lag.caught_up_as_of = Some(t);
            }
        }
        if last_confirm.elapsed() >= CONFIRM_EVERY {
            last_confirm = Instant::now();
            let mut c = client.clone();
            tokio::spawn(async move {
                let _ = c.confirm(pb::ConfirmRequest { index: upstream }).await;
            });
        }
    }
}

/// Replaces this region's graph with a snapshot of the primary's, then shipping resumes after it.
pub async fn reseed(geo: &Dr, addr: &str) -> Result<Position> {
    if geo.faults().blocked(addr) {
        return Err(err!(Unavailable, "the link to {addr} is cut (fault injection)"));
    }
    let mut client = geo.client(addr)?;
    let mut stream =
        client.snapshot(pb::SnapshotRequest {}).await.map_err(status_error)?.into_inner();
    let mut data = Vec::new();
    let mut position = None;
    while let Some(chunk) = stream.message().await.map_err(status_error)? {
        if position.is_none() {
            position = Some((
                Position { epoch: chunk.epoch, index: chunk.index },
                Timestamp(chunk.time_ns),
            ));
            data.reserve(chunk.total as usize);
        }
        data.extend_from_slice(&chunk.data);
    }
    let (position, time) = position
        .ok_or_else(|| err!(Unavailable, "the primary at {addr} sent an empty snapshot"))?;
    let parts =
        tokio::task::spawn_blocking(move || Store::snapshot_parts(&data, RESEED_PART_BYTES))
            .await
            .map_err(|e| err!(Internal, "{e}"))??;
    let count = u32::try_from(parts.len())
        .map_err(|_| err!(Internal, "a snapshot of {} parts is too large", parts.len()))?;
    tracing::info!(%addr, epoch = position.epoch, index = position.index, parts = count, "reseeding from the primary");
    for (part, data) in parts.into_iter().enumerate() {
        let part = part as u32;
        geo.propose(Op::Reseed { position, time, part, parts: count, data }).await?;
    }
    Ok(position)
}

/// A gRPC status as an error, keeping the ADT code the peer sent.
pub fn status_error(s: tonic::Status) -> Error {
    let code = s
        .metadata()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::error::ErrorCode::parse)
        .unwrap_or(crate::error::ErrorCode::Unavailable);
    let message = s.message();
    let message = message.strip_prefix(&format!("{code}: ")).unwrap_or(message);
    Error::new(code, message.to_string())
}
