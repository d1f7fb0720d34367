//! Parties in matchmaking, with real gateways, real WebSocket clients and three
//! matchmakers: a party queues as one ticket by its leader, its members are told, and it
//! is matched whole onto one team of full teams; no player is in two matches.

mod common;
#[path = "../../gateway/tests/common/mod.rs"]
mod gateway_common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use gateway_common::{Client, ws_addr};
use proto::{Encoding, ServerMessage};
use serde_json::json;

/// The next `queue.joined` push `client` gets (party pushes on the way are skipped).
async fn queue_joined_push(client: &mut Client) {
    loop {
        match client.recv().await {
            ServerMessage::QueueJoined { rid: None, .. } => return,
            ServerMessage::PartyUpdated { .. } | ServerMessage::PartyInvite { .. } => {}
            other => panic!("{}: expected queue.joined, got {other:?}", client.player),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parties_queue_whole_and_each_plays_on_one_full_team() {
    let ns = testkit::unique_namespace("party-match");
    let one = gateway_common::start(&ns, &[]).await;
    let two = gateway_common::start(&ns, &[]).await;
    let gateways = [ws_addr(&one), ws_addr(&two)];
    let mut matchmakers = Vec::new();
    for _ in 0..3 {
        matchmakers.push(common::start(&ns, &[]).await);
    }
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");

    // Four duos and eight solo players for 2v2: every team is a duo, or two solo players.
    let mut parties: Vec<Vec<String>> = Vec::new();
    let mut clients = Vec::new();
    for d in 0..4 {
        let mut leader =
            Client::player(gateways[d % 2], &format!("lead-{d}"), Encoding::Json).await;
        let mut mate =
            vec![Client::player(gateways[(d + 1) % 2], &format!("mate-{d}"), Encoding::Json).await];
        gateway_common::form_party(&mut leader, &mut mate).await;
        let joined = leader
            .request(json!({"type": "queue.join", "queue": "squad", "region": "eu"}))
            .await;
        assert!(
            matches!(joined, ServerMessage::QueueJoined { .. }),
            "{joined:?}"
        );
        queue_joined_push(&mut mate[0]).await;
        parties.push(vec![leader.player.clone(), mate[0].player.clone()]);
        clients.push(leader);
        clients.extend(mate);
    }
    for s in 0..8 {
        let mut solo =
            Client::player(gateways[s % 2], &format!("solo-{s}"), Encoding::MsgPack).await;
        let joined = solo
            .request(json!({"type": "queue.join", "queue": "squad", "region": "eu"}))
            .await;
        assert!(
            matches!(joined, ServerMessage::QueueJoined { .. }),
            "{joined:?}"
        );
        clients.push(solo);
    }
    let everyone: Vec<String> = clients.iter().map(|c| c.player.clone()).collect();
    common::eventually(
        "every player to be matched",
        Duration::from_secs(15),
        || async {
            for player in &everyone {
                if common::live_match(&redis, &keys, player).await.is_none() {
                    return false;
                }
            }
            true
        },
    )
    .await;

    let records = common::handed_over(&redis, &keys, "eu").await;
    assert_eq!(records.len(), 4, "{records:?}");
    let mut seen: HashSet<String> = HashSet::new();
    let mut team_of: HashMap<String, (String, usize)> = HashMap::new();
    for (id, record) in &records {
        assert_eq!(record.teams.len(), 2);
        for (t, team) in record.teams.iter().enumerate() {
            assert_eq!(team.len(), 2, "full teams: {record:?}");
            for seat in team {
                assert!(
                    seen.insert(seat.player.clone()),
                    "{} in two matches",
                    seat.player
                );
                team_of.insert(seat.player.clone(), (id.clone(), t));
            }
        }
    }
    assert_eq!(seen.len(), everyone.len());
    for party in &parties {
        assert_eq!(
            team_of[&party[0]], team_of[&party[1]],
            "the party {party:?} plays whole on one team"
        );
    }
    for matchmaker in matchmakers {
        matchmaker.stop().await.expect("stops");
    }
}

#[tokio::test]
async fn a_party_that_cannot_queue_is_told_why_and_any_member_takes_it_out() {
    let ns = testkit::unique_namespace("party-queue");
    let gateway = gateway_common::start(&ns, &[]).await;
    let addr = ws_addr(&gateway);
    let mut leader = Client::player(addr, "leader", Encoding::Json).await;
    let mut mates = vec![Client::player(addr, "mate", Encoding::Json).await];
    gateway_common::form_party(&mut leader, &mut mates).await;
    let mate = &mut mates[0];

    // Only the leader queues the party, and only where it fits a team.
    let refused = mate
        .request(json!({"type": "queue.join", "queue": "squad", "region": "eu"}))
        .await;
    gateway_common::assert_error(&refused, proto::ErrorCode::NotLeader);
    let refused = leader
        .request(json!({"type": "queue.join", "queue": "duel", "region": "eu"}))
        .await;
    gateway_common::assert_error(&refused, proto::ErrorCode::PartyTooLarge);

    let joined = leader
        .request(json!({"type": "queue.join", "queue": "squad", "region": "eu"}))
        .await;
    let ticket = match joined {
        ServerMessage::QueueJoined { ticket, .. } => ticket,
        other => panic!("expected queue.joined, got {other:?}"),
    };
    // The member is told, and is queued on the same ticket.
    loop {
        match mate.recv().await {
            ServerMessage::QueueJoined {
                ticket: t,
                rid: None,
                ..
            } => {
                assert_eq!(t, ticket);
                break;
            }
            ServerMessage::PartyUpdated { .. } | ServerMessage::PartyInvite { .. } => {}
            other => panic!("expected queue.joined, got {other:?}"),
        }
    }
    let status = mate.request(json!({"type": "queue.status"})).await;
    assert!(
        matches!(
            status,
            ServerMessage::QueueStatus {
                state: proto::QueueState::Searching,
                ..
            }
        ),
        "{status:?}"
    );
    // While queued the party does not change.
    gateway_common::assert_error(
        &mate.request(json!({"type": "party.leave"})).await,
        proto::ErrorCode::InQueue,
    );
    gateway_common::assert_error(
        &leader
            .request(json!({"type": "party.kick", "player": "mate"}))
            .await,
        proto::ErrorCode::InQueue,
    );
    // Any member takes the whole party out; the others are told.
    let left = mate.request(json!({"type": "queue.leave"})).await;
    assert!(matches!(left, ServerMessage::QueueLeft { .. }), "{left:?}");
    loop {
        match leader.recv().await {
            ServerMessage::QueueLeft { rid: None } => break,
            ServerMessage::PartyUpdated { .. } => {}
            other => panic!("expected queue.left, got {other:?}"),
        }
    }
    let status = leader.request(json!({"type": "queue.status"})).await;
    assert!(
        matches!(
            status,
            ServerMessage::QueueStatus {
                state: proto::QueueState::Idle,
                ..
            }
        ),
        "{status:?}"
    );
    let left = mate.request(json!({"type": "party.leave"})).await;
    assert!(matches!(left, ServerMessage::PartyLeft { .. }), "{left:?}");
}

#[tokio::test]
async fn a_queued_party_member_away_past_the_grace_is_dropped_and_the_rest_queue_on_at_their_wait()
{
    let ns = testkit::unique_namespace("party-lapse");
    let gateway = gateway_common::start(&ns, &[("gateway.reconnect_grace_ms", "800")]).await;
    let addr = ws_addr(&gateway);
    let mut leader = Client::player(addr, "leader", Encoding::Json).await;
    let mut mates = vec![Client::player(addr, "mate", Encoding::Json).await];
    gateway_common::form_party(&mut leader, &mut mates).await;
    let joined = leader
        .request(json!({"type": "queue.join", "queue": "squad", "region": "eu"}))
        .await;
    assert!(
        matches!(joined, ServerMessage::QueueJoined { .. }),
        "{joined:?}"
    );
    let first_ticket = match joined {
        ServerMessage::QueueJoined { ticket, .. } => ticket,
        other => panic!("{other:?}"),
    };
    let mate = mates.pop().expect("the mate");
    mate.close().await;
    // The mate is dropped from the party; the leader, the party now, is queued again on a
    // ticket of their own.
    let mut dropped = false;
    let mut requeued = None;
    while !(dropped && requeued.is_some()) {
        match leader.recv().await {
            ServerMessage::PartyUpdated { members, .. } if members.len() == 1 => dropped = true,
            ServerMessage::QueueJoined {
                ticket, rid: None, ..
            } => requeued = Some(ticket),
            ServerMessage::PartyUpdated { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_ne!(requeued, Some(first_ticket), "a new ticket");
    // At the old ticket's wait: it has waited at least the grace (a new wait would be
    // a few milliseconds).
    match leader.request(json!({"type": "queue.status"})).await {
        ServerMessage::QueueStatus {
            state: proto::QueueState::Searching,
            waited_ms: Some(waited),
            ..
        } => assert!(waited >= 800, "kept its wait: {waited} ms"),
        other => panic!("expected searching, got {other:?}"),
    }
}
