//! Ratings as the docs promise them, computed here by hand to check what the cache-warmer
//! stored: classic Elo with K = 32 between two teams, a team rated by the mean of its
//! members, the better-placed team scoring 1 (a tie 0.5), every member moving by the
//! team's change. Written out again on purpose rather than calling `persistence::elo`, so
//! a bug there cannot hide here.

use std::collections::HashMap;

use persistence::results::Participant;
use sqlx::PgPool;

/// The K factor of the default config (`warmer.k_factor`).
pub const K: f64 = 32.0;

/// Every new player's rating.
pub const START: f64 = 1500.0;

/// What each participant's rating must be after their two-team match, from the ratings
/// and placements stored with it.
pub fn expected_after(participants: &[Participant]) -> HashMap<String, f64> {
    let mut teams: Vec<i32> = participants.iter().map(|p| p.team).collect();
    teams.sort_unstable();
    teams.dedup();
    assert_eq!(teams.len(), 2, "two teams: {participants:?}");
    let side = |team: i32| -> (f64, i32) {
        let members: Vec<&Participant> = participants.iter().filter(|p| p.team == team).collect();
        let mean = members.iter().map(|p| p.rating_before).sum::<f64>() / members.len() as f64;
        (mean, members[0].placement)
    };
    let (a, b) = (side(teams[0]), side(teams[1]));
    let change = |me: (f64, i32), other: (f64, i32)| {
        let expected = 1.0 / (1.0 + 10f64.powf((other.0 - me.0) / 400.0));
        let score = match me.1.cmp(&other.1) {
            std::cmp::Ordering::Less => 1.0,
            std::cmp::Ordering::Equal => 0.5,
            std::cmp::Ordering::Greater => 0.0,
        };
        K * (score - expected)
    };
    participants
        .iter()
        .map(|p| {
            let delta = if p.team == teams[0] {
                change(a, b)
            } else {
                change(b, a)
            };
            (p.player_id.clone(), p.rating_before + delta)
        })
        .collect()
}

/// Checks the stored matches, round by round (each player in at most one match a round,
/// every round committed before the next was queued): each was rated from the ratings its
/// players had after the round before (1500 for new players), as [`expected_after`] says.
/// Returns every player's rating after the last round.
pub async fn assert_rated_in_order(db: &PgPool, rounds: &[Vec<String>]) -> HashMap<String, f64> {
    let mut ratings: HashMap<String, f64> = HashMap::new();
    for (round, matches) in rounds.iter().enumerate() {
        let mut after_round = HashMap::new();
        for match_id in matches {
            let participants = persistence::results::participants(db, match_id)
                .await
                .expect("participants");
            assert!(!participants.is_empty(), "{match_id} is stored");
            for p in &participants {
                let before = ratings.get(&p.player_id).copied().unwrap_or(START);
                assert!(
                    (p.rating_before - before).abs() < 1e-6,
                    "round {round}, {match_id}: {} played at {} but was rated {before}",
                    p.player_id,
                    p.rating_before
                );
            }
            for (player, expected) in expected_after(&participants) {
                let stored = participants
                    .iter()
                    .find(|p| p.player_id == player)
                    .map(|p| p.rating_after)
                    .unwrap_or(f64::NAN);
                assert!(
                    (stored - expected).abs() < 1e-6,
                    "round {round}, {match_id}: {player} stored {stored}, Elo says {expected}"
                );
                after_round.insert(player, expected);
            }
        }
        ratings.extend(after_round);
    }
    ratings
}
