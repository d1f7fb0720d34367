//! The simulated game server checks join tokens as PROTOCOL.md says a game server must:
//! bound to the match, the player and this server, unexpired, signed with the join secret
//! (or, during a rotation, the previous one).

use std::sync::Arc;
use std::time::Duration;

use game_server_sdk::Games as _;
use game_server_sdk::{JoinVerifier, PoolClient};
use proto::join_token::{JoinClaim, join_token};
use sim_game_server::games::Games;

const SECRET: &[u8] = b"sim-test-join-secret-0123456789abcdef";
const PREVIOUS: &[u8] = b"sim-test-previous-join-secret-0123456";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn token(secret: &[u8], player: &str, server: &str, expires_ms: u64) -> String {
    join_token(
        secret,
        &JoinClaim {
            match_id: "m1",
            player,
            server,
            expires_ms,
        },
    )
}

#[tokio::test]
async fn only_an_unexpired_token_for_this_player_match_and_server_gets_in() {
    // No pool: nothing here reaches it (the game is readied, not played).
    let pool = PoolClient::new(vec!["http://127.0.0.1:1".to_owned()], "unused".to_owned())
        .expect("a pool client");
    let games = Games::new(
        JoinVerifier::new("gs-1", SECRET, Some(PREVIOUS)),
        Arc::new(pool),
        Duration::from_secs(30),
        Duration::from_secs(30),
    );
    // The assignment, as the pool's long poll brings it, readied as the SDK does before
    // acknowledging it.
    let assignment: proto::Assignment = serde_json::from_value(serde_json::json!({
        "match": "m1", "queue": "duel", "region": "eu",
        "teams": [[{"player": "alice", "rating": 1500.0}], [{"player": "bob", "rating": 1500.0}]]
    }))
    .expect("an assignment");
    games.prepare(&assignment);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(axum::serve(listener, games.router()).into_future());

    let later = now_ms() + 60_000;
    let http = reqwest::Client::new();
    let join = |player: &'static str, token: String| {
        let http = http.clone();
        async move {
            http.post(format!("http://{address}/v1/join"))
                .json(&serde_json::json!({"match": "m1", "player": player, "token": token}))
                .send()
                .await
                .expect("answers")
                .status()
                .as_u16()
        }
    };
    // Refused: another player's token, another server's, an expired one, a made-up one.
    assert_eq!(
        join("alice", token(SECRET, "bob", "gs-1", later)).await,
        403
    );
    assert_eq!(
        join("alice", token(SECRET, "alice", "gs-2", later)).await,
        403
    );
    assert_eq!(
        join("alice", token(SECRET, "alice", "gs-1", now_ms() - 1)).await,
        403
    );
    assert_eq!(
        join("alice", token(b"another-secret", "alice", "gs-1", later)).await,
        403
    );
    assert_eq!(join("alice", "v2.1.AAAA".to_owned()).await, 403);
    // Admitted: the right token, also one signed with the secret being rotated out.
    assert_eq!(
        join("alice", token(SECRET, "alice", "gs-1", later)).await,
        200
    );
    assert_eq!(
        join("bob", token(PREVIOUS, "bob", "gs-1", later)).await,
        200
    );
}
