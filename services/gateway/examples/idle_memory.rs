//! Measures what an idle client connection costs a gateway: starts the real
//! `rallypoint-gateway` binary against the cluster in `RALLYPOINT_REDIS__URLS`, opens N
//! guest connections that each read `welcome` and then stay silent, and reports the
//! gateway's resident memory per connection.
//!
//! ```sh
//! make up
//! cargo build --release --bin rallypoint-gateway --example idle_memory
//! target/release/examples/idle_memory 5000
//! ```
//! A benchmark, not a test: numbers go in notes and `make bench`, never in assertions.

use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncBufReadExt;

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let connections: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(2000);
    let exe = std::env::current_exe()?;
    let binary = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("rallypoint-gateway"))
        .ok_or_else(|| anyhow::anyhow!("cannot find the target folder"))?;
    let urls = std::env::var("RALLYPOINT_REDIS__URLS").map_err(|_| {
        anyhow::anyhow!(
            "set RALLYPOINT_REDIS__URLS (`make up` then `eval \"$(deploy/local/env.sh)\"`)"
        )
    })?;
    let namespace = format!("bench-idle-{}", std::process::id());
    let mut child = tokio::process::Command::new(&binary)
        .env("RALLYPOINT_REDIS__URLS", urls)
        .env("RALLYPOINT_REDIS__NAMESPACE", &namespace)
        .env("RALLYPOINT_GATEWAY__ALLOW_GUESTS", "true")
        .env("RALLYPOINT_GATEWAY__LISTEN", "127.0.0.1:0")
        .env("RALLYPOINT_GATEWAY__IDLE_TIMEOUT_MS", "600000")
        .env("RALLYPOINT_GATEWAY__HEARTBEAT_MS", "10000")
        .env("RALLYPOINT_OPS__LISTEN", "127.0.0.1:0")
        .env("RALLYPOINT_LOG__FORMAT", "json")
        .env(
            "RALLYPOINT_LOG__LEVEL",
            "warn,rallypoint_gateway=info,service_runtime=info",
        )
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", binary.display()))?;
    let pid = child.id().ok_or_else(|| anyhow::anyhow!("no pid"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut ws = None;
    let mut ops = None;
    while let Some(line) = lines.next_line().await? {
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if entry["message"] == "listening" && entry["endpoint"] == "ws" {
            ws = entry["addr"].as_str().map(str::to_owned);
        }
        if entry["message"] == "started" {
            ops = entry["ops"].as_str().map(str::to_owned);
            break;
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let ws = ws.ok_or_else(|| anyhow::anyhow!("the gateway logged no ws address"))?;
    let ops = ops.ok_or_else(|| anyhow::anyhow!("the gateway logged no ops address"))?;
    let ready = format!("http://{ops}/health/ready");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !reqwest::get(&ready)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the gateway did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let connect = |i: usize| {
        let url = format!("ws://{ws}/ws?guest=idle-{i}");
        async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
            socket
                .next()
                .await
                .ok_or_else(|| anyhow::anyhow!("closed before welcome"))??;
            anyhow::Ok(socket)
        }
    };
    // Warm up: the first connections allocate the runtime's and Redis client's buffers.
    let mut held = Vec::with_capacity(connections + 50);
    for i in 0..50 {
        held.push(connect(i).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid)?;
    let started = std::time::Instant::now();
    let mut stream = futures::stream::iter(50..connections + 50)
        .map(connect)
        .buffer_unordered(64);
    while let Some(socket) = stream.next().await {
        held.push(socket?);
        if held.len() % 1000 == 0 {
            eprintln!("{} connections open", held.len());
        }
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid)?;
    let per_connection = (after.saturating_sub(before) * 1024) as f64 / connections as f64;
    println!(
        "{connections} idle connections opened in {opened_in:.1?}; gateway RSS {before} KiB -> {after} KiB: {per_connection:.0} bytes per connection"
    );
    drop(held);
    child.start_kill()?;
    Ok(())
}
