//! The game-server HTTP API (PROTOCOL.md section 2). Registration takes the fleet's
//! registration token (checked in constant time); every other route takes the calling
//! server's own token ([`crate::credentials`]) and acts only on that server and its
//! matches. Bodies are size-limited and parsed with the failing field named; every error
//! is a JSON body `{"error": code, "message": ...}` with the status PROTOCOL.md gives.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use proto::{
    AssignmentsReply, BackfillAccepted, BackfillRequest, Heartbeat, HttpError, Id, MatchResult,
    RegisterServer, Registered, Validate,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use matches::{BackfillAnswer, Outcome};

use crate::credentials::ServerCredential;
use crate::registry::{Authenticated, Beat, BeatReport, Drained, Registration};
use crate::state::Shared;

/// The router of the game-server listener.
pub fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.config.pool.max_body_bytes;
    Router::new()
        .route(
            "/v1/servers",
            post(register).route_layer(middleware::from_fn_with_state(
                shared.clone(),
                authorize_registration,
            )),
        )
        .route("/v1/servers/{id}/heartbeat", post(heartbeat))
        .route("/v1/servers/{id}/assignments", get(assignments))
        .route("/v1/servers/{id}", axum::routing::delete(leave))
        .route("/v1/matches/{id}/ack", post(ack))
        .route("/v1/matches/{id}/result", post(result))
        .route(
            "/v1/matches/{id}/backfill",
            post(request_backfill).delete(cancel_backfill),
        )
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

/// A failed call: the status and the JSON body.
#[derive(Debug)]
pub struct Failure(StatusCode, HttpError);

impl Failure {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0
    }

    /// The JSON body.
    pub fn body(&self) -> &HttpError {
        &self.1
    }

    fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        Self(status, HttpError::new(error, message))
    }

    fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// 503: the caller should retry shortly.
    pub fn unavailable(what: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", what)
    }

    /// 401: the token is not the current one of the server it names.
    fn unauthorized() -> Self {
        metrics::counter!("rallypoint_pool_refused_total", "reason" => "unauthorized").increment(1);
        Self(
            StatusCode::UNAUTHORIZED,
            HttpError::unauthorized(
                "this token is not the current server_token of its server (it registered again, or the token is wrong): register again",
            ),
        )
    }

    /// 403: the match was given to another server.
    fn not_your_match(match_id: &Id) -> Self {
        metrics::counter!("rallypoint_pool_refused_total", "reason" => "not_your_match")
            .increment(1);
        Self::new(
            StatusCode::FORBIDDEN,
            "not_your_match",
            format!("match {match_id} was given to another server; nothing was changed"),
        )
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<fred::error::Error> for Failure {
    fn from(err: fred::error::Error) -> Self {
        service_runtime::redis::count_error(&err);
        tracing::warn!(error = %err, "a game-server call failed on Redis");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the pool cannot reach its store right now; retry shortly",
        )
    }
}

/// Registration takes the fleet's registration token (or the one being rotated out).
async fn authorize_registration(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let pool = &shared.config.pool;
    if service_runtime::ops::admin_authorized(request.headers(), &pool.token) {
        return next.run(request).await;
    }
    // During a rotation, servers not yet given the new token still get in.
    if !pool.previous_token.is_empty()
        && service_runtime::ops::admin_authorized(request.headers(), &pool.previous_token)
    {
        // When this stops growing, every server has the new token: drop the old one.
        metrics::counter!("rallypoint_pool_previous_token_calls_total").increment(1);
        return next.run(request).await;
    }
    metrics::counter!("rallypoint_pool_refused_total", "reason" => "unauthorized").increment(1);
    Failure(
        StatusCode::UNAUTHORIZED,
        HttpError::unauthorized(
            "registering takes Authorization: Bearer <the fleet's registration token>",
        ),
    )
    .into_response()
}

/// A JSON body as the handlers take it: within the size limit (`413 too_large` past it),
/// then [`read_body`].
fn body<T: DeserializeOwned + Validate>(
    bytes: Result<Bytes, BytesRejection>,
) -> Result<T, Failure> {
    let bytes = bytes.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is over the size limit",
            )
        } else {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                rejection.body_text(),
            )
        }
    })?;
    read_body(&bytes)
}

