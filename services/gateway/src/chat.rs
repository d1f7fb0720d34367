//! The per-player chat limit: N `room.send` + `whisper` per minute, kept in Redis
//! (`chat_rate.lua`, in the player's slot) so it holds whichever gateway the player is on
//! and however often they reconnect. A budget of N messages that refills evenly over the
//! minute (the generic cell rate algorithm: one number per player, a GET and a SET per
//! message, however large N). Redis's clock is used, so gateways with skewed clocks agree.

use std::time::Duration;

use core_keys::{Keys, scripts};
use fred::prelude::Client;
use service_runtime::script::LuaScript;

static CHAT_RATE: LuaScript<i64> = LuaScript::new(include_str!("chat/chat_rate.lua"));

/// The chat limit of one gateway instance.
#[derive(Debug)]
pub struct ChatLimit {
    keys: Keys,
    redis: Client,
    per_window: u32,
    window: Duration,
}

impl ChatLimit {
    pub fn new(keys: Keys, redis: Client, per_minute: u32) -> Self {
        Self {
            keys,
            redis,
            per_window: per_minute,
            window: core_keys::ttl::CHAT_RATE_WINDOW,
        }
    }

    /// Counts one chat message of `player`: `Ok(None)` if allowed, `Ok(Some(wait))` if the
    /// player must wait that long.
    pub async fn check(&self, player: &str) -> Result<Option<Duration>, fred::error::Error> {
        let wait_ms = CHAT_RATE
            .run(
                &self.redis,
                scripts::chat_rate(&self.keys, player),
                vec![
                    self.per_window.to_string(),
                    self.window.as_millis().to_string(),
                ],
            )
            .await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms.unsigned_abs())))
    }
}
