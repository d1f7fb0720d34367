//! The server API: HTTP and JSON for the studio's trusted backend (PROTOCOL.md section 4),
//! on a listener of its own (`gateway.api_listen`), never the public WebSocket one.
//!
//! Every call carries `Authorization: Bearer <gateway.api_token>` (or, during a rotation,
//! `gateway.previous_api_token`), compared in constant time; anything else is `401` and
//! changes nothing. Any gateway answers any call: everything goes through Redis (the
//! room's channel, the player's inbox, the broadcast channel, the sessions), so the player
//! may be connected to any instance. Bodies over `gateway.api_max_body_bytes` are `413`.
//!
//! A broadcast is published once, on the one channel every gateway follows
//! ([`follow_broadcasts`]); each gateway hands it to every socket it holds, encoded once
//! per wire encoding.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use proto::{Body, Event, HttpError, Id, PlayerId, RoomId, ServerMessage};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use service_runtime::clock::now_ms;
use service_runtime::publish::Reached;
use service_runtime::subscriptions::HandlerSubscription;

use crate::outbound::Encoded;
use crate::state::Shared;

/// Players one presence call may ask about.
pub const MAX_PRESENCE_PLAYERS: usize = 1000;
/// Members one page of `GET /v1/rooms/{room}/members` lists at most (and by default).
pub const MAX_MEMBERS_PAGE: usize = 1000;

/// The server API's router.
pub fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.config.api_max_body_bytes;
    Router::new()
        .route("/v1/publish", post(publish))
        .route("/v1/send", post(send))
        .route("/v1/broadcast", post(broadcast))
        .route("/v1/players/{id}/disconnect", post(disconnect))
        .route("/v1/players/{id}/mute", post(mute).delete(unmute))
        .route("/v1/players/{id}/presence", get(player_presence))
        .route("/v1/presence", post(presence))
        .route("/v1/rooms/{room}/members", get(room_members))
        .layer(middleware::from_fn_with_state(shared.clone(), authorize))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

/// A refused call: its status and `{"error", "message"}` body.
#[derive(Debug)]
struct Failure(StatusCode, HttpError);

impl Failure {
    fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        metrics::counter!("rallypoint_gateway_api_refused_total", "error" => error.to_owned())
            .increment(1);
        Self(status, HttpError::new(error, message))
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
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
        tracing::warn!(error = %err, "a server API call failed on Redis");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the gateway cannot reach its store right now; retry shortly",
        )
    }
}

impl From<service_runtime::publish::PublishError> for Failure {
    fn from(err: service_runtime::publish::PublishError) -> Self {
        match err {
            service_runtime::publish::PublishError::Redis(err) => err.into(),
            service_runtime::publish::PublishError::Encode(err) => {
                tracing::error!(error = %err, "cannot encode a server API event");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the message could not be encoded",
                )
            }
        }
    }
}

/// Every route takes the API token (or the one being rotated out).
async fn authorize(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let config = &shared.config;
    let route = request.uri().path().to_owned();
    let current = service_runtime::ops::admin_authorized(request.headers(), &config.api_token);
    let previous = !current
        && !config.previous_api_token.is_empty()
        && service_runtime::ops::admin_authorized(request.headers(), &config.previous_api_token);
    if previous {
        // When this stops growing, every backend has the new token: drop the old one.
        metrics::counter!("rallypoint_gateway_api_previous_token_calls_total").increment(1);
    }
    if !current && !previous {
        return Failure::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the server API takes Authorization: Bearer <gateway.api_token>",
        )
        .into_response();
    }
    let response = next.run(request).await;
    let route = route_label(&route);
    let outcome = if response.status().is_success() {
        "ok"
    } else {
        "refused"
    };
    metrics::counter!("rallypoint_gateway_api_calls_total", "route" => route, "outcome" => outcome)
        .increment(1);
    response
}

/// A bounded label for a request path (ids left out).
fn route_label(path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["v1", "publish"] => "publish",
        ["v1", "send"] => "send",
        ["v1", "broadcast"] => "broadcast",
        ["v1", "presence"] => "presence",
        ["v1", "players", _, "disconnect"] => "disconnect",
        ["v1", "players", _, "mute"] => "mute",
        ["v1", "players", _, "presence"] => "player_presence",
        ["v1", "rooms", _, "members"] => "room_members",
        _ => "other",
    }
}

/// A JSON body: `413 too_large` past the limit, `400 bad_request` naming what is wrong.
fn body<T: DeserializeOwned>(bytes: Result<Bytes, BytesRejection>) -> Result<T, Failure> {
    let bytes = bytes.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is over gateway.api_max_body_bytes",
            )
        } else {
            Failure::bad_request(rejection.body_text())
        }
    })?;
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        if path.is_empty() || path == "." {
            Failure::bad_request(format!("invalid JSON body: {}", err.inner()))
        } else {
            Failure::bad_request(format!("invalid `{path}`: {}", err.inner()))
        }
    })
}