/// Parses and validates a game server's JSON body: `400 bad_request` naming the field that
/// is wrong, whatever the bytes (the fuzz tests hold it to that).
pub fn read_body<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, Failure> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let malformed = matches!(
            err.inner().classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        );
        let message = if malformed {
            format!("the body is not valid JSON: {}", err.inner())
        } else if path.is_empty() || path == "." {
            format!("invalid JSON body: {}", err.inner())
        } else {
            format!("invalid `{path}`: {}", err.inner())
        };
        Failure::new(StatusCode::BAD_REQUEST, "bad_request", message)
    })?;
    parsed
        .validate()
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, e.into()))?;
    Ok(parsed)
}

/// An id from the path.
fn id(raw: &str, what: &str) -> Result<Id, Failure> {
    Id::parse(raw).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{what}: {e}"),
        )
    })
}

async fn register(
    State(shared): State<Arc<Shared>>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let server: RegisterServer = body(bytes)?;
    if !shared.config.regions.contains(server.region.as_str()) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "invalid `region`: {} is not served (regions: {})",
                server.region,
                shared
                    .config
                    .regions
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    match shared.registry.register(&server).await? {
        Registration::Registered {
            credential,
            incarnation,
            orphaned,
        } => {
            tracing::info!(server = %server.id, region = %server.region, capacity = server.capacity, incarnation, "game server registered");
            if orphaned > 0 {
                tracing::warn!(server = %server.id, games = orphaned, "a new incarnation took the id: the games of the one before end now as server_lost");
                shared.end_orphaned(server.region.as_str()).await;
            }
            Ok((
                StatusCode::CREATED,
                Json(Registered {
                    id: server.id,
                    heartbeat_interval_ms: shared.config.pool.heartbeat_interval_ms,
                    server_token: credential.token,
                    incarnation,
                }),
            )
                .into_response())
        }
        Registration::OtherRegion(other) => Err(Failure::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "{} is registered in region {other}: DELETE it there first",
                server.id
            ),
        )),
        Registration::InUse {
            incarnation,
            lapses_in_ms,
        } => {
            metrics::counter!("rallypoint_pool_refused_total", "reason" => "id_in_use")
                .increment(1);
            Err(Failure::new(
                StatusCode::CONFLICT,
                "id_in_use",
                format!(
                    "{} is held by a live server (incarnation {incarnation}) whose heartbeat lapses in {lapses_in_ms} ms: give each server process its own id, or register again after that",
                    server.id
                ),
            ))
        }
    }
}

/// The server id in the path, which must be the caller's own (403 `not_your_server`).
fn own_server(credential: &ServerCredential, raw: &str) -> Result<Id, Failure> {
    let server = id(raw, "server id")?;
    if server != credential.server {
        metrics::counter!("rallypoint_pool_refused_total", "reason" => "not_your_server")
            .increment(1);
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "not_your_server",
            format!(
                "this token is server {}'s: it may not act for {server}",
                credential.server
            ),
        ));
    }
    Ok(server)
}

/// Checks the caller is the current incarnation of its server: 401 if not, 410/404 if
/// the pool no longer has the server.
async fn authenticate(shared: &Shared, credential: &ServerCredential) -> Result<(), Failure> {
    match shared
        .registry
        .authenticate(
            &credential.region,
            credential.server.as_str(),
            &credential.token_hash,
        )
        .await?
    {
        Authenticated::Yes => Ok(()),
        Authenticated::No => Err(Failure::unauthorized()),
        Authenticated::Unknown => Err(gone_or_unknown(shared, &credential.server).await),
    }
}

/// Why the pool does not have `server`: 410 when it was drained, else 404.
async fn gone_or_unknown(shared: &Shared, server: &Id) -> Failure {
    match shared.registry.was_drained(server.as_str()).await {
        Ok(true) => Failure::new(
            StatusCode::GONE,
            "drained",
            format!(
                "server {server} was drained and has left the pool: stop heartbeating; register again only to rejoin"
            ),
        ),
        Ok(false) => {
            Failure::not_found(format!("server {server} is not registered: register again"))
        }
        Err(err) => err.into(),
    }
}

