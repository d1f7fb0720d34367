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
//! - **The peer's address** on every request, as axum's `ConnectInfo<SocketAddr>`: the
//!   socket's peer, or behind a load balancer that sends PROXY protocol headers
//!   ([`ServeOptions::proxy`]), the client's address from the header; a connection
//!   without one, or from a peer the policy does not trust, is closed.
//! - `TCP_NODELAY` where asked (the gateway's small pushes), and a graceful stop: no
//!   new connections once `stop` fires, requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::proxy_protocol::{ProxyPolicy, read_header};

/// How a listener serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A connection whose request head is not complete this long after it opened (or
    /// after its previous response) is closed.
    pub header_read_timeout: Duration,
    /// Set `TCP_NODELAY` on accepted sockets.
    pub nodelay: bool,
    /// Connections come through a load balancer that starts each with a PROXY header
    /// (read within `header_read_timeout`). `None`: they do not.
    pub proxy: Option<Arc<ProxyPolicy>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            nodelay: false,
            proxy: None,
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
        let router = router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let deadline = options.header_read_timeout;
        let proxy = options.proxy.clone();
        tokio::spawn(async move {
            let mut socket = socket;
            // hyper's timer starts at the first byte: a socket that sends none is closed
            // here. (`peek` waits for a byte; `readable` may wake without one.)
            let mut first = [0_u8; 1];
            let first_byte = tokio::time::timeout(deadline, socket.peek(&mut first)).await;
            if !matches!(first_byte, Ok(Ok(1..))) {
                metrics::counter!("rallypoint_http_handshake_timeouts_total").increment(1);
                tracing::trace!(%peer, "closed a connection that sent nothing");
                return;
            }
            let client = match &proxy {
                None => peer,
                Some(policy) => match proxied_client(&mut socket, peer, policy, deadline).await {
                    Some(client) => client,
                    None => return,
                },
            };
            let service = router.map_request(move |mut request: axum::extract::Request| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(client));
                request
            });
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    service.clone().oneshot(request.map(axum::body::Body::new))
                },
            );
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

/// The client behind a load balancer's PROXY header, or `None` when the connection is to
/// be closed (a peer the policy does not trust, a missing or malformed header, or one not
/// complete within `deadline`).
async fn proxied_client(
    socket: &mut tokio::net::TcpStream,
    peer: SocketAddr,
    policy: &ProxyPolicy,
    deadline: Duration,
) -> Option<SocketAddr> {
    let refused = |reason: &'static str| {
        metrics::counter!("rallypoint_http_proxy_refused_total", "reason" => reason).increment(1);
    };
    if !policy.trusts(peer.ip()) {
        refused("untrusted_peer");
        tracing::debug!(%peer, "closed a connection from a peer outside trusted_proxies");
        return None;
    }
    match tokio::time::timeout(deadline, read_header(socket)).await {
        Ok(Ok(client)) => Some(client.unwrap_or(peer)),
        Ok(Err(err)) => {
            refused("bad_header");
            tracing::debug!(%peer, error = %err, "closed a connection without a valid PROXY header");
            None
        }
        Err(_) => {
            refused("timeout");
            None
        }
    }
}
