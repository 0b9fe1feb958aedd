//! Disaster-recovery state: the region's role, the DR epoch, and the position replicated from
//! the primary region — all replicated through the region's own raft log, like the graph.
//!
//! A deployment has a primary region and a standby region (its geo-pair). The standby applies the
//! primary's log in order, in whole batches ([`ShipBatch`]), so its state is always "the primary as
//! of position N" and never a mix. Positions are `(epoch, index)`: the index in the log of the
//! region that was primary in that epoch.
//!
//! THE EPOCH is the fence against split brain. It grows at every promotion. Every local write
//! carries the epoch its leader believed current; apply refuses a write whose epoch is not the
//! region's current one, and refuses every local write in a standby. A region that learns of a
//! higher epoch applies a [`super::Op::Fence`]: from that entry on it takes no write,
//! on any replica, deterministically.
//!
//! The ops, all applied here:
//! - `DrInit`: the region's initial role (once);
//! - `Replicate`: a batch of the primary's commands (standby only; a re-sent batch is a no-op, a
//!   gap is refused so the shipper resyncs — never a silent skip);
//! - `Fence`: stop taking writes, become a standby, remember where this region's history stopped;
//! - `Promote`: become the primary under a new epoch;
//! - `SetUpstream`: follow the primary's log from a given position (after a planned failover);
//! - `Reseed`: replace the whole graph with the primary's snapshot at a position, in parts: one
//!   raft entry the size of a whole graph could not be replicated (openraft times every
//!   AppendEntries out after one heartbeat interval, and gRPC messages are bounded). Part 0 clears
//!   the graph, each part adds its keys, the last makes the region follow from the position. In
//!   between the region holds no consistent state: it is marked [`Reseeding`], refuses batches,
//!   promotion and reads, and a reseed cut short (a leader change) starts again from part 0;
//! - `StandbyConfirmed`: the primary records how far the standby has confirmed (log retention);
//! - `KeepDivergent`: keep aside writes a fenced old primary had that the new primary never got.

use super::apply::{Fail, Step, Writes};
use super::command::{Command, Op, Reply};
use super::keys::{Key, Reader, Space, meta};
use super::store::{Store, corrupt};
use super::{StorageError, codec};
use crate::err;
use crate::model::etag::Origin;
use crate::model::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a region does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Takes writes and ships its log.
    #[default]
    Primary,
    /// Applies the primary's log; serves reads; refuses writes.
    Standby,
}

impl Role {
    /// `primary` or `standby`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
        }
    }
}

/// The other region of the pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRegion {
    /// Its name.
    pub name: String,
    /// Its nodes' URLs.
    pub endpoints: Vec<String>,
}

/// A position in the history: the epoch and the index in that epoch's primary's log.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Position {
    /// The DR epoch.
    pub epoch: u64,
    /// The log index in the region that was primary in that epoch.
    pub index: u64,
}

/// The region's DR state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrState {
    /// The highest DR epoch this region knows.
    pub epoch: u64,
    /// Primary or standby.
    pub role: Role,
    /// The other region, when configured.
    pub peer: Option<PeerRegion>,
    /// Standby: the last position of the primary's log applied here.
    pub upstream: Position,
    /// Standby: the primary's time up to which this region has its history (the "replicated
    /// time"): the time of the newest write applied here, or, when the primary said a batch
    /// brought this region up to its applied index, the primary's time then (so an idle primary
    /// does not make the region look stale). A forced failover's RPO is measured from it.
    pub replicated_time: Timestamp,
    /// Primary: where it became primary (its own log index of the promotion).
    pub promoted_at: Option<Position>,
    /// Set when this region was fenced while primary: the last position of its own history.
    pub fenced_at: Option<Position>,
    /// Primary: how far the standby has confirmed, for log retention.
    pub standby_confirmed: u64,
    /// Standby: a reseed under way (its parts so far are applied; the graph is incomplete).
    pub reseeding: Option<Reseeding>,
    /// How many reseeds have started here: a read that sees it change while it runs may have
    /// read a graph half replaced, and is refused.
    pub reseeds: u64,
}

/// A reseed under way: the parts of the primary's snapshot at `position` applied so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reseeding {
    /// The position the snapshot is at.
    pub position: Position,
    /// The next part expected.
    pub next_part: u32,
    /// How many parts there are.
    pub parts: u32,
}

impl std::fmt::Display for Reseeding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Reseeding { position: p, next_part, parts } = self;
        write!(f, "the snapshot at {}:{} (part {next_part} of {parts} is next)", p.epoch, p.index)
    }
}

