//! Cluster administration: one node's raft status, adding and removing members
//! (`twinstore.v1.ClusterService`).
//!
//! `cluster_status` asks exactly the node it is given, once, without retries or rotation: its
//! purpose is to see *that* node (is it reachable, what does it think), so a failure is an answer
//! too. Membership changes go to the leader with the client's retry policy, with longer attempt
//! and total budgets, because adding a node waits until it has caught up as a learner.

use super::pool::Route;
use super::{Client, ClientError, retry};
use crate::pb;
use crate::pb::cluster_service_client::ClusterServiceClient;
use std::time::Duration;

/// How long a status query of one node may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// The least time a membership change is given (a learner may have a snapshot to install).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(120);

impl Client {
    /// The raft status of the node at `endpoint` (any URL, listed in the client or not): one
    /// attempt, bounded by the attempt timeout (at most 3 s).
    pub async fn cluster_status(
        &self,
        endpoint: &str,
    ) -> Result<pb::ClusterStatusResponse, ClientError> {
        let (url, channel) = self.inner.pool.channel_to(endpoint)?;
        let timeout = self.inner.policy.attempt_timeout.min(STATUS_TIMEOUT);
        let mut c = ClusterServiceClient::new(channel);
        match tokio::time::timeout(timeout, c.cluster_status(pb::ClusterStatusRequest {})).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(status)) => Err(ClientError::from_status(&status, &url)),
            Err(_) => Err(ClientError::timeout(&url, timeout)),
        }
    }

    /// Adds node `id`, reachable at `addr`, to the region: it joins as a learner, catches up, then
    /// becomes a voter. Answers with the voters after the change.
    pub async fn add_node(&self, id: u64, addr: &str) -> Result<pb::Membership, ClientError> {
        let req = pb::AddNodeRequest { id, addr: addr.into() };
        self.membership(move |mut c| {
            let r = req.clone();
            async move { c.add_node(r).await }
        })
        .await?
        .membership
        .ok_or_else(|| ClientError::missing("membership"))
    }

    /// Removes node `id` from the region. Answers with the voters after the change.
    pub async fn remove_node(&self, id: u64) -> Result<pb::Membership, ClientError> {
        let req = pb::RemoveNodeRequest { id };
        self.membership(move |mut c| async move { c.remove_node(req).await })
            .await?
            .membership
            .ok_or_else(|| ClientError::missing("membership"))
    }

    async fn membership<T, F, Fut>(&self, mut f: F) -> Result<T, ClientError>
    where
        F: FnMut(ClusterServiceClient<super::pool::Conn>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let mut policy = self.inner.policy.clone();
        policy.attempt_timeout = policy.attempt_timeout.max(MEMBERSHIP_TIMEOUT);
        policy.total_timeout = policy.total_timeout.max(MEMBERSHIP_TIMEOUT);
        retry::run(&policy, &self.inner.pool, Route::Leader, |ch| f(ClusterServiceClient::new(ch)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn status_of_an_unreachable_node_is_one_quick_failure() {
        let client = Client::new(["http://127.0.0.1:1"]).unwrap();
        let start = std::time::Instant::now();
        let e = client.cluster_status("127.0.0.1:2").await.unwrap_err();
        assert!(e.transport, "{e:?}");
        assert!(e.to_string().contains("http://127.0.0.1:2"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(4));
        // The node asked about is not added to the client's endpoints.
        assert_eq!(client.endpoints(), vec!["http://127.0.0.1:1"]);
    }
}
