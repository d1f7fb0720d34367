//! The matchmaker's config: the `[matchmaker]` section (timings) and the shared
//! `[matchmaking]` section (the queues).

use queues::MatchmakingConfig;
use serde::Deserialize;
use service_runtime::{ConfigError, LoadedConfig};

/// `[matchmaker]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchmakerSection {
    /// How often each held queue-region forms matches.
    pub tick_ms: u64,
    /// How long a queue-region's lease lasts without renewal: a dead instance's queues
    /// are taken over within this.
    pub lease_ms: u64,
    /// How often the queue is re-read whole from Redis, healing any drift of the in-memory
    /// copy (between reads it follows the queue's change log).
    pub resync_ms: u64,
    /// How often the players of queued tickets are checked for a live session.
    pub session_check_ms: u64,
    /// A claimed match whose hand-over to the server pool is not done after this is handed
    /// over again (its instance died mid-way).
    pub handover_retry_ms: u64,
    /// Matches formed per queue-region per tick at most.
    pub max_matches_per_tick: usize,
    /// How long a player's live-match marker lives unless the match's result clears it.
    pub match_ttl_ms: u64,
}

/// Everything the matchmaker reads from the config.
#[derive(Debug, Clone)]
pub struct Config {
    pub matchmaker: MatchmakerSection,
    pub matchmaking: MatchmakingConfig,
}

impl Config {
    pub fn load(config: &LoadedConfig) -> Result<Self, ConfigError> {
        let matchmaker: MatchmakerSection = config.section("matchmaker")?;
        matchmaker.validate()?;
        let matchmaking = MatchmakingConfig::load(config)?;
        Ok(Self {
            matchmaker,
            matchmaking,
        })
    }
}

impl MatchmakerSection {
    fn validate(&self) -> Result<(), ConfigError> {
        use service_runtime::config::positive;
        positive("matchmaker.tick_ms", self.tick_ms)?;
        positive("matchmaker.lease_ms", self.lease_ms)?;
        positive("matchmaker.resync_ms", self.resync_ms)?;
        positive("matchmaker.session_check_ms", self.session_check_ms)?;
        positive("matchmaker.handover_retry_ms", self.handover_retry_ms)?;
        positive("matchmaker.match_ttl_ms", self.match_ttl_ms)?;
        positive(
            "matchmaker.max_matches_per_tick",
            self.max_matches_per_tick as u64,
        )?;
        if self.lease_ms < 3 * self.tick_ms {
            return Err(ConfigError::new(
                "matchmaker.lease_ms",
                "must be at least three times matchmaker.tick_ms (the lease is renewed every third of it)",
            ));
        }
        Ok(())
    }
}
