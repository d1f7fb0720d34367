//! Memory and CPU of local processes (the gateways under test), read from `/proc`.

use std::time::Instant;

/// Resident memory of `pid` in KiB.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| {
        anyhow::anyhow!("cannot read /proc/{pid}/status (is --gateway-pid a local gateway?): {e}")
    })?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))
}

/// CPU time (user + system) of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the state field.
    let utime: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
    let stime: u64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(utime + stime)
}

/// Clock ticks per second (USER_HZ): 100 on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time of `pid` in ns: the scheduler's run time of each of its threads
/// (`/proc/<pid>/task/*/schedstat`, exact), or its clock ticks where schedstat is missing
/// (10 ms steps: too coarse for a few seconds of a lightly loaded Redis node).
fn cpu_ns(pid: u32) -> anyhow::Result<u64> {
    let from_schedstat = std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()
        .and_then(|tasks| {
            let mut total = 0_u64;
            for task in tasks.flatten() {
                let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
                total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
            }
            Some(total)
        });
    match from_schedstat {
        Some(ns) => Ok(ns),
        None => Ok((cpu_ticks(pid)? as f64 * 1e9 / TICKS_PER_SECOND) as u64),
    }
}

/// A CPU usage measurement from `start` to [`CpuMeter::percent`].
#[derive(Debug)]
pub struct CpuMeter {
    pid: u32,
    ns: u64,
    at: Instant,
}

impl CpuMeter {
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            ns: cpu_ns(pid)?,
            at: Instant::now(),
        })
    }

    /// CPU used since the start, in percent of one core.
    pub fn percent(&self) -> anyhow::Result<f64> {
        let elapsed = self.at.elapsed().as_secs_f64().max(1e-3);
        Ok(100.0 * self.seconds()? / elapsed)
    }

    /// CPU seconds used since the start.
    pub fn seconds(&self) -> anyhow::Result<f64> {
        Ok(cpu_ns(self.pid)?.saturating_sub(self.ns) as f64 / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(rss_kib(pid).expect("rss") > 0);
        let meter = CpuMeter::start(pid).expect("cpu");
        // Busy until the kernel has counted at least one tick of CPU (ticks are 10 ms),
        // for at most 5 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut x = 0_u64;
        let mut percent = 0.0;
        while percent <= 0.0 && std::time::Instant::now() < deadline {
            for i in 0..1_000_000_u64 {
                x = x.wrapping_add(i * i);
            }
            std::hint::black_box(x);
            percent = meter.percent().expect("percent");
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        assert!(
            percent > 0.0 && percent <= 100.0 * cores + 1.0,
            "a busy thread used {percent}% of a core"
        );
        assert!(rss_kib(u32::MAX).is_err());
    }
}

/// CPU meters on the `--gateway-pid` processes (and the `--redis-pid` ones) for the
/// length of a run.
#[derive(Debug)]
pub struct Gateways {
    meters: Vec<CpuMeter>,
    redis: Vec<CpuMeter>,
    started: Instant,
    /// The same moment on the wall clock, for the report's measured window.
    started_at: std::time::SystemTime,
}

impl Gateways {
    pub fn start(pids: &[u32]) -> anyhow::Result<Self> {
        Self::with_redis(pids, &[])
    }

    pub fn with_redis(pids: &[u32], redis: &[u32]) -> anyhow::Result<Self> {
        let start = |pids: &[u32]| {
            pids.iter()
                .map(|&pid| CpuMeter::start(pid))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            meters: start(pids)?,
            redis: start(redis)?,
            started: Instant::now(),
            started_at: std::time::SystemTime::now(),
        })
    }

    /// Time since the meters started.
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// CPU seconds of the gateways and of Redis since the start (`None` when not
    /// metered).
    pub fn seconds(&self) -> (Option<f64>, Option<f64>) {
        let sum = |meters: &[CpuMeter]| {
            (!meters.is_empty()).then(|| meters.iter().filter_map(|m| m.seconds().ok()).sum())
        };
        (sum(&self.meters), sum(&self.redis))
    }

    /// Adds each gateway's CPU since the start and its memory now, and marks the span
    /// from the start until now as the report's measured window.
    pub fn report(&self, report: &mut crate::figures::Report) {
        report.window = Some(crate::figures::Window::since(self.started_at));
        for meter in &self.meters {
            if let Ok(percent) = meter.percent() {
                report.figure(format!("gateway {} CPU", meter.pid), percent, "% of a core");
            }
            if let Ok(rss) = rss_kib(meter.pid) {
                report.figure(
                    format!("gateway {} RSS", meter.pid),
                    rss as f64 / 1024.0,
                    "MiB",
                );
            }
        }
    }
}
