//! Match results: the match row, its participants and everyone's new rating, stored in one
//! transaction, once per match id however often the same result is delivered.
//!
//! The ratings a result moves are the players' ratings in the database at the time of the
//! commit (locked, in id order so two results sharing a player never deadlock). A player
//! cannot be in two live matches at once, and their next join waits for their last result
//! to be stored (bounded: see `core_keys::ttl::RATING_PENDING`), so normally each player's
//! results are applied in the order they were played.

use std::collections::HashMap;

use sqlx::PgPool;

use crate::DbError;
use crate::elo::{self, TeamResult};
use crate::players::{self, Profile};

/// A finished match as the server pool recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedMatch {
    pub match_id: String,
    pub queue: String,
    pub region: String,
    pub server: String,
    /// ms since the Unix epoch.
    pub formed_ms: Option<u64>,
    pub started_ms: Option<u64>,
    pub ended_ms: u64,
    /// The teams as formed (player ids). Empty when the formation record is lost: then
    /// each placement group is a team.
    pub teams: Vec<Vec<String>>,
    /// Player ids grouped by placement, best first (ties share a group).
    pub placements: Vec<Vec<String>>,
    /// Game statistics as posted.
    pub stats: Option<serde_json::Value>,
}

/// How ratings move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatingRules {
    /// Elo's K factor: the most a rating moves in an even game is K/2.
    pub k: f64,
    /// The rating of a player the database has never seen.
    pub default_rating: f64,
}

/// What storing a result did.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// Stored now; the participants' profiles after the change.
    New(Vec<Profile>),
    /// Stored before (a repeated delivery); nothing changed. The participants' profiles
    /// as they are now.
    Already(Vec<Profile>),
}

impl Stored {
    pub fn profiles(&self) -> &[Profile] {
        match self {
            Stored::New(p) | Stored::Already(p) => p,
        }
    }
}

/// One participant: team index and placement (1 = best).
#[derive(Debug, Clone, PartialEq)]
struct Seat {
    player: String,
    team: usize,
    placement: usize,
}

/// Who sat where: every player of the teams (or of the placements when there are no
/// teams) with their team's placement. A team's placement is its best-placed member's;
/// a team with no member placed is placed after everyone.
fn seats(m: &FinishedMatch) -> Vec<Seat> {
    // A player's best (first) placement counts if they are listed twice.
    let mut place_of: HashMap<&str, usize> = HashMap::new();
    for (i, group) in m.placements.iter().enumerate() {
        for player in group {
            place_of.entry(player.as_str()).or_insert(i + 1);
        }
    }
    let teams: &[Vec<String>] = if m.teams.is_empty() {
        &m.placements
    } else {
        &m.teams
    };
    let last = m.placements.len() + 1;
    let mut seats = Vec::new();
    let mut seated = std::collections::HashSet::new();
    for (team, members) in teams.iter().enumerate() {
        // A player listed twice sits once, in the first team that names them.
        let members: Vec<&String> = members
            .iter()
            .filter(|p| seated.insert(p.as_str()))
            .collect();
        let placement = members
            .iter()
            .filter_map(|p| place_of.get(p.as_str()).copied())
            .min()
            .unwrap_or(last);
        seats.extend(members.iter().map(|player| Seat {
            player: (*player).clone(),
            team,
            placement,
        }));
    }
    seats
}

