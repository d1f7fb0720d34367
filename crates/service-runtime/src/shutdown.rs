//! Graceful shutdown: SIGTERM or SIGINT starts a drain, bounded by a deadline.
//!
//! On the signal the instance turns unready (load balancers stop sending it traffic), the
//! service's shutdown token fires so it stops taking work and finishes what it holds,
//! and after the drain deadline whatever is left is abandoned: leases lapse and other
//! instances take over (Invariant 4 of docs/ARCHITECTURE.md).

use std::future::Future;

/// Starts listening for SIGTERM and SIGINT (Ctrl-C) at once, so a signal that arrives
/// while the service is still starting is not lost to the default handler; the returned
/// future resolves with the signal's name.
pub fn listen() -> impl Future<Output = &'static str> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match handlers {
                (Ok(mut term), Ok(mut int)) => tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                },
                _ => {
                    tracing::warn!("cannot listen for SIGTERM; stopping on Ctrl-C only");
                    ctrl_c().await
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        ctrl_c()
    }
}

async fn ctrl_c() -> &'static str {
    if let Err(err) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %err, "cannot listen for signals either");
        std::future::pending::<()>().await;
    }
    "SIGINT"
}
