//! A private Redis Cluster for one test: `redis-server` processes on free loopback ports
//! in a temporary folder, created with `redis-cli --cluster create`, killed on drop.
//!
//! For tests that fail over masters, migrate slots or stop the whole cluster, which
//! would disturb every other test on the shared cluster.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::wait::wait_until;

/// Why a private cluster could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "redis-server / redis-cli not found: install Debian's redis-server package (deploy/local/redis-cluster.sh does)"
    )]
    NotInstalled,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Setup(String),
}

struct Node {
    port: u16,
    child: Option<Child>,
}

/// A running private cluster.
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

impl std::fmt::Debug for PrivateCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateCluster")
            .field("ports", &self.ports())
            .finish()
    }
}

impl PrivateCluster {
    /// Starts `masters` masters with `replicas` replicas each, and waits until the cluster
    /// is healthy and every replica has synced.
    pub async fn start(masters: usize, replicas: usize) -> Result<Self, ClusterError> {
        let total = masters * (1 + replicas);
        let dir = tempfile::Builder::new().prefix("rp-cluster-").tempdir()?;
        let base = free_port_block(total)?;
        let mut cluster = Self {
            dir,
            nodes: Vec::new(),
        };
        for i in 0..total {
            let port = base + i as u16;
            cluster.nodes.push(Node { port, child: None });
            cluster.spawn_node(i)?;
        }
        for port in cluster.ports() {
            wait_until(
                &format!("redis-server on {port} to answer"),
                Duration::from_secs(10),
                || async move {
                    cli(port, &["PING"])
                        .await
                        .ok()
                        .filter(|r| r.trim() == "PONG")
                },
            )
            .await
            .map_err(ClusterError::Setup)?;
        }
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(cluster.ports().iter().map(|p| format!("127.0.0.1:{p}")));
        args.extend([
            "--cluster-replicas".into(),
            replicas.to_string(),
            "--cluster-yes".into(),
        ]);
        let output = Command::new("redis-cli")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .await?;
        if !output.status.success() {
            return Err(ClusterError::Setup(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&output.stdout)
            )));
        }
        cluster.wait_healthy(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(self.nodes[i].port.to_string())
    }

    fn spawn_node(&mut self, i: usize) -> Result<(), ClusterError> {
        let port = self.nodes[i].port;
        let dir = self.node_dir(i);
        std::fs::create_dir_all(&dir)?;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "1000",
                "--appendonly",
                "no",
                "--save",
                "",
                "--repl-diskless-sync-delay",
                "0",
                "--dir",
                &dir.to_string_lossy(),
                "--logfile",
                "redis.log",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    ClusterError::NotInstalled
                } else {
                    e.into()
                }
            })?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// Every node's port, in creation order (masters first).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Seed URLs of the masters as created, the way services are configured.
    pub fn seed_urls(&self) -> Vec<String> {
        self.ports()
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// Runs `redis-cli -p port args...` and returns its output.
    pub async fn cli(&self, port: u16, args: &[&str]) -> Result<String, ClusterError> {
        cli(port, args).await
    }

    /// Waits until every running node says `cluster_state:ok`, knows every node, and
    /// every replica's link to its master is up.
    pub async fn wait_healthy(&self, deadline: Duration) -> Result<(), ClusterError> {
        let total = self.nodes.len().to_string();
        let ports = self.ports();
        wait_until("the cluster to be healthy", deadline, || {
            let ports = ports.clone();
            let total = total.clone();
            async move {
                for port in ports {
                    let info = cli(port, &["CLUSTER", "INFO"]).await.ok()?;
                    let ok = info.contains("cluster_state:ok")
                        && info.contains(&format!("cluster_known_nodes:{total}"));
                    let replication = cli(port, &["INFO", "replication"]).await.ok()?;
                    let synced = replication.contains("role:master")
                        || replication.contains("master_link_status:up");
                    if !(ok && synced) {
                        return None;
                    }
                }
                Some(())
            }
        })
        .await
        .map_err(ClusterError::Setup)
    }

    /// The port of the master that owns `slot` (asked of the first live node).
    pub async fn master_of_slot(&self, slot: u16) -> Result<u16, ClusterError> {
        let nodes = self.nodes_table().await?;
        nodes
            .iter()
            .find(|n| n.is_master && n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
            .map(|n| n.port)
            .ok_or_else(|| ClusterError::Setup(format!("no master owns slot {slot}")))
    }

    /// The port of a replica of the master on `master_port`.
    pub async fn replica_of(&self, master_port: u16) -> Result<u16, ClusterError> {
        let nodes = self.nodes_table().await?;
        let master_id = nodes
            .iter()
            .find(|n| n.port == master_port)
            .map(|n| n.id.clone())
            .ok_or_else(|| ClusterError::Setup(format!("no node on {master_port}")))?;
        nodes
            .iter()
            .find(|n| n.master_id.as_deref() == Some(master_id.as_str()))
            .map(|n| n.port)
            .ok_or_else(|| ClusterError::Setup(format!("{master_port} has no replica")))
    }

    /// Fails over the master owning `slot` to its replica (`CLUSTER FAILOVER`) and waits
    /// until the replica owns the slot. Returns (old master, new master).
    pub async fn fail_over_slot(
        &self,
        slot: u16,
        deadline: Duration,
    ) -> Result<(u16, u16), ClusterError> {
        let master = self.master_of_slot(slot).await?;
        let replica = self.replica_of(master).await?;
        expect_ok(cli(replica, &["CLUSTER", "FAILOVER"]).await?)?;
        wait_until("the replica to be promoted", deadline, || async {
            (self.master_of_slot(slot).await.ok()? == replica).then_some(())
        })
        .await
        .map_err(ClusterError::Setup)?;
        Ok((master, replica))
    }

    /// The node id of the node on `port`.
    pub async fn node_id(&self, port: u16) -> Result<String, ClusterError> {
        Ok(cli(port, &["CLUSTER", "MYID"]).await?.trim().to_owned())
    }

    /// Ports of all masters. Each candidate is asked for its own role: right after a
    /// failover the node asked for the table may still list the demoted master as one.
    pub async fn masters(&self) -> Result<Vec<u16>, ClusterError> {
        let mut masters = Vec::new();
        for node in self.nodes_table().await? {
            if !node.is_master {
                continue;
            }
            let role = cli(node.port, &["ROLE"]).await?;
            if role.lines().next().map(str::trim) == Some("master") {
                masters.push(node.port);
            }
        }
        Ok(masters)
    }

    /// Moves `slot` (with no keys in it) from its master to the master on `to_port`,
    /// the way `redis-cli --cluster reshard` does: IMPORTING, MIGRATING, then NODE on
    /// every master.
    pub async fn migrate_empty_slot(&self, slot: u16, to_port: u16) -> Result<(), ClusterError> {
        let from_port = self.master_of_slot(slot).await?;
        let from_id = self.node_id(from_port).await?;
        let to_id = self.node_id(to_port).await?;
        let slot = slot.to_string();
        expect_ok(
            cli(
                to_port,
                &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id],
            )
            .await?,
        )?;
        expect_ok(
            cli(
                from_port,
                &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id],
            )
            .await?,
        )?;
        expect_ok(cli(to_port, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]).await?)?;
        expect_ok(cli(from_port, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]).await?)?;
        for master in self.masters().await? {
            if master != from_port && master != to_port {
                expect_ok(cli(master, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]).await?)?;
            }
        }
        Ok(())
    }

    /// SIGKILLs every node (their cluster config stays on disk for [`Self::restart`]).
    pub async fn kill_all(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _already_dead = child.kill().await;
            }
        }
    }

    /// The process id of the node on `port`, while it runs (to pause it with SIGSTOP).
    pub fn pid(&self, port: u16) -> Option<u32> {
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .and_then(|n| n.child.as_ref()?.id())
    }

    /// SIGKILLs the node on `port` (a crash: no cleanup, no failover handshake).
    pub async fn kill_node(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port == port)
            && let Some(mut child) = node.child.take()
        {
            let _already_dead = child.kill().await;
        }
    }

    /// Starts every node again with its saved cluster config and waits until healthy.
    pub async fn restart(&mut self) -> Result<(), ClusterError> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_none() {
                self.spawn_node(i)?;
            }
        }
        self.wait_healthy(Duration::from_secs(30)).await
    }

    async fn nodes_table(&self) -> Result<Vec<NodeLine>, ClusterError> {
        let mut last = None;
        for node in &self.nodes {
            if node.child.is_none() {
                continue;
            }
            match cli(node.port, &["CLUSTER", "NODES"]).await {
                Ok(text) => return Ok(text.lines().filter_map(NodeLine::parse).collect()),
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| ClusterError::Setup("no node is running".into())))
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                let _already_dead = child.start_kill();
            }
        }
    }
}

