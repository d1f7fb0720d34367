use super::*;

fn def(teams: u32, team_size: u32) -> QueueDefinition {
    QueueDefinition {
        teams,
        team_size,
        regions: vec!["eu".into()],
        initial_window: 100.0,
        widen_per_second: 50.0,
        max_window: 400.0,
        max_wait_ms: 60_000,
        party_rating: Default::default(),
        ready_check_ms: 0,
        decline_cooldown_ms: 60_000,
    }
}

fn ticket(id: &str, rating: f64, enqueued_ms: u64) -> QueuedTicket {
    party(id, &[rating], enqueued_ms)
}

/// A ticket seating a party whose members have `ratings` (the ticket at their mean).
fn party(id: &str, ratings: &[f64], enqueued_ms: u64) -> QueuedTicket {
    let members: Vec<queues::Member> = ratings
        .iter()
        .enumerate()
        .map(|(i, r)| queues::Member {
            player: if ratings.len() == 1 {
                format!("p-{id}")
            } else {
                format!("p-{id}-{i}")
            },
            rating: *r,
        })
        .collect();
    QueuedTicket {
        id: id.into(),
        rating: queues::PartyRating::Mean.of(&members),
        members,
        enqueued_ms,
        trace: None,
    }
}

fn ids(teams: &[Vec<&QueuedTicket>]) -> Vec<Vec<String>> {
    teams
        .iter()
        .map(|t| t.iter().map(|p| p.id.clone()).collect())
        .collect()
}

fn sums(teams: &[Vec<&QueuedTicket>]) -> Vec<f64> {
    teams
        .iter()
        .map(|t| {
            t.iter()
                .map(|p| p.members.iter().map(|m| m.rating).sum::<f64>())
                .sum()
        })
        .collect()
}

const NOW: u64 = 1_000_000;

#[test]
fn the_window_widens_with_wait_up_to_the_maximum() {
    let d = def(2, 1);
    assert_eq!(window(&d, 0), 100.0);
    assert_eq!(window(&d, 2_000), 200.0);
    assert_eq!(window(&d, 5_000), 350.0);
    assert_eq!(window(&d, 60_000), 400.0);
}

#[test]
fn two_far_apart_tickets_match_only_once_the_window_has_grown() {
    let d = def(2, 1);
    // 300 points apart: the older ticket's window reaches 300 after 4 s of waiting.
    let mirror = Mirror::load(vec![
        ticket("a", 1500.0, NOW),
        ticket("b", 1800.0, NOW + 10),
    ]);
    assert!(form_matches(&d, NOW + 3_000, &mirror, |_| true, 10).is_empty());
    let formed = form_matches(&d, NOW + 4_000, &mirror, |_| true, 10);
    assert_eq!(formed.len(), 1);
}

#[test]
fn the_oldest_ticket_is_matched_first_with_its_nearest_ratings() {
    let d = def(2, 1);
    // "old" waited longest; "near" is 10 points from it, "far" 90 points; the young pair
    // would also match each other, but the old ticket chooses first.
    let mirror = Mirror::load(vec![
        ticket("old", 1500.0, NOW - 1_000),
        ticket("far", 1590.0, NOW - 500),
        ticket("near", 1490.0, NOW - 100),
        ticket("young", 1595.0, NOW),
    ]);
    let formed = form_matches(&d, NOW, &mirror, |_| true, 10);
    let mut pairs: Vec<Vec<String>> = formed
        .iter()
        .map(|m| {
            let mut ids: Vec<String> = m.iter().flatten().map(|t| t.id.clone()).collect();
            ids.sort();
            ids
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        vec![
            vec!["far".to_owned(), "young".to_owned()],
            vec!["near".to_owned(), "old".to_owned()]
        ]
    );
}

#[test]
fn an_anchor_without_enough_partners_waits_and_younger_tickets_still_match() {
    let d = def(2, 1);
    let mirror = Mirror::load(vec![
        ticket("lonely", 3000.0, NOW - 1_000),
        ticket("x", 1500.0, NOW - 10),
        ticket("y", 1520.0, NOW),
    ]);
    let formed = form_matches(&d, NOW, &mirror, |_| true, 10);
    assert_eq!(formed.len(), 1);
    let mut got: Vec<String> = formed[0].iter().flatten().map(|t| t.id.clone()).collect();
    got.sort();
    assert_eq!(got, ["x", "y"]);
}

#[test]
fn ineligible_tickets_and_the_limit_are_respected() {
    let d = def(2, 1);
    let mirror = Mirror::load(
        (0..10)
            .map(|i| {
                ticket(
                    &format!("t{i}"),
                    1500.0 + f64::from(i),
                    NOW + u64::from(i as u8),
                )
            })
            .collect(),
    );
    let formed = form_matches(&d, NOW, &mirror, |t| t.id != "t0", 2);
    assert_eq!(formed.len(), 2);
    assert!(formed.iter().flatten().flatten().all(|t| t.id != "t0"));
    // No ticket is used twice.
    let mut seen: Vec<&str> = formed
        .iter()
        .flatten()
        .flatten()
        .map(|t| t.id.as_str())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4);
}

