//! HTTP bodies a stranger can send: a game server's (register, heartbeat, result, to the
//! pool's API) and an operator's (the cache-warmer's invalidation, the dashboard's sign-in
//! form). Whatever the bytes, the answer is the parsed, valid body or the documented
//! `400 bad_request` saying what is wrong (for the sign-in form: a 4xx page), never a panic
//! or a 5xx.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use fuzz::{any_bytes, byte_damage, campaign, damaged, json_value, mutate, mutations, to_json};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use proto::{Heartbeat, MatchResult, RegisterServer, Validate};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use server_pool::api::read_body;

/// Bodies: arbitrary bytes, arbitrary JSON, or a valid sample changed in structure and
/// maybe damaged as bytes.
fn bodies(samples: Vec<Value>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => any_bytes(256),
        1 => json_value().prop_map(|v| to_json(&v)),
        4 => (prop::sample::select(samples), mutations(), byte_damage())
            .prop_map(|(sample, changes, damage)| damaged(to_json(&mutate(sample, &changes)), &damage)),
    ]
}

fn check_pool_body<T: DeserializeOwned + Validate + std::fmt::Debug>(
    bytes: &[u8],
) -> Result<(), TestCaseError> {
    match read_body::<T>(bytes) {
        Ok(parsed) => prop_assert!(parsed.validate().is_ok(), "{:?}", parsed),
        Err(failure) => {
            prop_assert_eq!(failure.status(), StatusCode::BAD_REQUEST);
            prop_assert_eq!(failure.body().error.as_str(), "bad_request");
            let message = &failure.body().message;
            prop_assert!(!message.is_empty() && message.len() < 1000, "{}", message);
        }
    }
    Ok(())
}

fn register_samples() -> Vec<Value> {
    vec![
        json!({"id": "gs-1", "region": "eu", "address": "10.0.0.1:7777", "capacity": 8}),
        json!({"id": "gs-2", "region": "us", "address": "gs2.example.com:7777", "capacity": 1,
            "labels": {"map_pool": "ranked", "build": "1.2.3"}}),
    ]
}

fn heartbeat_samples() -> Vec<Value> {
    vec![
        json!({}),
        json!({"active_games": 3, "players": 6, "games": ["m1", "m2"]}),
    ]
}

fn result_samples() -> Vec<Value> {
    vec![
        json!({"placements": [["p1"], ["p2", "p3"]], "stats": {"kills": {"p1": 3}}}),
        json!({"placements": [["a", "b"], ["c", "d"]]}),
    ]
}

#[test]
fn the_samples_are_valid_bodies() {
    for sample in register_samples() {
        read_body::<RegisterServer>(&to_json(&sample)).expect("a valid registration");
    }
    for sample in heartbeat_samples() {
        read_body::<Heartbeat>(&to_json(&sample)).expect("a valid heartbeat");
    }
    for sample in result_samples() {
        read_body::<MatchResult>(&to_json(&sample)).expect("a valid result");
    }
}

#[test]
fn game_server_registrations() {
    campaign(
        "game-server bodies: register",
        bodies(register_samples()),
        |bytes| check_pool_body::<RegisterServer>(&bytes),
    );
}

#[test]
fn game_server_heartbeats() {
    campaign(
        "game-server bodies: heartbeat",
        bodies(heartbeat_samples()),
        |bytes| check_pool_body::<Heartbeat>(&bytes),
    );
}

#[test]
fn game_server_results() {
    campaign(
        "game-server bodies: result",
        bodies(result_samples()),
        |bytes| check_pool_body::<MatchResult>(&bytes),
    );
}

#[test]
fn operator_invalidations() {
    let samples = vec![
        json!({}),
        json!({"dataset": "items"}),
        json!({"players": ["alice", "bob"]}),
    ];
    campaign(
        "operator bodies: cache invalidation",
        bodies(samples),
        |bytes| {
            match cache_warmer::api::read_invalidate(&bytes) {
                Ok(request) => {
                    for player in &request.players {
                        prop_assert!(proto::PlayerId::parse(player).is_ok(), "{:?}", player);
                    }
                }
                Err(refused) => {
                    prop_assert_eq!(refused.error.as_str(), "bad_request");
                    prop_assert!(!refused.message.is_empty());
                }
            }
            Ok(())
        },
    );
}

#[test]
fn dashboard_sign_in_forms() {
    const ADMIN: &str = "the-admin-token-0123456789";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let router = service_runtime::ops::dashboard::routes(ADMIN, true);
    // Each input comes from its own address, so the sign-in throttle does not answer all.
    let next_address = AtomicU32::new(0x0a00_0001);
    let strategy = (
        prop_oneof![
            2 => any_bytes(200),
            2 => "token=[^&]{0,40}(&[a-z]{0,5}=[^&]{0,10}){0,3}".prop_map(String::into_bytes),
            1 => Just(format!("token={ADMIN}").into_bytes()),
        ],
        prop::sample::select(vec![
            "application/x-www-form-urlencoded",
            "application/json",
            "text/plain",
            "",
        ]),
    );
    campaign(
        "operator bodies: dashboard sign-in",
        strategy,
        |(body, content_type)| {
            use tower::ServiceExt as _;
            let mut request = Request::post("/dashboard/login");
            if !content_type.is_empty() {
                request = request.header(header::CONTENT_TYPE, content_type);
            }
            let mut request = request
                .body(axum::body::Body::from(body.clone()))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ip = Ipv4Addr::from(next_address.fetch_add(1, Ordering::Relaxed));
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::from((ip, 40_000))));
            let response = runtime
                .block_on(router.clone().oneshot(request))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let status = response.status();
            if status == StatusCode::SEE_OTHER {
                // Signed in: only with the admin token, in a form.
                prop_assert_eq!(content_type, "application/x-www-form-urlencoded");
                let form = String::from_utf8_lossy(&body);
                prop_assert!(form.contains(ADMIN), "{:?} signed in", form);
            } else {
                prop_assert!(status.is_client_error(), "{} for {:?}", status, body);
            }
            Ok(())
        },
    );
}