async fn heartbeat(
    State(shared): State<Arc<Shared>>,
    credential: ServerCredential,
    Path(raw): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Json<AssignmentsReply>, Failure> {
    let server = own_server(&credential, &raw)?;
    // An empty body is a heartbeat with nothing to report.
    let beat: Heartbeat = match &bytes {
        Ok(b) if b.is_empty() => Heartbeat::default(),
        _ => body(bytes)?,
    };
    let region = credential.region.as_str();
    let (standing, orphaned) = shared
        .registry
        .heartbeat(BeatReport {
            region,
            server: server.as_str(),
            token_hash: &credential.token_hash,
            body: &beat,
        })
        .await?;
    if !orphaned.is_empty() {
        tracing::warn!(server = %server, games = ?orphaned, "games the server no longer runs (or past pool.max_game_ms) end now");
        shared.end_orphaned(region).await;
    }
    let draining = match standing {
        Beat::Alive => false,
        Beat::Draining => true,
        Beat::Unauthorized => return Err(Failure::unauthorized()),
        Beat::Left | Beat::Unknown => {
            // Drained and gone, or forgotten (reaped): 410 or 404.
            return Err(gone_or_unknown(&shared, &server).await);
        }
    };
    let assignments = shared.matches.assignments(region, server.as_str()).await?;
    Ok(Json(AssignmentsReply {
        assignments,
        draining,
    }))
}

#[derive(Debug, Deserialize)]
struct Wait {
    #[serde(default)]
    wait_ms: u64,
}

async fn assignments(
    State(shared): State<Arc<Shared>>,
    credential: ServerCredential,
    Path(raw): Path<String>,
    wait: Result<Query<Wait>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AssignmentsReply>, Failure> {
    let server = own_server(&credential, &raw)?;
    let Query(wait) = wait.map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid `wait_ms`: {}", e.body_text()),
        )
    })?;
    authenticate(&shared, &credential).await?;
    let region = credential.region.as_str();
    let found = shared.matches.assignments(region, server.as_str()).await?;
    let wait = Duration::from_millis(wait.wait_ms.min(shared.config.pool.long_poll_max_ms));
    if !found.is_empty() || wait.is_zero() {
        return Ok(Json(AssignmentsReply {
            assignments: found,
            draining: false,
        }));
    }
    // Subscribe first, then look again: an assignment made in between is not missed.
    let woken = Arc::new(Notify::new());
    let channel = shared
        .ctx
        .keys
        .pool(region)
        .assignments_channel(server.as_str());
    let subscription = {
        let woken = woken.clone();
        shared
            .ctx
            .subscriptions
            .subscribe_with(&channel, move |_| woken.notify_one())
            .await
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let found = shared.matches.assignments(region, server.as_str()).await?;
        if !found.is_empty() {
            return Ok(Json(AssignmentsReply {
                assignments: found,
                draining: false,
            }));
        }
        if subscription.is_err() {
            // No wake-ups: poll every 100 ms instead.
            tokio::time::sleep(Duration::from_millis(100).min(wait)).await;
        } else if tokio::time::timeout_at(deadline, woken.notified())
            .await
            .is_err()
        {
            return Ok(Json(AssignmentsReply::default()));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Json(AssignmentsReply::default()));
        }
    }
}

async fn leave(
    State(shared): State<Arc<Shared>>,
    credential: ServerCredential,
    Path(raw): Path<String>,
) -> Result<StatusCode, Failure> {
    let server = own_server(&credential, &raw)?;
    let drained = shared
        .registry
        .drain(
            &credential.region,
            server.as_str(),
            Some(&credential.token_hash),
        )
        .await?;
    match drained {
        Drained::Left | Drained::Draining => {
            tracing::info!(server = %server, "game server leaving the pool");
            Ok(StatusCode::NO_CONTENT)
        }
        Drained::Unauthorized => Err(Failure::unauthorized()),
        Drained::Unknown => Err(Failure::not_found(format!(
            "server {server} is not registered"
        ))),
    }
}