#[test]
fn two_teams_of_two_get_the_split_with_the_smallest_difference() {
    // 1900 + 1100 = 3000 vs 1600 + 1400 = 3000: the only even split.
    let players = [
        ticket("a", 1900.0, 0),
        ticket("b", 1600.0, 0),
        ticket("c", 1400.0, 0),
        ticket("d", 1100.0, 0),
    ];
    let teams = balance(players.iter().collect(), 2, 2).expect("full teams");
    assert_eq!(sums(&teams), vec![3000.0, 3000.0]);
    assert_eq!(ids(&teams), vec![vec!["a", "d"], vec!["b", "c"]]);
}

#[test]
fn two_teams_of_three_beat_the_greedy_split() {
    // Greedy (strongest to the weakest team with room) gives 9+3+1 = 13 vs 6+5+4 = 15;
    // the exact search finds 9+4+1 = 14 vs 6+5+3 = 14.
    let players = [
        ticket("a", 9.0, 0),
        ticket("b", 6.0, 0),
        ticket("c", 5.0, 0),
        ticket("d", 4.0, 0),
        ticket("e", 3.0, 0),
        ticket("f", 1.0, 0),
    ];
    let teams = balance(players.iter().collect(), 2, 3).expect("full teams");
    assert_eq!(sums(&teams), vec![14.0, 14.0]);
    assert_eq!(ids(&teams), vec![vec!["a", "d", "f"], vec!["b", "c", "e"]]);
}

#[test]
fn more_teams_are_balanced_greedily_and_filled_exactly() {
    let players: Vec<QueuedTicket> = (0..9)
        .map(|i| ticket(&format!("p{i}"), 1000.0 + 100.0 * f64::from(i), 0))
        .collect();
    let teams = balance(players.iter().collect(), 3, 3).expect("full teams");
    assert!(teams.iter().all(|t| t.len() == 3));
    let s = sums(&teams);
    let spread =
        s.iter().cloned().fold(f64::MIN, f64::max) - s.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread <= 300.0, "greedy keeps teams close: {s:?}");
}

#[test]
fn squad_matches_form_from_the_nearest_four() {
    let d = def(2, 2);
    let mirror = Mirror::load(vec![
        ticket("a", 1500.0, NOW - 100),
        ticket("b", 1510.0, NOW - 90),
        ticket("c", 1560.0, NOW - 80),
        ticket("d", 1440.0, NOW - 70),
        ticket("e", 1800.0, NOW - 60),
    ]);
    let formed = form_matches(&d, NOW, &mirror, |_| true, 10);
    assert_eq!(formed.len(), 1);
    let teams = &formed[0];
    let mut all: Vec<String> = teams.iter().flatten().map(|t| t.id.clone()).collect();
    all.sort();
    assert_eq!(all, ["a", "b", "c", "d"]);
    // 1560 + 1440 = 3000 vs 1510 + 1500 = 3010: the best split.
    let s = sums(teams);
    assert_eq!((s[0] - s[1]).abs(), 10.0);
}

#[test]
fn two_tickets_of_one_player_never_meet() {
    let d = def(2, 1);
    let mut twin = ticket("t2", 1501.0, NOW + 1);
    twin.members[0].player = "p-t1".into();
    let mirror = Mirror::load(vec![
        ticket("t1", 1500.0, NOW),
        twin,
        ticket("t3", 1510.0, NOW + 2),
    ]);
    let formed = form_matches(&d, NOW, &mirror, |_| true, 10);
    assert_eq!(formed.len(), 1);
    let players: Vec<&str> = formed[0].iter().flatten().map(|t| t.leader()).collect();
    assert!(players.contains(&"p-t3"), "{players:?}");
    assert_ne!(players[0], players[1]);
}

