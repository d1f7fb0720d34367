//! Black-box test helpers: the real service binaries as child processes.
//!
//! The binaries are built by `make test` (`cargo build --bins`) before the tests run;
//! they are found next to the test executable in the target folder. (`cargo nextest run`
//! alone does not rebuild them: run `cargo build --bins` after changing a service.)
//!
//! - [`ServiceProcess`]: one service binary as a child process.
//! - [`stack`]: the whole platform as processes, and players on the client SDK.
//! - [`browser`]: a headless Chromium over WebDriver, for the operator dashboard.
//! - [`ratings`]: the Elo ratings a stored match implies, computed by hand.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::Command;

pub mod browser;
pub mod ratings;
pub mod stack;

/// The four services, by binary name.
pub const SERVICES: [&str; 4] = ["gateway", "matchmaker", "server-pool", "cache-warmer"];

/// Path of `rallypoint-<service>` in the target folder.
///
/// # Panics
/// When the binary has not been built: run `make test` (or `cargo build --bins` first).
pub fn binary(service: &str) -> PathBuf {
    let path = testkit::binary_beside_test(service).expect("the test executable's folder");
    assert!(
        path.is_file(),
        "{} is missing: run `make test`, or `cargo build --bins` before the tests",
        path.display()
    );
    path
}

/// A service binary running as a child process.
#[derive(Debug)]
pub struct ServiceProcess {
    pub service: String,
    pub ops_addr: String,
    child: testkit::ServiceChild,
}

impl ServiceProcess {
    /// Starts `rallypoint-<service>` with `env` (on top of an ops port chosen by the OS and
    /// the gateway's required listener and secret) and waits for its `started` log line.
    pub async fn start(service: &str, env: &[(&str, String)]) -> Result<Self, String> {
        let mut all: Vec<(String, String)> = vec![
            // The test cluster (a test that means another sets `redis.urls` itself).
            (
                testkit::env_var("redis.urls"),
                testkit::redis_urls().join(","),
            ),
            (testkit::env_var("ops.listen"), "127.0.0.1:0".to_owned()),
            // The gateway's own listener and its required secret (other services ignore
            // the section).
            (testkit::env_var("gateway.listen"), "127.0.0.1:0".to_owned()),
            (
                testkit::env_var("gateway.jwt_secret"),
                "lifecycle-test-secret-0123456789".to_owned(),
            ),
            // The cache-warmer's PostgreSQL.
            (testkit::env_var("database.url"), testkit::database_url()),
            // Likewise the server pool's.
            (testkit::env_var("pool.listen"), "127.0.0.1:0".to_owned()),
            (
                testkit::env_var("pool.token"),
                "lifecycle-test-pool-token-0123".to_owned(),
            ),
            (
                testkit::env_var("pool.join_secret"),
                "lifecycle-test-join-secret-0123456789".to_owned(),
            ),
        ];
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let child = testkit::ServiceChild::start(&binary(service), &all).await?;
        Ok(Self {
            service: service.to_owned(),
            ops_addr: child.ops.clone(),
            child,
        })
    }

    /// The instance id the service announced.
    /// [`ServiceProcess::start`], then waits (bounded) until it answers ready.
    ///
    /// # Panics
    /// When it does not start or become ready in 20 s.
    pub async fn start_ready(service: &str, env: &[(&str, String)]) -> Self {
        let started = Self::start(service, env).await.expect("started");
        started
            .wait_ready_status(200, Duration::from_secs(20))
            .await
            .expect("ready");
        started
    }

    pub fn instance(&self) -> &str {
        &self.child.instance
    }

    /// The OS process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.pid()
    }

    /// The address of one of the service's own listeners (`ws`, `http`).
    pub fn endpoint(&self, name: &str) -> Option<&str> {
        self.child.endpoints.get(name).map(String::as_str)
    }

    /// `GET /health/ready`: the status code and body.
    pub async fn ready(&self) -> Result<(u16, String), String> {
        let response = reqwest::get(format!("http://{}/health/ready", self.ops_addr))
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        Ok((status, response.text().await.unwrap_or_default()))
    }

    /// Waits until `/health/ready` answers `status`.
    pub async fn wait_ready_status(
        &self,
        status: u16,
        deadline: Duration,
    ) -> Result<String, String> {
        testkit::wait_until(
            &format!("{} /health/ready to answer {status}", self.service),
            deadline,
            || async {
                self.ready()
                    .await
                    .ok()
                    .filter(|(s, _)| *s == status)
                    .map(|(_, body)| body)
            },
        )
        .await
    }

    /// SIGKILL: the process dies at once, holding whatever it held.
    pub async fn kill(self) {
        self.child.kill().await;
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub async fn terminate(self, deadline: Duration) -> Result<ExitStatus, String> {
        Ok(self.terminate_with_log(deadline).await?.0)
    }

    /// [`ServiceProcess::terminate`], and every line it logged.
    pub async fn terminate_with_log(
        self,
        deadline: Duration,
    ) -> Result<(ExitStatus, Vec<String>), String> {
        let pid = self.child.pid().ok_or("already exited")?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).map_err(|e| e.to_string())?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
            .map_err(|e| e.to_string())?;
        self.child
            .wait_with_log(deadline)
            .await
            .map_err(|e| format!("{}: {e} after SIGTERM", self.service))
    }
}

/// Runs `rallypoint-<service>` to completion with `env` and returns (exit code, stderr).
pub async fn run_to_exit(
    service: &str,
    env: &[(&str, &str)],
) -> Result<(Option<i32>, String), String> {
    let (code, _stdout, stderr) = run_with_args(service, &[], env).await?;
    Ok((code, stderr))
}

/// Runs `rallypoint-<service> args...` with exactly `env` until it exits (bounded): its
/// exit code, stdout and stderr.
pub async fn run_with_args(
    service: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(Option<i32>, String, String), String> {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(binary(service))
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .map_err(|_| format!("{service} did not exit"))?
    .map_err(|e| e.to_string())?;
    Ok((
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// A cluster client on the shared test Redis, for a test to look at or change a key.
pub async fn redis() -> fred::prelude::Client {
    use fred::prelude::ClientLike;
    let url = testkit::redis_urls()[0].replacen("redis://", "redis-cluster://", 1);
    let client = fred::prelude::Builder::from_config(
        fred::prelude::Config::from_url(&url).expect("a redis url"),
    )
    .build()
    .expect("a client");
    client.init().await.expect("redis");
    client
}
