//! For each Lua script, the exact keys it touches.
//!
//! In Redis Cluster a script may only touch keys of one slot. A script's `KEYS` are a
//! [`ScriptKeys`], which only the functions here build, and the tests prove that every
//! such set shares one slot for any ids (and that every `.lua` file in the workspace has
//! its set tested). A workflow that spans slots is a sequence of these steps.

use crate::Keys;

/// The `KEYS` of one script run, in the order the script's header lists them. Built only
/// by this module, so no script is ever given keys the slot test has not seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptKeys(Vec<String>);

impl ScriptKeys {
    /// The keys, for the `EVALSHA` call.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl std::ops::Deref for ScriptKeys {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

/// `lease_*.lua` (acquire, renew, release): the lease key alone.
pub fn lease(lease_key: &str) -> ScriptKeys {
    ScriptKeys(vec![lease_key.to_owned()])
}

/// Announcing an instance: its info hash and the registry's expiry index.
pub fn instance_announce(keys: &Keys, service: &str, instance: &str) -> ScriptKeys {
    let registry = keys.instances();
    ScriptKeys(vec![registry.info(service, instance), registry.all()])
}

/// Opening, refreshing or closing a player's session: the session hash, the player's
/// rooms (kept while connected and for a grace period after, so a reconnect restores them)
/// the player's live match (so a reconnect is told its match again) and whether their
/// profile is cached (if not, the gateway asks the cache-warmer for it), the chat budget,
/// the player's party (kept alive like the rooms), when the player was last seen, and
/// until when they are muted.
pub fn session_open(keys: &Keys, player: &str) -> ScriptKeys {
    let p = keys.player(player);
    ScriptKeys(vec![
        p.session(),
        p.rooms(),
        p.current_match(),
        p.profile(),
        p.chat_rate(),
        p.party(),
        p.last_seen(),
        p.mute(),
        p.kept_pushes(),
        p.away(),
        // The inbox channel (same slot): session_open.lua publishes the hand-over there.
        p.inbox_channel(),
        p.blocks(),
    ])
}

/// A player's block list (changing it, or loading it from PostgreSQL).
pub fn player_blocks(keys: &Keys, player: &str) -> ScriptKeys {
    ScriptKeys(vec![keys.player(player).blocks()])
}

/// Taking applied block changes off their outbox: the outbox and its lease.
pub fn blocks_ack(keys: &Keys) -> ScriptKeys {
    ScriptKeys(vec![keys.block_changes(), keys.block_changes_lease()])
}

/// A push that reached no socket: the player's session, whether they are between
/// sockets, the pushes kept for their next socket, and their inbox channel.
pub fn inbox_keep(keys: &Keys, player: &str) -> ScriptKeys {
    let p = keys.player(player);
    ScriptKeys(vec![
        p.session(),
        p.away(),
        p.kept_pushes(),
        p.inbox_channel(),
    ])
}

/// A player's side of a party (claiming or releasing their one party, an invite to
/// them): which party they are in, their ticket marker (a queued player cannot join a
/// party) and the invites pending for them.
pub fn party_member(keys: &Keys, player: &str) -> ScriptKeys {
    let p = keys.player(player);
    ScriptKeys(vec![p.party(), p.ticket(), p.party_invites()])
}

/// Every change to one party: its hash.
pub fn party_state(keys: &Keys, party: &str) -> ScriptKeys {
    ScriptKeys(vec![keys.party(party).state()])
}

/// Admitting a player's connect, or counting a strike against them: their guard hash.
pub fn player_guard(keys: &Keys, player: &str) -> ScriptKeys {
    ScriptKeys(vec![keys.player(player).guard()])
}

/// Reserving a player's one ticket (or releasing it): the ticket marker, the live match
/// (a player in a match cannot queue), the profile the rating is read from, and the
/// result whose rating change is still pending.
pub fn ticket_reserve(keys: &Keys, player: &str) -> ScriptKeys {
    let p = keys.player(player);
    ScriptKeys(vec![
        p.ticket(),
        p.current_match(),
        p.profile(),
        p.rating_pending(),
        p.cooldown(),
        p.party(),
    ])
}

/// A match's ready check (started, answered, settled): its hash.
pub fn ready_check(keys: &Keys, match_id: &str) -> ScriptKeys {
    ScriptKeys(vec![keys.match_(match_id).ready()])
}

/// A result was posted: the player leaves the match and their rating becomes pending.
/// The live match and the pending rating.
pub fn player_result(keys: &Keys, player: &str) -> ScriptKeys {
    let p = keys.player(player);
    ScriptKeys(vec![p.current_match(), p.rating_pending()])
}

/// Writing a warmed or updated profile: the profile and the pending rating it settles.
pub fn profile_put(keys: &Keys, player: &str) -> ScriptKeys {
    let p = keys.player(player);
    ScriptKeys(vec![p.profile(), p.rating_pending()])
}

/// Taking committed entries off a region's results outbox: the outbox, the lease that
/// fences it, and the dead-letter list.
pub fn results_ack(keys: &Keys, region: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![
        p.results_outbox(),
        p.results_lease(),
        p.results_dead(),
    ])
}

