//! Matchmaking benchmark: how fast matches form, and how long the join that completes a
//! match waits for `match.found`, with a large queue already waiting.
//!
//! Runs a matchmaker and a server pool in-process against the cluster in
//! `RALLYPOINT_REDIS__URLS`, with game servers registered. It first queues `--queued`
//! tickets that never match (ratings far apart), then feeds `--pairs` pairs of close
//! ratings at `--rate` pairs per second: the second join of each pair completes a match,
//! and the time from that join's reply to the `match.found` on the player's inbox is
//! recorded. Bounded: it stops after the pairs are matched or `--deadline-s`.
//!
//! ```sh
//! make bench            # or, against a running stack:
//! cargo run --release -p server-pool --example matchmaking_bench -- --queued 10000
//! ```
//! A benchmark, not a test: numbers go in notes and `bench/`, never in assertions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fred::prelude::{ClientLike, HashesInterface, KeysInterface};
use futures::StreamExt;
use matchmaker::Matchmaker;
use queues::{JoinOutcome, Tickets};
use server_pool::ServerPool;

#[path = "support/mod.rs"]
mod support;

struct Args {
    queued: usize,
    pairs: usize,
    rate: f64,
    deadline: Duration,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        queued: 10_000,
        pairs: 2_000,
        rate: 500.0,
        deadline: Duration::from_secs(120),
    };
    for (flag, value) in support::flags()? {
        match flag.as_str() {
            "--queued" => args.queued = value.parse()?,
            "--pairs" => args.pairs = value.parse()?,
            "--rate" => args.rate = value.parse()?,
            "--deadline-s" => args.deadline = Duration::from_secs(value.parse()?),
            other => anyhow::bail!(
                "unknown flag {other} (--queued N --pairs N --rate PAIRS_PER_S --deadline-s S)"
            ),
        }
    }
    Ok(args)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let ns = format!("bench-mm-{}", std::process::id());
    let keys = core_keys::Keys::new(&ns)?;
    let mm_config = support::config::<Matchmaker>(&ns, &[])?;
    let mm_tick_ms = mm_config
        .section::<matchmaker::config::MatchmakerSection>("matchmaker")
        .map(|c| c.tick_ms)?;
    let redis = service_runtime::redis::build_client(&mm_config.common.redis)?;
    redis.wait_for_connect().await?;
    let tickets = Tickets::new(
        keys.clone(),
        redis.clone(),
        queues::JoinPolicy::default_rating(1500.0),
    );
    let online = |player: String| {
        let (redis, keys) = (redis.clone(), keys.clone());
        async move {
            let session = keys.player(&player).session();
            let _: i64 = redis
                .hset(&session, [("gateway", "bench"), ("conn", "bench")])
                .await?;
            let _: bool = redis.pexpire(&session, 600_000, None).await?;
            anyhow::Ok(())
        }
    };

    // 1. The queue that is already waiting: ratings 10,000 apart never match.
    let started = Instant::now();
    let mut background = futures::stream::iter(0..args.queued)
        .map(|i| {
            let (tickets, redis, keys, online) =
                (tickets.clone(), redis.clone(), keys.clone(), &online);
            async move {
                let player = format!("bg{i}");
                online(player.clone()).await?;
                let _: i64 = redis
                    .hset(
                        keys.player(&player).profile(),
                        [("rating", (10_000.0 * i as f64).to_string())],
                    )
                    .await?;
                match tickets.join(&player, "duel", "eu").await? {
                    JoinOutcome::Joined(_) => anyhow::Ok(()),
                    other => anyhow::bail!("{player}: {other:?}"),
                }
            }
        })
        .buffer_unordered(256);
    let mut queued = 0;
    while let Some(joined) = background.next().await {
        joined?;
        queued += 1;
        if queued % 10_000 == 0 {
            eprintln!("{queued} background tickets queued");
        }
    }
    eprintln!(
        "{queued} background tickets queued in {:.1?}",
        started.elapsed()
    );

    // 2. The services, and game servers with room for every pair.
    let matchmaker = service_runtime::start::<Matchmaker>(mm_config).await?;
    let pool =
        service_runtime::start::<ServerPool>(support::config::<ServerPool>(&ns, &[])?).await?;
    let api = format!(
        "http://{}",
        pool.endpoint("http")
            .ok_or_else(|| anyhow::anyhow!("no pool endpoint"))?
    );
    let http = reqwest::Client::new();
    for s in 0..args.pairs.div_ceil(1000).max(1) {
        let response = http
            .post(format!("{api}/v1/servers"))
            .bearer_auth(support::POOL_TOKEN)
            .json(&serde_json::json!({"id": format!("gs{s}"), "region": "eu", "address": format!("gs{s}:7777"), "capacity": 1000}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().as_u16() == 201,
            "register: {}",
            response.status()
        );
    }
    // Let both take their leases and load the queue.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 3. Inboxes of the completing players, timestamped when match.found arrives.
    let subscriptions = service_runtime::subscriptions::Subscriptions::start(
        &redis,
        service_runtime::publish::Publisher::new(redis.clone()),
        keys.clone(),
        "bench",
        service_runtime::subscriptions::SubscriptionConfig::from_redis(
            &support::config::<Matchmaker>(&ns, &[])?.common.redis,
        ),
        tokio_util::sync::CancellationToken::new(),
    );
    let found: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let mut inboxes = Vec::with_capacity(args.pairs);
    for i in 0..args.pairs {
        let found = found.clone();
        inboxes.push(
            subscriptions
                .subscribe_with(
                    &keys.player(&format!("b{i}")).inbox_channel(),
                    move |payload| {
                        let is_found = proto::decode_event(&payload, proto::MAX_EVENT_BYTES)
                            .is_ok_and(|e| {
                                matches!(
                                    e.event,
                                    proto::Event::Deliver {
                                        message: proto::ServerMessage::MatchFound { .. },
                                        ..
                                    }
                                )
                            });
                        if is_found {
                            found
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .entry(i)
                                .or_insert_with(Instant::now);
                        }
                    },
                )
                .await?,
        );
    }
    for i in 0..args.pairs {
        online(format!("a{i}")).await?;
        online(format!("b{i}")).await?;
    }

    // 4. Pairs at the fixed rate; the second join completes each match.
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let feed_started = Instant::now();
    let mut completed: HashMap<usize, Instant> = HashMap::with_capacity(args.pairs);
    let mut ticker = tokio::time::interval(interval);
    for i in 0..args.pairs {
        ticker.tick().await;
        let rating = 1_000_000_000.0 + 10_000.0 * i as f64;
        for p in [format!("a{i}"), format!("b{i}")] {
            let _: i64 = redis
                .hset(keys.player(&p).profile(), [("rating", rating.to_string())])
                .await?;
        }
        tickets.join(&format!("a{i}"), "duel", "eu").await?;
        tickets.join(&format!("b{i}"), "duel", "eu").await?;
        completed.insert(i, Instant::now());
    }
    let fed_in = feed_started.elapsed();
    let deadline = Instant::now() + args.deadline;
    while found
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len()
        < args.pairs
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let found = found
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut latencies: Vec<Duration> = found
        .iter()
        .filter_map(|(i, at)| {
            completed
                .get(i)
                .map(|joined| at.saturating_duration_since(*joined))
        })
        .collect();
    latencies.sort();
    let last = found.values().max().copied().unwrap_or(feed_started);
    let span = last.saturating_duration_since(feed_started).as_secs_f64();
    println!(
        "| {} queued | {} pairs at {}/s (fed in {:.1}s) | {} matched | {:.0} matches/s | join->match.found p50 {:.1?} p99 {:.1?} max {:.1?} |",
        args.queued,
        args.pairs,
        args.rate,
        fed_in.as_secs_f64(),
        found.len(),
        found.len() as f64 / span.max(0.001),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    // The matchmaker's own view: how long its ticks took while this queue waited.
    let metrics = http
        .get(format!("http://{}/metrics", matchmaker.ops_addr))
        .send()
        .await?
        .text()
        .await?;
    let quantile = |q: &str| {
        metrics
            .lines()
            .find(|line| {
                line.starts_with("rallypoint_matchmaker_tick_seconds{")
                    && line.contains("queue=\"duel\"")
                    && line.contains("region=\"eu\"")
                    && line.contains(&format!("quantile=\"{q}\""))
            })
            .and_then(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .map_or("?".to_owned(), |s| format!("{:.1}ms", s * 1000.0))
    };
    println!(
        "| duel/eu tick (period {} ms) | p50 {} | p99 {} | max {} |",
        mm_tick_ms,
        quantile("0.5"),
        quantile("0.99"),
        quantile("1"),
    );
    drop(inboxes);
    pool.stop().await?;
    matchmaker.stop().await?;
    remove_namespace(&redis, &ns).await
}

/// Deletes every key the benchmark wrote (its own namespace), so runs do not pile up
/// queues of 100,000 tickets in the developer's cluster.
async fn remove_namespace(redis: &fred::prelude::Client, ns: &str) -> anyhow::Result<()> {
    let mut keys = std::pin::pin!(redis.scan_cluster_buffered(format!("{ns}:*"), Some(1000), None));
    let mut found = Vec::new();
    while let Some(key) = keys.next().await {
        found.push(key?);
    }
    eprintln!("removing the benchmark's {} keys", found.len());
    futures::stream::iter(found)
        .map(|key| async move { redis.unlink::<i64, _>(key).await })
        .buffer_unordered(256)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<i64>, _>>()?;
    let _: () = redis.quit().await?;
    Ok(())
}
