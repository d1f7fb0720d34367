//! Where a party meets the queue, on the gateway's side: a party queues as one ticket by
//! its leader (`queue.join`, in `connection/requests.rs`); while that ticket waits, the
//! party's members do not change (`party.leave`, `party.kick` and `party.accept` are
//! refused `in_queue`: any member's `queue.leave` comes first); and a member dropped from
//! the party (away past the reconnect grace) takes the party out of the queue, every
//! member told `queue.left`, so no ticket plays someone who is no longer in the party.
//!
//! The "not while queued" checks read the tickets before the party is changed, so a
//! change racing the leader's `queue.join` can slip through; what it can break is only
//! who the ticket seats, never one ticket per player nor a party's size (those are
//! each held by one script).

use proto::ServerMessage;
use queues::{LeaveOutcome, TicketStatus};

use crate::state::Shared;

/// Whether `player` has a ticket waiting in a queue.
pub async fn is_queued(shared: &Shared, player: &str) -> Result<bool, queues::TicketError> {
    Ok(matches!(
        shared.tickets.status(player).await?,
        TicketStatus::Searching { .. }
    ))
}

/// After a refresh dropped `dropped` from their party: if the party's ticket is waiting,
/// it leaves the queue, and everyone it seated is told `queue.left`.
pub async fn after_dropped(shared: &Shared, dropped: &[String]) {
    // Every member's marker names the party's one ticket.
    let Some(anyone) = dropped.first() else {
        return;
    };
    match shared.tickets.leave(anyone).await {
        Ok(LeaveOutcome::Left { players }) => {
            tracing::info!(players = ?players, "a party member was dropped; the party's ticket left the queue");
            for player in players {
                shared
                    .ctx
                    .publisher
                    .push_to_player(
                        &shared.ctx.keys,
                        &player,
                        ServerMessage::QueueLeft { rid: None },
                    )
                    .await;
            }
        }
        Ok(LeaveOutcome::NotQueued) => {}
        Err(err) => {
            tracing::warn!(error = %err, "could not take a changed party's ticket out of the queue");
        }
    }
}
