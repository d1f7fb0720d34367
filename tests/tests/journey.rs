//! The whole journey with the real binaries: two gateways, a matchmaker, a server pool, a
//! cache-warmer and simulated game servers, and players (the client SDK) spread over both
//! gateways. Duel and squad: everyone queues, everyone gets the same match on the same
//! server, joins the game server with their join token, the game server plays and posts
//! the result, and the players' new ratings (Elo, computed here) are what their next
//! tickets carry.

use std::time::Duration;

use rallypoint_client::proto::{ErrorCode, ServerMessage};
use rallypoint_client::{Auth, Client, ClientConfig, ClientError, Event};
use rallypoint_tests::ServiceProcess;
use tokio::sync::mpsc;

const POOL_TOKEN: &str = "journey-pool-token-0123456789";

struct Player {
    id: String,
    client: Client,
    events: mpsc::Receiver<Event>,
}

/// The first `match.found` among a player's events: (match, server id, address, token, ratings).
async fn match_found(player: &mut Player) -> (String, String, String, String, Vec<(String, f64)>) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), player.events.recv())
            .await
            .expect("match.found in time")
            .expect("events open");
        if let Event::Push(ServerMessage::MatchFound {
            match_id,
            server,
            join_token,
            teams,
            ..
        }) = event
        {
            let ratings = teams
                .iter()
                .flatten()
                .map(|m| (m.player.to_string(), m.rating))
                .collect();
            return (
                match_id.to_string(),
                server.id.to_string(),
                server.address,
                join_token,
                ratings,
            );
        }
    }
}

/// `queue.join`, retried on `unavailable` as PROTOCOL.md tells clients to (a profile still
/// being warmed on a busy machine, a result still being committed).
async fn join(client: &Client, queue: &str) {
    for attempt in 1..=10 {
        match client.join_queue(queue, "eu").await {
            Ok(_) => return,
            Err(ClientError::Server {
                code: ErrorCode::Unavailable,
                message,
            }) if attempt < 10 => {
                eprintln!("join attempt {attempt}: {message}; retrying");
            }
            Err(err) => panic!("queue.join failed: {err}"),
        }
    }
}

/// Every player queues, gets the same match and server, and joins the game server.
async fn play(players: &mut [Player], queue: &str) -> (String, Vec<(String, f64)>) {
    for p in players.iter() {
        join(&p.client, queue).await;
    }
    let mut seen = Vec::new();
    let http = reqwest::Client::new();
    for p in players.iter_mut() {
        let (match_id, server, address, token, ratings) = match_found(p).await;
        let joined = http
            .post(format!("http://{address}/v1/join"))
            .json(&serde_json::json!({"match": match_id, "player": p.id, "token": token}))
            .send()
            .await
            .expect("the game server answers");
        assert_eq!(
            joined.status().as_u16(),
            200,
            "{} joins with its token",
            p.id
        );
        seen.push((match_id, server, ratings));
    }
    let (first_match, first_server, ratings) = seen[0].clone();
    for (m, s, _) in &seen {
        assert_eq!(
            (m, s),
            (&first_match, &first_server),
            "one match, one server for all"
        );
    }
    (first_match, ratings)
}

