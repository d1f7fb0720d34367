//! What the matchmaker reports: `/v1/stats` for operators (cluster-wide queue sizes and
//! counters from Redis, plus wait times and rating spreads of the matches this instance
//! formed recently, overall and per queue), the same figures announced with the instance
//! for the cluster view, and the Prometheus metrics behind autoscaling and alarms.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fred::prelude::{HashesInterface, SortedSetsInterface};
use serde_json::{Value, json};
use service_runtime::instances::{StatsSource, stats_source};

use crate::state::Shared;

/// `GET /v1/stats`.
pub fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/stats", get(stats))
        .with_state(shared)
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    match figures(&shared, Units::All).await {
        Some(figures) => Json(figures).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "unavailable", "message": "Redis did not answer; retry"})),
        )
            .into_response(),
    }
}

/// What the matchmaker announces with itself for the cluster view: `/v1/stats` for the
/// queue-regions it holds only (each queue is read once per announcement, by its holder).
pub fn source(shared: Arc<Shared>) -> StatsSource {
    stats_source(shared, |shared| async move {
        figures(&shared, Units::Held).await
    })
}

/// Which queue-regions the figures cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Units {
    All,
    Held,
}

/// Queue-regions' size, oldest wait and counters (cluster-wide, from Redis), and the wait
/// times of matches formed here; `None` when Redis did not answer.
async fn figures(shared: &Shared, units: Units) -> Option<Value> {
    let mut queues = Vec::new();
    for (queue, region) in shared.config.matchmaking.units() {
        if units == Units::Held && !shared.held.is_held(queue, region) {
            continue;
        }
        let q = shared.ctx.keys.queue(queue, region);
        let size: Result<u64, _> = shared.ctx.redis.zcard(q.waiting()).await;
        let oldest: Result<Vec<(String, f64)>, _> = shared
            .ctx
            .redis
            .zrange(q.waiting(), 0, 0, None, false, None, true)
            .await;
        let counters: Result<std::collections::HashMap<String, u64>, _> =
            shared.ctx.redis.hgetall(q.stats()).await;
        let (Ok(size), Ok(oldest), Ok(counters)) = (size, oldest, counters) else {
            return None;
        };
        let now = service_runtime::clock::now_ms() as f64;
        queues.push(json!({
            "queue": queue,
            "region": region,
            "queued": size,
            "oldest_wait_ms": oldest.first().map(|(_, at)| (now - at).max(0.0) as u64),
            "held_here": shared.held.is_held(queue, region),
            "wait_ms": shared.recent.unit_waits(queue, region),
            "matches": counters.get("matches").copied().unwrap_or(0),
            "tickets_matched": counters.get("tickets_matched").copied().unwrap_or(0),
            "timeouts": counters.get("timeouts").copied().unwrap_or(0),
            "abandoned": counters.get("abandoned").copied().unwrap_or(0),
            "ready_accepted": counters.get("ready_accepted").copied().unwrap_or(0),
            "ready_declined": counters.get("ready_declined").copied().unwrap_or(0),
            "ready_timeouts": counters.get("ready_timeouts").copied().unwrap_or(0),
            "backfill_requests": counters.get("backfill_requests").copied().unwrap_or(0),
            "backfills": counters.get("backfills").copied().unwrap_or(0),
            "players_backfilled": counters.get("players_backfilled").copied().unwrap_or(0),
            "backfills_cancelled": counters.get("backfills_cancelled").copied().unwrap_or(0),
        }));
    }
    Some(json!({
        "service": "matchmaker",
        "instance": shared.ctx.instance_id,
        "queues": queues,
        "recent": shared.recent.summary(),
    }))
}
