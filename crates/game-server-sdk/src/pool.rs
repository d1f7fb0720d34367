//! The server pool's HTTP API as a game server uses it (PROTOCOL.md section 2), over every
//! pool address in turn: registration with the fleet's token, then every call with this
//! incarnation's own `server_token`. Tokens never reach a log.

use std::time::Duration;

use proto::{Assignment, AssignmentsReply, BackfillRequest, Heartbeat, RegisterServer, Registered};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a pool call failed.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(
        "the pool refused the token (401): check --token / SIM_POOL_TOKEN (registration), or another process registered this id"
    )]
    Unauthorized,
    #[error("the pool answered {status}: {body}")]
    Status { status: StatusCode, body: String },
    #[error("no pool address answered: {0}")]
    Unreachable(String),
    #[error("cannot make the pool client: {0}")]
    Setup(String),
}

/// Where this server stands with the pool, as its heartbeat learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Member,
    /// An operator is draining it: no new games; it leaves when its games end.
    Draining,
    /// It was drained and has left: it must not register again by itself.
    Drained,
}

/// A client of the server pool.
pub struct PoolClient {
    http: reqwest::Client,
    urls: Vec<String>,
    /// The fleet's registration token: registering only.
    registration_token: String,
    /// This server's own token, from its latest registration: every other call.
    server_token: std::sync::RwLock<String>,
}

impl std::fmt::Debug for PoolClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The tokens never reach a log.
        f.debug_struct("PoolClient")
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

/// The longest a long poll for assignments waits.
pub const LONG_POLL: Duration = Duration::from_secs(20);

