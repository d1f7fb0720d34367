//! Logs, traces and the metrics recorder.
//!
//! Logs: human-readable text by default, one JSON object per line with `log.format =
//! "json"`. Traces: exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set (no collector, no exporter, no errors). Metrics: one Prometheus recorder per
//! process, rendered by the ops endpoint.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogConfig;

/// Keeps the trace exporter alive; flush it with [`Telemetry::shutdown`].
#[derive(Debug, Default)]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global log/trace subscriber for `service`. Call once, early in `main`.
    pub fn init(service: &'static str, config: &LogConfig) -> anyhow::Result<Self> {
        let filter =
            EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(&config.level))?;
        let fmt = if config.format == "json" {
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .boxed()
        } else {
            tracing_subscriber::fmt::layer().with_target(true).boxed()
        };
        let tracer_provider = match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => Some(otlp_provider(service)?),
            _ => None,
        };
        let otel = tracer_provider
            .as_ref()
            .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(service)));
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .with(otel)
            .try_init()?;
        if tracer_provider.is_some() {
            tracing::info!("exporting traces over OTLP");
        }
        Ok(Self { tracer_provider })
    }

    /// Flushes and stops the trace exporter. The batch processor blocks, so it runs off
    /// the async runtime.
    pub async fn shutdown(self) {
        if let Some(provider) = self.tracer_provider {
            let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(err)) = flushed {
                tracing::warn!(error = %err, "trace exporter did not shut down cleanly");
            }
        }
    }
}

fn otlp_provider(service: &'static str) -> anyhow::Result<SdkTracerProvider> {
    // The endpoint and headers come from the standard OTEL_EXPORTER_OTLP_* variables.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(format!("rallypoint-{service}"))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The process's Prometheus recorder, installed on first use. Several services started
/// in one test process share it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; /metrics shows only ours"
                );
            }
            handle
        })
        .clone()
}
