//! For each Lua script (and MULTI block), the exact keys it touches.
//!
//! In Redis Cluster a script may only touch keys of one slot. The code that runs a script
//! takes its `KEYS` from the function here, and the tests prove that every such set shares
//! one slot for any ids. A workflow that spans slots is a sequence of these steps.

use crate::Keys;

/// `lease_*.lua` (acquire, renew, release): the lease key alone.
pub fn lease(lease_key: &str) -> Vec<String> {
    vec![lease_key.to_owned()]
}

/// Announcing an instance: its info hash and the registry's expiry index.
pub fn instance_announce(keys: &Keys, service: &str, instance: &str) -> Vec<String> {
    let registry = keys.instances();
    vec![registry.info(service, instance), registry.all()]
}

/// Opening, refreshing or closing a player's session: the session hash, the player's
/// rooms (kept while connected and for a grace period after, so a reconnect restores them)
/// the player's live match (so a reconnect is told its match again) and whether their
/// profile is cached (if not, the gateway asks the cache-warmer for it).
pub fn session_open(keys: &Keys, player: &str) -> Vec<String> {
    let p = keys.player(player);
    vec![p.session(), p.rooms(), p.current_match(), p.profile()]
}

/// Reserving a player's one ticket (or releasing it): the ticket marker, the live match
/// (a player in a match cannot queue), the profile the rating is read from, and the
/// result whose rating change is still pending.
pub fn ticket_reserve(keys: &Keys, player: &str) -> Vec<String> {
    let p = keys.player(player);
    vec![
        p.ticket(),
        p.current_match(),
        p.profile(),
        p.rating_pending(),
    ]
}

/// A result was posted: the player leaves the match and their rating becomes pending.
/// The live match and the pending rating.
pub fn player_result(keys: &Keys, player: &str) -> Vec<String> {
    let p = keys.player(player);
    vec![p.current_match(), p.rating_pending()]
}

/// Writing a warmed or updated profile: the profile and the pending rating it settles.
pub fn profile_put(keys: &Keys, player: &str) -> Vec<String> {
    let p = keys.player(player);
    vec![p.profile(), p.rating_pending()]
}

/// Taking committed entries off a region's results outbox: the outbox, the lease that
/// fences it, and the dead-letter list.
pub fn results_ack(keys: &Keys, region: &str) -> Vec<String> {
    let p = keys.pool(region);
    vec![p.results_outbox(), p.results_lease(), p.results_dead()]
}

/// Putting a region's dead letters back on its results outbox (an operator's replay):
/// the outbox and the dead-letter list.
pub fn results_replay(keys: &Keys, region: &str) -> Vec<String> {
    let p = keys.pool(region);
    vec![p.results_outbox(), p.results_dead()]
}

/// The per-player chat rate limit.
pub fn chat_rate(keys: &Keys, player: &str) -> Vec<String> {
    vec![keys.player(player).chat_rate()]
}

/// Putting a ticket into a queue (and taking it out again on leave): the two indexes,
/// the ticket, the player index and the change log the matchmaker follows.
pub fn queue_enqueue(keys: &Keys, queue: &str, region: &str, ticket: &str) -> Vec<String> {
    let q = keys.queue(queue, region);
    vec![
        q.tickets(),
        q.waiting(),
        q.ticket(ticket),
        q.players(),
        q.changes(),
    ]
}

/// The matchmaker's view of a queue (a snapshot, or the changes since the last one),
/// fenced by the queue's lease.
pub fn queue_view(keys: &Keys, queue: &str, region: &str) -> Vec<String> {
    let q = keys.queue(queue, region);
    vec![
        q.lease(),
        q.tickets(),
        q.waiting(),
        q.players(),
        q.changes(),
    ]
}

/// Removing one queued ticket for good (it timed out, or its player left for longer than
/// the grace), fenced by the queue's lease.
pub fn queue_expire(keys: &Keys, queue: &str, region: &str, ticket: &str) -> Vec<String> {
    let q = keys.queue(queue, region);
    vec![
        q.lease(),
        q.tickets(),
        q.waiting(),
        q.players(),
        q.stats(),
        q.ticket(ticket),
    ]
}

