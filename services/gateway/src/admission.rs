//! Who may open a connection, before the upgrade: a cap on the sockets this gateway holds
//! (`gateway.max_connections`, `503` past it) and a connect rate per source address
//! (`gateway.connects_per_ip_per_second` and `gateway.connects_per_ip_burst`, a token
//! bucket per address, `429` past it). Both are local to the instance: they protect this
//! process, whatever the rest of the fleet sees.
//!
//! The source address is the socket's peer (behind a load balancer sending PROXY protocol
//! headers, `gateway.proxy_protocol`, the client's address from the header: see
//! `service_runtime::proxy_protocol`), or, behind one that says who the client is in a
//! header, the last address in `gateway.client_ip_header` (the one the balancer appended;
//! earlier ones are the client's own word), believed only from `gateway.trusted_proxies`
//! when those are set.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use axum::http::HeaderMap;
use service_runtime::proxy_protocol::ProxyPolicy;
use service_runtime::rate::PerKey;

use crate::config::GatewaySection;

/// Addresses tracked at most (the runtime's bounded [`PerKey`] table).
const MAX_TRACKED_ADDRESSES: usize = 65_536;

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The gateway holds `max_connections` sockets (`503`).
    Full(usize),
    /// The source address opened too many connections lately (`429`).
    TooFast,
}

/// The admission state of one gateway instance.
#[derive(Debug)]
pub struct Admission {
    max_connections: usize,
    live: Arc<AtomicUsize>,
    client_ip_header: Option<axum::http::HeaderName>,
    /// The load balancers (whose word on the client is believed) and whether they send
    /// PROXY headers.
    proxies: ProxyPolicy,
    connects: PerKey<IpAddr>,
}

/// One admitted connection's place under the cap, given back when it is dropped.
#[derive(Debug)]
pub struct Slot {
    live: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    pub fn new(config: &GatewaySection) -> Self {
        Self::with_limits(
            config.max_connections,
            config.connects_per_ip_per_second,
            config.connects_per_ip_burst,
            &config.client_ip_header,
            ProxyPolicy {
                require_header: config.proxy_protocol,
                // Checked at start (config validation).
                trusted: ProxyPolicy::parse_trusted(&config.trusted_proxies).unwrap_or_default(),
            },
        )
    }

    fn with_limits(
        max_connections: usize,
        per_second: f64,
        burst: u32,
        header: &str,
        proxies: ProxyPolicy,
    ) -> Self {
        Self {
            proxies,
            max_connections,
            live: Arc::new(AtomicUsize::new(0)),
            // Checked at start (config validation): an invalid name is never configured.
            client_ip_header: axum::http::HeaderName::from_bytes(header.as_bytes()).ok(),
            connects: PerKey::new(per_second, burst, MAX_TRACKED_ADDRESSES),
        }
    }

    /// The listener's PROXY protocol policy, when connections come with PROXY headers.
    pub fn proxy_policy(&self) -> Option<ProxyPolicy> {
        self.proxies.require_header.then(|| self.proxies.clone())
    }

    /// The connections admitted and not yet closed.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Admits a connection from `peer` (with `headers`, for `client_ip_header`), or says
    /// why not. The slot must be held for as long as the connection lives.
    pub fn admit(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Result<Slot, Refusal> {
        if let Some(ip) = self.source(peer, headers)
            && !self.connects.take_at(ip, Instant::now())
        {
            metrics::counter!("rallypoint_gateway_refused_total", "reason" => "connect_rate")
                .increment(1);
            return Err(Refusal::TooFast);
        }
        let taken = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live < self.max_connections).then_some(live + 1)
            });
        match taken {
            Ok(_) => Ok(Slot {
                live: self.live.clone(),
            }),
            Err(live) => {
                metrics::counter!("rallypoint_gateway_refused_total", "reason" => "full")
                    .increment(1);
                Err(Refusal::Full(live))
            }
        }
    }

    /// The address a connection comes from.
    fn source(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let believed = peer.is_none_or(|p| self.proxies.trusts(p.ip()));
        let forwarded = self
            .client_ip_header
            .as_ref()
            .filter(|_| believed)
            .and_then(|name| {
                let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
                value.rsplit(',').next()?.trim().parse().ok()
            });
        forwarded.or(peer.map(|p| p.ip()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max_connections: usize, per_second: f64, burst: u32, header: &str) -> Admission {
        Admission::with_limits(
            max_connections,
            per_second,
            burst,
            header,
            ProxyPolicy::default(),
        )
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().expect("ip"), 40000))
    }

    #[test]
    fn the_cap_counts_live_slots_and_frees_them_on_drop() {
        let a = admission(2, 100.0, 100, "");
        let one = a.admit(peer("10.0.0.1"), &HeaderMap::new()).expect("first");
        let two = a
            .admit(peer("10.0.0.2"), &HeaderMap::new())
            .expect("second");
        assert_eq!(
            a.admit(peer("10.0.0.3"), &HeaderMap::new()).map(|_| ()),
            Err(Refusal::Full(2))
        );
        drop(one);
        assert_eq!(a.live(), 1);
        let _three = a
            .admit(peer("10.0.0.3"), &HeaderMap::new())
            .expect("a freed slot");
        drop(two);
    }

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_trusted_balancer() {
        let a = Admission::with_limits(
            100,
            0.001,
            1,
            "x-forwarded-for",
            ProxyPolicy {
                require_header: false,
                trusted: ProxyPolicy::parse_trusted(&["172.16.0.0/12".to_owned()]).expect("a CIDR"),
            },
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4".parse().expect("header"));
        // A stranger claiming 1.2.3.4 is counted as itself, and spends its own budget.
        assert!(a.admit(peer("203.0.113.5"), &headers).is_ok());
        assert_eq!(
            a.admit(peer("203.0.113.5"), &headers).map(|_| ()),
            Err(Refusal::TooFast)
        );
        // The balancer's word is taken: 1.2.3.4 has its own budget.
        assert!(a.admit(peer("172.16.0.1"), &headers).is_ok());
    }

    #[test]
    fn behind_a_balancer_the_last_forwarded_address_counts() {
        let a = admission(100, 0.001, 1, "x-forwarded-for");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "1.2.3.4, 10.9.9.9".parse().expect("header"),
        );
        let balancer = peer("172.16.0.1");
        assert!(a.admit(balancer, &headers).is_ok());
        // The same client (as the balancer saw it) again: refused, whatever it claims.
        headers.insert(
            "x-forwarded-for",
            "5.6.7.8, 10.9.9.9".parse().expect("header"),
        );
        assert_eq!(
            a.admit(balancer, &headers).map(|_| ()),
            Err(Refusal::TooFast)
        );
        // Another client through the same balancer is fine.
        headers.insert("x-forwarded-for", "10.9.9.10".parse().expect("header"));
        assert!(a.admit(balancer, &headers).is_ok());
    }
}
