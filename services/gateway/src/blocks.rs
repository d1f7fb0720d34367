//! Blocking: whispers from a player someone blocked are not delivered to them (the sender
//! gets `whisper.sent` as usual, so a block is not revealed).
//!
//! A player's list lives in Redis (`{p:<player>}:blocks`, no TTL) and in PostgreSQL. A
//! `block` or `unblock` changes the Redis list (`block_set.lua`, which holds the limit),
//! then leaves the change in the cache-warmer's outbox (`{warm}:block-changes`), which
//! applies it to PostgreSQL in order; the list is loaded back from PostgreSQL by the
//! cache-warmer when Redis does not have it (the field `""` marks a loaded list).
//!
//! The connection holding the player's socket keeps the list in memory ([`BlockList`],
//! read when the session opens, changed by the player's own requests and by a `blocks`
//! event when the cache-warmer loads it): the check on a whisper costs no Redis command.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use core_keys::{Keys, scripts};
use fred::prelude::{Client, ListInterface};
use proto::{BlockChange, PlayerId};
use service_runtime::script::LuaScript;

static BLOCK_SET: LuaScript<String> = LuaScript::new(include_str!("blocks/block_set.lua"));

/// Players one player may block at most.
pub const MAX_BLOCKS: usize = 1000;

/// The players a connection's player blocked. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct BlockList {
    blocked: Arc<Mutex<HashSet<PlayerId>>>,
}

impl BlockList {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<PlayerId>> {
        self.blocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the list (as loaded).
    pub fn replace(&self, blocked: impl IntoIterator<Item = PlayerId>) {
        *self.set() = blocked.into_iter().collect();
    }

    /// Whether `player` is blocked.
    pub fn contains(&self, player: &PlayerId) -> bool {
        self.set().contains(player)
    }

    fn change(&self, player: &PlayerId, block: bool) {
        if block {
            self.set().insert(player.clone());
        } else {
            self.set().remove(player);
        }
    }
}

/// Why a block change failed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("at most {MAX_BLOCKS} players may be blocked: unblock one first")]
    Full,
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
}

/// Blocks (`block`) or unblocks `other` for `player`: in Redis, in the connection's
/// `list`, and in the outbox for PostgreSQL.
pub async fn change(
    redis: &Client,
    keys: &Keys,
    player: &PlayerId,
    other: &PlayerId,
    block: bool,
    list: &BlockList,
) -> Result<(), BlockError> {
    let answer = BLOCK_SET
        .run(
            redis,
            scripts::player_blocks(keys, player.as_str()),
            vec![
                other.to_string(),
                if block { "1" } else { "0" }.to_owned(),
                MAX_BLOCKS.to_string(),
            ],
        )
        .await?;
    if answer == "full" {
        return Err(BlockError::Full);
    }
    list.change(other, block);
    let entry = BlockChange {
        player: player.clone(),
        other: other.clone(),
        block,
    };
    let json = serde_json::to_string(&entry)
        .map_err(|e| fred::error::Error::new(fred::error::ErrorKind::Parse, e.to_string()))?;
    let _: i64 = redis.rpush(keys.block_changes(), json).await?;
    metrics::counter!("rallypoint_gateway_block_changes_total", "change" => if block { "block" } else { "unblock" })
        .increment(1);
    Ok(())
}
