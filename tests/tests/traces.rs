//! Traces across services: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, every service exports
//! its spans over OTLP/HTTP, and a player's journey is one trace: the gateway's
//! `queue.join`, the matchmaker's `match.form`, the pool's `match.allocate` and the
//! gateway's `push` of `match.found`, each the child of the one before, although the
//! steps only meet in Redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use rallypoint_tests::stack::{Player, Sizes, Stack, queue_all, take_matches};

/// One exported span: which service sent it and how it hangs together.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: HashMap<String, String>,
}

type Spans = Arc<Mutex<Vec<Received>>>;

/// An OTLP/HTTP trace receiver on a free loopback port: (its base URL, what it received).
async fn collector() -> (String, Spans) {
    let spans: Spans = Arc::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(receive))
        .with_state(spans.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), spans)
}

async fn receive(State(spans): State<Spans>, body: Bytes) -> &'static str {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return "undecodable";
    };
    let mut received = spans.lock().expect("not poisoned");
    for batch in request.resource_spans {
        let service = batch
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
            .unwrap_or_default();
        for span in batch.scope_spans.into_iter().flat_map(|s| s.spans) {
            received.push(Received {
                service: service.clone(),
                name: span.name,
                trace_id: span.trace_id,
                span_id: span.span_id,
                parent_span_id: span.parent_span_id,
                attributes: span
                    .attributes
                    .iter()
                    .filter_map(|kv| {
                        Some((kv.key.clone(), text(kv.value.as_ref()?.value.as_ref()?)?))
                    })
                    .collect(),
            });
        }
    }
    ""
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_follows_a_player_from_queue_join_to_match_found() {
    let (endpoint, spans) = collector().await;
    let ns = testkit::unique_namespace("trace");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        // Export batches every 100 ms rather than 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let stack = Stack::start_with_env(&ns, Sizes::SMALL, testkit::redis_urls(), &env).await;
    // The trace rides in the queue's change log, which the holder follows once it has
    // loaded the queue: wait for its first tick on duel/eu (a join before that is in
    // its first snapshot, which carries no trace).
    let metrics = format!("http://{}/metrics", stack.matchmakers[0].ops_addr);
    testkit::wait_until(
        "the matchmaker to work duel/eu",
        Duration::from_secs(30),
        || {
            let metrics = metrics.clone();
            async move {
                let text = reqwest::get(&metrics).await.ok()?.text().await.ok()?;
                text.lines()
                    .filter(|l| l.starts_with("rallypoint_matchmaker_tick_seconds_count"))
                    .filter(|l| l.contains(r#"queue="duel""#) && l.contains(r#"region="eu""#))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .any(|n| n > 0.0)
                    .then_some(())
            }
        },
    )
    .await
    .expect("the queue is held and loaded");
    let urls = stack.gateway_urls();
    let mut players = vec![
        Player::connect(&format!("a-{ns}"), vec![urls[0].clone()], false).await,
        Player::connect(&format!("b-{ns}"), vec![urls[1].clone()], false).await,
    ];
    queue_all(&players, "duel").await;
    let found = take_matches(&mut players).await;
    let match_id = found[0].match_id.clone();

    // The pool's allocation of this match, and the trace it belongs to.
    let journey = testkit::wait_until("the match's whole trace", Duration::from_secs(30), || {
        let spans = spans.lock().expect("not poisoned").clone();
        let match_id = match_id.clone();
        async move {
            let allocate = spans.iter().find(|s| {
                s.name == "match.allocate" && s.attributes.get("match_id") == Some(&match_id)
            })?;
            let trace: Vec<Received> = spans
                .iter()
                .filter(|s| s.trace_id == allocate.trace_id)
                .cloned()
                .collect();
            let pushes = trace.iter().filter(|s| s.name == "push").count();
            let has = |name: &str| trace.iter().any(|s| s.name == name);
            // At least both players' pushes: a re-announcement may add more to the trace.
            (has("queue.join") && has("match.form") && pushes >= 2).then_some(trace)
        }
    })
    .await
    .expect("one trace from queue.join to both match.found pushes");

    let one = |name: &str| {
        let found: Vec<&Received> = journey.iter().filter(|s| s.name == name).collect();
        assert!(!found.is_empty(), "no {name} span in {journey:#?}");
        found[0].clone()
    };
    let join = one("queue.join");
    let form = one("match.form");
    let allocate = one("match.allocate");
    // Each step ran in its own service and is the child of the one before.
    assert_eq!(join.service, "rallypoint-gateway");
    assert_eq!(form.service, "rallypoint-matchmaker");
    assert_eq!(allocate.service, "rallypoint-server-pool");
    assert_eq!(
        form.parent_span_id, join.span_id,
        "match.form continues queue.join"
    );
    assert_eq!(
        allocate.parent_span_id, form.span_id,
        "match.allocate continues match.form"
    );
    for push in journey.iter().filter(|s| s.name == "push") {
        assert_eq!(push.service, "rallypoint-gateway");
        assert_eq!(
            push.parent_span_id, allocate.span_id,
            "the push continues the allocation"
        );
        assert_eq!(
            push.attributes.get("message").map(String::as_str),
            Some("match.found")
        );
    }
    assert_eq!(form.attributes.get("match_id"), Some(&match_id));

    stack.stop().await;
}
