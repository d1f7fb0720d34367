//! Invariant 1 of docs/ARCHITECTURE.md under stress: three matchmakers, hundreds of players joining
//! while some leave; afterwards every matched player is in exactly one match, nobody who
//! left is in one, and no ticket is lost (each is matched, left or still queued).

mod common;

use std::collections::HashMap;
use std::time::Duration;

use queues::{JoinOutcome, LeaveOutcome, TicketStatus};

const PLAYERS: usize = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Joined,
    Left,
    /// Tried to leave and was told `not_queued`: it must be in a match.
    LeaveRefused,
}

#[tokio::test]
async fn three_matchmakers_never_match_a_ticket_twice_or_lose_one() {
    let ns = testkit::unique_namespace("races");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let tickets = common::tickets(&redis, &keys);
    let units = [
        ("duel", "eu"),
        ("duel", "us"),
        ("squad", "eu"),
        ("squad", "us"),
    ];
    let player = |i: usize| format!("p{i}");
    for i in 0..PLAYERS {
        common::online(&redis, &keys, &player(i)).await;
    }
    let matchmakers = [
        common::start(&ns, &common::ANY_RATING).await,
        common::start(&ns, &common::ANY_RATING).await,
        common::start(&ns, &common::ANY_RATING).await,
    ];

    // Everyone joins at once; every fifth player leaves right away, racing the claims.
    let players = (0..PLAYERS).map(|i| {
        let tickets = tickets.clone();
        let (queue, region) = units[i % units.len()];
        let name = player(i);
        async move {
            let joined = tickets.join(&name, queue, region).await.expect("join");
            assert!(
                matches!(joined, JoinOutcome::Joined(_)),
                "{name}: {joined:?}"
            );
            if i % 5 != 0 {
                return (name, Fate::Joined);
            }
            // Leave at a random moment of the first few ticks, racing the claims.
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..200))).await;
            match tickets.leave(&name).await.expect("leave") {
                LeaveOutcome::Left { .. } => (name, Fate::Left),
                LeaveOutcome::NotQueued => (name, Fate::LeaveRefused),
            }
        }
    });
    let fates: HashMap<String, Fate> = futures::future::join_all(players)
        .await
        .into_iter()
        .collect();

    // Wait until each queue holds fewer tickets than one match needs.
    common::eventually("the queues to drain", Duration::from_secs(30), || async {
        let mut searching: HashMap<(String, String), usize> = HashMap::new();
        for name in fates.keys() {
            if let TicketStatus::Searching { queue, region, .. } =
                tickets.status(name).await.expect("status")
            {
                *searching.entry((queue, region)).or_default() += 1;
            }
        }
        searching
            .iter()
            .all(|((queue, _), n)| *n < if queue == "duel" { 2 } else { 4 })
    })
    .await;

    // Every match record, from the pool's pending sets.
    let mut appearances: HashMap<String, Vec<String>> = HashMap::new();
    let mut matches = 0;
    for region in ["eu", "us"] {
        for (id, record) in common::handed_over(&redis, &keys, region).await {
            matches += 1;
            let size = if record.queue == "duel" { 2 } else { 4 };
            assert_eq!(record.players().count(), size, "{record:?}");
            for p in record.players() {
                appearances
                    .entry(p.player.clone())
                    .or_default()
                    .push(id.clone());
            }
        }
    }
    let (mut matched, mut left, mut queued) = (0, 0, 0);
    for (name, fate) in &fates {
        let in_matches = appearances.get(name).map_or(0, Vec::len);
        assert!(in_matches <= 1, "{name} is in {in_matches} matches");
        let status = tickets.status(name).await.expect("status");
        match (fate, in_matches, &status) {
            (Fate::Left, 0, TicketStatus::Idle) => left += 1,
            (Fate::Left, _, _) => panic!("{name} left but is {status:?}, in {in_matches} matches"),
            (Fate::Joined | Fate::LeaveRefused, 1, TicketStatus::Matched { match_id, .. }) => {
                assert_eq!(appearances[name][0], *match_id);
                matched += 1;
            }
            (Fate::Joined, 0, TicketStatus::Searching { .. }) => queued += 1,
            _ => panic!("{name} ({fate:?}) is {status:?} and in {in_matches} matches: lost"),
        }
    }
    eprintln!(
        "{PLAYERS} players: {matched} matched in {matches} matches, {left} left, {queued} still queued"
    );
    assert_eq!(
        matched + left + queued,
        PLAYERS,
        "every ticket is accounted for"
    );
    assert!(matched > PLAYERS / 2, "most players were matched");
    for matchmaker in matchmakers {
        matchmaker.stop().await.expect("stops");
    }
}
