//! Queries (`twinstore.v1.QueryService`): one page at a time, or every page.
//!
//! A query's later pages live on the node that ran it (its cursor), so they are read from the same
//! route as the first page: the leader for linearizable queries, the last node that answered for
//! local ones. A query may run for up to 60 s on the server, so attempts get that long (and one
//! that times out is not worth repeating at once: the budget allows one attempt of that length).

use super::pool::Route;
use super::{Client, ClientError, PageRequest, read_options, retry, route_for};
use crate::pb;
use crate::pb::query_service_client::QueryServiceClient;
use std::time::Duration;

/// How long a query attempt may take: the server's limit (60 s) and a margin.
const QUERY_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(65);
/// The most pages `query_all` follows (1,000 rows each at most: past the server's row limit).
const MAX_PAGES: usize = 1_000_000 / 1000 + 1;

/// One page of a query's rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryPage {
    /// The rows, as JSON text (documents, projected objects, or `{"COUNT": n}`).
    pub rows: Vec<String>,
    /// The token for the next page; `None` on the last page.
    pub continuation_token: Option<String>,
    /// This page's cost (the first page carries the cost of running the query).
    pub query_charge: f64,
    /// Entries the server read from its store for this page.
    pub rows_scanned: u64,
    /// Where the query was served.
    pub read: Option<pb::ReadInfo>,
}

impl Client {
    /// One page of a query: the first (no token in `page`) or the one after `page`'s token.
    pub async fn query(&self, query: &str, page: &PageRequest) -> Result<QueryPage, ClientError> {
        let req = pb::QueryRequest {
            query: query.into(),
            page_size: page.page_size,
            continuation_token: page.continuation_token.clone().unwrap_or_default(),
            options: read_options(page.consistency),
        };
        let route: Route = route_for(page.consistency);
        let mut policy = self.inner.policy.clone();
        policy.attempt_timeout = policy.attempt_timeout.max(QUERY_ATTEMPT_TIMEOUT);
        policy.total_timeout = policy.total_timeout.max(QUERY_ATTEMPT_TIMEOUT);
        let resp = retry::run(&policy, &self.inner.pool, route, |ch| {
            let r = req.clone();
            let mut c =
                QueryServiceClient::new(ch).max_decoding_message_size(super::MAX_MESSAGE_BYTES);
            async move { c.query(r).await }
        })
        .await?;
        Ok(QueryPage {
            rows: resp.row_json,
            continuation_token: (!resp.continuation_token.is_empty())
                .then_some(resp.continuation_token),
            query_charge: resp.query_charge,
            rows_scanned: resp.rows_scanned,
            read: resp.read,
        })
    }

    /// Every row of a query, following the continuation tokens from `first` on. Returns the rows
    /// and the pages read (for their costs).
    pub async fn query_all(
        &self,
        query: &str,
        first: &PageRequest,
    ) -> Result<(Vec<String>, Vec<QueryPage>), ClientError> {
        let mut rows = Vec::new();
        let mut pages = Vec::new();
        let mut request = first.clone();
        for _ in 0..MAX_PAGES {
            let mut page = self.query(query, &request).await?;
            rows.append(&mut page.rows);
            let next = page.continuation_token.clone();
            pages.push(page);
            match next {
                Some(t) if Some(&t) != request.continuation_token.as_ref() => {
                    request.continuation_token = Some(t)
                }
                Some(_) => {
                    return Err(ClientError::local(
                        crate::error::ErrorCode::Internal,
                        "the server returned the same continuation token twice",
                    ));
                }
                None => return Ok((rows, pages)),
            }
        }
        Err(ClientError::local(
            crate::error::ErrorCode::Internal,
            format!("the query's result ran past {MAX_PAGES} pages"),
        ))
    }
}
