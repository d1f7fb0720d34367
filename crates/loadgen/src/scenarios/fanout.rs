//! `fanout`: rooms of M members spread over the gateways, one message sent at a time at a
//! fixed total rate (each from the next member of the next room), every member receiving
//! every message of its room. Reports delivered messages per second, delivery latency
//! (the sender's timestamp in the body to the receiver's clock), and what was lost or
//! duplicated.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use rallypoint_client::proto::ServerMessage;

use crate::cli::{Common, FanoutArgs};
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
    let rooms: Vec<String> = (0..args.rooms).map(|r| format!("{run}-room{r}")).collect();

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
    let report = measure(
        "fanout",
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
    .await?;
    close_all(&players).await;
    Ok(Some(report))
}
