//! Operator routes on the ops port (admin token): `GET /v1/stats` (servers per region by
//! status and load, capacity used, pending matches, counters) and
//! `POST /v1/servers/{id}/drain`; and the figures of the regions it allocates for,
//! announced with the instance for the cluster view.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fred::prelude::{HashesInterface, SortedSetsInterface};
use serde_json::{Value, json};
use service_runtime::instances::{StatsSource, stats_source};

use crate::registry::Drained;
use crate::state::Shared;
use service_runtime::clock::now_ms;

pub fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/stats", get(stats))
        .route("/v1/servers/{id}/drain", post(drain))
        .with_state(shared)
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": "unavailable", "message": "Redis did not answer; retry"})),
    )
        .into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    match figures(&shared).await {
        Some(figures) => Json(figures).into_response(),
        None => unavailable(),
    }
}

/// What the pool announces with itself for the cluster view: the figures of the regions
/// it allocates for, as its allocator last read them (every reap interval), without the
/// per-server list. Announcing reads nothing from Redis; each region is read once per
/// reap interval, by its holder.
pub fn source(shared: Arc<Shared>) -> StatsSource {
    stats_source(shared, |shared| async move {
        // Three reap intervals without a fresh reading: this instance no longer holds it.
        let within = 3 * Duration::from_millis(shared.config.pool.reap_interval_ms);
        let regions = shared.region_figures.fresh(within);
        Some(
            json!({"service": "server-pool", "instance": shared.ctx.instance_id, "regions": regions}),
        )
    })
}

/// Every region's figures, with its servers (cluster-wide, from Redis); `None` when Redis
/// did not answer.
async fn figures(shared: &Shared) -> Option<Value> {
    let mut regions = Vec::new();
    for region in &shared.config.regions {
        regions.push(region_stats(shared, region, Gauges::Leave).await.ok()?);
    }
    Some(json!({"service": "server-pool", "instance": shared.ctx.instance_id, "regions": regions}))
}

/// Whether a region's figures also go to its gauges: only the instance allocating for
/// the region publishes them (the alarms take the maximum over instances, so a figure
/// left behind by another instance would hide the real one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gauges {
    Publish,
    Leave,
}

/// The region's gauges only its allocator reports (free capacity, pending matches): its
/// lease keeper zeroes them when the instance stops allocating there, so they never
/// outvote the holder's.
pub fn region_gauges(region: &str) -> [metrics::Gauge; 2] {
    [
        metrics::gauge!("rallypoint_pool_free_capacity", "region" => region.to_owned()),
        metrics::gauge!("rallypoint_pool_pending", "region" => region.to_owned()),
    ]
}

/// A region's servers and counters; with [`Gauges::Publish`] also its gauges.
pub async fn region_stats(
    shared: &Shared,
    region: &str,
    gauges: Gauges,
) -> Result<Value, fred::error::Error> {
    let pool = shared.ctx.keys.pool(region);
    let members: Vec<(String, f64)> = shared
        .ctx
        .redis
        .zrange(pool.liveness(), 0, -1, None, false, None, true)
        .await?;
    let now = now_ms() as f64;
    // Every server's status and load in one pipeline (this runs every reap interval).
    let pipeline = shared.ctx.redis.pipeline();
    for (server, _) in &members {
        let _: () = pipeline
            .hmget(
                pool.server(server),
                vec!["status", "active", "capacity", "incarnation"],
            )
            .await?;
    }
    type Row = (Option<String>, Option<u64>, Option<u64>, Option<u64>);
    let rows: Vec<Row> = if members.is_empty() {
        Vec::new()
    } else {
        pipeline.all().await?
    };
    let mut by_status: HashMap<String, u64> = HashMap::new();
    let (mut capacity, mut used) = (0_u64, 0_u64);
    let mut servers = Vec::new();
    for ((server, lapses), (status, active, cap, incarnation)) in members.into_iter().zip(rows) {
        let status = match (status, lapses > now) {
            (Some(_), false) => "lapsed".to_owned(),
            (Some(status), true) => status,
            (None, _) => continue,
        };
        *by_status.entry(status.clone()).or_default() += 1;
        capacity += cap.unwrap_or(0);
        used += active.unwrap_or(0);
        servers.push(json!({"id": server, "status": status, "active": active, "capacity": cap, "incarnation": incarnation}));
    }
    let pending: u64 = shared.ctx.redis.zcard(pool.pending()).await?;
    let counters: HashMap<String, u64> = shared.ctx.redis.hgetall(pool.stats()).await?;
    if gauges == Gauges::Publish {
        metrics::gauge!("rallypoint_pool_free_capacity", "region" => region.to_owned())
            .set(capacity.saturating_sub(used) as f64);
        metrics::gauge!("rallypoint_pool_pending", "region" => region.to_owned())
            .set(pending as f64);
        for (status, count) in &by_status {
            metrics::gauge!("rallypoint_pool_servers", "region" => region.to_owned(), "status" => status.clone())
                .set(*count as f64);
        }
    }
    let figures = json!({
        "region": region,
        "servers_by_status": by_status,
        "capacity": capacity,
        "capacity_used": used,
        "pending_matches": pending,
        "allocations": counters.get("allocations").copied().unwrap_or(0),
        "cancellations": counters.get("cancellations").copied().unwrap_or(0),
        "lost_games": counters.get("lost_games").copied().unwrap_or(0),
        "results": counters.get("results").copied().unwrap_or(0),
        "servers": servers,
    });
    if gauges == Gauges::Publish {
        shared.region_figures.record(region, figures.clone());
    }
    Ok(figures)
}

async fn drain(State(shared): State<Arc<Shared>>, Path(server): Path<String>) -> Response {
    let Ok(Some(region)) = shared.registry.region_of(&server).await else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not_found", "message": format!("server {server} is not registered")})),
        )
            .into_response();
    };
    // An operator's drain: no server token to check.
    match shared.registry.drain(&region, &server, None).await {
        Ok(Drained::Left) => Json(json!({"server": server, "state": "left"})).into_response(),
        Ok(Drained::Draining) => Json(json!({"server": server, "state": "draining"})).into_response(),
        Ok(Drained::Unknown | Drained::Unauthorized) => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "not_found", "message": format!("server {server} is not registered")})),
        )
            .into_response(),
        Err(_) => unavailable(),
    }
}