impl Default for DrState {
    fn default() -> Self {
        DrState {
            epoch: 1,
            role: Role::Primary,
            peer: None,
            upstream: Position::default(),
            replicated_time: Timestamp::default(),
            promoted_at: None,
            fenced_at: None,
            standby_confirmed: 0,
            reseeding: None,
            reseeds: 0,
        }
    }
}

/// A batch of the primary's log, shipped to the standby.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShipBatch {
    /// The epoch of the region that shipped it (its current one).
    pub source_epoch: u64,
    /// The first log index the batch covers (entries that carry no data command are covered but
    /// not included).
    pub from: u64,
    /// The last log index it covers.
    pub to: u64,
    /// The data commands in `from..=to`, with their indexes.
    pub entries: Vec<(u64, Command)>,
    /// The primary's time when it sent the batch, and whether `to` was its last applied index
    /// then (so the standby is caught up as of that time).
    pub source_time: Timestamp,
    /// Whether the batch ends at the primary's applied index.
    pub caught_up: bool,
}

impl ShipBatch {
    /// Appends the batch that follows this one (same source epoch, starting right after `to`),
    /// so a standby that fell behind proposes one raft entry for many of the primary's messages
    /// instead of one each; applying the merged batch is applying both in order. A batch that
    /// does not follow is handed back untouched.
    pub fn append(&mut self, next: ShipBatch) -> std::result::Result<(), ShipBatch> {
        if next.source_epoch != self.source_epoch || next.from != self.to + 1 {
            return Err(next);
        }
        self.to = next.to;
        self.entries.extend(next.entries);
        self.source_time = next.source_time;
        self.caught_up = next.caught_up;
        Ok(())
    }
}

/// Whether an op is a data write that only a primary takes from clients.
pub fn is_data_write(op: &Op) -> bool {
    op.batchable()
        || matches!(
            op,
            Op::AddModels { .. }
                | Op::DecommissionModel { .. }
                | Op::DeleteModel { .. }
                | Op::Batch(_)
        )
}

fn dr_key() -> Vec<u8> {
    Key::new(Space::Meta).s(meta::DR).into_bytes()
}

fn divergent_key(index: u64) -> Vec<u8> {
    Key::new(Space::Divergent).u(index).into_bytes()
}

impl Store {
    /// The region's DR state (a primary of epoch 1 until configured otherwise).
    pub fn dr(&self) -> Result<DrState, StorageError> {
        match self.graph.get(dr_key())? {
            Some(v) => codec::decode(&v),
            None => Ok(DrState::default()),
        }
    }

    /// Whether the region's DR state has been recorded yet (a region configured as a standby
    /// takes no data write before it is: the first moments of a new region).
    pub fn dr_recorded(&self) -> Result<bool, StorageError> {
        Ok(self.graph.get(dr_key())?.is_some())
    }

    fn dr_in(&self, w: &Writes) -> Result<DrState, StorageError> {
        match w.get(dr_key())? {
            Some(v) => codec::decode(&v),
            None => Ok(DrState::default()),
        }
    }

    fn set_dr(&self, w: &mut Writes, dr: &DrState) -> Result<(), StorageError> {
        w.put(dr_key(), codec::encode(dr)?);
        Ok(())
    }

    /// Writes kept aside after a fence: (this region's log index, command), in order.
    pub fn divergent(&self) -> Result<Vec<(u64, Command)>, StorageError> {
        let mut out = Vec::new();
        for kv in self.graph.scan_prefix([Space::Divergent as u8]) {
            let (k, v) = kv?;
            let index = Reader::new(&k, Space::Divergent)
                .and_then(|mut r| r.u())
                .ok_or_else(|| corrupt("divergent key"))?;
            out.push((index, codec::decode(&v)?));
        }
        Ok(out)
    }

    /// Refuses a local write this region may not take (a standby, or a stale epoch).
    pub(super) fn check_writable(&self, w: &Writes, cmd: &Command) -> Step<()> {
        if cmd.origin.is_some() || !is_data_write(&cmd.op) {
            return Ok(());
        }
        let dr = self.dr_in(w)?;
        if dr.role == Role::Standby {
            let primary = match &dr.peer {
                Some(p) => format!("region '{}' at {}", p.name, p.endpoints.join(",")),
                None => "the primary region".to_string(),
            };
            return Err(err!(
                ReadOnlyRegion,
                "this region is a standby (epoch {}) and takes no writes; send writes to {primary}",
                dr.epoch
            )
            .into());
        }
        if cmd.epoch != dr.epoch {
            return Err(err!(
                ReadOnlyRegion,
                "the write was accepted under DR epoch {} but the region is at epoch {}; retry",
                cmd.epoch,
                dr.epoch
            )
            .into());
        }
        Ok(())
    }