/// Putting a region's dead letters back on its results outbox (an operator's replay):
/// the outbox and the dead-letter list.
pub fn results_replay(keys: &Keys, region: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![p.results_outbox(), p.results_dead()])
}

/// Putting a ticket into a queue (and taking it out again on leave): the two indexes,
/// the ticket, the player index and the change log the matchmaker follows.
pub fn queue_enqueue(keys: &Keys, queue: &str, region: &str, ticket: &str) -> ScriptKeys {
    let q = keys.queue(queue, region);
    ScriptKeys(vec![
        q.tickets(),
        q.waiting(),
        q.ticket(ticket),
        q.players(),
        q.changes(),
    ])
}

/// The matchmaker's view of a queue (a snapshot, or the changes since the last one),
/// fenced by the queue's lease.
pub fn queue_view(keys: &Keys, queue: &str, region: &str) -> ScriptKeys {
    let q = keys.queue(queue, region);
    ScriptKeys(vec![
        q.lease(),
        q.tickets(),
        q.waiting(),
        q.players(),
        q.changes(),
    ])
}

/// Removing one queued ticket for good (it timed out, or its player left for longer than
/// the grace), fenced by the queue's lease.
pub fn queue_expire(keys: &Keys, queue: &str, region: &str, ticket: &str) -> ScriptKeys {
    let q = keys.queue(queue, region);
    ScriptKeys(vec![
        q.lease(),
        q.tickets(),
        q.waiting(),
        q.players(),
        q.stats(),
        q.ticket(ticket),
    ])
}

/// Claiming tickets for a match: every chosen ticket, the queue's indexes, the claimed
/// match record and the queue's lease (checked so a stale holder cannot claim).
pub fn queue_claim(
    keys: &Keys,
    queue: &str,
    region: &str,
    match_id: &str,
    tickets: &[&str],
) -> ScriptKeys {
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
    ScriptKeys(out)
}

/// Claiming tickets for a running match's backfill: the keys of [`queue_claim`] (the
/// claim's hash named by the fill), the queue's open backfills and the match's request.
pub fn backfill_claim(
    keys: &Keys,
    queue: &str,
    region: &str,
    fill: &str,
    match_id: &str,
    tickets: &[&str],
) -> ScriptKeys {
    let q = keys.queue(queue, region);
    let mut out = queue_claim(keys, queue, region, fill, &[]).into_vec();
    out.push(q.backfills());
    out.push(q.backfill(match_id));
    out.extend(tickets.iter().map(|t| q.ticket(t)));
    ScriptKeys(out)
}

/// Opening or closing a match's backfill request: the queue's open backfills, the
/// request, the queue's change log and counters.
pub fn queue_backfill(keys: &Keys, queue: &str, region: &str, match_id: &str) -> ScriptKeys {
    let q = keys.queue(queue, region);
    ScriptKeys(vec![
        q.backfills(),
        q.backfill(match_id),
        q.changes(),
        q.stats(),
    ])
}

/// Adding backfilled players to a running match in the pool: the match's hash there and
/// its server's assignments.
pub fn pool_backfill(keys: &Keys, region: &str, match_id: &str, server: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![p.pool_match(match_id), p.assignments(server)])
}

/// Handing a backfill's fill to its region's pool: the region's fills and their records.
pub fn pool_fill_pend(keys: &Keys, region: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![p.fills(), p.fill_records()])
}

/// Recording that a player's ticket became a match: the ticket marker (released) and the
/// live match (set).
pub fn player_matched(keys: &Keys, player: &str) -> ScriptKeys {
    let p = keys.player(player);
    ScriptKeys(vec![p.ticket(), p.current_match()])
}

/// Allocating a server for a match in a region.
pub fn pool_allocate(keys: &Keys, region: &str, match_id: &str, servers: &[&str]) -> ScriptKeys {
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
    ScriptKeys(out)
}

/// Cancelling a match (no server in time, or its server died), or ending it as lost: the
/// match, the region's indexes and counters, and the server whose slot it frees.
pub fn pool_cancel(keys: &Keys, region: &str, match_id: &str, server: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![
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
        p.liveness(),
    ])
}

