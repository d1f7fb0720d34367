//! `connections`: opens N idle sessions spread over the gateways and holds them, then
//! reports what they cost the gateways (resident memory per connection, CPU while
//! connecting and while holding) and checks that every one is still alive (answers a
//! `ping`) at the end.
//!
//! A process may hold a limited number of file descriptors, so the sockets are opened by
//! worker processes (this binary again, `connections-worker`), `--per-process` each. A
//! worker reports on its stdout: `opened <n>` as it goes, `ready` when all are open,
//! `alive <n>` after its stdin closes (the parent's signal to stop), then closes its
//! connections and exits.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use indicatif::ProgressBar;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::cli::{Common, ConnectionsArgs, WorkerArgs};
use crate::clients::{bar, close_all, connect_all};
use crate::figures::Report;
use crate::procstat::{CpuMeter, rss_kib};

/// What one worker told us.
#[derive(Debug, Default)]
struct WorkerState {
    opened: AtomicU64,
    ready: AtomicU64,
    alive: AtomicU64,
}

pub async fn run(common: &Common, args: &ConnectionsArgs) -> anyhow::Result<Option<Report>> {
    anyhow::ensure!(args.count > 0, "--count must be at least 1");
    anyhow::ensure!(args.per_process > 0, "--per-process must be at least 1");
    let gateways = common.urls.len().max(1);
    let baseline: Vec<(u32, u64)> = common
        .gateway_pids
        .iter()
        .map(|&pid| rss_kib(pid).map(|rss| (pid, rss)))
        .collect::<Result<_, _>>()?;
    let connect_cpu: Vec<CpuMeter> = common
        .gateway_pids
        .iter()
        .map(|&pid| CpuMeter::start(pid))
        .collect::<Result<_, _>>()?;

    let run = common.run_id();
    let state = Arc::new(WorkerState::default());
    let mut workers = Vec::new();
    let mut first = 0;
    while first < args.count {
        let count = args.per_process.min(args.count - first);
        workers.push(spawn_worker(common, &run, first, count, state.clone())?);
        first += count;
    }
    let worker_count = workers.len() as u64;
    let progress = bar(args.count as u64, "opening connections");
    let started = Instant::now();
    loop {
        progress.set_position(state.opened.load(Ordering::Relaxed));
        if state.ready.load(Ordering::Relaxed) == worker_count {
            break;
        }
        for worker in &mut workers {
            if let Some(status) = worker.child.try_wait()? {
                anyhow::bail!(
                    "a connections worker stopped early ({status}); run it with LOADGEN_LOG=debug to see why"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_time = started.elapsed();
    progress.finish();
    let connect_cpu: Vec<f64> = connect_cpu
        .iter()
        .filter_map(|m| m.percent().ok())
        .collect();

    let holding = ProgressBar::new(args.hold);
    holding.set_style(bar(0, "").style());
    holding.set_message("holding");
    let hold_cpu: Vec<CpuMeter> = common
        .gateway_pids
        .iter()
        .map(|&pid| CpuMeter::start(pid))
        .collect::<Result<_, _>>()?;
    for _ in 0..args.hold {
        tokio::time::sleep(Duration::from_secs(1)).await;
        holding.inc(1);
    }
    holding.finish();
    let held: Vec<(u32, u64)> = common
        .gateway_pids
        .iter()
        .map(|&pid| rss_kib(pid).map(|rss| (pid, rss)))
        .collect::<Result<_, _>>()?;
    let hold_cpu: Vec<f64> = hold_cpu.iter().filter_map(|m| m.percent().ok()).collect();

    // Closing stdin tells each worker to check its connections and stop.
    let mut outputs = Vec::new();
    for worker in workers {
        let Worker {
            mut child,
            stdin,
            reader,
        } = worker;
        drop(stdin);
        outputs.push(async move {
            tokio::time::timeout(Duration::from_secs(60), async {
                let status = child.wait().await;
                // Its last report (`alive`) is read before the count is.
                let _read_to_the_end = reader.await;
                status
            })
            .await
        });
    }
    for waited in futures::future::join_all(outputs).await {
        match waited {
            Ok(Ok(status)) if status.success() => {}
            Ok(Ok(status)) => anyhow::bail!("a connections worker failed ({status})"),
            Ok(Err(err)) => return Err(err.into()),
            Err(_) => anyhow::bail!("a connections worker did not stop within 60 s"),
        }
    }

    let mut report = Report::new("connections", args);
    report.figure("connections opened", args.count as f64, "");
    report.figure("worker processes", worker_count as f64, "");
    report.figure(
        "connect rate",
        args.count as f64 / connect_time.as_secs_f64().max(1e-3),
        "conn/s",
    );
    let alive = state.alive.load(Ordering::Relaxed);
    report.figure("alive after the hold (answered a ping)", alive as f64, "");
    if alive < args.count as u64 {
        report.problem(format!(
            "{} connections dropped while idle",
            args.count as u64 - alive
        ));
    }
    for (k, ((pid, before), (_, after))) in baseline.iter().zip(&held).enumerate() {
        // Players go to the gateways in turn: gateway k got every gateways-th player.
        let on_this = (args.count + gateways - 1 - k % gateways) / gateways;
        report.figure(
            format!("gateway {pid} RSS before"),
            *before as f64 / 1024.0,
            "MiB",
        );
        report.figure(
            format!("gateway {pid} RSS holding {on_this}"),
            *after as f64 / 1024.0,
            "MiB",
        );
        report.figure(
            format!("gateway {pid} RSS per connection"),
            after.saturating_sub(*before) as f64 / on_this.max(1) as f64,
            "KiB",
        );
        if let Some(cpu) = connect_cpu.get(k) {
            report.figure(
                format!("gateway {pid} CPU while connecting"),
                *cpu,
                "% of a core",
            );
        }
        if let Some(cpu) = hold_cpu.get(k) {
            report.figure(
                format!("gateway {pid} CPU while holding"),
                *cpu,
                "% of a core",
            );
        }
    }
    if common.gateway_pids.is_empty() {
        report.note("no --gateway-pid given: gateway memory and CPU not measured");
    }
    Ok(Some(report))
}

/// Starts a worker for players `first..first+count`; its stdout lines update `state`.
fn spawn_worker(
    common: &Common,
    run: &str,
    first: usize,
    count: usize,
    state: Arc<WorkerState>,
) -> anyhow::Result<Worker> {
    let exe = std::env::current_exe().context("cannot find this program to start workers")?;
    let mut command = Command::new(exe);
    command
        .arg("--url")
        .arg(common.urls.join(","))
        .arg("--source-ips")
        .arg(common.source_ips.to_string())
        .arg("--connect-concurrency")
        .arg(common.connect_concurrency.to_string())
        .arg("--run-id")
        .arg(run)
        .arg("--threads")
        .arg(common.threads.to_string());
    if common.msgpack {
        command.arg("--msgpack");
    }
    if common.protocol == crate::cli::Protocol::SocketIo {
        command.arg("--protocol").arg("socketio");
    }
    if let Some(secret) = &common.jwt_secret {
        command.env("LOADGEN_JWT_SECRET", secret);
    }
    command
        .arg("connections-worker")
        .arg("--count")
        .arg(count.to_string())
        .arg("--first")
        .arg(first.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .context("cannot start a connections worker")?;
    let stdout = child.stdout.take().context("worker stdout")?;
    let stdin = child.stdin.take().context("worker stdin")?;
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        let mut opened_before = 0;
        while let Ok(Some(line)) = lines.next_line().await {
            let (word, number) = line.split_once(' ').unwrap_or((line.as_str(), "0"));
            let number: u64 = number.trim().parse().unwrap_or(0);
            match word {
                "opened" => {
                    state
                        .opened
                        .fetch_add(number.saturating_sub(opened_before), Ordering::Relaxed);
                    opened_before = opened_before.max(number);
                }
                "ready" => {
                    state.ready.fetch_add(1, Ordering::Relaxed);
                }
                "alive" => {
                    state.alive.fetch_add(number, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    });
    Ok(Worker {
        child,
        stdin,
        reader,
    })
}

/// A running worker process: its stdin (closed to stop it) and the task reading its
/// reports.
struct Worker {
    child: Child,
    stdin: tokio::process::ChildStdin,
    reader: tokio::task::JoinHandle<()>,
}

/// One worker: opens its connections, reports, holds them until stdin closes, checks
/// them, closes them.
pub async fn worker(common: &Common, args: &WorkerArgs) -> anyhow::Result<Option<Report>> {
    let run = common.run_id();
    let gateways = common.urls.len().max(1);
    let ids = (args.first..args.first + args.count)
        .map(|i| (format!("{run}-c{i}"), i % gateways))
        .collect();
    let progress = ProgressBar::hidden();
    let reporter = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut stdout = tokio::io::stdout();
            loop {
                let line = format!("opened {}\n", progress.position());
                if stdout.write_all(line.as_bytes()).await.is_err() {
                    return;
                }
                let _ = stdout.flush().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let players = connect_all(common, ids, args.first, progress.clone()).await?;
    reporter.abort();
    let mut stdout = tokio::io::stdout();
    stdout
        .write_all(format!("opened {}\nready\n", players.len()).as_bytes())
        .await?;
    stdout.flush().await?;
    // Hold until the parent closes our stdin.
    let mut stdin = tokio::io::stdin();
    let mut sink = [0_u8; 64];
    while stdin.read(&mut sink).await.unwrap_or(0) > 0 {}
    let alive = futures::stream::iter(players.iter().map(|p| p.client.ping()))
        .buffer_unordered(512)
        .filter(|pinged| futures::future::ready(pinged.is_ok()))
        .count()
        .await;
    stdout
        .write_all(format!("alive {alive}\n").as_bytes())
        .await?;
    stdout.flush().await?;
    close_all(&players).await;
    Ok(None)
}
