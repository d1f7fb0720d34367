//! What a client presents at the upgrade: JWTs (in the query or the header) and guest
//! names. Whatever it is, the gateway's authenticator answers with an identity it can
//! justify or with one of its documented refusals (a 401 saying why), never a panic.

use axum::http::{HeaderMap, HeaderValue, header};
use fuzz::{campaign, damaged_text, json_value, mutate, mutations, nasty_string, text_damage};
use gateway::auth::{AuthError, Authenticator, Credentials, GUEST_PREFIX, TokenRules};
use jsonwebtoken::{EncodingKey, Header, encode};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use proto::PlayerId;
use serde_json::{Value, json};

const SECRET: &str = "fuzz-jwt-secret-0123456789";
const ISSUER: &str = "https://id.example.com";
const AUDIENCE: &str = "rallypoint-fuzz";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn authenticator(allow_guests: bool) -> Authenticator {
    Authenticator::new(
        &TokenRules {
            issuer: ISSUER,
            audience: AUDIENCE,
            ..TokenRules::signed_with(SECRET)
        },
        allow_guests,
    )
}

fn sign(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap_or_default()
}

fn valid_claims() -> Value {
    json!({"sub": "alice", "exp": now() + 600, "nbf": now() - 5, "name": "Al",
        "iss": ISSUER, "aud": [AUDIENCE, "other"]})
}

fn with_token(token: &str) -> Credentials {
    Credentials {
        token: Some(token.to_owned()),
        guest: None,
    }
}

/// A refusal is one of the documented ones and says why in a line.
fn refusal_is_documented(err: &AuthError) -> Result<(), TestCaseError> {
    let message = err.to_string();
    prop_assert!(!message.is_empty() && message.len() < 300, "{}", message);
    prop_assert!(!message.contains('\n'), "{}", message);
    Ok(())
}

#[test]
fn the_valid_sample_is_accepted() {
    let id = authenticator(false)
        .authenticate(&HeaderMap::new(), &with_token(&sign(&valid_claims())))
        .expect("accepted");
    assert_eq!(id.player.as_str(), "alice");
}

#[test]
fn arbitrary_token_strings_are_refused() {
    let auth = authenticator(true);
    let strategy = prop_oneof![
        nasty_string(),
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,50}",
        ".{0,300}",
    ];
    campaign("credentials: arbitrary tokens", strategy, |token| {
        match auth.authenticate(&HeaderMap::new(), &with_token(&token)) {
            Ok(identity) => {
                return Err(TestCaseError::fail(format!(
                    "{token:?} was accepted as {identity:?}"
                )));
            }
            Err(err) => refusal_is_documented(&err)?,
        }
        // The same in the Authorization header, where it is a valid header value.
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value);
            match auth.authenticate(&headers, &Credentials::default()) {
                Ok(identity) => {
                    return Err(TestCaseError::fail(format!(
                        "header {token:?} was accepted as {identity:?}"
                    )));
                }
                Err(err) => refusal_is_documented(&err)?,
            }
        }
        Ok(())
    });
}

#[test]
fn signed_tokens_with_mutated_claims_prove_only_what_they_say() {
    let auth = authenticator(false);
    let strategy = prop_oneof![
        3 => mutations().prop_map(|m| mutate(valid_claims(), &m)),
        1 => json_value(),
    ];
    campaign(
        "credentials: signed tokens, mutated claims",
        strategy,
        |claims| {
            let token = sign(&claims);
            match auth.authenticate(&HeaderMap::new(), &with_token(&token)) {
                Ok(identity) => {
                    // Accepted only as the player its `sub` names, a real id outside the guest
                    // namespace, and only while `exp` is ahead and `nbf` behind.
                    let sub = claims["sub"].as_str().unwrap_or_default();
                    prop_assert_eq!(identity.player.as_str(), sub);
                    prop_assert!(PlayerId::parse(sub).is_ok());
                    prop_assert!(!sub.starts_with(GUEST_PREFIX));
                    prop_assert!(!identity.guest);
                    let exp = claims["exp"].as_f64().unwrap_or(0.0);
                    prop_assert!(exp + 5.0 >= now() as f64, "exp {} accepted", exp);
                    if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64) {
                        prop_assert!(nbf <= now() as f64 + 5.0, "nbf {} accepted", nbf);
                    }
                    prop_assert_eq!(claims["iss"].as_str(), Some(ISSUER));
                }
                Err(err) => refusal_is_documented(&err)?,
            }
            Ok(())
        },
    );
}

#[test]
fn damaged_tokens_never_prove_another_player() {
    let auth = authenticator(false);
    let token = sign(&valid_claims());
    campaign("credentials: damaged tokens", text_damage(), |damage| {
        let damaged = damaged_text(&token, &damage);
        match auth.authenticate(&HeaderMap::new(), &with_token(&damaged)) {
            // Base64's unused trailing bits can absorb a change: then it is still alice's.
            Ok(identity) => prop_assert_eq!(identity.player.as_str(), "alice"),
            Err(err) => refusal_is_documented(&err)?,
        }
        Ok(())
    });
}

#[test]
fn guest_names_become_guest_ids_or_are_refused() {
    let open = authenticator(true);
    let closed = authenticator(false);
    campaign("credentials: guest names", nasty_string(), |name| {
        let credentials = Credentials {
            token: None,
            guest: Some(name.clone()),
        };
        let bare = name.strip_prefix(GUEST_PREFIX).unwrap_or(&name);
        let valid = !bare.is_empty() && PlayerId::parse(&format!("{GUEST_PREFIX}{bare}")).is_ok();
        match open.authenticate(&HeaderMap::new(), &credentials) {
            Ok(identity) => {
                prop_assert!(valid, "{:?} accepted", name);
                prop_assert!(identity.guest);
                prop_assert_eq!(identity.player.as_str(), format!("{GUEST_PREFIX}{bare}"));
            }
            Err(err) => {
                prop_assert!(!valid, "{:?} refused: {}", name, err);
                prop_assert!(matches!(err, AuthError::BadGuest(_)), "{:?}", err);
                refusal_is_documented(&err)?;
            }
        }
        prop_assert_eq!(
            closed.authenticate(&HeaderMap::new(), &credentials),
            Err(AuthError::GuestsDisabled)
        );
        Ok(())
    });
}