/// `stats` with NUL characters taken out of every string: PostgreSQL's jsonb cannot hold
/// them, and a game server's free-form statistics must not make a result unstorable.
fn without_nul(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(s.replace('\0', "")),
        Value::Array(items) => Value::Array(items.iter().map(without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.replace('\0', ""), without_nul(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn timestamp(ms: Option<u64>) -> Option<f64> {
    ms.map(|ms| ms as f64 / 1000.0)
}

/// Stores `m` and moves the participants' ratings, in one transaction; a match id already
/// stored changes nothing.
pub async fn store(db: &PgPool, m: &FinishedMatch, rules: RatingRules) -> Result<Stored, DbError> {
    let mut stored = store_all(db, &[m], rules).await?;
    Ok(stored.pop().expect("store_all answers once per result"))
}

/// Stores a batch of results in one transaction (a handful of statements for the whole
/// batch, not per result: the cache-warmer commits a round of its outbox this way), in
/// their order: a player in two of them is rated by the first, then the second. A match
/// id already stored, or earlier in the batch, changes nothing. Either every result is
/// stored or none (an error names no result: retry them one by one with [`store`] to
/// find one PostgreSQL refuses). One `Stored` per result, in order; each holds its
/// participants' profiles as the batch left them.
pub async fn store_all(
    db: &PgPool,
    batch: &[&FinishedMatch],
    rules: RatingRules,
) -> Result<Vec<Stored>, DbError> {
    let column = |f: fn(&FinishedMatch) -> String| batch.iter().map(|m| f(m)).collect::<Vec<_>>();
    let outcomes = column(|m| {
        serde_json::json!({
            "placements": m.placements,
            "stats": m.stats.as_ref().map(without_nul),
        })
        .to_string()
    });

    let mut tx = db.begin().await?;
    let inserted: std::collections::HashSet<String> = sqlx::query_scalar::<_, String>(
        "INSERT INTO matches (id, queue, region, server, formed_at, started_at, ended_at, outcome)
         SELECT id, queue, region, server, to_timestamp(formed), to_timestamp(started),
                to_timestamp(ended), outcome::jsonb
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[],
                       $6::float8[], $7::float8[], $8::text[])
             AS new(id, queue, region, server, formed, started, ended, outcome)
         ON CONFLICT (id) DO NOTHING
         RETURNING id",
    )
    .bind(column(|m| m.match_id.clone()))
    .bind(column(|m| m.queue.clone()))
    .bind(column(|m| m.region.clone()))
    .bind(column(|m| m.server.clone()))
    .bind(
        batch
            .iter()
            .map(|m| timestamp(m.formed_ms))
            .collect::<Vec<_>>(),
    )
    .bind(
        batch
            .iter()
            .map(|m| timestamp(m.started_ms))
            .collect::<Vec<_>>(),
    )
    .bind(
        batch
            .iter()
            .map(|m| m.ended_ms as f64 / 1000.0)
            .collect::<Vec<_>>(),
    )
    .bind(&outcomes)
    // Another delivery of a result that committed first (or is committing: the insert
    // waits for it on the primary key) is not returned: stored before.
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();

    // Which results are new: inserted now, and the first of their id in the batch.
    let mut claimed = std::collections::HashSet::new();
    let new: Vec<bool> = batch
        .iter()
        .map(|m| inserted.contains(&m.match_id) && claimed.insert(m.match_id.as_str()))
        .collect();
    let seats: Vec<Vec<Seat>> = batch.iter().map(|m| seats(m)).collect();
    let mut everyone: Vec<String> = seats.iter().flatten().map(|s| s.player.clone()).collect();
    everyone.sort();
    everyone.dedup();

    players::create_missing(&mut *tx, &everyone, rules.default_rating).await?;
    // Locked in id order, so two batches sharing players never deadlock.
    let mut rating: HashMap<String, f64> = sqlx::query_as::<_, (String, f64)>(
        "SELECT id, rating FROM players WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&everyone)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();

    let mut rows = ParticipantRows::default();
    let mut games: HashMap<String, i32> = HashMap::new();
    for (m, seats) in batch
        .iter()
        .zip(&seats)
        .zip(&new)
        .filter_map(|(ms, &n)| n.then_some(ms))
    {
        let rating_of = |p: &str| rating.get(p).copied().unwrap_or(rules.default_rating);
        let team_count = seats.iter().map(|s| s.team + 1).max().unwrap_or(0);
        let teams: Vec<TeamResult> = (0..team_count)
            .map(|team| {
                let members: Vec<&Seat> = seats.iter().filter(|s| s.team == team).collect();
                TeamResult {
                    ratings: members.iter().map(|s| rating_of(&s.player)).collect(),
                    placement: members.first().map_or(usize::MAX, |s| s.placement),
                }
            })
            .collect();
        let changes = elo::team_changes(&teams, rules.k);
        let moves: Vec<(f64, f64)> = seats
            .iter()
            .map(|s| {
                let before = rating_of(&s.player);
                (before, before + changes.get(s.team).copied().unwrap_or(0.0))
            })
            .collect();
        for (s, (before, after)) in seats.iter().zip(moves) {
            rows.push(&m.match_id, s, before, after);
            rating.insert(s.player.clone(), after);
            *games.entry(s.player.clone()).or_default() += 1;
        }
    }

    let mut profiles: HashMap<String, Profile> = HashMap::new();
    if !games.is_empty() {
        sqlx::query(
            "INSERT INTO match_participants (match_id, player_id, team, placement, rating_before, rating_after)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::float8[], $6::float8[])",
        )
        .bind(&rows.match_ids)
        .bind(&rows.players)
        .bind(&rows.teams)
        .bind(&rows.placements)
        .bind(&rows.before)
        .bind(&rows.after)
        .execute(&mut *tx)
        .await?;
        let (ids, played): (Vec<String>, Vec<i32>) = games.into_iter().unzip();
        let ratings: Vec<f64> = ids
            .iter()
            .map(|p| rating.get(p).copied().unwrap_or(rules.default_rating))
            .collect();
        // The version grows by one per result, as with every change.
        for profile in sqlx::query_as::<_, Profile>(
            "UPDATE players
                SET rating = new.rating, games_played = games_played + new.played,
                    version = version + new.played, updated_at = now()
               FROM unnest($1::text[], $2::float8[], $3::int4[]) AS new(id, rating, played)
              WHERE players.id = new.id
          RETURNING players.id, display_name, players.rating, games_played, version",
        )
        .bind(&ids)
        .bind(&ratings)
        .bind(&played)
        .fetch_all(&mut *tx)
        .await?
        {
            profiles.insert(profile.id.clone(), profile);
        }
    }
    // The players of results stored before, as they are now.
    let unchanged: Vec<String> = everyone
        .iter()
        .filter(|p| !profiles.contains_key(*p))
        .cloned()
        .collect();
    if !unchanged.is_empty() {
        for profile in players::get(&mut *tx, &unchanged).await? {
            profiles.insert(profile.id.clone(), profile);
        }
    }
    tx.commit().await?;

    Ok(seats
        .iter()
        .zip(new)
        .map(|(seats, new)| {
            let of_match = seats
                .iter()
                .filter_map(|s| profiles.get(&s.player).cloned())
                .collect();
            if new {
                Stored::New(of_match)
            } else {
                Stored::Already(of_match)
            }
        })
        .collect())
}

/// The rows of `match_participants` a batch adds, column by column (for `unnest`).
#[derive(Default)]
struct ParticipantRows {
    match_ids: Vec<String>,
    players: Vec<String>,
    teams: Vec<i32>,
    placements: Vec<i32>,
    before: Vec<f64>,
    after: Vec<f64>,
}

impl ParticipantRows {
    fn push(&mut self, match_id: &str, seat: &Seat, before: f64, after: f64) {
        self.match_ids.push(match_id.to_owned());
        self.players.push(seat.player.clone());
        self.teams.push(seat.team as i32);
        self.placements.push(seat.placement as i32);
        self.before.push(before);
        self.after.push(after);
    }
}

/// A participant's row, for history and tests.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Participant {
    pub player_id: String,
    pub team: i32,
    pub placement: i32,
    pub rating_before: f64,
    pub rating_after: f64,
}

/// The participants of a stored match, by team then player.
pub async fn participants(db: &PgPool, match_id: &str) -> Result<Vec<Participant>, DbError> {
    Ok(sqlx::query_as::<_, Participant>(
        "SELECT player_id, team, placement, rating_before, rating_after
           FROM match_participants WHERE match_id = $1 ORDER BY team, player_id",
    )
    .bind(match_id)
    .fetch_all(db)
    .await?)
}

/// How many matches with this id are stored (0 or 1: the test of idempotence).
pub async fn count(db: &PgPool, match_id: &str) -> Result<i64, DbError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM matches WHERE id = $1")
            .bind(match_id)
            .fetch_one(db)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(teams: &[&[&str]], placements: &[&[&str]]) -> FinishedMatch {
        let owned = |groups: &[&[&str]]| -> Vec<Vec<String>> {
            groups
                .iter()
                .map(|g| g.iter().map(|p| (*p).to_owned()).collect())
                .collect()
        };
        FinishedMatch {
            match_id: "m".into(),
            queue: "squad".into(),
            region: "eu".into(),
            server: "s".into(),
            formed_ms: None,
            started_ms: None,
            ended_ms: 0,
            teams: owned(teams),
            placements: owned(placements),
            stats: None,
        }
    }

    #[test]
    fn a_team_places_where_its_best_member_does() {
        let s = seats(&finished(
            &[&["a", "b"], &["c", "d"]],
            &[&["c"], &["a"], &["b", "d"]],
        ));
        let place = |p: &str| {
            s.iter()
                .find(|x| x.player == p)
                .map(|x| (x.team, x.placement))
        };
        assert_eq!(place("a"), Some((0, 2)));
        assert_eq!(place("b"), Some((0, 2)));
        assert_eq!(place("c"), Some((1, 1)));
        assert_eq!(place("d"), Some((1, 1)));
    }

    #[test]
    fn a_player_listed_twice_sits_once() {
        let s = seats(&finished(&[], &[&["a"], &["a", "b"]]));
        assert_eq!(
            s.iter()
                .map(|x| (x.player.as_str(), x.placement))
                .collect::<Vec<_>>(),
            vec![("a", 1), ("b", 2)]
        );
    }

    #[test]
    fn nul_characters_leave_the_stats() {
        let stats = serde_json::json!({"name\u{0}": ["a\u{0}b", 1], "x": "ok"});
        assert_eq!(
            without_nul(&stats),
            serde_json::json!({"name": ["ab", 1], "x": "ok"})
        );
    }

    #[test]
    fn unplaced_teams_come_last_and_lost_teams_follow_placements() {
        let s = seats(&finished(&[&["a"], &["b"]], &[&["a"]]));
        assert_eq!(s[1].placement, 2);
        let s = seats(&finished(&[], &[&["x"], &["y", "z"]]));
        assert_eq!(
            s.iter().map(|x| (x.team, x.placement)).collect::<Vec<_>>(),
            vec![(0, 1), (1, 2), (1, 2)]
        );
    }
}
