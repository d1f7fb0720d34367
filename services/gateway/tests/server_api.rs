//! The server API (PROTOCOL.md section 4) with two gateways: every route works from either
//! gateway for a player connected to the other; a call without the token, with a wrong one,
//! with a body over the limit or a bad body changes nothing and gets its documented answer.

mod common;

use std::net::SocketAddr;

use common::{Client, ws_addr};
use proto::{CloseCode, Encoding, ServerMessage};
use serde_json::{Value, json};
use service_runtime::RunningService;

const TOKEN: &str = "server-api-test-token-0123456789";

async fn gateway(ns: &str) -> RunningService {
    common::start(
        ns,
        &[
            ("gateway.api_listen", "127.0.0.1:0"),
            ("gateway.api_token", TOKEN),
            ("gateway.api_max_body_bytes", "8192"),
        ],
    )
    .await
}

/// The server API of one gateway.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn of(gateway: &RunningService) -> Api {
        let addr: SocketAddr = gateway.endpoint("api").expect("an api endpoint");
        Api {
            http: reqwest::Client::new(),
            base: format!("http://{addr}"),
        }
    }

    /// `method path` with `body` and `token` (None: no Authorization header): the status
    /// and the JSON answer (null for none).
    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        testkit::http::call(&self.http, method, &url, body, token).await
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string().into_bytes());
        self.call_with(method, path, body, Some(TOKEN)).await
    }
}

/// The next message, with nothing else queued before a `pong` (no duplicate).
async fn only(client: &mut Client) -> ServerMessage {
    let message = client.recv().await;
    let pong = client.request(json!({"type": "ping"})).await;
    assert!(
        matches!(pong, ServerMessage::Pong { .. }),
        "{}: nothing else before the pong, got {pong:?}",
        client.player
    );
    message
}

