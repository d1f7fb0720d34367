//! Logs, traces and the metrics recorder.
//!
//! Logs: human-readable text by default, one JSON object per line with `log.format =
//! "json"`; every panic, in any thread or task, is logged too ([`log_panics`]), so a
//! process that dies says why in the log a shipper reads, not only on stderr. Traces: exported over OTLP/HTTP only when `OTEL_EXPORTER_OTLP_ENDPOINT` is
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
        log_panics();
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

/// Logs every panic through `tracing` (message, where, which thread) before the default
/// hook prints it to stderr. A panic in a tokio task does not end the process, but it is
/// a bug all the same and must show in the log.
pub fn log_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload_as_str()
            .unwrap_or("(a panic without a message)");
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        tracing::error!(panic = message, %location, thread, "panicked");
        default(info);
    }));
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    /// A log writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_is_logged_with_its_message_and_place() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        super::log_panics();
        let panicked = std::thread::Builder::new()
            .name("doomed".into())
            .spawn(move || {
                tracing::subscriber::with_default(subscriber, || {
                    panic!("a bug worth a log line");
                })
            })
            .expect("spawned")
            .join();
        assert!(panicked.is_err());
        let log = String::from_utf8(
            captured
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
        .expect("utf-8");
        assert!(log.contains("\"panicked\""), "{log}");
        assert!(log.contains("a bug worth a log line"), "{log}");
        assert!(log.contains("telemetry.rs"), "{log}");
        assert!(log.contains("doomed"), "{log}");
    }
}
