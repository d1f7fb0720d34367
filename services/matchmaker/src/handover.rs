//! Handing a claimed match on to the server pool: the `matches` crate's hand-over
//! ([`matches::handover`]), then the claim marked done in the queue's slot. Whichever
//! instance holds the queue next redoes a hand-over a crashed one left unfinished
//! (`queues::QueueHolder::unfinished`); a match the pool has already is not handed over
//! twice, whatever became of it since.

use std::time::Duration;

use matches::{HandoverError, Matches};
use queues::{MatchRecord, QueueHolder};

/// What the hand-over needs.
#[derive(Debug, Clone)]
pub struct Handover {
    pub matches: Matches,
    /// How long a player's live-match marker lives unless the match's end clears it.
    pub match_ttl: Duration,
}

impl Handover {
    /// Hands `record`, claimed by `holder`, over (unless that was done) and marks the
    /// claim done.
    pub async fn run(
        &self,
        holder: &QueueHolder,
        record: &MatchRecord,
    ) -> Result<(), HandoverError> {
        if !self.matches.is_handed_over(record).await? {
            self.matches.hand_over(record, self.match_ttl).await?;
        }
        holder.finish(&record.match_id).await?;
        Ok(())
    }
}
