//! `parties`: players form parties of 1 to `--max-party` (invite, accept), the leaders
//! queue them into a team queue (5v5 by default) at a fixed rate, every player answers
//! the ready check (a share of them declining), simulated game servers in this process
//! take the matches.
//!
//! Reports parties queued, matches announced and matches per second, the time from a
//! party's `queue.join` to its members' `match.found` (p50/p99), ready checks and how
//! they ended, and any invariant broken: a party split across teams, a team not full, a
//! player announced two matches for one ticket, players of one match sent to different
//! servers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rallypoint_client::proto::{ServerMessage, Teams};
use rallypoint_client::{Client, Event};
use tokio_util::sync::CancellationToken;

use crate::cli::{Common, PartiesArgs};
use crate::clients::{ErrorCounts, bar, close_all, connect_all};
use crate::figures::Report;
use crate::latency::{Latency, now_micros};
use crate::lock;
use crate::procstat::Gateways;
use crate::scenarios::matchmaking::{
    span_seconds, spawn_servers, stop_fleet, until_settled, warm_profiles,
};

/// What the load generator knows of one party.
#[derive(Debug, Default)]
struct PartyState {
    /// Indexes of its players, leader first.
    members: Vec<usize>,
    /// When its leader sent `queue.join` (µs since the epoch), 0 until then.
    joined_at: u64,
    /// Its ticket is settled: matched, or cancelled without a requeue.
    settled: bool,
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    found: AtomicU64,
    ready_checks: AtomicU64,
    declines_sent: AtomicU64,
    cancelled_declined: AtomicU64,
    cancelled_timeout: AtomicU64,
    cancelled_other: AtomicU64,
    requeued: AtomicU64,
    first_found: AtomicU64,
    last_found: AtomicU64,
}

struct Shared {
    args: PartiesArgs,
    /// Each player's party (an index into `parties`).
    party_of: Vec<usize>,
    players: Vec<String>,
    parties: Vec<Mutex<PartyState>>,
    /// Per player, the matches announced to them.
    announced: Vec<Mutex<Vec<String>>>,
    /// Per match, the server it was announced on.
    servers: Mutex<HashMap<String, String>>,
    join_to_found: Mutex<Latency>,
    errors: ErrorCounts,
    problems: Mutex<Vec<String>>,
    counters: Counters,
}

impl Shared {
    fn problem(&self, problem: String) {
        let mut problems = lock(&self.problems);
        if problems.len() < 20 {
            problems.push(problem);
        }
    }

    fn unsettled(&self) -> usize {
        self.parties
            .iter()
            .filter(|p| {
                let p = lock(p);
                p.joined_at > 0 && !p.settled
            })
            .count()
    }
}

