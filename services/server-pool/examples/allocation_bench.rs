//! Allocation benchmark: how fast one server-pool instance gives waiting matches a game
//! server, and the CPU it spends per allocation, with nothing else in the way.
//!
//! Against the cluster in `RALLYPOINT_REDIS__URLS`: registers `--servers` game servers of
//! `--capacity` slots through a first pool instance, hands `--matches` matches over to
//! the region (as the matchmaker does) while no pool runs, then starts a pool instance and
//! times it until every match is allocated and announced. Reports allocations per second
//! and this process's CPU per allocation (the pool runs in-process; `make bench` also
//! reports Redis's CPU). Bounded by `--deadline-s`.
//!
//! ```sh
//! make bench            # or, against a running stack:
//! cargo run --release -p server-pool --example allocation_bench -- --matches 20000
//! ```
//! A benchmark, not a test: numbers go in notes and `bench/`, never in assertions.

use std::time::{Duration, Instant};

use fred::prelude::{ClientLike, SortedSetsInterface};
use futures::StreamExt;
use queues::{MatchRecord, MatchedTicket};
use server_pool::ServerPool;
use service_runtime::{LoadedConfig, RunningService};

#[path = "support/mod.rs"]
mod support;

struct Args {
    matches: usize,
    servers: usize,
    capacity: u32,
    deadline: Duration,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        matches: 20_000,
        servers: 20,
        capacity: 1000,
        deadline: Duration::from_secs(120),
    };
    for (flag, value) in support::flags()? {
        match flag.as_str() {
            "--matches" => args.matches = value.parse()?,
            "--servers" => args.servers = value.parse()?,
            "--capacity" => args.capacity = value.parse()?,
            "--deadline-s" => args.deadline = Duration::from_secs(value.parse()?),
            other => anyhow::bail!(
                "unknown flag {other} (--matches N --servers N --capacity N --deadline-s S)"
            ),
        }
    }
    anyhow::ensure!(
        args.matches <= args.servers * args.capacity as usize,
        "--matches must fit in --servers x --capacity"
    );
    Ok(args)
}

fn config(ns: &str) -> anyhow::Result<LoadedConfig> {
    support::config::<ServerPool>(
        ns,
        &[
            // Servers registered before the timed part stay live throughout it.
            ("RALLYPOINT_POOL__HEARTBEAT_TTL_MS", "600000"),
            ("RALLYPOINT_POOL__ALLOCATE_TIMEOUT_MS", "600000"),
        ],
    )
}

async fn start(ns: &str) -> anyhow::Result<RunningService> {
    service_runtime::start::<ServerPool>(config(ns)?).await
}

/// CPU time this process has used (user + system).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the
    // 13th, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let ns = format!("abench{}", std::process::id());
    let config = config(&ns)?;
    let redis = service_runtime::redis::build_client(&config.common.redis)?;
    redis.wait_for_connect().await?;
    let keys = core_keys::Keys::new(&ns)?;

    // 1. Game servers, registered through a first instance that then stops.
    let registrar = start(&ns).await?;
    let api = format!(
        "http://{}",
        registrar
            .endpoint("http")
            .ok_or_else(|| anyhow::anyhow!("no pool endpoint"))?
    );
    let http = reqwest::Client::new();
    for s in 0..args.servers {
        let response = http
            .post(format!("{api}/v1/servers"))
            .bearer_auth(support::POOL_TOKEN)
            .json(&serde_json::json!({"id": format!("gs{s}"), "region": "eu", "address": format!("gs{s}:7777"), "capacity": args.capacity}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().as_u16() == 201,
            "register: {}",
            response.status()
        );
    }
    registrar.stop().await?;

    // 2. The matches, handed over while no pool runs.
    let matches = matches::Matches::new(
        keys.clone(),
        redis.clone(),
        service_runtime::publish::Publisher::new(redis.clone()),
    );
    let handed = Instant::now();
    let now = service_runtime::clock::now_ms();
    futures::stream::iter(0..args.matches)
        .map(|i| {
            let matches = matches.clone();
            async move {
                let ticket = |side: &str| MatchedTicket {
                    ticket: format!("t{side}{i}"),
                    player: format!("p{side}{i}"),
                    rating: 1500.0,
                    enqueued_ms: now,
                    ticket_rating: None,
                };
                let record = MatchRecord {
                    match_id: format!("m{i}"),
                    queue: "duel".to_owned(),
                    region: "eu".to_owned(),
                    formed_ms: now,
                    teams: vec![vec![ticket("a")], vec![ticket("b")]],
                    trace: None,
                    fill: None,
                    backfilled: Vec::new(),
                };
                matches.hand_over(&record, Duration::from_secs(600)).await
            }
        })
        .buffer_unordered(128)
        .for_each(|done| async move {
            if let Err(err) = done {
                eprintln!("a hand-over failed: {err}");
            }
        })
        .await;
    eprintln!(
        "{} matches handed over in {:.1?}",
        args.matches,
        handed.elapsed()
    );

    // 3. One pool instance allocates them all.
    let cpu_before = cpu_time();
    let started = Instant::now();
    let pool = start(&ns).await?;
    let region = keys.pool("eu");
    let deadline = started + args.deadline;
    loop {
        let pending: u64 = redis.zcard(region.pending()).await?;
        let to_announce: u64 = redis.zcard(region.announce()).await?;
        if pending == 0 && to_announce == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{pending} still pending after {:?}",
            args.deadline
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    pool.stop().await?;
    let rate = args.matches as f64 / took.as_secs_f64();
    println!(
        "| {} matches, {} servers | allocated and announced in {took:.2?} | {rate:.0} allocations/s | this process (pool) CPU {:.1} µs per allocation |",
        args.matches,
        args.servers,
        cpu.as_secs_f64() * 1e6 / args.matches as f64
    );
    Ok(())
}
