//! Presence for clients (PROTOCOL.md section 1): `room.members` and `presence.get` are
//! right across three gateways, page by page, and stay right after one gateway is
//! SIGKILLed (its players drop out within the session TTL); only a member may list a room,
//! and a `presence.get` over its limit is refused.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Client, GatewayProcess, assert_error, ws_addr};
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::json;

const SESSION_TTL_MS: u64 = 2000;
const ROOM: &str = "hall";

/// Every member of `ROOM` as `client` lists it, page by page, with the pages' sizes.
async fn list_members(client: &mut Client) -> (Vec<String>, Vec<usize>) {
    let mut all = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = json!({"type": "room.members", "room": ROOM});
        if let Some(cursor) = &cursor {
            request["cursor"] = json!(cursor);
        }
        match client.request(request).await {
            ServerMessage::RoomMembers {
                room,
                members,
                cursor: next,
                ..
            } => {
                assert_eq!(room.as_str(), ROOM);
                pages.push(members.len());
                all.extend(members.iter().map(ToString::to_string));
                match next {
                    Some(next) => {
                        assert_eq!(
                            Some(&next),
                            members.last(),
                            "the cursor is the page's last member"
                        );
                        cursor = Some(next.to_string());
                    }
                    None => return (all, pages),
                }
            }
            other => panic!("room.members: {other:?}"),
        }
    }
}

async fn presence(
    client: &mut Client,
    players: &[&str],
) -> BTreeMap<String, proto::PlayerPresence> {
    match client
        .request(json!({"type": "presence.get", "players": players}))
        .await
    {
        ServerMessage::Presence { players, .. } => players
            .into_iter()
            .map(|(id, presence)| (id.to_string(), presence))
            .collect(),
        other => panic!("presence.get: {other:?}"),
    }
}

/// `count` players named `prefix<n>` connected to `addr`, each in `ROOM`.
async fn members_on(addr: SocketAddr, prefix: &str, count: usize) -> Vec<Client> {
    let mut clients = Vec::new();
    for i in 0..count {
        let mut client = Client::player(addr, &format!("{prefix}{i:03}"), Encoding::MsgPack).await;
        let joined = client
            .request(json!({"type": "room.join", "room": ROOM}))
            .await;
        assert!(
            matches!(joined, ServerMessage::RoomJoined { .. }),
            "{joined:?}"
        );
        clients.push(client);
    }
    clients
}

