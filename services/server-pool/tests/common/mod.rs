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

/// The fleet's registration token of the test pools.
pub const TOKEN: &str = "pool-test-token-0123456789";
/// The join secret of the test pools.
pub const JOIN_SECRET: &str = "pool-test-join-secret-0123456789abcdef";

pub fn env_for(ns: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    testkit::service_env(
        ns,
        &[
            ("ops.admin_token", "test-admin"),
            ("pool.listen", "127.0.0.1:0"),
            ("pool.token", TOKEN),
            ("pool.join_secret", JOIN_SECRET),
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

/// Game servers' view of the pool's HTTP API. Registering keeps each server's token;
/// a call on `/v1/servers/{id}...` carries that server's token, one on
/// `/v1/matches/...` the token of the server the API acts as ([`Api::as_server`]).
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    http: reqwest::Client,
    /// Server id -> its `server_token`, shared by every clone.
    tokens: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    /// The server whose token `/v1/matches/...` calls carry.
    acting_as: Option<String>,
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
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
            tokens: Default::default(),
            acting_as: None,
        }
    }

    /// The same game servers (their tokens) calling another pool instance.
    pub fn at_pool(&self, pool: &RunningService) -> Self {
        let addr: SocketAddr = pool.endpoint("http").expect("an http endpoint");
        Self {
            base: format!("http://{addr}"),
            ..self.clone()
        }
    }

    /// This API acting as `server`: its calls on matches carry `server`'s token.
    pub fn as_server(&self, server: &str) -> Self {
        Self {
            acting_as: Some(server.to_owned()),
            ..self.clone()
        }
    }

    /// The `server_token` `server`'s latest registration answered.
    pub fn token_of(&self, server: &str) -> String {
        self.tokens
            .lock()
            .expect("tokens")
            .get(server)
            .cloned()
            .unwrap_or_else(|| panic!("{server} was not registered through this API"))
    }

    /// The token a call of `path` carries: the registration token to register, the named
    /// server's on `/v1/servers/{id}...`, else the one of the server acted as.
    fn token_for(&self, method: &str, path: &str) -> String {
        if method == "POST" && path == "/v1/servers" {
            return TOKEN.to_owned();
        }
        let server = match path.strip_prefix("/v1/servers/") {
            Some(rest) => rest.split(['/', '?']).next().unwrap_or_default().to_owned(),
            None => self
                .acting_as
                .clone()
                .unwrap_or_else(|| panic!("{path}: say which server calls, with Api::as_server")),
        };
        self.token_of(&server)
    }

    /// Sends `method path` with a JSON body and the token of the caller (see
    /// [`Api::token_for`]); the status and the JSON answer.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let raw = body.map(|b| b.to_string().into_bytes());
        let token = self.token_for(method, path);
        self.raw(method, path, raw, Some(&token)).await
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        testkit::http::call(&self.http, method, &url, body, token).await
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
            .as_server(server)
            .call("POST", &format!("/v1/matches/{match_id}/ack"), None)
            .await;
        assert_eq!(status, 204, "{body}");
    }

    /// Registers `id`, keeping its token; the answer's incarnation.
    pub async fn register(&self, id: &str, region: &str, capacity: u32) -> u64 {
        let (status, body) = self.try_register(id, region, capacity).await;
        assert_eq!(status, 201, "{body}");
        body["incarnation"].as_u64().expect("an incarnation")
    }

    /// Tries to register `id`: the status and the answer (its token kept if it is 201).
    pub async fn try_register(&self, id: &str, region: &str, capacity: u32) -> (u16, Value) {
        let (status, body) = self
            .call(
                "POST",
                "/v1/servers",
                Some(json!({"id": id, "region": region, "address": format!("{id}.example:7777"), "capacity": capacity})),
            )
            .await;
        if status == 201 {
            let token = body["server_token"].as_str().expect("a server_token");
            self.tokens
                .lock()
                .expect("tokens")
                .insert(id.to_owned(), token.to_owned());
        }
        (status, body)
    }
}

/// A token of the right form for `server` that the pool never issued.
pub fn forged_token(region: &str, server: &str) -> String {
    format!("gs1~{region}~{server}~{}", "A".repeat(43))
}

pub async fn redis() -> Client {
    let config = config(&testkit::unique_namespace("probe"), &[]);
    let client = service_runtime::redis::build_client(&config.common.redis).expect("client");
    client.wait_for_connect().await.expect("connected");
    client
}

/// A match handed over to the pool as the matchmaker does it (`matches::handover`: the
/// players' live match, the record, the pool's pending entry), and the region's allocator
/// woken.
pub async fn pend(
    redis: &Client,
    keys: &core_keys::Keys,
    region: &str,
    match_id: &str,
    players: &[&str],
) {
    let record = hand_over(redis, keys, region, match_id, players).await;
    // As the matchmaker does after handing matches over: the region's allocator woken.
    matches(redis, keys).hint_pool(&record).await;
}

/// [`pend`] for several matches at once, with one wake-up for them all (as one tick of
/// the matchmaker): the allocator then takes them in one batch, unless its own tick came
/// in between.
pub async fn pend_together(redis: &Client, keys: &core_keys::Keys, region: &str, ids: &[&str]) {
    let mut last = None;
    for id in ids {
        let (x, y) = (format!("{id}-x"), format!("{id}-y"));
        last = Some(hand_over(redis, keys, region, id, &[&x, &y]).await);
    }
    if let Some(record) = last {
        matches(redis, keys).hint_pool(&record).await;
    }
}

fn matches(redis: &Client, keys: &core_keys::Keys) -> matches::Matches {
    let publisher = service_runtime::publish::Publisher::new(redis.clone());
    matches::Matches::new(keys.clone(), redis.clone(), publisher)
}

/// The hand-over of a duel `match_id` between `players` in `region`, without the hint.
async fn hand_over(
    redis: &Client,
    keys: &core_keys::Keys,
    region: &str,
    match_id: &str,
    players: &[&str],
) -> MatchRecord {
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
                    ticket_rating: None,
                }]
            })
            .collect(),
        trace: None,
        fill: None,
        backfilled: Vec::new(),
    };
    matches(redis, keys)
        .hand_over(&record, Duration::from_secs(3600))
        .await
        .expect("handed over");
    record
}

/// Waits until someone listens on the sharded `channel` (a long poll waiting there).
pub async fn eventually_subscribed(redis: &Client, channel: &str) {
    use fred::prelude::PubsubInterface;
    testkit::wait_until(
        &format!("a subscriber on {channel}"),
        Duration::from_secs(10),
        || async {
            let (_, count): (String, i64) = redis.pubsub_shardnumsub(channel).await.ok()?;
            (count >= 1).then_some(())
        },
    )
    .await
    .expect("subscribed");
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
