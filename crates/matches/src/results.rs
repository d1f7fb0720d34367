//! A posted result as it waits in its region's outbox (`{pool:<region>}:results`): the
//! server pool puts it there with the game's end (`pool_result.lua`), the cache-warmer
//! takes it into PostgreSQL and clears it.

use queues::MatchRecord;
use serde::{Deserialize, Serialize};

/// A posted result as the server pool keeps it in the region's outbox
/// (`{pool:<region>}:results`) until the cache-warmer has it in PostgreSQL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultEntry {
    #[serde(rename = "match")]
    pub match_id: String,
    pub region: String,
    pub server: String,
    /// When the game server acknowledged the assignment, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// When the result was posted, ms since the epoch.
    pub ended_ms: u64,
    /// Player ids grouped by placement, best first.
    pub placements: Vec<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<serde_json::Value>,
    /// The match as formed (teams, ratings); absent if its record was lost.
    #[serde(default)]
    pub record: Option<MatchRecord>,
}
