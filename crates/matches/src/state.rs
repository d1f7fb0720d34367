//! The states a formed match goes through, and the field names of the two hashes that
//! hold it: the match record (`{m:<match>}:record`, read by operators and by the gateway
//! for a reconnecting player) and the match's hash in its region's pool
//! (`{pool:<region>}:match:<id>`, where the pool's scripts move it from state to state).
//!
//! These names are written here once; the Lua scripts beside this crate's modules spell
//! the same strings, and nothing outside this crate spells any of them.
//!
//! ```text
//! formed --hand-over--> pending --allocate--> assigned --ack--> started --result--> ended
//!                          |                     |                 |
//!                          +--no_server----------+--not_started    +--server_lost--> ended
//!                          |                     +--server_lost           (outcome)
//!                          v                     v
//!                       cancelled (players requeued with their original wait)
//! ```

/// Where a formed match is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchState {
    /// Claimed from its queue; the record is written, the pool does not have it yet.
    Formed,
    /// Waiting in its region's pool for a server with room.
    Pending,
    /// Given to a server, which has not acknowledged it yet.
    Assigned,
    /// The server acknowledged it: the game runs.
    Started,
    /// A result was posted, or its server died while it ran (outcome `server_lost`).
    Ended,
    /// It could not start (no server in time, not acknowledged, its server died): its
    /// players were requeued.
    Cancelled,
}

impl MatchState {
    /// Every state, in the order of a match's life.
    pub const ALL: [MatchState; 6] = [
        MatchState::Formed,
        MatchState::Pending,
        MatchState::Assigned,
        MatchState::Started,
        MatchState::Ended,
        MatchState::Cancelled,
    ];

    /// The name stored in the `state` field (and returned by the scripts).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchState::Formed => "formed",
            MatchState::Pending => "pending",
            MatchState::Assigned => "assigned",
            MatchState::Started => "started",
            MatchState::Ended => "ended",
            MatchState::Cancelled => "cancelled",
        }
    }

    /// The state a stored name stands for.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }

    /// Whether the match holds a slot on a server.
    pub fn is_on_server(self) -> bool {
        matches!(self, MatchState::Assigned | MatchState::Started)
    }
}

impl std::fmt::Display for MatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Field names of the match record and of the match's hash in the pool.
pub mod field {
    /// The match's [`super::MatchState`].
    pub const STATE: &str = "state";
    /// The match as formed (`queues::MatchRecord`, JSON).
    pub const RECORD: &str = "record";
    /// The queue and region it was formed in (record only).
    pub const QUEUE: &str = "queue";
    pub const REGION: &str = "region";
    /// When it was formed, ms since the epoch (record only).
    pub const FORMED_MS: &str = "formed_ms";
    /// The server it was given to, and that server's address.
    pub const SERVER: &str = "server";
    pub const ADDRESS: &str = "address";
    /// The incarnation of the server it was given to, and the SHA-256 of that
    /// incarnation's token (pool hash): only that server may ack it or post its result,
    /// and its slot is given back only to that incarnation.
    pub const INCARNATION: &str = "incarnation";
    pub const SERVER_TOKEN_HASH: &str = "server_token_hash";
    /// Why the pool is to end it (`server_lost`, `game_timeout`), while it waits in the
    /// region's orphaned set (pool hash).
    pub const END_REASON: &str = "end_reason";
    /// When its server acknowledged it, ms since the epoch (pool hash).
    pub const STARTED_MS: &str = "started_ms";
    /// When it ended, ms since the epoch.
    pub const ENDED_MS: &str = "ended_ms";
    /// Why a running game ended without a result (`server_lost`, `game_timeout`).
    pub const OUTCOME: &str = "outcome";
    /// Why it was cancelled (`no_server`, `not_started`, `server_lost`; pool hash).
    pub const REASON: &str = "reason";
    /// The fingerprint of the recorded result (pool hash): the same result posted again
    /// is a duplicate, another one is refused.
    pub const RESULT_DIGEST: &str = "result_digest";
    /// Set (pool hash) once its server asked for a backfill (`pool_backfill_mark.lua`):
    /// only such a match's end has a request to close, so the others skip that step.
    pub const BACKFILL_ASKED: &str = "backfill_asked";

    /// The prefix of each player's stored `match.found` in the record.
    pub const FOUND_PREFIX: &str = "found:";

    /// The field holding `player`'s `match.found` (with their join token).
    pub fn found(player: &str) -> String {
        format!("{FOUND_PREFIX}{player}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_name() {
        for state in MatchState::ALL {
            assert_eq!(MatchState::parse(state.as_str()), Some(state));
        }
        assert_eq!(MatchState::parse("claimed"), None);
    }

    /// The Lua scripts spell the state names: each name they use must be one of ours.
    #[test]
    fn the_scripts_use_only_known_state_names() {
        let scripts = [
            include_str!("handover/pool_pend.lua"),
            include_str!("allocation/pool_allocate.lua"),
            include_str!("game_server/pool_ack.lua"),
            include_str!("game_server/pool_result.lua"),
            include_str!("cancel/pool_cancel.lua"),
        ];
        for script in scripts {
            for (at, _) in script.match_indices("'state', '") {
                let rest = &script[at + "'state', '".len()..];
                let name = rest.split('\'').next().unwrap_or_default();
                assert!(
                    MatchState::parse(name).is_some(),
                    "a script writes the unknown state {name:?}"
                );
            }
        }
    }
}
