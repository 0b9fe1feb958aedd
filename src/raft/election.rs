//! Who campaigns after a leader dies, and when: two corrections to openraft 0.9's elections.
//!
//! When a leader dies, the follower whose election timer fires first campaigns. Often it is the
//! one that had not yet received the leader's last entries: the other follower, with the longer
//! log, refuses it. openraft then has the losing candidate wait `2 × election_timeout_max` more
//! (so that the longer log wins the next round), while the follower with the longer log, which
//! has not voted, campaigns when its own timer fires — in the term the loser already voted itself
//! in, so it loses too, and wins only one election timeout later. Measured by the chaos scenarios
//! (README, "Testing under failure"): with 200–300 ms timeouts such kills cost 0.9–1.9 s of writes
//! where the others cost ~0.6 s.
//!
//! 1. THE STALE FLAG. openraft records "a greater log was seen" in a flag that it clears only
//!    when this node next campaigns — not when another node wins. So a node that once lost for a
//!    shorter log waits the extra `2 × election_timeout_max` at the next leader's death too,
//!    however long that leader reigned, and even when this node now holds the longest log. Here
//!    the transport hides the greater log id from openraft (the engine uses it for nothing else)
//!    and [`Elections`] does the back-off itself: after such a defeat, elections are disabled on
//!    this node for `2 × election_timeout_max` and then enabled again.
//! 2. THE BETTER CANDIDATE CAMPAIGNS AT ONCE. A follower that refuses a candidate for a shorter
//!    log, and has itself heard from no leader for longer than the leader lease, is the candidate
//!    the cluster needs: it campaigns at once, in the term *above* the refused candidate's (the
//!    one below is taken: the candidate voted for itself in it), so the refused candidate — which
//!    grants a higher term to a longer log — elects it in one round trip. It would campaign soon
//!    anyway; this only skips the wait and the lost round. Safety is untouched: Raft's elections
//!    are safe whoever campaigns, when.
//!
//! A freshly started node counts as having heard from a leader at its start, so it does not
//! campaign this way before a leader has had the time to reach it.