async fn wait_for_games(players: &[Player], games: u64) -> Vec<f64> {
    let mut ratings = Vec::new();
    for p in players {
        let rating = testkit::wait_until(
            "the result to reach the profile",
            Duration::from_secs(30),
            || async {
                match p.client.profile().await.ok()? {
                    ServerMessage::Profile {
                        games: g, rating, ..
                    } if g == games => Some(rating),
                    _ => None,
                }
            },
        )
        .await
        .expect("in time");
        ratings.push(rating);
    }
    ratings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duel_and_squad_from_queue_to_new_ratings_across_two_gateways() {
    let ns = testkit::unique_namespace("journey");
    let settings = [
        ("redis.namespace", ns.clone()),
        ("redis.urls", testkit::redis_urls().join(",")),
        ("gateway.allow_guests", "true".to_owned()),
        ("pool.token", POOL_TOKEN.to_owned()),
        ("ops.admin_token", "journey-admin".to_owned()),
        ("matchmaker.tick_ms", "50".to_owned()),
        // Generous for a busy CI machine; a join waits only until the profile is there.
        ("matchmaking.profile_wait_ms", "10000".to_owned()),
        // Any two players may meet: this test is about the journey, not the windows.
        (
            "matchmaking.queues.duel.initial_window",
            "100000".to_owned(),
        ),
        ("matchmaking.queues.duel.max_window", "100000".to_owned()),
        (
            "matchmaking.queues.squad.initial_window",
            "100000".to_owned(),
        ),
        ("matchmaking.queues.squad.max_window", "100000".to_owned()),
    ];
    let names: Vec<String> = settings.iter().map(|(k, _)| testkit::env_var(k)).collect();
    let env: Vec<(&str, String)> = names
        .iter()
        .zip(&settings)
        .map(|(name, (_, value))| (name.as_str(), value.clone()))
        .collect();
    let mut services = Vec::new();
    for service in [
        "gateway",
        "gateway",
        "matchmaker",
        "server-pool",
        "cache-warmer",
    ] {
        services.push(ServiceProcess::start(service, &env).await.expect("started"));
    }
    for service in &services {
        service
            .wait_ready_status(200, Duration::from_secs(30))
            .await
            .expect("ready");
    }
    let pool_http = services[3]
        .endpoint("http")
        .expect("the pool's http endpoint")
        .to_owned();
    let mut sims = Vec::new();
    for n in 0..2 {
        let sim = tokio::process::Command::new(rallypoint_tests::binary("sim-server"))
            .args([
                "--pool",
                &format!("http://{pool_http}"),
                "--token",
                POOL_TOKEN,
            ])
            .args([
                "--id",
                &format!("sim-{n}-{ns}"),
                "--region",
                "eu",
                "--capacity",
                "8",
            ])
            .args(["--game-ms", "200", "--join-timeout-ms", "5000"])
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the simulated game server starts");
        sims.push(sim);
    }
    let gateways: Vec<String> = services[..2]
        .iter()
        .map(|g| format!("ws://{}/ws", g.endpoint("ws").expect("ws endpoint")))
        .collect();
    let mut players = Vec::new();
    for n in 0..4 {
        let id = format!("j{n}-{ns}");
        // Spread over both gateways, half in MessagePack.
        let mut config = ClientConfig::new([gateways[n % 2].clone()], Auth::Guest(id.clone()));
        if n >= 2 {
            config = config.msgpack();
        }
        let (client, events) = Client::connect(config).await.expect("connects");
        players.push(Player { id, client, events });
    }

    // A duel between the first two (one per gateway).
    let (_, ratings) = play(&mut players[..2], "duel").await;
    assert!(
        ratings.iter().all(|(_, r)| *r == 1500.0),
        "new players start at 1500: {ratings:?}"
    );
    let after = wait_for_games(&players[..2], 1).await;
    let mut sorted = after.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(sorted, vec![1484.0, 1516.0], "one won, one lost, K = 32");

    // A squad of all four: the duel's ratings are what the tickets carry.
    let (_, squad) = play(&mut players, "squad").await;
    for (p, rating) in players[..2].iter().zip(&after) {
        let carried = squad.iter().find(|(id, _)| id == &p.id).map(|(_, r)| *r);
        assert_eq!(
            carried,
            Some(*rating),
            "{}'s ticket carries the new rating",
            p.id
        );
    }
    let final_ratings = wait_for_games(&players[2..], 1).await;
    assert!(
        final_ratings.iter().all(|r| *r != 1500.0),
        "{final_ratings:?}"
    );

    // Rooms and whispers cross gateways: players 0 and 2 are on the first, 1 and 3 on the
    // second.
    for p in &players {
        p.client
            .join_room(&format!("lobby-{ns}"))
            .await
            .expect("joined the room");
    }
    players[0]
        .client
        .send_to_room(&format!("lobby-{ns}"), serde_json::json!({"gg": true}))
        .await
        .expect("sent");
    let whisper_to = players[3].id.clone();
    players[0]
        .client
        .whisper(&whisper_to, serde_json::json!("well played"))
        .await
        .expect("whispered");
    for (n, p) in players.iter_mut().enumerate() {
        let mut got_room = false;
        let mut got_whisper = n != 3;
        while !(got_room && got_whisper) {
            let event = tokio::time::timeout(Duration::from_secs(10), p.events.recv())
                .await
                .expect("a message in time")
                .expect("events open");
            match event {
                Event::Push(ServerMessage::RoomMessage { body, .. }) => {
                    assert_eq!(body.as_value(), &serde_json::json!({"gg": true}));
                    got_room = true;
                }
                Event::Push(ServerMessage::Whisper { body, .. }) => {
                    assert_eq!(n, 3, "only the addressee gets the whisper");
                    assert_eq!(body.as_value(), &serde_json::json!("well played"));
                    got_whisper = true;
                }
                _ => {}
            }
        }
    }

    for mut sim in sims {
        let _ = sim.kill().await;
    }
    for service in services {
        service
            .terminate(Duration::from_secs(15))
            .await
            .expect("exits");
    }
}
