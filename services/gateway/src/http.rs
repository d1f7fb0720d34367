//! The client-facing HTTP endpoint: `GET /ws`. Credentials, encoding and the gateway's own
//! state are checked before the upgrade, so a refused client gets a plain HTTP answer
//! with PROTOCOL.md's JSON body (401 unauthorized, 400 bad request, 429 rate limited,
//! 503 unavailable) instead of a socket that closes at once. The checks run cheapest
//! first: the local admission limits, the credentials, readiness, the request's shape,
//! and last the player's guard in Redis (one round trip), so a malformed or refused
//! request never costs a Redis command.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use proto::Encoding;
use serde_json::json;

use crate::admission::Refusal;
use crate::auth::Credentials;
use crate::connection;
use crate::guard::Admit;
use crate::state::Shared;

/// The router of the client listener.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().route("/ws", get(upgrade)).with_state(shared)
}

/// A JSON error answer: `{"error": code, "message": ...}`.
fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"error": code, "message": message.into()})),
    )
        .into_response()
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    query: Result<Query<Credentials>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let slot = match shared
        .admission
        .admit(peer.map(|Extension(ConnectInfo(peer))| peer), &headers)
    {
        Ok(slot) => slot,
        Err(Refusal::TooFast) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many connections from this address lately: wait a second and retry",
            );
        }
        Err(Refusal::Full(live)) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!(
                    "this gateway holds {live} connections, its most: connect to another or retry"
                ),
            );
        }
    };
    let Ok(Query(credentials)) = query else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the query string could not be read: use ?token=<token> or ?guest=<name>",
        );
    };
    let identity = match shared.auth.authenticate(&headers, &credentials) {
        Ok(identity) => identity,
        Err(err) => {
            metrics::counter!("rallypoint_gateway_refused_total", "reason" => "unauthorized")
                .increment(1);
            return refuse(StatusCode::UNAUTHORIZED, "unauthorized", err.to_string());
        }
    };
    if let Err(reason) = shared.ctx.readiness.check() {
        metrics::counter!("rallypoint_gateway_refused_total", "reason" => "unavailable")
            .increment(1);
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!(
                "this gateway cannot take connections now ({reason}); connect to another or retry"
            ),
        );
    }
    let mut ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return refuse(
                rejection.status(),
                "bad_request",
                format!("not a WebSocket upgrade: {}", rejection.body_text()),
            );
        }
    };
    let requested = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let Some(encoding) = Encoding::negotiate(Some(&requested)) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "unsupported subprotocol {requested:?}: use {} or {}",
                Encoding::JSON_SUBPROTOCOL,
                Encoding::MSGPACK_SUBPROTOCOL
            ),
        );
    };
    if !requested.trim().is_empty() {
        ws.set_selected_protocol(HeaderValue::from_static(encoding.subprotocol()));
    }
    let admitted = match shared.guard.admit(identity.player.as_str()).await {
        Ok(Admit::Admitted { strikes }) => Ok(strikes),
        Ok(Admit::CoolingDown(left)) => Err((
            "abuse_cooldown",
            left,
            "refused for repeated abuse (too many refused requests)".to_owned(),
        )),
        Ok(Admit::TooOften(left)) => Err((
            "player_connect_rate",
            left,
            format!(
                "this player connected {} times in the last minute, the most allowed",
                shared.config.connects_per_player_per_minute
            ),
        )),
        Err(err) => {
            // The limit fails open: a player is not refused because Redis was slow.
            metrics::counter!("rallypoint_gateway_guard_errors_total").increment(1);
            tracing::warn!(player = %identity.player, error = %err, "cannot check the player's connect record; admitting");
            Ok(0)
        }
    };
    let strikes = match admitted {
        Ok(strikes) => strikes,
        Err((reason, left, why)) => return retry_later(reason, left, &why),
    };
    let config = &shared.config;
    let max_frame = config.max_frame_bytes;
    let ws = ws
        .read_buffer_size(config.read_buffer_bytes)
        // Frames queued while the writer was busy go out in one write: the writer feeds
        // a batch, then flushes. Small, because the buffer keeps its capacity.
        .write_buffer_size(WRITE_COALESCE_BYTES)
        .max_write_buffer_size(max_frame.saturating_mul(4).max(64 * 1024))
        .max_message_size(max_frame)
        .max_frame_size(max_frame);
    let tracker = shared.tracker.clone();
    // The connection gets a task of its own and axum's upgrade task ends: that task keeps
    // its own copy of the socket and more (about 480 bytes) for as long as the future it
    // awaits, which would be the connection's whole life.
    ws.on_upgrade(move |socket| {
        tracker.spawn(connection::run(
            shared, socket, identity, encoding, slot, strikes,
        ));
        std::future::ready(())
    })
}

/// Whole seconds, rounded up: what `Retry-After` and the message say.
fn seconds(left: Duration) -> u64 {
    left.as_millis().div_ceil(1000).max(1) as u64
}

/// `429 rate_limited` with `Retry-After` for a player the guard refused (`reason`, the
/// metric's label).
fn retry_later(reason: &'static str, left: Duration, why: &str) -> Response {
    metrics::counter!("rallypoint_gateway_refused_total", "reason" => reason).increment(1);
    let mut response = refuse(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("{why}: retry in {} s", seconds(left)),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds(left)));
    response
}

/// Up to this many bytes of queued frames are written to the socket in one system call.
const WRITE_COALESCE_BYTES: usize = 4 * 1024;
