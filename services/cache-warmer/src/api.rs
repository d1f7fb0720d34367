//! Operator routes on the ops port (admin token): `POST /v1/cache/invalidate` reloads data
//! kinds and profiles from PostgreSQL now; `GET /v1/stats` shows the outbox and the cache
//! (and the same figures are announced with the instance, for the cluster view);
//! `GET /v1/results/dead` and `POST /v1/results/dead/replay` list and replay a region's
//! dead letters ([`crate::outbox::dead_letters`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fred::prelude::HashesInterface;
use serde::Deserialize;
use serde_json::{Value, json};
use service_runtime::instances::{StatsSource, stats_source};

use crate::game_data;
use crate::state::Shared;

/// What an invalidation asks for. Both empty: every data kind is compared and reloaded.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invalidate {
    /// One data kind, reloaded even at the same version.
    #[serde(default)]
    pub dataset: Option<String>,
    /// Players whose profiles are reloaded.
    #[serde(default)]
    pub players: Vec<String>,
}

pub fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/cache/invalidate", post(invalidate))
        .route("/v1/stats", get(stats))
        .route("/v1/results/dead", get(dead_letters))
        .route("/v1/results/dead/replay", post(replay_dead_letters))
        .with_state(shared)
}

/// `?region=<region>` of the dead-letter routes.
#[derive(Debug, Deserialize)]
struct RegionQuery {
    region: String,
}

/// A refused operator call, as its response (boxed: a response is large).
struct Refusal(Box<Response>);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// The region a dead-letter call names, if this deployment has it.
fn known_region(
    shared: &Shared,
    query: Result<Query<RegionQuery>, QueryRejection>,
) -> Result<String, Refusal> {
    let Ok(Query(RegionQuery { region })) = query else {
        return Err(Refusal(Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "name the region: ?region=<region>",
        ))));
    };
    if !shared.config.regions.contains(&region) {
        let known: Vec<&str> = shared.config.regions.iter().map(String::as_str).collect();
        return Err(Refusal(Box::new(refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            format!(
                "no region {region:?} here; the regions are {}",
                known.join(", ")
            ),
        ))));
    }
    Ok(region)
}

/// Redis did not answer: 503, and nothing changed.
fn redis_unavailable(err: fred::error::Error) -> Refusal {
    Refusal(Box::new(refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        format!("cannot reach Redis: {err}; nothing was changed, retry"),
    )))
}

async fn dead_letters(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<RegionQuery>, QueryRejection>,
) -> Result<Json<Value>, Refusal> {
    let region = known_region(&shared, query)?;
    let listed = crate::outbox::dead_letters::list(&shared, &region, 100)
        .await
        .map_err(redis_unavailable)?;
    Ok(Json(listed))
}

async fn replay_dead_letters(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<RegionQuery>, QueryRejection>,
) -> Result<Json<Value>, Refusal> {
    let region = known_region(&shared, query)?;
    let replayed = crate::outbox::dead_letters::replay(&shared, &region)
        .await
        .map_err(redis_unavailable)?;
    Ok(Json(json!({"region": region, "replayed": replayed})))
}

fn refuse(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    (status, Json(proto::HttpError::new(error, message))).into_response()
}

/// Parses an invalidation body (empty: everything): a `400 bad_request` body saying what
/// is wrong, whatever the bytes (the fuzz tests hold it to that).
pub fn read_invalidate(body: &[u8]) -> Result<Invalidate, proto::HttpError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Invalidate::default());
    }
    let request: Invalidate = serde_json::from_slice(body).map_err(|err| {
        proto::HttpError::new(
            "bad_request",
            format!("expected {{\"dataset\"?: string, \"players\"?: [ids]}}: {err}"),
        )
    })?;
    if let Some(bad) = request
        .players
        .iter()
        .find(|p| proto::Id::parse(p).is_err())
    {
        return Err(proto::HttpError::new(
            "bad_request",
            format!("players: {bad:?} is not a player id"),
        ));
    }
    Ok(request)
}

