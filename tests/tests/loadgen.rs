//! The load generator against a real stack (two gateways, a matchmaker, a pool, a
//! cache-warmer), each scenario at a tiny size: the reports must show every message
//! delivered exactly once, every connection alive, every ticket matched, no invariant
//! broken, and the figures a reader looks for. `make bench` runs the same binary at full
//! size; this test keeps it working.

use std::process::Output;

use rallypoint_tests::stack::{Sizes, Stack};
use serde_json::Value;

/// The server API token of the stack under test.
const API_TOKEN: &str = "loadgen-test-api-token-0123456789";

/// Runs the load generator with `args` (split at spaces) and returns its JSON report.
fn loadgen(stack: &Stack, args: &str) -> Value {
    let args: Vec<&str> = args.split_whitespace().collect();
    let output: Output = std::process::Command::new(rallypoint_tests::binary("loadgen"))
        .arg("--json")
        .arg("--url")
        .arg(stack.gateway_urls().join(","))
        .arg("--run-id")
        .arg(format!("lg-{}", stack.ns))
        .args(&args)
        .output()
        .expect("the load generator runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadgen {args:?} failed ({}): {stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("a JSON report ({e}): {stdout}"))
}

/// The value of the figure named `name`.
fn figure(report: &Value, name: &str) -> f64 {
    report["figures"]
        .as_array()
        .and_then(|figures| figures.iter().find(|f| f["name"] == name))
        .and_then(|f| f["value"].as_f64())
        .unwrap_or_else(|| panic!("no figure {name:?} in {report:#}"))
}

fn assert_clean(report: &Value) {
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_and_reports_what_it_measured() {
    let ns = testkit::unique_namespace("loadgen");
    // squad gets a ready check, for the parties scenario (the matchmaking one plays duel).
    let stack = Stack::start_with_env(
        &ns,
        Sizes::SMALL_WITHOUT_GAME_SERVERS,
        testkit::redis_urls(),
        &[
            (
                "RALLYPOINT_MATCHMAKING__QUEUES__SQUAD__READY_CHECK_MS",
                "3000".to_owned(),
            ),
            // Rooms that keep history, for `recovery`; the server API, for `broadcast`.
            (
                "RALLYPOINT_GATEWAY__ROOMS__LOBBY__PREFIX",
                "lobby:".to_owned(),
            ),
            (
                "RALLYPOINT_GATEWAY__ROOMS__LOBBY__HISTORY_LEN",
                "100".to_owned(),
            ),
            (
                "RALLYPOINT_GATEWAY__ROOMS__LOBBY__HISTORY_TTL_MS",
                "60000".to_owned(),
            ),
            ("RALLYPOINT_GATEWAY__API_LISTEN", "127.0.0.1:0".to_owned()),
            ("RALLYPOINT_GATEWAY__API_TOKEN", API_TOKEN.to_owned()),
        ],
    )
    .await;
    let gateway_pid = stack.gateways[0].pid().expect("gateway pid").to_string();

    let fanout = loadgen(
        &stack,
        "fanout --rooms 2 --members 6 --rate 20 --duration 2 --warmup 0",
    );
    assert_clean(&fanout);
    let sent = figure(&fanout, "sent");
    assert_eq!(sent, 40.0, "{fanout:#}");
    assert_eq!(
        figure(&fanout, "delivered"),
        sent * 6.0,
        "each message to every member"
    );
    assert_eq!(figure(&fanout, "lost") + figure(&fanout, "duplicated"), 0.0);
    assert!(figure(&fanout, "delivery latency p99") > 0.0);

    // Members reconnecting to the other gateway while messages flow in history rooms:
    // every member still gets every message once.
    let recovery = loadgen(
        &stack,
        "recovery --rooms 2 --members 6 --rate 50 --duration 2 --warmup 0 \
         --reconnects-per-second 10",
    );
    assert_clean(&recovery);
    // The ledger expects each message the gateway took (a sender caught reconnecting
    // has its send refused) at all six members: nothing short, nothing twice.
    assert!(
        figure(&recovery, "delivered") >= figure(&recovery, "sent") * 6.0 * 0.8,
        "{recovery:#}"
    );
    assert_eq!(
        figure(&recovery, "lost") + figure(&recovery, "duplicated"),
        0.0
    );
    assert!(
        figure(&recovery, "members reconnected") >= 5.0,
        "{recovery:#}"
    );

    let api = stack.gateways[0].endpoint("api").expect("the server API");
    let broadcast = loadgen(
        &stack,
        &format!(
            "broadcast --players 30 --broadcasts 2 --api http://{api} --api-token {API_TOKEN}"
        ),
    );
    assert_clean(&broadcast);
    assert_eq!(
        figure(&broadcast, "lost") + figure(&broadcast, "duplicated"),
        0.0
    );
    assert!(figure(&broadcast, "call to the last player max") > 0.0);

    let whisper = loadgen(
        &stack,
        "whisper --pairs 4 --rate 20 --duration 2 --warmup 0",
    );
    assert_clean(&whisper);
    assert_eq!(figure(&whisper, "sent"), 40.0);
    assert_eq!(figure(&whisper, "delivered"), figure(&whisper, "sent"));

    // Honest pairs alone, then under a flood from garbage connections, a connect storm
    // and half-open handshakes: nothing honest is lost, every honest connect gets in, and
    // the attackers get what PROTOCOL.md promises (a close, then a cool-down).
    let abuse = loadgen(
        &stack,
        "abuse --pairs 4 --rate 20 --duration 2 --warmup 0 --abusers 2 --garbage-rate 50 \
         --storm-rate 5 --half-open 10 --probe-rate 2",
    );
    assert_clean(&abuse);
    assert_eq!(figure(&abuse, "sent"), 80.0, "two phases of 40: {abuse:#}");
    assert_eq!(figure(&abuse, "delivered"), 80.0, "{abuse:#}");
    assert!(figure(&abuse, "honest delivery latency under flood p99") > 0.0);
    assert!(figure(&abuse, "honest connect latency under flood p99") > 0.0);
    assert!(figure(&abuse, "abuser frames sent") >= 10.0, "{abuse:#}");
    assert!(
        figure(&abuse, "abuser connections closed 1008") >= 1.0,
        "ten strikes close the connection: {abuse:#}"
    );
    assert!(
        figure(&abuse, "abuser upgrades refused 429") >= 1.0,
        "and the player cools down: {abuse:#}"
    );
    assert!(
        figure(&abuse, "half-open sockets opened") >= 10.0,
        "{abuse:#}"
    );

    let connections = loadgen(
        &stack,
        &format!(
            "--gateway-pid {gateway_pid} --source-ips 3 connections --count 60 --per-process 25 --hold 1"
        ),
    );
    assert_clean(&connections);
    assert_eq!(
        figure(&connections, "worker processes"),
        3.0,
        "60 sockets, 25 per process"
    );
    assert_eq!(
        figure(&connections, "alive after the hold (answered a ping)"),
        60.0
    );
    // The gateway's memory was read (a live process has some), and the per-connection
    // figure is what the before and holding figures imply (for the connections it held).
    let before = figure(&connections, &format!("gateway {gateway_pid} RSS before"));
    let holding_prefix = format!("gateway {gateway_pid} RSS holding ");
    let (held, holding) = connections["figures"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|f| {
            let held: f64 = f["name"]
                .as_str()?
                .strip_prefix(&holding_prefix)?
                .parse()
                .ok()?;
            Some((held, f["value"].as_f64()?))
        })
        .unwrap_or_else(|| panic!("no {holding_prefix}N figure in {connections:#}"));
    assert!(
        held > 0.0 && held <= 60.0,
        "{held} connections on the gateway"
    );
    assert!(before > 1.0, "a gateway's RSS is over 1 MiB: {before}");
    let per_connection = figure(
        &connections,
        &format!("gateway {gateway_pid} RSS per connection"),
    );
    let implied = (holding - before).max(0.0) * 1024.0 / held;
    assert!(
        (per_connection - implied).abs() < 0.01,
        "{per_connection} KiB per connection, but the RSS figures imply {implied}"
    );

    let pool = stack
        .pools
        .iter()
        .map(|p| format!("http://{}", p.endpoint("http").expect("pool http")))
        .collect::<Vec<_>>()
        .join(",");
    let matchmaking = loadgen(
        &stack,
        &format!(
            "matchmaking --rate 20 --duration 3 --warmup 0 --players 60 --squad-share 0 \
             --regions eu --pool {pool} --pool-token {} --join-secret {} \
             --servers-per-region 1 --capacity 50 --game-ms 200",
            rallypoint_tests::stack::POOL_TOKEN,
            rallypoint_tests::stack::JOIN_SECRET
        ),
    );
    assert_clean(&matchmaking);
    let queued = figure(&matchmaking, "tickets queued");
    assert_eq!(queued, 60.0, "{matchmaking:#}");
    assert_eq!(
        figure(&matchmaking, "tickets matched"),
        queued,
        "{matchmaking:#}"
    );
    assert_eq!(
        figure(&matchmaking, "matches (server allocations)"),
        queued / 2.0
    );
    assert!(figure(&matchmaking, "completing join to match.found p99") > 0.0);
    assert!(figure(&matchmaking, "queue.join reply p50") > 0.0);

    // Parties of one or two into 2v2 with a ready check, a tenth of the answers declines:
    // no party split, no team short, nobody matched twice (assert_clean).
    let parties = loadgen(
        &stack,
        &format!(
            "parties --players 40 --max-party 2 --queue squad --team-size 2 --region eu \
             --rate 20 --decline-share 0.1 --ready-wait-ms 3000 --pool {pool} \
             --pool-token {} --join-secret {} --servers-per-region 1 --capacity 50 \
             --game-ms 200",
            rallypoint_tests::stack::POOL_TOKEN,
            rallypoint_tests::stack::JOIN_SECRET
        ),
    );
    assert_clean(&parties);
    assert_eq!(
        figure(&parties, "parties queued"),
        figure(&parties, "parties"),
        "{parties:#}"
    );
    assert!(figure(&parties, "matches announced") >= 1.0, "{parties:#}");
    assert!(
        figure(&parties, "ready checks seen (by players)") >= 4.0,
        "{parties:#}"
    );
    if figure(&parties, "declines sent") > 0.0 {
        assert!(
            figure(&parties, "cancelled: declined (per player)") > 0.0,
            "a decline cancels its match: {parties:#}"
        );
    }

    stack.stop().await;
}