#[tokio::test]
async fn room_members_and_presence_are_right_across_gateways_and_after_one_is_killed() {
    let ns = testkit::unique_namespace("presence");
    let ttl = SESSION_TTL_MS.to_string();
    let overrides = [
        ("gateway.session_ttl_ms", ttl.as_str()),
        ("gateway.heartbeat_ms", "400"),
        // 120 sockets from one address in a few seconds.
        ("gateway.connects_per_ip_per_second", "1000"),
        ("gateway.connects_per_ip_burst", "1000"),
    ];
    let doomed = GatewayProcess::start(&ns, &overrides).await;
    let a = common::start(&ns, &overrides).await;
    let b = common::start(&ns, &overrides).await;

    // 40 members on each gateway: more than one page (100).
    let on_doomed = members_on(doomed.ws, "d", 40).await;
    let mut on_a = members_on(ws_addr(&a), "a", 40).await;
    let mut on_b = members_on(ws_addr(&b), "b", 40).await;
    let everyone: Vec<String> = on_doomed
        .iter()
        .chain(&on_a)
        .chain(&on_b)
        .map(|c| c.player.clone())
        .collect();

    let asker = &mut on_a[0];
    let (listed, pages) = list_members(asker).await;
    assert_eq!(pages, vec![100, 20], "pages of 100, the last one shorter");
    let mut expected = everyone.clone();
    expected.sort();
    assert_eq!(
        listed, expected,
        "every member once, in id order, from every gateway"
    );

    // Presence of players on each gateway, and of one never seen.
    let found = presence(asker, &["d000", "b039", "a001", "nobody", "d000"]).await;
    assert_eq!(
        found.keys().cloned().collect::<BTreeSet<_>>(),
        ["a001", "b039", "d000", "nobody"].map(String::from).into(),
        "each player asked about once"
    );
    for online in ["d000", "b039", "a001"] {
        assert!(found[online].online, "{online} is connected: {found:?}");
        assert!(found[online].last_seen_ms.is_some(), "{online}: {found:?}");
    }
    assert_eq!(
        found["nobody"],
        proto::PlayerPresence {
            online: false,
            last_seen_ms: None
        }
    );

    // A player who closed their socket is offline, last seen when it closed.
    let before_close = service_runtime::clock::now_ms();
    let leaver = on_b.remove(0);
    let leaver_id = leaver.player.clone();
    leaver.close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = presence(asker, &[&leaver_id]).await[&leaver_id];
        if !seen.online {
            let last = seen
                .last_seen_ms
                .expect("a closed session leaves its last-seen time");
            assert!(
                last >= before_close,
                "last seen {last}, closed after {before_close}"
            );
            break;
        }
        // The close is handled by b after the socket ends: polled, bounded.
        assert!(
            Instant::now() < deadline,
            "{leaver_id} still online 5 s after closing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The killed gateway's players drop out of the room and go offline within the TTL (a
    // lapse has no event to wait for: polled, bounded by the TTL from the kill).
    doomed.kill().await;
    let killed = Instant::now();
    let mut survivors: Vec<String> = everyone
        .iter()
        .filter(|p| !p.starts_with('d') && **p != leaver_id)
        .cloned()
        .collect();
    survivors.sort();
    loop {
        let (listed, _) = list_members(asker).await;
        let gone = presence(asker, &["d000", "d039"]).await;
        if listed == survivors && gone.values().all(|p| !p.online) {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_millis(SESSION_TTL_MS + 1500),
            "a killed gateway's players still listed {} s after the kill: {} members, presence {gone:?}",
            killed.elapsed().as_secs_f32(),
            listed.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop((on_doomed, on_b));
}

#[tokio::test]
async fn only_members_list_a_room_and_presence_asks_about_at_most_100() {
    let ns = testkit::unique_namespace("presence-refusals");
    let gateway = common::start(&ns, &[]).await;
    let mut member = Client::player(ws_addr(&gateway), "member", Encoding::Json).await;
    let mut outsider = Client::player(ws_addr(&gateway), "outsider", Encoding::Json).await;
    let joined = member
        .request(json!({"type": "room.join", "room": ROOM}))
        .await;
    assert!(
        matches!(joined, ServerMessage::RoomJoined { .. }),
        "{joined:?}"
    );

    let refused = outsider
        .request(json!({"type": "room.members", "room": ROOM}))
        .await;
    assert_error(&refused, ErrorCode::BadRequest);
    let (listed, _) = list_members(&mut member).await;
    assert_eq!(listed, vec!["member".to_owned()]);

    let many: Vec<String> = (0..101).map(|i| format!("p{i}")).collect();
    let refused = member
        .request(json!({"type": "presence.get", "players": many}))
        .await;
    assert_error(&refused, ErrorCode::BadRequest);
    let hundred = &many[..100];
    let found = member
        .request(json!({"type": "presence.get", "players": hundred}))
        .await;
    match found {
        ServerMessage::Presence { players, .. } => assert_eq!(players.len(), 100),
        other => panic!("{other:?}"),
    }
    // Malformed: not a list of ids.
    let refused = member
        .request(json!({"type": "presence.get", "players": "p1"}))
        .await;
    assert_error(&refused, ErrorCode::BadRequest);
}

/// Every `room.presence` push `client` gets until `done` says the changes seen so far
/// are complete: the players who joined and who left, in the order the pushes came.
async fn presence_until(
    client: &mut Client,
    room: &str,
    mut done: impl FnMut(&BTreeSet<String>, &BTreeSet<String>) -> bool,
) -> (BTreeSet<String>, BTreeSet<String>, usize) {
    let (mut joined, mut left) = (BTreeSet::new(), BTreeSet::new());
    let mut pushes = 0;
    while !done(&joined, &left) {
        match client.recv().await {
            ServerMessage::RoomPresence {
                room: to,
                joined: j,
                left: l,
            } => {
                assert_eq!(to.as_str(), room);
                pushes += 1;
                for player in j {
                    left.remove(player.as_str());
                    joined.insert(player.to_string());
                }
                for player in l {
                    joined.remove(player.as_str());
                    left.insert(player.to_string());
                }
            }
            ServerMessage::RoomMessage { .. } => {}
            other => panic!("{}: expected room.presence, got {other:?}", client.player),
        }
    }
    (joined, left, pushes)
}

#[tokio::test]
async fn a_presence_room_tells_its_members_who_joins_and_leaves_across_gateways() {
    let ns = testkit::unique_namespace("presence-push");
    let overrides = [
        ("gateway.session_ttl_ms", "2000"),
        ("gateway.heartbeat_ms", "400"),
        ("gateway.rooms.lobby.prefix", "lobby:"),
        ("gateway.rooms.lobby.presence", "true"),
    ];
    let doomed = GatewayProcess::start(&ns, &overrides).await;
    let one = common::start(&ns, &overrides).await;
    let two = common::start(&ns, &overrides).await;
    let room = "lobby:p";
    let mut watcher = Client::player(ws_addr(&one), "watcher", Encoding::Json).await;
    let joined = watcher
        .request(json!({"type": "room.join", "room": room}))
        .await;
    assert!(
        matches!(joined, ServerMessage::RoomJoined { .. }),
        "{joined:?}"
    );
    // Its own join comes first.
    presence_until(&mut watcher, room, |j, _| j.contains("watcher")).await;

    // Five join on another gateway at once: told, in at most as many pushes.
    let mut newcomers = Vec::new();
    for i in 0..5 {
        let mut c = Client::player(ws_addr(&two), &format!("n{i}"), Encoding::MsgPack).await;
        c.send(json!({"type": "room.join", "room": room})).await;
        newcomers.push(c);
    }
    let names: BTreeSet<String> = (0..5).map(|i| format!("n{i}")).collect();
    let (j, l, pushes) = presence_until(&mut watcher, room, |j, _| names.is_subset(j)).await;
    assert_eq!(j, names);
    assert!(l.is_empty(), "{l:?}");
    assert!(pushes <= 5, "{pushes} pushes for 5 joins");

    // A room.leave and a closed socket are told as left.
    let leaver = newcomers.remove(0);
    let mut leaver = leaver;
    let left = leaver
        .request(json!({"type": "room.leave", "room": room}))
        .await;
    assert!(matches!(left, ServerMessage::RoomLeft { .. }), "{left:?}");
    newcomers.remove(0).close().await;
    let gone: BTreeSet<String> = ["n0", "n1"].map(String::from).into();
    let (_, l, _) = presence_until(&mut watcher, room, |_, l| gone.is_subset(l)).await;
    assert_eq!(l, gone);

    // The members of a SIGKILLed gateway are told as left once their memberships lapse
    // (pruned by a live gateway's refresh), within the session TTL and a heartbeat.
    let mut ghost = Client::player(doomed.ws, "ghost", Encoding::Json).await;
    let joined = ghost
        .request(json!({"type": "room.join", "room": room}))
        .await;
    assert!(
        matches!(joined, ServerMessage::RoomJoined { .. }),
        "{joined:?}"
    );
    presence_until(&mut watcher, room, |j, _| j.contains("ghost")).await;
    doomed.kill().await;
    presence_until(&mut watcher, room, |_, l| l.contains("ghost")).await;
    drop((ghost, leaver, newcomers));
}

#[tokio::test]
async fn a_plain_room_pushes_no_presence() {
    let ns = testkit::unique_namespace("presence-none");
    let gateway = common::start(&ns, &[("gateway.rooms.lobby.prefix", "lobby:")]).await;
    let mut a = Client::player(ws_addr(&gateway), "a", Encoding::Json).await;
    let mut b = Client::player(ws_addr(&gateway), "b", Encoding::Json).await;
    for client in [&mut a, &mut b] {
        let joined = client
            .request(json!({"type": "room.join", "room": "lobby:q"}))
            .await;
        assert!(
            matches!(joined, ServerMessage::RoomJoined { .. }),
            "{joined:?}"
        );
    }
    // A message sent after both joins is the first thing a receives: no presence push.
    let sent = b
        .request(json!({"type": "room.send", "room": "lobby:q", "body": 1}))
        .await;
    assert!(matches!(sent, ServerMessage::RoomSent { .. }), "{sent:?}");
    match a.recv().await {
        ServerMessage::RoomMessage { .. } => {}
        other => panic!("expected the message first, got {other:?}"),
    }
    // Nor later: a presence push would come within 250 ms of the joins.
    let later = a.recv_within(Duration::from_millis(600)).await;
    assert!(later.is_none(), "{later:?}");
}
