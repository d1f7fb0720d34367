//! Running a service under test: its settings as `RALLYPOINT_` environment variables (the
//! shared test cluster, a namespace, quick timings, overrides by dotted key), and the real
//! binary as a child process that tests can SIGKILL.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// The environment variable of a dotted config key: `gateway.listen` ->
/// `RALLYPOINT_GATEWAY__LISTEN`.
pub fn env_var(key: &str) -> String {
    format!("RALLYPOINT_{}", key.to_uppercase().replace('.', "__"))
}

/// Settings for a service on the shared test cluster in namespace `ns`: `defaults` (dotted
/// keys), then `overrides` on top, as environment variables.
pub fn service_env(
    ns: &str,
    defaults: &[(&str, &str)],
    overrides: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        (env_var("redis.urls"), crate::redis_urls().join(",")),
        (env_var("redis.namespace"), ns.to_owned()),
        (env_var("ops.listen"), "127.0.0.1:0".to_owned()),
    ];
    for (key, value) in defaults.iter().chain(overrides) {
        let var = env_var(key);
        env.retain(|(k, _)| *k != var);
        env.push((var, (*value).to_owned()));
    }
    env
}

/// A service binary running as a child process, started with JSON logs.
#[derive(Debug)]
pub struct ServiceChild {
    /// The instance id it announced.
    pub instance: String,
    /// Its ops address (health, metrics, stats).
    pub ops: String,
    /// Its own listeners by name (`ws` for the gateway), from its `listening` log lines.
    pub endpoints: HashMap<String, String>,
    child: tokio::process::Child,
    /// Its executable's name, to label the log tail.
    name: String,
    /// Its last log lines: printed if the test fails while it runs, since a CI log shows
    /// only what a failed test wrote.
    log_tail: Arc<Mutex<VecDeque<String>>>,
    /// The task reading its output, which ends when the process has exited.
    reader: Option<tokio::task::JoinHandle<()>>,
}

/// How many of a service's last log lines are kept (for [`ServiceChild::wait_with_log`]).
const LOG_TAIL_LINES: usize = 20_000;

/// How many of them a failed test prints.
const LOG_LINES_PRINTED: usize = 400;

fn keep_line(tail: &Mutex<VecDeque<String>>, line: String) {
    let mut tail = tail
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if tail.len() == LOG_TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line);
}

impl ServiceChild {
    /// Starts `binary` with exactly `env` (plus `PATH` and JSON logs) and waits for its
    /// `started` log line.
    pub async fn start(binary: &Path, env: &[(String, String)]) -> Result<Self, String> {
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(env_var("log.format"), "json")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut endpoints = HashMap::new();
        let log_tail = Arc::new(Mutex::new(VecDeque::new()));
        let started = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                keep_line(&log_tail, line.clone());
                let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if entry["message"] == "listening"
                    && let (Some(name), Some(addr)) =
                        (entry["endpoint"].as_str(), entry["addr"].as_str())
                {
                    endpoints.insert(name.to_owned(), addr.to_owned());
                }
                if entry["message"] == "started" {
                    return Some((
                        entry["instance"].as_str().unwrap_or_default().to_owned(),
                        entry["ops"].as_str().unwrap_or_default().to_owned(),
                    ));
                }
            }
            None
        })
        .await
        .map_err(|_| format!("{} did not log `started` within 30 s", binary.display()))?
        .ok_or_else(|| format!("{} exited before it started", binary.display()))?;
        // Keep draining stdout so the child never blocks on a full pipe.
        let tail = Arc::clone(&log_tail);
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep_line(&tail, line);
            }
        });
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            instance: started.0,
            ops: started.1,
            endpoints,
            child,
            name,
            log_tail,
            reader: Some(reader),
        })
    }

    /// The OS process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL: no drain, no cleanup; waits until it is gone.
    pub async fn kill(mut self) {
        if self.child.start_kill().is_ok() {
            let _exit_status = self.child.wait().await;
        }
    }

    /// Waits (bounded) for the process to exit by itself, e.g. after a SIGTERM.
    pub async fn wait(self, deadline: Duration) -> Result<std::process::ExitStatus, String> {
        Ok(self.wait_with_log(deadline).await?.0)
    }

    /// [`ServiceChild::wait`], then everything it wrote to stdout (its log, up to the last
    /// 20,000 lines), read to the end.
    pub async fn wait_with_log(
        mut self,
        deadline: Duration,
    ) -> Result<(std::process::ExitStatus, Vec<String>), String> {
        let status = tokio::time::timeout(deadline, self.child.wait())
            .await
            .map_err(|_| format!("did not exit within {deadline:?}"))?
            .map_err(|e| e.to_string())?;
        if let Some(reader) = self.reader.take() {
            tokio::time::timeout(deadline, reader)
                .await
                .map_err(|_| "its output did not end after it exited".to_owned())?
                .map_err(|e| e.to_string())?;
        }
        let lines = self
            .log_tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        Ok((status, lines))
    }
}

impl Drop for ServiceChild {
    /// A test failing while the service runs prints the service's last log lines.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let tail = self
            .log_tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let skipped = tail.len().saturating_sub(LOG_LINES_PRINTED);
        eprintln!(
            "---- last {} log lines of {} (instance {}) ----",
            tail.len() - skipped,
            self.name,
            self.instance
        );
        for line in tail.iter().skip(skipped) {
            eprintln!("{line}");
        }
    }
}

/// The path of `rallypoint-<service>` in the target folder beside the running test.
pub fn binary_beside_test(service: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test> -> target/<profile>/rallypoint-<service>
    Some(
        exe.parent()?
            .parent()?
            .join(format!("rallypoint-{service}")),
    )
}

/// `GET http://<ops>/v1/stats` with the admin token: the operator's JSON view of a service.
pub async fn operator_stats(ops: std::net::SocketAddr, admin_token: &str) -> serde_json::Value {
    operator_get(ops, "/v1/stats", admin_token).await
}

/// `GET http://<ops><path>` with the admin token, as JSON.
///
/// # Panics
/// When the ops port does not answer with JSON.
pub async fn operator_get(
    ops: impl std::fmt::Display,
    path: &str,
    admin_token: &str,
) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("http://{ops}{path}"))
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap_or_else(|err| panic!("the ops port answers {path}: {err}"))
        .json()
        .await
        .unwrap_or_else(|err| panic!("{path} is JSON: {err}"))
}

/// The text of `http://<ops>/metrics`, when it answers.
pub async fn metrics_text(ops: impl std::fmt::Display) -> Option<String> {
    reqwest::get(format!("http://{ops}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()
}

/// The value of the series `series` (name and labels exactly as rendered, e.g.
/// `rallypoint_pool_pending{region="eu"}`) in a `/metrics` text.
pub fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}
