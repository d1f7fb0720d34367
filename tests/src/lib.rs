//! Black-box test helpers: the real service binaries as child processes.
//!
//! The binaries are built by `make test` (`cargo build --bins`) before the tests run;
//! they are found next to the test executable in the target folder.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The four services, by binary name.
pub const SERVICES: [&str; 4] = ["gateway", "matchmaker", "server-pool", "cache-warmer"];

/// Path of `rallypoint-<service>` in the target folder.
///
/// # Panics
/// When the binary has not been built: run `make test` (or `cargo build --bins` first).
pub fn binary(service: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/<test> -> target/<profile>/rallypoint-<service>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir.join(format!("rallypoint-{service}"));
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
    child: Child,
}

impl ServiceProcess {
    /// Starts `rallypoint-<service>` with `env` (on top of a JSON log format and an ops
    /// port chosen by the OS) and waits for its "started" log line, which names the ops
    /// address.
    pub async fn start(service: &str, env: &[(&str, String)]) -> Result<Self, String> {
        let mut child = Command::new(binary(service))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RALLYPOINT_LOG__FORMAT", "json")
            .env("RALLYPOINT_OPS__LISTEN", "127.0.0.1:0")
            // The gateway's own listener and its required secret (other services ignore
            // the section).
            .env("RALLYPOINT_GATEWAY__LISTEN", "127.0.0.1:0")
            .env(
                "RALLYPOINT_GATEWAY__JWT_SECRET",
                "lifecycle-test-secret-0123456789",
            )
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {service}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ops_addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if entry["message"] == "started" {
                    return entry["ops"].as_str().map(str::to_owned);
                }
            }
            None
        })
        .await
        .map_err(|_| format!("{service} did not log `started` within 30 s"))?
        .ok_or_else(|| format!("{service} exited before it started"))?;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            service: service.to_owned(),
            ops_addr,
            child,
        })
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

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub async fn terminate(mut self, deadline: Duration) -> Result<ExitStatus, String> {
        let pid = self.child.id().ok_or("already exited")?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).map_err(|e| e.to_string())?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
            .map_err(|e| e.to_string())?;
        tokio::time::timeout(deadline, self.child.wait())
            .await
            .map_err(|_| {
                format!(
                    "{} did not exit within {deadline:?} of SIGTERM",
                    self.service
                )
            })?
            .map_err(|e| e.to_string())
    }
}

/// Runs `rallypoint-<service>` to completion with `env` and returns (exit code, stderr).
pub async fn run_to_exit(
    service: &str,
    env: &[(&str, &str)],
) -> Result<(Option<i32>, String), String> {
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(binary(service))
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
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}
