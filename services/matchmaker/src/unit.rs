//! One queue-region, worked by whichever instance holds its lease.
//!
//! Every instance runs a worker per queue-region; the worker that holds the lease does the
//! work, the others try to take the lease now and then, so a dead holder's queue is taken
//! over within the lease TTL. The holder keeps the queue in memory ([`Mirror`]): a
//! snapshot when it takes the lease and every `resync_ms`, the queue's change log each
//! tick in between. Each tick it expires tickets that waited too long, drops tickets whose
//! player has been gone longer than the grace, forms matches ([`crate::matching`]), claims
//! each match's tickets in one fenced script, and hands the match on
//! ([`crate::handover`]). A claim that finds a ticket gone (its player left a moment ago)
//! claims nothing, and the rest wait for the next tick. Before forming new matches it
//! fills the running matches' open backfill requests (kept in memory too, from the
//! snapshot and the change log), each fill claimed like a match.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::KeysInterface;
use proto::{Id, ServerMessage};
use queues::{
    Backfills, Change, Claim, ExpireReason, Fenced, FillClaim, MatchRecord, MatchedTicket,
    OpenBackfill, QueueDefinition, QueueHolder, QueuedTicket,
};
use service_runtime::clock::now_ms;
use service_runtime::lease::{Lease, LeaseKeeper, Transition};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::handover::Attempt;
use crate::matching::{fill_backfill, form_matches};
use crate::mirror::Mirror;
use crate::state::Shared;

/// Session lookups per pipeline.
const SESSION_BATCH: usize = 500;
/// Players checked per tick at most: a round over a very large queue takes longer than
/// `session_check_ms` rather than make every tick wait for thousands of lookups (at
/// 100,000 queued, 5,000 a tick held ticks near their 100 ms period).
const SESSION_SLICE_MAX: usize = 1000;

/// What expiring a ticket did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    Removed,
    /// It had left or been matched meanwhile.
    AlreadyGone,
    LeaseLost,
}

/// The worker of one queue-region.
struct Worker {
    shared: Arc<Shared>,
    queue: String,
    region: String,
    definition: QueueDefinition,
    lease: LeaseKeeper,
    holder: QueueHolder,
    mirror: Option<Mirror>,
    /// The open backfill requests of running matches from this queue-region, by match.
    backfills: BTreeMap<String, OpenBackfill>,
    backfill_store: Backfills,
    next_resync: Instant,
    next_handover_check: Instant,
    /// When to look for ready checks in a queue without them (left from before a change).
    next_ready_sweep: Instant,
    /// Matches of this queue waiting for their players to accept.
    ready_checks_open: metrics::Gauge,
    /// The session-check round in progress: tickets still to look at. A round walks the
    /// whole queue over `session_check_ms`, a slice per tick, so a large queue never
    /// stalls one tick with a long check.
    session_round: VecDeque<(String, String)>,
    /// Ticks a round is spread over, and the tickets checked per tick in this round.
    session_round_ticks: usize,
    session_slice: usize,
    next_session_round: Instant,
    /// Tickets whose player had no session when last checked, and since when (ms).
    disconnected: HashMap<String, u64>,
    /// How long each tick's work took, against `tick_ms`: a queue too large for its
    /// period shows here first (`rallypoint_matchmaker_tick_seconds`).
    tick_seconds: metrics::Histogram,
    /// The queue's size and oldest wait, while this instance holds it (the lease keeper
    /// zeroes them when it stops).
    queued: metrics::Gauge,
    oldest_wait: metrics::Gauge,
    /// Queued tickets whose player had no session at the last check (they are not
    /// matched until the player is back, and are removed past the grace).
    disconnected_tickets: metrics::Gauge,
}

/// One queue-region and its definition.
#[derive(Debug, Clone)]
pub struct Unit {
    pub queue: String,
    pub region: String,
    pub definition: QueueDefinition,
}