async fn invalidate(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) if body.len() > shared.config.warmer.max_body_bytes => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is too large",
            );
        }
        Ok(body) => body,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, "bad_request", err.body_text()),
    };
    let request = match read_invalidate(&body) {
        Ok(request) => request,
        Err(refused) => return (StatusCode::BAD_REQUEST, Json(refused)).into_response(),
    };
    let mut datasets = BTreeMap::new();
    let outcome: anyhow::Result<usize> = async {
        match &request.dataset {
            Some(kind) => {
                datasets.insert(
                    kind.clone(),
                    game_data::warm_kind(&shared, kind, true).await?,
                );
            }
            None if request.players.is_empty() => {
                game_data::refresh(&shared).await?;
            }
            None => {}
        }
        let warmed = crate::profiles::warm(&shared, &request.players).await?;
        if !request.players.is_empty() {
            shared.announce_change(None, request.players.clone()).await;
        }
        Ok(warmed)
    }
    .await;
    match outcome {
        Ok(players) => {
            tracing::info!(dataset = ?request.dataset, players, "cache invalidated by an operator");
            Json(json!({ "datasets": datasets, "players": players })).into_response()
        }
        Err(err) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("cannot reload from PostgreSQL right now: {err}; retry when it is back"),
        ),
    }
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    match figures(&shared, Probe::Query).await {
        Ok(figures) => Json(figures).into_response(),
        Err(err) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("cannot read Redis: {err}"),
        ),
    }
}

/// What the cache-warmer announces with itself for the cluster view (the same as
/// `/v1/stats`).
pub fn source(shared: Arc<Shared>) -> StatsSource {
    stats_source(shared, |shared| async move {
        figures(&shared, Probe::LastSeen).await.ok()
    })
}

/// How the figures learn whether PostgreSQL is up: an operator's `/v1/stats` asks it now;
/// the announcement every few seconds reports what the last real call found (a query
/// there would add load, and would hang while PostgreSQL does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Query,
    LastSeen,
}

/// Results outboxes per region, cache lookups and hit rate (cluster-wide, from Redis),
/// and whether PostgreSQL answers.
async fn figures(shared: &Shared, probe: Probe) -> Result<Value, fred::error::Error> {
    let outboxes = crate::outbox::depths(shared).await?;
    let mut regions = serde_json::Map::new();
    for (region, depth, dead) in outboxes {
        // Cluster-wide (read from Redis), so every instance reports the same level: the
        // dead-letters alarm reads the Maximum over tasks and clears once they are replayed.
        metrics::gauge!("rallypoint_results_dead_letters", "region" => region.clone())
            .set(dead as f64);
        regions.insert(region, json!({ "outbox": depth, "dead_letters": dead }));
    }
    let counters: BTreeMap<String, u64> = shared
        .ctx
        .redis
        .hgetall(shared.ctx.keys.cache_stats())
        .await
        .unwrap_or_default();
    let hits = counters.get("local_hit").copied().unwrap_or(0)
        + counters.get("redis_hit").copied().unwrap_or(0);
    let lookups = hits + counters.get("redis_miss").copied().unwrap_or(0);
    let hit_rate = if lookups == 0 {
        None
    } else {
        Some(hits as f64 / lookups as f64)
    };
    let database = match probe {
        Probe::Query => shared
            .db
            .observe(persistence::server_version(&shared.db.pool).await)
            .map(|_| ())
            .map_err(|err| err.to_string()),
        Probe::LastSeen => shared.db.last_seen_down().map_or(Ok(()), Err),
    };
    Ok(json!({
        "results": regions,
        "cache": { "lookups": counters, "hit_rate": hit_rate },
        "database": match database {
            Ok(_) => json!({ "status": "up" }),
            Err(reason) => json!({ "status": "down", "reason": reason }),
        },
    }))
}
