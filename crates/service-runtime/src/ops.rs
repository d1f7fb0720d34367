//! The ops HTTP server: `/health/live`, `/health/ready`, `/metrics`, plus whatever
//! operator routes the service adds (`/v1/stats`, ...), every one of them behind the
//! admin token ([`operator_routes`]): a service's handlers never check it themselves.
//! Every service's ops port also serves the cluster-wide view ([`cluster`]: `/v1/cluster`)
//! and the operator dashboard that draws it ([`dashboard`]: `/dashboard`).
//!
//! Kept apart from client-facing listeners, so health checks and scraping work even
//! when the service's own port is saturated. Every scrape also reads the process's own
//! figures (`process_resident_memory_bytes`, `process_cpu_seconds_total`,
//! `process_open_fds`, ...: the Prometheus standard names, from `metrics-process`).

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use crate::readiness::Readiness;

pub mod cluster;
pub mod dashboard;

#[derive(Clone)]
struct OpsState {
    readiness: Readiness,
    /// `ops.redis_outage_grace_ms`: see [`Readiness::check_for_balancer`].
    redis_outage_grace: std::time::Duration,
    metrics: PrometheusHandle,
    process: std::sync::Arc<metrics_process::Collector>,
}

/// The health and metrics routes; merge the service's own routes into it.
pub fn router(
    readiness: Readiness,
    metrics: PrometheusHandle,
    redis_outage_grace: std::time::Duration,
) -> Router {
    Router::new()
        .route(
            "/health/live",
            get(|| async { Json(json!({"status": "live"})) }),
        )
        .route("/health/ready", get(ready))
        .route("/metrics", get(render_metrics))
        .with_state(OpsState {
            readiness,
            redis_outage_grace,
            metrics,
            process: std::sync::Arc::new(process_collector()),
        })
}

async fn ready(State(state): State<OpsState>) -> Response {
    match state.readiness.check_for_balancer(state.redis_outage_grace) {
        Ok(outage) => {
            let mut degraded = state.readiness.degraded();
            if let Some(outage) = outage {
                degraded.insert("redis".to_owned(), outage);
            }
            if degraded.is_empty() {
                Json(json!({"status": "ready"})).into_response()
            } else {
                Json(json!({"status": "degraded", "degraded": degraded})).into_response()
            }
        }
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unready", "reason": reason})),
        )
            .into_response(),
    }
}

/// The process metrics, described once (several services in one test process share
/// the recorder).
fn process_collector() -> metrics_process::Collector {
    static DESCRIBED: std::sync::Once = std::sync::Once::new();
    let collector = metrics_process::Collector::default();
    DESCRIBED.call_once(|| collector.describe());
    collector
}

async fn render_metrics(State(state): State<OpsState>) -> Response {
    state.process.collect();
    state.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// The one answer of every operator route called without the admin token: 401 and what
/// to send.
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "unauthorized", "message": "send Authorization: Bearer <ops.admin_token>"})),
    )
        .into_response()
}

/// A service's operator routes behind the admin token (`Authorization: Bearer`, or the
/// dashboard's sign-in cookie): a call without it gets [`unauthorized`] before any
/// handler runs.
pub fn operator_routes(routes: Router, admin_token: &str) -> Router {
    let token: std::sync::Arc<str> = admin_token.into();
    routes.route_layer(axum::middleware::from_fn_with_state(token, require_admin))
}

async fn require_admin(
    State(token): State<std::sync::Arc<str>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if operator_authorized(request.method(), request.headers(), &token) {
        next.run(request).await
    } else {
        unauthorized()
    }
}

/// Whether a request carries the admin token: as `Authorization: Bearer` (rallyctl,
/// scripts), or, for reading only (GET, HEAD), as the cookie the dashboard's sign-in
/// sets. A browser sends cookies with forms posted from other pages of the same site
/// (another port on the host, say), so a cookie never authorises a change such as a
/// drain or an invalidation.
pub fn operator_authorized(method: &Method, headers: &HeaderMap, admin_token: &str) -> bool {
    admin_authorized(headers, admin_token)
        || (matches!(*method, Method::GET | Method::HEAD)
            && dashboard::signed_in(headers, admin_token))
}

/// Checks `Authorization: Bearer <admin token>` for operator routes, in constant time.
/// An empty configured token refuses every call.
pub fn admin_authorized(headers: &HeaderMap, admin_token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    !admin_token.is_empty() && bool::from(given.as_bytes().ct_eq(admin_token.as_bytes()))
}

/// A running ops server.
#[derive(Debug)]
pub struct OpsServer {
    pub local_addr: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl OpsServer {
    /// Binds `listen` and serves `router` until `stop`.
    pub async fn start(
        listen: &str,
        router: Router,
        stop: CancellationToken,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let local_addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            crate::http_server::serve(
                listener,
                router,
                crate::http_server::ServeOptions::default(),
                stop,
            )
            .await
        });
        Ok(Self { local_addr, task })
    }

    /// Waits for the server to finish after its stop token fired.
    pub async fn wait(self) {
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "ops server ended with an error"),
            Err(err) => tracing::warn!(error = %err, "ops server task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_must_match_exactly() {
        let mut headers = HeaderMap::new();
        assert!(!admin_authorized(&headers, "secret"));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer secret".parse().expect("header"),
        );
        assert!(admin_authorized(&headers, "secret"));
        assert!(!admin_authorized(&headers, "secret2"));
        assert!(!admin_authorized(&headers, "secre"));
        assert!(!admin_authorized(&headers, ""));
    }
}
