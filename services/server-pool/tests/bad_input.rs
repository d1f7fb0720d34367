//! Bad input for every endpoint gets PROTOCOL.md's status and a JSON body that says what
//! is wrong; nothing is changed by a refused call.

mod common;

use common::Api;
use serde_json::{Value, json};

#[tokio::test]
async fn every_endpoint_refuses_bad_input_clearly() {
    let ns = testkit::unique_namespace("poolbad");
    let pool = common::start(&ns, &[("pool.max_body_bytes", "2048")]).await;
    let api = Api::new(&pool);
    api.register("gs-1", "eu", 4).await;

    let good = json!({"id": "gs-2", "region": "eu", "address": "10.0.0.2:7777", "capacity": 2});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = good.clone();
        body.as_object_mut().map(|o| o.remove(field));
        body
    };
    struct Case {
        what: &'static str,
        method: &'static str,
        path: String,
        body: Option<Vec<u8>>,
        token: Option<String>,
        status: u16,
        error: &'static str,
        mentions: &'static str,
    }
    let json_body = |v: Value| Some(v.to_string().into_bytes());
    let gs1 = Some(api.token_of("gs-1"));
    let ghost = Some(common::forged_token("eu", "ghost"));
    let cases = vec![
        Case {
            what: "no token",
            method: "POST",
            path: "/v1/servers".into(),
            body: json_body(good.clone()),
            token: None,
            status: 401,
            error: "unauthorized",
            mentions: "Bearer",
        },
        Case {
            what: "wrong token",
            method: "POST",
            path: "/v1/servers".into(),
            body: json_body(good.clone()),
            token: Some("pool-test-token-0123456788".to_owned()),
            status: 401,
            error: "unauthorized",
            mentions: "Bearer",
        },
        Case {
            what: "not JSON",
            method: "POST",
            path: "/v1/servers".into(),
            body: Some(b"{nope".to_vec()),
            token: Some(common::TOKEN.to_owned()),
            status: 400,
            error: "bad_request",
            mentions: "JSON",
        },
        Case {
            what: "missing capacity",
            method: "POST",
            path: "/v1/servers".into(),
            body: json_body(without("capacity")),
            token: Some(common::TOKEN.to_owned()),
            status: 400,
            error: "bad_request",
            mentions: "capacity",
        },
        Case {
            what: "capacity 0",
            method: "POST",
            path: "/v1/servers".into(),
            body: json_body(with("capacity", json!(0))),
            token: Some(common::TOKEN.to_owned()),
            status: 400,
            error: "bad_request",
            mentions: "capacity",
        },
        Case {
            what: "negative capacity",
            method: "POST",
            path: "/v1/servers".into(),
            body: json_body(with("capacity", json!(-3))),
            token: Some(common::TOKEN.to_owned()),
            status: 400,
            error: "bad_request",
            mentions: "capacity",
        },
        Case {
            what: "bad address",
            method: "POST",
            path: "/v1/servers".into(),
            body: json_body(with("address", json!("no-port"))),
            token: Some(common::TOKEN.to_owned()),
            status: 400,
            error: "bad_request",
            mentions: "address",
        },
        Case {
            what: "bad id",
            method: "POST",
            path: "/v1/servers".into(),
            body: json_body(with("id", json!("has space"))),
            token: Some(common::TOKEN.to_owned()),
            status: 400,
            error: "bad_request",
            mentions: "id",
        },
        Case {
            what: "unknown region",
            method: "POST",
            path: "/v1/servers".into(),
            body: json_body(with("region", json!("mars"))),
            token: Some(common::TOKEN.to_owned()),
            status: 400,
            error: "bad_request",
            mentions: "region",
        },
        Case {
            what: "oversized body",
            method: "POST",
            path: "/v1/servers".into(),
            body: json_body(with("labels", json!({"big": "x".repeat(4000)}))),
            token: Some(common::TOKEN.to_owned()),
            status: 413,
            error: "too_large",
            mentions: "limit",
        },
        Case {
            what: "heartbeat of an unknown server",
            method: "POST",
            path: "/v1/servers/ghost/heartbeat".into(),
            body: json_body(json!({})),
            token: ghost.clone(),
            status: 404,
            error: "not_found",
            mentions: "register again",
        },
        Case {
            what: "heartbeat with a wrong type",
            method: "POST",
            path: "/v1/servers/gs-1/heartbeat".into(),
            body: json_body(json!({"active_games": "three"})),
            token: gs1.clone(),
            status: 400,
            error: "bad_request",
            mentions: "active_games",
        },
        Case {
            what: "assignments of an unknown server",
            method: "GET",
            path: "/v1/servers/ghost/assignments".into(),
            body: None,
            token: ghost.clone(),
            status: 404,
            error: "not_found",
            mentions: "ghost",
        },
        Case {
            what: "bad wait_ms",
            method: "GET",
            path: "/v1/servers/gs-1/assignments?wait_ms=soon".into(),
            body: None,
            token: gs1.clone(),
            status: 400,
            error: "bad_request",
            mentions: "wait_ms",
        },
        Case {
            what: "delete of an unknown server",
            method: "DELETE",
            path: "/v1/servers/ghost".into(),
            body: None,
            token: ghost.clone(),
            status: 404,
            error: "not_found",
            mentions: "ghost",
        },
        Case {
            what: "ack of an unknown match",
            method: "POST",
            path: "/v1/matches/nope/ack".into(),
            body: None,
            token: gs1.clone(),
            status: 404,
            error: "not_found",
            mentions: "nope",
        },
        Case {
            what: "result of an unknown match",
            method: "POST",
            path: "/v1/matches/nope/result".into(),
            body: json_body(json!({"placements": [["a"], ["b"]]})),
            token: gs1.clone(),
            status: 404,
            error: "not_found",
            mentions: "nope",
        },
        Case {
            what: "result without placements",
            method: "POST",
            path: "/v1/matches/nope/result".into(),
            body: json_body(json!({"stats": {}})),
            token: gs1.clone(),
            status: 400,
            error: "bad_request",
            mentions: "placements",
        },
        Case {
            what: "result with a player twice",
            method: "POST",
            path: "/v1/matches/nope/result".into(),
            body: json_body(json!({"placements": [["a"], ["a"]]})),
            token: gs1.clone(),
            status: 400,
            error: "bad_request",
            mentions: "twice",
        },
        Case {
            what: "bad match id",
            method: "POST",
            path: "/v1/matches/a%20b/ack".into(),
            body: None,
            token: gs1.clone(),
            status: 400,
            error: "bad_request",
            mentions: "match id",
        },
        Case {
            what: "the registration token on a server's route",
            method: "POST",
            path: "/v1/servers/gs-1/heartbeat".into(),
            body: json_body(json!({})),
            token: Some(common::TOKEN.to_owned()),
            status: 401,
            error: "unauthorized",
            mentions: "server_token",
        },
        Case {
            what: "a server's token on another server's route",
            method: "POST",
            path: "/v1/servers/gs-9/heartbeat".into(),
            body: json_body(json!({})),
            token: gs1.clone(),
            status: 403,
            error: "not_your_server",
            mentions: "gs-9",
        },
        Case {
            what: "heartbeat with games that are not ids",
            method: "POST",
            path: "/v1/servers/gs-1/heartbeat".into(),
            body: json_body(json!({"games": ["m 1"]})),
            token: gs1.clone(),
            status: 400,
            error: "bad_request",
            mentions: "games",
        },
    ];
    for case in cases {
        let (status, body) = api
            .raw(case.method, &case.path, case.body, case.token.as_deref())
            .await;
        assert_eq!(status, case.status, "{}: {body}", case.what);
        assert_eq!(body["error"], case.error, "{}: {body}", case.what);
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(case.mentions),
            "{}: {message:?} should mention {:?}",
            case.what,
            case.mentions
        );
    }
    // Nothing was registered by the refused calls, and the good server still works.
    let (status, _) = api
        .raw(
            "POST",
            "/v1/servers/gs-2/heartbeat",
            None,
            Some(&common::forged_token("eu", "gs-2")),
        )
        .await;
    assert_eq!(status, 404, "gs-2 was never registered");
    let (status, body) = api
        .call(
            "POST",
            "/v1/servers/gs-1/heartbeat",
            Some(json!({"active_games": 0})),
        )
        .await;
    assert_eq!((status, body), (200, json!({"assignments": []})));
    // Registering in a second region is a conflict.
    let (status, body) = api
        .call(
            "POST",
            "/v1/servers",
            Some(json!({"id": "gs-1", "region": "us", "address": "a:1", "capacity": 1})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    pool.stop().await.expect("stops");
}

#[tokio::test]
async fn during_a_token_rotation_both_tokens_are_accepted_and_no_other() {
    const NEXT: &str = "pool-next-token-0123456789";
    let ns = testkit::unique_namespace("poolrot");
    // The pool has moved to NEXT; servers still holding the old token get in.
    let pool = common::start(
        &ns,
        &[("pool.token", NEXT), ("pool.previous_token", common::TOKEN)],
    )
    .await;
    let api = Api::new(&pool);
    let body = |id: &str| {
        Some(
            json!({"id": id, "region": "eu", "address": "10.0.0.9:7777", "capacity": 2})
                .to_string()
                .into_bytes(),
        )
    };
    for (id, token, status) in [
        ("gs-old", common::TOKEN, 201),
        ("gs-new", NEXT, 201),
        ("gs-other", "pool-some-other-token-0123", 401),
    ] {
        let (got, answer) = api.raw("POST", "/v1/servers", body(id), Some(token)).await;
        assert_eq!(got, status, "{id}: {answer}");
    }
}
