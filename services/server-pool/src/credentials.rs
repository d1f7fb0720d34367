//! Game servers' own credentials. The fleet's registration token (`pool.token`) only
//! registers; the registration answers a `server_token` that is that server incarnation's
//! alone, and every later call (heartbeat, assignments, ack, result, leave) must carry it.
//!
//! A token is `gs1~<region>~<server id>~<secret>`: the region and id say where to look
//! (no lookup before the check, and `~` is in no id), the secret is 256 random bits. The
//! pool keeps only its SHA-256, on the server's hash and on each match given to it, so a
//! Redis dump gives no one a server's identity, and a token stops working the moment its
//! id is registered again.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine as _;
use proto::{HttpError, Id};
use sha2::{Digest as _, Sha256};

/// The token scheme's version, its first part.
const SCHEME: &str = "gs1";
/// Random bytes in a token's secret.
const SECRET_BYTES: usize = 32;

/// A token just issued: the token itself (told to the server once) and its hash (kept).
pub struct Issued {
    pub token: String,
    pub hash: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token never reaches a log.
        f.debug_struct("Issued")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// A new token for `server` in `region`.
pub fn issue(region: &str, server: &str) -> Result<Issued, getrandom::Error> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let token = format!("{SCHEME}~{region}~{server}~{secret}");
    let hash = hash(&token);
    Ok(Issued { token, hash })
}

/// The SHA-256 of a token, in hex: what the pool keeps and compares.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The caller of a per-server route, as its bearer token names it (not yet checked against
/// what the pool keeps: each route does that in the script that acts).
#[derive(Debug, Clone)]
pub struct ServerCredential {
    pub region: String,
    pub server: Id,
    /// SHA-256 (hex) of the token sent.
    pub token_hash: String,
}

impl ServerCredential {
    /// Reads `gs1~<region>~<server>~<secret>`; `None` if it is not of that form.
    pub fn parse(token: &str) -> Option<Self> {
        let mut parts = token.split('~');
        let (Some(SCHEME), Some(region), Some(server), Some(secret), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(secret)
            .ok()?;
        if decoded.len() != SECRET_BYTES {
            return None;
        }
        Some(Self {
            region: Id::parse(region).ok()?.into_string(),
            server: Id::parse(server).ok()?,
            token_hash: hash(token),
        })
    }

    /// The caller as the `matches` crate checks it.
    pub fn caller(&self) -> matches::Caller<'_> {
        matches::Caller {
            region: &self.region,
            server: self.server.as_str(),
            token_hash: &self.token_hash,
        }
    }
}

/// Why a per-server route refused its caller before doing anything.
#[derive(Debug)]
pub struct Unauthenticated;

impl axum::response::IntoResponse for Unauthenticated {
    fn into_response(self) -> axum::response::Response {
        metrics::counter!("rallypoint_pool_refused_total", "reason" => "unauthorized").increment(1);
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(HttpError::unauthorized(
                "send Authorization: Bearer <the server_token this server's registration answered>; the fleet's registration token only registers",
            )),
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ServerCredential {
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| ServerCredential::parse(token.trim()))
            .ok_or(Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_names_its_server_and_is_kept_only_as_a_hash() {
        let issued = issue("eu", "gs.1:a").expect("random bytes");
        let credential = ServerCredential::parse(&issued.token).expect("a token");
        assert_eq!(credential.region, "eu");
        assert_eq!(credential.server.as_str(), "gs.1:a");
        assert_eq!(credential.token_hash, issued.hash);
        assert_eq!(issued.hash.len(), 64);
        assert!(!format!("{issued:?}").contains(&issued.token));
        let other = issue("eu", "gs.1:a").expect("random bytes");
        assert_ne!(
            other.token, issued.token,
            "each registration gets a new secret"
        );
    }

    #[test]
    fn anything_else_is_not_a_server_token() {
        let secret = "A".repeat(43);
        for token in [
            String::new(),
            "pool-test-token-0123456789".to_owned(),
            format!("gs1~eu~gs-1~{}", "A".repeat(42)),
            format!("gs2~eu~gs-1~{secret}"),
            format!("gs1~eu~gs 1~{secret}"),
            format!("gs1~eu~gs-1~{secret}~more"),
            format!("gs1~~gs-1~{secret}"),
        ] {
            assert!(ServerCredential::parse(&token).is_none(), "{token:?}");
        }
        assert!(ServerCredential::parse(&format!("gs1~eu~gs-1~{secret}")).is_some());
    }
}
