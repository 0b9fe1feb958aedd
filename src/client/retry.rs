//! The retry policy every call goes through.
//!
//! A call that fails with a *retryable* error — no node answered (refused, reset, timed out), or the
//! node said `Unavailable` or `NotLeader` — is tried again after an exponential backoff with
//! jitter, on another endpoint: the leader the client re-discovers, or the next endpoint of the
//! list. Every other error is deterministic (the same request would fail the same way again:
//! `DigitalTwinNotFound`, `PreconditionFailed`, `ValidationFailed`, ...) and is returned at once.
//!
//! A `ReadOnlyRegion` answer to a write (or a linearizable read) is retried too when the client's
//! endpoints span more than one region: it came from a standby, or from an old primary fenced by a
//! failover, so the primary is elsewhere. The pool forgets its leader, rediscovers which region is
//! the primary, and the retry goes there — the client follows a failover with no change in the
//! calling code. With one region's endpoints only there is nowhere else to go, and the answer is
//! returned at once.
//!
//! Retries are bounded twice: by a number of attempts and by a total time budget, whichever comes
//! first; each attempt's own timeout is cut to what is left of the budget, so a call never takes
//! much longer than [`RetryPolicy::total_timeout`].
//!
//! Writes are safe to retry: the caller builds the request once, with its client id and request
//! id, and every attempt sends that same request, so the server's dedupe table applies it at most
//! once and answers a retry with the first answer — even when the first attempt reached a leader
//! that died after committing it.
//!
//! The delay before retry `n` (0-based) is drawn uniformly from
//! `[(1 - jitter) * b, b]` where `b = min(max_backoff, initial_backoff * multiplier^n)`: it grows
//! exponentially, never exceeds the cap, and clients that failed together spread out instead of
//! retrying in lock-step (the "equal jitter" of the AWS architecture blog when `jitter` is 0.5).

use super::error::ClientError;
use super::pool::{Conn, Pool, Route};
use crate::error::ErrorCode;
use crate::rng::Rng;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often and how patiently a call is retried.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (at least 1).
    pub max_attempts: u32,
    /// The time budget of a whole call, every attempt and pause included. No attempt starts after
    /// it is spent, and each attempt's timeout is cut to what is left.
    pub total_timeout: Duration,
    /// How long one attempt may wait for its answer.
    pub attempt_timeout: Duration,
    /// The (upper bound of the) pause before the first retry.
    pub initial_backoff: Duration,
    /// How much the pause grows at each further retry (at least 1).
    pub multiplier: f64,
    /// The longest pause between two attempts.
    pub max_backoff: Duration,
    /// The fraction of each pause that is random, from 0 (no jitter) to 1 (full jitter).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 25 attempts within 20 s; pauses from 20 ms doubling up to 250 ms, half of each random:
    /// about 4 s of retrying before a call gives up on an unavailable region. A leader change
    /// (under a second: the old leader's lease plus an election timeout) is ridden out, and the
    /// short cap means a retry comes at most a quarter second after the new leader is ready.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 25,
            total_timeout: Duration::from_secs(20),
            attempt_timeout: Duration::from_secs(10),
            initial_backoff: Duration::from_millis(20),
            multiplier: 2.0,
            max_backoff: Duration::from_millis(250),
            jitter: 0.5,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn no_retry() -> Self {
        RetryPolicy { max_attempts: 1, ..Self::default() }
    }

    /// The upper bound of the pause before retry number `retry` (0 for the first retry), before
    /// jitter: `min(max_backoff, initial_backoff * multiplier^retry)`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let factor = self.multiplier.max(1.0).powi(retry.min(64) as i32);
        let secs = self.initial_backoff.as_secs_f64() * factor;
        let max = self.max_backoff.as_secs_f64();
        if !secs.is_finite() || secs >= max {
            return self.max_backoff;
        }
        Duration::from_secs_f64(secs)
    }

    /// The pause before retry number `retry`, given a random number `unit` in `[0, 1)`: uniform in
    /// `[(1 - jitter) * cap, cap]`.
    pub fn backoff_with(&self, retry: u32, unit: f64) -> Duration {
        let cap = self.backoff_cap(retry).as_secs_f64();
        let jitter = self.jitter.clamp(0.0, 1.0);
        let unit = unit.clamp(0.0, 1.0);
        Duration::from_secs_f64(cap * (1.0 - jitter * unit))
    }

    /// The pause before retry number `retry`, with fresh randomness.
    pub fn backoff(&self, retry: u32) -> Duration {
        self.backoff_with(retry, random_unit())
    }

    /// Whether a failed call may be tried again: the error is retryable, attempts are left
    /// (`attempts` made so far), and the pause would not run past the budget.
    pub fn should_retry(
        &self,
        err: &ClientError,
        attempts: u32,
        elapsed: Duration,
        pause: Duration,
    ) -> bool {
        err.is_retryable() && self.within_budget(attempts, elapsed, pause)
    }

    /// Whether another attempt fits the budgets: attempts are left (`attempts` made so far) and
    /// the pause would not run past the total time.
    pub fn within_budget(&self, attempts: u32, elapsed: Duration, pause: Duration) -> bool {
        attempts < self.max_attempts.max(1) && elapsed + pause < self.total_timeout
    }
}

