//! `whisper`: pairs of players on two different gateways, whispers at a fixed total rate
//! (each from the next pair's sender to its receiver). Reports delivered whispers per
//! second, delivery latency, and what was lost or duplicated.

use std::time::Instant;

use rallypoint_client::proto::ServerMessage;

use crate::cli::{Common, WhisperArgs};
use crate::clients::{bar, close_all, connect_all};
use crate::figures::Report;
use crate::latency::stamped_body;
use crate::scenarios::delivery::measure;

fn whisper_body(message: &ServerMessage) -> Option<&serde_json::Value> {
    match message {
        ServerMessage::Whisper { body, .. } => Some(body.as_value()),
        _ => None,
    }
}

pub async fn run(common: &Common, args: &WhisperArgs) -> anyhow::Result<Option<Report>> {
    anyhow::ensure!(args.pairs > 0, "--pairs must be at least 1");
    args.timing.check()?;
    let run = common.run_id();
    let gateways = common.urls.len().max(1);
    if gateways < 2 {
        tracing::warn!("one gateway URL: whispers stay on one gateway");
    }
    // Pair k: sender 2k on gateway k, receiver 2k+1 on the next gateway.
    let ids = (0..args.pairs * 2)
        .map(|i| (format!("{run}-w{i}"), (i / 2 + i % 2) % gateways))
        .collect();
    let mut players = connect_all(common, ids, 0, bar(0, "connecting pairs")).await?;
    let (senders, targets) = crate::clients::senders_and_targets(&players)?;
    let receivers = players
        .iter_mut()
        .skip(1)
        .step_by(2)
        .map(|p| p.take_events())
        .collect();
    let pairs = args.pairs as u64;
    let report = measure(
        "whisper",
        args,
        common,
        &args.timing,
        receivers,
        whisper_body,
        |seq, ledger| {
            let pair = (seq % pairs) as usize;
            let (senders, targets) = (senders.clone(), targets.clone());
            async move {
                let started = Instant::now();
                let outcome = senders[pair]
                    .whisper(&targets[pair], stamped_body(seq))
                    .await;
                ledger.sent(seq, started, outcome, 1);
            }
        },
    )
    .await?;
    close_all(&players).await;
    Ok(Some(report))
}