use super::{NodeId, Raft};
use openraft::ServerState;
use openraft::raft::{VoteRequest, VoteResponse};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The election corrections of one node (cheap to clone; the transport and the raft service
/// share one).
#[derive(Clone, Debug)]
pub struct Elections {
    inner: Arc<Mutex<State>>,
    wake: Arc<tokio::sync::Notify>,
    /// The leader lease (`election_timeout_max`).
    lease: Duration,
}

#[derive(Debug)]
struct State {
    /// When an AppendEntries from a leader last arrived (or the node started).
    heard_from_leader: Instant,
    /// Elections stay disabled until then (a defeat for a shorter log).
    back_off_until: Option<Instant>,
    /// When this node last campaigned at once (at most once per lease).
    campaigned: Option<Instant>,
}

impl Elections {
    /// The corrections for a node whose leader lease (`election_timeout_max`) is `lease`.
    pub fn new(lease: Duration) -> Elections {
        Elections {
            inner: Arc::new(Mutex::new(State {
                heard_from_leader: Instant::now(),
                back_off_until: None,
                campaigned: None,
            })),
            wake: Arc::default(),
            lease,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An AppendEntries (a heartbeat, or entries) arrived from a leader.
    pub fn heard_from_leader(&self) {
        self.state().heard_from_leader = Instant::now();
    }

    /// The transport's part: the answer to this node's vote request. A refusal for a shorter log
    /// starts the back-off, and the greater log id is hidden from openraft (see the module docs).
    pub fn vote_answered(&self, req: &VoteRequest<NodeId>, resp: &mut VoteResponse<NodeId>) {
        if resp.vote_granted || resp.last_log_id <= req.last_log_id {
            return;
        }
        resp.last_log_id = None;
        let until = Instant::now() + 2 * self.lease;
        let mut state = self.state();
        state.back_off_until = Some(state.back_off_until.map_or(until, |u| u.max(until)));
        drop(state);
        self.wake.notify_one();
    }

    /// The raft service's part: this node answered a vote request with `resp`. When it refused
    /// the candidate for a shorter log and has heard from no leader for a lease, it campaigns at
    /// once above the candidate's term.
    pub fn vote_received(
        &self,
        raft: &Raft,
        req: &VoteRequest<NodeId>,
        resp: &VoteResponse<NodeId>,
    ) {
        let (state, term) = {
            let m = raft.metrics();
            let m = m.borrow();
            (m.state, m.vote.leader_id().term)
        };
        if matches!(state, ServerState::Leader | ServerState::Learner | ServerState::Shutdown) {
            return;
        }
        let Some(elections) = self.campaign_now(req, resp, term, Instant::now()) else { return };
        tracing::info!(
            candidate = req.vote.leader_id().voted_for(),
            term = req.vote.leader_id().term,
            elections,
            "refused a candidate with a shorter log after a lease without a leader: campaigning now"
        );
        let raft = raft.clone();
        tokio::spawn(async move {
            for _ in 0..elections {
                if raft.trigger().elect().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Whether a node whose vote is in `term` campaigns at once after answering `req` with
    /// `resp`, and if so how many elections it starts (each goes one term up, and the last must
    /// be above the candidate's term).
    fn campaign_now(
        &self,
        req: &VoteRequest<NodeId>,
        resp: &VoteResponse<NodeId>,
        term: u64,
        now: Instant,
    ) -> Option<u64> {
        let refused_for_log = !resp.vote_granted && req.last_log_id < resp.last_log_id;
        if !refused_for_log {
            return None;
        }
        let mut state = self.state();
        let backing_off = state.back_off_until.is_some_and(|u| now < u);
        let campaigned_lately = state.campaigned.is_some_and(|c| now < c + self.lease);
        if now < state.heard_from_leader + self.lease || backing_off || campaigned_lately {
            return None;
        }
        state.campaigned = Some(now);
        Some((req.vote.leader_id().term + 1).saturating_sub(term).clamp(1, 3))
    }

    /// Disables and enables elections on `raft` as the back-off says, until raft shuts down.
    pub async fn drive(self, raft: Raft) {
        loop {
            let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
            if raft.metrics().borrow().state == ServerState::Shutdown {
                return;
            }
            let Some(mut until) = self.state().back_off_until else { continue };
            raft.runtime_config().elect(false);
            loop {
                tokio::time::sleep_until(until.into()).await;
                // Checked and cleared under one lock, so a back-off set meanwhile is not lost.
                let mut state = self.state();
                match state.back_off_until {
                    Some(later) if later > until => until = later,
                    _ => {
                        state.back_off_until = None;
                        break;
                    }
                }
            }
            raft.runtime_config().elect(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, LogId, Vote};

    fn log_id(term: u64, index: u64) -> Option<LogId<NodeId>> {
        Some(LogId::new(CommittedLeaderId::new(term, 0), index))
    }

    #[test]
    fn a_refusal_for_a_shorter_log_starts_a_back_off_and_hides_the_log_id() {
        let e = Elections::new(Duration::from_millis(300));
        let req = VoteRequest::new(Vote::new(5, 1), log_id(4, 10));
        // Granted, or refused with a log no greater: nothing changes.
        let mut granted = VoteResponse::new(Vote::new(5, 1), log_id(4, 12), true);
        e.vote_answered(&req, &mut granted);
        assert_eq!(granted.last_log_id, log_id(4, 12));
        let mut same = VoteResponse::new(Vote::new(5, 2), log_id(4, 10), false);
        e.vote_answered(&req, &mut same);
        assert_eq!(same.last_log_id, log_id(4, 10));
        assert!(e.state().back_off_until.is_none());
        // Refused for a shorter log: openraft does not see the greater log; the back-off starts.
        let mut refused = VoteResponse::new(Vote::new_committed(4, 2), log_id(4, 11), false);
        e.vote_answered(&req, &mut refused);
        assert_eq!(refused.last_log_id, None);
        let until = e.state().back_off_until.expect("backing off");
        let wait = until - Instant::now();
        assert!(
            wait > Duration::from_millis(500) && wait <= Duration::from_millis(600),
            "{wait:?}"
        );
    }

    #[test]
    fn the_follower_with_the_longer_log_campaigns_above_the_candidate_after_a_lease() {
        let lease = Duration::from_millis(300);
        let e = Elections::new(lease);
        let start = Instant::now();
        // Candidate 1 in term 5 with a log to 4-10; this node's vote is in term 4, its log to 4-11.
        let req = VoteRequest::new(Vote::new(5, 1), log_id(4, 10));
        let refused = VoteResponse::new(Vote::new_committed(4, 2), log_id(4, 11), false);
        // Within the lease of its start (or of a leader's last AppendEntries): no.
        assert_eq!(e.campaign_now(&req, &refused, 4, start + lease / 2), None);
        e.heard_from_leader();
        let heard = Instant::now();
        assert_eq!(e.campaign_now(&req, &refused, 4, heard + lease / 2), None);
        // A granted vote, or a refusal for another reason (a log no longer than the candidate's):
        // no.
        let after = heard + lease * 2;
        let granted = VoteResponse::new(Vote::new(5, 1), log_id(4, 10), true);
        assert_eq!(e.campaign_now(&req, &granted, 4, after), None);
        let other = VoteResponse::new(Vote::new(5, 3), log_id(4, 10), false);
        assert_eq!(e.campaign_now(&req, &other, 4, after), None);
        // After a lease without a leader, refused for a shorter log: two elections, to term 6.
        assert_eq!(e.campaign_now(&req, &refused, 4, after), Some(2));
        // Once per lease.
        assert_eq!(e.campaign_now(&req, &refused, 4, after + lease / 2), None);
        // Already at the candidate's term or above: one election.
        assert_eq!(e.campaign_now(&req, &refused, 5, after + lease * 2), Some(1));
        // Not while backing off from its own defeat for a shorter log.
        let e = Elections::new(lease);
        let mut lost = VoteResponse::new(Vote::new(7, 3), log_id(4, 20), false);
        e.vote_answered(&VoteRequest::new(Vote::new(7, 2), log_id(4, 11)), &mut lost);
        let now = Instant::now();
        assert_eq!(e.campaign_now(&req, &refused, 4, now + lease * 3 / 2), None);
        assert_eq!(e.campaign_now(&req, &refused, 4, now + lease * 3), Some(2));
    }
}