    /// Applies a DR op.
    pub(super) fn execute_dr(&self, w: &mut Writes, index: u64, op: &Op) -> Step<Reply> {
        let mut dr = self.dr_in(w)?;
        match op {
            Op::DrInit { role, epoch, peer } => {
                if self.graph.get(dr_key())?.is_none() {
                    dr = DrState {
                        epoch: *epoch,
                        role: *role,
                        peer: peer.clone(),
                        ..DrState::default()
                    };
                    self.set_dr(w, &dr)?;
                }
                Ok(Reply::Done)
            }
            Op::Replicate(batch) => self.replicate(w, &mut dr, batch),
            Op::Fence { epoch, peer } => {
                if *epoch <= dr.epoch && dr.role == Role::Standby {
                    return Ok(Reply::Fenced { at: dr.fenced_at.unwrap_or_default() });
                }
                if *epoch < dr.epoch {
                    return Err(err!(
                        InvalidArgument,
                        "cannot fence at epoch {epoch}: the region is already at epoch {}",
                        dr.epoch
                    )
                    .into());
                }
                if dr.role == Role::Primary {
                    // A fenced primary follows nobody until it is told where to start (a planned
                    // failover's `SetUpstream`) or reseeded (`reprotect`).
                    dr.upstream = Position::default();
                    let last = self.applied()?.origin;
                    dr.fenced_at = Some(Position {
                        epoch: dr.epoch,
                        index: last.index.max(dr.promoted_at.map(|p| p.index).unwrap_or(0)),
                    });
                }
                dr.epoch = *epoch;
                dr.role = Role::Standby;
                if peer.is_some() {
                    dr.peer = peer.clone();
                }
                self.set_dr(w, &dr)?;
                Ok(Reply::Fenced { at: dr.fenced_at.unwrap_or_default() })
            }
            Op::Promote { epoch, peer } => {
                not_reseeding(&dr, "be promoted")?;
                if dr.role == Role::Primary && dr.epoch >= *epoch {
                    return Err(err!(
                        OperationNotAllowed,
                        "the region is already the primary at epoch {}",
                        dr.epoch
                    )
                    .into());
                }
                if *epoch <= dr.epoch {
                    return Err(err!(
                        InvalidArgument,
                        "a promotion needs an epoch above {}",
                        dr.epoch
                    )
                    .into());
                }
                let reply =
                    Reply::Promoted { at: dr.upstream, replicated_time: dr.replicated_time, index };
                dr.epoch = *epoch;
                dr.role = Role::Primary;
                dr.promoted_at = Some(Position { epoch: *epoch, index });
                dr.fenced_at = None;
                if peer.is_some() {
                    dr.peer = peer.clone();
                }
                self.set_dr(w, &dr)?;
                Ok(reply)
            }
            Op::SetUpstream { epoch, index: from, peer } => {
                not_reseeding(&dr, "follow another position")?;
                if dr.role != Role::Standby {
                    return Err(err!(
                        OperationNotAllowed,
                        "only a standby follows an upstream log"
                    )
                    .into());
                }
                dr.epoch = dr.epoch.max(*epoch);
                dr.upstream = Position { epoch: *epoch, index: *from };
                if peer.is_some() {
                    dr.peer = peer.clone();
                }
                self.set_dr(w, &dr)?;
                Ok(Reply::Done)
            }
            Op::Reseed { position, time, part, parts, data } => {
                if dr.role != Role::Standby {
                    return Err(err!(
                        OperationNotAllowed,
                        "only a standby can be reseeded; fence it first"
                    )
                    .into());
                }
                if *part >= *parts {
                    return Err(
                        err!(BadRequest, "reseed part {part} of {parts} does not exist").into()
                    );
                }
                if *part == 0 {
                    self.clear_data(w)?;
                    dr.reseeds += 1;
                } else if dr.reseeding
                    != Some(Reseeding { position: *position, next_part: *part, parts: *parts })
                {
                    let applied = match dr.reseeding {
                        Some(r) => format!("reseeding from {r}"),
                        None => "no reseed is under way".into(),
                    };
                    return Err(err!(
                        BadRequest,
                        "reseed part {part} of {parts} at {}:{} does not follow what was applied \
                         ({applied}); start the reseed again",
                        position.epoch,
                        position.index,
                    )
                    .into());
                }
                self.put_data(w, data)?;
                if *part + 1 < *parts {
                    dr.reseeding =
                        Some(Reseeding { position: *position, next_part: part + 1, parts: *parts });
                    self.set_dr(w, &dr)?;
                    return Ok(Reply::Done);
                }
                dr.reseeding = None;
                dr.epoch = dr.epoch.max(position.epoch);
                dr.upstream = *position;
                dr.replicated_time = *time;
                self.set_dr(w, &dr)?;
                Ok(Reply::Replicated { upstream: position.index })
            }
            Op::StandbyConfirmed { index: confirmed } => {
                dr.standby_confirmed = dr.standby_confirmed.max(*confirmed);
                self.set_dr(w, &dr)?;
                Ok(Reply::Done)
            }
            Op::KeepDivergent { entries } => {
                for (i, cmd) in entries {
                    w.put(divergent_key(*i), codec::encode(cmd)?);
                }
                Ok(Reply::Done)
            }
            _ => Err(Fail::Storage(StorageError::Corrupt(format!("{} is not a DR op", op.name())))),
        }
    }