/// An id from the path.
fn path_id(raw: &str, what: &str) -> Result<Id, Failure> {
    Id::parse(raw).map_err(|e| Failure::bad_request(format!("invalid {what} {raw:?}: {e}")))
}

/// Sends `event` to `player`'s inbox (kept for their next socket while they are between
/// sockets): `404 not_online` when they are neither connected nor between sockets, `503`
/// when they have a session but their gateway could not be reached just now.
async fn to_player(shared: &Shared, player: &PlayerId, event: Event) -> Result<(), Failure> {
    let publisher = &shared.ctx.publisher;
    let reached = publisher
        .send_to_player(&shared.ctx.keys, player.as_str(), event)
        .await?;
    answer_for(player, reached)
}

/// The answer for a push to `player` that went as `reached`.
fn answer_for(player: &PlayerId, reached: Reached) -> Result<(), Failure> {
    match reached {
        Reached::Socket | Reached::Kept => Ok(()),
        Reached::Unreachable => Err(Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{player} is online but could not be reached just now; retry"),
        )),
        Reached::Offline => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "not_online",
            format!("{player} is not connected"),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Publish {
    room: RoomId,
    body: Body,
}

/// `POST /v1/publish` {`room`, `body`}: every member gets `room.message` from `server`.
async fn publish(
    State(shared): State<Arc<Shared>>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let Publish { room, body } = body(bytes)?;
    let from = PlayerId::parse(proto::server::SERVER_SENDER)
        .map_err(|e| Failure::bad_request(e.to_string()))?;
    let event = Event::RoomMessage {
        room: room.clone(),
        from,
        body,
        ts: now_ms(),
    };
    // In a room that keeps history, kept like a player's message.
    let gateways = shared.history.publish(&room, event).await?;
    Ok(Json(json!({"room": room, "gateways": gateways})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Send {
    player: PlayerId,
    body: Body,
}

/// `POST /v1/send` {`player`, `body`}: the player gets a `notice`.
async fn send(
    State(shared): State<Arc<Shared>>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Failure> {
    let Send { player, body } = body(bytes)?;
    let event = Event::Deliver {
        player: player.clone(),
        conn: None,
        message: ServerMessage::Notice { body, ts: now_ms() },
    };
    to_player(&shared, &player, event).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Broadcast {
    body: Body,
}

/// `POST /v1/broadcast` {`body`}: every connected player on every gateway gets a `notice`.
async fn broadcast(
    State(shared): State<Arc<Shared>>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let Broadcast { body } = body(bytes)?;
    let event = Event::Broadcast {
        message: ServerMessage::Notice { body, ts: now_ms() },
    };
    let gateways = shared
        .ctx
        .publisher
        .send_event(&shared.ctx.keys.broadcast_channel(), event)
        .await?;
    Ok(Json(json!({"gateways": gateways})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Disconnect {
    #[serde(default)]
    reason: Option<String>,
}

/// Longest reason a disconnect may give (it goes to the player in `kicked`).
const MAX_REASON_BYTES: usize = 256;

/// `POST /v1/players/{id}/disconnect` {`reason`?}: the socket is closed with 4005 after a
/// `kicked` push with the reason.
async fn disconnect(
    State(shared): State<Arc<Shared>>,
    Path(raw): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Failure> {
    let player = path_id(&raw, "player id")?;
    let empty = matches!(&bytes, Ok(b) if b.is_empty());
    let Disconnect { reason } = if empty {
        Disconnect { reason: None }
    } else {
        body(bytes)?
    };
    let reason = reason.unwrap_or_else(|| "disconnected by the server".to_owned());
    if reason.len() > MAX_REASON_BYTES {
        return Err(Failure::bad_request(format!(
            "invalid `reason`: at most {MAX_REASON_BYTES} bytes"
        )));
    }
    // Only for the socket the player has now: a disconnect is not kept for the next one.
    let event = Event::Disconnect {
        player: player.clone(),
        reason,
    };
    let reached = shared
        .ctx
        .publisher
        .send_to_socket(&shared.ctx.keys, player.as_str(), event)
        .await?;
    answer_for(&player, reached)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MuteUntil {
    until_ms: u64,
}

/// The longest a mute may last.
const MAX_MUTE_MS: u64 = 366 * 24 * 3600 * 1000;

/// `POST /v1/players/{id}/mute` {`until_ms`}: until then the player's `room.send` and
/// `whisper` get `error muted`, across reconnects to any gateway. The mute is kept in the
/// player's slot (expiring then; in their live session's hash too) and told to the
/// gateway holding their socket, which checks it without asking Redis.
async fn mute(
    State(shared): State<Arc<Shared>>,
    Path(raw): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Failure> {
    let player = path_id(&raw, "player id")?;
    let MuteUntil { until_ms } = body(bytes)?;
    let now = now_ms();
    if until_ms <= now || until_ms - now > MAX_MUTE_MS {
        return Err(Failure::bad_request(
            "invalid `until_ms`: a time in the next year, ms since the epoch (DELETE lifts a mute)",
        ));
    }
    shared.sessions.set_mute(player.as_str(), until_ms).await?;
    tell_mute(&shared, player, until_ms).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/players/{id}/mute`: the player may chat again.
async fn unmute(
    State(shared): State<Arc<Shared>>,
    Path(raw): Path<String>,
) -> Result<StatusCode, Failure> {
    let player = path_id(&raw, "player id")?;
    shared.sessions.set_mute(player.as_str(), 0).await?;
    tell_mute(&shared, player, 0).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Tells the gateway holding `player`'s socket, if any (a later session reads the key).
async fn tell_mute(shared: &Shared, player: PlayerId, until_ms: u64) {
    let inbox = shared.ctx.keys.player(player.as_str()).inbox_channel();
    shared
        .ctx
        .publisher
        .publish_event(&inbox, Event::Mute { player, until_ms })
        .await;
}

/// `GET /v1/players/{id}/presence`: {`player`, `online`, `gateway`?, `last_seen_ms`?}.
async fn player_presence(
    State(shared): State<Arc<Shared>>,
    Path(raw): Path<String>,
) -> Result<Response, Failure> {
    let player = path_id(&raw, "player id")?;
    let found = shared
        .sessions
        .presence(&[player.to_string()])
        .await?
        .into_iter()
        .next();
    let mut answer = serde_json::to_value(found).unwrap_or_default();
    if let Some(object) = answer.as_object_mut() {
        object.insert("player".into(), json!(player));
    }
    Ok(Json(answer).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceOf {
    players: Vec<PlayerId>,
}

/// `POST /v1/presence` {`players`: [up to 1,000]}: {`players`: {id: presence}}.
async fn presence(
    State(shared): State<Arc<Shared>>,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let PresenceOf { players } = body(bytes)?;
    if players.len() > MAX_PRESENCE_PLAYERS {
        return Err(Failure::bad_request(format!(
            "invalid `players`: at most {MAX_PRESENCE_PLAYERS} per call"
        )));
    }
    let ids: Vec<String> = players.iter().map(ToString::to_string).collect();
    let found = shared.sessions.presence(&ids).await?;
    let by_player: serde_json::Map<String, serde_json::Value> = ids
        .into_iter()
        .zip(found)
        .map(|(id, presence)| (id, serde_json::to_value(presence).unwrap_or_default()))
        .collect();
    Ok(Json(json!({"players": by_player})).into_response())
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/rooms/{room}/members?cursor=&limit=`: {`room`, `members`, `cursor`?}: live
/// members across every gateway in player id order; `cursor` is there when more follow.
async fn room_members(
    State(shared): State<Arc<Shared>>,
    Path(raw): Path<String>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
    let room = path_id(&raw, "room id")?;
    let Query(page) =
        page.map_err(|e| Failure::bad_request(format!("invalid query: {}", e.body_text())))?;
    let limit = page.limit.unwrap_or(MAX_MEMBERS_PAGE);
    if !(1..=MAX_MEMBERS_PAGE).contains(&limit) {
        return Err(Failure::bad_request(format!(
            "invalid `limit`: 1..={MAX_MEMBERS_PAGE}"
        )));
    }
    let (members, more) = shared
        .rooms
        .members_page(&room, page.cursor.as_deref(), limit)
        .await?;
    let cursor = more.then(|| members.last().cloned()).flatten();
    Ok(Json(json!({"room": room, "members": members, "cursor": cursor})).into_response())
}

/// Follows the broadcast channel: each broadcast goes to every socket this gateway holds,
/// encoded once per wire encoding. Dropping the subscription stops it.
pub async fn follow_broadcasts(shared: &Arc<Shared>) -> Result<HandlerSubscription, String> {
    let weak = Arc::downgrade(shared);
    shared
        .ctx
        .subscriptions
        .subscribe_with(&shared.ctx.keys.broadcast_channel(), move |payload| {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let message = match proto::decode_event(&payload, proto::MAX_EVENT_BYTES) {
                Ok(envelope) => match envelope.event {
                    Event::Broadcast { message } => message,
                    other => {
                        tracing::debug!(kind = other.type_name(), "ignoring an event on the broadcast channel");
                        return;
                    }
                },
                Err(err) => {
                    tracing::warn!(error = %err, "undecodable message on the broadcast channel");
                    return;
                }
            };
            let encoded = Encoded::new(&message);
            let mut delivered = 0_u64;
            for conn in shared.hub.snapshot() {
                if conn
                    .outbound
                    .push_uncounted(encoded.frame(conn.outbound.encoding()))
                    .is_ok()
                {
                    delivered += 1;
                }
            }
            metrics::counter!("rallypoint_gateway_deliveries_total", "kind" => "broadcast")
                .increment(delivered);
            metrics::counter!("rallypoint_gateway_messages_out_total", "type" => encoded.type_name())
                .increment(delivered);
        })
        .await
        .map_err(|e| e.to_string())
}
