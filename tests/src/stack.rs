//! The whole platform as child processes on the shared test cluster and database, and
//! players driving it through the client SDK: what the end-to-end and fault tests share.

use std::time::Duration;

use rallypoint_client::proto::{ErrorCode, ServerMessage};
use rallypoint_client::{Auth, Client, ClientConfig, ClientError, Event};
use tokio::sync::mpsc;

use crate::ServiceProcess;

/// The game servers' token in these tests.
pub const POOL_TOKEN: &str = "stack-pool-token-0123456789";
/// The secret the stack's gateways check player tokens with.
pub const JWT_SECRET: &str = "stack-jwt-secret-0123456789";
/// The join secret of the stack's pool and its simulated game servers.
pub const JOIN_SECRET: &str = "stack-join-secret-0123456789abcdef";

/// How many of each service to run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub gateways: usize,
    pub matchmakers: usize,
    pub pools: usize,
    pub warmers: usize,
    /// Simulated game servers, all in `eu`.
    pub game_servers: usize,
}

impl Sizes {
    /// Two gateways (so pushes cross instances), one of each other service, two game
    /// servers.
    pub const SMALL: Sizes = Sizes {
        gateways: 2,
        matchmakers: 1,
        pools: 1,
        warmers: 1,
        game_servers: 2,
    };

    /// [`Sizes::SMALL`] without simulated game servers: for tests that bring their own, or
    /// need none.
    pub const SMALL_WITHOUT_GAME_SERVERS: Sizes = Sizes {
        game_servers: 0,
        ..Sizes::SMALL
    };
}

/// A running platform.
#[derive(Debug)]
pub struct Stack {
    pub ns: String,
    pub gateways: Vec<ServiceProcess>,
    pub matchmakers: Vec<ServiceProcess>,
    pub pools: Vec<ServiceProcess>,
    pub warmers: Vec<ServiceProcess>,
    /// The simulated game servers `sim-<n>-<ns>`, in order.
    pub game_servers: Vec<tokio::process::Child>,
}

impl Stack {
    /// Starts every process in namespace `ns` with quick leases (so a killed instance's
    /// work is taken over within about a second and a half) and waits until all are ready.
    pub async fn start(ns: &str, sizes: Sizes) -> Stack {
        Self::start_on(ns, sizes, testkit::redis_urls()).await
    }

    /// As [`Stack::start`], on the Redis Cluster at `redis_urls` (a private one a test may
    /// break).
    pub async fn start_on(ns: &str, sizes: Sizes, redis_urls: Vec<String>) -> Stack {
        Self::start_with_env(ns, sizes, redis_urls, &[]).await
    }

