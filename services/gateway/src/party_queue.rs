//! Where a party meets the queue, on the gateway's side: a party queues as one ticket by
//! its leader (`queue.join`, in `connection/requests.rs`); while that ticket waits, the
//! party's members do not change (`party.leave`, `party.kick` and `party.accept` are
//! refused `in_queue`: any member's `queue.leave` comes first); and a member dropped from
//! the party (away past the reconnect grace) has its ticket re-evaluated: the rest of the
//! party is queued again at the same wait, so no ticket plays someone no longer in it.
//!
//! The "not while queued" checks read the tickets before the party is changed, so a
//! change racing the leader's `queue.join` can slip through; what it can break is only
//! who the ticket seats, never one ticket per player nor a party's size (those are
//! each held by one script).

use parties::Refreshed;
use proto::ServerMessage;
use queues::TicketStatus;

use crate::state::Shared;

/// Whether `player` has a ticket waiting in a queue.
pub async fn is_queued(shared: &Shared, player: &str) -> Result<bool, queues::TicketError> {
    Ok(matches!(
        shared.tickets.status(player).await?,
        TicketStatus::Searching { .. }
    ))
}

/// After a refresh: if it dropped members (away past the reconnect grace) from a party
/// whose ticket waits, the ticket is re-evaluated: it leaves the queue, and the members
/// still in the party are queued again on a new ticket at the old one's wait (a smaller
/// party always fits). The dropped are told `queue.left`, the others `queue.joined`.
pub async fn after_refresh(shared: &Shared, refreshed: &Refreshed) {
    if refreshed.dropped.is_empty() {
        return;
    }
    let staying: Vec<String> = refreshed
        .party
        .as_ref()
        .map(|p| p.members.clone())
        .unwrap_or_default();
    let rule = |queue: &str| {
        shared
            .matchmaking
            .queues
            .get(queue)
            .map(|definition| definition.party_rating)
    };
    let reseated = match shared
        .tickets
        .reseat(&refreshed.dropped, &staying, rule)
        .await
    {
        Ok(Some(reseated)) => reseated,
        Ok(None) => return,
        Err(err) => {
            tracing::warn!(error = %err, "could not re-evaluate a changed party's ticket");
            return;
        }
    };
    tracing::info!(dropped = ?refreshed.dropped, requeued = reseated.requeued.is_some(), "a queued party lost members; its ticket was re-evaluated");
    let joined = reseated.requeued.as_ref().and_then(|ticket| {
        Some(ServerMessage::QueueJoined {
            ticket: proto::Id::parse(&ticket.id).ok()?,
            queue: proto::Id::parse(&ticket.queue).ok()?,
            region: proto::Id::parse(&ticket.region).ok()?,
            rid: None,
        })
    });
    for player in &reseated.removed {
        let message = match &joined {
            Some(joined) if staying.contains(player) => joined.clone(),
            _ => ServerMessage::QueueLeft { rid: None },
        };
        shared
            .ctx
            .publisher
            .push_to_player(&shared.ctx.keys, player, message)
            .await;
    }
}