/// Finding a server dead: its hash, the region's indexes, the lost set and its games.
pub fn pool_reap(keys: &Keys, region: &str, server: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![
        p.server(server),
        p.servers_by_load(),
        p.liveness(),
        p.lost(),
        p.games(server),
    ])
}

/// Putting a cancelled match's ticket back in its queue, with its original wait.
pub fn queue_requeue(keys: &Keys, queue: &str, region: &str, ticket: &str) -> ScriptKeys {
    queue_enqueue(keys, queue, region, ticket)
}

/// A posted result's first step: the match's pool hash and the region's rating-pending
/// index.
pub fn pool_result_begin(keys: &Keys, region: &str, match_id: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![p.pool_match(match_id), p.rating_pending()])
}

/// A game ended: its match, its server, the region's indexes, outbox and counters.
pub fn pool_result(keys: &Keys, region: &str, match_id: &str, server: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![
        p.pool_match(match_id),
        p.server(server),
        p.servers_by_load(),
        p.assignments(server),
        p.results_outbox(),
        p.stats(),
        p.liveness(),
        p.games(server),
        p.unacked(),
    ])
}

/// Registering a game server: its hash, games and assignments (of the incarnation before,
/// if any), and the region's indexes.
pub fn pool_register(keys: &Keys, region: &str, server: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![
        p.server(server),
        p.servers_by_load(),
        p.liveness(),
        p.games(server),
        p.assignments(server),
        p.lost(),
        p.orphaned(),
    ])
}

/// Draining a game server: its hash and the region's indexes.
pub fn pool_drain(keys: &Keys, region: &str, server: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![p.server(server), p.servers_by_load(), p.liveness()])
}

/// Joining, refreshing or leaving a room: the members with their expiry and the
/// connection owning each membership.
pub fn room_membership(keys: &Keys, room: &str) -> ScriptKeys {
    let r = keys.room(room);
    ScriptKeys(vec![r.members(), r.owners()])
}

/// Publishing to a room that keeps history: its kept messages, its latest offset, and
/// (third, for the script's `SPUBLISH`: a channel in the same slot) its channel.
pub fn room_publish(keys: &Keys, room: &str) -> ScriptKeys {
    let r = keys.room(room);
    ScriptKeys(vec![r.history(), r.offset(), r.channel()])
}

/// Reading a room's history: its kept messages and its latest offset.
pub fn room_history(keys: &Keys, room: &str) -> ScriptKeys {
    let r = keys.room(room);
    ScriptKeys(vec![r.history(), r.offset()])
}

/// Warming one kind of static data: documents, version and the warm lease.
pub fn data_warm(keys: &Keys, kind: &str) -> ScriptKeys {
    let d = keys.data(kind);
    ScriptKeys(vec![d.documents(), d.version(), d.warm_lease()])
}

/// Following a queue's change log: the lease that fences it and the log.
pub fn queue_changes(keys: &Keys, queue: &str, region: &str) -> ScriptKeys {
    let q = keys.queue(queue, region);
    ScriptKeys(vec![q.lease(), q.changes()])
}

/// Dropping a player's ticket marker: the marker alone.
pub fn ticket_release(keys: &Keys, player: &str) -> ScriptKeys {
    ScriptKeys(vec![keys.player(player).ticket()])
}

/// A game server's heartbeat: its hash, the region's liveness and orphaned matches, and
/// the pool hash of each of its games it reviews.
pub fn pool_heartbeat(keys: &Keys, region: &str, server: &str, games: &[&str]) -> ScriptKeys {
    let p = keys.pool(region);
    let mut out = vec![p.server(server), p.liveness(), p.orphaned()];
    out.extend(games.iter().map(|game| p.pool_match(game)));
    ScriptKeys(out)
}

/// Handing a formed match to its region's pool: the match's hash there and the region's
/// pending matches.
pub fn pool_pend(keys: &Keys, region: &str, match_id: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![p.pool_match(match_id), p.pending()])
}

/// A game server asks for a backfill: the match's hash in the pool, marked so its end
/// closes the request.
pub fn pool_backfill_mark(keys: &Keys, region: &str, match_id: &str) -> ScriptKeys {
    ScriptKeys(vec![keys.pool(region).pool_match(match_id)])
}

/// A game server acknowledged its assignment: the match's hash in the pool, the server's
/// assignments and the region's matches not yet acknowledged.
pub fn pool_ack(keys: &Keys, region: &str, match_id: &str, server: &str) -> ScriptKeys {
    let p = keys.pool(region);
    ScriptKeys(vec![
        p.pool_match(match_id),
        p.assignments(server),
        p.unacked(),
    ])
}
