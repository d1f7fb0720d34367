//! The HTTP server of the gateway's client listener and every ops endpoint (the pool's
//! game-server API still runs `axum::serve`: see its `run`): axum's router on hyper, with
//! what `axum::serve` leaves out.
//!
//! - **A deadline for the request head.** hyper's header-read timeout applies only with a
//!   timer, which `axum::serve` never gives it, and only from the first byte: a client
//!   that opens a socket and sends its request slowly, partly or never held the socket
//!   (and its memory) for ever. Here a socket that sends nothing within
//!   [`ServeOptions::header_read_timeout`] is closed, and so is one whose request head is
//!   not complete within that long of its first byte, so thousands of half-open
//!   handshakes cost nothing once they lapse.
//! - **The peer's address** on every request, as axum's `ConnectInfo<SocketAddr>`.
//! - `TCP_NODELAY` where asked (the gateway's small pushes), and a graceful stop: no
//!   new connections once `stop` fires, requests in flight finish.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// How a listener serves.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// A connection whose request head is not complete this long after it opened (or
    /// after its previous response) is closed.
    pub header_read_timeout: Duration,
    /// Set `TCP_NODELAY` on accepted sockets.
    pub nodelay: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            nodelay: false,
        }
    }
}

/// Serves `router` on `listener` until `stop`, then waits for requests in flight (an
/// upgraded WebSocket is no longer a request: its own task carries it).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let builder = builder.http1_only();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors (or a connection reset before accept):
                    // the listener itself is fine; pause so a full table can drain.
                    tracing::warn!(error = %err, "cannot accept a connection; pausing 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        if options.nodelay
            && let Err(err) = socket.set_nodelay(true)
        {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY on a socket");
        }
        let service = router
            .clone()
            .map_request(move |mut request: axum::extract::Request| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            });
        let service =
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                service.clone().oneshot(request.map(axum::body::Body::new))
            });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let deadline = options.header_read_timeout;
        tokio::spawn(async move {
            // hyper's timer starts at the first byte: a socket that sends none is closed
            // here. (`peek` waits for a byte; `readable` may wake without one.)
            let mut first = [0_u8; 1];
            let first_byte = tokio::time::timeout(deadline, socket.peek(&mut first)).await;
            if !matches!(first_byte, Ok(Ok(1..))) {
                metrics::counter!("rallypoint_http_handshake_timeouts_total").increment(1);
                tracing::trace!(%peer, "closed a connection that sent nothing");
                return;
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(socket), service);
            if let Err(err) = watcher.watch(connection).await {
                tracing::trace!(error = %err, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
