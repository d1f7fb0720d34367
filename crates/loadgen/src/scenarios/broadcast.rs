//! `broadcast`: N players connected over the gateways, then a few server-API broadcasts
//! (`POST /v1/broadcast`, one message per gateway through Redis), one after the other.
//! Reports the time from the call to the last player's `notice`, per broadcast, and
//! whether every player got each exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rallypoint_client::Event;
use rallypoint_client::proto::ServerMessage;

use crate::cli::{BroadcastArgs, Common};
use crate::clients::{bar, close_all, connect_all};
use crate::figures::Report;
use crate::latency::{Latency, now_micros};

pub async fn run(common: &Common, args: &BroadcastArgs) -> anyhow::Result<Option<Report>> {
    anyhow::ensure!(
        args.players > 0 && args.broadcasts > 0,
        "--players and --broadcasts must be at least 1"
    );
    let run = common.run_id();
    let gateways = common.urls.len().max(1);
    let ids = (0..args.players)
        .map(|i| (format!("{run}-b{i}"), i % gateways))
        .collect();
    let mut players = connect_all(common, ids, 0, bar(0, "connecting players")).await?;
    let meters = crate::procstat::Gateways::start(&common.gateway_pids)?;

    // Each player counts the notices of each broadcast and notes when the last came.
    let broadcasts = args.broadcasts;
    let got: Arc<Vec<AtomicU64>> = Arc::new((0..broadcasts).map(|_| AtomicU64::new(0)).collect());
    let last: Arc<Vec<AtomicU64>> = Arc::new((0..broadcasts).map(|_| AtomicU64::new(0)).collect());
    let stop = tokio_util::sync::CancellationToken::new();
    let mut listeners = tokio::task::JoinSet::new();
    for player in &mut players {
        let mut events = player.take_events();
        let (got, last, stop) = (got.clone(), last.clone(), stop.clone());
        listeners.spawn(async move {
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => return,
                    event = events.recv() => event,
                };
                match event {
                    Some(Event::Push(ServerMessage::Notice { body, .. })) => {
                        let Some(k) = body.as_value()["broadcast"].as_u64() else {
                            continue;
                        };
                        if let (Some(count), Some(at)) = (got.get(k as usize), last.get(k as usize))
                        {
                            count.fetch_add(1, Ordering::Relaxed);
                            at.fetch_max(now_micros(), Ordering::Relaxed);
                        }
                    }
                    Some(_) => {}
                    None => return,
                }
            }
        });
    }

    let http = reqwest::Client::new();
    let url = format!("{}/v1/broadcast", args.api.trim_end_matches('/'));
    let mut to_last = Latency::new();
    let expected = args.players as u64;
    let mut report_problems = Vec::new();
    for k in 0..broadcasts {
        let started_micros = now_micros();
        let started = Instant::now();
        let answer = http
            .post(&url)
            .bearer_auth(&args.api_token)
            .json(&serde_json::json!({"body": {"broadcast": k}}))
            .send()
            .await?;
        anyhow::ensure!(
            answer.status().is_success(),
            "the broadcast was refused: {} {}",
            answer.status(),
            answer.text().await.unwrap_or_default()
        );
        // Every player has it, or nothing more came for a while (bounded).
        let deadline = started + Duration::from_secs(30);
        let count = &got[k];
        while count.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let arrived = count.load(Ordering::Relaxed);
        if arrived < expected {
            report_problems.push(format!(
                "broadcast {k}: {} of {expected} players never got it",
                expected - arrived
            ));
        }
        to_last.record_micros(
            last[k]
                .load(Ordering::Relaxed)
                .saturating_sub(started_micros),
        );
        // The next one on a quiet platform.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Anything more would be a duplicate.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    while listeners.join_next().await.is_some() {}

    let mut report = Report::new("broadcast", args);
    report.figure("players", expected as f64, "");
    report.figure("broadcasts", broadcasts as f64, "");
    report.figure("call to the last player p50", to_last.ms_at(0.5), "ms");
    report.figure("call to the last player max", to_last.ms_at(1.0), "ms");
    let duplicated: u64 = got
        .iter()
        .map(|c| c.load(Ordering::Relaxed).saturating_sub(expected))
        .sum();
    let lost: u64 = got
        .iter()
        .map(|c| expected.saturating_sub(c.load(Ordering::Relaxed)))
        .sum();
    report.figure("lost", lost as f64, "notices");
    report.figure("duplicated", duplicated as f64, "notices");
    if duplicated > 0 {
        report.problem(format!("{duplicated} notices arrived twice"));
    }
    for problem in report_problems {
        report.problem(problem);
    }
    meters.report(&mut report);
    close_all(&players).await;
    Ok(Some(report))
}
