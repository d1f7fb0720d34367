//! `abuse`: honest players whisper and chat at a steady rate, first alone (the baseline),
//! then while others attack the first gateway: connections sending garbage, unknown types,
//! wrong fields and oversized frames (and reconnecting as the same player when closed),
//! connect-and-close storms, and sockets that start an upgrade and never finish it. Honest
//! players also keep connecting during both phases. Reports the honest players' delivery
//! and connect latency in each phase, anything of theirs lost or duplicated (a problem),
//! honest connects that failed under the flood (a problem), and what the attackers got
//! (closes by code, refusals by status, half-open sockets the gateway closed).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rallypoint_client::proto::ServerMessage;
use rallypoint_client::{Client, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

use crate::cli::{AbuseArgs, Common};
use crate::clients::{bar, close_all, config_for, connect_all};
use crate::figures::Report;
use crate::latency::{Latency, now_micros, read_stamp, stamped_body};
use crate::lock;
use crate::scenarios::delivery::Ledger;

/// The two phases, in order.
const PHASES: [&str; 2] = ["baseline", "under flood"];

/// What the attackers did and got, counted by label.
#[derive(Debug, Default)]
struct Tally(std::sync::Mutex<BTreeMap<String, u64>>);

impl Tally {
    fn add(&self, label: impl Into<String>, n: u64) {
        *lock(&self.0).entry(label.into()).or_default() += n;
    }
}

/// The body a stamped honest message is in: a whisper or a room message.
fn honest_body(message: &ServerMessage) -> Option<&serde_json::Value> {
    match message {
        ServerMessage::Whisper { body, .. } | ServerMessage::RoomMessage { body, .. } => {
            Some(body.as_value())
        }
        _ => None,
    }
}

/// `host:port` of a `ws://host:port/...` URL.
fn authority(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| anyhow::anyhow!("{url}: the abuse scenario speaks plain ws://"))?;
    Ok(rest.split('/').next().unwrap_or(rest).to_owned())
}

