//! Who a ticket seats: one player, or the members of a party (its leader first), each
//! with their own rating. A party queues as one ticket, matched whole onto one team.
//!
//! Everywhere a ticket names its player (the ticket's hash, the queue's player index,
//! the change log, a snapshot) a party ticket names its members instead, in one field:
//! `alice=1512.5,bob=1620` (ids never hold `=` or `,`). A solo ticket keeps the bare
//! player id, as before parties, so the format of every solo ticket is unchanged.

use serde::Deserialize;

/// One player a ticket seats.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub player: String,
    pub rating: f64,
}

/// The field that names `members` (in order).
pub fn encode(members: &[Member]) -> String {
    match members {
        [one] => one.player.clone(),
        _ => members
            .iter()
            .map(|m| format!("{}={}", m.player, m.rating))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// The members a field names; a bare player id is one member at `ticket_rating`. `None`
/// for a field that is not one of ours.
pub fn parse(field: &str, ticket_rating: f64) -> Option<Vec<Member>> {
    if field.is_empty() {
        return None;
    }
    if !field.contains('=') {
        return Some(vec![Member {
            player: field.to_owned(),
            rating: ticket_rating,
        }]);
    }
    field
        .split(',')
        .map(|pair| {
            let (player, rating) = pair.split_once('=')?;
            let rating: f64 = rating.parse().ok().filter(|r: &f64| r.is_finite())?;
            (!player.is_empty()).then(|| Member {
                player: player.to_owned(),
                rating,
            })
        })
        .collect()
}

/// How a party ticket's rating comes from its members' (`party_rating` of a queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyRating {
    /// The members' mean.
    #[default]
    Mean,
    /// The strongest member's (a party cannot hide a strong player behind weak ones).
    Max,
}

impl PartyRating {
    /// The rating of a ticket seating `members` (at least one).
    pub fn of(self, members: &[Member]) -> f64 {
        let ratings = members.iter().map(|m| m.rating);
        match self {
            PartyRating::Mean => ratings.sum::<f64>() / members.len().max(1) as f64,
            PartyRating::Max => ratings.fold(f64::MIN, f64::max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(player: &str, rating: f64) -> Member {
        Member {
            player: player.into(),
            rating,
        }
    }

    #[test]
    fn a_solo_ticket_keeps_the_bare_player_id_and_a_party_names_every_member() {
        let solo = [member("alice", 1500.0)];
        assert_eq!(encode(&solo), "alice");
        assert_eq!(parse("alice", 1500.0), Some(solo.to_vec()));
        let party = [member("alice", 1512.5), member("bob", 1620.0)];
        assert_eq!(encode(&party), "alice=1512.5,bob=1620");
        assert_eq!(parse(&encode(&party), 0.0), Some(party.to_vec()));
        for junk in ["", "a=", "=1", "a=x", "a=1,,b=2", "a=inf"] {
            assert_eq!(parse(junk, 1.0), None, "{junk:?}");
        }
    }

    #[test]
    fn a_party_plays_at_its_mean_or_its_strongest() {
        let party = [
            member("a", 1400.0),
            member("b", 1600.0),
            member("c", 1800.0),
        ];
        assert_eq!(PartyRating::Mean.of(&party), 1600.0);
        assert_eq!(PartyRating::Max.of(&party), 1800.0);
    }
}
