//! `rallyctl`: the operator's command line over the services' ops APIs (the ops port of
//! each service, behind `ops.admin_token`). It talks HTTP only, never to Redis, so it
//! runs from anywhere that reaches the ops ports:
//!
//! ```sh
//! export RALLYPOINT_OPS__ADMIN_TOKEN=rallypoint-dev-admin
//! rallyctl stats --ops http://127.0.0.1:9201 --ops http://127.0.0.1:9301
//! rallyctl servers --pool http://127.0.0.1:9301
//! rallyctl drain sim-eu-1 --pool http://127.0.0.1:9301
//! rallyctl invalidate --warmer http://127.0.0.1:9401 --player alice
//! rallyctl player alice --matchmaker http://127.0.0.1:9201
//! ```
//!
//! And over a gateway's server API (`gateway.api_listen`, behind `gateway.api_token`), what
//! the studio's backend can do, by hand:
//!
//! ```sh
//! export RALLYPOINT_GATEWAY__API_TOKEN=rallypoint-dev-api RALLYCTL_API=http://127.0.0.1:8180
//! rallyctl broadcast 'server restart in 5 minutes'
//! rallyctl publish lobby-1 '{"text":"hi"}'
//! rallyctl kick alice --reason cheating
//! rallyctl mute alice --minutes 10      # --off lifts it
//! rallyctl presence alice bob
//! ```
//!
//! Exit codes: 0 done; 1 the service refused or failed (its message is printed); 2 bad
//! usage.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(
    name = "rallyctl",
    version,
    about = "Operate a Rallypoint deployment through its services' ops APIs"
)]
struct Cli {
    /// The operator token (`ops.admin_token` of the services).
    #[arg(long, env = "RALLYPOINT_OPS__ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The server API token (`gateway.api_token`), for the commands that use a gateway's
    /// server API (broadcast, publish, kick, mute, presence).
    #[arg(long, env = "RALLYPOINT_GATEWAY__API_TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Each service's `/v1/stats` (queues and waits, servers and load, cache and outbox).
    Stats {
        /// Ops base URLs of the services to ask (matchmaker, server-pool, cache-warmer).
        #[arg(long = "ops", required = true, value_delimiter = ',')]
        ops: Vec<String>,
    },
    /// The whole deployment at a glance (`/v1/cluster`, what the dashboard shows): players
    /// per gateway, queues and waits, servers per region, cache and outbox.
    Cluster {
        /// Any service's ops base URL: every one answers for the whole cluster.
        #[arg(long, env = "RALLYCTL_OPS")]
        ops: String,
        /// Print the JSON as it came.
        #[arg(long)]
        json: bool,
    },
    /// A region's dead letters (results the cache-warmer set aside), or put them back on
    /// the outbox with --replay once the cause is fixed.
    DeadLetters {
        /// The region.
        #[arg(long)]
        region: String,
        /// Put them back on the results outbox to be stored again.
        #[arg(long)]
        replay: bool,
        /// A cache-warmer's ops base URL.
        #[arg(long, env = "RALLYCTL_WARMER")]
        warmer: String,
    },
    /// The game servers of every region: status, load, heartbeat.
    Servers {
        /// A server pool's ops base URL.
        #[arg(long, env = "RALLYCTL_POOL")]
        pool: String,
    },
    /// Drains a game server: no new matches; it leaves once its games end.
    Drain {
        /// The server's id.
        server: String,
        /// A server pool's ops base URL.
        #[arg(long, env = "RALLYCTL_POOL")]
        pool: String,
    },
    /// Invalidates cached game data and player profiles everywhere.
    Invalidate {
        /// A cache-warmer's ops base URL.
        #[arg(long, env = "RALLYCTL_WARMER")]
        warmer: String,
        /// A game-data kind to reload (none: every kind).
        #[arg(long)]
        dataset: Option<String>,
        /// Players whose profiles to reload (repeat, or a comma-separated list).
        #[arg(long = "player", value_delimiter = ',')]
        players: Vec<String>,
    },
    /// A player's session, ticket, live match and cached profile.
    Player {
        /// The player's id.
        id: String,
        /// A matchmaker's ops base URL.
        #[arg(long, env = "RALLYCTL_MATCHMAKER")]
        matchmaker: String,
    },
    /// A `notice` to every connected player, on every gateway (server API).
    Broadcast {
        /// The message: JSON, or else taken as a string.
        body: String,
        /// A gateway's server API base URL.
        #[arg(long, env = "RALLYCTL_API")]
        api: String,
    },
    /// A `room.message` from `server` to every member of a room (server API).
    Publish {
        /// The room.
        room: String,
        /// The message: JSON, or else taken as a string.
        body: String,
        /// A gateway's server API base URL.
        #[arg(long, env = "RALLYCTL_API")]
        api: String,
    },
    /// Disconnects a player (close 4005, after `kicked` with the reason; server API).
    Kick {
        /// The player's id.
        player: String,
        /// Why, as the player is told.
        #[arg(long)]
        reason: Option<String>,
        /// A gateway's server API base URL.
        #[arg(long, env = "RALLYCTL_API")]
        api: String,
    },
    /// Mutes a player's `room.send` and `whisper` for a while, or lifts it (server API).
    Mute {
        /// The player's id.
        player: String,
        /// For how long.
        #[arg(long, required_unless_present = "off")]
        minutes: Option<u64>,
        /// Lift the mute.
        #[arg(long, conflicts_with = "minutes")]
        off: bool,
        /// A gateway's server API base URL.
        #[arg(long, env = "RALLYCTL_API")]
        api: String,
    },
    /// Whether players are online, where, and when last seen (server API).
    Presence {
        /// The players' ids.
        #[arg(required = true)]
        players: Vec<String>,
        /// A gateway's server API base URL.
        #[arg(long, env = "RALLYCTL_API")]
        api: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rallyctl: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let api = Api {
        http: http.clone(),
        token: cli.admin_token.unwrap_or_default(),
        token_hint: "set RALLYPOINT_OPS__ADMIN_TOKEN or --admin-token to the services' ops.admin_token",
    };
    let server_api = Api {
        http,
        token: cli.api_token.unwrap_or_default(),
        token_hint: "set RALLYPOINT_GATEWAY__API_TOKEN or --api-token to the gateways' gateway.api_token",
    };
    match cli.command {
        Command::Stats { ops } => {
            for base in ops {
                let stats = api.get(&base, "/v1/stats").await?;
                println!("{}", serde_json::to_string_pretty(&stats)?);
            }
        }
        Command::Cluster { ops, json } => {
            let view = api.get(&ops, "/v1/cluster").await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                print_cluster(&view);
            }
        }
        Command::DeadLetters {
            region,
            replay,
            warmer,
        } => {
            if !region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                anyhow::bail!("{region:?} is not a region name");
            }
            if replay {
                let path = format!("/v1/results/dead/replay?region={region}");
                let reply = api.post(&warmer, &path, None).await?;
                println!(
                    "{region}: {} put back on the results outbox",
                    reply["replayed"]
                );
            } else {
                let path = format!("/v1/results/dead?region={region}");
                let listed = api.get(&warmer, &path).await?;
                println!("{region}: {} dead letters", listed["total"]);
                for entry in listed["entries"].as_array().into_iter().flatten() {
                    println!(
                        "  {}  {}",
                        entry["match"].as_str().unwrap_or("(unreadable)"),
                        entry["entry"].as_str().unwrap_or("")
                    );
                }
            }
        }
        Command::Servers { pool } => {
            let stats = api.get(&pool, "/v1/stats").await?;
            print_servers(&stats);
        }
        Command::Drain { server, pool } => {
            let reply = api
                .post(&pool, &format!("/v1/servers/{server}/drain"), None)
                .await?;
            let state = reply["state"].as_str().unwrap_or("?");
            println!("{server}: {state}");
        }
        Command::Invalidate {
            warmer,
            dataset,
            players,
        } => {
            let mut body = json!({});
            if let Some(dataset) = dataset {
                body["dataset"] = json!(dataset);
            }
            if !players.is_empty() {
                body["players"] = json!(players);
            }
            let reply = api
                .post(&warmer, "/v1/cache/invalidate", Some(body))
                .await?;
            println!("{}", serde_json::to_string_pretty(&reply)?);
        }
        Command::Player { id, matchmaker } => {
            let view = api.get(&matchmaker, &format!("/v1/players/{id}")).await?;
            println!("{}", serde_json::to_string_pretty(&view)?);
        }
        Command::Broadcast { body, api } => {
            let reply = server_api
                .post(&api, "/v1/broadcast", Some(json!({"body": message(&body)})))
                .await?;
            println!("sent to {} gateways", reply["gateways"]);
        }
        Command::Publish { room, body, api } => {
            let reply = server_api
                .post(
                    &api,
                    "/v1/publish",
                    Some(json!({"room": room, "body": message(&body)})),
                )
                .await?;
            println!(
                "{room}: sent to {} gateways with members",
                reply["gateways"]
            );
        }
        Command::Kick {
            player,
            reason,
            api,
        } => {
            let body = reason.map(|reason| json!({"reason": reason}));
            server_api
                .post(&api, &format!("/v1/players/{player}/disconnect"), body)
                .await?;
            println!("{player}: disconnected");
        }
        Command::Mute {
            player,
            minutes,
            off,
            api,
        } => {
            let path = format!("/v1/players/{player}/mute");
            match (off, minutes) {
                (false, Some(minutes)) => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64);
                    let until_ms = now.saturating_add(minutes.saturating_mul(60_000));
                    server_api
                        .post(&api, &path, Some(json!({"until_ms": until_ms})))
                        .await?;
                    println!("{player}: muted for {minutes} minutes");
                }
                _ => {
                    server_api.delete(&api, &path).await?;
                    println!("{player}: no longer muted");
                }
            }
        }
        Command::Presence { players, api } => {
            let reply = server_api
                .post(&api, "/v1/presence", Some(json!({"players": players})))
                .await?;
            for player in &players {
                let p = &reply["players"][player];
                match (p["online"].as_bool(), p["gateway"].as_str()) {
                    (Some(true), Some(gateway)) => println!("{player}: online on {gateway}"),
                    _ => match p["last_seen_ms"].as_u64() {
                        Some(seen) => println!("{player}: offline, last seen at {seen} ms"),
                        None => println!("{player}: offline"),
                    },
                }
            }
        }
    }
    Ok(())
}

