//! Matches in play on this server, and the endpoint players join them through.
//!
//! `POST /v1/join` {`match`, `player`, `token`}: `200` when the token is the player's join
//! token for that match on this server and has not expired (`proto::join_token`), `403`
//! when it is not, `404` for a match
//! this server is not running. A player may arrive before the server's own long poll has
//! brought the assignment (both learn of the match at the same moment): a join for an
//! unknown match waits up to [`EARLY_JOIN_WAIT`] for it. A match starts when all its players joined or the join
//! timeout passed, whichever is first.
//!
//! With a backfill delay set ([`Games::with_backfill_after`]), a player "leaves" each game
//! that long after it starts and the server asks the pool for one player for that team;
//! the match comes back in the assignments with the `backfilled` player, who may then join,
//! and the server acknowledges the update.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use game_server_sdk::{JoinVerifier, PoolClient};
use proto::{Assignment, BackfillRequest, BackfillSlot, MatchResult};
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// One match waiting for or in play.
struct Match {
    expected: HashSet<String>,
    joined: HashSet<String>,
    all_joined: Arc<Notify>,
    /// The teams as the latest assignment gave them.
    teams: proto::Teams,
    /// Players who left the game (they are not placed in its result).
    left: HashSet<String>,
}

struct Inner {
    /// This server's id and the join secrets (the current one, and during a rotation the
    /// previous one): join tokens are checked with them.
    verifier: JoinVerifier,
    /// The pool: backfill requests and results.
    pool: Arc<PoolClient>,
    join_timeout: Duration,
    game: Duration,
    /// When a player leaves each game and a backfill is asked for, if ever.
    backfill_after: Option<Duration>,
    matches: Mutex<HashMap<String, Match>>,
    /// Every match ever started, so an assignment seen twice starts once.
    seen: Mutex<HashSet<String>>,
    running: Mutex<JoinSet<()>>,
    /// Signalled whenever an assignment arrives (for joins that came first).
    assigned: Notify,
}

/// How long a join for a match not yet assigned here waits for the assignment. Both
/// learn of the match at once, but while Redis fails over the server's long poll can lag
/// the player's `match.found` by several seconds (3 s was too short for the failover
/// test on a busy CI machine: PROTOCOL.md, "Join tokens").
pub const EARLY_JOIN_WAIT: Duration = Duration::from_secs(10);

/// The server's games. Cheap to clone.
#[derive(Clone)]
pub struct Games {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Games {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Games")
            .field("active", &self.active())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Deserialize)]
struct Join {
    #[serde(rename = "match")]
    match_id: String,
    player: String,
    token: String,
}

impl Games {
    pub fn new(
        verifier: JoinVerifier,
        pool: Arc<PoolClient>,
        join_timeout: Duration,
        game: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                verifier,
                pool,
                join_timeout,
                game,
                backfill_after: None,
                matches: Mutex::default(),
                seen: Mutex::default(),
                running: Mutex::new(JoinSet::new()),
                assigned: Notify::new(),
            }),
        }
    }

    /// Has a player leave each game `after` it starts, and asks for a backfill then.
    /// Call before the server takes any game.
    pub fn with_backfill_after(mut self, after: Option<Duration>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.backfill_after = after;
        }
        self
    }

    /// Games in play or waiting for players.
    pub fn active(&self) -> u32 {
        lock(&self.inner.matches).len() as u32
    }

    /// The ids of the games in play or waiting for players (what heartbeats list).
    pub fn ids(&self) -> Vec<proto::Id> {
        lock(&self.inner.matches)
            .keys()
            .filter_map(|id| proto::Id::parse(id).ok())
            .collect()
    }

    /// The players' join endpoint.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/join", post(join))
            .with_state(self.clone())
    }

    /// A random player of `match_id` leaves; the server asks for one player for their team.
    async fn one_leaves(&self, match_id: &str) {
        let left = {
            let mut matches = lock(&self.inner.matches);
            let Some(game) = matches.get_mut(match_id) else {
                return;
            };
            let staying: Vec<(u32, String)> = game
                .teams
                .iter()
                .enumerate()
                .flat_map(|(team, members)| {
                    members
                        .iter()
                        .map(move |m| (team as u32, m.player.to_string()))
                })
                .filter(|(_, player)| !game.left.contains(player))
                .collect();
            if staying.is_empty() {
                return;
            }
            let (team, player) = staying[fastrand::usize(..staying.len())].clone();
            game.left.insert(player.clone());
            game.expected.remove(&player);
            (team, player)
        };
        let (team, player) = left;
        tracing::info!(%match_id, %player, team, "a player left the game; asking for a backfill");
        let request = BackfillRequest {
            slots: vec![BackfillSlot { team, count: 1 }],
        };
        match self.inner.pool.backfill(match_id, &request).await {
            Ok(status) if status.is_success() => {}
            Ok(status) => {
                tracing::warn!(%match_id, %status, "the pool did not take the backfill request")
            }
            Err(err) => tracing::warn!(%match_id, error = %err, "could not ask for a backfill"),
        }
    }

    async fn play(&self, assignment: Assignment, all_joined: Arc<Notify>) {
        let match_id = assignment.match_id.to_string();
        let joined_all = tokio::time::timeout(self.inner.join_timeout, all_joined.notified())
            .await
            .is_ok();
        let joined = lock(&self.inner.matches)
            .get(&match_id)
            .map_or(0, |m| m.joined.len());
        tracing::info!(%match_id, joined, all = joined_all, "match starting");
        let game_ms = self.inner.game.as_millis() as u64;
        let length = Duration::from_millis(game_ms / 2 + fastrand::u64(0..=game_ms / 2));
        match self.inner.backfill_after.filter(|after| *after < length) {
            Some(after) => {
                tokio::time::sleep(after).await;
                self.one_leaves(&match_id).await;
                tokio::time::sleep(length - after).await;
            }
            None => tokio::time::sleep(length).await,
        }

        // The teams as they are now (with backfilled players), without those who left.
        let (mut teams, left) = lock(&self.inner.matches)
            .get(&match_id)
            .map_or((assignment.teams.clone(), HashSet::new()), |game| {
                (game.teams.clone(), game.left.clone())
            });
        fastrand::shuffle(&mut teams);
        let placements = teams
            .iter()
            .map(|team| {
                team.iter()
                    .filter(|m| !left.contains(m.player.as_str()))
                    .map(|m| m.player.clone())
                    .collect()
            })
            .filter(|group: &Vec<proto::Id>| !group.is_empty())
            .collect();
        let result = MatchResult {
            placements,
            stats: Some(
                serde_json::json!({ "length_ms": length.as_millis() as u64, "joined": joined }),
            ),
        };
        match self.inner.pool.result(&match_id, &result).await {
            Ok(status) if status.is_success() => tracing::info!(%match_id, "result posted"),
            Ok(status) => tracing::warn!(%match_id, %status, "the pool refused the result"),
            Err(err) => tracing::error!(%match_id, error = %err, "could not post the result"),
        }
        lock(&self.inner.matches).remove(&match_id);
    }
}