/// Works `unit` until `stop` (while holding its lease, and while `share` says this
/// instance should), then lets the lease go.
pub async fn run(
    shared: Arc<Shared>,
    unit: Unit,
    share: Arc<service_runtime::lease::FairShare>,
    stop: CancellationToken,
) {
    let Unit {
        queue,
        region,
        definition,
    } = unit;
    let config = &shared.config.matchmaker;
    let owner = format!("{}/{queue}/{region}", shared.ctx.instance_id);
    let lease_key = shared.ctx.keys.queue(&queue, &region).lease();
    let lease = Lease::with_owner(lease_key, &owner, Duration::from_millis(config.lease_ms));
    // The holder's scripts are fenced by the lease's own token (it carries the process's
    // random part).
    let holder = QueueHolder::new(
        shared.ctx.keys.clone(),
        shared.ctx.redis.clone(),
        &queue,
        &region,
        lease.owner(),
    );
    let tick = Duration::from_millis(config.tick_ms);
    let session_round_ticks = (config.session_check_ms / config.tick_ms).max(1) as usize;
    let now = Instant::now();
    let labels = [("queue", queue.clone()), ("region", region.clone())];
    let tick_seconds = metrics::histogram!("rallypoint_matchmaker_tick_seconds", &labels);
    let queued = metrics::gauge!("rallypoint_matchmaker_queued", &labels);
    let oldest_wait = metrics::gauge!("rallypoint_matchmaker_oldest_wait_seconds", &labels);
    let disconnected_tickets =
        metrics::gauge!("rallypoint_matchmaker_disconnected_tickets", &labels);
    let ready_checks_open = metrics::gauge!("rallypoint_matchmaker_ready_checks_open", &labels);

    let backfill_store = Backfills::new(shared.ctx.keys.clone(), shared.ctx.redis.clone());
    let mut worker = Worker {
        shared,
        queue,
        region,
        definition,
        lease: LeaseKeeper::new(lease)
            .with_unit_gauges([
                queued.clone(),
                oldest_wait.clone(),
                disconnected_tickets.clone(),
                ready_checks_open.clone(),
            ])
            .with_share(share),
        holder,
        mirror: None,
        backfills: BTreeMap::new(),
        backfill_store,
        next_resync: now,
        next_handover_check: now,
        next_ready_sweep: now,
        session_round: VecDeque::new(),
        session_round_ticks,
        session_slice: 0,
        next_session_round: now,
        disconnected: HashMap::new(),
        tick_seconds,
        queued,
        oldest_wait,
        disconnected_tickets,
        ready_checks_open,
    };
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => worker.tick().await,
        }
    }
    if worker.lease.is_held() {
        worker.lease.release(&worker.shared.ctx.redis).await;
        tracing::info!(queue = %worker.queue, region = %worker.region, "released the queue for another instance");
        worker.set_held(false);
    }
}

impl Worker {
    async fn tick(&mut self) {
        if !self.hold_lease().await {
            return;
        }
        let started = Instant::now();
        let worked = self.work().await;
        self.tick_seconds.record(started.elapsed().as_secs_f64());
        if let Err(err) = worked {
            metrics::counter!("rallypoint_matchmaker_tick_errors_total").increment(1);
            tracing::warn!(queue = %self.queue, region = %self.region, error = %err, "a matchmaking tick failed; retrying next tick");
        }
    }

    /// Takes or renews the lease when due; whether this worker holds it.
    async fn hold_lease(&mut self) -> bool {
        match self.lease.check(&self.shared.ctx.redis).await {
            Transition::Gained => {
                tracing::info!(queue = %self.queue, region = %self.region, "holding the queue");
                self.set_held(true);
                self.mirror = None;
            }
            Transition::Lost => self.lose("the lease was taken over"),
            Transition::Unchanged => {}
        }
        self.lease.is_held()
    }

    fn set_held(&self, held: bool) {
        self.shared.held.set(&self.queue, &self.region, held);
    }

    fn lose(&mut self, why: &str) {
        tracing::info!(queue = %self.queue, region = %self.region, why, "no longer holding the queue");
        // Still held as far as the keeper knows: a fenced script refused the write (a
        // renewal that found the lease gone has let it go already).
        if self.lease.is_held() {
            self.lease.lost();
        }
        self.set_held(false);
        self.mirror = None;
        self.backfills.clear();
        self.disconnected.clear();
        self.session_round.clear();
    }

