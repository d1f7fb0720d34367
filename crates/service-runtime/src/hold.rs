//! Hold points: named places just before a fenced write where a test can stop one step of
//! a running service, pause the whole process there (SIGSTOP) past its lease, and prove
//! that the write is refused when it resumes (docs/ARCHITECTURE.md, "How we test"). A
//! pause at a random moment cannot show this: a resumed process renews (and learns it
//! lost the lease) before its next write.
//!
//! Inert unless the process was started with `RPTEST_HOLD_DIR` set (not a `RALLYPOINT_`
//! variable: those are config): then the hold point `name` waits while the file
//! `<dir>/<name>` exists, with `<dir>/<name>.held` present meanwhile so the test knows the
//! step is held there. Unset, a hold point costs one read of a value set once per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable naming the hold points' directory.
pub const HOLD_DIR: &str = "RPTEST_HOLD_DIR";

fn dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| std::env::var_os(HOLD_DIR).map(PathBuf::from))
        .as_deref()
}

/// Waits here while the test holds `name` (see the module doc); returns at once otherwise.
pub async fn point(name: &str) {
    let Some(dir) = dir() else {
        return;
    };
    let gate = dir.join(name);
    if !gate.exists() {
        return;
    }
    let held = dir.join(format!("{name}.held"));
    if let Err(err) = std::fs::write(&held, b"") {
        tracing::warn!(hold_point = name, error = %err, "cannot mark the hold point held");
    }
    tracing::warn!(hold_point = name, "held at a test hold point");
    while gate.exists() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _gone = std::fs::remove_file(&held);
}
