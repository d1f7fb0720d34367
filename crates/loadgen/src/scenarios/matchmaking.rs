//! `matchmaking`: players arrive at a fixed rate into `duel` and `squad` (each arrival is an
//! idle connected player sending `queue.join`), simulated game servers in this process
//! take the matches, the players join them with their join tokens, the games end and post
//! results, and the players queue again after their game.
//!
//! Reports tickets matched per second, matches (= server allocations) per second, the time
//! from the join that completed a match to each of its players' `match.found` (p50/p99),
//! the `queue.join` reply time, the queue depth the players see, and any invariant broken:
//! a player matched twice for one ticket, a match announced to someone not in it, players
//! of one match sent to different servers, teams of the wrong shape.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rallypoint_client::proto::{ErrorCode, ServerMessage, Teams};
use rallypoint_client::{ClientError, Event};
use tokio_util::sync::CancellationToken;

use crate::cli::{Common, FleetArgs, MatchmakingArgs};
use crate::clients::{ErrorCounts, bar, close_all, connect_all};
use crate::figures::Report;
use crate::latency::{Latency, now_micros};
use crate::lock;
use crate::procstat::Gateways;

/// Joins of game servers in flight at once: each holds a socket at both ends in this
/// process (the simulated servers run here), and a process may hold only so many.
const GAME_JOINS_IN_FLIGHT: usize = 256;

/// What the load generator knows of one player.
#[derive(Debug, Default)]
struct PlayerState {
    /// A `queue.join` was sent and its ticket is not matched yet.
    waiting: bool,
    /// When the last `queue.join` was sent (µs since the epoch).
    joined_at: u64,
    /// The last match announced (repeats of it are ignored, as clients must).
    last_match: Option<String>,
    /// In the idle list (so no path adds it twice).
    idle: bool,
}

/// One match as its players announced it.
#[derive(Debug)]
struct MatchSeen {
    server: String,
    announced: usize,
}

#[derive(Debug, Default)]
struct Counters {
    joined: AtomicU64,
    found: AtomicU64,
    cancelled: AtomicU64,
    timed_out: AtomicU64,
    skipped: AtomicU64,
    game_join_failed: AtomicU64,
    max_waiting: AtomicU64,
    first_found: AtomicU64,
    last_found: AtomicU64,
}

struct Shared {
    args: MatchmakingArgs,
    /// Latencies before this moment (µs since the epoch) are the warm-up, not kept.
    warm_until: u64,
    run: String,
    players: Vec<Mutex<PlayerState>>,
    idle: Mutex<VecDeque<usize>>,
    waiting: AtomicU64,
    matches: Mutex<HashMap<String, MatchSeen>>,
    join_to_found: Mutex<Latency>,
    join_reply: Mutex<Latency>,
    join_errors: ErrorCounts,
    /// Failed joins of a game server, by HTTP status (or `timeout`, `unreachable`).
    game_join_errors: ErrorCounts,
    problems: Mutex<Vec<String>>,
    counters: Counters,
    http: reqwest::Client,
    /// Joins of game servers in flight at once.
    game_joins: tokio::sync::Semaphore,
}

impl Shared {
    fn problem(&self, problem: String) {
        let mut problems = lock(&self.problems);
        if problems.len() < 20 {
            problems.push(problem);
        }
    }

    /// The index of one of our players, from its id.
    fn index_of(&self, player: &str) -> Option<usize> {
        // A guest run's players are `guest:<run>-m<i>`.
        player
            .strip_prefix("guest:")
            .unwrap_or(player)
            .strip_prefix(&self.run)?
            .strip_prefix("-m")?
            .parse()
            .ok()
            .filter(|&i| i < self.players.len())
    }

