//! PROXY protocol headers, which the gateway reads before anything else on a connection
//! when it sits behind a load balancer (`gateway.proxy_protocol`): whatever the bytes, the
//! reader gives the client's address, "no address" (the balancer's own connection), or an
//! error, consumes no byte past the header, and never panics.

use fuzz::{any_bytes, byte_damage, campaign, damaged};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use service_runtime::proxy_protocol::read_header;

fn valid_headers() -> Vec<Vec<u8>> {
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend_from_slice(&[0x21, 0x11, 0x00, 0x11]);
    v2.extend_from_slice(&[198, 51, 100, 9, 10, 0, 0, 5, 0xc8, 0x1f, 0x1f, 0x90]);
    v2.extend_from_slice(&[0xea, 0x00, 0x02, 0x01, 0x02]);
    vec![
        b"PROXY TCP4 203.0.113.7 10.0.0.5 51234 8080\r\n".to_vec(),
        b"PROXY TCP6 2001:db8::1 2001:db8::2 51234 8080\r\n".to_vec(),
        b"PROXY UNKNOWN\r\n".to_vec(),
        v2,
    ]
}

#[test]
fn proxy_headers() {
    // An untouched valid header leaves the request behind it whole.
    let plain = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    for header in valid_headers() {
        let input = [header.as_slice(), b"GET"].concat();
        let mut stream = input.as_slice();
        assert!(
            plain.block_on(read_header(&mut stream)).is_ok(),
            "{header:?}"
        );
        assert_eq!(stream, b"GET");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let strategy = prop_oneof![
        1 => any_bytes(128),
        3 => (prop::sample::select(valid_headers()), byte_damage())
            .prop_map(|(header, damage)| damaged(header, &damage)),
    ];
    campaign("PROXY protocol headers", strategy, |header| {
        const REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\n";
        let input = [header.as_slice(), REQUEST].concat();
        let mut stream = input.as_slice();
        let result = runtime.block_on(read_header(&mut stream));
        if result.is_ok() {
            // Exactly the header was consumed, as long as it says it is: a v1 line up to
            // its "\r\n", a v2 header's 16 bytes and the length they give.
            let consumed = &input[..input.len() - stream.len()];
            if consumed.starts_with(b"PROXY ") {
                prop_assert!(consumed.ends_with(b"\r\n") && consumed.len() <= 107);
                prop_assert_eq!(consumed.iter().filter(|&&b| b == b'\n').count(), 1);
            } else {
                prop_assert!(consumed.len() >= 16, "{:?}", consumed);
                let length = usize::from(u16::from_be_bytes([consumed[14], consumed[15]]));
                prop_assert_eq!(consumed.len(), 16 + length);
            }
        }
        Ok::<(), TestCaseError>(())
    });
}
