//! Backfill with real services and WebSocket clients: a game server asks for a player for
//! team 1 of its running 2v2, and a queued player of fitting rating gets `match.found` for
//! that match and server (with their own join token) while the server sees the updated
//! teams with the `backfilled` player; racing normal matching and a second matchmaker, no
//! player gets two matches; a cancelled backfill takes nobody; bad calls get their code.

mod common;
#[path = "../../gateway/tests/common/mod.rs"]
mod gateway_common;
#[path = "../../matchmaker/tests/common/mod.rs"]
mod matchmaker_common;

use std::collections::{BTreeMap, BTreeSet};

use fred::prelude::{HashesInterface, KeysInterface, ListInterface};
use gateway_common::{Client, ws_addr};
use proto::{Encoding, ServerMessage};
use serde_json::{Value, json};

/// A gateway, `matchmakers` matchmakers and a pool on namespace `ns`.
struct Platform {
    ns: String,
    gateway: service_runtime::RunningService,
    matchmakers: Vec<service_runtime::RunningService>,
    pool: service_runtime::RunningService,
    api: common::Api,
}

impl Platform {
    async fn start(name: &str, matchmakers: usize) -> Platform {
        let ns = testkit::unique_namespace(name);
        let gateway = gateway_common::start(&ns, &[]).await;
        let mut started = Vec::new();
        for _ in 0..matchmakers {
            started.push(matchmaker_common::start(&ns, &[]).await);
        }
        let pool = common::start(&ns, &[]).await;
        let api = common::Api::new(&pool);
        Platform {
            ns,
            gateway,
            matchmakers: started,
            pool,
            api,
        }
    }

    /// A player connected to the gateway.
    async fn player(&self, name: &str) -> Client {
        Client::player(ws_addr(&self.gateway), name, Encoding::Json).await
    }

    async fn stop(self) {
        self.pool.stop().await.expect("stops");
        for matchmaker in self.matchmakers {
            matchmaker.stop().await.expect("stops");
        }
        self.gateway.stop().await.expect("stops");
    }
}

/// What a player's `match.found` said.
struct Found {
    match_id: String,
    server: String,
    /// The team the player is on.
    team: usize,
    team_sizes: Vec<usize>,
    join_token: String,
}

/// `client`'s next `match.found` (pushes about the queue skipped).
async fn found(client: &mut Client) -> Found {
    loop {
        match client.recv().await {
            ServerMessage::QueueJoined { rid: None, .. } => {}
            ServerMessage::MatchFound {
                match_id,
                teams,
                server,
                join_token,
                ..
            } => {
                let team = teams
                    .iter()
                    .position(|t| t.iter().any(|m| m.player.as_str() == client.player))
                    .unwrap_or_else(|| panic!("{} is not in the teams shown", client.player));
                return Found {
                    match_id: match_id.to_string(),
                    server: server.id.to_string(),
                    team,
                    team_sizes: teams.iter().map(Vec::len).collect(),
                    join_token,
                };
            }
            other => panic!("{}: expected match.found, got {other:?}", client.player),
        }
    }
}

async fn join(client: &mut Client) {
    let reply = client
        .request(json!({"type": "queue.join", "queue": "squad", "region": "eu"}))
        .await;
    assert!(
        matches!(reply, ServerMessage::QueueJoined { .. }),
        "{}: {reply:?}",
        client.player
    );
}

/// Four players on `gateway` queue for the squad queue and are matched; the server `gs`
/// takes the match. The players and the match id.
async fn running_match(platform: &Platform, names: [&str; 4]) -> (Vec<Client>, String) {
    let mut players = Vec::new();
    for name in names {
        let mut client = platform.player(name).await;
        join(&mut client).await;
        players.push(client);
    }
    let mut ids = BTreeSet::new();
    for client in &mut players {
        ids.insert(found(client).await.match_id);
    }
    assert_eq!(ids.len(), 1, "one match for the four");
    let match_id = ids.into_iter().next().unwrap_or_default();
    platform.api.take("gs-eu-1", &match_id).await;
    (players, match_id)
}

