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
        ("RALLYPOINT_GATEWAY__ALLOW_GUESTS", "true".to_owned()),
        ("RALLYPOINT_INSTANCE__ENVIRONMENT", "development".to_owned()),
    ];
    let mut services = Vec::new();
    for service in SERVICES {
        services.push(ServiceProcess::start(service, &env).await.expect("started"));
    }
    // A gateway told to ride out a failover (ops.redis_outage_grace_ms): its load
    // balancer keeps it through the outage, while it refuses what needs Redis.
    let mut graced_env = env.to_vec();
    graced_env.push(("RALLYPOINT_OPS__REDIS_OUTAGE_GRACE_MS", "60000".to_owned()));
    let graced = ServiceProcess::start("gateway", &graced_env)
        .await
        .expect("started");
    for service in services.iter().chain([&graced]) {
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
        // A client knocking on the gateway meanwhile is told to go elsewhere.
        if let Some(ws) = service.endpoint("ws") {
            let refused = reqwest::get(format!("http://{ws}/ws?guest=knocking"))
                .await
                .expect("the gateway answers");
            assert_eq!(refused.status(), 503);
            let body: serde_json::Value = refused.json().await.expect("a JSON body");
            assert_eq!(body["error"], "unavailable", "{body}");
        }
    }
    // Every other service is unready by now; the graced gateway says it is degraded, not
    // gone, and still refuses upgrades it cannot serve.
    let ready = reqwest::get(format!("http://{}/health/ready", graced.ops_addr))
        .await
        .expect("answers");
    assert_eq!(ready.status(), 200, "kept in rotation within the grace");
    let body: serde_json::Value = ready.json().await.expect("a JSON body");
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(
        body["degraded"]["redis"]
            .as_str()
            .is_some_and(|r| r.contains("redis_outage_grace_ms")),
        "{body}"
    );
    let ws = graced.endpoint("ws").expect("a client listener");
    let refused = reqwest::get(format!("http://{ws}/ws?guest=knocking"))
        .await
        .expect("the gateway answers");
    assert_eq!(refused.status(), 503);

    cluster.restart().await.expect("the cluster comes back");
    services.push(graced);
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
        (
            "RALLYPOINT_INSTANCE__ENVIRONMENT",
            "prod",
            "instance.environment",
        ),
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
    // Guests only where the deployment says it is a development one.
    let mut guests = valid.to_vec();
    guests.push(("RALLYPOINT_GATEWAY__ALLOW_GUESTS", "true"));
    for environment in [None, Some("production"), Some("staging")] {
        let mut env = guests.clone();
        env.extend(environment.map(|e| ("RALLYPOINT_INSTANCE__ENVIRONMENT", e)));
        let (code, _, stderr) = run_with_args("gateway", &["--check-config"], &env)
            .await
            .expect("runs");
        assert_eq!(code, Some(64), "guests in {environment:?}: {stderr}");
        assert!(stderr.contains("gateway.allow_guests"), "{stderr}");
    }
    guests.push(("RALLYPOINT_INSTANCE__ENVIRONMENT", "development"));
    let (code, stdout, stderr) = run_with_args("gateway", &["--check-config"], &guests)
        .await
        .expect("runs");
    assert_eq!(code, Some(0), "guests in development: {stdout} {stderr}");
    // The server API listens only with a token of its own, on an address.
    let api_cases = [
        (
            vec![("RALLYPOINT_GATEWAY__API_LISTEN", "127.0.0.1:0")],
            "gateway.api_token",
        ),
        (
            vec![
                ("RALLYPOINT_GATEWAY__API_LISTEN", "anywhere"),
                (
                    "RALLYPOINT_GATEWAY__API_TOKEN",
                    "check-config-api-token-0123456789",
                ),
            ],
            "gateway.api_listen",
        ),
        (
            vec![
                ("RALLYPOINT_GATEWAY__API_LISTEN", "127.0.0.1:0"),
                ("RALLYPOINT_GATEWAY__API_TOKEN", "short"),
            ],
            "gateway.api_token",
        ),
    ];
    for (extra, key) in api_cases {
        let mut env = valid.to_vec();
        env.extend(extra);
        let (code, _, stderr) = run_with_args("gateway", &["--check-config"], &env)
            .await
            .expect("runs");
        assert_eq!(code, Some(64), "{key}: {stderr}");
        assert!(stderr.contains(key), "{stderr}");
    }
}

