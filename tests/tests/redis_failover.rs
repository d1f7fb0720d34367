//! Invariant 5 of docs/ARCHITECTURE.md with the whole platform: a Redis master failover (a
//! `CLUSTER FAILOVER` of the masters holding the queue and the region, then a master
//! SIGKILLed) while players are connected. The services reconnect and resubscribe without
//! a restart, the clients stay connected, pushes still cross gateways, and matching resumes.

use std::time::Duration;

use rallypoint_client::Event;
use rallypoint_client::proto::ServerMessage;
use rallypoint_tests::stack::{Player, Sizes, Stack, queue_all, take_matches};
use testkit::PrivateCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_failover_keeps_clients_connected_and_matching_going() {
    let mut cluster = PrivateCluster::start(3, 1)
        .await
        .expect("a private cluster");
    let ns = testkit::unique_namespace("rfail");
    let stack = Stack::start_on(&ns, Sizes::SMALL, cluster.seed_urls()).await;
    let urls = stack.gateway_urls();
    let mut players = Vec::new();
    for n in 0..4 {
        players
            .push(Player::connect(&format!("r{n}-{ns}"), vec![urls[n % 2].clone()], false).await);
    }
    queue_all(&players, "duel").await;
    take_matches(&mut players).await;
    // Their games end and the results are stored before Redis is broken (a player in a
    // live match cannot queue again).
    for p in &players {
        p.rating_after(1).await;
    }

    // Planned failovers of the masters holding the queue and the region, then a crash of
    // the master holding a player's inbox.
    let keys = core_keys::Keys::new(&ns).expect("namespace");
    for key in [
        keys.queue("duel", "eu").tickets(),
        keys.pool("eu").pending(),
    ] {
        cluster
            .fail_over_slot(core_keys::slot_of(&key), Duration::from_secs(30))
            .await
            .expect("failed over");
    }
    let inbox = keys.player(&players[1].id).inbox_channel();
    let master = cluster
        .master_of_slot(core_keys::slot_of(&inbox))
        .await
        .expect("a master");
    cluster.kill_node(master).await;
    testkit::wait_until(
        "a replica to take the killed master's slots",
        Duration::from_secs(60),
        || async {
            let now = cluster
                .master_of_slot(core_keys::slot_of(&inbox))
                .await
                .ok()?;
            (now != master).then_some(())
        },
    )
    .await
    .expect("in time");

    // A whisper crosses gateways to the player whose inbox moved: sent again each second
    // until heard (the gateway resubscribes within its canary period), bounded.
    let to = players[1].id.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    'heard: loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no whisper reached the moved inbox"
        );
        if let Err(err) = players[0]
            .client
            .whisper(&to, serde_json::json!("still here?"))
            .await
        {
            eprintln!("whisper not sent yet: {err}");
        }
        let listen_until = tokio::time::Instant::now() + Duration::from_secs(1);
        while let Ok(event) = tokio::time::timeout_at(listen_until, players[1].events.recv()).await
        {
            match event.expect("events open") {
                Event::Push(ServerMessage::Whisper { body, .. }) => {
                    assert_eq!(body.as_value(), &serde_json::json!("still here?"));
                    break 'heard;
                }
                Event::Disconnected { reason } => panic!("the client was disconnected: {reason}"),
                _ => {}
            }
        }
    }

    // Matching resumes, and nobody was disconnected.
    queue_all(&players, "duel").await;
    take_matches(&mut players).await;
    for p in &players {
        assert_eq!(p.disconnects, 0, "{} stayed connected", p.id);
    }
    stack.stop().await;
}