    /// Marks whether `player` has a ticket waiting, keeping the count of waiting tickets.
    fn set_waiting(&self, player: usize, waiting: bool) {
        let was = std::mem::replace(&mut lock(&self.players[player]).waiting, waiting);
        match (was, waiting) {
            (false, true) => {
                let now = self.waiting.fetch_add(1, Ordering::Relaxed) + 1;
                self.counters.max_waiting.fetch_max(now, Ordering::Relaxed);
            }
            (true, false) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn back_to_idle(&self, player: usize) {
        let mut state = lock(&self.players[player]);
        if !state.idle {
            state.idle = true;
            drop(state);
            lock(&self.idle).push_back(player);
        }
    }

    /// The next idle player, taken out of the idle list.
    fn take_idle(&self) -> Option<usize> {
        let player = lock(&self.idle).pop_front()?;
        lock(&self.players[player]).idle = false;
        Some(player)
    }
}

pub async fn run(common: &Common, args: &MatchmakingArgs) -> anyhow::Result<Option<Report>> {
    args.timing.check()?;
    anyhow::ensure!(args.players >= 4, "--players must be at least 4");
    anyhow::ensure!(
        !args.regions.is_empty(),
        "--regions: give at least one region"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.squad_share),
        "--squad-share is a share between 0 and 1"
    );
    let run = common.run_id();

    let stop_servers = CancellationToken::new();
    let mut servers = spawn_servers(&run, &args.regions, &args.fleet, &stop_servers);

    let gateways = common.urls.len().max(1);
    let ids = (0..args.players)
        .map(|i| (format!("{run}-m{i}"), i % gateways))
        .collect();
    let mut players = connect_all(common, ids, 0, bar(0, "connecting players")).await?;
    warm_profiles(common, &players).await?;
    if let Some(Ok(Err(err))) = servers.try_join_next() {
        anyhow::bail!("a simulated game server could not start: {err:#}");
    }

    let shared = Arc::new(Shared {
        args: args.clone(),
        warm_until: now_micros() + args.timing.warmup * 1_000_000,
        run: run.clone(),
        players: (0..args.players)
            .map(|_| {
                Mutex::new(PlayerState {
                    idle: true,
                    ..PlayerState::default()
                })
            })
            .collect(),
        idle: Mutex::new((0..args.players).collect()),
        waiting: AtomicU64::new(0),
        matches: Mutex::default(),
        join_to_found: Mutex::new(Latency::new()),
        join_reply: Mutex::new(Latency::new()),
        join_errors: ErrorCounts::default(),
        game_join_errors: ErrorCounts::default(),
        problems: Mutex::default(),
        counters: Counters {
            first_found: AtomicU64::new(u64::MAX),
            ..Counters::default()
        },
        http: reqwest::Client::new(),
        game_joins: tokio::sync::Semaphore::new(GAME_JOINS_IN_FLIGHT),
    });
    let stop = CancellationToken::new();
    let clients: Arc<Vec<_>> = Arc::new(
        players
            .iter()
            .map(crate::clients::Player::sdk)
            .collect::<anyhow::Result<_>>()?,
    );
    let mut listeners = tokio::task::JoinSet::new();
    for (index, player) in players.iter_mut().enumerate() {
        let events = player.take_events();
        listeners.spawn(listen(
            shared.clone(),
            index,
            (player.id.clone(), clients[index].clone()),
            events,
            stop.clone(),
        ));
    }
    let meters = Gateways::start(&common.gateway_pids)?;

    let arriving = bar(args.timing.total(), "players arriving");
    let squad_per_mille = (args.squad_share * 1000.0).round() as u64;
    let paced = crate::pace::at_rate(
        args.timing.rate,
        args.timing.duration(),
        8192,
        &arriving,
        |seq| {
            let (shared, clients) = (shared.clone(), clients.clone());
            async move { arrive(&shared, &clients, seq, squad_per_mille).await }
        },
    )
    .await;
    arriving.finish();

    // Let the last tickets be matched: until every waiting ticket is (a squad may be a
    // player short), or nothing happened for a few seconds.
    until_settled(
        || shared.waiting.load(Ordering::Relaxed),
        || shared.counters.found.load(Ordering::Relaxed),
        Duration::from_secs(5),
    )
    .await;
    stop.cancel();
    while listeners.join_next().await.is_some() {}

    let mut report = Report::new("matchmaking", args);
    let c = &shared.counters;
    let joined = c.joined.load(Ordering::Relaxed);
    let found = c.found.load(Ordering::Relaxed);
    let matches = lock(&shared.matches).len();
    let span = span_seconds(&c.first_found, &c.last_found);
    report.figure("arrivals offered", paced.sent as f64, "");
    report.figure("tickets queued", joined as f64, "");
    report.figure(
        "tickets queued per second",
        joined as f64 / paced.elapsed.as_secs_f64().max(1e-3),
        "tickets/s",
    );
    report.figure("tickets matched", found as f64, "");
    report.figure(
        "tickets matched per second",
        found as f64 / span,
        "tickets/s",
    );
    report.figure("matches (server allocations)", matches as f64, "");
    report.figure("allocations per second", matches as f64 / span, "matches/s");
    report.note(format!(
        "latencies leave out the first {} s (the warm-up); join to match.found is timed from \
         the sending of the join that completed the match",
        args.timing.warmup
    ));
    report.percentiles(
        "completing join to match.found",
        &lock(&shared.join_to_found),
    );
    report.percentiles("queue.join reply", &lock(&shared.join_reply));
    report.figure(
        "queue depth seen (max waiting tickets)",
        c.max_waiting.load(Ordering::Relaxed) as f64,
        "tickets",
    );
    report.figure(
        "tickets still waiting at the end",
        shared.waiting.load(Ordering::Relaxed) as f64,
        "tickets",
    );
    report.figure(
        "cancelled matches seen",
        c.cancelled.load(Ordering::Relaxed) as f64,
        "",
    );
    meters.report(&mut report);
    let skipped = c.skipped.load(Ordering::Relaxed);
    if skipped > 0 {
        report.note(format!(
            "{skipped} arrivals skipped: no idle player (raise --players, or shorten --game-ms)"
        ));
    }
    let timed_out = c.timed_out.load(Ordering::Relaxed);
    if timed_out > 0 {
        report.note(format!("{timed_out} tickets timed out in the queue"));
    }
    let failed_game_joins = c.game_join_failed.load(Ordering::Relaxed);
    if failed_game_joins > 0 {
        report.note(format!(
            "{failed_game_joins} joins of a game server failed: {}",
            shared.game_join_errors.summary().unwrap_or_default()
        ));
    }
    if let Some(errors) = shared.join_errors.summary() {
        report.note(format!("queue.join refused or failed: {errors}"));
    }
    let problems = lock(&shared.problems).clone();
    for problem in problems {
        report.problem(problem);
    }

    close_all(&players).await;
    stop_fleet(servers, &stop_servers, &args.fleet, &mut report).await;
    Ok(Some(report))
}

/// Waits until `pending()` is 0, or `progress()` has not moved for `quiet`.
pub(crate) async fn until_settled(
    pending: impl Fn() -> u64,
    progress: impl Fn() -> u64,
    quiet: Duration,
) {
    let mut last = progress();
    let mut quiet_since = Instant::now();
    while pending() > 0 && quiet_since.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = progress();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
}

/// Seconds from the first to the last of a run's announcements (µs stamps; at least a
/// millisecond, so a rate never divides by zero).
pub(crate) fn span_seconds(first: &AtomicU64, last: &AtomicU64) -> f64 {
    Duration::from_micros(
        last.load(Ordering::Relaxed)
            .saturating_sub(first.load(Ordering::Relaxed)),
    )
    .as_secs_f64()
    .max(1e-3)
}

/// Stops the simulated game servers, waiting (bounded) for their games to end.
pub(crate) async fn stop_fleet(
    mut servers: tokio::task::JoinSet<anyhow::Result<()>>,
    stop: &CancellationToken,
    fleet: &FleetArgs,
    report: &mut Report,
) {
    stop.cancel();
    let finished = tokio::time::timeout(Duration::from_millis(fleet.game_ms * 2 + 5000), async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        report.note("the simulated game servers did not finish their games in time");
    }
}

/// Starts `fleet.servers_per_region` simulated game servers in each of `regions`, in
/// this process, until `stop`.
pub(crate) fn spawn_servers(
    run: &str,
    regions: &[String],
    fleet: &FleetArgs,
    stop: &CancellationToken,
) -> tokio::task::JoinSet<anyhow::Result<()>> {
    let mut servers = tokio::task::JoinSet::new();
    for region in regions {
        for k in 0..fleet.servers_per_region {
            let server = sim_game_server::Args {
                pool: fleet.pool.clone(),
                token: fleet.pool_token.clone(),
                join_secret: fleet.join_secret.clone(),
                previous_join_secret: None,
                id: format!("{run}-{region}-{k}"),
                region: region.clone(),
                capacity: fleet.capacity,
                listen: "127.0.0.1:0".to_owned(),
                game_ms: fleet.game_ms,
                join_timeout_ms: 3000,
                backfill_after_ms: 0,
            };
            servers.spawn(sim_game_server::run_until(
                server,
                stop.clone().cancelled_owned(),
            ));
        }
    }
    servers
}

/// Asks every player's profile once (`profile.get` waits until the cache-warmer has it),
/// so the arrivals measure matchmaking, not a first visit's trip to PostgreSQL.
pub(crate) async fn warm_profiles(
    common: &Common,
    players: &[crate::clients::Player],
) -> anyhow::Result<()> {
    let warming = bar(players.len() as u64, "warming profiles");
    let failures = futures::stream::iter(players.iter().map(|p| {
        let warming = warming.clone();
        async move {
            let fetched = match p.sdk() {
                Ok(client) => client.profile().await.map(|_| ()),
                Err(_) => Err(rallypoint_client::ClientError::Closed),
            };
            warming.inc(1);
            fetched.is_err()
        }
    }))
    .buffer_unordered(common.connect_concurrency.max(1))
    .filter(|failed| futures::future::ready(*failed))
    .count()
    .await;
    warming.finish();
    anyhow::ensure!(
        failures == 0,
        "{failures} players' profiles could not be loaded (is the cache-warmer running?)"
    );
    Ok(())
}

/// One arrival: an idle player joins a queue.
async fn arrive(
    shared: &Shared,
    clients: &[rallypoint_client::Client],
    seq: u64,
    squad_per_mille: u64,
) {
    let Some(player) = shared.take_idle() else {
        shared.counters.skipped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let queue = if seq % 1000 < squad_per_mille {
        "squad"
    } else {
        "duel"
    };
    let region = &shared.args.regions[(seq / 1000) as usize % shared.args.regions.len()];
    lock(&shared.players[player]).joined_at = now_micros();
    shared.set_waiting(player, true);
    let started = Instant::now();
    match clients[player].join_queue(queue, region).await {
        Ok(_) => {
            if now_micros() >= shared.warm_until {
                lock(&shared.join_reply).record(started.elapsed());
            }
            shared.counters.joined.fetch_add(1, Ordering::Relaxed);
        }
        Err(ClientError::Timeout(_) | ClientError::Disconnected) => {
            // The join may or may not have been carried out: if its ticket exists, its
            // match.found brings the player back; if not, the player stays out of play
            // (counted among the tickets still waiting at the end).
            shared
                .join_errors
                .add("no reply (ticket kept as maybe queued)");
        }
        Err(ClientError::Server {
            code: ErrorCode::AlreadyQueued,
            message,
        }) if message.starts_with("already queued") => {
            // The player's ticket is in a queue (this run lost track of it): its
            // match.found brings the player back.
            shared.join_errors.add("already_queued (ticket kept)");
        }
        Err(err) => {
            shared.set_waiting(player, false);
            shared.join_errors.count(&err);
            // Try this player again later.
            let cooldown = Duration::from_millis(shared.args.fleet.game_ms.max(500));
            tokio::time::sleep(cooldown).await;
            shared.back_to_idle(player);
        }
    }
}

/// Reads one player's events until `stop`.
async fn listen(
    shared: Arc<Shared>,
    index: usize,
    (id, client): (String, rallypoint_client::Client),
    mut events: tokio::sync::mpsc::Receiver<Event>,
    stop: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = events.recv() => event,
        };
        let Some(event) = event else { return };
        match event {
            Event::Push(ServerMessage::MatchFound {
                match_id,
                queue,
                teams,
                server,
                join_token,
                ..
            }) => {
                let match_id = match_id.to_string();
                {
                    let mut state = lock(&shared.players[index]);
                    if state.last_match.as_deref() == Some(match_id.as_str()) {
                        continue; // a repeat of a match we know
                    }
                    if !state.waiting {
                        shared.problem(format!(
                            "{id} got match {match_id} without a waiting ticket (matched twice?)"
                        ));
                    }
                    state.last_match = Some(match_id.clone());
                }
                shared.set_waiting(index, false);
                on_found(
                    &shared,
                    &id,
                    &match_id,
                    queue.as_str(),
                    &teams,
                    server.id.as_ref(),
                );
                let shared = shared.clone();
                let address = server.address.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    if shared.args.join_game {
                        // Bounded: each join is a socket at both ends in this process.
                        let _slot = shared.game_joins.acquire().await;
                        let joined = shared
                            .http
                            .post(format!("http://{address}/v1/join"))
                            .json(&serde_json::json!({"match": match_id, "player": id, "token": join_token}))
                            .send()
                            .await;
                        let failed = match joined {
                            Ok(answer) if answer.status().is_success() => None,
                            Ok(answer) => Some(answer.status().as_u16().to_string()),
                            Err(err) if err.is_timeout() => Some("timeout".to_owned()),
                            Err(_) => Some("unreachable".to_owned()),
                        };
                        if let Some(why) = failed {
                            shared
                                .counters
                                .game_join_failed
                                .fetch_add(1, Ordering::Relaxed);
                            shared.game_join_errors.add(why);
                        }
                    }
                    // Queue again once the game is over and its result is in, unless the
                    // match was cancelled and the ticket put back meanwhile.
                    tokio::time::sleep(Duration::from_millis(shared.args.fleet.game_ms + 500))
                        .await;
                    let still_this_match = {
                        let state = lock(&shared.players[index]);
                        !state.waiting && state.last_match.as_deref() == Some(match_id.as_str())
                    };
                    if still_this_match {
                        shared.back_to_idle(index);
                    }
                });
            }
            Event::Push(ServerMessage::MatchCancelled {
                match_id, requeued, ..
            }) => {
                shared.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                let current =
                    lock(&shared.players[index]).last_match.as_deref() == Some(match_id.as_str());
                if current && requeued {
                    // The ticket is back in the queue: the next match.found is for it.
                    shared.set_waiting(index, true);
                } else if current {
                    lock(&shared.players[index]).last_match = None;
                    shared.back_to_idle(index);
                }
            }
            // Where the queue has a ready check, every player accepts at once.
            Event::Push(ServerMessage::MatchReadyCheck { match_id, .. }) => {
                let client = client.clone();
                tokio::spawn(async move {
                    if let Err(err) = client.accept_match(match_id.as_str()).await {
                        tracing::debug!(error = %err, "a ready check could not be accepted");
                    }
                });
            }
            Event::Push(ServerMessage::QueueTimeout { .. }) => {
                shared.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                shared.set_waiting(index, false);
                shared.back_to_idle(index);
            }
            _ => {}
        }
    }
}