    /// As [`Stack::start_on`], with more environment variables for every service (such as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub async fn start_with_env(
        ns: &str,
        sizes: Sizes,
        redis_urls: Vec<String>,
        extra_env: &[(&str, String)],
    ) -> Stack {
        let settings = [
            ("redis.namespace", ns.to_owned()),
            ("redis.urls", redis_urls.join(",")),
            ("gateway.jwt_secret", JWT_SECRET.to_owned()),
            ("gateway.allow_guests", "true".to_owned()),
            ("instance.environment", "development".to_owned()),
            ("pool.token", POOL_TOKEN.to_owned()),
            ("pool.join_secret", JOIN_SECRET.to_owned()),
            // Game servers heartbeat every second (they learn of a drain by heartbeat).
            ("pool.heartbeat_interval_ms", "1000".to_owned()),
            ("ops.admin_token", "stack-admin".to_owned()),
            // Instances announce their figures with themselves: the dashboard shows them.
            ("instance.announce_interval_ms", "500".to_owned()),
            ("matchmaker.tick_ms", "50".to_owned()),
            ("matchmaker.lease_ms", "1500".to_owned()),
            ("pool.lease_ms", "1500".to_owned()),
            ("warmer.lease_ms", "1500".to_owned()),
            ("warmer.results_poll_ms", "50".to_owned()),
            // Generous for a busy CI machine; a join waits only until the profile is there.
            ("matchmaking.profile_wait_ms", "10000".to_owned()),
            // Any two players may meet: these tests are about the journey, not the windows.
            (
                "matchmaking.queues.duel.initial_window",
                "100000".to_owned(),
            ),
            ("matchmaking.queues.duel.max_window", "100000".to_owned()),
            (
                "matchmaking.queues.squad.initial_window",
                "100000".to_owned(),
            ),
            ("matchmaking.queues.squad.max_window", "100000".to_owned()),
        ];
        let names: Vec<String> = settings.iter().map(|(k, _)| testkit::env_var(k)).collect();
        let env: Vec<(&str, String)> = names
            .iter()
            .zip(&settings)
            .map(|(name, (_, value))| (name.as_str(), value.clone()))
            .chain(extra_env.iter().cloned())
            .collect();
        let start = |service: &'static str, count: usize| {
            let env = env.clone();
            async move {
                let mut started = Vec::new();
                for _ in 0..count {
                    started.push(ServiceProcess::start(service, &env).await.expect("started"));
                }
                started
            }
        };
        let mut stack = Stack {
            ns: ns.to_owned(),
            gateways: start("gateway", sizes.gateways).await,
            matchmakers: start("matchmaker", sizes.matchmakers).await,
            pools: start("server-pool", sizes.pools).await,
            warmers: start("cache-warmer", sizes.warmers).await,
            game_servers: Vec::new(),
        };
        for service in stack.all() {
            service
                .wait_ready_status(200, Duration::from_secs(30))
                .await
                .expect("ready");
        }
        let pools: Vec<String> = stack
            .pools
            .iter()
            .map(|p| {
                format!(
                    "http://{}",
                    p.endpoint("http").expect("the pool's http endpoint")
                )
            })
            .collect();
        for n in 0..sizes.game_servers {
            let sim = tokio::process::Command::new(crate::binary("sim-server"))
                .args(["--pool", &pools.join(","), "--token", POOL_TOKEN])
                .args(["--join-secret", JOIN_SECRET])
                .args([
                    "--id",
                    &format!("sim-{n}-{ns}"),
                    "--region",
                    "eu",
                    "--capacity",
                    "8",
                ])
                .args(["--game-ms", "200", "--join-timeout-ms", "15000"])
                .kill_on_drop(true)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("the simulated game server starts");
            stack.game_servers.push(sim);
        }
        stack
    }

    /// The index in `services` of the instance holding lease `key` (waits until one does).
    /// Lease owners are `<instance>` or `<instance>/<unit>`.
    pub async fn holder(&self, services: &[ServiceProcess], key: &str) -> usize {
        let url = testkit::redis_urls()[0].clone();
        let address = url.trim_start_matches("redis://").to_owned();
        let (host, port) = address.split_once(':').expect("host:port");
        testkit::wait_until(
            &format!("someone to hold {key}"),
            Duration::from_secs(20),
            || async {
                let output = tokio::process::Command::new("redis-cli")
                    .args(["-c", "-h", host, "-p", port, "GET", key])
                    .output()
                    .await
                    .ok()?;
                let owner = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                // `<instance>[/<unit>]#<process token>`
                let instance = owner.split(['/', '#']).next()?;
                services.iter().position(|s| s.instance() == instance)
            },
        )
        .await
        .expect("in time")
    }

    fn all(&self) -> impl Iterator<Item = &ServiceProcess> {
        self.gateways
            .iter()
            .chain(&self.matchmakers)
            .chain(&self.pools)
            .chain(&self.warmers)
    }

    /// The gateways' WebSocket URLs, in order.
    pub fn gateway_urls(&self) -> Vec<String> {
        self.gateways
            .iter()
            .map(|g| format!("ws://{}/ws", g.endpoint("ws").expect("ws endpoint")))
            .collect()
    }

    /// Stops everything that is still running (SIGTERM, bounded).
    pub async fn stop(mut self) {
        for mut sim in std::mem::take(&mut self.game_servers) {
            let _ = sim.kill().await;
        }
        let all = self
            .gateways
            .drain(..)
            .chain(self.matchmakers.drain(..))
            .chain(self.pools.drain(..))
            .chain(self.warmers.drain(..));
        for service in all {
            service
                .terminate(Duration::from_secs(15))
                .await
                .expect("exits");
        }
    }
}

/// Every player queues for `queue`.
pub async fn queue_all(players: &[Player], queue: &str) {
    for p in players {
        p.join(queue).await;
    }
}

/// Each player's next new match, joined on its game server.
pub async fn take_matches(players: &mut [Player]) -> Vec<Found> {
    let mut found = Vec::new();
    for p in players.iter_mut() {
        let f = p.match_found().await;
        p.join_game(&f).await;
        found.push(f);
    }
    found
}

/// A player: an SDK client and its events.
#[derive(Debug)]
pub struct Player {
    pub id: String,
    pub client: Client,
    pub events: mpsc::Receiver<Event>,
    /// Matches already announced: `match.found` may come more than once (a re-sent
    /// announcement, a reconnect), as PROTOCOL.md allows.
    seen: std::collections::HashSet<String>,
    /// `Disconnected` events passed over while waiting for a match.
    pub disconnects: u32,
}

