//! Invariant 5 of docs/ARCHITECTURE.md under traffic: while players on two gateways whisper
//! and chat in a room, and others queue, get matched and play games whose results are
//! posted, one Redis master is failed over (`CLUSTER FAILOVER`) and another is SIGKILLed.
//!
//! Afterwards:
//! - every whisper answered `whisper.sent` reached its addressee exactly once, and every
//!   refusal was an `unavailable` the sender saw;
//! - no room message reached anyone twice; every one sent before the first failover, or
//!   after room delivery had resumed, reached every member (the gap in between is what
//!   `room.join` with history will close; its size is printed);
//! - every ticket was matched, every result stored once with the ratings it implies;
//! - no client was disconnected.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rallypoint_client::proto::{ErrorCode, ServerMessage};
use rallypoint_client::{ClientError, Event};
use rallypoint_tests::stack::{Player, Sizes, Stack, queue_all, take_matches};
use serde_json::{Value, json};
use testkit::PrivateCluster;
use tokio::time::Instant;

/// Chatting players (the first half on one gateway, the rest on the other).
const CHATTERS: usize = 4;
/// Players who queue and play, round after round.
const PLAYERS: usize = 4;
/// Each chatter's pace, and the most messages of each kind it sends.
const PACE: Duration = Duration::from_millis(40);
const MAX_MESSAGES: u64 = 1_000;

/// What one chatter sent and how it was answered.
#[derive(Debug, Default)]
struct Sent {
    /// Whispers answered `whisper.sent`: (to, seq).
    whispers: Vec<(String, u64)>,
    /// Room messages answered `room.sent`: (seq, sent at).
    room: Vec<(u64, Instant)>,
    /// Refusals of either kind, by error code.
    refused: BTreeMap<String, u64>,
}

/// What one chatter received.
#[derive(Debug, Default)]
struct Received {
    /// Whispers: (from, seq) -> times received.
    whispers: HashMap<(String, u64), u32>,
    /// Room messages: (from, seq) -> times received.
    room: HashMap<(String, u64), u32>,
    /// The `flush` markers seen, by sender: everything a sender sent before its marker
    /// has arrived once the marker has (one channel, one order).
    flushed: HashSet<(String, &'static str)>,
    disconnects: u32,
}

fn body(from: &str, seq: u64) -> Value {
    json!({"from": from, "seq": seq})
}

fn parse(body: &Value) -> Option<(String, u64)> {
    Some((body["from"].as_str()?.to_owned(), body["seq"].as_u64()?))
}

/// The marker a sender sends last (as seq `u64::MAX`).
const FLUSH: u64 = u64::MAX;

/// Records everything `player` receives until the test drops the task.
fn record(mut player: Player, received: Arc<Mutex<Received>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = player.events.recv().await {
            let mut r = received.lock().unwrap_or_else(|e| e.into_inner());
            match event {
                Event::Push(ServerMessage::Whisper { body, .. }) => {
                    if let Some((from, seq)) = parse(body.as_value()) {
                        if seq == FLUSH {
                            r.flushed.insert((from, "whisper"));
                        } else {
                            *r.whispers.entry((from, seq)).or_default() += 1;
                        }
                    }
                }
                Event::Push(ServerMessage::RoomMessage { body, .. }) => {
                    if let Some((from, seq)) = parse(body.as_value()) {
                        if seq == FLUSH {
                            r.flushed.insert((from, "room"));
                        } else {
                            *r.room.entry((from, seq)).or_default() += 1;
                        }
                    }
                }
                Event::Disconnected { .. } => r.disconnects += 1,
                _ => {}
            }
        }
    })
}