    fn replicate(&self, w: &mut Writes, dr: &mut DrState, b: &ShipBatch) -> Step<Reply> {
        not_reseeding(dr, "apply a shipped batch")?;
        if dr.role != Role::Standby {
            return Err(err!(
                OperationNotAllowed,
                "this region is a primary; it does not apply another region's log"
            )
            .into());
        }
        let fresh = dr.upstream == Position::default();
        if !fresh && b.source_epoch != dr.upstream.epoch {
            return Err(err!(
                BadRequest,
                "the batch is history of epoch {} but this region follows epoch {}; resync",
                b.source_epoch,
                dr.upstream.epoch
            )
            .into());
        }
        let next = dr.upstream.index + 1;
        if b.from > next {
            return Err(err!(
                BadRequest,
                "gap in the shipped log: expected index {next}, the batch starts at {}; resync from {next}",
                b.from
            )
            .into());
        }
        if b.to >= next {
            for (i, cmd) in &b.entries {
                // The primary refused writes under another epoch before applying them; so must
                // we. Entries already applied (a re-sent batch) are skipped.
                if *i < next || *i > b.to || cmd.epoch != b.source_epoch || !is_data_write(&cmd.op)
                {
                    continue;
                }
                let mut c = cmd.clone();
                let origin = c.origin.unwrap_or(Origin::at(cmd.epoch, *i));
                c.origin = Some(origin);
                // The command's own outcome (a failed precondition, say) was the primary's answer
                // too; only storage failures stop the batch.
                let _answer = self.run_into(w, &c, origin, *i)?;
            }
            dr.upstream = Position { epoch: b.source_epoch, index: b.to };
        }
        // The newest write applied: the region has the primary's history up to its time.
        if let Some((_, newest)) = b.entries.iter().rev().find(|(i, _)| *i <= dr.upstream.index) {
            dr.replicated_time = dr.replicated_time.max(newest.time);
        }
        if b.caught_up && b.to <= dr.upstream.index {
            dr.replicated_time = dr.replicated_time.max(b.source_time);
        }
        self.set_dr(w, dr)?;
        Ok(Reply::Replicated { upstream: dr.upstream.index })
    }

    /// Replaces every data key with a snapshot's, keeping this region's own metadata (raft's
    /// state, the DR state), its divergent writes and its incidents.
    /// Deletes every replicated key (the region's own state stays).
    fn clear_data(&self, w: &mut Writes) -> Step<()> {
        for k in self.graph.iter().keys() {
            let k = k?;
            if !region_local(&k) {
                w.delete(k.to_vec());
            }
        }
        Ok(())
    }

    /// Writes a snapshot part's keys (but the primary's own region state).
    fn put_data(&self, w: &mut Writes, data: &[u8]) -> Step<()> {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = codec::decode(data)?;
        for (k, v) in entries {
            if !region_local(&k) {
                w.put(k, v);
            }
        }
        Ok(())
    }
}

/// Refuses what a region cannot do while a reseed has left its graph incomplete.
fn not_reseeding(dr: &DrState, what: &str) -> Step<()> {
    match dr.reseeding {
        Some(r) => Err(err!(
            OperationNotAllowed,
            "the region is being reseeded from the primary's {r}; its graph is incomplete, so it cannot {what} \
             until the reseed is done"
        )
        .into()),
        None => Ok(()),
    }
}

/// Whether a key is this region's own (raft state, DR state, incidents), never replicated.
fn region_local(k: &[u8]) -> bool {
    k.first().is_some_and(|&t| super::keys::region_local(t))
}
