//! Fencing proven (docs/ARCHITECTURE.md, invariant of the leases): a pool instance held
//! just before an allocation, then paused (SIGSTOP) past its lease while another instance
//! takes the region over and allocates, is refused by the allocation script when it
//! resumes (`not_holder`, counted in `rallypoint_lease_fenced_total`), and no match is
//! allocated twice.

mod common;

use std::time::Duration;

use fred::prelude::{KeysInterface, SetsInterface};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

#[tokio::test]
async fn a_paused_allocator_is_refused_when_it_resumes_and_nothing_is_doubled() {
    let ns = testkit::unique_namespace("poolfence");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let holds = tempfile::tempdir().expect("a hold directory");
    let gate = holds.path().join("pool.allocate");
    std::fs::write(&gate, b"").expect("the allocation held");
    let overrides = [("pool.lease_ms", "1500"), ("pool.tick_ms", "50")];
    let mut env = common::env_for(&ns, &overrides);
    env.push((
        service_runtime::hold::HOLD_DIR.to_owned(),
        holds.path().to_string_lossy().into_owned(),
    ));
    let binary = testkit::binary_beside_test("server-pool").expect("the pool binary is built");
    let paused = testkit::ServiceChild::start(&binary, &env)
        .await
        .expect("the pool process starts");
    let lease = keys.pool("eu").allocator_lease();
    testkit::wait_until(
        "the first instance to hold eu",
        Duration::from_secs(10),
        || async {
            let owner: Option<String> = redis.get(&lease).await.ok()?;
            owner?.starts_with(&paused.instance).then_some(())
        },
    )
    .await
    .expect("held");
    let api = common::Api::at(&paused.endpoints["http"]);
    api.register("gs", "eu", 4).await;
    common::pend(
        &redis,
        &keys,
        "eu",
        "m1",
        &[&format!("a-{ns}"), &format!("b-{ns}")],
    )
    .await;
    let held = holds.path().join("pool.allocate.held");
    testkit::wait_until(
        "the allocation to be held",
        Duration::from_secs(10),
        || async { held.exists().then_some(()) },
    )
    .await
    .expect("held at the hold point");

    // Paused past its lease; another instance takes the region and allocates the match.
    let pid = Pid::from_raw(paused.pid().expect("a pid") as i32);
    kill(pid, Signal::SIGSTOP).expect("paused");
    let other = common::start(&ns, &overrides).await;
    let server = testkit::wait_until(
        "the other to allocate m1",
        Duration::from_secs(10),
        || async { common::server_of(&redis, &keys, "eu", "m1").await },
    )
    .await
    .expect("allocated");
    assert_eq!(server, "gs");

    // Resumed at the hold point, it tries its allocation with its stale lease.
    std::fs::remove_file(&gate).expect("released");
    kill(pid, Signal::SIGCONT).expect("resumed");
    testkit::wait_until(
        "the stale allocation to be refused",
        Duration::from_secs(10),
        || async {
            let metrics = testkit::metrics_text(&paused.ops).await?;
            testkit::metric_value(&metrics, "rallypoint_lease_fenced_total").filter(|n| *n >= 1.0)
        },
    )
    .await
    .expect("fenced");
    assert_eq!(
        common::active(&redis, &keys, "eu", "gs").await,
        1,
        "one slot taken"
    );
    let games: i64 = redis
        .scard(keys.pool("eu").games("gs"))
        .await
        .expect("scard");
    assert_eq!(games, 1, "m1 allocated once");
    other.stop().await.expect("stops");
    paused.kill().await;
}
