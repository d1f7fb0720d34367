//! How fast one cache-warmer commits results: fills a region's outbox with N duel results
//! (among P players, so rows contend as in real play), starts a cache-warmer in-process,
//! and times the drain. Run against the local stack (`make bench` does):
//!
//! ```sh
//! cargo run --release -p cache-warmer --example results_bench -- 5000 1000
//! ```

use std::time::{Duration, Instant};

use cache_warmer::CacheWarmer;
use fred::prelude::{ClientLike, ListInterface};
use service_runtime::{LoadedConfig, Service};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _provider = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let results: usize = args.next().map_or(Ok(5000), |a| a.parse())?;
    let players: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let ns = format!("bench-results-{}", std::process::id());
    let env: Vec<(String, String)> = vec![
        ("RALLYPOINT_REDIS__NAMESPACE".into(), ns.clone()),
        ("RALLYPOINT_OPS__LISTEN".into(), "127.0.0.1:0".into()),
        ("RALLYPOINT_LOG__LEVEL".into(), "warn".into()),
    ];
    let mut env_map: std::collections::HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("RALLYPOINT_") || k == "DATABASE_URL")
        .collect();
    env_map.extend(env);
    if let Ok(url) = std::env::var("DATABASE_URL") {
        env_map.insert("RALLYPOINT_DATABASE__URL".into(), url);
    }
    let config = LoadedConfig::load_with_env(CacheWarmer::DEFAULTS, None, Some(env_map))?;
    let redis = service_runtime::redis::build_client(&config.common.redis)?;
    redis.wait_for_connect().await?;
    let keys = config.common.redis.keys()?;
    let outbox = keys.pool("eu").results_outbox();
    let mut batch = Vec::with_capacity(results);
    for n in 0..results {
        let a = format!("bp{}-{ns}", n % players);
        let b = format!("bp{}-{ns}", (n * 7 + 1) % players);
        let b = if a == b { format!("bq{n}-{ns}") } else { b };
        batch.push(serde_json::to_string(&matches::ResultEntry {
            match_id: format!("bm{n}-{ns}"),
            region: "eu".into(),
            server: "gs".into(),
            started_ms: None,
            ended_ms: 1_700_000_000_000 + n as u64,
            placements: vec![vec![a], vec![b]],
            stats: Some(serde_json::json!({"score": [n, n / 2]})),
            record: None,
        })?);
    }
    for chunk in batch.chunks(1000) {
        let _: u64 = redis.rpush(&outbox, chunk.to_vec()).await?;
    }
    println!(
        "{results} results among {players} players queued in the outbox; starting a cache-warmer"
    );
    let started = Instant::now();
    let warmer = service_runtime::start::<CacheWarmer>(config).await?;
    loop {
        let left: u64 = redis.llen(&outbox).await?;
        if left == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("gave up after 10 minutes with {left} results left");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    println!(
        "committed {results} results in {:.2} s: {:.0} results/s (match, 2 participants, 2 ratings and 2 cached profiles each; batch 64)",
        took.as_secs_f64(),
        results as f64 / took.as_secs_f64()
    );
    warmer.stop().await?;
    Ok(())
}
