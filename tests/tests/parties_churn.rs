//! Parties at scale, with churn (Invariants 1 and 9 of docs/ARCHITECTURE.md): 1,000 players
//! in parties of 1 to 5 queue into a 5v5 queue worked by three matchmakers while, around
//! each leader's `queue.join`, members leave, are kicked and reconnect (to the other
//! gateway), and those who left queue on their own. When the queue has settled, Redis must
//! show: every formed match has two full teams, every party's ticket sits whole on one
//! team, no player is in two matches, in two tickets, or in a match and a ticket, and
//! every matched player's live match is that match.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fred::prelude::{HashesInterface, KeysInterface, SortedSetsInterface};
use futures::StreamExt;
use rallypoint_client::proto::ServerMessage;
use rallypoint_tests::stack::{Player, Sizes, Stack};

const PLAYERS: usize = 1000;
const TEAM_SIZE: usize = 5;

/// What happens around one party's `queue.join`.
#[derive(Debug, Clone, Copy)]
enum Churn {
    None,
    /// A member leaves the party as the leader queues it; then queues alone.
    Leave,
    /// The leader kicks a member as it queues the party; they queue alone.
    Kick,
    /// A member's connection drops and they come back on the other gateway.
    Reconnect,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_players_in_parties_with_churn_keep_every_invariant() {
    let ns = testkit::unique_namespace("churn");
    let env = |key: &str| testkit::env_var(key);
    let settings = [
        (env("matchmaking.queues.team.teams"), "2"),
        (env("matchmaking.queues.team.team_size"), "5"),
        (env("matchmaking.queues.team.regions"), "eu"),
        (env("matchmaking.queues.team.initial_window"), "100000"),
        (env("matchmaking.queues.team.widen_per_second"), "0"),
        (env("matchmaking.queues.team.max_window"), "100000"),
        (env("matchmaking.queues.team.max_wait_ms"), "600000"),
        // Formed matches wait in the pool (no game servers): what is checked is the forming.
        (env("pool.allocate_timeout_ms"), "600000"),
        // A thousand players from one address.
        (env("gateway.connects_per_ip_per_second"), "100000"),
        (env("gateway.connects_per_ip_burst"), "100000"),
    ];
    let extra: Vec<(&str, String)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), (*v).to_owned()))
        .collect();
    let stack = Stack::start_with_env(
        &ns,
        Sizes {
            gateways: 2,
            matchmakers: 3,
            pools: 1,
            warmers: 1,
            game_servers: 0,
        },
        testkit::redis_urls(),
        &extra,
    )
    .await;
    let urls = stack.gateway_urls();
    // Half the players start on each gateway; a reconnect goes to the other one.
    let url_for = |i: usize, other: bool| {
        let home = (i + usize::from(other)) % urls.len();
        let mut order = urls.clone();
        order.rotate_left(home);
        order
    };
    let ids: Vec<String> = (0..PLAYERS).map(|i| format!("c{i}")).collect();
    let mut players: Vec<Player> = futures::stream::iter(0..PLAYERS)
        .map(|i| {
            let (id, urls) = (ids[i].clone(), url_for(i, false));
            async move { Player::connect(&id, urls, i % 2 == 0).await }
        })
        .buffered(64)
        .collect()
        .await;

    // Parties of 1..=5 (seeded, so a failure can be replayed), each with its churn.
    let mut rng = fastrand::Rng::with_seed(0xC0FFEE);
    let mut parties: Vec<(Vec<usize>, Churn)> = Vec::new();
    let mut next = 0;
    while next < PLAYERS {
        let size = rng.usize(1..=TEAM_SIZE).min(PLAYERS - next);
        let churn = match (size, rng.u8(0..4)) {
            (1, _) | (_, 0) => Churn::None,
            (_, 1) => Churn::Leave,
            (_, 2) => Churn::Kick,
            _ => Churn::Reconnect,
        };
        parties.push(((next..next + size).collect(), churn));
        next += size;
    }
    futures::stream::iter(parties.iter().filter(|(members, _)| members.len() > 1))
        .for_each_concurrent(32, |(members, _)| {
            let players = &players;
            async move {
                let leader = &players[members[0]].client;
                let party = match leader.create_party().await {
                    Ok(ServerMessage::Party { party, .. }) => party.to_string(),
                    other => panic!("party.create: {other:?}"),
                };
                for &m in &members[1..] {
                    leader
                        .invite_to_party(&players[m].id)
                        .await
                        .expect("invited");
                    players[m]
                        .client
                        .accept_party(&party)
                        .await
                        .expect("joined");
                }
            }
        })
        .await;

    // Every leader queues its party, with the churn racing the join; whoever left
    // queues alone. Leaves and kicks that went through are counted (the others came too
    // late: the party was queued, `in_queue`).
    let churned = AtomicUsize::new(0);
    let reconnected: Vec<(usize, Player)> = futures::stream::iter(parties.iter().enumerate())
        .map(|(k, (members, churn))| {
            let players = &players;
            let url_for = &url_for;
            let churned = &churned;
            async move {
                let leader = &players[members[0]];
                let mate = members.get(1 + k % members.len().saturating_sub(1).max(1));
                let join = leader.client.join_queue("team", "eu");
                match (churn, mate) {
                    (Churn::Leave, Some(&m)) => {
                        let (_, left) = futures::join!(join, players[m].client.leave_party());
                        if left.is_ok() {
                            churned.fetch_add(1, Ordering::Relaxed);
                            let _ = players[m].client.join_queue("team", "eu").await;
                        }
                        None
                    }
                    (Churn::Kick, Some(&m)) => {
                        let (_, kicked) =
                            futures::join!(join, leader.client.kick_from_party(&players[m].id));
                        if kicked.is_ok() {
                            churned.fetch_add(1, Ordering::Relaxed);
                            let _ = players[m].client.join_queue("team", "eu").await;
                        }
                        None
                    }
                    (Churn::Reconnect, Some(&m)) => {
                        let again = async {
                            players[m].client.close().await;
                            Player::connect(&players[m].id, url_for(m, true), m % 2 == 0).await
                        };
                        let (_, again) = futures::join!(join, again);
                        Some((m, again))
                    }
                    _ => {
                        let _ = join.await;
                        None
                    }
                }
            }
        })
        .buffer_unordered(32)
        .filter_map(|again| async move { again })
        .collect()
        .await;
    let reconnects = reconnected.len();
    for (m, again) in reconnected {
        players[m] = again;
    }
    let churned = churned.into_inner();
    eprintln!("{churned} members left or were kicked around the join; {reconnects} reconnected");
    assert!(churned > 0 && reconnects > 0, "the churn happened");

    // Settled: no hand-over in flight, and neither the queue nor the matches formed
    // changed for two seconds in a row.
    let redis = rallypoint_tests::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("keys");
    let queue = keys.queue("team", "eu");
    let pool = keys.pool("eu");
    let mut last = (u64::MAX, u64::MAX);
    let mut steady = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    while steady < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue never settled"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let queued: u64 = redis.zcard(queue.waiting()).await.expect("redis");
        let formed: u64 = redis.zcard(pool.pending()).await.expect("redis");
        let claimed: u64 = redis.zcard(queue.claimed()).await.expect("redis");
        steady = if (queued, formed) == last && claimed == 0 {
            steady + 1
        } else {
            0
        };
        last = (queued, formed);
    }

    // The matches formed, as the pool has them.
    let formed: Vec<String> = redis
        .zrange(pool.pending(), 0, -1, None, false, None, false)
        .await
        .expect("redis");
    assert!(
        formed.len() * 2 * TEAM_SIZE >= PLAYERS / 2,
        "at least half the players matched: {} matches",
        formed.len()
    );
    let mut match_of: BTreeMap<String, String> = BTreeMap::new();
    for match_id in &formed {
        let json: Option<String> = redis
            .hget(pool.pool_match(match_id), "record")
            .await
            .expect("redis");
        let record: queues::MatchRecord =
            serde_json::from_str(&json.expect("a record")).expect("a readable record");
        assert_eq!(record.teams.len(), 2, "{match_id}: two teams");
        for team in &record.teams {
            assert_eq!(team.len(), TEAM_SIZE, "{match_id}: every team full");
        }
        // A party's ticket sits whole on one team.
        let mut team_of_ticket: BTreeMap<&str, usize> = BTreeMap::new();
        for (t, team) in record.teams.iter().enumerate() {
            for seat in team {
                let first = *team_of_ticket.entry(seat.ticket.as_str()).or_insert(t);
                assert_eq!(
                    first, t,
                    "{match_id}: ticket {} split across teams",
                    seat.ticket
                );
                if let Some(before) = match_of.insert(seat.player.clone(), match_id.clone()) {
                    panic!("{} is in two matches: {before} and {match_id}", seat.player);
                }
            }
        }
    }
    // Every matched player's live match is that match.
    for (player, match_id) in &match_of {
        let live: Option<String> = redis
            .get(keys.player(player).current_match())
            .await
            .expect("redis");
        assert_eq!(
            live.as_deref(),
            Some(match_id.as_str()),
            "{player}'s live match"
        );
    }
    // Whoever is still queued is in one ticket and in no match.
    let tickets: BTreeMap<String, String> = redis.hgetall(queue.players()).await.expect("redis");
    let mut queued = BTreeSet::new();
    let mut sizes = [0_usize; TEAM_SIZE + 1];
    for (ticket, seats) in &tickets {
        let members = queues::members::parse(seats, 0.0).expect("a ticket's members");
        sizes[members.len().min(TEAM_SIZE)] += 1;
        for member in members {
            assert!(
                !match_of.contains_key(&member.player),
                "{} is queued ({ticket}) and in match {}",
                member.player,
                match_of[&member.player]
            );
            assert!(
                queued.insert(member.player.clone()),
                "{} is in two tickets",
                member.player
            );
        }
    }
    eprintln!(
        "{} matches formed ({} players), {} players still queued in {} tickets (by size: {:?})",
        formed.len(),
        match_of.len(),
        queued.len(),
        tickets.len(),
        &sizes[1..]
    );
    // Everyone is online at the end, and windows are unbounded: what is left cannot make
    // two full teams of whole parties (else the matchmaker left a match unformed).
    assert!(
        !two_teams_possible(&sizes),
        "the tickets left (by size {:?}) could make a match",
        &sizes[1..]
    );
    for player in &players {
        player.client.close().await;
    }
    stack.stop().await;
}