pub async fn run(common: &Common, args: &AbuseArgs) -> anyhow::Result<Option<Report>> {
    anyhow::ensure!(args.pairs > 0, "--pairs must be at least 1");
    args.timing.check()?;
    let run = common.run_id();
    let gateways = common.urls.len().max(1);
    let target = authority(common.urls.first().map_or("", String::as_str))?;

    // Honest pair k: sender 2k on the attacked gateway, receiver 2k+1 on gateway k (mod n).
    let ids = (0..args.pairs * 2)
        .map(|i| {
            let gateway = if i % 2 == 0 { 0 } else { (i / 2) % gateways };
            (format!("{run}-h{i}"), gateway)
        })
        .collect();
    let mut players = connect_all(common, ids, 0, bar(0, "connecting honest pairs")).await?;
    let mut rooms = Vec::with_capacity(args.pairs);
    for (k, pair) in players.chunks(2).enumerate() {
        let room = format!("{run}-r{k}");
        for player in pair {
            player.sdk()?.join_room(&room).await?;
        }
        rooms.push(room);
    }
    let (senders, targets) = crate::clients::senders_and_targets(&players)?;
    let rooms = Arc::new(rooms);
    // Senders get their own room messages back: read and dropped.
    let stop_all = CancellationToken::new();
    for player in players.iter_mut().step_by(2) {
        let mut events = player.take_events();
        let stop = stop_all.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    event = events.recv() => if event.is_none() { break },
                }
            }
        });
    }
    let receivers: Vec<mpsc::Receiver<Event>> = players
        .iter_mut()
        .skip(1)
        .step_by(2)
        .map(|p| p.take_events())
        .collect();

    let per_phase = args.timing.total();
    let ledger = Ledger::new(per_phase * 2, 0);
    let latencies = Arc::new([
        std::sync::Mutex::new(Latency::new()),
        std::sync::Mutex::new(Latency::new()),
    ]);
    let receiving = tokio::spawn(receive(
        receivers,
        ledger.clone(),
        latencies.clone(),
        per_phase,
        args.timing.warmup * args.timing.rate,
        stop_all.clone(),
    ));
    let meters = crate::procstat::Gateways::start(&common.gateway_pids)?;
    let tally = Arc::new(Tally::default());
    let mut connect_latency = Vec::new();
    let mut phase_cpu = Vec::new();

    for (phase, name) in PHASES.iter().enumerate() {
        let flood_stop = CancellationToken::new();
        let mut flood = tokio::task::JoinSet::new();
        if phase == 1 {
            start_flood(&mut flood, common, args, &run, &target, &tally, &flood_stop)?;
            // Let the half-open sockets and storms build up before measuring.
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let cpu = crate::procstat::Gateways::start(&common.gateway_pids)?;
        let probes = tokio::spawn(probe(
            common.clone(),
            format!("{run}-p{phase}"),
            args.probe_rate,
            args.timing.duration(),
            tally.clone(),
            name,
        ));
        let offset = per_phase * phase as u64;
        let progress = bar(per_phase, name);
        crate::pace::at_rate(
            args.timing.rate,
            args.timing.duration(),
            4096,
            &progress,
            |seq| {
                let (senders, targets, rooms, ledger) = (
                    senders.clone(),
                    targets.clone(),
                    rooms.clone(),
                    ledger.clone(),
                );
                let seq = seq + offset;
                async move {
                    let pair = (seq % senders.len() as u64) as usize;
                    let started = Instant::now();
                    // Whispers and room messages in turn.
                    let outcome = if seq.is_multiple_of(2) {
                        senders[pair]
                            .whisper(&targets[pair], stamped_body(seq))
                            .await
                    } else {
                        senders[pair]
                            .send_to_room(&rooms[pair], stamped_body(seq))
                            .await
                    };
                    ledger.sent(seq, started, outcome, 1);
                }
            },
        )
        .await;
        progress.finish();
        ledger.drain(Duration::from_secs(3)).await;
        let (seconds, _) = cpu.seconds();
        phase_cpu.push(seconds.unwrap_or(0.0) / cpu.elapsed().as_secs_f64().max(1e-3));
        connect_latency.push(probes.await?);
        flood_stop.cancel();
        while flood.join_next().await.is_some() {}
    }
    stop_all.cancel();
    receiving.await?;

    let mut report = Report::new("abuse", args);
    let mut all = Latency::new();
    for (phase, name) in PHASES.iter().enumerate() {
        let latency = lock(&latencies[phase]);
        report.percentiles(&format!("honest delivery latency {name}"), &latency);
        all.merge(&latency);
        report.percentiles(
            &format!("honest connect latency {name}"),
            &connect_latency[phase],
        );
        report.figure(
            format!("gateways CPU {name}"),
            phase_cpu[phase] * 100.0,
            "% of a core",
        );
    }
    let paced = crate::pace::Paced {
        sent: per_phase * 2,
        elapsed: args.timing.duration() * 2,
    };
    ledger.report(&mut report, &paced, args.timing.duration() * 2, &all);
    for (label, n) in lock(&tally.0).iter() {
        report.figure(label.clone(), *n as f64, "");
    }
    let failed: u64 = PHASES
        .iter()
        .map(|name| {
            lock(&tally.0)
                .get(&format!("honest connects failed {name}"))
                .copied()
                .unwrap_or(0)
        })
        .sum();
    if failed > 0 {
        report.problem(format!("{failed} honest players could not connect"));
    }
    meters.report(&mut report);
    close_all(&players).await;
    Ok(Some(report))
}