/// Checks one announcement of a match and records the latency from its completing join.
fn on_found(shared: &Shared, id: &str, match_id: &str, queue: &str, teams: &Teams, server: &str) {
    let now = now_micros();
    let c = &shared.counters;
    c.found.fetch_add(1, Ordering::Relaxed);
    c.first_found.fetch_min(now, Ordering::Relaxed);
    c.last_found.fetch_max(now, Ordering::Relaxed);
    let expected_team = if queue == "squad" { 2 } else { 1 };
    if teams.len() != 2 || teams.iter().any(|team| team.len() != expected_team) {
        shared.problem(format!(
            "match {match_id} in {queue} has teams of sizes {:?}",
            teams.iter().map(Vec::len).collect::<Vec<_>>()
        ));
    }
    let members: Vec<&str> = teams.iter().flatten().map(|m| m.player.as_str()).collect();
    if !members.contains(&id) {
        shared.problem(format!(
            "{id} was told of match {match_id} but is not in its teams"
        ));
    }
    let mut completing = 0_u64;
    for member in &members {
        match shared.index_of(member) {
            Some(k) => completing = completing.max(lock(&shared.players[k]).joined_at),
            None => shared.problem(format!(
                "match {match_id} has a player this run did not queue: {member}"
            )),
        }
    }
    if completing > shared.warm_until {
        lock(&shared.join_to_found).record_micros(now.saturating_sub(completing));
    }
    let mut matches = lock(&shared.matches);
    let seen = matches
        .entry(match_id.to_owned())
        .or_insert_with(|| MatchSeen {
            server: server.to_owned(),
            announced: 0,
        });
    seen.announced += 1;
    if seen.server != server {
        let first = seen.server.clone();
        drop(matches);
        shared.problem(format!(
            "match {match_id}: players sent to {first} and to {server}"
        ));
    } else if seen.announced > members.len() {
        drop(matches);
        shared.problem(format!(
            "match {match_id} announced more often than it has players"
        ));
    }
}