#[test]
fn a_party_plays_whole_on_one_team_and_every_team_is_full() {
    let d = def(2, 2);
    let mirror = Mirror::load(vec![
        party("duo", &[1450.0, 1550.0], NOW - 100),
        ticket("a", 1520.0, NOW - 90),
        ticket("b", 1480.0, NOW - 80),
    ]);
    let formed = form_matches(&d, NOW, &mirror, |_| true, 10);
    assert_eq!(formed.len(), 1);
    let teams = &formed[0];
    let seats: Vec<usize> = teams
        .iter()
        .map(|t| t.iter().map(|x| x.size()).sum())
        .collect();
    assert_eq!(seats, vec![2, 2]);
    let with_duo = teams
        .iter()
        .find(|t| t.iter().any(|x| x.id == "duo"))
        .expect("the duo plays");
    assert_eq!(
        with_duo.len(),
        1,
        "the duo fills its team alone: {:?}",
        ids(teams)
    );
    assert_eq!(sums(teams), vec![3000.0, 3000.0]);
}

#[test]
fn parties_that_cannot_make_full_teams_wait_and_a_solo_player_completes_them() {
    // Three pairs for two teams of three: no split keeps every pair whole.
    let d = def(2, 3);
    let pairs = vec![
        party("x", &[1500.0, 1500.0], NOW - 100),
        party("y", &[1500.0, 1500.0], NOW - 90),
        party("z", &[1500.0, 1500.0], NOW - 80),
    ];
    let mirror = Mirror::load(pairs.clone());
    assert!(form_matches(&d, NOW, &mirror, |_| true, 10).is_empty());
    // Two pairs and two solo players make 3 + 3; the third pair waits.
    let mut tickets = pairs;
    tickets.push(ticket("s1", 1500.0, NOW - 70));
    tickets.push(ticket("s2", 1500.0, NOW - 60));
    let mirror = Mirror::load(tickets);
    let formed = form_matches(&d, NOW, &mirror, |_| true, 10);
    assert_eq!(formed.len(), 1);
    for team in &formed[0] {
        assert_eq!(
            team.iter().map(|t| t.size()).sum::<usize>(),
            3,
            "{:?}",
            ids(&formed[0])
        );
        assert_eq!(team.iter().filter(|t| t.size() == 2).count(), 1);
    }
}

#[test]
fn a_party_larger_than_a_team_is_never_matched_and_blocks_nobody() {
    let d = def(2, 1);
    let mirror = Mirror::load(vec![
        party("big", &[1500.0, 1500.0], NOW - 100),
        ticket("a", 1500.0, NOW - 90),
        ticket("b", 1500.0, NOW - 80),
    ]);
    let formed = form_matches(&d, NOW, &mirror, |_| true, 10);
    assert_eq!(formed.len(), 1);
    assert_eq!(ids(&formed[0]), vec![vec!["a"], vec!["b"]]);
}

#[test]
fn a_party_member_and_their_own_solo_ticket_never_meet() {
    let d = def(2, 2);
    let duo = party("duo", &[1500.0, 1500.0], NOW - 100);
    let mut stray = ticket("stray", 1500.0, NOW - 90);
    stray.members[0].player = duo.members[1].player.clone();
    let mirror = Mirror::load(vec![duo, stray, ticket("c", 1500.0, NOW - 80)]);
    // Only three distinct players: no match.
    assert!(form_matches(&d, NOW, &mirror, |_| true, 10).is_empty());
}

fn backfill(requested_ms: u64, means: &[f64], wanted: &[(usize, usize)]) -> OpenBackfill {
    OpenBackfill {
        match_id: "m1".into(),
        id: "b1".into(),
        server: "gs-1".into(),
        requested_ms,
        means: means.to_vec(),
        wanted: wanted.iter().copied().collect(),
    }
}

fn filled(chosen: &[(usize, &QueuedTicket)]) -> Vec<(usize, String)> {
    chosen
        .iter()
        .map(|(team, t)| (*team, t.id.clone()))
        .collect()
}

