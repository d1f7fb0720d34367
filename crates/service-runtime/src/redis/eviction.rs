//! Redis must not evict: the platform keeps state with a TTL (leases, match records,
//! live-match markers) that an eviction would drop silently, so a full cluster must refuse
//! writes instead (`maxmemory-policy noeviction`; ElastiCache's default, `volatile-lru`,
//! evicts exactly those keys). At start each service reads every master's policy
//! (`INFO memory`: `CONFIG` is disabled on ElastiCache) and, if one may evict, says so in
//! a log line and in its readiness detail (degraded, still serving).

use std::time::Duration;

use fred::prelude::{Client, ClientLike, ClusterInterface};
use fred::types::InfoKind;
use tokio_util::sync::CancellationToken;

use crate::readiness::Readiness;

/// The readiness detail's name for this check.
const CHECK: &str = "redis_eviction";

/// The masters whose `maxmemory_policy` is not `noeviction`, as `host:port=policy`.
pub async fn evicting_masters(redis: &Client) -> Result<Vec<String>, fred::error::Error> {
    let masters = match redis.cached_cluster_state() {
        Some(state) => state.unique_primary_nodes(),
        None => Vec::new(),
    };
    if redis.is_clustered() && masters.is_empty() {
        return Err(fred::error::Error::new(
            fred::error::ErrorKind::Cluster,
            "the cluster's layout is not known yet",
        ));
    }
    let mut evicting = Vec::new();
    if masters.is_empty() {
        let info: String = redis.info(Some(InfoKind::Memory)).await?;
        if let Some(policy) = policy(&info).filter(|p| *p != "noeviction") {
            evicting.push(format!("redis={policy}"));
        }
        return Ok(evicting);
    }
    for master in masters {
        let info: String = redis
            .with_cluster_node(master.clone())
            .info(Some(InfoKind::Memory))
            .await?;
        if let Some(policy) = policy(&info).filter(|p| *p != "noeviction") {
            evicting.push(format!("{}:{}={policy}", master.host, master.port));
        }
    }
    Ok(evicting)
}

/// The `maxmemory_policy` line of `INFO memory`.
fn policy(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("maxmemory_policy:"))
}

/// Checks the masters' eviction policy once Redis answers (retrying until it does, or
/// until `stop`), warning and marking the instance degraded if any may evict.
pub fn spawn_check(redis: Client, readiness: Readiness, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut pause = Duration::from_secs(1);
        loop {
            match evicting_masters(&redis).await {
                Ok(evicting) if evicting.is_empty() => {
                    readiness.set_degraded(CHECK, None);
                    return;
                }
                Ok(evicting) => {
                    let detail = format!(
                        "Redis may evict keys ({}): set maxmemory-policy noeviction, or leases and match records can vanish under memory pressure",
                        evicting.join(", ")
                    );
                    tracing::warn!(masters = %evicting.join(", "), "{detail}");
                    readiness.set_degraded(CHECK, Some(detail));
                    return;
                }
                Err(err) => {
                    tracing::debug!(error = %err, "cannot read Redis's eviction policy yet; retrying")
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(30));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_policy_line() {
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory_policy:volatile-lru\r\n";
        assert_eq!(policy(info), Some("volatile-lru"));
        assert_eq!(policy("# Memory\r\n"), None);
    }
}