pub async fn run(common: &Common, args: &PartiesArgs) -> anyhow::Result<Option<Report>> {
    anyhow::ensure!(args.players >= 2, "--players must be at least 2");
    anyhow::ensure!(
        (1..=args.team_size).contains(&args.max_party),
        "--max-party must be between 1 and --team-size"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.decline_share),
        "--decline-share is a share between 0 and 1"
    );
    anyhow::ensure!(args.rate > 0, "--rate must be at least 1");
    let run = common.run_id();
    let stop_servers = CancellationToken::new();

    // Server ids of their own: a matchmaking run before this one may still hold its ids.
    let mut servers = spawn_servers(
        &format!("{run}-pt"),
        std::slice::from_ref(&args.region),
        &args.fleet,
        &stop_servers,
    );

    let gateways = common.urls.len().max(1);
    let ids = (0..args.players)
        .map(|i| (format!("{run}-p{i}"), i % gateways))
        .collect();
    let mut players = connect_all(common, ids, 0, bar(0, "connecting players")).await?;
    warm_profiles(common, &players).await?;
    if let Some(Ok(Err(err))) = servers.try_join_next() {
        anyhow::bail!("a simulated game server could not start: {err:#}");
    }
    let clients: Vec<Client> = players
        .iter()
        .map(crate::clients::Player::sdk)
        .collect::<anyhow::Result<_>>()?;
    let names: Vec<String> = players.iter().map(|p| p.id.clone()).collect();

    // Parties of 1..=max_party, sizes drawn evenly (the last one takes what is left).
    let mut rng = fastrand::Rng::with_seed(args.players as u64);
    let mut parties: Vec<Vec<usize>> = Vec::new();
    let mut next = 0;
    while next < args.players {
        let size = rng.usize(1..=args.max_party).min(args.players - next);
        parties.push((next..next + size).collect());
        next += size;
    }
    let mut party_of = vec![0; args.players];
    for (k, members) in parties.iter().enumerate() {
        for &m in members {
            party_of[m] = k;
        }
    }
    let shared = Arc::new(Shared {
        args: args.clone(),
        party_of,
        players: names,
        parties: parties
            .iter()
            .map(|members| {
                Mutex::new(PartyState {
                    members: members.clone(),
                    ..PartyState::default()
                })
            })
            .collect(),
        announced: (0..args.players).map(|_| Mutex::default()).collect(),
        servers: Mutex::default(),
        join_to_found: Mutex::new(Latency::new()),
        errors: ErrorCounts::default(),
        problems: Mutex::default(),
        counters: Counters {
            first_found: AtomicU64::new(u64::MAX),
            ..Counters::default()
        },
    });

    let stop = CancellationToken::new();
    let mut listeners = tokio::task::JoinSet::new();
    for (index, player) in players.iter_mut().enumerate() {
        listeners.spawn(listen(
            shared.clone(),
            index,
            clients[index].clone(),
            player.take_events(),
            stop.clone(),
        ));
    }

    // Form every party: the leader creates it, invites each member, who accepts.
    let forming = bar(parties.len() as u64, "forming parties");
    futures::stream::iter(parties.iter().filter(|members| members.len() > 1))
        .for_each_concurrent(64, |members| {
            let (clients, shared, forming) = (&clients, &shared, &forming);
            async move {
                if let Err(err) = form(clients, shared, members).await {
                    shared.problem(format!("a party could not form: {err}"));
                }
                forming.inc(1);
            }
        })
        .await;
    forming.finish();

    // The leaders queue their parties at --rate parties a second; what is measured
    // (the report's window) starts here, after connecting and forming.
    let meters = Gateways::start(&common.gateway_pids)?;
    let queueing = bar(parties.len() as u64, "parties queueing");
    let started = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / args.rate as f64);
    let mut joins = tokio::task::JoinSet::new();
    for (k, members) in parties.iter().enumerate() {
        tokio::time::sleep_until((started + gap * k as u32).into()).await;
        let (shared, leader) = (shared.clone(), clients[members[0]].clone());
        let queueing = queueing.clone();
        joins.spawn(async move {
            lock(&shared.parties[k]).joined_at = now_micros();
            match leader
                .join_queue(&shared.args.queue, &shared.args.region)
                .await
            {
                Ok(_) => {
                    shared.counters.queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => {
                    shared.errors.count(&err);
                    lock(&shared.parties[k]).settled = true;
                }
            }
            queueing.inc(1);
        });
    }
    while joins.join_next().await.is_some() {}
    queueing.finish();

    // Until every queued party is settled, or nothing happened for a while.
    until_settled(
        || shared.unsettled() as u64,
        || shared.counters.found.load(Ordering::Relaxed),
        Duration::from_secs(5) + Duration::from_millis(args.ready_wait_ms),
    )
    .await;
    stop.cancel();
    while listeners.join_next().await.is_some() {}

    let mut report = Report::new("parties", args);
    let c = &shared.counters;
    let matches = lock(&shared.servers).len();
    let span = span_seconds(&c.first_found, &c.last_found);
    let sizes: Vec<usize> = parties.iter().map(Vec::len).collect();
    report.figure("players", args.players as f64, "");
    report.figure("parties", parties.len() as f64, "");
    report.figure(
        "players in parties of 2 or more",
        sizes.iter().filter(|&&s| s > 1).sum::<usize>() as f64,
        "",
    );
    report.figure(
        "parties queued",
        c.queued.load(Ordering::Relaxed) as f64,
        "",
    );
    report.figure("matches announced", matches as f64, "");
    report.figure("matches per second", matches as f64 / span, "matches/s");
    report.percentiles(
        "party queue.join to match.found",
        &lock(&shared.join_to_found),
    );
    for (name, counter) in [
        ("ready checks seen (by players)", &c.ready_checks),
        ("declines sent", &c.declines_sent),
        ("cancelled: declined (per player)", &c.cancelled_declined),
        (
            "cancelled: ready_timeout (per player)",
            &c.cancelled_timeout,
        ),
        ("requeued after a cancel (per player)", &c.requeued),
    ] {
        report.figure(name, counter.load(Ordering::Relaxed) as f64, "");
    }
    report.figure(
        "parties unsettled at the end",
        shared.unsettled() as f64,
        "",
    );
    meters.report(&mut report);
    let other = c.cancelled_other.load(Ordering::Relaxed);
    if other > 0 {
        report.note(format!(
            "{other} cancellations for other reasons (no server, ...)"
        ));
    }
    if let Some(errors) = shared.errors.summary() {
        report.note(format!("queue.join refused or failed: {errors}"));
    }
    report.note(
        "a party settles once matched, or once cancelled without a requeue (a member \
         declined); a party requeued waits for its next match",
    );
    for problem in lock(&shared.problems).clone() {
        report.problem(problem);
    }
    close_all(&players).await;
    stop_fleet(servers, &stop_servers, &args.fleet, &mut report).await;
    Ok(Some(report))
}

