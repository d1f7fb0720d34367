//! Graceful shutdown: SIGTERM or SIGINT starts a drain, bounded by a deadline.
//!
//! On the signal the instance turns unready (load balancers stop sending it traffic), the
//! service's shutdown token fires so it stops taking work and finishes what it holds,
//! and after the drain deadline whatever is left is abandoned: leases lapse and other
//! instances take over (DESIGN.md: killing an instance loses nothing).

/// Waits for SIGTERM or SIGINT (Ctrl-C). Returns the signal's name.
pub async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                tracing::warn!("cannot listen for SIGTERM; stopping on Ctrl-C only");
                if let Err(err) = tokio::signal::ctrl_c().await {
                    tracing::error!(error = %err, "cannot listen for signals either");
                }
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for signals either");
        }
        "Ctrl-C"
    }
}
