//! The `[parties]` config section: how large a party may be, how long an invite lasts,
//! how many invites may wait for one player.
//!
//! ```toml
//! [parties]
//! max_size = 5               # members, the leader included
//! invite_ttl_ms = 60000      # an invite not answered by then is gone
//! max_pending_invites = 10   # invites waiting for one player at once
//! ```

use serde::Deserialize;
use service_runtime::{ConfigError, LoadedConfig};

/// The built-in `[parties]` defaults as a TOML string literal, for a service's
/// `DEFAULTS` (`concat!(parties::default_toml!(), ...)`).
#[macro_export]
macro_rules! default_toml {
    () => {
        r#"
[parties]
max_size = 5
invite_ttl_ms = 60000
max_pending_invites = 10
"#
    };
}

/// The largest party any deployment may configure: a party plays on one team, and the
/// largest team a queue may have is far below this.
pub const MAX_PARTY_SIZE: u32 = 100;

/// `[parties]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyConfig {
    /// Members a party may have, its leader included.
    pub max_size: u32,
    /// How long an invite waits for `party.accept`.
    pub invite_ttl_ms: u64,
    /// Invites that may wait for one player at once; past it `too_many_invites`.
    pub max_pending_invites: u32,
}

impl PartyConfig {
    /// Reads `[parties]` and checks it; an error names the key.
    pub fn load(config: &LoadedConfig) -> Result<Self, ConfigError> {
        let parties: PartyConfig = config.section("parties")?;
        parties.validate()?;
        Ok(parties)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(2..=MAX_PARTY_SIZE).contains(&self.max_size) {
            return Err(ConfigError::new(
                "parties.max_size",
                format!("must be between 2 and {MAX_PARTY_SIZE}"),
            ));
        }
        service_runtime::config::positive("parties.invite_ttl_ms", self.invite_ttl_ms)?;
        service_runtime::config::positive(
            "parties.max_pending_invites",
            u64::from(self.max_pending_invites),
        )?;
        Ok(())
    }
}