/// Whether tickets of these sizes (`sizes[n]` tickets seating `n`) can fill two teams of
/// [`TEAM_SIZE`], every ticket whole on one team.
fn two_teams_possible(sizes: &[usize; TEAM_SIZE + 1]) -> bool {
    // The ways to seat one team: how many tickets of each size.
    fn teams(
        left: usize,
        largest: usize,
        counts: &mut [usize; TEAM_SIZE + 1],
        out: &mut Vec<[usize; TEAM_SIZE + 1]>,
    ) {
        if left == 0 {
            out.push(*counts);
            return;
        }
        for size in (1..=largest.min(left)).rev() {
            counts[size] += 1;
            teams(left - size, size, counts, out);
            counts[size] -= 1;
        }
    }
    let mut ways = Vec::new();
    teams(TEAM_SIZE, TEAM_SIZE, &mut [0; TEAM_SIZE + 1], &mut ways);
    ways.iter().any(|a| {
        ways.iter()
            .any(|b| (1..=TEAM_SIZE).all(|n| a[n] + b[n] <= sizes[n]))
    })
}

#[test]
fn two_teams_possible_knows_which_parties_fill_two_teams() {
    assert!(two_teams_possible(&[0, 10, 0, 0, 0, 0]));
    assert!(two_teams_possible(&[0, 0, 0, 0, 0, 2]));
    assert!(two_teams_possible(&[0, 2, 1, 2, 0, 0]), "3+2 and 3+1+1");
    assert!(
        !two_teams_possible(&[0, 1, 1, 2, 0, 0]),
        "3+2, then 3+1 is one short"
    );
    assert!(
        !two_teams_possible(&[0, 0, 0, 8, 24, 0]),
        "threes and fours never make five"
    );
    assert!(two_teams_possible(&[0, 1, 0, 0, 1, 1]), "4+1 and 5");
    assert!(
        !two_teams_possible(&[0, 0, 0, 0, 1, 1]),
        "a four without a one"
    );
}