/// A pseudo-random number in `[0, 1)` from a per-thread generator seeded differently in every
/// process (see [`Rng::from_entropy`]); good enough for jitter, with no extra dependency.
pub(super) fn random_unit() -> f64 {
    thread_local! {
        static RNG: std::cell::RefCell<Rng> = std::cell::RefCell::new(Rng::from_entropy());
    }
    RNG.with_borrow_mut(Rng::unit)
}

/// Runs `attempt` against the pool's endpoints until it succeeds, fails for good, or runs out of
/// attempts or time. `route` says where the first attempt goes (the leader, for writes and
/// linearizable reads, when the pool knows or can find it; otherwise the endpoint that answered
/// last). After a retryable failure the pool forgets a leader that failed, re-discovers it, and
/// the next attempt goes there, or to the next endpoint of the list. A `ReadOnlyRegion` answer
/// moves the call to the primary region when the endpoints span regions (see the module docs).
pub(super) async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    pool: &Pool,
    route: Route,
    mut attempt: F,
) -> Result<T, ClientError>
where
    F: FnMut(Conn) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let start = Instant::now();
    let mut attempts = 0u32;
    let mut target = pool.target(route, policy, None).await;
    loop {
        attempts += 1;
        let (url, channel) = pool.channel(target.index);
        let left = policy.total_timeout.saturating_sub(start.elapsed());
        let timeout = policy.attempt_timeout.min(left).max(Duration::from_millis(1));
        let err = match tokio::time::timeout(timeout, attempt(channel)).await {
            Ok(Ok(response)) => {
                pool.answered(target.index);
                return Ok(response.into_inner());
            }
            Ok(Err(status)) => ClientError::from_status(&status, &url),
            Err(_) => ClientError::timeout(&url, timeout),
        };
        let pause = policy.backoff(attempts - 1);
        let moved = route == Route::Leader
            && err.code == Some(ErrorCode::ReadOnlyRegion)
            && pool.spans_regions();
        let retryable = err.is_retryable() || moved;
        if !(retryable && policy.within_budget(attempts, start.elapsed(), pause)) {
            return Err(err);
        }
        if moved {
            pool.forget_leader();
        } else {
            pool.failed(&target);
        }
        tokio::time::sleep(pause).await;
        target = pool.target(route, policy, Some(&target)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            total_timeout: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(5),
            initial_backoff: Duration::from_millis(10),
            multiplier: 2.0,
            max_backoff: Duration::from_millis(500),
            jitter: 0.5,
        }
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = policy();
        let caps: Vec<u128> = (0..8).map(|n| p.backoff_cap(n).as_millis()).collect();
        assert_eq!(caps, vec![10, 20, 40, 80, 160, 320, 500, 500]);
        assert_eq!(p.backoff_cap(1000), p.max_backoff);
        // No jitter: exactly the cap. Full jitter: anywhere down to zero.
        let exact = RetryPolicy { jitter: 0.0, ..p.clone() };
        assert_eq!(exact.backoff_with(3, 0.99), Duration::from_millis(80));
        let full = RetryPolicy { jitter: 1.0, ..p.clone() };
        assert_eq!(full.backoff_with(3, 1.0), Duration::ZERO);
        // A multiplier below 1 would shrink the pauses: it is taken as 1.
        let flat = RetryPolicy { multiplier: 0.5, ..p };
        assert_eq!(flat.backoff_cap(5), Duration::from_millis(10));
    }

    #[test]
    fn jittered_delays_stay_within_bounds_and_vary() {
        let p = policy();
        for retry in 0..10 {
            let cap = p.backoff_cap(retry);
            let low = cap.mul_f64(1.0 - p.jitter);
            let samples: Vec<Duration> = (0..200).map(|_| p.backoff(retry)).collect();
            for d in &samples {
                assert!(*d >= low && *d <= cap, "retry {retry}: {d:?} not in [{low:?}, {cap:?}]");
            }
            let distinct: std::collections::BTreeSet<_> = samples.iter().collect();
            assert!(distinct.len() > 50, "retry {retry}: too little jitter: {distinct:?}");
        }
        // The average grows with the retry number until the cap.
        let mean = |r: u32| (0..500).map(|_| p.backoff(r).as_secs_f64()).sum::<f64>() / 500.0;
        assert!(mean(0) < mean(2) && mean(2) < mean(4), "{} {} {}", mean(0), mean(2), mean(4));
        for _ in 0..1000 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u), "{u}");
        }
    }

    fn status_err(status: tonic::Status) -> ClientError {
        ClientError::from_status(&status, "http://x")
    }

    #[test]
    fn only_retryable_codes_are_retried_within_budgets() {
        let p = policy();
        let zero = Duration::ZERO;
        let unavailable = status_err(tonic::Status::unavailable("Unavailable: no leader yet"));
        let not_leader = status_err(tonic::Status::unavailable("NotLeader: leader is node 2"));
        let timeout = ClientError::timeout("http://x", Duration::from_secs(1));
        for e in [&unavailable, &not_leader, &timeout] {
            assert!(p.should_retry(e, 1, zero, zero), "{e:?}");
            // Out of attempts, or the pause would overrun the time budget.
            assert!(!p.should_retry(e, p.max_attempts, zero, zero), "{e:?}");
            assert!(!p.should_retry(e, 1, Duration::from_secs(29), Duration::from_secs(1)));
        }
        for st in [
            tonic::Status::not_found("DigitalTwinNotFound: there is no digital twin 'x'"),
            tonic::Status::failed_precondition("PreconditionFailed: etag"),
            tonic::Status::invalid_argument("ValidationFailed: bad"),
            tonic::Status::already_exists("ModelAlreadyExists: dtmi:a;1"),
            tonic::Status::internal("Internal: boom"),
            tonic::Status::failed_precondition("ReadOnlyRegion: standby"),
        ] {
            let e = status_err(st);
            assert!(!e.is_retryable(), "{e:?}");
            assert!(!p.should_retry(&e, 1, zero, zero), "{e:?}");
        }
    }

    /// Runs `run` with scripted answers; returns the result, the attempts made and the time taken.
    async fn scripted(
        policy: RetryPolicy,
        answers: Vec<Result<u32, tonic::Status>>,
    ) -> (Result<u32, ClientError>, u32, Duration) {
        let pool = Pool::new(["http://127.0.0.1:1", "http://127.0.0.1:2"], None).unwrap();
        pool.disable_discovery();
        let calls = Arc::new(AtomicU32::new(0));
        let answers = Arc::new(answers);
        let start = Instant::now();
        let result = run(&policy, &pool, Route::Any, |_channel| {
            let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
            let answers = answers.clone();
            async move {
                match answers.get(n).cloned().unwrap_or(Err(tonic::Status::unavailable("down"))) {
                    Ok(v) => Ok(tonic::Response::new(v)),
                    Err(e) => Err(e),
                }
            }
        })
        .await;
        (result, calls.load(Ordering::SeqCst), start.elapsed())
    }

    #[tokio::test]
    async fn retries_until_success_and_stops_at_deterministic_errors() {
        let p = RetryPolicy { initial_backoff: Duration::from_millis(1), ..policy() };
        let unavailable = || Err(tonic::Status::unavailable("Unavailable: electing"));
        let (r, calls, _) = scripted(p.clone(), vec![unavailable(), unavailable(), Ok(7)]).await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls, 3);

        let missing = Err(tonic::Status::not_found("DigitalTwinNotFound: no twin 'x'"));
        let (r, calls, _) = scripted(p, vec![unavailable(), missing, Ok(1)]).await;
        assert_eq!(r.unwrap_err().code, Some(ErrorCode::DigitalTwinNotFound));
        assert_eq!(calls, 2, "a deterministic error must not be retried");
    }

    #[tokio::test]
    async fn read_only_region_moves_the_call_only_when_there_is_another_region() {
        let p = RetryPolicy { initial_backoff: Duration::from_millis(1), ..policy() };
        let pool = Pool::new(["http://127.0.0.1:1", "http://127.0.0.1:2"], None).unwrap();
        pool.disable_discovery();
        async fn attempt(
            p: &RetryPolicy,
            pool: &Pool,
            route: Route,
        ) -> (Result<u32, ClientError>, u32) {
            let calls = Arc::new(AtomicU32::new(0));
            let c = calls.clone();
            let result = run(p, pool, route, move |_| {
                let n = c.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Err(tonic::Status::failed_precondition(
                            "ReadOnlyRegion: this region is a standby (epoch 2) and takes no writes",
                        ))
                    } else {
                        Ok(tonic::Response::new(n))
                    }
                }
            })
            .await;
            (result, calls.load(Ordering::SeqCst))
        }
        // One region: there is nowhere else to go, the answer comes back at once.
        pool.note_region("http://127.0.0.1:1", "a");
        let (r, calls) = attempt(&p, &pool, Route::Leader).await;
        assert_eq!(r.unwrap_err().code, Some(ErrorCode::ReadOnlyRegion));
        assert_eq!(calls, 1);
        // Two regions: rediscover and retry, the second attempt succeeds.
        pool.note_region("http://127.0.0.1:2", "b");
        let (r, calls) = attempt(&p, &pool, Route::Leader).await;
        assert_eq!(r.unwrap(), 1);
        assert_eq!(calls, 2);
        // A local read was served by whatever it reached; it is not moved.
        let (r, _) = attempt(&p, &pool, Route::Any).await;
        assert_eq!(r.unwrap_err().code, Some(ErrorCode::ReadOnlyRegion));
    }

    #[tokio::test]
    async fn stops_at_the_attempt_budget() {
        let p = RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..policy()
        };
        let (r, calls, _) = scripted(p, vec![]).await;
        assert_eq!(r.unwrap_err().code_str(), "Unavailable");
        assert_eq!(calls, 4);
    }

    #[tokio::test]
    async fn stops_at_the_time_budget() {
        let p = RetryPolicy {
            max_attempts: 1000,
            total_timeout: Duration::from_millis(300),
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(40),
            ..policy()
        };
        let (r, calls, took) = scripted(p, vec![]).await;
        assert!(r.is_err());
        assert!(took < Duration::from_millis(600), "{took:?}");
        assert!((3..=30).contains(&calls), "{calls} attempts in {took:?}");
    }

    #[tokio::test]
    async fn an_attempt_that_hangs_is_cut_by_the_budgets() {
        let p = RetryPolicy {
            max_attempts: 3,
            attempt_timeout: Duration::from_millis(50),
            total_timeout: Duration::from_millis(500),
            initial_backoff: Duration::from_millis(1),
            ..policy()
        };
        let pool = Pool::new(["http://127.0.0.1:1"], None).unwrap();
        pool.disable_discovery();
        let start = Instant::now();
        let r: Result<(), _> = run(&p, &pool, Route::Any, |_| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(tonic::Response::new(()))
        })
        .await;
        let e = r.unwrap_err();
        assert_eq!(e.status, tonic::Code::DeadlineExceeded);
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    }
}
