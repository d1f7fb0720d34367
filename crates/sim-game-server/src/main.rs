//! `rallypoint-sim-server`: see the library for what it does.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = sim_game_server::Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("rallypoint-sim-server: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(sim_game_server::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rallypoint-sim-server: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