/// Claiming tickets for a match: every chosen ticket, the queue's indexes, the claimed
/// match record and the queue's lease (checked so a stale holder cannot claim).
pub fn queue_claim(
    keys: &Keys,
    queue: &str,
    region: &str,
    match_id: &str,
    tickets: &[&str],
) -> Vec<String> {
    let q = keys.queue(queue, region);
    let mut out = vec![
        q.lease(),
        q.tickets(),
        q.waiting(),
        q.players(),
        q.claimed(),
        q.claimed_match(match_id),
        q.stats(),
    ];
    out.extend(tickets.iter().map(|t| q.ticket(t)));
    out
}

/// Recording that a player's ticket became a match: the ticket marker (released) and the
/// live match (set).
pub fn player_matched(keys: &Keys, player: &str) -> Vec<String> {
    let p = keys.player(player);
    vec![p.ticket(), p.current_match()]
}

/// Allocating a server for a match in a region.
pub fn pool_allocate(keys: &Keys, region: &str, match_id: &str, servers: &[&str]) -> Vec<String> {
    let p = keys.pool(region);
    let mut out = vec![
        p.allocator_lease(),
        p.servers_by_load(),
        p.pending(),
        p.pool_match(match_id),
        p.stats(),
        p.liveness(),
        p.announce(),
        p.unacked(),
    ];
    for server in servers {
        out.push(p.server(server));
        out.push(p.assignments(server));
        out.push(p.games(server));
    }
    out
}

/// Cancelling a match (no server in time, or its server died), or ending it as lost.
pub fn pool_cancel(keys: &Keys, region: &str, match_id: &str, server: &str) -> Vec<String> {
    let p = keys.pool(region);
    vec![
        p.pool_match(match_id),
        p.pending(),
        p.cancelling(),
        p.stats(),
        p.assignments(server),
        p.games(server),
        p.server(server),
        p.servers_by_load(),
        p.announce(),
        p.unacked(),
    ]
}

/// Finding a server dead: its hash, the region's indexes, the lost set and its games.
pub fn pool_reap(keys: &Keys, region: &str, server: &str) -> Vec<String> {
    let p = keys.pool(region);
    vec![
        p.server(server),
        p.servers_by_load(),
        p.liveness(),
        p.lost(),
        p.games(server),
        p.assignments(server),
    ]
}

/// Putting a cancelled match's ticket back in its queue, with its original wait.
pub fn queue_requeue(keys: &Keys, queue: &str, region: &str, ticket: &str) -> Vec<String> {
    queue_enqueue(keys, queue, region, ticket)
}

/// A game ended: its match, its server, the region's indexes, outbox and counters.
pub fn pool_result(keys: &Keys, region: &str, match_id: &str, server: &str) -> Vec<String> {
    let p = keys.pool(region);
    vec![
        p.pool_match(match_id),
        p.server(server),
        p.servers_by_load(),
        p.assignments(server),
        p.results_outbox(),
        p.stats(),
        p.liveness(),
        p.games(server),
        p.unacked(),
    ]
}

/// Registering or heartbeating a game server.
pub fn pool_register(keys: &Keys, region: &str, server: &str) -> Vec<String> {
    let p = keys.pool(region);
    vec![p.server(server), p.servers_by_load(), p.liveness()]
}

/// Joining, refreshing or leaving a room: the members with their expiry and the
/// connection owning each membership.
pub fn room_membership(keys: &Keys, room: &str) -> Vec<String> {
    let r = keys.room(room);
    vec![r.members(), r.owners()]
}

/// Recording a match result until it is persisted.
pub fn match_result(keys: &Keys, match_id: &str) -> Vec<String> {
    let m = keys.match_(match_id);
    vec![m.record(), m.result()]
}

/// Warming one kind of static data: documents, version and the warm lease.
pub fn data_warm(keys: &Keys, kind: &str) -> Vec<String> {
    let d = keys.data(kind);
    vec![d.documents(), d.version(), d.warm_lease()]
}
