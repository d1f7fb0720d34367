//! Invariant 5 for the gateway: a Redis master failover under connected clients. The
//! gateways resubscribe their players' inboxes and room channels without a restart, and
//! the clients stay connected throughout.

mod common;

use std::time::{Duration, Instant};

use common::{Client, ws_addr};
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::json;
use testkit::PrivateCluster;

const RECOVERY: Duration = Duration::from_secs(20);

/// Whispers `to` from `from` until one is accepted; returns how long that took.
async fn whisper_until_delivered(from: &mut Client, to: &mut Client, since: Instant) -> Duration {
    loop {
        match from
            .request(json!({"type": "whisper", "to": to.player, "body": "ping"}))
            .await
        {
            ServerMessage::WhisperSent { .. } => break,
            ServerMessage::Error {
                code: ErrorCode::Unavailable | ErrorCode::NotOnline,
                ..
            } => {
                assert!(
                    since.elapsed() < RECOVERY,
                    "whispers never got through again"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(to.recv().await, ServerMessage::Whisper { .. }));
    since.elapsed()
}

#[tokio::test]
async fn clients_stay_connected_and_keep_receiving_through_a_master_failover() {
    let cluster = PrivateCluster::start(3, 1)
        .await
        .expect("a private cluster");
    let seeds = cluster
        .seed_urls()
        .into_iter()
        .take(3)
        .collect::<Vec<_>>()
        .join(",");
    let ns = testkit::unique_namespace("gwfail");
    let overrides = [
        ("redis.urls", seeds.as_str()),
        ("redis.topology_check_interval_ms", "500"),
        ("redis.canary_interval_ms", "250"),
        ("redis.canary_timeout_ms", "1500"),
        ("redis.reconnect_max_ms", "500"),
        ("gateway.session_ttl_ms", "10000"),
    ];
    let one = common::start(&ns, &overrides).await;
    let two = common::start(&ns, &overrides).await;
    let mut alice = Client::player(ws_addr(&one), "alice", Encoding::Json).await;
    let mut bob = Client::player(ws_addr(&two), "bob", Encoding::MsgPack).await;
    for client in [&mut alice, &mut bob] {
        let reply = client
            .request(json!({"type": "room.join", "room": "den"}))
            .await;
        assert!(
            matches!(reply, ServerMessage::RoomJoined { .. }),
            "{reply:?}"
        );
    }
    whisper_until_delivered(&mut bob, &mut alice, Instant::now()).await;

    // Fail over the master that holds alice's inbox.
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let slot = core_keys::slot_of(&keys.player("alice").inbox_channel());
    let started = Instant::now();
    let (master, replica) = cluster
        .fail_over_slot(slot, RECOVERY)
        .await
        .expect("failed over");

    let took = whisper_until_delivered(&mut bob, &mut alice, started).await;
    eprintln!("whispers to alice were back {took:?} after CLUSTER FAILOVER {master} -> {replica}");

    // The room still delivers across both gateways (its channel may have moved with the
    // failover too: resend until both hear it), and nobody was disconnected.
    let mut heard = [false, false];
    for n in 0.. {
        assert!(
            started.elapsed() < RECOVERY,
            "the room never delivered again"
        );
        let reply = alice
            .request(json!({"type": "room.send", "room": "den", "body": n}))
            .await;
        assert!(matches!(reply, ServerMessage::RoomSent { .. }), "{reply:?}");
        for (i, client) in [&mut alice, &mut bob].into_iter().enumerate() {
            while let Some(message) = client.recv_within(Duration::from_millis(300)).await {
                heard[i] |= matches!(message, ServerMessage::RoomMessage { .. });
            }
        }
        if heard == [true, true] {
            break;
        }
    }
    for client in [&mut alice, &mut bob] {
        let reply = client.request(json!({"type": "ping"})).await;
        assert!(matches!(reply, ServerMessage::Pong { .. }), "{reply:?}");
    }
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}

/// A `match.found` published while the gateway's subscription to the player's inbox was
/// down is gone; once the gateway subscribes again it tells the player their live match
/// itself. Here nothing publishes at all: the match is only written, as the pool writes it
/// before its push, and the inbox's pub/sub connection is cut.
#[tokio::test]
async fn a_live_match_is_told_again_once_a_lost_inbox_subscription_is_back() {
    let cluster = PrivateCluster::start(3, 0)
        .await
        .expect("a private cluster");
    let seeds = cluster.seed_urls().join(",");
    let ns = testkit::unique_namespace("gwowed");
    let overrides = [
        ("redis.urls", seeds.as_str()),
        ("redis.topology_check_interval_ms", "500"),
        ("redis.reconnect_max_ms", "500"),
    ];
    let gateway = common::start(&ns, &overrides).await;
    let mut player = Client::player(ws_addr(&gateway), "owed", Encoding::Json).await;
    let reply = player.request(json!({"type": "ping"})).await;
    assert!(matches!(reply, ServerMessage::Pong { .. }), "{reply:?}");

    let id = |s: &str| proto::Id::parse(s).expect("an id");
    let found = ServerMessage::MatchFound {
        match_id: id("m-owed"),
        queue: id("duel"),
        region: id("eu"),
        teams: vec![
            vec![proto::TeamMember {
                player: id("owed"),
                rating: 1500.0,
            }],
            vec![proto::TeamMember {
                player: id("other"),
                rating: 1500.0,
            }],
        ],
        server: proto::ServerEndpoint {
            id: id("gs-1"),
            address: "127.0.0.1:7777".to_owned(),
        },
        join_token: "token".to_owned(),
    };
    let json = proto::encode_server(&found, Encoding::Json).expect("encodes");
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let write = |command: &'static str, key: String, args: Vec<String>| {
        let cluster = &cluster;
        async move {
            let port = cluster
                .master_of_slot(core_keys::slot_of(&key))
                .await
                .expect("a master");
            let mut all = vec![command.to_owned(), key];
            all.extend(args);
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            cluster.cli(port, &all).await.expect("written");
        }
    };
    write(
        "HSET",
        keys.match_("m-owed").record(),
        vec![
            "found:owed".to_owned(),
            String::from_utf8(json.to_vec()).expect("utf-8"),
        ],
    )
    .await;
    write(
        "SET",
        keys.player("owed").current_match(),
        vec!["m-owed".to_owned()],
    )
    .await;
    // Nothing was pushed: the player has heard of no match.
    assert_eq!(player.recv_within(Duration::from_millis(300)).await, None);

    // Cut the pub/sub connections of the master holding the player's inbox.
    let inbox_master = cluster
        .master_of_slot(core_keys::slot_of(&keys.player("owed").inbox_channel()))
        .await
        .expect("a master");
    cluster
        .cli(inbox_master, &["CLIENT", "KILL", "TYPE", "pubsub"])
        .await
        .expect("killed");

    match player.recv().await {
        ServerMessage::MatchFound { match_id, .. } => assert_eq!(match_id, id("m-owed")),
        other => panic!("expected the live match again, got {other:?}"),
    }
    let reply = player.request(json!({"type": "ping"})).await;
    assert!(
        matches!(reply, ServerMessage::Pong { .. }),
        "still connected: {reply:?}"
    );
    gateway.stop().await.expect("stops");
}