/// Sends a whisper to `to` and a room message per `PACE` until `stop`, then the flush
/// markers (retried until answered).
async fn chat(
    client: rallypoint_client::Client,
    me: String,
    to: String,
    room: String,
    stop: Arc<AtomicBool>,
) -> Sent {
    let mut sent = Sent::default();
    let refuse = |sent: &mut Sent, err: ClientError| {
        let code = match err {
            ClientError::Server { code, .. } => code.to_string(),
            other => format!("client: {other}"),
        };
        *sent.refused.entry(code).or_default() += 1;
    };
    for seq in 0..MAX_MESSAGES {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match client.whisper(&to, body(&me, seq)).await {
            Ok(()) => sent.whispers.push((to.clone(), seq)),
            Err(err) => refuse(&mut sent, err),
        }
        let at = Instant::now();
        match client.send_to_room(&room, body(&me, seq)).await {
            Ok(()) => sent.room.push((seq, at)),
            Err(err) => refuse(&mut sent, err),
        }
        tokio::time::sleep(PACE).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.whisper(&to, body(&me, FLUSH)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "{me}: the whisper marker never went out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while client.send_to_room(&room, body(&me, FLUSH)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "{me}: the room marker never went out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_under_traffic_loses_no_answered_message_ticket_or_result() {
    let mut cluster = PrivateCluster::start(3, 1)
        .await
        .expect("a private cluster");
    let ns = testkit::unique_namespace("ftraffic");
    let stack = Stack::start_with_env(
        &ns,
        Sizes::SMALL,
        cluster.seed_urls(),
        // Chat and request as fast as the test sends (the limits are not what is
        // tested here).
        &[
            ("RALLYPOINT_GATEWAY__CHAT_PER_MINUTE", "1000000".to_owned()),
            ("RALLYPOINT_GATEWAY__RATE_PER_SECOND", "10000".to_owned()),
            ("RALLYPOINT_GATEWAY__RATE_BURST", "10000".to_owned()),
        ],
    )
    .await;
    let urls = stack.gateway_urls();
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    let room = format!("ft-{ns}");

    // Chatters: in the room, each whispering to the next (on the other gateway half the
    // time), everything they receive recorded.
    let ids: Vec<String> = (0..CHATTERS).map(|n| format!("c{n}-{ns}")).collect();
    let mut clients = Vec::new();
    let mut received = Vec::new();
    let mut recorders = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let gateway = urls[n * 2 / CHATTERS].clone();
        let player = Player::connect(id, vec![gateway], n % 2 == 1).await;
        player.client.join_room(&room).await.expect("joined");
        clients.push(player.client.clone());
        let r = Arc::new(Mutex::new(Received::default()));
        recorders.push(record(player, r.clone()));
        received.push(r);
    }

    // Players: queue, play, get rated, again, while the chat goes on.
    let mut players = Vec::new();
    for n in 0..PLAYERS {
        let id = format!("p{n}-{ns}");
        players.push(Player::connect(&id, vec![urls[n % 2].clone()], false).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let games = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut rounds: Vec<Vec<String>> = Vec::new();
            let mut played = 0;
            // At least two rounds, so one straddles the failover.
            while played < 2 || !stop.load(Ordering::Relaxed) {
                queue_all(&players, "duel").await;
                let found = take_matches(&mut players).await;
                played += 1;
                for p in &players {
                    p.rating_after(played).await;
                }
                let mut round: Vec<String> = found.into_iter().map(|f| f.match_id).collect();
                round.sort();
                round.dedup();
                rounds.push(round);
            }
            (players, rounds)
        })
    };
    let chatters: Vec<_> = (0..CHATTERS)
        .map(|n| {
            tokio::spawn(chat(
                clients[n].clone(),
                ids[n].clone(),
                ids[(n + 1) % CHATTERS].clone(),
                room.clone(),
                stop.clone(),
            ))
        })
        .collect();

    // Traffic flows; then the master of the region's pool keys is failed over, and the
    // master holding the room's channel (by then) is killed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let failover_started = Instant::now();
    cluster
        .fail_over_slot(
            core_keys::slot_of(&keys.pool("eu").pending()),
            Duration::from_secs(30),
        )
        .await
        .expect("failed over");
    let room_slot = core_keys::slot_of(&keys.room(&room).channel());
    let master = cluster.master_of_slot(room_slot).await.expect("a master");
    cluster.kill_node(master).await;
    testkit::wait_until(
        "a replica to take the killed master's slots",
        Duration::from_secs(60),
        || async {
            let now = cluster.master_of_slot(room_slot).await.ok()?;
            (now != master).then_some(())
        },
    )
    .await
    .expect("in time");
    let promoted = Instant::now();
    // More traffic after the cluster healed, then everyone stops.
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::Relaxed);
    let mut sent = Vec::new();
    for chatter in chatters {
        sent.push(chatter.await.expect("the chatter finished"));
    }
    let (players, rounds) = tokio::time::timeout(Duration::from_secs(90), games)
        .await
        .expect("the games ended in time")
        .expect("the games ran");

    // Every chatter has seen every other's markers: nothing sent before them is still on
    // its way.
    testkit::wait_until(
        "every flush marker to arrive",
        Duration::from_secs(30),
        || async {
            received
                .iter()
                .enumerate()
                .all(|(n, r)| {
                    let r = r.lock().unwrap_or_else(|e| e.into_inner());
                    let whisperer = &ids[(n + CHATTERS - 1) % CHATTERS];
                    r.flushed.contains(&(whisperer.clone(), "whisper"))
                        && ids
                            .iter()
                            .filter(|id| *id != &ids[n])
                            .all(|id| r.flushed.contains(&(id.clone(), "room")))
                })
                .then_some(())
        },
    )
    .await
    .expect("in time");
    for recorder in recorders {
        recorder.abort();
    }
    let received: Vec<Received> = received
        .into_iter()
        .map(|r| std::mem::take(&mut *r.lock().unwrap_or_else(|e| e.into_inner())))
        .collect();

    // Whispers: every one answered as sent arrived once; every refusal was `unavailable`.
    let mut whispers_sent = 0;
    for (n, s) in sent.iter().enumerate() {
        let to = (n + 1) % CHATTERS;
        for (_, seq) in &s.whispers {
            let times = received[to]
                .whispers
                .get(&(ids[n].clone(), *seq))
                .copied()
                .unwrap_or(0);
            assert_eq!(times, 1, "{}'s whisper {seq} arrived {times} times", ids[n]);
        }
        whispers_sent += s.whispers.len();
        for code in s.refused.keys() {
            assert_eq!(
                code,
                &ErrorCode::Unavailable.to_string(),
                "{}: refusals {:?}",
                ids[n],
                s.refused
            );
        }
    }
    for (n, r) in received.iter().enumerate() {
        let from = &ids[(n + CHATTERS - 1) % CHATTERS];
        for ((sender, seq), times) in &r.whispers {
            assert_eq!(sender, from, "{}: a whisper from {sender}", ids[n]);
            assert_eq!(*times, 1, "{}: whisper {seq} arrived {times} times", ids[n]);
        }
    }

    // Room messages: never twice; all of them outside the failover's gap.
    let mut missed_in_gap = 0;
    let mut room_sent = 0;
    let mut resumed_at = promoted;
    for (n, s) in sent.iter().enumerate() {
        room_sent += s.room.len();
        for (seq, at) in &s.room {
            let key = (ids[n].clone(), *seq);
            let missed_by: Vec<usize> = (0..CHATTERS)
                .filter(|m| *m != n)
                .filter(|m| received[*m].room.get(&key).copied().unwrap_or(0) == 0)
                .collect();
            if !missed_by.is_empty() {
                assert!(
                    *at >= failover_started,
                    "{}'s room message {seq}, sent before the failover, missed by {missed_by:?}",
                    ids[n]
                );
                missed_in_gap += missed_by.len();
                resumed_at = resumed_at.max(*at);
            }
        }
    }
    for r in &received {
        for ((sender, seq), times) in &r.room {
            assert_eq!(
                *times, 1,
                "room message {seq} of {sender} arrived {times} times"
            );
        }
    }
    // Delivery resumed soon after the cluster healed, and for good.
    let gap_after_promotion = resumed_at.saturating_duration_since(promoted);
    assert!(
        gap_after_promotion < Duration::from_secs(5),
        "room messages were still being missed {gap_after_promotion:?} after the promotion"
    );
    let refusals: u64 = sent.iter().flat_map(|s| s.refused.values()).sum();
    let gap = if missed_in_gap == 0 {
        "none missed".to_owned()
    } else {
        format!(
            "{missed_in_gap} missed, the last of them sent {gap_after_promotion:?} after the \
             promotion ({:?} after the first failover began)",
            resumed_at.saturating_duration_since(failover_started)
        )
    };
    eprintln!(
        "failover under traffic: {whispers_sent} whispers and {room_sent} room messages \
         answered as sent, {refusals} refused as unavailable; room deliveries: {gap}; \
         cluster healed {:?} after the first failover began",
        promoted.saturating_duration_since(failover_started)
    );

    // Every match was stored once, with the ratings it implies.
    let db = persistence::connect(&testkit::database_url(), 2, Duration::from_secs(10))
        .await
        .expect("connected");
    for round in &rounds {
        for match_id in round {
            assert_eq!(
                persistence::results::count(&db, match_id)
                    .await
                    .expect("count"),
                1,
                "{match_id} stored once"
            );
        }
    }
    let rated = rallypoint_tests::ratings::assert_rated_in_order(&db, &rounds).await;
    for p in &players {
        let rating = p.rating_after(rounds.len() as u64).await;
        let expected = rated.get(&p.id).copied().unwrap_or(f64::NAN);
        assert!(
            (rating - expected).abs() < 1e-6,
            "{}'s profile says {rating}, the results imply {expected}",
            p.id
        );
        assert_eq!(p.disconnects, 0, "{} stayed connected", p.id);
    }
    for (n, r) in received.iter().enumerate() {
        assert_eq!(r.disconnects, 0, "{} stayed connected", ids[n]);
    }
    stack.stop().await;
}
