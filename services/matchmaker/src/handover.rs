//! Handing a claimed match on to the server pool: the `matches` crate's hand-over
//! ([`matches::handover`]), or its ready check first where the queue has one
//! ([`matches::ready`]), then the claim marked done in the queue's slot. Whichever
//! instance holds the queue next redoes a hand-over a crashed one left unfinished
//! (`queues::QueueHolder::unfinished`); a match the pool has already is not handed over
//! twice, whatever became of it since. A hand-over made right after its own claim skips
//! the look-ups only a redone one needs ([`Attempt`]). The caller wakes the region's
//! allocator once for all the matches that went to the pool ([`Handover::hint`]).

use std::time::Duration;

use matches::{HandoverError, Matches};
use queues::{MatchRecord, QueueHolder};

/// Whether a hand-over follows its claim at once or is redone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Right after this instance's claim, in the same tick: the match id is new, so no
    /// ready check and no pool entry can exist for it yet, and the two look-ups that
    /// tell a redone hand-over where it stopped (two round trips before any step) are
    /// skipped. If a step fails, the claim stays recorded and the hand-over is redone.
    First,
    /// The claim was found unfinished (its instance died, or a step failed): where the
    /// hand-over stopped is read first, and nothing done is done again.
    Redone,
}

/// What the hand-over needs.
#[derive(Debug, Clone)]
pub struct Handover {
    pub matches: Matches,
    /// How long a player's live-match marker lives unless the match's end clears it.
    pub match_ttl: Duration,
}

impl Handover {
    /// Hands `record`, claimed by `holder`, over ([`Handover::steps`]) and marks the claim
    /// done. Whether the match went to the pool now: the caller then wakes its region
    /// ([`Handover::hint`]), once for all the matches it handed over together.
    pub async fn run(
        &self,
        holder: &QueueHolder,
        record: &MatchRecord,
        ready: Option<Duration>,
        attempt: Attempt,
    ) -> Result<bool, HandoverError> {
        let to_pool = self.steps(record, ready, attempt).await?;
        holder.finish(&[record.claim_id()]).await?;
        Ok(to_pool)
    }

    /// The hand-over of `record` (unless that was done, which only an [`Attempt::Redone`]
    /// looks for), without marking its claim done: a caller handing several over together
    /// marks their claims done in one round trip ([`QueueHolder::finish`]) once their
    /// steps are. With a ready check (`ready`), the match waits for its players first
    /// ([`matches::ready`]): the check is opened here and settled by
    /// [`Handover::settle`]. Whether the match went to the pool now.
    pub async fn steps(
        &self,
        record: &MatchRecord,
        ready: Option<Duration>,
        attempt: Attempt,
    ) -> Result<bool, HandoverError> {
        let redone = attempt == Attempt::Redone;
        // A backfill's fill goes to its running match's region (once, however often redone).
        if record.fill.is_some() {
            self.matches.pend_fill(record, self.match_ttl).await?;
            return Ok(false);
        }
        // A check opened by an earlier hand-over is resumed, never opened again (it may be
        // settled, and its players requeued or matched since), whatever the config says now.
        if redone && self.matches.resume_ready_check(record).await? {
            return Ok(false);
        }
        if redone && self.matches.is_handed_over(record).await? {
            return Ok(false);
        }
        match ready {
            Some(window) => {
                self.matches
                    .start_ready_check(record, self.match_ttl, window)
                    .await?;
                Ok(false)
            }
            None => {
                self.matches.hand_over(record, self.match_ttl).await?;
                Ok(true)
            }
        }
    }

    /// Wakes the allocator of `record`'s region for the matches just handed over there.
    pub async fn hint(&self, record: &MatchRecord) {
        self.matches.hint_pool(record).await;
    }

    /// Decides the queue's ready checks that can be: accepted ones go to the pool,
    /// declined and expired ones are cancelled. How many are still open.
    pub async fn settle(
        &self,
        queue: &str,
        region: &str,
        cooldown: Duration,
    ) -> Result<usize, HandoverError> {
        self.matches
            .settle_ready_checks(queue, region, cooldown)
            .await
    }
}
