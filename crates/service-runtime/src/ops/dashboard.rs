//! The operator dashboard: `GET /dashboard` on every service's ops port, a page that polls
//! `/v1/cluster` ([`super::cluster`]) and draws it.
//!
//! A browser cannot send `Authorization: Bearer` on a page load, so the page signs in
//! once: `POST /dashboard/login` with the admin token sets an HttpOnly, SameSite=Strict
//! cookie. The cookie holds an HMAC of the token, not the token, and every operator route
//! accepts it ([`super::operator_authorized`]). Without it `/dashboard` answers 401 with
//! the sign-in form.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use subtle::ConstantTimeEq;

const PAGE: &str = include_str!("dashboard.html");
const LOGIN: &str = include_str!("login.html");
const COOKIE: &str = "rallypoint_ops";
/// The page's scripts and styles are inline and it fetches only its own origin.
const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";

/// `GET /dashboard` and `POST /dashboard/login`. Mounted outside the admin-token layer:
/// the page itself decides between the dashboard and the sign-in form.
pub fn routes(admin_token: &str) -> Router {
    let token: Arc<str> = admin_token.into();
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/login", post(login))
        .with_state(token)
}

async fn page(State(token): State<Arc<str>>, headers: HeaderMap) -> Response {
    if super::operator_authorized(&headers, &token) {
        with_policy(Html(PAGE).into_response())
    } else {
        sign_in_form(StatusCode::UNAUTHORIZED, "An admin token is required.")
    }
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

async fn login(State(token): State<Arc<str>>, Form(form): Form<SignIn>) -> Response {
    let matches = !token.is_empty() && bool::from(form.token.as_bytes().ct_eq(token.as_bytes()));
    if !matches {
        tracing::warn!("dashboard sign-in refused: not the admin token");
        return sign_in_form(
            StatusCode::UNAUTHORIZED,
            "That token is not the admin token.",
        );
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        session_value(&token)
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

/// Whether the request carries the sign-in cookie for `admin_token`.
pub(crate) fn signed_in(headers: &HeaderMap, admin_token: &str) -> bool {
    if admin_token.is_empty() {
        return false;
    }
    let expected = session_value(admin_token);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| {
            name == COOKIE && bool::from(value.as_bytes().ct_eq(expected.as_bytes()))
        })
}

/// The cookie's value: HMAC-SHA256 of a fixed label keyed by the admin token, in hex. It
/// proves the token was given without storing the token in the browser; rotating the
/// token signs every browser out.
fn session_value(admin_token: &str) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(admin_token.as_bytes()) else {
        return String::new();
    };
    mac.update(b"rallypoint dashboard session");
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
    fn only_the_cookie_of_the_current_token_signs_in() {
        let good = format!("other=1; {COOKIE}={}", session_value("secret"));
        assert!(signed_in(&with_cookie(&good), "secret"));
        assert!(!signed_in(&with_cookie(&good), "rotated"));
        assert!(!signed_in(
            &with_cookie(&format!("{COOKIE}=secret")),
            "secret"
        ));
        assert!(!signed_in(&HeaderMap::new(), "secret"));
        // An empty configured token signs nobody in, whatever the cookie says.
        let empty = format!("{COOKIE}={}", session_value(""));
        assert!(!signed_in(&with_cookie(&empty), ""));
    }
}
