//! The limits kept per player in Redis, across reconnects and gateways: connects per player
//! per minute, and abuse strikes that end in a cool-down. Each is crossed, answered as
//! PROTOCOL.md says, while another player on the same gateway is served.

mod common;

use std::time::Duration;

use common::{Client, open, player_query, still_served, ws_addr};
use proto::{Encoding, ErrorCode, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn a_player_connecting_too_often_across_gateways_gets_429_while_others_are_served() {
    let ns = testkit::unique_namespace("player-connects");
    let limits = [("gateway.connects_per_player_per_minute", "3")];
    let one = common::start(&ns, &limits).await;
    let two = common::start(&ns, &limits).await;
    let mut bystander = Client::player(ws_addr(&one), "bystander", Encoding::Json).await;

    // Three connects, over both gateways (each replacing the one before), are allowed.
    let first = Client::player(ws_addr(&one), "restless", Encoding::Json).await;
    let second = Client::player(ws_addr(&two), "restless", Encoding::Json).await;
    let mut third = Client::player(ws_addr(&one), "restless", Encoding::MsgPack).await;
    drop((first, second));
    let refused = open(ws_addr(&two), &player_query("restless"), &[])
        .await
        .expect_err("a fourth connect in the minute is refused, on any gateway");
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "rate_limited");
    let retry = refused.retry_after.expect("Retry-After");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // The refusal took nothing from the connection the player has, nor from others.
    let pong = third.request(json!({"type": "ping"})).await;
    assert!(matches!(pong, ServerMessage::Pong { .. }), "{pong:?}");
    still_served(&mut bystander).await;
    let mut other = Client::player(ws_addr(&two), "calm", Encoding::Json).await;
    still_served(&mut other).await;
    one.stop().await.expect("stops");
    two.stop().await.expect("stops");
}

#[tokio::test]
async fn strikes_survive_a_reconnect_and_the_last_one_starts_a_cool_down() {
    let ns = testkit::unique_namespace("strikes");
    let gateway = common::start(
        &ns,
        &[
            ("gateway.abuse_strikes", "4"),
            ("gateway.abuse_cooldown_ms", "3000"),
        ],
    )
    .await;
    let addr = ws_addr(&gateway);
    let mut bystander = Client::player(addr, "bystander", Encoding::Json).await;

    // Two strikes, then a reconnect: the count is the player's, not the connection's.
    let mut rowdy = Client::player(addr, "rowdy", Encoding::Json).await;
    for rid in 0..2 {
        let reply = rowdy
            .request(json!({"type": "no.such.type", "rid": rid}))
            .await;
        common::assert_error(&reply, ErrorCode::UnknownType);
    }
    rowdy.close().await;
    let mut rowdy = Client::player(addr, "rowdy", Encoding::Json).await;
    let reply = rowdy
        .request(json!({"type": "no.such.type", "rid": 2}))
        .await;
    common::assert_error(&reply, ErrorCode::UnknownType);
    rowdy.send(json!({"type": "no.such.type", "rid": 3})).await;
    let (replies, code) = rowdy.until_closed().await;
    assert_eq!(code, Some(1008), "the fourth strike closes: {replies:?}");

    // Now the player is refused for the cool-down, whichever way they come back.
    let refused = open(addr, &player_query("rowdy"), &[])
        .await
        .expect_err("refused while cooling down");
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "rate_limited");
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("abuse")),
        "{:?}",
        refused.body
    );
    assert!(refused.retry_after.is_some_and(|s| (1..=3).contains(&s)));
    still_served(&mut bystander).await;

    // After the cool-down the player may connect again (polled: nothing announces it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match open(addr, &player_query("rowdy"), &[]).await {
            Ok(_) => break,
            Err(refused) if refused.status == 429 => {
                assert!(tokio::time::Instant::now() < deadline, "still refused");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(refused) => panic!("unexpected refusal {refused:?}"),
        }
    }
    gateway.stop().await.expect("stops");
}
