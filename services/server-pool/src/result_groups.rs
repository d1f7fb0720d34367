//! Game servers' results are recorded in groups (a group commit): a posted result waits
//! up to `pool.result_group_ms` for others, or until `pool.result_group_max` have come,
//! and the group goes to Redis together ([`matches::Matches::post_results`]): each step
//! of the whole group leaves in one write per Redis node, and one `WAIT` per region
//! confirms all its results, where one result at a time costs five round trips and a
//! `WAIT` of its own. Results posted while a group is being written form the next one.
//!
//! Why here: results are the pool's busiest writes that nobody waits on closely (a game
//! server has ended its game; its players' next join waits for the rating anyway), so a
//! few milliseconds buy fewer Redis reads per match (docs/ARCHITECTURE.md, "Batch the
//! round trips").

use std::time::Duration;

use fred::error::{Error, ErrorKind};
use matches::{Matches, Posted, ResultPost};
use proto::{Id, MatchResult};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::credentials::ServerCredential;

/// Results waiting for their group beyond this are refused (503, the game server
/// retries) rather than queued without bound behind a store that cannot keep up.
const QUEUED_MAX: usize = 4096;

/// The handle the result route posts through; the group writer stops when it is dropped.
#[derive(Debug, Clone)]
pub struct ResultGroups {
    queue: mpsc::Sender<Waiting>,
}

/// A posted result waiting for its group, and where its answer goes.
struct Waiting {
    match_id: Id,
    credential: ServerCredential,
    result: MatchResult,
    answer: oneshot::Sender<Result<Posted, Error>>,
}

impl ResultGroups {
    /// Starts the group writer: groups wait up to `window` for up to `max` results.
    pub fn start(matches: Matches, window: Duration, max: usize) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUED_MAX);
        tokio::spawn(write_groups(matches, waiting, window, max.max(1)));
        Self { queue }
    }

    /// Records `result` with the group it joins; its answer as
    /// [`Matches::post_result`] gives it.
    pub async fn post(
        &self,
        match_id: Id,
        credential: ServerCredential,
        result: MatchResult,
    ) -> Result<Posted, Error> {
        let (answer, answered) = oneshot::channel();
        let waiting = Waiting {
            match_id,
            credential,
            result,
            answer,
        };
        self.queue.try_send(waiting).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => {
                metrics::counter!("rallypoint_pool_results_refused_busy_total").increment(1);
                Error::new(
                    ErrorKind::Backpressure,
                    "too many results are waiting to be recorded",
                )
            }
            mpsc::error::TrySendError::Closed(_) => stopped(),
        })?;
        answered.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> Error {
    Error::new(ErrorKind::Canceled, "the pool's result writer has stopped")
}

/// Takes groups off the queue and records each, until every handle is dropped.
async fn write_groups(
    matches: Matches,
    mut waiting: mpsc::Receiver<Waiting>,
    window: Duration,
    max: usize,
) {
    while let Some(first) = waiting.recv().await {
        let mut group = vec![first];
        let until = Instant::now() + window;
        while group.len() < max {
            match tokio::time::timeout_at(until, waiting.recv()).await {
                Ok(Some(next)) => group.push(next),
                Ok(None) | Err(_) => break,
            }
        }
        metrics::histogram!("rallypoint_pool_result_group_size").record(group.len() as f64);
        let answers = {
            let posts: Vec<ResultPost<'_>> = group
                .iter()
                .map(|w| ResultPost {
                    match_id: w.match_id.as_str(),
                    caller: w.credential.caller(),
                    result: &w.result,
                })
                .collect();
            matches.post_results(&posts).await
        };
        for (waiting, answer) in group.into_iter().zip(answers) {
            // A caller that hung up meanwhile gets nothing; its result is recorded.
            let _gone = waiting.answer.send(answer);
        }
    }
}
