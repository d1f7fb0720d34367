//! Matches that cannot go on: no server in time (`no_server`), or their server died
//! (`server_lost`). A cancelled match's players get their tickets back with their original
//! wait and are told `match.cancelled` {`requeued: true`}; a game that was already running
//! on a dead server ends, and its players are told {`requeued: false`}.
//!
//! The cancel itself is one script on the region's slot (`pool_cancel.lua`), which also
//! records the match in the region's `cancelling` set; the cross-slot steps (requeue,
//! tell) run from that set, so an instance that dies half-way is finished by the next.

use std::sync::LazyLock;

use core_keys::scripts;
use fred::prelude::{HashesInterface, SortedSetsInterface};
use fred::types::scripts::Script;
use proto::server::reason;
use proto::{Id, ServerMessage};
use queues::MatchRecord;

use crate::allocator::deliver;
use crate::registry::now_ms;
use crate::state::Shared;

static CANCEL: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(include_str!("games/pool_cancel.lua")));

/// Cancels `match_id` in `region`. `server`: the server it was given to (if any);
/// `only_in`: the state the match must still be in (a deadline must not cancel a match
/// that moved on meanwhile: allocated, or acknowledged).
pub async fn cancel(
    shared: &Shared,
    region: &str,
    match_id: &str,
    server: Option<&str>,
    why: &str,
    only_in: Option<&str>,
) -> Result<(), fred::error::Error> {
    // A match with no server yet touches no server's keys; '-' names none.
    let server = server.unwrap_or("-");
    let outcome: String = CANCEL
        .evalsha_with_reload(
            &shared.redis,
            scripts::pool_cancel(&shared.keys, region, match_id, server),
            vec![
                match_id.to_owned(),
                why.to_owned(),
                now_ms().to_string(),
                only_in.unwrap_or_default().to_owned(),
                server.to_owned(),
            ],
        )
        .await?;
    match outcome.as_str() {
        "requeue" => {
            metrics::counter!("rallypoint_pool_cancellations_total", "reason" => why.to_owned())
                .increment(1);
            tracing::info!(
                match_id,
                region,
                reason = why,
                "match cancelled; its players are requeued"
            );
            finish(shared, region, match_id).await
        }
        "lost" => {
            metrics::counter!("rallypoint_pool_lost_games_total").increment(1);
            tracing::info!(
                match_id,
                region,
                "a running game's server died; the game is ended as lost"
            );
            finish(shared, region, match_id).await
        }
        _ => Ok(()),
    }
}

/// Finishes every cancellation of `region` still to be finished.
pub async fn finish_all(shared: &Shared, region: &str) -> Result<(), fred::error::Error> {
    let pending: Vec<String> = shared
        .redis
        .zrange(
            shared.keys.pool(region).cancelling(),
            0,
            99,
            None,
            false,
            None,
            false,
        )
        .await?;
    for match_id in pending {
        finish(shared, region, &match_id).await?;
    }
    Ok(())
}

/// Finishes a cancelled match (requeue its players and tell them) or a lost game (free
/// its players and tell them), and takes it off the region's `cancelling` set.
async fn finish(shared: &Shared, region: &str, match_id: &str) -> Result<(), fred::error::Error> {
    let pool = shared.keys.pool(region);
    let (state, why, outcome): (Option<String>, Option<String>, Option<String>) = shared
        .redis
        .hmget(
            pool.pool_match(match_id),
            vec!["state", "reason", "outcome"],
        )
        .await?;
    if let Some(record) = record(shared, region, match_id).await? {
        if state.as_deref() == Some("ended") {
            let why = outcome.unwrap_or_else(|| reason::SERVER_LOST.to_owned());
            shared.games.free_players(match_id, &record).await?;
            let _: i64 = shared
                .redis
                .hset(
                    shared.keys.match_(match_id).record(),
                    [("state", "ended"), ("outcome", why.as_str())],
                )
                .await?;
            tell(shared, &record, &why, false).await;
        } else {
            if let Err(err) = shared.tickets.requeue(&record).await {
                tracing::warn!(match_id, error = %err, "could not requeue a cancelled match's players; retrying");
                return Ok(());
            }
            let _: i64 = shared
                .redis
                .hset(
                    shared.keys.match_(match_id).record(),
                    [("state", "cancelled")],
                )
                .await?;
            tell(
                shared,
                &record,
                why.as_deref().unwrap_or(reason::NO_SERVER),
                true,
            )
            .await;
        }
    }
    let _: i64 = shared.redis.zrem(pool.cancelling(), match_id).await?;
    Ok(())
}

async fn record(
    shared: &Shared,
    region: &str,
    match_id: &str,
) -> Result<Option<MatchRecord>, fred::error::Error> {
    let json: Option<String> = shared
        .redis
        .hget(shared.keys.pool(region).pool_match(match_id), "record")
        .await?;
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}

async fn tell(shared: &Shared, record: &MatchRecord, why: &str, requeued: bool) {
    let Ok(match_id) = Id::parse(&record.match_id) else {
        return;
    };
    let pushes = record.players().map(|p| {
        deliver(
            shared,
            &p.player,
            ServerMessage::MatchCancelled {
                match_id: match_id.clone(),
                reason: why.to_owned(),
                requeued,
            },
        )
    });
    futures::future::join_all(pushes).await;
}
