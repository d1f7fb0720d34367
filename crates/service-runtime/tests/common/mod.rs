//! Shared set-up of the runtime's integration tests: a Redis config for a given cluster
//! and namespace, built through the real config loader.

#![allow(dead_code)]

use service_runtime::LoadedConfig;
use service_runtime::redis::RedisConfig;

/// A `[redis]` section for `urls` and a fresh namespace, with quick supervisor timings.
pub fn redis_config(urls: &[String], namespace: &str) -> RedisConfig {
    let env = [
        ("RALLYPOINT_REDIS__URLS".to_owned(), urls.join(",")),
        (
            "RALLYPOINT_REDIS__NAMESPACE".to_owned(),
            namespace.to_owned(),
        ),
        (
            "RALLYPOINT_REDIS__TOPOLOGY_CHECK_INTERVAL_MS".to_owned(),
            "500".to_owned(),
        ),
        (
            "RALLYPOINT_REDIS__CANARY_INTERVAL_MS".to_owned(),
            "250".to_owned(),
        ),
        (
            "RALLYPOINT_REDIS__CANARY_TIMEOUT_MS".to_owned(),
            "1500".to_owned(),
        ),
        (
            "RALLYPOINT_REDIS__COMMAND_TIMEOUT_MS".to_owned(),
            "2000".to_owned(),
        ),
        (
            "RALLYPOINT_REDIS__RECONNECT_MAX_MS".to_owned(),
            "500".to_owned(),
        ),
    ];
    LoadedConfig::load_with_env("", None, Some(env.into_iter().collect()))
        .expect("a valid test config")
        .common
        .redis
}

/// A connected command client for `config`.
pub async fn connect(config: &RedisConfig) -> fred::prelude::Client {
    use fred::prelude::ClientLike;
    let client = service_runtime::redis::build_client(config).expect("client");
    client
        .wait_for_connect()
        .await
        .expect("connected to the test cluster");
    client
}
