//! A traced `queue.join` leaves its trace context in the queue's change log, so the
//! matchmaker's match continues the join's trace; the queue's index keeps plain player
//! ids (a matchmaker of the previous version reads it during a rolling deploy).

mod common;

use fred::prelude::KeysInterface;
use opentelemetry::trace::TracerProvider as _;
use queues::{Change, Fenced, JoinOutcome, QueueHolder};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn the_join_trace_reaches_the_holder_through_the_change_log_only() {
    // Spans get trace context as in a service exporting over OTLP (no exporter here).
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let (tickets, redis, keys) = common::tickets(&testkit::unique_namespace("trace-ctx")).await;
    let owner = "trace-holder";
    let _: () = redis
        .set(keys.queue("duel", "eu").lease(), owner, None, None, false)
        .await
        .expect("lease");
    let holder = QueueHolder::new(keys.clone(), redis.clone(), "duel", "eu", owner);
    let Fenced::Held(_) = holder.snapshot().await.expect("snapshot") else {
        panic!("holds the queue");
    };

    let span = tracing::info_span!("queue.join");
    let expected = service_runtime::trace::traceparent(&span).expect("the span is traced");
    let joined = tickets
        .join("traced-player", "duel", "eu")
        .instrument(span)
        .await
        .expect("join");
    assert!(matches!(joined, JoinOutcome::Joined(_)), "{joined:?}");
    let untraced = tickets
        .join("plain-player", "duel", "eu")
        .await
        .expect("join");
    assert!(matches!(untraced, JoinOutcome::Joined(_)), "{untraced:?}");

    let Fenced::Held(changes) = holder.changes().await.expect("changes") else {
        panic!("holds the queue");
    };
    let traces: Vec<(String, Option<String>)> = changes
        .into_iter()
        .filter_map(|c| match c {
            Change::Joined(t) => Some((t.leader().to_owned(), t.trace)),
            _ => None,
        })
        .collect();
    assert!(
        traces.contains(&("traced-player".to_owned(), Some(expected.clone()))),
        "{traces:?}"
    );
    assert!(
        traces.contains(&("plain-player".to_owned(), None)),
        "{traces:?}"
    );

    let Fenced::Held(snapshot) = holder.snapshot().await.expect("snapshot") else {
        panic!("holds the queue");
    };
    // The snapshot names players exactly as before, without the trace.
    let mut players: Vec<(&str, Option<&str>)> = snapshot
        .iter()
        .map(|t| (t.leader(), t.trace.as_deref()))
        .collect();
    players.sort();
    assert_eq!(
        players,
        vec![("plain-player", None), ("traced-player", None)]
    );
}
