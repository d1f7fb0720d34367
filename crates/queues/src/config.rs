//! The `[matchmaking]` config section: which queues exist, in which regions, and how they
//! match. Read by the gateway (to validate `queue.join`) and by the matchmaker (to match).
//!
//! ```toml
//! [matchmaking]
//! default_rating = 1500
//! ticket_grace_ms = 30000
//!
//! [matchmaking.queues.duel]
//! teams = 2
//! team_size = 1
//! regions = ["eu", "us"]
//! initial_window = 100     # rating points either side at first
//! widen_per_second = 50    # added to the window per second of wait
//! max_window = 600
//! max_wait_ms = 120000     # then the ticket times out
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// The built-in `[matchmaking]` defaults as a TOML string literal, for a service's
/// `DEFAULTS` (`concat!(queues::default_toml!(), ...)`): `duel` (1v1) and `squad` (2v2)
/// in `eu` and `us`.
#[macro_export]
macro_rules! default_toml {
    () => {
        r#"
[matchmaking]
default_rating = 1500.0
ticket_grace_ms = 30000
profiles = "required"
profile_wait_ms = 1500
result_wait_ms = 3000

[matchmaking.queues.duel]
teams = 2
team_size = 1
regions = ["eu", "us"]
initial_window = 100.0
widen_per_second = 50.0
max_window = 600.0
max_wait_ms = 120000

[matchmaking.queues.squad]
teams = 2
team_size = 2
regions = ["eu", "us"]
initial_window = 150.0
widen_per_second = 50.0
max_window = 800.0
max_wait_ms = 180000
"#
    };
}

/// The config section's name.
pub const SECTION: &str = "matchmaking";

/// `[matchmaking]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchmakingConfig {
    /// The rating of a player without a cached profile.
    pub default_rating: f64,
    /// How long a ticket outlives its player's dropped socket, in ms.
    pub ticket_grace_ms: u64,
    /// Where a ticket's rating comes from: `required` (the player's cached profile, warmed
    /// from PostgreSQL by the cache-warmer; a join without one asks for it and waits
    /// `profile_wait_ms`, then answers `unavailable`) or `optional` (a player without a
    /// cached profile plays at `default_rating`: a deployment without PostgreSQL).
    pub profiles: ProfilePolicy,
    /// How long a join waits for a missing profile to be warmed.
    pub profile_wait_ms: u64,
    /// How long a join waits for the player's last result to reach their rating (it never
    /// queues at the old one; after this it answers `unavailable`).
    pub result_wait_ms: u64,
    /// The queues by name.
    pub queues: BTreeMap<String, QueueDefinition>,
}

/// Whether a ticket needs the player's cached profile ([`MatchmakingConfig::profiles`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfilePolicy {
    Required,
    Optional,
}

/// `[matchmaking.queues.<name>]`: one queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueDefinition {
    /// Number of teams in a match.
    pub teams: u32,
    /// Players per team.
    pub team_size: u32,
    /// Regions the queue runs in (a list, or "eu,us" from an environment variable).
    #[serde(deserialize_with = "service_runtime::check::string_or_list")]
    pub regions: Vec<String>,
    /// Rating difference accepted at first, either side of the oldest ticket.
    pub initial_window: f64,
    /// Added to the window per second the oldest ticket has waited.
    pub widen_per_second: f64,
    /// The window never grows past this.
    pub max_window: f64,
    /// A ticket that waited this long is removed and its player told (`queue.timeout`).
    pub max_wait_ms: u64,
    /// A party's ticket plays at its members' `mean` rating (the default) or at the
    /// strongest member's (`max`).
    #[serde(default)]
    pub party_rating: crate::members::PartyRating,
    /// A formed match waits this long for every player to accept it (`match.ready_check`)
    /// before a server is spent on it; 0 (the default): no ready check.
    #[serde(default)]
    pub ready_check_ms: u64,
    /// A player who declined a ready check, or let it expire, may not queue for this long.
    #[serde(default = "default_decline_cooldown_ms")]
    pub decline_cooldown_ms: u64,
}

fn default_decline_cooldown_ms() -> u64 {
    60_000
}

impl QueueDefinition {
    /// Players in one match.
    pub fn match_size(&self) -> usize {
        self.teams as usize * self.team_size as usize
    }
}

/// Why a queue or region named by a client is not one we run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lookup {
    #[error("no queue named {0:?}")]
    UnknownQueue(String),
    #[error("queue {queue:?} does not run in region {region:?}")]
    UnknownRegion { queue: String, region: String },
}

/// A config problem: the dotted key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InvalidQueueConfig {
    pub key: String,
    pub message: String,
}

fn invalid(key: String, message: impl Into<String>) -> InvalidQueueConfig {
    InvalidQueueConfig {
        key,
        message: message.into(),
    }
}

impl MatchmakingConfig {
    /// Reads `[matchmaking]` from a service's config and checks it: the one loader every
    /// service uses. The error names the key.
    pub fn load(
        config: &service_runtime::LoadedConfig,
    ) -> Result<Self, service_runtime::ConfigError> {
        let matchmaking: MatchmakingConfig = config.section(SECTION)?;
        matchmaking
            .validate()
            .map_err(|e| service_runtime::ConfigError::new(e.key, e.message))?;
        Ok(matchmaking)
    }

    /// Every region some queue runs in.
    pub fn regions(&self) -> std::collections::BTreeSet<String> {
        self.units().map(|(_, region)| region.to_owned()).collect()
    }

    /// The definition of `queue` if it runs in `region`.
    pub fn lookup(&self, queue: &str, region: &str) -> Result<&QueueDefinition, Lookup> {
        let definition = self
            .queues
            .get(queue)
            .ok_or_else(|| Lookup::UnknownQueue(queue.to_owned()))?;
        if !definition.regions.iter().any(|r| r == region) {
            return Err(Lookup::UnknownRegion {
                queue: queue.to_owned(),
                region: region.to_owned(),
            });
        }
        Ok(definition)
    }

