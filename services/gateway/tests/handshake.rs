//! The handshake: credentials (token in header or query, guests only where enabled),
//! encodings by subprotocol, and `welcome` first.

mod common;

use common::{Client, JWT_SECRET, open, token, ws_addr};
use proto::{Encoding, ServerMessage};

#[tokio::test]
async fn welcome_comes_first_in_either_encoding_and_the_subprotocol_is_echoed() {
    let ns = testkit::unique_namespace("welcome");
    let gateway = common::start(&ns, &[]).await;
    let addr = ws_addr(&gateway);
    for encoding in [Encoding::Json, Encoding::MsgPack] {
        let (_, protocol) = open(
            addr,
            "guest=echo",
            &[("sec-websocket-protocol", encoding.subprotocol())],
        )
        .await
        .expect("accepted");
        assert_eq!(protocol.as_deref(), Some(encoding.subprotocol()));
        let client = Client::guest(addr, &format!("p-{encoding:?}"), encoding).await;
        match &client.welcome {
            ServerMessage::Welcome {
                player,
                session,
                gateway: gw,
                heartbeat_ms,
            } => {
                assert_eq!(player.as_str(), client.player);
                assert!(!session.as_str().is_empty());
                assert_eq!(gw.as_str(), gateway.instance_id);
                assert_eq!(*heartbeat_ms, 500);
            }
            other => panic!("{other:?}"),
        }
    }
    // No subprotocol named: JSON, and none echoed.
    let (_, protocol) = open(addr, "guest=plain", &[]).await.expect("accepted");
    assert_eq!(protocol, None);
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn tokens_are_accepted_in_the_header_or_the_query() {
    let ns = testkit::unique_namespace("tokens");
    let gateway = common::start(&ns, &[("gateway.allow_guests", "false")]).await;
    let addr = ws_addr(&gateway);
    let t = token("alice", 60, JWT_SECRET);
    let by_query = Client::connect(addr, &format!("token={t}"), "alice", Encoding::Json).await;
    assert!(
        matches!(&by_query.welcome, ServerMessage::Welcome { player, .. } if player.as_str() == "alice")
    );
    let (_, _) = open(addr, "", &[("authorization", &format!("Bearer {t}"))])
        .await
        .expect("a header token is accepted");
    gateway.stop().await.expect("stops");
}

#[tokio::test]
async fn refused_upgrades_get_401_or_400_with_a_json_body() {
    let ns = testkit::unique_namespace("refused");
    let gateway = common::start(&ns, &[("gateway.allow_guests", "false")]).await;
    let addr = ws_addr(&gateway);
    let expired = token("bob", -600, JWT_SECRET);
    let forged = token("bob", 60, "not-the-deployment-secret");
    struct Case {
        what: &'static str,
        query: String,
        header: Option<(&'static str, String)>,
        status: u16,
        error: &'static str,
    }
    let case = |what, query: String, header, status, error| Case {
        what,
        query,
        header,
        status,
        error,
    };
    let cases = [
        case("no credentials", String::new(), None, 401, "unauthorized"),
        case(
            "expired token",
            format!("token={expired}"),
            None,
            401,
            "unauthorized",
        ),
        case(
            "forged token",
            format!("token={forged}"),
            None,
            401,
            "unauthorized",
        ),
        case(
            "garbage token",
            "token=abc.def.ghi".into(),
            None,
            401,
            "unauthorized",
        ),
        case(
            "bad header token",
            String::new(),
            Some(("authorization", "Bearer nope".to_owned())),
            401,
            "unauthorized",
        ),
        case(
            "guest when guests are off",
            "guest=bob".into(),
            None,
            401,
            "unauthorized",
        ),
        case(
            "unknown subprotocol",
            format!("token={}", token("bob", 60, JWT_SECRET)),
            Some(("sec-websocket-protocol", "chat.v9".to_owned())),
            400,
            "bad_request",
        ),
    ];
    for Case {
        what,
        query,
        header,
        status,
        error,
    } in cases
    {
        let headers: Vec<(&str, &str)> = header.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = open(addr, &query, &headers)
            .await
            .expect_err(&format!("{what}: must be refused"));
        assert_eq!(refused.status, status, "{what}: {:?}", refused.body);
        assert_eq!(refused.body["error"], error, "{what}: {:?}", refused.body);
        assert!(
            refused.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: says why"
        );
    }
    gateway.stop().await.expect("stops");
}
