//! The simple retry loop every call goes through.
//!
//! A call that fails because no node answered, or because the node said `Unavailable` or
//! `NotLeader`, is tried again on the next endpoint of the list after a short exponential backoff,
//! a bounded number of times. Writes are safe to retry: the caller builds the request once, with its
//! client id and request id, and every attempt sends that same request, so the server's dedupe table
//! applies it at most once and answers a retry with the first answer.
//!
//! This is deliberately small; leader discovery (following the leader address a follower names)
//! and a richer policy (budgets, jitter, region failover) come later and will replace this file.

use super::error::ClientError;
use super::pool::Pool;
use std::future::Future;
use std::time::Duration;
use tonic::transport::Channel;

/// How often and how patiently a call is retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included (at least 1).
    pub max_attempts: u32,
    /// The pause before the first retry; it doubles at each further retry.
    pub initial_backoff: Duration,
    /// The longest pause between two attempts.
    pub max_backoff: Duration,
    /// How long one attempt may wait for its answer.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn no_retry() -> Self {
        RetryPolicy { max_attempts: 1, ..Self::default() }
    }

    /// The pause before retry number `retry` (0 for the first retry).
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// Runs `attempt` against the pool's endpoints until it succeeds, fails for good, or runs out of
/// attempts. Each attempt gets the channel of the endpoint to try; a retry moves to the next one.
pub(super) async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    pool: &Pool,
    mut attempt: F,
) -> Result<T, ClientError>
where
    F: FnMut(Channel) -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let mut index = pool.preferred();
    let mut tries = 0u32;
    loop {
        tries += 1;
        let (url, channel) = pool.channel(index);
        let err = match tokio::time::timeout(policy.attempt_timeout, attempt(channel)).await {
            Ok(Ok(response)) => {
                pool.set_preferred(index);
                return Ok(response.into_inner());
            }
            Ok(Err(status)) => ClientError::from_status(&status, url),
            Err(_) => ClientError::timeout(url, policy.attempt_timeout),
        };
        if !err.is_retryable() || tries >= policy.max_attempts.max(1) {
            return Err(err);
        }
        index = pool.next_index(index);
        tokio::time::sleep(policy.backoff(tries - 1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0), Duration::from_millis(50));
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(3), Duration::from_millis(400));
        assert_eq!(p.backoff(10), Duration::from_secs(1));
        assert_eq!(p.backoff(100), Duration::from_secs(1));
    }
}