/// Reads the receivers' events until `stop`: each stamped body is counted in `ledger`,
/// its latency kept in its phase (messages `per_phase` and on are the flood's; the first
/// `warmup` of each phase are counted, not timed).
async fn receive(
    receivers: Vec<mpsc::Receiver<Event>>,
    ledger: Arc<Ledger>,
    latencies: Arc<[std::sync::Mutex<Latency>; 2]>,
    per_phase: u64,
    warmup: u64,
    stop: CancellationToken,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for mut events in receivers {
        let (ledger, latencies, stop) = (ledger.clone(), latencies.clone(), stop.clone());
        tasks.spawn(async move {
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => break,
                    event = events.recv() => event,
                };
                let Some(event) = event else { break };
                let Event::Push(message) = event else {
                    continue;
                };
                let Some((sent, seq)) = honest_body(&message).and_then(read_stamp) else {
                    continue;
                };
                let phase = usize::from(seq >= per_phase);
                if seq % per_phase.max(1) >= warmup {
                    lock(&latencies[phase]).record_micros(now_micros().saturating_sub(sent));
                }
                ledger.received(seq);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Honest players connecting at `rate` per second for `duration`: each connects, pings
/// and leaves. Returns the latency from the connect to the pong.
async fn probe(
    common: Common,
    prefix: String,
    rate: u64,
    duration: Duration,
    tally: Arc<Tally>,
    phase: &'static str,
) -> Latency {
    let latency = Arc::new(std::sync::Mutex::new(Latency::new()));
    if rate == 0 {
        return Latency::new();
    }
    let common = Arc::new(common);
    let hidden = indicatif::ProgressBar::hidden();
    crate::pace::at_rate(rate, duration, 256, &hidden, |n| {
        let (common, prefix, tally, latency) = (
            common.clone(),
            prefix.clone(),
            tally.clone(),
            latency.clone(),
        );
        async move {
            let started = Instant::now();
            let outcome = async {
                let config = config_for(&common, &format!("{prefix}-{n}"), n as usize, 0)?;
                let (client, _events) = Client::connect(config).await?;
                client.ping().await?;
                client.close().await;
                anyhow::Ok(())
            }
            .await;
            match outcome {
                Ok(()) => lock(&latency).record(started.elapsed()),
                Err(err) => {
                    tracing::warn!(error = %err, "an honest connect failed");
                    tally.add(format!("honest connects failed {phase}"), 1);
                }
            }
        }
    })
    .await;
    let done = lock(&latency);
    let mut out = Latency::new();
    out.merge(&done);
    out
}

/// Starts the attack on `target` (the first gateway): garbage connections, storms and
/// half-open sockets, until `stop`.
fn start_flood(
    flood: &mut tokio::task::JoinSet<()>,
    common: &Common,
    args: &AbuseArgs,
    run: &str,
    target: &str,
    tally: &Arc<Tally>,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let url = common.urls.first().cloned().unwrap_or_default();
    for i in 0..args.abusers {
        let request_url = with_player(&url, common, &format!("{run}-a{i}"))?;
        flood.spawn(garbage(
            request_url,
            args.garbage_rate.max(1),
            tally.clone(),
            stop.clone(),
        ));
    }
    if args.storm_rate > 0 {
        let storm_urls: Vec<String> = (0..(args.storm_rate * 60) as usize)
            .map(|n| with_player(&url, common, &format!("{run}-s{n}")))
            .collect::<anyhow::Result<_>>()?;
        flood.spawn(storm(
            storm_urls,
            args.storm_rate,
            tally.clone(),
            stop.clone(),
        ));
    }
    for _ in 0..args.half_open {
        flood.spawn(half_open(target.to_owned(), tally.clone(), stop.clone()));
    }
    Ok(())
}

/// `url` with the credentials of player `id` (a token when the run signs them, else a
/// guest name).
fn with_player(url: &str, common: &Common, id: &str) -> anyhow::Result<String> {
    let config = config_for(common, id, 0, 0)?;
    let query = match &config.auth {
        rallypoint_client::Auth::Token(token) => format!("token={token}"),
        rallypoint_client::Auth::Guest(name) => format!("guest={name}"),
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}{query}"))
}

/// The frames a garbage connection sends, in turn: not JSON, random bytes, an unknown
/// type, a wrong field, and (every 16th) one over the frame limit.
fn garbage_frame(n: u64) -> Message {
    match n % 16 {
        15 => Message::text("x".repeat(70_000)),
        k if k % 4 == 0 => Message::text("{\"type\": \"ping\", oops"),
        k if k % 4 == 1 => Message::binary(vec![0xc1, 0xff, 0x00, (n % 251) as u8]),
        k if k % 4 == 2 => Message::text(format!("{{\"type\": \"no.such.type\", \"rid\": {n}}}")),
        _ => Message::text("{\"type\": \"whisper\", \"to\": 42, \"body\": null}"),
    }
}

/// One garbage connection: connects as its player, sends garbage at `rate` until the
/// gateway closes it, and connects again; counts what it sent and how it was answered.
async fn garbage(url: String, rate: u64, tally: Arc<Tally>, stop: CancellationToken) {
    let gap = Duration::from_micros(1_000_000 / rate);
    let mut n = 0_u64;
    while !stop.is_cancelled() {
        let Ok(request) = url.as_str().into_client_request() else {
            return;
        };
        let connected = tokio::select! {
            () = stop.cancelled() => return,
            connected = tokio_tungstenite::connect_async(request) => connected,
        };
        let socket = match connected {
            Ok((socket, _)) => socket,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                tally.add(
                    format!("abuser upgrades refused {}", response.status().as_u16()),
                    1,
                );
                // Refused: try again shortly (a refused player keeps knocking).
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(_) => {
                tally.add("abuser connect errors", 1);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tally.add("abuser connections", 1);
        let (mut sink, mut stream) = socket.split();
        let closed = CancellationToken::new();
        let reader = {
            let (closed, tally) = (closed.clone(), tally.clone());
            tokio::spawn(async move {
                let mut code = None;
                while let Some(Ok(frame)) = stream.next().await {
                    if let Message::Close(frame) = frame {
                        code = frame.map(|f| u16::from(f.code));
                        break;
                    }
                }
                match code {
                    Some(code) => tally.add(format!("abuser connections closed {code}"), 1),
                    None => tally.add("abuser connections dropped", 1),
                }
                closed.cancel();
            })
        };
        let mut ticker = tokio::time::interval(gap);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = closed.cancelled() => break,
                _ = ticker.tick() => {
                    if sink.send(garbage_frame(n)).await.is_err() {
                        break;
                    }
                    n += 1;
                    tally.add("abuser frames sent", 1);
                }
            }
        }
        let _ = sink.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    }
}

/// Connect-and-close storms: `rate` new connections per second, each a new player that
/// reads `welcome` and leaves at once.
async fn storm(urls: Vec<String>, rate: u64, tally: Arc<Tally>, stop: CancellationToken) {
    let urls = Arc::new(urls);
    let seq = AtomicU64::new(0);
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(512));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            tally.add("storm connects skipped (512 in flight)", 1);
            continue;
        };
        let n = seq.fetch_add(1, Ordering::Relaxed) as usize;
        let (urls, tally) = (urls.clone(), tally.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let Ok(request) = urls[n % urls.len()].as_str().into_client_request() else {
                return;
            };
            match tokio::time::timeout(
                Duration::from_secs(10),
                tokio_tungstenite::connect_async(request),
            )
            .await
            {
                Ok(Ok((mut socket, _))) => {
                    let _welcome = socket.next().await;
                    let _ = socket.close(None).await;
                    tally.add("storm connects", 1);
                }
                Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
                    tally.add(
                        format!("storm connects refused {}", response.status().as_u16()),
                        1,
                    );
                }
                _ => tally.add("storm connect errors", 1),
            }
        });
    }
}

/// One half-open handshake at a time on one socket: the start of an upgrade request, then
/// nothing, until the gateway closes the socket (counted) and it is opened again.
async fn half_open(target: String, tally: Arc<Tally>, stop: CancellationToken) {
    let head =
        format!("GET /ws?guest=half-open HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\n");
    while !stop.is_cancelled() {
        let Ok(mut socket) = tokio::net::TcpStream::connect(&target).await else {
            tally.add("half-open connect errors", 1);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if socket.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        tally.add("half-open sockets opened", 1);
        let mut buf = [0_u8; 512];
        tokio::select! {
            () = stop.cancelled() => return,
            read = socket.read(&mut buf) => {
                // The gateway answers nothing and closes when the deadline passes.
                if matches!(read, Ok(0) | Err(_)) {
                    tally.add("half-open sockets closed by the gateway", 1);
                }
            }
        }
    }
}