/// The leader creates the party, invites each member, and each accepts.
async fn form(clients: &[Client], shared: &Shared, members: &[usize]) -> anyhow::Result<()> {
    let leader = &clients[members[0]];
    let party = match leader.create_party().await? {
        ServerMessage::Party { party, .. } => party.to_string(),
        other => anyhow::bail!("party.create answered {}", other.type_name()),
    };
    for &m in &members[1..] {
        leader.invite_to_party(&shared.players[m]).await?;
        clients[m].accept_party(&party).await?;
    }
    Ok(())
}

/// Reads one player's events until `stop`: answers ready checks (declining a share of
/// them), and checks every `match.found`.
async fn listen(
    shared: Arc<Shared>,
    index: usize,
    client: Client,
    mut events: tokio::sync::mpsc::Receiver<Event>,
    stop: CancellationToken,
) {
    let mut rng = fastrand::Rng::with_seed(index as u64 ^ 0x5eed);
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = events.recv() => event,
        };
        let Some(event) = event else { return };
        match event {
            Event::Push(ServerMessage::MatchReadyCheck { match_id, .. }) => {
                shared.counters.ready_checks.fetch_add(1, Ordering::Relaxed);
                let decline = rng.f64() < shared.args.decline_share;
                if decline {
                    shared
                        .counters
                        .declines_sent
                        .fetch_add(1, Ordering::Relaxed);
                }
                let client = client.clone();
                tokio::spawn(async move {
                    let answered = if decline {
                        client.decline_match(match_id.as_str()).await
                    } else {
                        client.accept_match(match_id.as_str()).await
                    };
                    if let Err(err) = answered {
                        tracing::debug!(error = %err, "a ready check could not be answered");
                    }
                });
            }
            Event::Push(ServerMessage::MatchFound {
                match_id,
                teams,
                server,
                ..
            }) => on_found(
                &shared,
                index,
                match_id.as_str(),
                &teams,
                server.id.as_str(),
            ),
            Event::Push(ServerMessage::MatchCancelled {
                reason, requeued, ..
            }) => {
                let c = &shared.counters;
                match reason.as_str() {
                    "declined" => c.cancelled_declined.fetch_add(1, Ordering::Relaxed),
                    "ready_timeout" => c.cancelled_timeout.fetch_add(1, Ordering::Relaxed),
                    _ => c.cancelled_other.fetch_add(1, Ordering::Relaxed),
                };
                // Requeued: the party waits for its next match; not: it is done.
                if requeued {
                    c.requeued.fetch_add(1, Ordering::Relaxed);
                }
                lock(&shared.parties[shared.party_of[index]]).settled = !requeued;
            }
            _ => {}
        }
    }
}

/// Checks one announcement: the player is in it, their party whole on one team, every
/// team full, one server per match, no second match for one ticket.
fn on_found(shared: &Shared, index: usize, match_id: &str, teams: &Teams, server: &str) {
    let now = now_micros();
    let c = &shared.counters;
    let me = &shared.players[index];
    {
        let mut announced = lock(&shared.announced[index]);
        if announced.iter().any(|m| m == match_id) {
            return; // a repeat of a match we know
        }
        if !announced.is_empty() && lock(&shared.parties[shared.party_of[index]]).settled {
            shared.problem(format!("{me} was announced a second match, {match_id}"));
        }
        announced.push(match_id.to_owned());
    }
    c.found.fetch_add(1, Ordering::Relaxed);
    c.first_found.fetch_min(now, Ordering::Relaxed);
    c.last_found.fetch_max(now, Ordering::Relaxed);
    let team_size = shared.args.team_size;
    if teams.len() != 2 || teams.iter().any(|team| team.len() != team_size) {
        shared.problem(format!(
            "match {match_id} has teams of sizes {:?}",
            teams.iter().map(Vec::len).collect::<Vec<_>>()
        ));
    }
    let party = shared.party_of[index];
    let (members, joined_at) = {
        let mut state = lock(&shared.parties[party]);
        state.settled = true;
        (state.members.clone(), state.joined_at)
    };
    let my_team = teams
        .iter()
        .position(|team| team.iter().any(|m| m.player.as_str() == me));
    match my_team {
        None => shared.problem(format!(
            "{me} was told of match {match_id} but is not in it"
        )),
        Some(t) => {
            for m in &members {
                let mate = &shared.players[*m];
                if !teams[t].iter().any(|p| p.player.as_str() == mate) {
                    shared.problem(format!(
                        "match {match_id}: {me}'s party is split ({mate} is not on their team)"
                    ));
                }
            }
        }
    }
    if index == members[0] && joined_at > 0 {
        lock(&shared.join_to_found).record_micros(now.saturating_sub(joined_at));
    }
    let mut servers = lock(&shared.servers);
    let first = servers
        .entry(match_id.to_owned())
        .or_insert_with(|| server.to_owned());
    if first != server {
        let first = first.clone();
        drop(servers);
        shared.problem(format!(
            "match {match_id}: players sent to {first} and to {server}"
        ));
    }
}
