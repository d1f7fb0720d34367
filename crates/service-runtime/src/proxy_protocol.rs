//! Who the client is behind a load balancer: the PROXY protocol header (v1 text or v2
//! binary, as an AWS Network Load Balancer sends with "proxy protocol v2" on) that starts
//! every connection, and which peers are believed at all ([`ProxyPolicy`]). The headers
//! are parsed by the `ppp` crate; this module reads exactly a header's bytes off the
//! socket (never a byte of the request behind it) and decides what to trust.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Where a listener's connections come from.
#[derive(Debug, Clone, Default)]
pub struct ProxyPolicy {
    /// Every connection starts with a PROXY header, whose source is the client's address.
    pub require_header: bool,
    /// The peers whose word on the client's address is believed (a PROXY header, a
    /// client IP header); empty: any peer's.
    pub trusted: Vec<IpNet>,
}

impl ProxyPolicy {
    /// Whether `peer` may say who the client is.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted.is_empty() || self.trusted.iter().any(|net| net.contains(&peer))
    }

    /// Parses a list of CIDRs (`10.0.0.0/16`) or addresses, naming the one that is not.
    pub fn parse_trusted(list: &[String]) -> Result<Vec<IpNet>, String> {
        list.iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not a CIDR like 10.0.0.0/16"))
            })
            .collect()
    }
}

/// Why a connection's PROXY header was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the connection did not start with a PROXY protocol header")]
    Missing,
    #[error("the PROXY protocol header is malformed")]
    Malformed,
    #[error("reading the PROXY protocol header failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The v2 header's 12-byte signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 header is at most this long, `\r\n` included.
const V1_MAX: usize = 107;

/// Reads one PROXY header (v1 or v2) from the start of `stream`, consuming exactly its
/// bytes. `Ok(Some(client))` for a proxied connection; `Ok(None)` for one the proxy made
/// itself (v2 `LOCAL`, v1 `UNKNOWN`, or an address family without an IP, such as its
/// health checks): the peer's address stands.
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<Option<SocketAddr>, ProxyError> {
    let mut bytes = vec![0_u8; 6];
    stream.read_exact(&mut bytes).await?;
    if bytes.as_slice() == b"PROXY " {
        // v1: one line of text up to "\r\n" (a lone "\n" ends nothing: it is malformed,
        // not the start of a header that swallows the request behind it).
        while !bytes.ends_with(b"\r\n") {
            if bytes.len() >= V1_MAX || bytes.ends_with(b"\n") {
                return Err(ProxyError::Malformed);
            }
            bytes.push(stream.read_u8().await?);
        }
    } else if bytes.as_slice() == &V2_SIGNATURE[..6] {
        // v2: the rest of the 16-byte fixed part, then the length it gives.
        bytes.resize(16, 0);
        stream.read_exact(&mut bytes[6..]).await?;
        if &bytes[..12] != V2_SIGNATURE {
            return Err(ProxyError::Malformed);
        }
        let length = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
        bytes.resize(16 + length, 0);
        stream.read_exact(&mut bytes[16..]).await?;
    } else {
        return Err(ProxyError::Missing);
    }
    client_address(&bytes)
}

/// The client's address in a complete header.
fn client_address(header: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    use ppp::{v1, v2};
    match ppp::HeaderResult::parse(header) {
        ppp::HeaderResult::V2(Ok(header)) => Ok(match (header.command, header.addresses) {
            (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            _ => None,
        }),
        ppp::HeaderResult::V1(Ok(header)) => Ok(match header.addresses {
            v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v1::Addresses::Unknown => None,
        }),
        _ => Err(ProxyError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> (Result<Option<SocketAddr>, ProxyError>, Vec<u8>) {
        let mut stream = bytes;
        let result = read_header(&mut stream).await;
        (result, stream.to_vec())
    }

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&u16::try_from(addresses.len()).unwrap_or(0).to_be_bytes());
        header.extend_from_slice(addresses);
        header
    }

    #[tokio::test]
    async fn headers_give_the_client_and_leave_the_request_behind_them() {
        let (client, rest) = read(b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 8080\r\nGET /ws").await;
        assert_eq!(client.ok().flatten(), "203.0.113.7:51234".parse().ok());
        assert_eq!(rest, b"GET /ws");

        let (client, rest) = read(b"PROXY UNKNOWN\r\nG").await;
        assert!(matches!(client, Ok(None)));
        assert_eq!(rest, b"G");

        // v2 PROXY over TCP4 with a TLV (an NLB adds some), then the request.
        let mut addresses = vec![198, 51, 100, 9, 10, 0, 0, 5, 0xc8, 0x1f, 0x1f, 0x90];
        addresses.extend_from_slice(&[0xea, 0x00, 0x02, 0x01, 0x02]);
        let mut bytes = v2(0x1, 0x11, &addresses);
        bytes.extend_from_slice(b"GET");
        let (client, rest) = read(&bytes).await;
        assert_eq!(client.ok().flatten(), "198.51.100.9:51231".parse().ok());
        assert_eq!(rest, b"GET");

        // v2 LOCAL (the balancer's own health check): no client address.
        let (client, rest) = read(&[v2(0x0, 0x00, &[]), b"GET".to_vec()].concat()).await;
        assert!(matches!(client, Ok(None)));
        assert_eq!(rest, b"GET");
    }

    #[tokio::test]
    async fn a_missing_or_bad_header_is_refused() {
        assert!(matches!(
            read(b"GET /ws HTTP/1.1\r\n").await.0,
            Err(ProxyError::Missing)
        ));
        assert!(matches!(
            read(b"PROXY TCP4 not-an-address\r\n").await.0,
            Err(ProxyError::Malformed)
        ));
        // UNKNOWN ignores the rest of its line, but the line ends at the first newline
        // (found by the fuzz campaign: a lone "\n" let it swallow the request line).
        assert!(matches!(
            read(b"PROXY UNKNOWN \nGET /ws HTTP/1.1\r\n").await.0,
            Err(ProxyError::Malformed)
        ));
        let long = [b"PROXY ".as_slice(), &[b'1'; 200]].concat();
        assert!(matches!(read(&long).await.0, Err(ProxyError::Malformed)));
        // Cut short: an I/O error (end of stream), never a hang or a panic.
        assert!(matches!(
            read(b"PROXY TCP4").await.0,
            Err(ProxyError::Io(_))
        ));
        let bad_family = v2(0x1, 0x11, &[1, 2, 3]);
        assert!(read(&bad_family).await.0.is_err());
    }

    #[test]
    fn trusted_peers_are_cidrs() {
        let policy = ProxyPolicy {
            require_header: true,
            trusted: ProxyPolicy::parse_trusted(&["10.0.0.0/16".into(), "192.0.2.1".into()])
                .unwrap_or_default(),
        };
        assert!(policy.trusts("10.0.200.1".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(policy.trusts("192.0.2.1".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(!policy.trusts("10.1.0.1".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!(ProxyPolicy::default().trusts(IpAddr::from([8, 8, 8, 8])));
        assert!(ProxyPolicy::parse_trusted(&["10.0.0.0/33".into()]).is_err());
    }
}
