//! Trace context across services. Services never call each other: a player's journey
//! (`queue.join` at a gateway, the match a matchmaker forms, the allocation a server pool
//! makes, the `match.found` a gateway pushes) hops through Redis. So the W3C
//! `traceparent` of the span that did one step rides along with what it wrote (the
//! queue's change log, the match record, the event envelope) and the next step's span
//! continues that trace. One trace then shows the whole journey in the OTLP backend.
//!
//! When traces are not exported (no `OTEL_EXPORTER_OTLP_ENDPOINT`), spans have no trace
//! context: [`traceparent`] gives `None`, nothing extra is written, and [`continue_from`]
//! does nothing.

use std::collections::{BTreeMap, HashMap};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACEPARENT: &str = "traceparent";

/// The W3C `traceparent` of `span` (`00-<trace id>-<span id>-<flags>`), when it is traced.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The trace context of `span` as an event envelope carries it
/// ([`proto::EventEnvelope::trace`]), when it is traced.
pub fn carrier(span: &tracing::Span) -> Option<BTreeMap<String, String>> {
    traceparent(span).map(|value| BTreeMap::from([(TRACEPARENT.to_owned(), value)]))
}

/// Makes `span` (just created, not yet entered) a child of the step that wrote
/// `traceparent`. An absent or malformed value leaves `span` where it was.
pub fn continue_from(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(context) = extract(traceparent)
        && span.set_parent(context).is_err()
    {
        tracing::trace!("span not traced or already started; trace context not continued");
    }
}

/// Links `span` to the step that wrote `traceparent` (a match links every ticket's
/// `queue.join` but can have only one parent).
pub fn link_to(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(context) = extract(traceparent) {
        span.add_link(context.span().span_context().clone());
    }
}

/// The `traceparent` in an event envelope's carrier.
pub fn from_carrier(carrier: Option<&BTreeMap<String, String>>) -> Option<&str> {
    carrier.and_then(|c| c.get(TRACEPARENT)).map(String::as_str)
}

fn extract(traceparent: Option<&str>) -> Option<opentelemetry::Context> {
    let value = traceparent?;
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), value.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    context.span().span_context().is_valid().then_some(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untraced_spans_carry_nothing_and_bad_values_are_ignored() {
        // No OpenTelemetry layer is installed in unit tests: nothing is traced.
        let span = tracing::info_span!("step");
        assert_eq!(traceparent(&span), None);
        assert_eq!(carrier(&span), None);
        assert!(extract(Some("not-a-traceparent")).is_none());
        assert!(extract(None).is_none());
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = extract(Some(valid)).expect("a valid traceparent");
        assert_eq!(
            context.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let carried = BTreeMap::from([(TRACEPARENT.to_owned(), valid.to_owned())]);
        assert_eq!(from_carrier(Some(&carried)), Some(valid));
    }
}
