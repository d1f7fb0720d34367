//! A game server's life in the pool, around the game's [`Games`]: register, heartbeat at
//! the interval the pool asks for (listing the games in play; registering again when the
//! pool forgot the server), long-poll for assignments and acknowledge each before polling
//! again, hand new matches and backfill updates to the game, honour a drain, and leave
//! the pool on stop.

use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use proto::{Assignment, MatchId, RegisterServer};

use crate::pool::{PoolClient, PoolError, Standing};

/// What a game server does with what the pool gives it. The SDK calls these from its loop:
/// keep them quick (start a game by spawning it).
pub trait Games: Send + Sync {
    /// The matches in play now (every heartbeat lists them: a started match left out of
    /// two heartbeats in a row ends as `server_lost`).
    fn in_play(&self) -> Vec<MatchId>;

    /// Whether this server has taken `match_id` already: an assignment of it is then a
    /// backfill's update ([`Games::update`]), not a new match.
    fn runs(&self, match_id: &str) -> bool;

    /// A new match, before it is acknowledged: get ready for its players, who may connect
    /// as soon as the pool has the acknowledgement.
    fn prepare(&self, assignment: &Assignment);

    /// The pool has the acknowledgement (or could not be told, and the match is played
    /// anyway: the next poll brings it back, as an update): play it.
    fn start(&self, assignment: Assignment);

    /// The pool refused the acknowledgement (the match is not this server's any more):
    /// forget what [`Games::prepare`] readied.
    fn abandon(&self, match_id: &str);

    /// A match this server runs changed: players joined it by backfill (`backfilled`,
    /// and the new `teams`). Called before the update is acknowledged, so the new players
    /// are expected before they can arrive.
    fn update(&self, assignment: Assignment);

    /// Resolves when every game in play has ended (after a drain, or on stop).
    fn finish(&self) -> impl Future<Output = ()> + Send;
}

/// Why [`serve`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `stop` resolved: the server left the pool and finished its games.
    Stopped,
    /// An operator drained the server and it has left the pool (`410`): it must not
    /// register again by itself.
    Drained,
}

/// Registers `server` and serves the pool until `stop` resolves or the server is drained,
/// then finishes the games in play. Fails only when the registration is refused for good
/// (a wrong registration token, an invalid server).
pub async fn serve(
    pool: &PoolClient,
    server: &RegisterServer,
    games: &impl Games,
    stop: impl Future<Output = ()>,
) -> Result<Exit, PoolError> {
    let interval = pool.register(server).await?;
    tracing::info!(id = %server.id, region = %server.region, address = %server.address, capacity = server.capacity, "registered with the server pool");
    tokio::pin!(stop);
    let mut beat = tokio::time::interval(interval);
    let mut draining = false;
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = beat.tick() => {
                let in_play = games.in_play();
                let active = in_play.len() as u32;
                match pool.heartbeat(server, active, in_play).await {
                    Ok(Standing::Member) => draining = false,
                    Ok(Standing::Draining) => {
                        if !draining {
                            tracing::info!("an operator is draining this server: no new games; it leaves when its games end");
                        }
                        draining = true;
                    }
                    Ok(Standing::Drained) => {
                        tracing::info!("drained: this server has left the pool; finishing and stopping");
                        games.finish().await;
                        return Ok(Exit::Drained);
                    }
                    Err(err) => tracing::warn!(error = %err, "heartbeat failed; retrying at the next beat"),
                }
            },
            assignments = pool.assignments(server.id.as_str()) => match assignments {
                // Acknowledged before the next poll, several at once.
                Ok(assignments) => {
                    join_all(assignments.into_iter().map(|a| take(pool, games, a))).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "polling for assignments failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            },
        }
    }
    tracing::info!("leaving the pool: no new games; finishing the ones in play");
    if let Err(err) = pool.leave(server.id.as_str()).await {
        tracing::warn!(error = %err, "could not tell the pool; it reaps this server when heartbeats stop");
    }
    games.finish().await;
    Ok(Exit::Stopped)
}

/// One assignment: a new match is readied, acknowledged, then started; an update of a
/// running one is applied, then acknowledged (which takes it out of the assignments).
async fn take(pool: &PoolClient, games: &impl Games, assignment: Assignment) {
    let match_id = assignment.match_id.clone();
    if games.runs(match_id.as_str()) {
        games.update(assignment);
        match pool.ack(match_id.as_str()).await {
            Ok(status) if status.is_success() => {}
            Ok(status) => {
                tracing::warn!(%match_id, %status, "the pool did not take the update's acknowledgement")
            }
            Err(err) => {
                tracing::warn!(%match_id, error = %err, "could not acknowledge the update; the next poll shows it again")
            }
        }
        return;
    }
    tracing::info!(%match_id, players = assignment.teams.iter().map(Vec::len).sum::<usize>(), "took an assignment");
    games.prepare(&assignment);
    match pool.ack(match_id.as_str()).await {
        Ok(status) if status.is_success() => games.start(assignment),
        Ok(status) => {
            tracing::warn!(%match_id, %status, "the pool did not take the acknowledgement; dropping the match");
            games.abandon(match_id.as_str());
        }
        Err(err) => {
            tracing::warn!(%match_id, error = %err, "acknowledgement failed; playing anyway (the next poll shows it again)");
            games.start(assignment);
        }
    }
}