/// What a player's `match.found` said.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub match_id: String,
    pub server: String,
    pub address: String,
    pub join_token: String,
    /// (player, rating) of everyone in the match.
    pub ratings: Vec<(String, f64)>,
}

impl Player {
    /// Connects player `id` (with a token) to `urls` (the first is home; reconnects go
    /// to the next).
    pub async fn connect(id: &str, urls: Vec<String>, msgpack: bool) -> Player {
        let mut config = ClientConfig::new(urls, Auth::Token(player_token(id)));
        config.reconnect_initial = Duration::from_millis(100);
        if msgpack {
            config = config.msgpack();
        }
        let (client, events) = Client::connect(config).await.expect("connects");
        Player {
            id: id.to_owned(),
            client,
            events,
            seen: Default::default(),
            disconnects: 0,
        }
    }

    /// `queue.join`, retried on `unavailable` (and on a dropped connection) as
    /// PROTOCOL.md tells clients to: every 250 ms for up to 15 s (a Redis failover
    /// takes a few seconds). A retry answered `already_queued` in this queue means an
    /// earlier attempt was carried out although its answer was `unavailable` (a command
    /// that timed out while the cluster changed): the player is queued.
    pub async fn join(&self, queue: &str) {
        const ATTEMPTS: u32 = 60;
        let mine = format!("already queued in {queue}/eu");
        for attempt in 1..=ATTEMPTS {
            match self.client.join_queue(queue, "eu").await {
                Ok(_) => return,
                Err(ClientError::Server {
                    code: ErrorCode::AlreadyQueued,
                    message,
                }) if attempt > 1 && message.starts_with(&mine) => {
                    eprintln!(
                        "{}: join attempt {attempt}: {message} (an earlier attempt went through)",
                        self.id
                    );
                    return;
                }
                Err(ClientError::Server {
                    code: ErrorCode::Unavailable,
                    message,
                }) if attempt < ATTEMPTS => {
                    eprintln!("{}: join attempt {attempt}: {message}", self.id);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(ClientError::Disconnected) if attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(err) => panic!("{}: queue.join failed: {err}", self.id),
            }
        }
    }

    /// The next `match.found` of a match not seen before among the player's events
    /// (others, and repeats, are skipped).
    pub async fn match_found(&mut self) -> Found {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(30), self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("{}: match.found in time", self.id))
                .expect("events open");
            if matches!(event, Event::Disconnected { .. }) {
                self.disconnects += 1;
            }
            if let Event::Push(ServerMessage::MatchFound {
                match_id,
                server,
                join_token,
                teams,
                ..
            }) = event
            {
                if !self.seen.insert(match_id.to_string()) {
                    continue;
                }
                return Found {
                    match_id: match_id.to_string(),
                    server: server.id.to_string(),
                    address: server.address,
                    join_token,
                    ratings: teams
                        .iter()
                        .flatten()
                        .map(|m| (m.player.to_string(), m.rating))
                        .collect(),
                };
            }
        }
    }

    /// Records a match as announced (seen outside [`Player::match_found`]).
    pub fn mark_seen(&mut self, match_id: &str) {
        self.seen.insert(match_id.to_owned());
    }

    /// Joins the game server of `found` with the join token.
    pub async fn join_game(&self, found: &Found) {
        let joined = reqwest::Client::new()
            .post(format!("http://{}/v1/join", found.address))
            .json(&serde_json::json!({"match": found.match_id, "player": self.id, "token": found.join_token}))
            .send()
            .await
            .expect("the game server answers");
        assert_eq!(
            joined.status().as_u16(),
            200,
            "{} joins {found:?} with its token",
            self.id
        );
    }

    /// Waits until the player's profile counts `games` games; returns the rating.
    pub async fn rating_after(&self, games: u64) -> f64 {
        testkit::wait_until(
            "the result to reach the profile",
            Duration::from_secs(30),
            || async {
                match self.client.profile().await.ok()? {
                    ServerMessage::Profile {
                        games: g, rating, ..
                    } if g == games => Some(rating),
                    _ => None,
                }
            },
        )
        .await
        .expect("in time")
    }
}

/// A token for player `id`, signed with the stack's [`JWT_SECRET`], valid for an hour.
pub fn player_token(id: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": id, "exp": now + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("encodes a token")
}
