//! The TypeScript SDK (sdk/typescript) against the whole platform, each part as a studio
//! meets it: the web lobby in a real headless Chromium (two guests chat, form a party and
//! are matched against each other through the real matchmaker and pool), the SDK's
//! reconnect in Node when its gateway is SIGKILLed, and the Node example game server on
//! the TypeScript game-server SDK taking a real match and moving its players' ratings.
//!
//! They run the SDK as `make test` built it (`deploy/local/sdk.sh test`, before the Rust
//! tests): `make sdk` builds it by hand.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rallypoint_tests::browser::Browser;
use rallypoint_tests::stack::{JOIN_SECRET, POOL_TOKEN, Player, Sizes, Stack};

const SHOWN_WITHIN: Duration = Duration::from_secs(30);

/// sdk/typescript, checked to be built.
fn sdk_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sdk/typescript");
    for built in ["dist/src/index.js", "examples/web-lobby/lobby.js"] {
        assert!(
            dir.join(built).is_file(),
            "sdk/typescript/{built} is missing: build the TypeScript SDK first (make sdk; make test does it)"
        );
    }
    dir
}

fn node() -> tokio::process::Command {
    let mut command = tokio::process::Command::new("node");
    command.current_dir(sdk_dir()).kill_on_drop(true);
    command
}

