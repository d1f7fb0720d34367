//! A match's players: letting them go when the match ends or is cancelled, marking their
//! rating pending when a result is posted, and the `match.found` each one is owed again
//! after a reconnect.
//!
//! A player's live match (`{p:<player>}:match`) keeps them out of the queues while the
//! match lasts; each change to it is a script on the player's slot, one per player.
//!
//! A pending rating holds a player's next join until their result is committed. The
//! region's `rating_pending` index lists the matches whose players were marked, so a mark
//! whose result never got recorded (the post failed half-way and was not retried) is
//! cleared after [`core_keys::ttl::RATING_PENDING_GRACE`] rather than block for an hour.

use core_keys::scripts;
use fred::prelude::{HashesInterface, KeysInterface, SortedSetsInterface};
use service_runtime::script::LuaScript;

use crate::Matches;
use crate::state::field;

static PLAYER_FREE: LuaScript<i64> = LuaScript::new(include_str!("players/player_free.lua"));
static PLAYER_RESULT: LuaScript<i64> = LuaScript::new(include_str!("players/player_result.lua"));

impl Matches {
    /// Frees `players` of `match_id`: clears their live-match marker and a pending rating
    /// of that match, so they may queue again. The one way a match lets its players go
    /// when it will not be rated (cancelled, lost, or its result set aside).
    pub async fn free_players<'a>(
        &self,
        match_id: &str,
        players: impl Iterator<Item = &'a str>,
    ) -> Result<(), fred::error::Error> {
        self.per_player(&PLAYER_FREE, players, vec![match_id.to_owned()])
            .await
    }

    /// A result for `match_id` was posted: takes `players` out of the match and marks
    /// their rating pending until the cache-warmer has committed it
    /// (`player_result.lua`), after putting the match in `region`'s rating-pending index.
    /// Runs before the result enters the outbox, so the commit's refresh always clears
    /// the mark. A posted result indexes the match with its look-up instead
    /// (`pool_result_begin.lua`) and then marks the players alone; this whole step is
    /// what a caller without that look-up runs (the reconciler's test leaves marks of a
    /// result that never got recorded with it).
    pub async fn mark_rating_pending<'a>(
        &self,
        region: &str,
        match_id: &str,
        players: impl Iterator<Item = &'a str>,
    ) -> Result<(), fred::error::Error> {
        // Indexed first, so no mark stands that the reconciler does not know of.
        let _: i64 = self
            .redis
            .zadd(
                self.keys.pool(region).rating_pending(),
                None,
                None,
                false,
                false,
                (service_runtime::clock::now_ms() as f64, match_id),
            )
            .await?;
        self.mark_players_rating_pending(match_id, players).await
    }

    /// [`Matches::mark_rating_pending`] for a match already in its region's index
    /// (`pool_result_begin.lua` put it there): the players' marks alone.
    pub(crate) async fn mark_players_rating_pending<'a>(
        &self,
        match_id: &str,
        players: impl Iterator<Item = &'a str>,
    ) -> Result<(), fred::error::Error> {
        let ttl = core_keys::ttl::RATING_PENDING.as_millis().to_string();
        self.per_player(&PLAYER_RESULT, players, vec![match_id.to_owned(), ttl])
            .await
    }

    /// The reconciler of pending ratings: for each match of `region` whose players were
    /// marked at least [`core_keys::ttl::RATING_PENDING_GRACE`] ago, a result that got
    /// recorded is left to the cache-warmer's commit (which clears the marks); one that
    /// never did frees its players' marks, so they may queue again.
    pub async fn clear_stale_rating_marks(&self, region: &str) -> Result<(), fred::error::Error> {
        let pool = self.keys.pool(region);
        let grace = core_keys::ttl::RATING_PENDING_GRACE.as_millis() as u64;
        let stale = self.older_than(pool.rating_pending(), grace, 64).await?;
        for match_id in stale {
            let (digest, record): (Option<String>, Option<String>) = self
                .redis
                .hmget(
                    pool.pool_match(&match_id),
                    vec![field::RESULT_DIGEST, field::RECORD],
                )
                .await?;
            let record = record.and_then(|r| serde_json::from_str::<queues::MatchRecord>(&r).ok());
            if let (None, Some(record)) = (digest, record) {
                tracing::warn!(
                    match_id,
                    region,
                    "a result was posted but never recorded; its players' pending ratings are cleared"
                );
                metrics::counter!("rallypoint_pool_stale_rating_marks_total").increment(1);
                self.free_players(&match_id, crate::game_server::players_of(&record))
                    .await?;
            }
            let _: i64 = self.redis.zrem(pool.rating_pending(), &match_id).await?;
        }
        Ok(())
    }

    /// Runs `script` on each player's live-match and pending-rating keys, side by side.
    async fn per_player<'a>(
        &self,
        script: &LuaScript<i64>,
        players: impl Iterator<Item = &'a str>,
        args: Vec<String>,
    ) -> Result<(), fred::error::Error> {
        let runs = players.map(|player| {
            script.run(
                &self.redis,
                scripts::player_result(&self.keys, player),
                args.clone(),
            )
        });
        for ran in futures::future::join_all(runs).await {
            ran?;
        }
        Ok(())
    }

    /// The `match.found` the pool stored for `player` in `match_id`, if the match was
    /// announced.
    pub async fn match_found(
        &self,
        player: &str,
        match_id: &str,
    ) -> Result<Option<proto::ServerMessage>, fred::error::Error> {
        let json: Option<String> = self
            .redis
            .hget(self.keys.match_(match_id).record(), field::found(player))
            .await?;
        Ok(json.and_then(|j| {
            proto::decode_server(j.as_bytes(), proto::Encoding::Json, proto::MAX_EVENT_BYTES).ok()
        }))
    }

    /// The `match.found` of `player`'s live match, if they are in one and it was
    /// announced: what a client is owed again after a push may have been lost.
    pub async fn owed_match_found(
        &self,
        player: &str,
    ) -> Result<Option<proto::ServerMessage>, fred::error::Error> {
        let live: Option<String> = self
            .redis
            .get(self.keys.player(player).current_match())
            .await?;
        match live {
            Some(match_id) => self.match_found(player, &match_id).await,
            None => Ok(None),
        }
    }
}

impl Matches {
    /// The match record as an operator sees it: every field but the players' stored
    /// `match.found` (which carry their join tokens).
    pub async fn describe(
        &self,
        match_id: &str,
    ) -> Result<std::collections::HashMap<String, String>, fred::error::Error> {
        let mut record: std::collections::HashMap<String, String> = self
            .redis
            .hgetall(self.keys.match_(match_id).record())
            .await?;
        record.retain(|name, _| !name.starts_with(field::FOUND_PREFIX));
        Ok(record)
    }
}