/// One line per game server, by region.
fn print_cluster(view: &Value) {
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let gateways: Vec<String> = list(&view["gateways"])
        .iter()
        .map(|g| format!("{} {}", g["id"].as_str().unwrap_or("?"), g["connections"]))
        .collect();
    println!(
        "players online: {} ({})",
        view["players_online"],
        gateways.join(", ")
    );
    let missing: Vec<&str> = view["missing"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !missing.is_empty() {
        println!("MISSING (no live instance): {}", missing.join(", "));
    }
    let seconds = |ms: &Value| {
        ms.as_f64()
            .map_or_else(|| "-".to_owned(), |ms| format!("{:.1}s", ms / 1000.0))
    };
    println!(
        "\n{:<12} {:<8} {:>7} {:>8} {:>7} {:>7} {:>8}  held by",
        "queue", "region", "queued", "oldest", "p50", "p99", "matches"
    );
    for q in list(&view["queues"]) {
        println!(
            "{:<12} {:<8} {:>7} {:>8} {:>7} {:>7} {:>8}  {}",
            q["queue"].as_str().unwrap_or("?"),
            q["region"].as_str().unwrap_or("?"),
            q["queued"],
            seconds(&q["oldest_wait_ms"]),
            seconds(&q["wait_ms"]["p50"]),
            seconds(&q["wait_ms"]["p99"]),
            q["matches"],
            q["held_by"].as_str().unwrap_or("-"),
        );
    }
    println!(
        "\n{:<8} {:<24} {:>9} {:>8} {:>12} {:>14}",
        "region", "servers", "load", "pending", "allocations", "cancellations"
    );
    for r in list(&view["regions"]) {
        let servers: Vec<String> = r["servers_by_status"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        println!(
            "{:<8} {:<24} {:>9} {:>8} {:>12} {:>14}",
            r["region"].as_str().unwrap_or("?"),
            servers.join(", "),
            format!("{}/{}", r["capacity_used"], r["capacity"]),
            r["pending_matches"],
            r["allocations"],
            r["cancellations"],
        );
    }
    let hit_rate = view["cache"]["hit_rate"]
        .as_f64()
        .map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0));
    let outbox: Vec<String> = list(&view["outbox"])
        .iter()
        .map(|o| {
            format!(
                "{} {} (dead {})",
                o["region"].as_str().unwrap_or("?"),
                o["outbox"],
                o["dead_letters"]
            )
        })
        .collect();
    println!(
        "\ncache hit rate: {hit_rate}; results outbox: {}",
        outbox.join(", ")
    );
}

