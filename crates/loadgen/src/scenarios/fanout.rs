//! `fanout`: rooms of M members spread over the gateways, one message sent at a time at a
//! fixed total rate (each from the next member of the next room), every member receiving
//! every message of its room. Reports delivered messages per second, delivery latency
//! (the sender's timestamp in the body to the receiver's clock), and what was lost or
//! duplicated.
//!
//! `recovery` is the same in rooms that keep history, while members are made to reconnect
//! at random to the next gateway (`Client::reconnect`): the SDK rejoins with `since`, so
//! the same ledger proves that nothing was lost or duplicated across the reconnects.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use rallypoint_client::proto::ServerMessage;

use crate::cli::{Common, FanoutArgs, RecoveryArgs};
use crate::clients::{bar, close_all, connect_all};
use crate::figures::Report;
use crate::latency::stamped_body;
use crate::scenarios::delivery::measure;

fn room_body(message: &ServerMessage) -> Option<&serde_json::Value> {
    match message {
        ServerMessage::RoomMessage { body, .. } => Some(body.as_value()),
        _ => None,
    }
}

pub async fn run(common: &Common, args: &FanoutArgs) -> anyhow::Result<Option<Report>> {
    run_with(common, args, "fanout", 0.0).await
}

/// `recovery`: fan-out in history rooms with members reconnecting meanwhile.
pub async fn recovery(common: &Common, args: &RecoveryArgs) -> anyhow::Result<Option<Report>> {
    anyhow::ensure!(
        args.reconnects_per_second > 0.0,
        "--reconnects-per-second must be above 0"
    );
    let fanout = FanoutArgs {
        rooms: args.rooms,
        members: args.members,
        room_prefix: args.room_prefix.clone(),
        timing: args.timing.clone(),
    };
    run_with(common, &fanout, "recovery", args.reconnects_per_second).await
}

async fn run_with(
    common: &Common,
    args: &FanoutArgs,
    scenario: &str,
    reconnects_per_second: f64,
) -> anyhow::Result<Option<Report>> {
    anyhow::ensure!(
        args.rooms > 0 && args.members > 0,
        "--rooms and --members must be at least 1"
    );
    args.timing.check()?;
    let run = common.run_id();
    let gateways = common.urls.len().max(1);
    let total = args.rooms * args.members;
    let ids = (0..total)
        .map(|i| (format!("{run}-f{i}"), i % gateways))
        .collect();
    let mut players = connect_all(common, ids, 0, bar(0, "connecting members")).await?;
    let rooms: Vec<String> = (0..args.rooms)
        .map(|r| format!("{}{run}-room{r}", args.room_prefix))
        .collect();

    let joining = bar(total as u64, "joining rooms");
    let joins: Vec<anyhow::Result<u32>> = futures::stream::iter(players.iter().enumerate())
        .map(|(i, player)| {
            let room = rooms[i / args.members].clone();
            let joining = joining.clone();
            async move {
                let members = player.client.join_room(&room).await?;
                joining.inc(1);
                Ok(members)
            }
        })
        .buffer_unordered(common.connect_concurrency.max(1))
        .collect()
        .await;
    joining.finish();
    for joined in joins {
        joined.map_err(|e| anyhow::anyhow!("a member could not join its room: {e}"))?;
    }
    if common.protocol == crate::cli::Protocol::SocketIo {
        // The peer acknowledges a join before its Redis adapter has subscribed to the
        // room's channel (it does not wait for SSUBSCRIBE), and offers nothing to await:
        // a moment's grace keeps the first messages from being lost to that race.
        // Rallypoint answers room.join once the subscription is made.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }

    let clients: Arc<Vec<_>> = Arc::new(players.iter().map(|p| p.client.clone()).collect());
    let receivers = players.iter_mut().map(|p| p.take_events()).collect();
    let rooms = Arc::new(rooms);
    let (room_count, members) = (args.rooms as u64, args.members);
    let moving = Moving::start(&players, reconnects_per_second, args.timing.duration())?;
    let report = measure(
        scenario,
        args,
        common,
        &args.timing,
        receivers,
        room_body,
        |seq, ledger| {
            let room = (seq % room_count) as usize;
            let sender = room * members + ((seq / room_count) % members as u64) as usize;
            let (clients, rooms) = (clients.clone(), rooms.clone());
            async move {
                let started = Instant::now();
                let outcome = clients[sender]
                    .send_to_room(&rooms[room], stamped_body(seq))
                    .await;
                ledger.sent(seq, started, outcome, members as u32);
            }
        },
    )
    .await;
    let reconnected = moving.stop().await;
    let mut report = report?;
    if reconnects_per_second > 0.0 {
        report.figure("members reconnected", reconnected as f64, "");
    }
    close_all(&players).await;
    Ok(Some(report))
}

/// Members made to reconnect at random while a `recovery` run sends.
struct Moving {
    stop: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<u64>>,
}

impl Moving {
    /// Moves `per_second` members for `during` (the sending), then stops by itself.
    fn start(
        players: &[crate::clients::Player],
        per_second: f64,
        during: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let stop = tokio_util::sync::CancellationToken::new();
        if per_second <= 0.0 {
            return Ok(Self { stop, task: None });
        }
        let clients = players
            .iter()
            .map(crate::clients::Player::sdk)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let every = std::time::Duration::from_secs_f64(1.0 / per_second);
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let mut pace = tokio::time::interval(every);
            pace.tick().await;
            let ends = tokio::time::Instant::now() + during;
            let mut moved = 0_u64;
            loop {
                tokio::select! {
                    () = until.cancelled() => return moved,
                    () = tokio::time::sleep_until(ends) => return moved,
                    _ = pace.tick() => {}
                }
                let client = &clients[fastrand::usize(..clients.len())];
                if client.reconnect().await.is_ok() {
                    moved += 1;
                }
            }
        });
        Ok(Self {
            stop,
            task: Some(task),
        })
    }

    /// Stops moving members; how many were moved.
    async fn stop(self) -> u64 {
        self.stop.cancel();
        match self.task {
            Some(task) => task.await.unwrap_or(0),
            None => 0,
        }
    }
}