#[tokio::test]
async fn secrets_never_reach_a_services_output() {
    const PASSWORD: &str = "hunter2-in-a-url";
    let secrets = [
        ("RALLYPOINT_REDIS__PASSWORD", "redis-password-never-logged"),
        (
            "RALLYPOINT_GATEWAY__JWT_SECRET",
            "jwt-secret-never-logged-0123",
        ),
        (
            "RALLYPOINT_GATEWAY__PREVIOUS_JWT_SECRET",
            "old-jwt-secret-never-logged-01",
        ),
        (
            "RALLYPOINT_GATEWAY__API_TOKEN",
            "api-token-never-logged-0123456",
        ),
        ("RALLYPOINT_POOL__TOKEN", "pool-token-never-logged-0123"),
        (
            "RALLYPOINT_POOL__PREVIOUS_TOKEN",
            "old-pool-token-never-logged-01",
        ),
        (
            "RALLYPOINT_POOL__JOIN_SECRET",
            "join-secret-never-logged-0123",
        ),
        (
            "RALLYPOINT_OPS__ADMIN_TOKEN",
            "admin-token-never-logged-0123",
        ),
    ];
    let database = format!("postgres://app:{PASSWORD}@127.0.0.1:1/rallypoint");
    let leaked = |output: &str| {
        secrets
            .iter()
            .map(|(_, secret)| *secret)
            .chain([PASSWORD])
            .filter(|secret| output.contains(secret))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    for service in SERVICES {
        // A Redis URL with credentials in it is refused, naming the key, without them.
        let with_credentials = format!("redis://app:{PASSWORD}@127.0.0.1:7000");
        let mut env = secrets.to_vec();
        env.push(("RALLYPOINT_REDIS__URLS", &with_credentials));
        env.push(("DATABASE_URL", &database));
        let (code, stdout, stderr) = run_with_args(service, &["--check-config"], &env)
            .await
            .expect("runs");
        assert_eq!(code, Some(64), "{service}: {stderr}");
        assert!(stderr.contains("redis.urls"), "{service}: {stderr}");
        let output = format!("{stdout}{stderr}");
        assert_eq!(leaked(&output), Vec::<String>::new(), "{service}: {output}");

        // Every secret set and another key wrong: the error names that key only.
        let mut env = secrets.to_vec();
        env.push(("RALLYPOINT_REDIS__URLS", "redis://127.0.0.1:1"));
        env.push(("DATABASE_URL", &database));
        env.push(("RALLYPOINT_LOG__LEVEL", "debug"));
        env.push(("RALLYPOINT_REDIS__COMMAND_TIMEOUT_MS", "0"));
        let (code, stdout, stderr) = run_with_args(service, &[], &env).await.expect("runs");
        assert_eq!(code, Some(64), "{service}: {stderr}");
        let output = format!("{stdout}{stderr}");
        assert_eq!(leaked(&output), Vec::<String>::new(), "{service}: {output}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_gateway_logs_no_secret_and_no_token() {
    const JWT_SECRET: &str = "running-jwt-secret-never-logged";
    const ADMIN_TOKEN: &str = "running-admin-token-never-logged";
    const WRONG_ADMIN_TOKEN: &str = "wrong-admin-token-never-logged";
    const CLIENT_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.client-token-never-logged.c2ln";
    let env = [
        (
            "RALLYPOINT_REDIS__NAMESPACE",
            testkit::unique_namespace("secrets"),
        ),
        ("RALLYPOINT_LOG__LEVEL", "debug".to_owned()),
        ("RALLYPOINT_GATEWAY__JWT_SECRET", JWT_SECRET.to_owned()),
        ("RALLYPOINT_OPS__ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
    ];
    let gateway = ServiceProcess::start_ready("gateway", &env).await;
    let ws = gateway.endpoint("ws").expect("a ws endpoint").to_owned();
    let http = reqwest::Client::new();
    // A client's token in the query string and in the header, refused.
    let in_query = http
        .get(format!("http://{ws}/ws?token={CLIENT_TOKEN}"))
        .send()
        .await
        .expect("answers");
    assert_eq!(in_query.status(), 401);
    let in_header = http
        .get(format!("http://{ws}/ws"))
        .bearer_auth(CLIENT_TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(in_header.status(), 401);
    // Operator calls with the admin token and with a wrong one.
    for (token, status) in [(ADMIN_TOKEN, 200), (WRONG_ADMIN_TOKEN, 401)] {
        let answer = http
            .get(format!("http://{}/v1/stats", gateway.ops_addr))
            .bearer_auth(token)
            .send()
            .await
            .expect("answers");
        assert_eq!(answer.status(), status);
    }
    let (status, log) = gateway
        .terminate_with_log(Duration::from_secs(15))
        .await
        .expect("stops");
    assert!(status.success(), "{status}");
    let log = log.join("\n");
    assert!(
        log.contains("\"level\":\"DEBUG\""),
        "logged at debug: {log}"
    );
    for secret in [
        JWT_SECRET,
        ADMIN_TOKEN,
        WRONG_ADMIN_TOKEN,
        CLIENT_TOKEN,
        "client-token-never-logged",
    ] {
        assert!(!log.contains(secret), "{secret} reached the log");
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
    let gateway = ServiceProcess::start_ready("gateway", &env).await;
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