fn print_servers(stats: &Value) {
    println!(
        "{:<10} {:<40} {:<10} {:>9} {:>14}",
        "region", "server", "status", "games", "incarnation"
    );
    for region in stats["regions"].as_array().into_iter().flatten() {
        let name = region["region"].as_str().unwrap_or("?");
        for server in region["servers"].as_array().into_iter().flatten() {
            let load = format!(
                "{}/{}",
                server["active"].as_u64().unwrap_or(0),
                server["capacity"].as_u64().unwrap_or(0)
            );
            // A server restarted under the same id shows a new, higher incarnation.
            let incarnation = server["incarnation"]
                .as_u64()
                .map_or_else(|| "?".to_owned(), |n| n.to_string());
            println!(
                "{:<10} {:<40} {:<10} {:>9} {:>14}",
                name,
                server["id"].as_str().unwrap_or("?"),
                server["status"].as_str().unwrap_or("?"),
                load,
                incarnation
            );
        }
    }
}

/// The ops APIs, with the admin token and one way of turning refusals into errors.
struct Api {
    http: reqwest::Client,
    token: String,
    /// What to do about a 401.
    token_hint: &'static str,
}

/// A message body from the command line: JSON if it parses, else the text as a string.
fn message(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

impl Api {
    async fn get(&self, base: &str, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        self.send(self.http.get(&url), &url).await
    }

    async fn post(&self, base: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let mut request = self.http.post(&url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request, &url).await
    }

    async fn delete(&self, base: &str, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        self.send(self.http.delete(&url), &url).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &str) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| {
                format!("cannot reach {url}: is the service running, and is this its ops port?")
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["message"].as_str().unwrap_or("no message");
        if status.as_u16() == 401 {
            anyhow::bail!("{url}: {status}: {message} ({})", self.token_hint);
        }
        anyhow::bail!("{url}: {status}: {message}")
    }
}