/// A notice sent through `api` reaches `client` (everything sent to the player's inbox
/// before it has been handled by then).
async fn notice_reaches(api: &Api, client: &mut Client) {
    let (status, answer) = api
        .call(
            "POST",
            "/v1/send",
            Some(json!({"player": client.player, "body": "fence"})),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    loop {
        if let ServerMessage::Notice { body, .. } = client.recv().await
            && body.as_value() == &json!("fence")
        {
            return;
        }
    }
}

async fn join_room(client: &mut Client, room: &str) {
    let reply = client
        .request(json!({"type": "room.join", "room": room}))
        .await;
    assert!(
        matches!(reply, ServerMessage::RoomJoined { .. }),
        "{reply:?}"
    );
}

#[tokio::test]
async fn every_route_works_from_either_gateway_for_a_player_on_the_other() {
    let ns = testkit::unique_namespace("server-api");
    let one = gateway(&ns).await;
    let two = gateway(&ns).await;
    let (api_one, api_two) = (Api::of(&one), Api::of(&two));
    let mut alice = Client::player(ws_addr(&one), "alice", Encoding::Json).await;
    let mut bob = Client::player(ws_addr(&two), "bob", Encoding::MsgPack).await;
    join_room(&mut alice, "lobby-1").await;
    join_room(&mut bob, "lobby-1").await;

    // publish: every member, on either gateway, gets it from `server`.
    let (status, answer) = api_two
        .call(
            "POST",
            "/v1/publish",
            Some(json!({"room": "lobby-1", "body": {"text": "maintenance at 10"}})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    for client in [&mut alice, &mut bob] {
        match only(client).await {
            ServerMessage::RoomMessage {
                room, from, body, ..
            } => {
                assert_eq!((room.as_str(), from.as_str()), ("lobby-1", "server"));
                assert_eq!(body.as_value(), &json!({"text": "maintenance at 10"}));
            }
            other => panic!("{}: {other:?}", client.player),
        }
    }

    // send: one player gets a notice, through the other gateway.
    let (status, answer) = api_two
        .call(
            "POST",
            "/v1/send",
            Some(json!({"player": "alice", "body": {"gift": 3}})),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    match only(&mut alice).await {
        ServerMessage::Notice { body, ts } => {
            assert_eq!(body.as_value(), &json!({"gift": 3}));
            assert!(ts > 0);
        }
        other => panic!("{other:?}"),
    }

    // broadcast: everyone on every gateway, once.
    let (status, answer) = api_one
        .call("POST", "/v1/broadcast", Some(json!({"body": "hello all"})))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["gateways"].as_u64() >= Some(2), "{answer}");
    for client in [&mut alice, &mut bob] {
        match only(client).await {
            ServerMessage::Notice { body, .. } => assert_eq!(body.as_value(), &json!("hello all")),
            other => panic!("{}: {other:?}", client.player),
        }
    }

    // presence: who is where, asked of either gateway.
    let (status, alice_there) = api_two
        .call("GET", "/v1/players/alice/presence", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(alice_there["online"], true, "{alice_there}");
    assert_eq!(
        alice_there["gateway"],
        one.instance_id.as_str(),
        "{alice_there}"
    );
    let (status, many) = api_one
        .call(
            "POST",
            "/v1/presence",
            Some(json!({"players": ["alice", "bob", "nobody"]})),
        )
        .await;
    assert_eq!(status, 200, "{many}");
    assert_eq!(many["players"]["bob"]["gateway"], two.instance_id.as_str());
    assert_eq!(
        many["players"]["nobody"],
        json!({"online": false}),
        "{many}"
    );

    // room members, a page at a time, the same from either gateway.
    let (status, first) = api_one
        .call("GET", "/v1/rooms/lobby-1/members?limit=1", None)
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["members"], json!(["alice"]), "{first}");
    assert_eq!(first["cursor"], "alice");
    let (_, second) = api_two
        .call(
            "GET",
            "/v1/rooms/lobby-1/members?limit=1&cursor=alice",
            None,
        )
        .await;
    assert_eq!(second["members"], json!(["bob"]), "{second}");
    assert_eq!(second["cursor"], Value::Null, "the last page");

    // disconnect: `kicked` with the reason, then 4005; then bob is offline, last seen now.
    let (status, answer) = api_one
        .call(
            "POST",
            "/v1/players/bob/disconnect",
            Some(json!({"reason": "cheating"})),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    let (messages, code) = bob.until_closed().await;
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, ServerMessage::Kicked { reason } if reason == "cheating")),
        "{messages:?}"
    );
    assert_eq!(code, Some(CloseCode::Kicked.code()));
    // The session ends as the socket's cleanup runs, a moment after the close.
    testkit::wait_until(
        "bob to be offline",
        std::time::Duration::from_secs(10),
        || async {
            let (_, now) = api_one.call("GET", "/v1/players/bob/presence", None).await;
            (now["online"] == false && now["last_seen_ms"].as_u64().is_some()).then_some(())
        },
    )
    .await
    .expect("offline, last seen");
    // Bob is between sockets now (within the reconnect grace): a notice is kept for his
    // next socket. A player never connected is not online.
    let (status, answer) = api_two
        .call(
            "POST",
            "/v1/send",
            Some(json!({"player": "bob", "body": 1})),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    let (status, answer) = api_two
        .call(
            "POST",
            "/v1/send",
            Some(json!({"player": "nobody", "body": 1})),
        )
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("not_online")),
        "{answer}"
    );

    // mute: until lifted, alice's room messages and whispers are refused, also after she
    // reconnects to the other gateway; once lifted they go through again. A notice sent
    // after each change travels the same inbox channel, so once alice has it her gateway
    // has applied the change.
    let until = service_runtime::clock::now_ms() + 60_000;
    let (status, answer) = api_two
        .call(
            "POST",
            "/v1/players/alice/mute",
            Some(json!({"until_ms": until})),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    notice_reaches(&api_two, &mut alice).await;
    let say = json!({"type": "room.send", "room": "lobby-1", "body": "hi"});
    let muted = alice.request(say.clone()).await;
    assert!(
        matches!(
            &muted,
            ServerMessage::Error {
                code: proto::ErrorCode::Muted,
                ..
            }
        ),
        "{muted:?}"
    );
    alice.close().await;
    let mut alice = Client::player(ws_addr(&two), "alice", Encoding::Json).await;
    let whisper = alice
        .request(json!({"type": "whisper", "to": "carol", "body": "hi"}))
        .await;
    assert!(
        matches!(
            &whisper,
            ServerMessage::Error {
                code: proto::ErrorCode::Muted,
                ..
            }
        ),
        "still muted on another gateway: {whisper:?}"
    );
    let (status, _) = api_one.call("DELETE", "/v1/players/alice/mute", None).await;
    assert_eq!(status, 204);
    notice_reaches(&api_one, &mut alice).await;
    let sent = alice.request(say).await;
    assert!(matches!(sent, ServerMessage::RoomSent { .. }), "{sent:?}");

    alice.close().await;
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}

#[tokio::test]
async fn calls_without_the_token_or_with_bad_bodies_change_nothing() {
    let ns = testkit::unique_namespace("server-api-bad");
    let one = gateway(&ns).await;
    let api = Api::of(&one);
    let mut alice = Client::player(ws_addr(&one), "alice", Encoding::Json).await;
    join_room(&mut alice, "lobby-2").await;
    let publish = br#"{"room":"lobby-2","body":"x"}"#.to_vec();

    for token in [None, Some("wrong-token-0123456789"), Some("")] {
        let (status, answer) = api
            .call_with("POST", "/v1/publish", Some(publish.clone()), token)
            .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (401, Some("unauthorized")),
            "{token:?}: {answer}"
        );
    }
    let huge = format!(r#"{{"body":"{}"}}"#, "x".repeat(9000)).into_bytes();
    let bad_calls: [(&str, &str, Vec<u8>, u16); 8] = [
        ("POST", "/v1/broadcast", huge, 413),
        ("POST", "/v1/publish", b"{not json".to_vec(), 400),
        (
            "POST",
            "/v1/publish",
            br#"{"room":"lobby-2"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/v1/publish",
            br#"{"room":"lobby 2","body":1}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/v1/send",
            br#"{"player":"nobody","body":1}"#.to_vec(),
            404,
        ),
        (
            "POST",
            "/v1/players/alice/disconnect",
            format!(r#"{{"reason":"{}"}}"#, "r".repeat(300)).into_bytes(),
            400,
        ),
        (
            "POST",
            "/v1/players/alice/mute",
            br#"{"until_ms":1}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/v1/presence",
            json!({"players": (0..1001).map(|i| format!("p{i}")).collect::<Vec<_>>()})
                .to_string()
                .into_bytes(),
            400,
        ),
    ];
    for (method, path, body, status) in bad_calls {
        let (got, answer) = api.call_with(method, path, Some(body), Some(TOKEN)).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert!(
            answer["error"].as_str().is_some(),
            "{method} {path}: {answer}"
        );
    }
    let (status, _) = api
        .call("GET", "/v1/rooms/lobby-2/members?limit=0", None)
        .await;
    assert_eq!(status, 400);
    // Nothing reached Alice, and she is still connected.
    let pong = alice.request(json!({"type": "ping"})).await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");

    alice.close().await;
    one.stop().await.expect("stops");
}
