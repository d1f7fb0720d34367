//! Block lists: the changes the gateway leaves in `{warm}:block-changes` applied to
//! PostgreSQL in order by the one instance holding the lease ([`run`]), and a player's
//! list loaded from PostgreSQL into Redis when it is not there ([`load`], with the
//! profile warm-up).
//!
//! A round reads a batch from the outbox's head, applies it in one transaction
//! (idempotent: a block is an insert that ignores a duplicate, an unblock a delete), and
//! takes it off with `blocks_ack.lua`, fenced by the lease and by the head being
//! unchanged. A crash between the commit and the ack applies the batch again, which
//! changes nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::ListInterface;
use service_runtime::lease::{Lease, LeaseKeeper, Transition};
use service_runtime::script::LuaScript;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

static BLOCKS_PUT: LuaScript<Vec<String>> = LuaScript::new(include_str!("blocks/blocks_put.lua"));
static BLOCKS_ACK: LuaScript<i64> = LuaScript::new(include_str!("blocks/blocks_ack.lua"));

/// Changes applied per round at most.
const BATCH: i64 = 500;
/// How often the outbox is looked at when it was empty.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// Loads `players`' block lists from PostgreSQL into Redis where Redis does not have them,
/// and tells each player's connection its list (a `blocks` event, a hint).
pub async fn load(shared: &Shared, players: &[String]) -> anyhow::Result<()> {
    if players.is_empty() {
        return Ok(());
    }
    let rows = shared
        .db
        .observe(persistence::blocks::of(&shared.db.pool, players).await)?;
    let mut lists: BTreeMap<&str, Vec<String>> =
        players.iter().map(|p| (p.as_str(), Vec::new())).collect();
    for (player, blocked) in rows {
        if let Some(list) = lists.get_mut(player.as_str()) {
            list.push(blocked);
        }
    }
    for (player, blocked) in lists {
        let now = BLOCKS_PUT
            .run(
                &shared.ctx.redis,
                core_keys::scripts::player_blocks(&shared.ctx.keys, player),
                blocked,
            )
            .await?;
        let (Ok(id), blocked) = (
            proto::PlayerId::parse(player),
            now.iter()
                .filter_map(|b| proto::PlayerId::parse(b).ok())
                .collect::<Vec<_>>(),
        ) else {
            continue;
        };
        let inbox = shared.ctx.keys.player(player).inbox_channel();
        shared
            .ctx
            .publisher
            .publish_event(
                &inbox,
                proto::Event::Blocks {
                    player: id,
                    blocked,
                },
            )
            .await;
    }
    Ok(())
}

/// Applies the outbox's changes while holding the lease, until `stop`.
pub async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let keys = &shared.ctx.keys;
    let mut keeper = LeaseKeeper::new(Lease::with_owner(
        keys.block_changes_lease(),
        shared.ctx.instance_id.clone(),
        Duration::from_millis(shared.config.warmer.lease_ms),
    ));
    let mut pause = IDLE_POLL;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
        }
        match keeper.check(&shared.ctx.redis).await {
            Transition::Gained => {
                tracing::info!("applying block changes: this instance holds the lease")
            }
            Transition::Lost => {
                tracing::info!("applying block changes: lease lost to another instance")
            }
            Transition::Unchanged => {}
        }
        if !keeper.is_held() {
            pause = IDLE_POLL;
            continue;
        }
        pause = match round(&shared, keeper.lease().owner()).await {
            Ok(true) => Duration::ZERO,
            Ok(false) => IDLE_POLL,
            Err(err) => {
                tracing::warn!(error = %err, "applying block changes failed; retrying");
                Duration::from_secs(1)
            }
        };
    }
    keeper.release(&shared.ctx.redis).await;
}

/// One batch: true if a full batch was applied (more may wait).
async fn round(shared: &Shared, owner: &str) -> anyhow::Result<bool> {
    let keys = &shared.ctx.keys;
    let batch: Vec<String> = shared
        .ctx
        .redis
        .lrange(keys.block_changes(), 0, BATCH - 1)
        .await?;
    let Some(first) = batch.first().cloned() else {
        return Ok(false);
    };
    let parsed: Vec<proto::BlockChange> = batch
        .iter()
        .filter_map(|entry| match serde_json::from_str(entry) {
            Ok(change) => Some(change),
            Err(err) => {
                // The gateway's own writes: one that cannot be read is logged and passed.
                metrics::counter!("rallypoint_warmer_block_changes_unreadable_total").increment(1);
                tracing::error!(entry, error = %err, "an unreadable block change; skipped");
                None
            }
        })
        .collect();
    let changes: Vec<persistence::blocks::BlockChange<'_>> = parsed
        .iter()
        .map(|c| (c.player.as_str(), c.other.as_str(), c.block))
        .collect();
    shared
        .db
        .observe(persistence::blocks::apply(&shared.db.pool, &changes).await)?;
    let taken = BLOCKS_ACK
        .run(
            &shared.ctx.redis,
            core_keys::scripts::blocks_ack(keys),
            vec![owner.to_owned(), batch.len().to_string(), first],
        )
        .await?;
    if taken == 1 {
        metrics::counter!("rallypoint_warmer_block_changes_total").increment(batch.len() as u64);
    }
    Ok(taken == 1 && batch.len() as i64 == BATCH)
}
