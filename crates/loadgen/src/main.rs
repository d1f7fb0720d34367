//! `rallypoint-loadgen`: drives the local stack, or any deployment, with simulated players
//! (real WebSocket clients on the client SDK) and simulated game servers, and reports what
//! it measured: rates, latency percentiles, memory, and anything lost, duplicated or
//! broken.
//!
//! ```sh
//! make up
//! cargo run --release -p loadgen -- fanout --rooms 20 --members 50 --rate 2000 --duration 10
//! cargo run --release -p loadgen -- --json whisper --rate 5000
//! ```
//!
//! Every run is bounded in time (`--duration`, plus a bounded drain). The exit code is 2
//! when a run saw an invariant broken (a message lost or duplicated, a player matched
//! twice), 1 when it could not run.
//!
//! Layout: [`cli`] (flags), [`clients`] (connecting many players), [`figures`] (the report,
//! as a table or JSON), [`latency`] (percentiles), [`procstat`] (memory and CPU of local
//! processes), [`pace`] (sending at a fixed rate), [`scenarios`] (one module each),
//! [`socketio`] (the peer's protocol, for `make bench-peer`).

mod cli;
mod clients;
mod figures;
mod latency;
mod pace;
mod procstat;
mod scenarios;
mod socketio;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Scenario};

/// The services' allocator: the load generator shares the machine with what it measures
/// in `make bench`, so what it spends (a frame per delivery, decoded and dropped) is kept
/// as low as theirs.
#[global_allocator]
static ALLOCATOR: service_runtime::Allocator = service_runtime::ALLOCATOR;

/// Locks a std mutex, taking the data even if a panicking holder poisoned it (counters
/// and latency histograms stay usable).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOADGEN_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match service_runtime::service::runtime_builder(cli.common.threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("rallypoint-loadgen: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match &cli.scenario {
            Scenario::Connections(args) => scenarios::connections::run(&cli.common, args).await,
            Scenario::ConnectionsWorker(args) => {
                scenarios::connections::worker(&cli.common, args).await
            }
            Scenario::Fanout(args) => scenarios::fanout::run(&cli.common, args).await,
            Scenario::Recovery(args) => scenarios::fanout::recovery(&cli.common, args).await,
            Scenario::Whisper(args) => scenarios::whisper::run(&cli.common, args).await,
            Scenario::Broadcast(args) => scenarios::broadcast::run(&cli.common, args).await,
            Scenario::Matchmaking(args) => scenarios::matchmaking::run(&cli.common, args).await,
            Scenario::Abuse(args) => scenarios::abuse::run(&cli.common, args).await,
            Scenario::Parties(args) => scenarios::parties::run(&cli.common, args).await,
        }
    });
    // Spawned connection tasks must not keep the process alive past the report.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(report)) => {
            if cli.common.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_table());
            }
            if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(err) => {
            eprintln!("rallypoint-loadgen: {err:#}");
            ExitCode::FAILURE
        }
    }
}
