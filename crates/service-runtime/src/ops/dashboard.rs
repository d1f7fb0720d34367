//! The operator dashboard: `GET /dashboard` on every service's ops port, a page that polls
//! `/v1/cluster` ([`super::cluster`]) and draws it.
//!
//! A browser cannot send `Authorization: Bearer` on a page load, so the page signs in
//! once: `POST /dashboard/login` with the admin token sets an HttpOnly, SameSite=Strict
//! cookie. The cookie holds an HMAC of the token and its issue time (not the token), lasts
//! 12 hours, and lets a browser read every operator route but change nothing
//! ([`super::operator_authorized`]): drains and invalidations need the Bearer token.
//! Without it `/dashboard` answers 401 with the sign-in form.
//!
//! Sign-in attempts are throttled per source address ([`SIGN_INS_PER_MINUTE`]; `429`
//! past it, whatever the token), so the admin token cannot be guessed at speed; and the
//! cookie is `Secure` where `ops.secure_cookie` says the page is served over TLS (behind
//! an HTTPS load balancer).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::clock::now_ms;

const PAGE: &str = include_str!("dashboard.html");
const LOGIN: &str = include_str!("login.html");
const COOKIE: &str = "rallypoint_ops";
/// Clock difference tolerated between ops instances, for a cookie's issue time.
const CLOCK_SKEW_MS: u64 = 60_000;
/// How long a sign-in lasts.
const SESSION: std::time::Duration = std::time::Duration::from_secs(12 * 3600);
/// The page's scripts and styles are inline and it fetches only its own origin.
const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";

/// Sign-in attempts one source address may make per minute.
pub const SIGN_INS_PER_MINUTE: u32 = 10;

/// Addresses whose attempts are remembered at most.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// What the dashboard's routes share.
struct Dashboard {
    token: Arc<str>,
    secure_cookie: bool,
    /// Sign-in attempts per source address: a burst of [`SIGN_INS_PER_MINUTE`], refilled
    /// at that rate.
    attempts: crate::rate::PerKey<IpAddr>,
}

/// `GET /dashboard` and `POST /dashboard/login`. Mounted outside the admin-token layer:
/// the page itself decides between the dashboard and the sign-in form.
pub fn routes(admin_token: &str, secure_cookie: bool) -> Router {
    let state = Arc::new(Dashboard {
        token: admin_token.into(),
        secure_cookie,
        attempts: crate::rate::PerKey::new(
            f64::from(SIGN_INS_PER_MINUTE) / 60.0,
            SIGN_INS_PER_MINUTE,
            MAX_TRACKED_ADDRESSES,
        ),
    });
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/login", post(login))
        .with_state(state)
}

async fn page(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if super::operator_authorized(&axum::http::Method::GET, &headers, &dashboard.token) {
        with_policy(Html(PAGE).into_response())
    } else {
        sign_in_form(StatusCode::UNAUTHORIZED, "An admin token is required.")
    }
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

async fn login(
    State(dashboard): State<Arc<Dashboard>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<SignIn>,
) -> Response {
    if let Some(Extension(ConnectInfo(peer))) = peer
        && !dashboard.attempts.take_at(peer.ip(), Instant::now())
    {
        tracing::warn!(source = %peer.ip(), "dashboard sign-in throttled: too many attempts from this address");
        return sign_in_form(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts from this address: wait a minute.",
        );
    }
    let token = &dashboard.token;
    let matches = !token.is_empty() && bool::from(form.token.as_bytes().ct_eq(token.as_bytes()));
    if !matches {
        tracing::warn!("dashboard sign-in refused: not the admin token");
        return sign_in_form(
            StatusCode::UNAUTHORIZED,
            "That token is not the admin token.",
        );
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        session_value(token, now_ms()),
        SESSION.as_secs(),
        if dashboard.secure_cookie {
            "; Secure"
        } else {
            ""
        }
    );
    let mut response = Redirect::to("/dashboard").into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(value) => {
            response.headers_mut().insert(header::SET_COOKIE, value);
            response
        }
        // Hex never makes an invalid header; refuse rather than panic if it ever did.
        Err(_) => sign_in_form(StatusCode::INTERNAL_SERVER_ERROR, "Cannot sign in."),
    }
}

