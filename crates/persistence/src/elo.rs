//! Elo ratings with team support: pure arithmetic, no I/O.
//!
//! A team's rating is the mean of its members' ratings. Every pair of teams in a match is a
//! game of classic Elo: the better-placed team scores 1, a tie 0.5; the expected score is
//! `1 / (1 + 10^((R_other - R_team) / 400))`. A team's change is `K` times the sum of
//! (score - expected) over its opponents, divided by the number of opponents so a match of
//! many teams moves ratings as much as a duel does. Every member of a team moves by the
//! team's change. With two teams this is exactly textbook Elo.

/// One team's ratings (members) and its placement (0 = best; equal placements tie).
#[derive(Debug, Clone, PartialEq)]
pub struct TeamResult {
    pub ratings: Vec<f64>,
    pub placement: usize,
}

/// The expected score of a side rated `rating` against one rated `opponent`.
pub fn expected_score(rating: f64, opponent: f64) -> f64 {
    1.0 / (1.0 + 10f64.powf((opponent - rating) / 400.0))
}

/// A team's rating: the mean of its members' (0 for an empty team).
pub fn team_rating(ratings: &[f64]) -> f64 {
    if ratings.is_empty() {
        return 0.0;
    }
    ratings.iter().sum::<f64>() / ratings.len() as f64
}

/// The rating change of each team (in input order) with factor `k`. A match of one team
/// (or none) changes nothing.
pub fn team_changes(teams: &[TeamResult], k: f64) -> Vec<f64> {
    let opponents = teams.len().saturating_sub(1);
    if opponents == 0 {
        return vec![0.0; teams.len()];
    }
    let strengths: Vec<f64> = teams.iter().map(|t| team_rating(&t.ratings)).collect();
    teams
        .iter()
        .enumerate()
        .map(|(i, team)| {
            let surplus: f64 = teams
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(j, other)| {
                    let score = match team.placement.cmp(&other.placement) {
                        std::cmp::Ordering::Less => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Greater => 0.0,
                    };
                    score - expected_score(strengths[i], strengths[j])
                })
                .sum();
            k * surplus / opponents as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(ratings: &[f64], placement: usize) -> TeamResult {
        TeamResult {
            ratings: ratings.to_vec(),
            placement,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn equal_players_move_by_half_of_k() {
        let changes = team_changes(&[team(&[1500.0], 0), team(&[1500.0], 1)], 32.0);
        assert_eq!(changes, vec![16.0, -16.0]);
    }

    #[test]
    fn the_favourite_gains_little_and_the_underdog_much() {
        // Hand-computed: E(1600 vs 1400) = 1 / (1 + 10^(-0.5)) = 0.7597469266479578.
        let favourite = team(&[1600.0], 0);
        let underdog = team(&[1400.0], 1);
        let won = team_changes(&[favourite.clone(), underdog.clone()], 32.0);
        assert!(close(won[0], 32.0 * (1.0 - 0.7597469266479578)), "{won:?}");
        assert!(close(won[1], -won[0]), "{won:?}");
        let upset = team_changes(&[team(&[1600.0], 1), team(&[1400.0], 0)], 32.0);
        assert!(close(upset[1], 32.0 * 0.7597469266479578), "{upset:?}");
    }

    #[test]
    fn a_tie_moves_the_stronger_side_down() {
        let changes = team_changes(&[team(&[1600.0], 0), team(&[1400.0], 0)], 20.0);
        assert!(close(changes[0], 20.0 * (0.5 - 0.7597469266479578)));
        assert!(close(changes[1], -changes[0]));
    }

    #[test]
    fn a_team_plays_at_its_mean_rating() {
        // (1700 + 1300) / 2 = 1500 against (1500 + 1500) / 2 = 1500: an even game.
        let changes = team_changes(
            &[team(&[1700.0, 1300.0], 1), team(&[1500.0, 1500.0], 0)],
            32.0,
        );
        assert_eq!(changes, vec![-16.0, 16.0]);
    }

    #[test]
    fn three_teams_average_over_opponents() {
        let teams: Vec<TeamResult> = (0..3).map(|place| team(&[1500.0], place)).collect();
        // First beats both (+0.5 surplus each), second beats one and loses one, last loses both.
        let changes = team_changes(&teams, 32.0);
        assert_eq!(changes, vec![16.0, 0.0, -16.0]);
    }

    #[test]
    fn the_sum_of_changes_is_zero_for_equal_sized_teams() {
        let teams = vec![
            team(&[1234.0, 1888.0], 2),
            team(&[1500.0, 1400.0], 0),
            team(&[2000.0, 1000.0], 1),
        ];
        let total: f64 = team_changes(&teams, 40.0).iter().sum();
        assert!(total.abs() < 1e-9, "{total}");
    }

    #[test]
    fn one_team_alone_changes_nothing() {
        let changes = team_changes(&[team(&[1500.0], 0)], 32.0);
        assert_eq!(changes, vec![0.0]);
        assert!(team_changes(&[], 32.0).is_empty());
    }
}