#[test]
fn a_backfill_takes_the_nearest_rating_to_the_team_mean_within_the_window() {
    let now = 10_000;
    let mirror = Mirror::load(vec![
        ticket("far", 1900.0, now),
        ticket("near", 1640.0, now),
        ticket("nearest", 1590.0, now),
        ticket("other-side", 1420.0, now),
    ]);
    // Team 1's mean is 1600: the nearest ticket joins it.
    let open = backfill(now, &[1400.0, 1600.0], &[(1, 1)]);
    let chosen = fill_backfill(&def(2, 2), now, &mirror, |_| true, &open);
    assert_eq!(filled(&chosen), vec![(1, "nearest".to_owned())]);
    // Two wanted on team 0 (mean 1400): the two nearest inside the 100-point window.
    let open = backfill(now, &[1400.0, 1600.0], &[(0, 2)]);
    let chosen = fill_backfill(&def(2, 2), now, &mirror, |_| true, &open);
    assert_eq!(filled(&chosen), vec![(0, "other-side".to_owned())]);
}

#[test]
fn a_backfill_window_widens_from_when_it_was_asked() {
    let mirror = Mirror::load(vec![ticket("far", 1800.0, 50_000)]);
    let open = backfill(50_000, &[1500.0], &[(0, 1)]);
    // 300 points off: not at first (window 100), after 4 s (100 + 4 x 50 = 300) yes.
    assert!(fill_backfill(&def(2, 2), 50_000, &mirror, |_| true, &open).is_empty());
    let chosen = fill_backfill(&def(2, 2), 54_000, &mirror, |_| true, &open);
    assert_eq!(filled(&chosen), vec![(0, "far".to_owned())]);
}

#[test]
fn a_backfill_takes_a_party_only_where_its_whole_size_is_wanted() {
    let now = 10_000;
    let mirror = Mirror::load(vec![
        party("pair", &[1500.0, 1500.0], now),
        ticket("solo", 1560.0, now),
        ticket("offline", 1500.0, now),
    ]);
    let eligible = |t: &QueuedTicket| t.id != "offline";
    // One seat: the pair does not fit, the solo player does.
    let open = backfill(now, &[1500.0], &[(0, 1)]);
    let chosen = fill_backfill(&def(2, 3), now, &mirror, eligible, &open);
    assert_eq!(filled(&chosen), vec![(0, "solo".to_owned())]);
    // Three seats: the pair (nearest) and the solo player; never the offline one.
    let open = backfill(now, &[1500.0], &[(0, 3)]);
    let chosen = fill_backfill(&def(2, 3), now, &mirror, eligible, &open);
    assert_eq!(
        filled(&chosen),
        vec![(0, "pair".to_owned()), (0, "solo".to_owned())]
    );
    // Two teams asking: a ticket joins one of them only.
    let open = backfill(now, &[1500.0, 1500.0], &[(0, 1), (1, 1)]);
    let chosen = fill_backfill(&def(2, 3), now, &mirror, eligible, &open);
    assert_eq!(filled(&chosen), vec![(0, "solo".to_owned())]);
}

#[test]
fn when_the_nearest_parties_cannot_split_a_farther_set_that_can_is_taken() {
    // Two teams of five: a party of four with the two trios nearest it makes ten, but no
    // split keeps every party whole; the four, the nearer trio, a solo player and a pair do.
    let d = def(2, 5);
    let tickets = vec![
        party("four", &[1500.0; 4], NOW - 100),
        party("trio-a", &[1510.0; 3], NOW - 90),
        party("trio-b", &[1520.0; 3], NOW - 80),
        ticket("solo", 1530.0, NOW - 70),
        party("pair", &[1540.0; 2], NOW - 60),
    ];
    let mirror = Mirror::load(tickets);
    let formed = form_matches(&d, NOW, &mirror, |_| true, 10);
    assert_eq!(formed.len(), 1, "one match");
    let mut taken: Vec<String> = formed[0].iter().flatten().map(|t| t.id.clone()).collect();
    taken.sort();
    assert_eq!(taken, vec!["four", "pair", "solo", "trio-a"]);
    for team in &formed[0] {
        assert_eq!(team.iter().map(|t| t.size()).sum::<usize>(), 5);
    }
}