impl PoolClient {
    /// A client of the pools at `urls` (tried in turn), registering with `token` (the
    /// fleet's `pool.token`).
    pub fn new(urls: Vec<String>, token: String) -> Result<Self, PoolError> {
        if urls.is_empty() {
            return Err(PoolError::Setup("give at least one pool URL".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(LONG_POLL + Duration::from_secs(10))
            .build()
            .map_err(|e| PoolError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            urls,
            registration_token: token,
            server_token: std::sync::RwLock::default(),
        })
    }

    /// The token a call of `path` carries.
    fn token_for(&self, method: &Method, path: &str) -> String {
        if method == Method::POST && path == "/v1/servers" {
            return self.registration_token.clone();
        }
        self.server_token
            .read()
            .map(|token| token.clone())
            .unwrap_or_default()
    }

    /// One call, tried on each pool address until one answers.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(StatusCode, Option<T>), PoolError> {
        let mut last = String::new();
        for url in &self.urls {
            let mut request = self
                .http
                .request(
                    method.clone(),
                    format!("{}{path}", url.trim_end_matches('/')),
                )
                .bearer_auth(self.token_for(&method, path));
            if let Some(body) = body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::UNAUTHORIZED {
                        return Err(PoolError::Unauthorized);
                    }
                    if status.is_server_error() {
                        last = format!("{url}: {status}");
                        continue;
                    }
                    let text = response.text().await.unwrap_or_default();
                    if status.is_client_error()
                        && status != StatusCode::NOT_FOUND
                        && status != StatusCode::GONE
                    {
                        return Err(PoolError::Status { status, body: text });
                    }
                    return Ok((status, serde_json::from_str(&text).ok()));
                }
                Err(err) => last = format!("{url}: {err}"),
            }
        }
        Err(PoolError::Unreachable(last))
    }

    /// Registers (retrying while no pool answers); returns the heartbeat interval.
    pub async fn register(&self, server: &RegisterServer) -> Result<Duration, PoolError> {
        let mut pause = Duration::from_millis(200);
        loop {
            match self
                .call::<_, Registered>(Method::POST, "/v1/servers", Some(server))
                .await
            {
                Ok((_, Some(registered))) => {
                    tracing::info!(incarnation = registered.incarnation, "registered");
                    if let Ok(mut token) = self.server_token.write() {
                        *token = registered.server_token;
                    }
                    return Ok(Duration::from_millis(
                        registered.heartbeat_interval_ms.max(100),
                    ));
                }
                Ok((status, None)) => {
                    tracing::warn!(%status, "unexpected answer to registration; retrying");
                }
                Err(PoolError::Unreachable(err)) => {
                    tracing::warn!(error = %err, "no pool answers yet; retrying");
                }
                // The id is held by a live incarnation (this process's own, whose answer
                // was lost, or another process given the same id): wait for it to lapse.
                Err(PoolError::Status { status, body })
                    if status == StatusCode::CONFLICT && body.contains("id_in_use") =>
                {
                    tracing::warn!(%body, "this id is in use; retrying");
                }
                Err(err) => return Err(err),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// A heartbeat; registers again when the pool no longer knows this server (404), but
    /// not when it was drained (410).
    pub async fn heartbeat(
        &self,
        server: &RegisterServer,
        active: u32,
        games: Vec<proto::Id>,
    ) -> Result<Standing, PoolError> {
        let beat = Heartbeat {
            active_games: Some(active),
            players: None,
            games: Some(games),
        };
        let path = format!("/v1/servers/{}/heartbeat", server.id);
        let (status, reply) = self
            .call::<_, AssignmentsReply>(Method::POST, &path, Some(&beat))
            .await?;
        if status == StatusCode::GONE {
            return Ok(Standing::Drained);
        }
        if status == StatusCode::NOT_FOUND {
            tracing::warn!("the pool forgot this server (reaped); registering again");
            self.register(server).await?;
            return Ok(Standing::Member);
        }
        Ok(if reply.is_some_and(|r| r.draining) {
            Standing::Draining
        } else {
            Standing::Member
        })
    }

    /// Long-polls for new assignments.
    pub async fn assignments(&self, id: &str) -> Result<Vec<Assignment>, PoolError> {
        let path = format!(
            "/v1/servers/{id}/assignments?wait_ms={}",
            LONG_POLL.as_millis()
        );
        let (status, reply) = self
            .call::<(), AssignmentsReply>(Method::GET, &path, None)
            .await?;
        if !status.is_success() {
            // Unknown (404) or drained (410): the heartbeat deals with it; the caller
            // pauses instead of polling again at once.
            return Err(PoolError::Status {
                status,
                body: String::new(),
            });
        }
        Ok(reply.map(|r| r.assignments).unwrap_or_default())
    }

    /// Acknowledges an assignment.
    pub async fn ack(&self, match_id: &str) -> Result<StatusCode, PoolError> {
        let path = format!("/v1/matches/{match_id}/ack");
        Ok(self
            .call::<(), serde_json::Value>(Method::POST, &path, None)
            .await?
            .0)
    }

    /// Asks for players for teams of a running match (`202` when taken; a new request
    /// replaces the open one).
    pub async fn backfill(
        &self,
        match_id: &str,
        request: &BackfillRequest,
    ) -> Result<StatusCode, PoolError> {
        let path = format!("/v1/matches/{match_id}/backfill");
        Ok(self
            .call::<_, serde_json::Value>(Method::POST, &path, Some(request))
            .await?
            .0)
    }

    /// Cancels the match's open backfill request (`204`; `404` when none was open).
    pub async fn cancel_backfill(&self, match_id: &str) -> Result<StatusCode, PoolError> {
        let path = format!("/v1/matches/{match_id}/backfill");
        Ok(self
            .call::<(), serde_json::Value>(Method::DELETE, &path, None)
            .await?
            .0)
    }

    /// Posts a result, retrying while no pool answers.
    pub async fn result(
        &self,
        match_id: &str,
        result: &proto::MatchResult,
    ) -> Result<StatusCode, PoolError> {
        let path = format!("/v1/matches/{match_id}/result");
        let mut pause = Duration::from_millis(200);
        loop {
            match self
                .call::<_, serde_json::Value>(Method::POST, &path, Some(result))
                .await
            {
                Ok((status, _)) => return Ok(status),
                Err(PoolError::Unreachable(err)) => {
                    tracing::warn!(%match_id, error = %err, "cannot post the result yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Leaves the pool (after the games in play).
    pub async fn leave(&self, id: &str) -> Result<(), PoolError> {
        let path = format!("/v1/servers/{id}");
        self.call::<(), serde_json::Value>(Method::DELETE, &path, None)
            .await
            .map(|_| ())
    }
}