/// Whether the request carries a sign-in cookie for `admin_token` that has not expired.
pub(crate) fn signed_in(headers: &HeaderMap, admin_token: &str) -> bool {
    if admin_token.is_empty() {
        return false;
    }
    let now = now_ms();
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .any(|(_, value)| {
            let Some(issued) = value
                .split_once('.')
                .and_then(|(at, _)| at.parse::<u64>().ok())
            else {
                return false;
            };
            // A minute of clock difference between the instance that signed the cookie
            // and this one is tolerated.
            let fresh = issued <= now + CLOCK_SKEW_MS
                && now.saturating_sub(issued) < SESSION.as_millis() as u64;
            let expected = session_value(admin_token, issued);
            fresh && bool::from(value.as_bytes().ct_eq(expected.as_bytes()))
        })
}

/// The cookie's value: `<issued ms>.<HMAC-SHA256 of the issue time, keyed by the admin
/// token, in hex>`. It proves the token was given without storing the token in the
/// browser; it lapses after [`SESSION`], and rotating the token signs every browser out.
fn session_value(admin_token: &str, issued_ms: u64) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(admin_token.as_bytes()) else {
        return String::new();
    };
    mac.update(b"rallypoint dashboard session ");
    mac.update(issued_ms.to_string().as_bytes());
    let proof: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{issued_ms}.{proof}")
}

fn sign_in_form(status: StatusCode, message: &str) -> Response {
    // The messages are fixed text, but escape anyway: the form is HTML.
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    with_policy((status, Html(LOGIN.replace("{{message}}", &escaped))).into_response())
}

fn with_policy(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, value.parse().expect("header"));
        headers
    }

    #[test]
    fn only_a_fresh_cookie_of_the_current_token_signs_in() {
        let now = now_ms();
        let good = format!("other=1; {COOKIE}={}", session_value("secret", now));
        assert!(signed_in(&with_cookie(&good), "secret"));
        assert!(!signed_in(&with_cookie(&good), "rotated"));
        assert!(!signed_in(
            &with_cookie(&format!("{COOKIE}=secret")),
            "secret"
        ));
        assert!(!signed_in(&HeaderMap::new(), "secret"));
        // Expired, or with its issue time moved (the proof no longer verifies).
        let old = now - SESSION.as_millis() as u64 - 1;
        let expired = format!("{COOKIE}={}", session_value("secret", old));
        assert!(!signed_in(&with_cookie(&expired), "secret"));
        let moved =
            session_value("secret", now).replacen(&now.to_string(), &(now - 1).to_string(), 1);
        assert!(!signed_in(
            &with_cookie(&format!("{COOKIE}={moved}")),
            "secret"
        ));
        // An empty configured token signs nobody in, whatever the cookie says.
        let empty = format!("{COOKIE}={}", session_value("", now));
        assert!(!signed_in(&with_cookie(&empty), ""));
    }

    async fn sign_in(router: &Router, from: &str, token: &str) -> Response {
        use tower::ServiceExt as _;
        let mut request = axum::http::Request::post("/dashboard/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(format!("token={token}")))
            .expect("a request");
        let peer: SocketAddr = format!("{from}:40000").parse().expect("an address");
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request).await.expect("answers")
    }

    #[tokio::test]
    async fn sign_ins_are_throttled_per_address_and_the_cookie_is_secure_when_asked() {
        let router = routes("the-admin-token", true);
        for _ in 0..SIGN_INS_PER_MINUTE {
            let refused = sign_in(&router, "10.0.0.1", "a-guess").await;
            assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        }
        // Past the limit, even the right token waits.
        let throttled = sign_in(&router, "10.0.0.1", "the-admin-token").await;
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        // Another address signs in, with a Secure cookie.
        let signed_in = sign_in(&router, "10.0.0.2", "the-admin-token").await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        let cookie = signed_in
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("a cookie");
        assert!(cookie.ends_with("; Secure"), "{cookie}");
        let plain = sign_in(
            &routes("the-admin-token", false),
            "10.0.0.3",
            "the-admin-token",
        )
        .await;
        let cookie = plain
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("a cookie");
        assert!(!cookie.contains("Secure"), "{cookie}");
    }

    #[test]
    fn the_cookie_reads_but_never_changes() {
        use axum::http::Method;
        let cookie = with_cookie(&format!("{COOKIE}={}", session_value("secret", now_ms())));
        assert!(super::super::operator_authorized(
            &Method::GET,
            &cookie,
            "secret"
        ));
        assert!(!super::super::operator_authorized(
            &Method::POST,
            &cookie,
            "secret"
        ));
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            "Bearer secret".parse().expect("header"),
        );
        assert!(super::super::operator_authorized(
            &Method::POST,
            &bearer,
            "secret"
        ));
    }
}