/// What the SDK's loop hands this server: new matches (readied, then played once
/// acknowledged) and backfill updates.
impl game_server_sdk::Games for Games {
    fn in_play(&self) -> Vec<proto::Id> {
        self.ids()
    }

    fn runs(&self, match_id: &str) -> bool {
        lock(&self.inner.seen).contains(match_id)
    }

    fn prepare(&self, assignment: &Assignment) {
        let match_id = assignment.match_id.to_string();
        lock(&self.inner.seen).insert(match_id.clone());
        let expected = assignment
            .teams
            .iter()
            .flatten()
            .map(|m| m.player.to_string())
            .collect();
        lock(&self.inner.matches).insert(
            match_id,
            Match {
                expected,
                joined: HashSet::new(),
                all_joined: Arc::new(Notify::new()),
                teams: assignment.teams.clone(),
                left: HashSet::new(),
            },
        );
        self.inner.assigned.notify_waiters();
    }

    fn start(&self, assignment: Assignment) {
        let Some(all_joined) = lock(&self.inner.matches)
            .get(assignment.match_id.as_str())
            .map(|m| m.all_joined.clone())
        else {
            return;
        };
        let games = self.clone();
        lock(&self.inner.running).spawn(async move {
            games.play(assignment, all_joined).await;
        });
    }

    fn abandon(&self, match_id: &str) {
        lock(&self.inner.matches).remove(match_id);
    }

    /// Backfilled players join the match's teams (before the update is acknowledged).
    fn update(&self, assignment: Assignment) {
        let match_id = assignment.match_id.to_string();
        {
            let mut matches = lock(&self.inner.matches);
            let Some(game) = matches.get_mut(&match_id) else {
                return;
            };
            for player in &assignment.backfilled {
                if game.expected.insert(player.to_string()) {
                    tracing::info!(%match_id, %player, "a backfilled player is on the way");
                }
            }
            game.teams = assignment.teams;
        }
        self.inner.assigned.notify_waiters();
    }

    /// Waits for every game in play to end.
    async fn finish(&self) {
        let mut running = std::mem::take(&mut *lock(&self.inner.running));
        while running.join_next().await.is_some() {}
    }
}

async fn join(
    State(games): State<Games>,
    Json(join): Json<Join>,
) -> (StatusCode, Json<serde_json::Value>) {
    let deadline = tokio::time::Instant::now() + EARLY_JOIN_WAIT;
    loop {
        let assigned = games.inner.assigned.notified();
        if lock(&games.inner.matches).contains_key(&join.match_id)
            || tokio::time::timeout_at(deadline, assigned).await.is_err()
        {
            break;
        }
    }
    let mut matches = lock(&games.inner.matches);
    let Some(game) = matches.get_mut(&join.match_id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(
                serde_json::json!({"error": "not_found", "message": "no such match on this server"}),
            ),
        );
    };
    let checked = games
        .inner
        .verifier
        .verify(&join.match_id, &join.player, &join.token);
    let refusal = match checked {
        Ok(()) if game.expected.contains(&join.player) => None,
        Ok(()) => Some("this player is not in this match".to_owned()),
        Err(err) => Some(err.to_string()),
    };
    if let Some(message) = refusal {
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({"error": "forbidden", "message": message})),
        );
    }
    game.joined.insert(join.player);
    if game.joined.len() == game.expected.len() {
        game.all_joined.notify_one();
    }
    (
        StatusCode::OK,
        Json(serde_json::json!({"joined": game.joined.len(), "of": game.expected.len()})),
    )
}