/// One line of `CLUSTER NODES`.
#[derive(Debug)]
struct NodeLine {
    id: String,
    port: u16,
    is_master: bool,
    master_id: Option<String>,
    slots: Vec<(u16, u16)>,
}

impl NodeLine {
    fn parse(line: &str) -> Option<Self> {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 8 {
            return None;
        }
        let port = parts[1]
            .split('@')
            .next()?
            .rsplit(':')
            .next()?
            .parse()
            .ok()?;
        let is_master = parts[2].contains("master") && !parts[2].contains("fail");
        let master_id = (parts[3] != "-").then(|| parts[3].to_owned());
        let slots = parts[8..]
            .iter()
            .filter(|s| !s.starts_with('['))
            .filter_map(|s| match s.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => s.parse().ok().map(|x| (x, x)),
            })
            .collect();
        Some(Self {
            id: parts[0].to_owned(),
            port,
            is_master,
            master_id,
            slots,
        })
    }
}

async fn cli(port: u16, args: &[&str]) -> Result<String, ClusterError> {
    let output = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ClusterError::NotInstalled
            } else {
                e.into()
            }
        })?;
    if !output.status.success() {
        return Err(ClusterError::Setup(format!(
            "redis-cli -p {port} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn expect_ok(reply: String) -> Result<(), ClusterError> {
    if reply.trim() == "OK" {
        Ok(())
    } else {
        Err(ClusterError::Setup(format!("expected OK, got {reply:?}")))
    }
}

fn free_port_block(n: usize) -> Result<u16, ClusterError> {
    crate::ports::free_block(n).map_err(ClusterError::Setup)
}

/// A single, non-cluster `redis-server` on a free loopback port, killed on drop: for
/// testing the `single` Redis mode.
#[derive(Debug)]
pub struct StandaloneRedis {
    _dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
}

impl StandaloneRedis {
    /// Starts the server and waits until it answers PING.
    pub async fn start() -> Result<Self, ClusterError> {
        let dir = tempfile::Builder::new().prefix("rp-redis-").tempdir()?;
        let port = free_port_block(1)?;
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    ClusterError::NotInstalled
                } else {
                    e.into()
                }
            })?;
        wait_until(
            &format!("redis-server on {port} to answer"),
            Duration::from_secs(10),
            || async move {
                cli(port, &["PING"])
                    .await
                    .ok()
                    .filter(|r| r.trim() == "PONG")
            },
        )
        .await
        .map_err(ClusterError::Setup)?;
        Ok(Self {
            _dir: dir,
            child,
            port,
        })
    }

    /// The URL services are configured with.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILLs the server.
    pub async fn kill(&mut self) {
        let _already_dead = self.child.kill().await;
    }
}
