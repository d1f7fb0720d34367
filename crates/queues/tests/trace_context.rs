//! A traced `queue.join` leaves its trace context with the ticket, so the matchmaker's
//! match continues the join's trace whether it learns of the ticket from the change log
//! or from a snapshot (a resync, a takeover).

use fred::prelude::{ClientLike, KeysInterface};
use opentelemetry::trace::TracerProvider as _;
use queues::{Change, Fenced, JoinOutcome, QueueHolder, Tickets};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn the_join_trace_reaches_the_holder_by_change_log_and_by_snapshot() {
    // Spans get trace context as in a service exporting over OTLP (no exporter here).
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let ns = testkit::unique_namespace("trace-ctx");
    let env = [
        (
            "RALLYPOINT_REDIS__URLS".to_owned(),
            testkit::redis_urls().join(","),
        ),
        ("RALLYPOINT_REDIS__NAMESPACE".to_owned(), ns),
    ];
    let config =
        service_runtime::LoadedConfig::load_with_env("", None, Some(env.into_iter().collect()))
            .expect("config");
    let redis = service_runtime::redis::build_client(&config.common.redis).expect("client");
    redis.wait_for_connect().await.expect("connected");
    let keys = config.common.redis.keys().expect("keys");
    let tickets = Tickets::new(
        keys.clone(),
        redis.clone(),
        queues::JoinPolicy::default_rating(1500.0),
    );
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
            Change::Joined(t) => Some((t.player, t.trace)),
            Change::Left(_) => None,
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
    let traced = snapshot
        .iter()
        .find(|t| t.player == "traced-player")
        .expect("in the snapshot");
    assert_eq!(traced.trace.as_deref(), Some(expected.as_str()));
    let plain = snapshot
        .iter()
        .find(|t| t.player == "plain-player")
        .expect("in the snapshot");
    assert_eq!(plain.trace, None);
}
