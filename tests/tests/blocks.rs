//! Blocking across gateways, sessions and the cache: whispers from a blocked player stop
//! reaching the player who blocked them (the sender still gets `whisper.sent`), others'
//! still arrive; the list reaches PostgreSQL through the cache-warmer and comes back from
//! there when Redis loses it; an unblock lets whispers through again.

use std::time::Duration;

use fred::prelude::{HashesInterface, KeysInterface};
use rallypoint_client::proto::{ErrorCode, ServerMessage};
use rallypoint_client::{ClientError, Event};
use rallypoint_tests::stack::{Player, Sizes, Stack};
use serde_json::json;

/// The body of the next whisper `player` gets (other pushes skipped).
async fn next_whisper(player: &mut Player) -> serde_json::Value {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), player.events.recv())
            .await
            .expect("a whisper in time")
            .expect("events open");
        if let Event::Push(ServerMessage::Whisper { from, body, .. }) = event {
            return json!({"from": from.as_str(), "body": body.as_value()});
        }
    }
}

/// How many blocks PostgreSQL has for `player` of `other`.
async fn stored(db: &sqlx::PgPool, player: &str, other: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM blocks WHERE player = $1 AND blocked = $2")
        .bind(player)
        .bind(other)
        .fetch_one(db)
        .await
        .expect("the blocks table")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_holds_across_gateways_sessions_and_a_lost_cache() {
    let ns = testkit::unique_namespace("blocks");
    let stack = Stack::start(
        &ns,
        Sizes {
            matchmakers: 0,
            pools: 0,
            game_servers: 0,
            ..Sizes::SMALL
        },
    )
    .await;
    let urls = stack.gateway_urls();
    let (me, pest, friend) = (
        format!("me-{ns}"),
        format!("pest-{ns}"),
        format!("friend-{ns}"),
    );
    let mut blocker = Player::connect(&me, urls.clone(), false).await;
    let other_first = vec![urls[1].clone(), urls[0].clone()];
    let pest_player = Player::connect(&pest, other_first.clone(), true).await;
    let friend_player = Player::connect(&friend, other_first, false).await;

    // Nobody blocks themselves.
    match blocker.client.block(&me).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::BadRequest),
        other => panic!("expected bad_request, got {other:?}"),
    }
    blocker.client.block(&pest).await.expect("blocked");
    // The pest is not told: whisper.sent as usual. The friend's whisper after it is the
    // first whisper the blocker gets.
    pest_player
        .client
        .whisper(&me, json!("let me in"))
        .await
        .expect("sent");
    friend_player
        .client
        .whisper(&me, json!("hi"))
        .await
        .expect("sent");
    assert_eq!(
        next_whisper(&mut blocker).await,
        json!({"from": friend, "body": "hi"})
    );

    // In PostgreSQL through the cache-warmer's outbox (polled: no event to await).
    let db = sqlx::PgPool::connect(&testkit::database_url())
        .await
        .expect("the database");
    testkit::wait_until(
        "the block in PostgreSQL",
        Duration::from_secs(10),
        || async { (stored(&db, &me, &pest).await == 1).then_some(()) },
    )
    .await
    .expect("stored");

    // Redis loses the list; the next session has the cache-warmer load it from
    // PostgreSQL, and the block still holds.
    let redis = rallypoint_tests::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    let _: i64 = redis
        .del(keys.player(&me).blocks())
        .await
        .expect("cache dropped");
    blocker.client.close().await;
    let blocker_again = Player::connect(&me, urls.clone(), false).await;
    testkit::wait_until(
        "the list back in Redis",
        Duration::from_secs(10),
        || async {
            let loaded: bool = redis
                .hexists(keys.player(&me).blocks(), "")
                .await
                .unwrap_or(false);
            loaded.then_some(())
        },
    )
    .await
    .expect("loaded from PostgreSQL");
    blocker_again.client.close().await;
    let mut blocker = Player::connect(&me, urls.clone(), true).await;
    pest_player
        .client
        .whisper(&me, json!("still me"))
        .await
        .expect("sent");
    friend_player
        .client
        .whisper(&me, json!("again"))
        .await
        .expect("sent");
    assert_eq!(
        next_whisper(&mut blocker).await,
        json!({"from": friend, "body": "again"})
    );

    // Unblocked: the pest's whispers arrive again, and PostgreSQL forgets the block.
    blocker.client.unblock(&pest).await.expect("unblocked");
    pest_player
        .client
        .whisper(&me, json!("sorry"))
        .await
        .expect("sent");
    assert_eq!(
        next_whisper(&mut blocker).await,
        json!({"from": pest, "body": "sorry"})
    );
    testkit::wait_until(
        "the unblock in PostgreSQL",
        Duration::from_secs(10),
        || async { (stored(&db, &me, &pest).await == 0).then_some(()) },
    )
    .await
    .expect("removed");
    stack.stop().await;
}
