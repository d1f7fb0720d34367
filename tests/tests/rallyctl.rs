//! `rallyctl` against the whole platform: the operator's CLI lists the game servers,
//! shows a queued player's ticket and their gateway's connection count, drains a server, invalidates a profile, and refuses a
//! wrong token or a bad id with a message that says what to do.

use std::time::Duration;

use rallypoint_client::proto::ServerMessage;
use rallypoint_tests::stack::{Player, Sizes, Stack};

const ADMIN: &str = "stack-admin";

/// Runs the `rallyctl` built beside this test with `args` and the admin token: (exit
/// code, stdout, stderr).
async fn rallyctl(token: &str, args: &[&str]) -> (Option<i32>, String, String) {
    rallyctl_with(("RALLYPOINT_OPS__ADMIN_TOKEN", token), args).await
}

/// Runs the `rallyctl` built beside this test with `args` and only `env` set.
async fn rallyctl_with(env: (&str, &str), args: &[&str]) -> (Option<i32>, String, String) {
    let exe = std::env::current_exe().expect("the test executable");
    let binary = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the target folder")
        .join("rallyctl");
    assert!(
        binary.is_file(),
        "{} is missing: run `make test`",
        binary.display()
    );
    let output = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(binary)
            .args(args)
            .env_clear()
            .env(env.0, env.1)
            .output(),
    )
    .await
    .expect("rallyctl exits")
    .expect("rallyctl runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_servers_and_players_drains_and_invalidates() {
    let ns = testkit::unique_namespace("ctl");
    let mut stack = Stack::start(&ns, Sizes::SMALL).await;
    let pool = format!("http://{}", stack.pools[0].ops_addr);
    let matchmaker = format!("http://{}", stack.matchmakers[0].ops_addr);
    let warmer = format!("http://{}", stack.warmers[0].ops_addr);
    let (sim0, sim1) = (format!("sim-0-{ns}"), format!("sim-1-{ns}"));

    // Both simulated game servers, once registered, are listed as ready, each with the
    // incarnation its registration got.
    testkit::wait_until("both servers listed", Duration::from_secs(30), || async {
        let (code, out, _) = rallyctl(ADMIN, &["servers", "--pool", &pool]).await;
        let ready = |id: &str| {
            out.lines().any(|l| {
                let incarnation = l
                    .split_whitespace()
                    .last()
                    .and_then(|n| n.parse::<u64>().ok());
                l.contains(id)
                    && l.contains("ready")
                    && l.starts_with("eu")
                    && incarnation.is_some_and(|n| n > 0)
            })
        };
        (code == Some(0) && ready(&sim0) && ready(&sim1)).then_some(())
    })
    .await
    .expect("in time");

    // A player alone in the queue: online, with a ticket, no match.
    let id = format!("p-{ns}");
    let urls = stack.gateway_urls();
    let player = Player::connect(&id, vec![urls[0].clone()], false).await;
    let party = match player.client.create_party().await.expect("a party") {
        ServerMessage::Party { party, .. } => party.to_string(),
        other => panic!("expected party, got {other:?}"),
    };
    player.join("duel").await;
    let (code, out, err) = rallyctl(ADMIN, &["player", &id, "--matchmaker", &matchmaker]).await;
    assert_eq!(code, Some(0), "{err}");
    let view: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(view["player"], id.as_str());
    assert_eq!(view["online"], true, "{view}");
    assert!(view["session"]["gateway"].is_string(), "{view}");
    let ticket = view["ticket"].as_str().expect("a ticket");
    assert!(ticket.contains("duel") && ticket.contains("eu"), "{view}");
    assert!(view["match"].is_null(), "{view}");
    // Their party: its id, leader and members.
    assert_eq!(view["party"]["party"]["id"], party.as_str(), "{view}");
    assert_eq!(view["party"]["party"]["leader"], id.as_str(), "{view}");
    assert_eq!(view["party"]["party"]["is_member"], true, "{view}");

    // The player's gateway counts its one connection.
    let gateway = format!("http://{}", stack.gateways[0].ops_addr);
    let (code, out, err) = rallyctl(ADMIN, &["stats", "--ops", &gateway]).await;
    assert_eq!(code, Some(0), "{err}");
    let stats: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(stats["service"], "gateway", "{stats}");
    assert_eq!(stats["connections"], 1, "{stats}");
    assert_eq!(stats["accepting"], true, "{stats}");

    // The cluster view (from any service) counts the player and shows their queue.
    let view = testkit::wait_until(
        "the cluster view to show the player",
        Duration::from_secs(20),
        || async {
            let (code, out, _) = rallyctl(ADMIN, &["cluster", "--ops", &warmer, "--json"]).await;
            let view: serde_json::Value = serde_json::from_str(&out).ok()?;
            let queued = view["queues"]
                .as_array()?
                .iter()
                .any(|q| q["queue"] == "duel" && q["region"] == "eu" && q["queued"] == 1);
            (code == Some(0) && view["players_online"] == 1 && queued).then_some(view)
        },
    )
    .await;
    assert!(view.is_ok(), "{view:?}");
    let (code, out, err) = rallyctl(ADMIN, &["cluster", "--ops", &warmer]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("players online: 1"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("duel") && l.contains(" eu ")),
        "{out}"
    );

    // Draining a server without games lets it go at once.
    let (code, out, err) = rallyctl(ADMIN, &["drain", &sim0, "--pool", &pool]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.trim() == format!("{sim0}: left") || out.trim() == format!("{sim0}: draining"),
        "{out}"
    );
    // The drained server learns it at its next heartbeat (410) and stops, rather than
    // registering again.
    let sim = &mut stack.game_servers[0];
    let stopped = tokio::time::timeout(Duration::from_secs(30), sim.wait()).await;
    assert!(
        matches!(&stopped, Ok(Ok(status)) if status.success()),
        "the drained simulated server stops cleanly: {stopped:?}"
    );
    let (code, out, _) = rallyctl(ADMIN, &["servers", "--pool", &pool]).await;
    assert_eq!(code, Some(0));
    assert!(!out.contains(&sim0), "{sim0} did not come back: {out}");
    let (code, _, err) = rallyctl(ADMIN, &["drain", "no-such-server", "--pool", &pool]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("404") && err.contains("not registered"),
        "{err}"
    );

    // Invalidating the player's profile reloads it from PostgreSQL.
    let (code, out, err) =
        rallyctl(ADMIN, &["invalidate", "--warmer", &warmer, "--player", &id]).await;
    assert_eq!(code, Some(0), "{err}");
    let reply: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(reply["players"], 1, "one profile reloaded: {reply}");

    // Dead letters: none here; a replay puts back nothing; an unknown region is refused.
    let (code, out, err) = rallyctl(
        ADMIN,
        &["dead-letters", "--region", "eu", "--warmer", &warmer],
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "eu: 0 dead letters");
    let (code, out, err) = rallyctl(
        ADMIN,
        &[
            "dead-letters",
            "--region",
            "eu",
            "--replay",
            "--warmer",
            &warmer,
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "eu: 0 put back on the results outbox");
    let (code, _, err) = rallyctl(
        ADMIN,
        &["dead-letters", "--region", "mars", "--warmer", &warmer],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("404") && err.contains("the regions are"),
        "{err}"
    );

    // A wrong token and a bad id are refused with what to do.
    let (code, _, err) = rallyctl("wrong-token", &["servers", "--pool", &pool]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("401") && err.contains("RALLYPOINT_OPS__ADMIN_TOKEN"),
        "{err}"
    );
    let (code, _, err) = rallyctl(
        ADMIN,
        &["player", "not an id!", "--matchmaker", &matchmaker],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(err.contains("not a player id"), "{err}");
    let (code, _, err) = rallyctl(ADMIN, &["servers", "--pool", "http://127.0.0.1:1"]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot reach"), "{err}");
    stack.stop().await;
}

/// Runs `rallyctl` with the server API token in its environment (and no admin token).
async fn rallyctl_api(token: &str, args: &[&str]) -> (Option<i32>, String, String) {
    rallyctl_with(("RALLYPOINT_GATEWAY__API_TOKEN", token), args).await
}

/// Through one gateway's server API, the operator reaches a player on the other: a
/// broadcast arrives, presence names the player's gateway, a mute refuses their whispers
/// until lifted; a wrong token is refused with what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_talks_to_players_through_the_server_api() {
    const API_TOKEN: &str = "stack-server-api-token-0123456789";
    let ns = testkit::unique_namespace("ctl-api");
    let listen = testkit::env_var("gateway.api_listen");
    let token = testkit::env_var("gateway.api_token");
    let stack = Stack::start_with_env(
        &ns,
        Sizes {
            gateways: 2,
            matchmakers: 0,
            pools: 0,
            warmers: 0,
            game_servers: 0,
        },
        testkit::redis_urls(),
        &[
            (listen.as_str(), "127.0.0.1:0".to_owned()),
            (token.as_str(), API_TOKEN.to_owned()),
        ],
    )
    .await;
    let api = format!(
        "http://{}",
        stack.gateways[1].endpoint("api").expect("the server API")
    );
    let home = stack.gateway_urls()[..1].to_vec();
    let mut alice = Player::connect("alice", home, false).await;

    let (code, out, err) =
        rallyctl_api(API_TOKEN, &["broadcast", "hello all", "--api", &api]).await;
    assert_eq!(code, Some(0), "{out} {err}");
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), alice.events.recv())
            .await
            .expect("the notice in time")
            .expect("events open");
        if let rallypoint_client::Event::Push(ServerMessage::Notice { body, .. }) = event {
            assert_eq!(body.as_value(), &serde_json::json!("hello all"));
            break;
        }
    }

    let (code, out, err) =
        rallyctl_api(API_TOKEN, &["presence", "alice", "nobody", "--api", &api]).await;
    assert_eq!(code, Some(0), "{err}");
    let gateway = stack.gateways[0].instance();
    assert!(
        out.contains(&format!("alice: online on {gateway}")),
        "{out}"
    );
    assert!(out.contains("nobody: offline"), "{out}");

    let (code, _, err) = rallyctl_api(
        API_TOKEN,
        &["mute", "alice", "--minutes", "5", "--api", &api],
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    // The mute reaches alice's gateway on her inbox channel: wait until it refuses.
    testkit::wait_until("the mute applied", Duration::from_secs(15), || async {
        match alice
            .client
            .whisper("nobody", serde_json::json!("hi"))
            .await
        {
            Err(rallypoint_client::ClientError::Server {
                code: rallypoint_client::proto::ErrorCode::Muted,
                ..
            }) => Some(()),
            _ => None,
        }
    })
    .await
    .expect("muted");
    let (code, _, err) = rallyctl_api(API_TOKEN, &["mute", "alice", "--off", "--api", &api]).await;
    assert_eq!(code, Some(0), "{err}");

    let (code, _, err) =
        rallyctl_api("wrong-token-0123456789", &["broadcast", "x", "--api", &api]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("RALLYPOINT_GATEWAY__API_TOKEN"),
        "says what to set: {err}"
    );

    alice.client.close().await;
    stack.stop().await;
}