    async fn work(&mut self) -> Result<(), queues::TicketError> {
        let now = Instant::now();
        if self.mirror.is_none() || now >= self.next_resync {
            let Fenced::Held(tickets) = self.holder.snapshot().await? else {
                self.lose("the lease was lost (snapshot)");
                return Ok(());
            };
            let mut reloaded = Mirror::load(tickets);
            // A snapshot does not carry trace context: keep what the change log gave.
            if let Some(previous) = &self.mirror {
                reloaded.keep_traces(previous);
            }
            self.mirror = Some(reloaded);
            self.backfills = self
                .backfill_store
                .all(&self.queue, &self.region)
                .await?
                .into_iter()
                .map(|open| (open.match_id.clone(), open))
                .collect();
            self.next_resync = now + Duration::from_millis(self.shared.config.matchmaker.resync_ms);
        } else {
            let Fenced::Held(changes) = self.holder.changes().await? else {
                self.lose("the lease was lost (changes)");
                return Ok(());
            };
            for change in changes {
                match change {
                    Change::BackfillRequested(match_id) => self.reload_backfill(&match_id).await?,
                    Change::BackfillClosed(match_id) => {
                        self.backfills.remove(&match_id);
                    }
                    ticket => {
                        if let Some(mirror) = &mut self.mirror {
                            mirror.apply(ticket);
                        }
                    }
                }
            }
        }
        if now >= self.next_handover_check {
            self.finish_unfinished().await;
            self.next_handover_check =
                now + Duration::from_millis(self.shared.config.matchmaker.handover_retry_ms);
        }
        self.expire_timeouts().await?;
        self.check_sessions().await?;
        self.fill_backfills().await?;
        self.form_and_claim().await?;
        self.settle_ready_checks(now).await;
        if let Some(mirror) = &self.mirror {
            self.queued.set(mirror.len() as f64);
            let oldest = mirror
                .oldest_enqueued_ms()
                .map_or(0, |at| now_ms().saturating_sub(at));
            self.oldest_wait.set(oldest as f64 / 1000.0);
        }
        Ok(())
    }

    /// Tickets that waited longer than the queue allows are removed; their players are told.
    async fn expire_timeouts(&mut self) -> Result<(), queues::TicketError> {
        let Some(mirror) = &self.mirror else {
            return Ok(());
        };
        let now = now_ms();
        let max_wait = self.definition.max_wait_ms;
        let expired: Vec<QueuedTicket> = mirror
            .oldest_first()
            .take_while(|t| now.saturating_sub(t.enqueued_ms) > max_wait)
            .cloned()
            .collect();
        for ticket in expired {
            match self.expire(&ticket, ExpireReason::Timeout).await? {
                Expired::LeaseLost => return Ok(()),
                // Left or matched meanwhile: nothing timed out, nobody to tell.
                Expired::AlreadyGone => continue,
                Expired::Removed => {}
            }
            let waited_ms = now.saturating_sub(ticket.enqueued_ms);
            if let Ok(queue) = Id::parse(&self.queue) {
                // Everyone it seated (a party's members) is told.
                for member in &ticket.members {
                    self.shared
                        .ctx
                        .publisher
                        .push_to_player(
                            &self.shared.ctx.keys,
                            &member.player,
                            ServerMessage::QueueTimeout {
                                queue: queue.clone(),
                                waited_ms,
                            },
                        )
                        .await;
                }
            }
        }
        Ok(())
    }

    /// Expires one ticket and releases its players' markers.
    async fn expire(
        &mut self,
        ticket: &QueuedTicket,
        reason: ExpireReason,
    ) -> Result<Expired, queues::TicketError> {
        let Fenced::Held(expired) = self.holder.expire(&ticket.id, reason).await? else {
            self.lose("the lease was lost (expire)");
            return Ok(Expired::LeaseLost);
        };
        if let Some(mirror) = &mut self.mirror {
            mirror.remove(&ticket.id);
        }
        self.disconnected.remove(&ticket.id);
        if expired.is_some() {
            for member in &ticket.members {
                self.shared
                    .tickets
                    .release(&member.player, &ticket.id)
                    .await?;
            }
            let what = match reason {
                ExpireReason::Timeout => "timeout",
                ExpireReason::Abandoned => "abandoned",
            };
            metrics::counter!("rallypoint_matchmaker_expired_total", "reason" => what).increment(1);
            return Ok(Expired::Removed);
        }
        Ok(Expired::AlreadyGone)
    }