    /// Every (queue, region) pair: the units the matchmaker leases.
    pub fn units(&self) -> impl Iterator<Item = (&str, &str)> {
        self.queues.iter().flat_map(|(name, definition)| {
            definition
                .regions
                .iter()
                .map(move |region| (name.as_str(), region.as_str()))
        })
    }

    /// Checks what the types cannot; the error names the key (`matchmaking.queues.duel.teams`).
    pub fn validate(&self) -> Result<(), InvalidQueueConfig> {
        let key = |rest: &str| format!("{SECTION}.{rest}");
        if !(self.default_rating.is_finite() && self.default_rating >= 0.0) {
            return Err(invalid(key("default_rating"), "must be a number >= 0"));
        }
        if self.ticket_grace_ms == 0 {
            return Err(invalid(key("ticket_grace_ms"), "must be greater than 0"));
        }
        if self.profile_wait_ms == 0 {
            return Err(invalid(key("profile_wait_ms"), "must be greater than 0"));
        }
        if self.result_wait_ms == 0 {
            return Err(invalid(key("result_wait_ms"), "must be greater than 0"));
        }
        if self.queues.is_empty() {
            return Err(invalid(key("queues"), "define at least one queue"));
        }
        for (name, q) in &self.queues {
            let key = |field: &str| format!("{SECTION}.queues.{name}.{field}");
            if proto::Id::parse(name).is_err() {
                return Err(invalid(
                    format!("{SECTION}.queues.{name}"),
                    "a queue name is 1 to 64 characters of letters, digits, '_', '.', ':' or '-'",
                ));
            }
            if q.teams == 0 {
                return Err(invalid(key("teams"), "must be at least 1"));
            }
            if q.team_size == 0 {
                return Err(invalid(key("team_size"), "must be at least 1"));
            }
            if q.match_size() < 2 {
                return Err(invalid(
                    key("team_size"),
                    "a match needs at least 2 players (teams x team_size)",
                ));
            }
            if q.match_size() > 100 {
                return Err(invalid(
                    key("team_size"),
                    "a match has at most 100 players (teams x team_size)",
                ));
            }
            if q.regions.is_empty() {
                return Err(invalid(key("regions"), "name at least one region"));
            }
            if let Some(bad) = q.regions.iter().find(|r| proto::Id::parse(r).is_err()) {
                return Err(invalid(
                    key("regions"),
                    format!("{bad:?} is not a region name (letters, digits, '_', '.', ':', '-')"),
                ));
            }
            for (field, value) in [
                ("initial_window", q.initial_window),
                ("widen_per_second", q.widen_per_second),
                ("max_window", q.max_window),
            ] {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(invalid(key(field), "must be a number >= 0"));
                }
            }
            if q.max_window < q.initial_window {
                return Err(invalid(
                    key("max_window"),
                    "must be at least initial_window",
                ));
            }
            if q.max_wait_ms == 0 {
                return Err(invalid(key("max_wait_ms"), "must be greater than 0"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duel() -> QueueDefinition {
        QueueDefinition {
            teams: 2,
            team_size: 1,
            regions: vec!["eu".into(), "us".into()],
            initial_window: 100.0,
            widen_per_second: 50.0,
            max_window: 600.0,
            max_wait_ms: 60_000,
            party_rating: Default::default(),
            ready_check_ms: 0,
            decline_cooldown_ms: 60_000,
        }
    }

    fn config(q: QueueDefinition) -> MatchmakingConfig {
        MatchmakingConfig {
            default_rating: 1500.0,
            ticket_grace_ms: 30_000,
            profiles: ProfilePolicy::Required,
            profile_wait_ms: 1500,
            result_wait_ms: 3000,
            queues: [("duel".to_owned(), q)].into_iter().collect(),
        }
    }

    #[test]
    fn lookup_names_what_is_unknown() {
        let c = config(duel());
        assert!(c.lookup("duel", "eu").is_ok());
        assert_eq!(
            c.lookup("squad", "eu"),
            Err(Lookup::UnknownQueue("squad".into()))
        );
        assert_eq!(
            c.lookup("duel", "ap"),
            Err(Lookup::UnknownRegion {
                queue: "duel".into(),
                region: "ap".into()
            })
        );
        assert_eq!(
            c.units().collect::<Vec<_>>(),
            vec![("duel", "eu"), ("duel", "us")]
        );
    }

    #[test]
    fn validation_names_the_key() {
        assert_eq!(config(duel()).validate(), Ok(()));
        type Change = fn(&mut QueueDefinition);
        let cases: [(Change, &str); 5] = [
            (|q| q.teams = 0, "matchmaking.queues.duel.teams"),
            (|q| q.regions.clear(), "matchmaking.queues.duel.regions"),
            (
                |q| q.regions.push("e u".into()),
                "matchmaking.queues.duel.regions",
            ),
            (
                |q| q.max_window = 10.0,
                "matchmaking.queues.duel.max_window",
            ),
            (
                |q| q.widen_per_second = f64::NAN,
                "matchmaking.queues.duel.widen_per_second",
            ),
        ];
        for (change, key) in cases {
            let mut q = duel();
            change(&mut q);
            assert_eq!(config(q).validate().map_err(|e| e.key), Err(key.to_owned()));
        }
        let mut q = duel();
        q.teams = 1;
        assert_eq!(
            config(q).validate().map_err(|e| e.key),
            Err("matchmaking.queues.duel.team_size".to_owned()),
            "a 1x1 queue cannot match"
        );
    }
}
