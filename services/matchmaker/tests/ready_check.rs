//! Ready checks with real gateways and WebSocket clients: a formed match waits for every
//! player to accept before it reaches the server pool; a decline or a timeout cancels it,
//! requeues exactly the tickets whose every player accepted (at their original wait; a
//! party whole or not at all) and cools the others down; a matchmaker killed during a
//! check loses nobody's ticket; a reconnecting player is asked again; bad answers get
//! their code.

mod common;
#[path = "../../gateway/tests/common/mod.rs"]
mod gateway_common;

use std::time::Duration;

use gateway_common::{Client, assert_error, ws_addr};
use matchmaker::handover::Attempt;
use proto::{Encoding, ErrorCode, QueueState, ServerMessage};
use serde_json::json;

/// The next message of `client` that is not a party push.
async fn next(client: &mut Client) -> ServerMessage {
    loop {
        match client.recv().await {
            ServerMessage::PartyUpdated { .. }
            | ServerMessage::PartyInvite { .. }
            | ServerMessage::QueueJoined { rid: None, .. } => {}
            other => return other,
        }
    }
}

/// The match id of the `match.ready_check` `client` gets next.
async fn ready_check(client: &mut Client) -> String {
    match next(client).await {
        ServerMessage::MatchReadyCheck {
            match_id,
            teams,
            expires_ms,
            ..
        } => {
            assert!(
                teams
                    .iter()
                    .flatten()
                    .any(|m| m.player.as_str() == client.player),
                "{}: in the teams shown",
                client.player
            );
            assert!(expires_ms > 0);
            match_id.to_string()
        }
        other => panic!(
            "{}: expected match.ready_check, got {other:?}",
            client.player
        ),
    }
}

/// Waits for the `match.ready_update` push with `accepted` of `total`.
async fn update(client: &mut Client, accepted: u32, total: u32) {
    loop {
        match next(client).await {
            ServerMessage::MatchReadyUpdate {
                accepted: a,
                total: t,
                rid: None,
                ..
            } if (a, t) == (accepted, total) => return,
            ServerMessage::MatchReadyUpdate { rid: None, .. } => {}
            other => panic!(
                "{}: expected match.ready_update, got {other:?}",
                client.player
            ),
        }
    }
}

/// The `match.cancelled` `client` gets next: its reason and whether they were requeued.
async fn cancelled(client: &mut Client) -> (String, bool) {
    loop {
        match next(client).await {
            ServerMessage::MatchCancelled {
                reason, requeued, ..
            } => return (reason, requeued),
            ServerMessage::MatchReadyUpdate { .. } => {}
            other => panic!("{}: expected match.cancelled, got {other:?}", client.player),
        }
    }
}

/// `a` and `b` queue for a duel and are both asked its ready check; the match id.
async fn duel_check(a: &mut Client, b: &mut Client) -> String {
    join(a, "duel").await;
    join(b, "duel").await;
    let match_id = ready_check(a).await;
    assert_eq!(ready_check(b).await, match_id);
    match_id
}

/// Waits until `match_id` is in the region's pool (handed over: everyone accepted).
async fn reaches_pool(
    redis: &fred::prelude::Client,
    keys: &core_keys::Keys,
    match_id: &str,
    within: Duration,
) {
    common::eventually("the match to reach the pool", within, || async {
        common::handed_over(redis, keys, "eu")
            .await
            .contains_key(match_id)
    })
    .await;
}

async fn join(client: &mut Client, queue: &str) {
    let reply = client
        .request(json!({"type": "queue.join", "queue": queue, "region": "eu"}))
        .await;
    assert!(
        matches!(reply, ServerMessage::QueueJoined { .. }),
        "{reply:?}"
    );
}

