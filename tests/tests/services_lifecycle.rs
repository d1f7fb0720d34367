//! Every service binary, as a real process: it starts against a real Redis Cluster,
//! answers `/health/ready` 200, turns 503 when the cluster is stopped and 200 again when
//! it returns (without a restart), and exits 0 on SIGTERM. A bad config value stops it at
//! start with one line naming the key.

use std::time::Duration;

use rallypoint_tests::{SERVICES, ServiceProcess, run_to_exit, run_with_args};
use testkit::PrivateCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_report_redis_outages_in_readiness_and_stop_cleanly() {
    let mut cluster = PrivateCluster::start(3, 0)
        .await
        .expect("a private cluster");
    let urls = cluster.seed_urls().join(",");
    let namespace = testkit::unique_namespace("lifecycle");
    let env = [
        ("RALLYPOINT_REDIS__URLS", urls),
        ("RALLYPOINT_REDIS__NAMESPACE", namespace),
        ("RALLYPOINT_REDIS__HEALTH_INTERVAL_MS", "200".to_owned()),
        ("RALLYPOINT_REDIS__COMMAND_TIMEOUT_MS", "1000".to_owned()),
        ("RALLYPOINT_REDIS__RECONNECT_MAX_MS", "500".to_owned()),
    ];
    let mut services = Vec::new();
    for service in SERVICES {
        services.push(ServiceProcess::start(service, &env).await.expect("started"));
    }
    for service in &services {
        service
            .wait_ready_status(200, Duration::from_secs(20))
            .await
            .expect("ready against the cluster");
    }

    cluster.kill_all().await;
    for service in &services {
        let body = service
            .wait_ready_status(503, Duration::from_secs(20))
            .await
            .expect("unready without Redis");
        assert!(
            body.contains("redis"),
            "{}: the reason names Redis: {body}",
            service.service
        );
    }

    cluster.restart().await.expect("the cluster comes back");
    for service in &services {
        service
            .wait_ready_status(200, Duration::from_secs(30))
            .await
            .expect("ready again, no restart");
    }

    for service in services {
        let name = service.service.clone();
        let status = service
            .terminate(Duration::from_secs(15))
            .await
            .expect("exits");
        assert_eq!(status.code(), Some(0), "{name} exits 0 on SIGTERM");
    }
}

#[tokio::test]
async fn a_bad_config_value_stops_each_service_with_one_line_naming_the_key() {
    let cases = [
        ("RALLYPOINT_REDIS__URLS", "nonsense", "redis.urls"),
        (
            "RALLYPOINT_REDIS__COMMAND_TIMEOUT_MS",
            "soon",
            "redis.command_timeout_ms",
        ),
        ("RALLYPOINT_OPS__LISTEN", "nowhere", "ops.listen"),
        ("RALLYPOINT_RUNTIME__THREADS", "1000", "runtime.threads"),
        ("RALLYPOINT_RUNTIME__THREADS", "some", "runtime.threads"),
    ];
    for service in SERVICES {
        for (var, value, key) in cases {
            let (code, stderr) = run_to_exit(service, &[(var, value)]).await.expect("runs");
            assert_eq!(
                code,
                Some(64),
                "{service} with {var}={value}: exit code; stderr: {stderr}"
            );
            let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "{service}: one line, got {stderr:?}");
            assert!(
                lines[0].contains(key),
                "{service}: {:?} names {key}",
                lines[0]
            );
        }
    }
    // The cache-warmer cannot work without PostgreSQL's address.
    let (code, stderr) = run_to_exit("cache-warmer", &[]).await.expect("runs");
    assert_eq!(code, Some(64), "{stderr}");
    assert!(
        stderr.contains("database.url") && stderr.contains("DATABASE_URL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn check_config_says_ok_or_names_the_key_without_connecting_to_anything() {
    // Nothing listens on port 1: a service that tried to connect would not exit at once.
    let valid = [
        ("RALLYPOINT_REDIS__URLS", "redis://127.0.0.1:1"),
        (
            "DATABASE_URL",
            "postgres://rallypoint@127.0.0.1:1/rallypoint",
        ),
        (
            "RALLYPOINT_GATEWAY__JWT_SECRET",
            "check-config-jwt-secret-0123456789",
        ),
        (
            "RALLYPOINT_POOL__TOKEN",
            "check-config-pool-token-0123456789",
        ),
        (
            "RALLYPOINT_POOL__JOIN_SECRET",
            "check-config-join-secret-0123456789",
        ),
        (
            "RALLYPOINT_OPS__ADMIN_TOKEN",
            "check-config-admin-token-0123456789",
        ),
    ];
    for service in SERVICES {
        let (code, stdout, stderr) = run_with_args(service, &["--check-config"], &valid)
            .await
            .expect("runs");
        assert_eq!(code, Some(0), "{service}: {stdout} {stderr}");
        assert_eq!(stdout.trim(), format!("rallypoint-{service}: config ok"));
        let mut bad = valid.to_vec();
        bad.push(("RALLYPOINT_OPS__NO_SUCH_KEY", "1"));
        let (code, _, stderr) = run_with_args(service, &["--check-config"], &bad)
            .await
            .expect("runs");
        assert_eq!(code, Some(64), "{service}: {stderr}");
        assert!(
            stderr.contains("no_such_key"),
            "{service} names the key: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_on_the_shared_cluster_serves_health_and_metrics() {
    let env = [
        ("RALLYPOINT_REDIS__URLS", testkit::redis_urls().join(",")),
        (
            "RALLYPOINT_REDIS__NAMESPACE",
            testkit::unique_namespace("registry"),
        ),
        (
            "RALLYPOINT_INSTANCE__ANNOUNCE_INTERVAL_MS",
            "200".to_owned(),
        ),
    ];
    let gateway = ServiceProcess::start("gateway", &env)
        .await
        .expect("started");
    gateway
        .wait_ready_status(200, Duration::from_secs(20))
        .await
        .expect("ready");
    let metrics = reqwest::get(format!("http://{}/metrics", gateway.ops_addr))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics body");
    assert!(
        metrics.contains("rallypoint_redis_up 1"),
        "metrics show Redis up:\n{metrics}"
    );
    let resident: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("metrics show the process's memory:\n{metrics}"));
    assert!(
        resident > 1_000_000.0,
        "a running service holds more than 1 MB: {resident}"
    );
    assert!(
        metrics.contains("process_cpu_seconds_total"),
        "and its CPU time:\n{metrics}"
    );
    // Redis command figures: the instance's announcements alone are commands, and the
    // health probe moves fred's counts into the metrics on every probe.
    let ops = gateway.ops_addr.clone();
    let commands = testkit::wait_until("Redis commands counted", Duration::from_secs(10), || {
        let ops = ops.clone();
        async move {
            let metrics = testkit::metrics_text(&ops).await?;
            let count = testkit::metric_value(&metrics, "rallypoint_redis_commands_total")?;
            (count > 0.0 && metrics.contains("rallypoint_redis_command_milliseconds_total"))
                .then_some(metrics)
        }
    })
    .await;
    let metrics = commands.expect("command counts and latency on /metrics");
    assert!(
        metrics.contains("rallypoint_redis_command_max_seconds"),
        "{metrics}"
    );
    let live = reqwest::get(format!("http://{}/health/live", gateway.ops_addr))
        .await
        .expect("live");
    assert_eq!(live.status().as_u16(), 200);
    let status = gateway
        .terminate(Duration::from_secs(15))
        .await
        .expect("exits");
    assert_eq!(status.code(), Some(0));
}