/// The server's assignment for `match_id` in its next long poll.
async fn assignment(api: &common::Api, match_id: &str) -> Value {
    let (status, body) = api
        .call("GET", "/v1/servers/gs-eu-1/assignments?wait_ms=5000", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["assignments"]
        .as_array()
        .and_then(|all| all.iter().find(|a| a["match"] == match_id))
        .cloned()
        .unwrap_or_else(|| panic!("no assignment for {match_id}: {body}"))
}

#[tokio::test]
async fn a_backfill_brings_a_fitting_queued_player_into_the_running_match() {
    let platform = Platform::start("backfill", 1).await;
    let api = &platform.api;
    api.register("gs-eu-1", "eu", 8).await;
    api.register("gs-eu-2", "eu", 8).await;
    let server = api.as_server("gs-eu-1");
    let (_players, match_id) = running_match(&platform, ["a1", "a2", "a3", "a4"]).await;
    let backfill = format!("/v1/matches/{match_id}/backfill");

    // Bad calls first: each answered with its code, and none opens a request.
    let other = api.as_server("gs-eu-2");
    let ask = |team: u32, count: u32| Some(json!({"slots": [{"team": team, "count": count}]}));
    let bad_calls = [
        (
            &server,
            "POST",
            backfill.as_str(),
            ask(5, 1),
            400,
            "bad_request",
        ),
        // A team of two takes at most two.
        (&server, "POST", &backfill, ask(1, 3), 400, "bad_request"),
        (&server, "POST", &backfill, ask(1, 0), 400, "bad_request"),
        (
            &server,
            "POST",
            &backfill,
            Some(json!({"slots": "x"})),
            400,
            "bad_request",
        ),
        (&other, "POST", &backfill, ask(1, 1), 403, "not_your_match"),
        (
            &server,
            "POST",
            "/v1/matches/no-such-match/backfill",
            ask(1, 1),
            404,
            "not_found",
        ),
        // None is open yet.
        (&server, "DELETE", &backfill, None, 404, "not_found"),
    ];
    for (caller, method, path, body, status, code) in bad_calls {
        let (got, answer) = caller.call(method, path, body.clone()).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{method} {path} {body:?}: {answer}"
        );
    }
    let (status, body) = server
        .raw(
            "POST",
            &backfill,
            Some(br#"{"slots":[{"team":1,"count":1}]}"#.to_vec()),
            Some(&common::forged_token("eu", "gs-eu-1")),
        )
        .await;
    assert_eq!(status, 401, "a forged token: {body}");

    // The server asks for one player for team 1.
    let (status, body) = server
        .call(
            "POST",
            &backfill,
            Some(json!({"slots": [{"team": 1, "count": 1}]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert!(
        body["backfill"].as_str().is_some_and(|b| !b.is_empty()),
        "{body}"
    );

    // Eve, at the same rating, queues and lands in that match, on team 1.
    let mut eve = Client::player(ws_addr(&platform.gateway), "eve", Encoding::MsgPack).await;
    join(&mut eve).await;
    let eve_found = found(&mut eve).await;
    assert_eq!(eve_found.match_id, match_id, "the running match");
    assert_eq!(eve_found.server, "gs-eu-1", "on its server");
    assert_eq!(eve_found.team, 1, "on the team that asked");
    assert_eq!(eve_found.team_sizes, vec![2, 3]);
    let now = service_runtime::clock::now_ms();
    let secret: &[u8] = common::JOIN_SECRET.as_bytes();
    assert_eq!(
        proto::join_token::verify(
            &[secret],
            &match_id,
            "eve",
            "gs-eu-1",
            &eve_found.join_token,
            now
        ),
        Ok(()),
        "her own join token, for that match and server"
    );

    // The server sees the new teams, with Eve as backfilled; acknowledging takes them.
    let taken = assignment(api, &match_id).await;
    assert_eq!(taken["backfilled"], json!(["eve"]), "{taken}");
    assert!(
        taken["teams"][1]
            .as_array()
            .is_some_and(|t| t.iter().any(|m| m["player"] == "eve")),
        "{taken}"
    );
    let (status, _) = server
        .call("POST", &format!("/v1/matches/{match_id}/ack"), None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = api
        .call("GET", "/v1/servers/gs-eu-1/assignments?wait_ms=0", None)
        .await;
    assert_eq!(
        (status, body["assignments"].clone()),
        (200, json!([])),
        "taken: {body}"
    );
    // The request was filled: nothing is open any more.
    let (status, _) = server.call("DELETE", &backfill, None).await;
    assert_eq!(status, 404, "a filled request is closed");

    // Eve's result counts like everyone's; once the match ended, no backfill is taken.
    let (status, body) = server
        .call(
            "POST",
            &format!("/v1/matches/{match_id}/result"),
            Some(json!({"placements": [["a1", "a2"], ["a3", "a4", "eve"]]})),
        )
        .await;
    assert_eq!(status, 202, "a backfilled player may be placed: {body}");
    let (status, body) = server
        .call(
            "POST",
            &backfill,
            Some(json!({"slots": [{"team": 0, "count": 1}]})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );

    platform.stop().await;
}

#[tokio::test]
async fn a_cancelled_backfill_takes_nobody() {
    let platform = Platform::start("backfill-cancel", 1).await;
    let api = &platform.api;
    api.register("gs-eu-1", "eu", 8).await;
    let server = api.as_server("gs-eu-1");
    let (_players, match_id) = running_match(&platform, ["c1", "c2", "c3", "c4"]).await;
    let backfill = format!("/v1/matches/{match_id}/backfill");
    let (status, _) = server
        .call(
            "POST",
            &backfill,
            Some(json!({"slots": [{"team": 0, "count": 2}]})),
        )
        .await;
    assert_eq!(status, 202);
    let (status, _) = server.call("DELETE", &backfill, None).await;
    assert_eq!(status, 204, "cancelled");

    // Four players queue, the first alone for a while: had the request stayed open, the
    // next tick would have taken her into the running match. They form a match of their
    // own instead.
    let mut first = platform.player("d1").await;
    join(&mut first).await;
    let status = first.request(json!({"type": "queue.status"})).await;
    assert!(
        matches!(
            &status,
            ServerMessage::QueueStatus {
                state: proto::QueueState::Searching,
                ..
            }
        ),
        "still queued: {status:?}"
    );
    let mut others = Vec::new();
    for name in ["d2", "d3", "d4"] {
        let mut client = platform.player(name).await;
        join(&mut client).await;
        others.push(client);
    }
    let new_match = found(&mut first).await.match_id;
    assert_ne!(new_match, match_id, "not the running match");
    for client in &mut others {
        assert_eq!(found(client).await.match_id, new_match);
    }
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&platform.ns).expect("keys");
    let record: Option<String> = redis
        .hget(keys.pool("eu").pool_match(&match_id), "record")
        .await
        .expect("redis");
    let record: queues::MatchRecord =
        serde_json::from_str(&record.expect("the running match")).expect("a record");
    assert_eq!(record.players().count(), 4, "nobody was added");
    assert!(record.backfilled.is_empty());

    platform.stop().await;
}

/// Five players queue at once while a backfill wants one player, with two matchmakers
/// running: each player gets exactly one match, one of them the running match's, and the
/// pool's records of the matches share nobody.
#[tokio::test]
async fn a_backfill_racing_normal_matching_and_a_second_matchmaker_gives_nobody_two_matches() {
    let platform = Platform::start("backfill-race", 2).await;
    let api = &platform.api;
    api.register("gs-eu-1", "eu", 8).await;
    let server = api.as_server("gs-eu-1");
    let (_players, running) = running_match(&platform, ["r1", "r2", "r3", "r4"]).await;
    let (status, _) = server
        .call(
            "POST",
            &format!("/v1/matches/{running}/backfill"),
            Some(json!({"slots": [{"team": 1, "count": 1}]})),
        )
        .await;
    assert_eq!(status, 202);

    let names = ["q1", "q2", "q3", "q4", "q5"];
    let mut clients = Vec::new();
    for name in names {
        clients.push(platform.player(name).await);
    }
    // All five join side by side.
    futures::future::join_all(clients.iter_mut().map(join)).await;
    let mut by_match: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for client in &mut clients {
        let got = found(client).await;
        by_match
            .entry(got.match_id)
            .or_default()
            .push(client.player.clone());
    }
    assert_eq!(
        by_match.get(&running).map(Vec::len),
        Some(1),
        "exactly one player backfilled: {by_match:?}"
    );
    assert_eq!(
        by_match.len(),
        2,
        "the others formed one new match: {by_match:?}"
    );
    // The pool's records agree, and share nobody.
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&platform.ns).expect("keys");
    let mut seen = BTreeSet::new();
    for (match_id, players) in &by_match {
        let record: Option<String> = redis
            .hget(keys.pool("eu").pool_match(match_id), "record")
            .await
            .expect("redis");
        let record: queues::MatchRecord =
            serde_json::from_str(&record.expect("a record")).expect("parses");
        for player in players {
            assert!(
                record.players().any(|p| &p.player == player),
                "{player} in {match_id}"
            );
        }
        for seat in record.players() {
            assert!(
                seen.insert(seat.player.clone()),
                "{} in two matches",
                seat.player
            );
        }
        let live = matchmaker_common::live_match(&redis, &keys, &players[0]).await;
        assert_eq!(live.as_deref(), Some(match_id.as_str()));
    }
    assert_eq!(seen.len(), 4 + 5, "every player in exactly one match");

    platform.stop().await;
}

/// The simulated game server told to lose a player (`--backfill-after-ms`) asks for a
/// backfill; a queued player lands in its running game, and the result it posts places
/// them instead of the one who left.
#[tokio::test]
async fn the_simulated_server_replaces_a_player_who_left_by_backfill() {
    let platform = Platform::start("backfill-sim", 1).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let sim = tokio::spawn(sim_game_server::run_until(
        sim_game_server::Args {
            pool: vec![format!(
                "http://{}",
                platform.pool.endpoint("http").expect("the pool's API")
            )],
            token: common::TOKEN.to_owned(),
            join_secret: common::JOIN_SECRET.to_owned(),
            previous_join_secret: None,
            id: "sim-eu-1".to_owned(),
            region: "eu".to_owned(),
            capacity: 4,
            listen: "127.0.0.1:0".to_owned(),
            // Long enough for the backfilled player to arrive; a player leaves after 300 ms.
            game_ms: 8000,
            join_timeout_ms: 100,
            backfill_after_ms: 300,
        },
        stop.clone().cancelled_owned(),
    ));
    let names = ["s1", "s2", "s3", "s4"];
    let mut players = Vec::new();
    for name in names {
        let mut client = platform.player(name).await;
        join(&mut client).await;
        players.push(client);
    }
    let mut ids = BTreeSet::new();
    for client in &mut players {
        ids.insert(found(client).await.match_id);
    }
    let match_id = ids.into_iter().next().unwrap_or_default();

    // The server asks once a player left; Eve queues and is sent to the running game.
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&platform.ns).expect("keys");
    let request = keys.queue("squad", "eu").backfill(&match_id);
    matchmaker_common::eventually(
        "the server to ask for a backfill",
        std::time::Duration::from_secs(10),
        || async { redis.exists::<i64, _>(&request).await.unwrap_or(0) == 1 },
    )
    .await;
    let mut eve = platform.player("eve").await;
    join(&mut eve).await;
    let eve_found = found(&mut eve).await;
    assert_eq!(
        (eve_found.match_id.as_str(), eve_found.server.as_str()),
        (match_id.as_str(), "sim-eu-1")
    );

    // The result the server posts places Eve and not the player who left.
    let outbox = keys.pool("eu").results_outbox();
    matchmaker_common::eventually("the result", std::time::Duration::from_secs(20), || async {
        redis.llen::<i64, _>(&outbox).await.unwrap_or(0) >= 1
    })
    .await;
    let entries: Vec<String> = redis.lrange(&outbox, 0, -1).await.expect("redis");
    let entry: Value = entries
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .find(|e| e["match"] == match_id.as_str())
        .unwrap_or_else(|| panic!("no result for {match_id}: {entries:?}"));
    let placed: BTreeSet<String> = entry["placements"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|group| group.as_array().cloned().unwrap_or_default())
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect();
    assert!(placed.contains("eve"), "{entry}");
    assert_eq!(placed.len(), 4, "three who stayed and Eve: {entry}");
    assert_eq!(
        names.iter().filter(|n| placed.contains(**n)).count(),
        3,
        "{entry}"
    );

    stop.cancel();
    sim.await
        .expect("joins")
        .expect("the simulated server stops cleanly");
    platform.stop().await;
}