/// The counter `field` of `queue`/eu in the matchmaker's `/v1/stats` (what the
/// dashboard's queue rows show).
async fn queue_counter(
    matchmaker: &service_runtime::RunningService,
    queue: &str,
    field: &str,
) -> u64 {
    let stats: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/v1/stats", matchmaker.ops_addr))
        .bearer_auth("test-admin")
        .send()
        .await
        .expect("the ops port answers")
        .json()
        .await
        .expect("JSON");
    stats["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|q| q["queue"] == queue && q["region"] == "eu")
        .and_then(|q| q[field].as_u64())
        .unwrap_or_else(|| panic!("no {field} for {queue}/eu: {stats}"))
}

async fn state(client: &mut Client) -> (QueueState, Option<u64>) {
    match client.request(json!({"type": "queue.status"})).await {
        ServerMessage::QueueStatus {
            state, waited_ms, ..
        } => (state, waited_ms),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn everyone_accepts_and_only_then_the_match_reaches_the_pool() {
    let ns = testkit::unique_namespace("ready-ok");
    let overrides = [("matchmaking.queues.duel.ready_check_ms", "20000")];
    let one = gateway_common::start(&ns, &[]).await;
    let two = gateway_common::start(&ns, &[]).await;
    let matchmaker = common::start(&ns, &overrides).await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let mut alice = Client::player(ws_addr(&one), "alice", Encoding::Json).await;
    let mut bob = Client::player(ws_addr(&two), "bob", Encoding::MsgPack).await;
    let match_id = duel_check(&mut alice, &mut bob).await;
    assert!(
        common::handed_over(&redis, &keys, "eu").await.is_empty(),
        "no server is spent before everyone accepts"
    );
    let reply = alice
        .request(json!({"type": "match.accept", "match": match_id}))
        .await;
    assert!(
        matches!(
            reply,
            ServerMessage::MatchReadyUpdate {
                accepted: 1,
                total: 2,
                rid: Some(_),
                ..
            }
        ),
        "{reply:?}"
    );
    update(&mut bob, 1, 2).await;
    // Operators see the check and its answers (`rallyctl player`).
    let view: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/v1/players/alice", matchmaker.ops_addr))
        .bearer_auth("test-admin")
        .send()
        .await
        .expect("the ops port answers")
        .json()
        .await
        .expect("JSON");
    let check = &view["match"]["ready_check"];
    assert_eq!(check["state"], "open", "{view}");
    assert_eq!(check["a:alice"], "accepted", "{view}");
    assert_eq!(check["a:bob"], "", "{view}");
    // bob reconnects before answering: the check is asked again right after welcome.
    bob.close().await;
    let mut bob = Client::player(ws_addr(&one), "bob", Encoding::Json).await;
    assert_eq!(ready_check(&mut bob).await, match_id);
    let reply = bob
        .request(json!({"type": "match.accept", "match": match_id}))
        .await;
    assert!(
        matches!(
            reply,
            ServerMessage::MatchReadyUpdate {
                accepted: 2,
                total: 2,
                ..
            }
        ),
        "{reply:?}"
    );
    update(&mut alice, 2, 2).await;
    reaches_pool(&redis, &keys, &match_id, Duration::from_secs(10)).await;
    // Answering again, or to another match, is told so.
    assert_error(
        &alice
            .request(json!({"type": "match.decline", "match": match_id}))
            .await,
        ErrorCode::UnknownMatch,
    );
    assert_error(
        &alice
            .request(json!({"type": "match.accept", "match": "no-such-match"}))
            .await,
        ErrorCode::UnknownMatch,
    );
    assert_error(
        &alice.request(json!({"type": "match.accept"})).await,
        ErrorCode::BadRequest,
    );
    matchmaker.stop().await.expect("stops");
}

#[tokio::test]
async fn a_decline_requeues_whole_tickets_that_all_accepted_and_cools_down_the_rest() {
    let ns = testkit::unique_namespace("ready-decline");
    let overrides = [
        ("matchmaking.queues.squad.ready_check_ms", "20000"),
        ("matchmaking.queues.squad.decline_cooldown_ms", "60000"),
    ];
    let gateway = gateway_common::start(&ns, &[]).await;
    let addr = ws_addr(&gateway);
    let matchmaker = common::start(&ns, &overrides).await;
    let mut lead = Client::player(addr, "lead", Encoding::Json).await;
    let mut mate = Client::player(addr, "mate", Encoding::Json).await;
    let mut keen = Client::player(addr, "keen", Encoding::Json).await;
    let mut silent = Client::player(addr, "silent", Encoding::Json).await;
    // lead and mate are a party.
    gateway_common::form_party(&mut lead, std::slice::from_mut(&mut mate)).await;
    join(&mut lead, "squad").await;
    join(&mut keen, "squad").await;
    join(&mut silent, "squad").await;
    let match_id = ready_check(&mut lead).await;
    for client in [&mut mate, &mut keen, &mut silent] {
        assert_eq!(ready_check(client).await, match_id);
    }
    // keen and lead accept; mate declines; silent never answers.
    for client in [&mut keen, &mut lead] {
        let reply = client
            .request(json!({"type": "match.accept", "match": match_id}))
            .await;
        assert!(
            matches!(reply, ServerMessage::MatchReadyUpdate { .. }),
            "{reply:?}"
        );
    }
    let reply = mate
        .request(json!({"type": "match.decline", "match": match_id}))
        .await;
    assert!(
        matches!(reply, ServerMessage::MatchReadyUpdate { .. }),
        "{reply:?}"
    );

    // keen accepted on a ticket of their own: back in the queue at their wait. The party
    // goes back whole or not at all: mate declined, so neither. silent did not answer.
    for (client, requeued) in [
        (&mut keen, true),
        (&mut lead, false),
        (&mut mate, false),
        (&mut silent, false),
    ] {
        assert_eq!(
            cancelled(client).await,
            ("declined".to_owned(), requeued),
            "{}",
            client.player
        );
    }
    assert_eq!(state(&mut keen).await.0, QueueState::Searching);
    assert_eq!(state(&mut lead).await.0, QueueState::Idle);
    // Counted once for the dashboard.
    assert_eq!(
        queue_counter(&matchmaker, "squad", "ready_declined").await,
        1
    );
    assert_eq!(
        queue_counter(&matchmaker, "squad", "ready_accepted").await,
        0
    );
    // Those who declined or did not answer cool down; lead, who accepted, may queue,
    // but not with mate in the party.
    let reply = lead
        .request(json!({"type": "queue.join", "queue": "squad", "region": "eu"}))
        .await;
    assert_error(&reply, ErrorCode::Cooldown);
    let left = mate.request(json!({"type": "party.leave"})).await;
    assert!(matches!(left, ServerMessage::PartyLeft { .. }), "{left:?}");
    for client in [&mut mate, &mut silent] {
        let reply = client
            .request(json!({"type": "queue.join", "queue": "duel", "region": "eu"}))
            .await;
        assert_error(&reply, ErrorCode::Cooldown);
    }
    join(&mut lead, "duel").await;
    matchmaker.stop().await.expect("stops");
}

#[tokio::test]
async fn a_check_nobody_finishes_is_cancelled_as_a_timeout() {
    let ns = testkit::unique_namespace("ready-timeout");
    let overrides = [("matchmaking.queues.duel.ready_check_ms", "700")];
    let gateway = gateway_common::start(&ns, &[]).await;
    let addr = ws_addr(&gateway);
    let matchmaker = common::start(&ns, &overrides).await;
    let mut quick = Client::player(addr, "quick", Encoding::Json).await;
    let mut slow = Client::player(addr, "slow", Encoding::Json).await;
    let match_id = duel_check(&mut quick, &mut slow).await;
    quick
        .request(json!({"type": "match.accept", "match": match_id}))
        .await;
    assert_eq!(
        cancelled(&mut quick).await,
        ("ready_timeout".to_owned(), true)
    );
    assert_eq!(
        cancelled(&mut slow).await,
        ("ready_timeout".to_owned(), false)
    );
    assert_eq!(
        queue_counter(&matchmaker, "duel", "ready_timeouts").await,
        1
    );
    // quick keeps their wait (at least the check's 700 ms); slow cools down.
    let (state_now, waited) = state(&mut quick).await;
    assert_eq!(state_now, QueueState::Searching);
    assert!(waited.unwrap_or_default() >= 700, "{waited:?}");
    assert_error(
        &slow
            .request(json!({"type": "queue.join", "queue": "duel", "region": "eu"}))
            .await,
        ErrorCode::Cooldown,
    );
    // Too late to answer.
    assert_error(
        &slow
            .request(json!({"type": "match.accept", "match": match_id}))
            .await,
        ErrorCode::UnknownMatch,
    );
    matchmaker.stop().await.expect("stops");
}

#[tokio::test]
async fn a_matchmaker_killed_during_a_ready_check_loses_nobody() {
    let ns = testkit::unique_namespace("ready-kill");
    let overrides = [("matchmaking.queues.duel.ready_check_ms", "30000")];
    let gateway = gateway_common::start(&ns, &[]).await;
    let addr = ws_addr(&gateway);
    let doomed = common::start_process(&ns, &overrides).await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let mut ann = Client::player(addr, "ann", Encoding::Json).await;
    let mut ben = Client::player(addr, "ben", Encoding::Json).await;
    let match_id = duel_check(&mut ann, &mut ben).await;
    doomed.kill().await;
    // Both accept while no matchmaker runs; the next one settles the check.
    for client in [&mut ann, &mut ben] {
        let reply = client
            .request(json!({"type": "match.accept", "match": match_id}))
            .await;
        assert!(
            matches!(reply, ServerMessage::MatchReadyUpdate { .. }),
            "{reply:?}"
        );
    }
    let successor = common::start(&ns, &overrides).await;
    reaches_pool(&redis, &keys, &match_id, Duration::from_secs(15)).await;
    successor.stop().await.expect("stops");
}

#[tokio::test]
async fn a_hand_over_redone_after_its_check_was_settled_changes_nothing() {
    use fred::prelude::HashesInterface;
    let ns = testkit::unique_namespace("ready-redo");
    let overrides = [("matchmaking.queues.duel.ready_check_ms", "20000")];
    let gateway = gateway_common::start(&ns, &[]).await;
    let addr = ws_addr(&gateway);
    let matchmaker = common::start(&ns, &overrides).await;
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let mut yes = Client::player(addr, "yes", Encoding::Json).await;
    let mut no = Client::player(addr, "no", Encoding::Json).await;
    let match_id = duel_check(&mut yes, &mut no).await;
    yes.request(json!({"type": "match.accept", "match": match_id}))
        .await;
    no.request(json!({"type": "match.decline", "match": match_id}))
        .await;
    assert_eq!(cancelled(&mut yes).await, ("declined".to_owned(), true));
    assert_eq!(state(&mut yes).await.0, QueueState::Searching);
    matchmaker.stop().await.expect("stops");

    // The claim's hand-over is redone late (its first holder died before marking it
    // done): the settled check is left alone, the requeued player stays queued and is
    // not pulled back into the cancelled match, and nobody is asked again.
    let json: Option<String> = redis
        .hget(keys.match_(&match_id).ready(), "record")
        .await
        .expect("hget");
    let record: queues::MatchRecord =
        serde_json::from_str(&json.expect("the check keeps its record")).expect("json");
    let handover = matchmaker::handover::Handover {
        matches: matches::Matches::new(
            keys.clone(),
            redis.clone(),
            service_runtime::publish::Publisher::new(redis.clone()),
        ),
        match_ttl: Duration::from_secs(60),
    };
    let holder = queues::QueueHolder::new(keys.clone(), redis.clone(), "duel", "eu", "late");
    handover
        .run(
            &holder,
            &record,
            Some(Duration::from_secs(20)),
            Attempt::Redone,
        )
        .await
        .expect("redone");
    assert_eq!(state(&mut yes).await.0, QueueState::Searching);
    assert_eq!(common::live_match(&redis, &keys, "yes").await, None);
    gateway_common::still_served(&mut yes).await;
    assert_eq!(
        yes.recv_within(Duration::ZERO).await,
        None,
        "not asked again"
    );
}