/// Serves the web lobby on a free port; the child stops when dropped.
async fn serve_lobby() -> (tokio::process::Child, String) {
    let port = testkit::ports::free_port().expect("a free port");
    let child = node()
        .args(["scripts/serve-lobby.mjs", &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("node serves the lobby");
    let url = format!("http://127.0.0.1:{port}/");
    testkit::wait_until("the lobby to be served", Duration::from_secs(10), || {
        let url = url.clone();
        async move {
            let page = reqwest::get(&url).await.ok()?;
            (page.status() == 200).then_some(())
        }
    })
    .await
    .expect("the lobby answers");
    (child, url)
}

/// Opens the lobby in `browser` and signs in as guest `name` on `gateway`.
async fn sign_in(browser: &Browser, lobby: &str, gateway: &str, name: &str) {
    browser.client.goto(lobby).await.expect("opens the lobby");
    browser.type_into("gateways", gateway).await;
    browser.type_into("guest", name).await;
    browser.click("signin").await;
    let me = browser
        .wait_text("#me", SHOWN_WITHIN, |t| !t.is_empty())
        .await;
    assert_eq!(me.as_deref(), Ok(format!("guest:{name}").as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browser_pages_chat_form_a_party_and_are_matched_against_each_other() {
    let ns = testkit::unique_namespace("lobby");
    let stack = Stack::start(&ns, Sizes::SMALL).await;
    let (_server, lobby) = serve_lobby().await;
    let urls = stack.gateway_urls();
    let (ann, bob) = (format!("ann-{ns}"), format!("bob-{ns}"));
    // Each page on its own gateway: everything between them crosses Redis.
    let first = Browser::start().await;
    let second = Browser::start().await;
    sign_in(&first, &lobby, &urls[0], &ann).await;
    sign_in(&second, &lobby, &urls[1], &bob).await;

    // Chat in the room, both ways, and a whisper.
    first.type_into("chat-input", "hello from ann").await;
    first.click("chat-send").await;
    let heard = second
        .wait_text("#chat-log", SHOWN_WITHIN, |t| {
            t.contains(&format!("guest:{ann}: hello from ann"))
        })
        .await;
    assert!(heard.is_ok(), "{heard:?}");
    second.type_into("chat-input", "hi ann").await;
    second.click("chat-send").await;
    let heard = first
        .wait_text("#chat-log", SHOWN_WITHIN, |t| {
            t.contains(&format!("guest:{bob}: hi ann"))
        })
        .await;
    assert!(heard.is_ok(), "{heard:?}");
    second
        .type_into("whisper-to", &format!("guest:{ann}"))
        .await;
    second.type_into("whisper-input", "psst").await;
    second.click("whisper-send").await;
    let whispered = first
        .wait_text("#chat-log", SHOWN_WITHIN, |t| {
            t.contains(&format!("(whisper) guest:{bob}: psst"))
        })
        .await;
    assert!(whispered.is_ok(), "{whispered:?}");

    // A party: ann creates it and invites bob, bob accepts from the invitation's button.
    first.click("party-create").await;
    first
        .type_into("party-invitee", &format!("guest:{bob}"))
        .await;
    first.click("party-invite").await;
    testkit::wait_until("the invitation", SHOWN_WITHIN, || async {
        second
            .client
            .find(fantoccini::Locator::Css("button.party-accept"))
            .await
            .ok()
    })
    .await
    .expect("bob sees ann's invitation")
    .click()
    .await
    .expect("clicks");
    let both = format!("guest:{ann}");
    let party = first
        .wait_text("#party", SHOWN_WITHIN, |t| {
            t.contains(&both) && t.contains(&format!("guest:{bob}"))
        })
        .await;
    assert!(party.is_ok(), "{party:?}");
    // A duel is one against one: bob leaves the party before they queue.
    second.click("party-leave").await;
    let alone = first
        .wait_text("#party", SHOWN_WITHIN, |t| {
            !t.contains(&format!("guest:{bob}"))
        })
        .await;
    assert!(alone.is_ok(), "{alone:?}");

    // Both queue for a duel and are matched against each other on one game server.
    first.click("queue-duel").await;
    second.click("queue-duel").await;
    let mut shown = Vec::new();
    for page in [&first, &second] {
        let id = page
            .wait_text("#match-id", SHOWN_WITHIN, |t| !t.is_empty())
            .await
            .expect("match.found shown");
        let server = page.text("#match-server").await.unwrap_or_default();
        let teams = page.text("#match-teams").await.unwrap_or_default();
        let team = page.text("#match-team").await.unwrap_or_default();
        shown.push((id, server, teams, team));
    }
    assert_eq!(shown[0].0, shown[1].0, "one match for both: {shown:?}");
    assert_eq!(shown[0].1, shown[1].1, "one game server: {shown:?}");
    assert!(shown[0].1.contains(':'), "a host:port: {shown:?}");
    for (_, _, teams, _) in &shown {
        assert!(
            teams.contains(&format!("guest:{ann}")) && teams.contains(&format!("guest:{bob}")),
            "{teams}"
        );
        let rating = |player: &str| {
            teams
                .split(&format!("{player} ("))
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .and_then(|r| r.parse::<f64>().ok())
        };
        assert!(
            rating(&format!("guest:{ann}")).is_some() && rating(&format!("guest:{bob}")).is_some(),
            "each player's rating shown: {teams}"
        );
    }
    let mut sides = [shown[0].3.clone(), shown[1].3.clone()];
    sides.sort();
    assert_eq!(sides, ["0".to_owned(), "1".to_owned()], "opposite teams");

    first.close().await;
    second.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_sdk_reconnects_to_the_other_gateway_with_its_ticket_and_room_when_its_gateway_is_killed()
 {
    let ns = testkit::unique_namespace("tsreconnect");
    let stack = Stack::start(&ns, Sizes::SMALL_WITHOUT_GAME_SERVERS).await;
    let pid = stack.gateways[0].pid().expect("the first gateway's pid");
    let output = node()
        .args([
            "--test",
            "--test-reporter=spec",
            "dist/test/e2e/reconnect.e2e.js",
        ])
        .env("RALLYPOINT_E2E_URLS", stack.gateway_urls().join(","))
        .env("RALLYPOINT_E2E_KILL_PID", pid.to_string())
        .env("RALLYPOINT_E2E_NS", &ns)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), output)
        .await
        .expect("the Node test ends in time")
        .expect("node runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the Node reconnect test failed:\n{report}"
    );
    assert!(report.contains("pass 1"), "{report}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_example_game_server_takes_a_real_match_checks_join_tokens_and_moves_ratings() {
    let ns = testkit::unique_namespace("tsgame");
    // No simulated game server: the Node one is the only place a match can go.
    let stack = Stack::start(&ns, Sizes::SMALL_WITHOUT_GAME_SERVERS).await;
    let pool = format!(
        "http://{}",
        stack.pools[0]
            .endpoint("http")
            .expect("the pool's http endpoint")
    );
    let port = testkit::ports::free_port().expect("a free port");
    let server_id = format!("node-{ns}");
    let mut game_server = node()
        .arg("dist/examples/game-server/server.js")
        .env("POOL_URLS", &pool)
        .env("POOL_TOKEN", POOL_TOKEN)
        .env("JOIN_SECRET", JOIN_SECRET)
        .env("SERVER_ID", &server_id)
        .env("REGION", "eu")
        .env("LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("the Node game server starts");

    let urls = stack.gateway_urls();
    let mut players = vec![
        Player::connect(&format!("a-{ns}"), vec![urls[0].clone()], false).await,
        Player::connect(&format!("b-{ns}"), vec![urls[1].clone()], true).await,
    ];
    for player in &players {
        player.join("duel").await;
    }
    let mut found = Vec::new();
    for player in &mut players {
        found.push(player.match_found().await);
    }
    assert_eq!(found[0].match_id, found[1].match_id);
    assert_eq!(
        found[0].server, server_id,
        "the match went to the Node server"
    );
    assert_eq!(found[0].address, format!("127.0.0.1:{port}"));

    // The Node server checks join tokens: another player's token, or a forged one, is refused.
    let join = |player: &str, token: &str| {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/v1/join"))
            .json(
                &serde_json::json!({"match": found[0].match_id, "player": player, "token": token}),
            )
            .send()
    };
    let stolen = join(&players[0].id, &found[1].join_token)
        .await
        .expect("answers");
    assert_eq!(stolen.status().as_u16(), 403, "b's token does not admit a");
    let forged = join(&players[0].id, "v2.9999999999999.AAAA")
        .await
        .expect("answers");
    assert_eq!(forged.status().as_u16(), 403);
    // Each with their own token: admitted; the game runs and its result is rated.
    for (player, found) in players.iter().zip(&found) {
        player.join_game(found).await;
    }
    let mut ratings = Vec::new();
    for player in &players {
        ratings.push((player.id.clone(), player.rating_after(1).await));
    }
    let before: Vec<f64> = found[0].ratings.iter().map(|(_, r)| *r).collect();
    assert!(
        ratings.iter().all(|(_, after)| !before.contains(after)),
        "both ratings moved: before {before:?}, after {ratings:?}"
    );
    // The example places the first team first: its player gained.
    let (winner, rating_before) = &found[0].ratings[0];
    let won = ratings.iter().find(|(p, _)| p == winner).map(|(_, r)| *r);
    assert!(
        won.is_some_and(|after| after > *rating_before),
        "the first team won: before {rating_before}, after {ratings:?}"
    );

    let _ = game_server.start_kill();
    stack.stop().await;
}
