//! `GET /v1/stats` on the ops port, for operators (`rallyctl stats`): what this gateway
//! instance holds right now (connections, rooms with members here) and whether it is
//! taking new connections. The same figures ride along with its announcement, for the
//! cluster view and the dashboard.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
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
    Json(figures(&shared)).into_response()
}

/// What the gateway announces with itself for the cluster view (the same as `/v1/stats`).
pub fn source(shared: Arc<Shared>) -> StatsSource {
    stats_source(shared, |shared| async move { Some(figures(&shared)) })
}

fn figures(shared: &Shared) -> Value {
    json!({
        "service": "gateway",
        "instance": shared.gateway_id.as_str(),
        "connections": shared.hub.len(),
        "rooms": shared.rooms.local_count(),
        "accepting": shared.ctx.readiness.check().is_ok(),
    })
}
