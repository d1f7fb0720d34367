//! A player's connect and abuse record, kept in Redis so it holds across reconnects and
//! across gateways: connects per player per minute (`gateway.connects_per_player_per_minute`,
//! `429` before the upgrade past it), and abuse strikes per player per minute
//! (`gateway.abuse_strikes`): the strike that reaches the limit closes the connection with
//! 1008 and refuses the player's connects for `gateway.abuse_cooldown_ms` (`429`).
//!
//! One hash per player in their slot (`{p:<player>}:guard`), one script per step: admitting
//! a connect is one round trip before the upgrade (`guard_admit.lua`), a strike one round
//! trip (`guard_strike.lua`; strikes come only from a client's own faults, and the
//! connection is closed after a handful). The per-source-address limits that need no
//! Redis are in [`crate::admission`].

use std::time::Duration;

use core_keys::{Keys, scripts};
use fred::prelude::Client;
use service_runtime::clock::now_ms;
use service_runtime::script::LuaScript;

static ADMIT: LuaScript<(i64, i64)> = LuaScript::new(include_str!("guard/guard_admit.lua"));
static STRIKE: LuaScript<(i64, i64)> = LuaScript::new(include_str!("guard/guard_strike.lua"));

/// Connects and strikes are counted per minute.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What [`Guard::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// The connect is counted; the player has this many strikes in the current minute.
    Admitted { strikes: u32 },
    /// The player is cooling down after too many strikes, for this long yet.
    CoolingDown(Duration),
    /// The player connected too often this minute; the next connect is allowed in this
    /// long.
    TooOften(Duration),
}

/// One strike's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Struck {
    /// Strikes in the current minute, this one included.
    pub strikes: u32,
    /// This strike reached the limit: the connection is closed and the player's connects
    /// are refused for the cool-down.
    pub cooling_down: bool,
}

/// The guard of one gateway instance.
#[derive(Debug, Clone)]
pub struct Guard {
    keys: Keys,
    redis: Client,
    connects_per_minute: u32,
    strikes: u32,
    cooldown: Duration,
}

impl Guard {
    pub fn new(
        keys: Keys,
        redis: Client,
        connects_per_minute: u32,
        strikes: u32,
        cooldown: Duration,
    ) -> Self {
        Self {
            keys,
            redis,
            connects_per_minute,
            strikes,
            cooldown,
        }
    }

    /// How long a guard hash lives after a write: its longest window.
    fn lifetime(&self) -> u128 {
        WINDOW.max(self.cooldown).as_millis()
    }

    /// Counts a connect of `player`, or says why it is refused.
    pub async fn admit(&self, player: &str) -> Result<Admit, fred::error::Error> {
        let (verdict, value) = ADMIT
            .run(
                &self.redis,
                scripts::player_guard(&self.keys, player),
                vec![
                    now_ms().to_string(),
                    self.connects_per_minute.to_string(),
                    WINDOW.as_millis().to_string(),
                    self.lifetime().to_string(),
                ],
            )
            .await?;
        let ms = || Duration::from_millis(u64::try_from(value).unwrap_or(0));
        Ok(match verdict {
            1 => Admit::CoolingDown(ms()),
            2 => Admit::TooOften(ms()),
            _ => Admit::Admitted {
                strikes: u32::try_from(value).unwrap_or(0),
            },
        })
    }

    /// Counts one strike against `player`.
    pub async fn strike(&self, player: &str) -> Result<Struck, fred::error::Error> {
        let (strikes, cooling) = STRIKE
            .run(
                &self.redis,
                scripts::player_guard(&self.keys, player),
                vec![
                    now_ms().to_string(),
                    self.strikes.to_string(),
                    WINDOW.as_millis().to_string(),
                    self.cooldown.as_millis().to_string(),
                    self.lifetime().to_string(),
                ],
            )
            .await?;
        Ok(Struck {
            strikes: u32::try_from(strikes).unwrap_or(u32::MAX),
            cooling_down: cooling == 1,
        })
    }
}
