//! The operator dashboard in a real headless Chromium against the whole platform: it
//! refuses a browser without the admin token, signs in with it, and shows live,
//! cluster-wide figures that follow players as they connect, queue and leave.

use std::time::Duration;

use rallypoint_tests::browser::Browser;
use rallypoint_tests::stack::{Player, Sizes, Stack};

const ADMIN: &str = "stack-admin";
/// The page polls every 2 s and instances announce every 0.5 s in the test stack.
const SHOWN_WITHIN: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_refuses_without_the_token_and_shows_players_as_they_connect() {
    let ns = testkit::unique_namespace("dash");
    let stack = Stack::start(&ns, Sizes::SMALL).await;
    // Served by any service's ops port: take the matchmaker's, which holds no players.
    let base = format!("http://{}", stack.matchmakers[0].ops_addr);

    // Without the token: the page is the sign-in form (401), and the data refuses too.
    let page = reqwest::get(format!("{base}/dashboard"))
        .await
        .expect("GET");
    assert_eq!(page.status(), 401);
    let body = page.text().await.expect("body");
    assert!(body.contains("An admin token is required."), "{body}");
    let data = reqwest::get(format!("{base}/v1/cluster"))
        .await
        .expect("GET");
    assert_eq!(data.status(), 401);

    let browser = Browser::start().await;
    let b = &browser.client;
    b.goto(&format!("{base}/dashboard")).await.expect("opens");
    let refused = browser.text("#refused").await;
    assert_eq!(refused.as_deref(), Some("An admin token is required."));
    assert!(
        browser.text("#players-online").await.is_none(),
        "no figures before signing in"
    );

    // A wrong token is refused with a message that says so.
    sign_in(&browser, "not-the-token").await;
    let refused = browser
        .wait_text("#refused", SHOWN_WITHIN, |t| t.contains("not the admin"))
        .await;
    assert!(refused.is_ok(), "{refused:?}");

    // The right one opens the dashboard: both gateways are listed, each under its own
    // instance id, and nobody is online yet.
    sign_in(&browser, ADMIN).await;
    for gateway in &stack.gateways {
        let row = format!("#gateways tr[data-gateway='{}']", gateway_id(gateway).await);
        let listed = browser.wait_text(&row, SHOWN_WITHIN, |_| true).await;
        assert!(listed.is_ok(), "{listed:?}");
    }
    let zero = browser
        .wait_text("#players-online", SHOWN_WITHIN, |t| t == "0")
        .await;
    assert!(zero.is_ok(), "{zero:?}");
    // The region's two game servers are ready.
    let region = browser
        .wait_text("#regions tr[data-region='eu']", SHOWN_WITHIN, |t| {
            t.contains("ready 2")
        })
        .await;
    assert!(region.is_ok(), "{region:?}");

    // Three players connect, spread over both gateways: the page counts them.
    let urls = stack.gateway_urls();
    let mut players = Vec::new();
    for n in 0..3 {
        let home = vec![urls[n % urls.len()].clone()];
        players.push(Player::connect(&format!("p{n}-{ns}"), home, false).await);
    }
    let three = browser
        .wait_text("#players-online", SHOWN_WITHIN, |t| t == "3")
        .await;
    assert!(three.is_ok(), "{three:?}");

    // One queues alone for a duel: the queue's row shows them waiting.
    players[0].join("duel").await;
    let queued = browser
        .wait_text("#queues tr[data-queue='duel/eu']", SHOWN_WITHIN, |t| {
            t.split_whitespace().nth(2) == Some("1")
        })
        .await;
    assert!(queued.is_ok(), "{queued:?}");
    // For a human look at the page: RALLYPOINT_DASHBOARD_SCREENSHOT=/tmp/dashboard.png.
    if let Ok(path) = std::env::var("RALLYPOINT_DASHBOARD_SCREENSHOT") {
        b.set_window_size(1400, 1100).await.expect("resizes");
        tokio::time::sleep(Duration::from_secs(5)).await; // a few samples for the charts
        let png = b.screenshot().await.expect("a screenshot");
        std::fs::write(&path, png).expect("writes the screenshot");
    }

    // They leave again: the count follows.
    for player in &players {
        player.client.close().await;
    }
    let none = browser
        .wait_text("#players-online", SHOWN_WITHIN, |t| t == "0")
        .await;
    assert!(none.is_ok(), "{none:?}");

    // The browser's data calls carried the sign-in cookie, not a header.
    let cookies = b.get_all_cookies().await.expect("cookies");
    assert!(
        cookies
            .iter()
            .any(|c| c.name() == "rallypoint_ops" && c.value() != ADMIN),
        "the cookie holds a proof of the token, not the token: {cookies:?}"
    );

    browser.close().await;
    stack.stop().await;
}

async fn sign_in(browser: &Browser, token: &str) {
    browser.type_into("token", token).await;
    browser.click("sign-in").await;
}

/// The instance id a gateway announces (from its own `/v1/stats`).
async fn gateway_id(gateway: &rallypoint_tests::ServiceProcess) -> String {
    let stats = testkit::operator_get(&gateway.ops_addr, "/v1/stats", ADMIN).await;
    stats["instance"]
        .as_str()
        .expect("an instance id")
        .to_owned()
}