    /// Notes which queued players have no live session; a ticket whose player has been
    /// gone longer than the grace is removed, so abandoned tickets never form matches.
    async fn check_sessions(&mut self) -> Result<(), queues::TicketError> {
        let Some(mirror) = &self.mirror else {
            return Ok(());
        };
        if self.session_round.is_empty() {
            let started = Instant::now();
            if started < self.next_session_round {
                return Ok(());
            }
            // A new round: forget players of tickets no longer queued, then queue them all.
            self.next_session_round =
                started + Duration::from_millis(self.shared.config.matchmaker.session_check_ms);
            self.disconnected.retain(|id, _| mirror.get(id).is_some());
            // Every member of a party: its ticket stays while any of them is connected.
            self.session_round = mirror
                .iter()
                .flat_map(|t| t.members.iter().map(|m| (t.id.clone(), m.player.clone())))
                .collect();
            self.session_slice = self
                .session_round
                .len()
                .div_ceil(self.session_round_ticks)
                .clamp(1, SESSION_SLICE_MAX);
        }
        // A slice ends on a ticket's boundary: a party's members are judged together.
        let round = &self.session_round;
        let mut slice = self.session_slice.min(round.len());
        while slice > 0 && slice < round.len() && round[slice].0 == round[slice - 1].0 {
            slice += 1;
        }
        let batch: Vec<(String, String)> = self.session_round.drain(..slice).collect();
        let now = now_ms();
        let mut abandoned = Vec::new();
        // The slice's lookups in pipelines side by side, not one after another.
        let shared = &self.shared;
        let lookups = batch.chunks(SESSION_BATCH).map(|chunk| async move {
            let pipeline = shared.ctx.redis.pipeline();
            for (_, player) in chunk {
                let _: () = pipeline
                    .exists(shared.ctx.keys.player(player).session())
                    .await?;
            }
            let online: Vec<i64> = pipeline.all().await?;
            Ok::<_, fred::error::Error>((chunk, online))
        });
        // A ticket is online when any player it seats is (a party's members sit side by
        // side in the round, so they are judged together).
        let mut online_by_ticket: Vec<(&String, bool)> = Vec::new();
        for (chunk, online) in futures::future::try_join_all(lookups).await? {
            for ((ticket, _), online) in chunk.iter().zip(online) {
                match online_by_ticket.last_mut() {
                    Some((last, any)) if *last == ticket => *any |= online == 1,
                    _ => online_by_ticket.push((ticket, online == 1)),
                }
            }
        }
        for (ticket, online) in online_by_ticket {
            if online {
                self.disconnected.remove(ticket);
                continue;
            }
            let since = *self.disconnected.entry(ticket.clone()).or_insert(now);
            if now.saturating_sub(since) > self.shared.config.matchmaking.ticket_grace_ms {
                abandoned.push(ticket.clone());
            }
        }
        self.disconnected_tickets
            .set(self.disconnected.len() as f64);
        for id in abandoned {
            let Some(ticket) = self.mirror.as_ref().and_then(|m| m.get(&id)).cloned() else {
                continue;
            };
            tracing::debug!(player = %ticket.leader(), "removing the ticket of a player gone longer than the grace");
            if self.expire(&ticket, ExpireReason::Abandoned).await? == Expired::LeaseLost {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads `match_id`'s open backfill request again (it was opened, replaced, or filled
    /// differently than this instance thought).
    async fn reload_backfill(&mut self, match_id: &str) -> Result<(), queues::TicketError> {
        match self
            .backfill_store
            .get(&self.queue, &self.region, match_id)
            .await?
        {
            Some(open) => self.backfills.insert(match_id.to_owned(), open),
            None => self.backfills.remove(match_id),
        };
        Ok(())
    }

    /// Fills the open backfill requests it can, oldest first: each fill's tickets are
    /// claimed in one fenced script with the request (a ticket goes to a new match or to
    /// a backfill, never both; a cancelled request takes nobody), then handed to the
    /// match's region.
    async fn fill_backfills(&mut self) -> Result<(), queues::TicketError> {
        let Some(mirror) = &self.mirror else {
            return Ok(());
        };
        if self.backfills.is_empty() || mirror.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut requests: Vec<&OpenBackfill> = self.backfills.values().collect();
        requests.sort_by_key(|open| open.requested_ms);
        let disconnected = &self.disconnected;
        let mut taken: HashSet<&str> = HashSet::new();
        let mut fills: Vec<(OpenBackfill, MatchRecord)> = Vec::new();
        for open in requests {
            let chosen = fill_backfill(
                &self.definition,
                now,
                mirror,
                |t| !disconnected.contains_key(&t.id) && !taken.contains(t.id.as_str()),
                open,
            );
            if chosen.is_empty() {
                continue;
            }
            let mut teams: Vec<Vec<MatchedTicket>> = vec![Vec::new(); open.means.len()];
            for (team, ticket) in chosen {
                taken.insert(ticket.id.as_str());
                let party = ticket.size() > 1;
                if let Some(seats) = teams.get_mut(team) {
                    seats.extend(ticket.members.iter().map(|m| MatchedTicket {
                        ticket: ticket.id.clone(),
                        player: m.player.clone(),
                        rating: m.rating,
                        enqueued_ms: ticket.enqueued_ms,
                        ticket_rating: party.then_some(ticket.rating),
                    }));
                }
            }
            let fill = MatchRecord {
                match_id: open.match_id.clone(),
                queue: self.queue.clone(),
                region: self.region.clone(),
                formed_ms: now,
                teams,
                trace: None,
                fill: Some(uuid::Uuid::new_v4().simple().to_string()),
                backfilled: Vec::new(),
            };
            fills.push((open.clone(), fill));
        }
        for (open, fill) in fills {
            let claimed = self.holder.claim_fill(&fill, &open).await?;
            let Fenced::Held(claimed) = claimed else {
                self.lose("the lease was lost (backfill claim)");
                return Ok(());
            };
            match claimed {
                FillClaim::Claimed { closed } => {
                    if let Some(mirror) = &mut self.mirror {
                        for seat in fill.players() {
                            mirror.remove(&seat.ticket);
                        }
                    }
                    if closed {
                        self.backfills.remove(&open.match_id);
                    } else if let Some(still) = self.backfills.get_mut(&open.match_id) {
                        for (team, seats) in fill.teams.iter().enumerate() {
                            if let Some(wanted) = still.wanted.get_mut(&team) {
                                *wanted = wanted.saturating_sub(seats.len());
                            }
                        }
                        still.wanted.retain(|_, wanted| *wanted > 0);
                    }
                    metrics::counter!("rallypoint_matchmaker_backfill_fills_total").increment(1);
                    let handed =
                        self.shared
                            .handover
                            .run(&self.holder, &fill, None, Attempt::First);
                    if let Err(err) = handed.await {
                        // The claim is recorded: the next hand-over check redoes it.
                        tracing::warn!(match_id = %fill.match_id, error = %err, "a backfill's hand-over failed; it is retried");
                    }
                }
                FillClaim::Gone(gone) => {
                    metrics::counter!("rallypoint_matchmaker_claim_conflicts_total").increment(1);
                    if let Some(mirror) = &mut self.mirror {
                        for id in gone {
                            mirror.remove(&id);
                        }
                    }
                }
                FillClaim::Cancelled => {
                    self.backfills.remove(&open.match_id);
                }
                FillClaim::Changed => self.reload_backfill(&open.match_id).await?,
            }
        }
        Ok(())
    }

    /// Forms this tick's matches, claims them, and hands the claimed ones on.
    async fn form_and_claim(&mut self) -> Result<(), queues::TicketError> {
        let Some(mirror) = &self.mirror else {
            return Ok(());
        };
        let now = now_ms();
        let disconnected = &self.disconnected;
        let formed: Vec<(MatchRecord, tracing::Span)> = form_matches(
            &self.definition,
            now,
            mirror,
            |t| !disconnected.contains_key(&t.id),
            self.shared.config.matchmaker.max_matches_per_tick,
        )
        .into_iter()
        .map(|teams| {
            let match_id = uuid::Uuid::new_v4().simple().to_string();
            // The match continues the trace of its first player's `queue.join` and
            // links the others'; the pool continues it from the record.
            let span = tracing::info_span!("match.form", queue = %self.queue, region = %self.region, match_id = %match_id);
            let mut traces = teams.iter().flatten().filter_map(|t| t.trace.as_deref());
            service_runtime::trace::continue_from(&span, traces.next());
            for other in traces {
                service_runtime::trace::link_to(&span, Some(other));
            }
            let record = MatchRecord {
                match_id,
                queue: self.queue.clone(),
                region: self.region.clone(),
                formed_ms: now,
                teams: teams
                    .into_iter()
                    .map(|team| {
                        // A party's members each take a seat, at their own rating, on
                        // their one ticket.
                        team.into_iter()
                            .flat_map(|t| {
                                let party = t.size() > 1;
                                t.members.iter().map(move |m| MatchedTicket {
                                    ticket: t.id.clone(),
                                    player: m.player.clone(),
                                    rating: m.rating,
                                    enqueued_ms: t.enqueued_ms,
                                    ticket_rating: party.then_some(t.rating),
                                })
                            })
                            .collect()
                    })
                    .collect(),
                trace: service_runtime::trace::traceparent(&span),
                fill: None,
                backfilled: Vec::new(),
            };
            (record, span)
        })
        .collect();
        if formed.is_empty() {
            return Ok(());
        }
        // Tests pause the process here to prove the claim is fenced by the lease.
        service_runtime::hold::point("matchmaker.claim").await;
        let claims = futures::future::join_all(
            formed
                .iter()
                .map(|(r, span)| self.holder.claim(r).instrument(span.clone())),
        )
        .await;
        let mut claimed = Vec::new();
        for ((record, span), claim) in formed.into_iter().zip(claims) {
            match claim? {
                Fenced::NotHolder => {
                    self.lose("the lease was lost (claim)");
                    return Ok(());
                }
                Fenced::Held(Claim::Gone(gone)) => {
                    metrics::counter!("rallypoint_matchmaker_claim_conflicts_total").increment(1);
                    if let Some(mirror) = &mut self.mirror {
                        for id in gone {
                            mirror.remove(&id);
                        }
                    }
                }
                Fenced::Held(Claim::Claimed) => {
                    if let Some(mirror) = &mut self.mirror {
                        for t in record.players() {
                            mirror.remove(&t.ticket);
                        }
                    }
                    let waits: Vec<u64> = record
                        .players()
                        .map(|t| now.saturating_sub(t.enqueued_ms))
                        .collect();
                    let (low, high) = record.players().fold((f64::MAX, f64::MIN), |(lo, hi), t| {
                        (lo.min(t.rating), hi.max(t.rating))
                    });
                    self.shared
                        .recent
                        .record(&self.queue, &self.region, &waits, high - low);
                    claimed.push((record, span));
                }
            }
        }
        let ready = self.ready_window();
        let handovers = futures::future::join_all(claimed.iter().map(|(record, span)| {
            self.shared
                .handover
                .steps(record, ready, Attempt::First)
                .instrument(span.clone())
        }))
        .await;
        let mut to_pool = None;
        let mut done = Vec::with_capacity(claimed.len());
        for ((record, _), result) in claimed.iter().zip(handovers) {
            match result {
                Ok(went) => {
                    if went {
                        to_pool = to_pool.or(Some(record));
                    }
                    done.push(record.claim_id());
                }
                // The claim stays recorded: the next hand-over check redoes it.
                Err(err) => {
                    tracing::warn!(match_id = %record.match_id, error = %err, "hand-over failed; it is retried");
                }
            }
        }
        // The tick's claims marked done together: one round trip for all of them.
        if let Err(err) = self.holder.finish(&done).await {
            tracing::warn!(error = %err, "could not mark the tick's hand-overs done; the next hand-over check finds them done and marks them");
        }
        // One wake-up of the region's allocator for the tick's matches (this unit's
        // matches are all in its region).
        if let Some(record) = to_pool {
            self.shared.handover.hint(record).await;
        }
        Ok(())
    }

    /// The queue's ready check window, if it has one.
    fn ready_window(&self) -> Option<Duration> {
        (self.definition.ready_check_ms > 0)
            .then(|| Duration::from_millis(self.definition.ready_check_ms))
    }

    /// Decides the ready checks that can be (every tick where the queue has them; now and
    /// then otherwise, for checks left from before a config change).
    async fn settle_ready_checks(&mut self, now: Instant) {
        if self.ready_window().is_none() && now < self.next_ready_sweep {
            return;
        }
        self.next_ready_sweep =
            now + Duration::from_millis(self.shared.config.matchmaker.handover_retry_ms);
        let cooldown = Duration::from_millis(self.definition.decline_cooldown_ms);
        match self
            .shared
            .handover
            .settle(&self.queue, &self.region, cooldown)
            .await
        {
            Ok(open) => self.ready_checks_open.set(open as f64),
            Err(err) => {
                tracing::warn!(error = %err, "could not settle ready checks; retrying next tick");
            }
        }
    }

    /// Hands over again the matches a crashed instance claimed but did not hand over.
    async fn finish_unfinished(&mut self) {
        let retry = self.shared.config.matchmaker.handover_retry_ms;
        let records = match self.holder.unfinished(retry, now_ms()).await {
            Ok(records) => records,
            Err(err) => {
                tracing::debug!(error = %err, "cannot list unfinished hand-overs");
                return;
            }
        };
        for record in records {
            tracing::info!(match_id = %record.match_id, "finishing the hand-over of a match claimed by an instance that stopped");
            let ready = self.ready_window();
            let handed = self
                .shared
                .handover
                .run(&self.holder, &record, ready, Attempt::Redone);
            match handed.await {
                Ok(true) => self.shared.handover.hint(&record).await,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(match_id = %record.match_id, error = %err, "hand-over failed again; it is retried");
                }
            }
        }
    }
}