/// The answer to an ack or a result that did not go through.
fn refused(outcome: Outcome, match_id: &Id) -> Failure {
    match outcome {
        Outcome::Unknown => Failure::not_found(format!("no match {match_id} is known")),
        Outcome::NotInMatch(player) => Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("placements: player {player} is not in match {match_id}"),
        ),
        Outcome::Conflict(state) => Failure::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("match {match_id} is {state}"),
        ),
        Outcome::Different => Failure::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("match {match_id} has a different result recorded; it is kept"),
        ),
        Outcome::NotYours => Failure::not_your_match(match_id),
        Outcome::Unauthorized => Failure::unauthorized(),
        Outcome::NotReplicated(err) => {
            Failure::unavailable(format!("{err}: the result is kept; post it again shortly"))
        }
        Outcome::Done | Outcome::Duplicate => Failure::unavailable("unexpected answer; retry"),
    }
}

async fn ack(
    State(shared): State<Arc<Shared>>,
    credential: ServerCredential,
    Path(raw): Path<String>,
) -> Result<StatusCode, Failure> {
    let match_id = id(&raw, "match id")?;
    match shared
        .matches
        .ack(match_id.as_str(), &credential.caller())
        .await?
    {
        Outcome::Done | Outcome::Duplicate => Ok(StatusCode::NO_CONTENT),
        Outcome::Different => Err(Failure::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("match {match_id} has a result already"),
        )),
        other => Err(refused(other, &match_id)),
    }
}

async fn result(
    State(shared): State<Arc<Shared>>,
    credential: ServerCredential,
    Path(raw): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let match_id = id(&raw, "match id")?;
    let posted: MatchResult = body(bytes)?;
    let posted = shared
        .result_groups
        .post(match_id.clone(), credential, posted)
        .await?;
    if let Some(server) = &posted.server_left {
        shared.registry.forget_drained(server).await?;
        tracing::info!(server = %server, "a draining server ran its last game and left the pool");
    }
    match posted.outcome {
        // A new result, also one for a game the pool ended meanwhile (it was played).
        Outcome::Done => Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"recorded": true})),
        )
            .into_response()),
        Outcome::Duplicate => {
            Ok((StatusCode::OK, Json(serde_json::json!({"duplicate": true}))).into_response())
        }
        other => Err(refused(other, &match_id)),
    }
}

/// `POST /v1/matches/{id}/backfill`: the match's server asks for players (`202`
/// {`backfill`}); a new request replaces the open one.
async fn request_backfill(
    State(shared): State<Arc<Shared>>,
    credential: ServerCredential,
    Path(raw): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let match_id = id(&raw, "match id")?;
    let request: BackfillRequest = body(bytes)?;
    let answer = shared
        .matches
        .request_backfill(match_id.as_str(), &credential.caller(), &request)
        .await?;
    match answer {
        BackfillAnswer::Accepted(backfill) => {
            Ok((StatusCode::ACCEPTED, Json(BackfillAccepted { backfill })).into_response())
        }
        other => Err(backfill_refused(other, &match_id)),
    }
}

/// `DELETE /v1/matches/{id}/backfill`: the match's server cancels its open request
/// (`204`; `404` when none is open).
async fn cancel_backfill(
    State(shared): State<Arc<Shared>>,
    credential: ServerCredential,
    Path(raw): Path<String>,
) -> Result<StatusCode, Failure> {
    let match_id = id(&raw, "match id")?;
    match shared
        .matches
        .cancel_backfill(match_id.as_str(), &credential.caller())
        .await?
    {
        BackfillAnswer::Cancelled => Ok(StatusCode::NO_CONTENT),
        other => Err(backfill_refused(other, &match_id)),
    }
}

/// The answer to a backfill call that did not go through.
fn backfill_refused(answer: BackfillAnswer, match_id: &Id) -> Failure {
    match answer {
        BackfillAnswer::BadSlots(why) => Failure::new(StatusCode::BAD_REQUEST, "bad_request", why),
        BackfillAnswer::NoneOpen => {
            Failure::not_found(format!("no backfill is open for match {match_id}"))
        }
        BackfillAnswer::Refused(Outcome::Conflict(state)) => Failure::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("match {match_id} is {state}: only a running match takes backfill"),
        ),
        BackfillAnswer::Refused(outcome) => refused(outcome, match_id),
        BackfillAnswer::Accepted(_) | BackfillAnswer::Cancelled => {
            Failure::unavailable("unexpected answer; retry")
        }
    }
}
