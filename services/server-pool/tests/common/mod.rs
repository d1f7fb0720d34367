//! Shared set-up of the server pool's tests: pools started in-process on the shared test
//! cluster, an HTTP client speaking PROTOCOL.md section 2, and pending matches written the
//! way the matchmaker hands them over.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use fred::prelude::{Client, ClientLike, HashesInterface};
use queues::{MatchRecord, MatchedTicket};
use serde_json::{Value, json};
use server_pool::ServerPool;
use service_runtime::{LoadedConfig, RunningService, Service};

pub const TOKEN: &str = "pool-test-token-0123456789";

pub fn env_for(ns: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    testkit::service_env(
        ns,
        &[
            ("ops.admin_token", "test-admin"),
            ("pool.listen", "127.0.0.1:0"),
            ("pool.token", TOKEN),
            ("pool.tick_ms", "20"),
            ("pool.lease_ms", "1000"),
            ("pool.announce_retry_ms", "1000"),
            ("shutdown.drain_deadline_ms", "5000"),
        ],
        overrides,
    )
}

pub fn config(ns: &str, overrides: &[(&str, &str)]) -> LoadedConfig {
    LoadedConfig::load_with_env(
        ServerPool::DEFAULTS,
        None,
        Some(env_for(ns, overrides).into_iter().collect()),
    )
    .expect("a valid test config")
}

/// Starts a server pool in-process and waits until it is ready.
pub async fn start(ns: &str, overrides: &[(&str, &str)]) -> RunningService {
    let pool = service_runtime::start::<ServerPool>(config(ns, overrides))
        .await
        .expect("the server pool starts");
    let ready = format!("http://{}/health/ready", pool.ops_addr);
    testkit::wait_until("the pool to be ready", Duration::from_secs(20), || async {
        reqwest::get(&ready)
            .await
            .ok()?
            .status()
            .is_success()
            .then_some(())
    })
    .await
    .expect("ready");
    pool
}

/// A game server's view of the pool's HTTP API.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(pool: &RunningService) -> Self {
        let addr: SocketAddr = pool.endpoint("http").expect("an http endpoint");
        Self::at(&addr.to_string())
    }

    /// The API of a pool listening at `addr` (`host:port`; a pool run as a process).
    pub fn at(addr: &str) -> Self {
        Self {
            base: format!("http://{addr}"),
            token: TOKEN.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Sends `method path` with a JSON (or raw) body; the status and the JSON answer.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let raw = body.map(|b| b.to_string().into_bytes());
        self.raw(method, path, raw, Some(&self.token)).await
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the pool answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The game server's side of an assignment: long-polls for it, checks it is
    /// `match_id`, and acknowledges it.
    pub async fn take(&self, server: &str, match_id: &str) {
        let (status, body) = self
            .call(
                "GET",
                &format!("/v1/servers/{server}/assignments?wait_ms=5000"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["assignments"][0]["match"], match_id, "{body}");
        let (status, body) = self
            .call("POST", &format!("/v1/matches/{match_id}/ack"), None)
            .await;
        assert_eq!(status, 204, "{body}");
    }

    pub async fn register(&self, id: &str, region: &str, capacity: u32) {
        let (status, body) = self
            .call(
                "POST",
                "/v1/servers",
                Some(json!({"id": id, "region": region, "address": format!("{id}.example:7777"), "capacity": capacity})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
}

pub async fn redis() -> Client {
    let config = config(&testkit::unique_namespace("probe"), &[]);
    let client = service_runtime::redis::build_client(&config.common.redis).expect("client");
    client.wait_for_connect().await.expect("connected");
    client
}

/// A match handed over to the pool as the matchmaker does it (`matches::handover`: the
/// players' live match, the record, the pool's pending entry).
pub async fn pend(
    redis: &Client,
    keys: &core_keys::Keys,
    region: &str,
    match_id: &str,
    players: &[&str],
) {
    let record = MatchRecord {
        match_id: match_id.to_owned(),
        queue: "duel".to_owned(),
        region: region.to_owned(),
        formed_ms: service_runtime::clock::now_ms(),
        teams: players
            .iter()
            .map(|p| {
                vec![MatchedTicket {
                    ticket: format!("t-{p}"),
                    player: (*p).to_owned(),
                    rating: 1500.0,
                    enqueued_ms: 0,
                }]
            })
            .collect(),
        trace: None,
    };
    let publisher = service_runtime::publish::Publisher::new(redis.clone());
    matches::Matches::new(keys.clone(), redis.clone(), publisher)
        .hand_over(&record, Duration::from_secs(3600))
        .await
        .expect("handed over");
}

/// The games the pool counts on `server` right now.
pub async fn active(redis: &Client, keys: &core_keys::Keys, region: &str, server: &str) -> u64 {
    let active: Option<u64> = redis
        .hget(keys.pool(region).server(server), "active")
        .await
        .expect("hget");
    active.unwrap_or(0)
}

/// The server a match was given to, if any.
pub async fn server_of(
    redis: &Client,
    keys: &core_keys::Keys,
    region: &str,
    match_id: &str,
) -> Option<String> {
    redis
        .hget(keys.pool(region).pool_match(match_id), "server")
        .await
        .expect("hget")
}
