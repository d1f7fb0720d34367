//! A PostgreSQL of a test's own, on a free loopback port, that the test may stop and start
//! again (to prove what the services do while the database is down). It is the project's
//! own `deploy/local/postgres.sh` pointed at a temporary run directory, so it is set up
//! exactly like the shared one; it is stopped and its data deleted on drop.

use std::path::PathBuf;

use tokio::process::Command;

/// A private PostgreSQL server.
#[derive(Debug)]
pub struct PrivatePostgres {
    port: u16,
    dir: tempfile::TempDir,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/local/postgres.sh")
}

impl PrivatePostgres {
    /// initdb and start a server on a free port.
    pub async fn start() -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("rp-postgres-")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?;
        // The server runs as the `postgres` user when the tests run as root: it must be
        // able to enter the directory.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }
        // Below the ephemeral range: the port is bound again by `restart`.
        let port = crate::ports::free_port()?;
        let pg = Self { port, dir };
        pg.run("start").await?;
        Ok(pg)
    }

    /// `postgres://rallypoint@127.0.0.1:<port>/rallypoint`.
    pub fn url(&self) -> String {
        format!("postgres://rallypoint@127.0.0.1:{}/rallypoint", self.port)
    }

    /// Stops the server (its data stays).
    pub async fn stop(&self) -> Result<(), String> {
        self.run("stop").await
    }

    /// Starts it again on the same port and data.
    pub async fn restart(&self) -> Result<(), String> {
        self.run("start").await
    }

    async fn run(&self, command: &str) -> Result<(), String> {
        let output = Command::new("bash")
            .arg(script())
            .arg(command)
            .env("RUN_DIR", self.dir.path())
            .env("PG_PORT", self.port.to_string())
            .output()
            .await
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "postgres.sh {command} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _best_effort = std::process::Command::new("bash")
            .arg(script())
            .args(["stop", "--purge"])
            .env("RUN_DIR", self.dir.path())
            .env("PG_PORT", self.port.to_string())
            .output();
    }
}
