//! Who is connecting: a JWT (HS256, claims `sub`, `exp`, optional `name` and `nbf`, and
//! `iss` / `aud` where the config pins them) in the `Authorization: Bearer` header or
//! `?token=`, or `?guest=<name>` where the config allows guests (development only). A
//! guest is player `guest:<name>`, a namespace no token's subject may use, so a guest can
//! never act as a token's player. Checked before the
//! WebSocket upgrade, so a refused client gets HTTP 401 with PROTOCOL.md's JSON body and
//! never a socket. A token is never logged (the request's query string is not either).

use axum::http::{HeaderMap, header};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use proto::PlayerId;
use serde::Deserialize;

/// The query parameters of `GET /ws` that carry credentials.
#[derive(Debug, Default, Deserialize)]
pub struct Credentials {
    pub token: Option<String>,
    pub guest: Option<String>,
}

/// An authenticated player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub player: PlayerId,
    /// The token's optional `name` claim.
    pub name: Option<String>,
    pub guest: bool,
}

/// Why a client was refused; the message is what the 401 body says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no credentials: send `Authorization: Bearer <token>` or `?token=<token>`{}",
        if *.0 { " (or `?guest=<name>`)" } else { "" }
    )]
    Missing(bool),
    #[error("the token has expired: get a new one")]
    Expired,
    #[error("the token is not valid yet (its `nbf` is in the future): check the issuer's clock")]
    NotYetValid,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token's `sub` is not a valid player id: {0}")]
    BadSubject(String),
    #[error("the token's `sub` is a guest id (`{GUEST_PREFIX}...`), which tokens may not use")]
    GuestSubject,
    #[error(
        "the token's `sub` is `server`, the sender of the studio's own messages, which no player may be"
    )]
    ServerSubject,
    #[error("guest access is disabled on this deployment: connect with a token")]
    GuestsDisabled,
    #[error("`guest` is not a valid guest name: {0}")]
    BadGuest(String),
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    /// Read only to hold it to RFC 7519's one string: the JWT library would also take a
    /// list that contains the pinned issuer (found by the fuzz campaign).
    #[serde(default)]
    #[allow(dead_code)]
    iss: Option<String>,
}

/// The prefix no token's subject may have: the namespace of guest ids.
pub const GUEST_PREFIX: &str = "guest:";

/// The player id of guest `name`: `guest:<name>` (a name given with the prefix already is
/// taken as it is, so a client may reconnect with its full id).
fn guest_id(name: &str) -> Result<PlayerId, AuthError> {
    let name = name.strip_prefix(GUEST_PREFIX).unwrap_or(name);
    if name.is_empty() {
        return Err(AuthError::BadGuest("it is empty".to_owned()));
    }
    PlayerId::parse(&format!("{GUEST_PREFIX}{name}"))
        .map_err(|e| AuthError::BadGuest(e.to_string()))
}

/// What a token must be to be accepted.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenRules<'a> {
    /// The HS256 secret (empty: no token is accepted, for guest-only local stacks).
    pub secret: &'a str,
    /// The secret being rotated out, still accepted (empty: none).
    pub previous_secret: &'a str,
    /// The `iss` every token must carry (empty: not checked).
    pub issuer: &'a str,
    /// A value the token's `aud` must hold (empty: not checked).
    pub audience: &'a str,
}

impl<'a> TokenRules<'a> {
    /// Tokens signed with `secret`, no issuer or audience pinned.
    pub fn signed_with(secret: &'a str) -> Self {
        Self {
            secret,
            ..Self::default()
        }
    }
}

/// Checks credentials. Built once from the config.
pub struct Authenticator {
    key: Option<DecodingKey>,
    /// The secret being rotated out, still accepted.
    previous: Option<DecodingKey>,
    validation: Validation,
    allow_guests: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens", &self.key.is_some())
            .field("previous_secret", &self.previous.is_some())
            .field("allow_guests", &self.allow_guests)
            .finish()
    }
}

impl Authenticator {
    pub fn new(rules: &TokenRules<'_>, allow_guests: bool) -> Self {
        let key = |secret: &str| {
            (!secret.is_empty()).then(|| DecodingKey::from_secret(secret.as_bytes()))
        };
        let mut validation = Validation::new(Algorithm::HS256);
        let mut required = vec!["exp", "sub"];
        if rules.issuer.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&[rules.issuer]);
            required.push("iss");
        }
        if rules.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&[rules.audience]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        validation.validate_nbf = true;
        // A few seconds of clock skew between the token issuer and us, no more.
        validation.leeway = 5;
        Self {
            key: key(rules.secret),
            previous: key(rules.previous_secret),
            validation,
            allow_guests,
        }
    }

    /// The player these credentials prove, or why not.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        query: &Credentials,
    ) -> Result<Identity, AuthError> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim());
        if let Some(token) = bearer.or(query.token.as_deref()) {
            return self.verify(token);
        }
        if let Some(guest) = &query.guest {
            if !self.allow_guests {
                return Err(AuthError::GuestsDisabled);
            }
            return Ok(Identity {
                player: guest_id(guest)?,
                name: None,
                guest: true,
            });
        }
        Err(AuthError::Missing(self.allow_guests))
    }

    fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let Some(key) = &self.key else {
            return Err(AuthError::Invalid(
                "this deployment accepts no tokens (no jwt_secret configured)".to_owned(),
            ));
        };
        let mut decoded = jsonwebtoken::decode::<Claims>(token, key, &self.validation);
        if let (Err(err), Some(previous)) = (&decoded, &self.previous)
            && matches!(err.kind(), ErrorKind::InvalidSignature)
        {
            decoded = jsonwebtoken::decode::<Claims>(token, previous, &self.validation);
            if decoded.is_ok() {
                // When this stays at zero for a token lifetime, the old secret can go.
                metrics::counter!("rallypoint_gateway_previous_secret_tokens_total").increment(1);
            }
        }
        let data = decoded.map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidIssuer => {
                AuthError::Invalid("the `iss` claim is not this deployment's issuer".to_owned())
            }
            ErrorKind::InvalidAudience => {
                AuthError::Invalid("the `aud` claim does not name this deployment".to_owned())
            }
            ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".to_owned()),
            ErrorKind::MissingRequiredClaim(claim) => {
                AuthError::Invalid(format!("the `{claim}` claim is required"))
            }
            ErrorKind::InvalidAlgorithm => {
                AuthError::Invalid("only HS256 tokens are accepted".to_owned())
            }
            _ => AuthError::Invalid(e.to_string()),
        })?;
        if data.claims.sub.starts_with(GUEST_PREFIX) {
            return Err(AuthError::GuestSubject);
        }
        if data.claims.sub == proto::server::SERVER_SENDER {
            return Err(AuthError::ServerSubject);
        }
        let player =
            PlayerId::parse(&data.claims.sub).map_err(|e| AuthError::BadSubject(e.to_string()))?;
        Ok(Identity {
            player,
            name: data.claims.name,
            guest: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "a-test-secret-of-some-length";

    fn token(claims: serde_json::Value, secret: &str) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encodes")
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn query(token: Option<String>, guest: Option<&str>) -> Credentials {
        Credentials {
            token,
            guest: guest.map(str::to_owned),
        }
    }

    #[test]
    fn tokens_in_header_or_query() {
        let auth = Authenticator::new(&TokenRules::signed_with(SECRET), false);
        let t = token(
            json!({"sub": "alice", "exp": now() + 60, "name": "Al"}),
            SECRET,
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {t}").parse().expect("header"),
        );
        let id = auth
            .authenticate(&headers, &Credentials::default())
            .expect("valid header token");
        assert_eq!(id.player.as_str(), "alice");
        assert_eq!(id.name.as_deref(), Some("Al"));
        assert!(!id.guest);
        let id = auth
            .authenticate(&HeaderMap::new(), &query(Some(t), None))
            .expect("valid query token");
        assert_eq!(id.player.as_str(), "alice");
    }

    #[test]
    fn refusals_say_why() {
        let auth = Authenticator::new(&TokenRules::signed_with(SECRET), false);
        let none = HeaderMap::new();
        let cases = [
            (
                query(
                    Some(token(json!({"sub": "a", "exp": now() - 600}), SECRET)),
                    None,
                ),
                AuthError::Expired,
            ),
            (
                query(
                    Some(token(
                        json!({"sub": "a", "exp": now() + 60}),
                        "another-secret-xx",
                    )),
                    None,
                ),
                AuthError::Invalid("bad signature".into()),
            ),
            (
                query(Some(token(json!({"sub": "a"}), SECRET)), None),
                AuthError::Invalid("the `exp` claim is required".into()),
            ),
            (
                query(Some("garbage".into()), None),
                AuthError::Invalid(String::new()),
            ),
            (
                query(
                    Some(token(json!({"sub": "bad id", "exp": now() + 60}), SECRET)),
                    None,
                ),
                AuthError::BadSubject(String::new()),
            ),
            (query(None, Some("bob")), AuthError::GuestsDisabled),
            (query(None, None), AuthError::Missing(false)),
        ];
        for (creds, want) in cases {
            let got = auth.authenticate(&none, &creds).expect_err("refused");
            assert_eq!(
                std::mem::discriminant(&got),
                std::mem::discriminant(&want),
                "{got:?} vs {want:?}"
            );
            if matches!(want, AuthError::Expired | AuthError::GuestsDisabled)
                || matches!(&want, AuthError::Invalid(m) if !m.is_empty())
            {
                assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn during_a_rotation_both_secrets_sign_in_and_no_other() {
        const OLD: &str = "the-secret-being-rotated-out";
        let auth = Authenticator::new(
            &TokenRules {
                previous_secret: OLD,
                ..TokenRules::signed_with(SECRET)
            },
            false,
        );
        for secret in [SECRET, OLD] {
            let t = token(json!({"sub": "alice", "exp": now() + 60}), secret);
            let id = auth
                .authenticate(&HeaderMap::new(), &query(Some(t), None))
                .expect("accepted");
            assert_eq!(id.player.as_str(), "alice");
        }
        let other = token(
            json!({"sub": "alice", "exp": now() + 60}),
            "neither-of-the-two",
        );
        assert_eq!(
            auth.authenticate(&HeaderMap::new(), &query(Some(other), None)),
            Err(AuthError::Invalid("bad signature".into()))
        );
        // An expired token under the old secret is refused as expired, not accepted.
        let expired = token(json!({"sub": "alice", "exp": now() - 600}), OLD);
        assert_eq!(
            auth.authenticate(&HeaderMap::new(), &query(Some(expired), None)),
            Err(AuthError::Expired)
        );
        // Once the old secret is removed, its tokens are refused.
        let after = Authenticator::new(&TokenRules::signed_with(SECRET), false);
        let t = token(json!({"sub": "alice", "exp": now() + 60}), OLD);
        assert!(
            after
                .authenticate(&HeaderMap::new(), &query(Some(t), None))
                .is_err()
        );
    }

    #[test]
    fn pinned_issuer_and_audience_and_not_before_are_checked() {
        let auth = Authenticator::new(
            &TokenRules {
                issuer: "https://id.example.com",
                audience: "rallypoint-prod",
                ..TokenRules::signed_with(SECRET)
            },
            false,
        );
        let check = |claims: serde_json::Value| {
            auth.authenticate(&HeaderMap::new(), &query(Some(token(claims, SECRET)), None))
        };
        let exp = now() + 60;
        let good = check(json!({"sub": "alice", "exp": exp,
            "iss": "https://id.example.com", "aud": ["other", "rallypoint-prod"]}));
        assert_eq!(good.expect("accepted").player.as_str(), "alice");
        assert_eq!(
            check(json!({"sub": "alice", "exp": exp,
                "iss": "https://evil.example.com", "aud": "rallypoint-prod"})),
            Err(AuthError::Invalid(
                "the `iss` claim is not this deployment's issuer".into()
            ))
        );
        assert_eq!(
            check(json!({"sub": "alice", "exp": exp,
                "iss": "https://id.example.com", "aud": "rallypoint-staging"})),
            Err(AuthError::Invalid(
                "the `aud` claim does not name this deployment".into()
            ))
        );
        assert_eq!(
            check(json!({"sub": "alice", "exp": exp, "aud": "rallypoint-prod"})),
            Err(AuthError::Invalid("the `iss` claim is required".into()))
        );
        assert_eq!(
            check(json!({"sub": "alice", "exp": exp, "iss": "https://id.example.com"})),
            Err(AuthError::Invalid("the `aud` claim is required".into()))
        );
        assert_eq!(
            check(json!({"sub": "alice", "exp": exp, "nbf": now() + 600,
                "iss": "https://id.example.com", "aud": "rallypoint-prod"})),
            Err(AuthError::NotYetValid)
        );

        // Unpinned, `iss` and `aud` may be anything; `nbf` still holds.
        let open = Authenticator::new(&TokenRules::signed_with(SECRET), false);
        let t = token(
            json!({"sub": "bob", "exp": exp, "iss": "x", "aud": "y"}),
            SECRET,
        );
        assert!(
            open.authenticate(&HeaderMap::new(), &query(Some(t), None))
                .is_ok()
        );
        let early = token(
            json!({"sub": "bob", "exp": exp, "nbf": now() + 600}),
            SECRET,
        );
        assert_eq!(
            open.authenticate(&HeaderMap::new(), &query(Some(early), None)),
            Err(AuthError::NotYetValid)
        );
    }

    #[test]
    fn an_issuer_must_be_one_string() {
        let auth = Authenticator::new(
            &TokenRules {
                issuer: "https://id.example.com",
                ..TokenRules::signed_with(SECRET)
            },
            false,
        );
        let t = token(
            json!({"sub": "alice", "exp": now() + 60, "iss": ["https://id.example.com"]}),
            SECRET,
        );
        assert!(matches!(
            auth.authenticate(&HeaderMap::new(), &query(Some(t), None)),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn no_token_may_name_a_guest() {
        let auth = Authenticator::new(&TokenRules::signed_with(SECRET), true);
        let t = token(json!({"sub": "guest:alice", "exp": now() + 60}), SECRET);
        assert_eq!(
            auth.authenticate(&HeaderMap::new(), &query(Some(t), None)),
            Err(AuthError::GuestSubject)
        );
    }

    #[test]
    fn no_token_may_name_the_server() {
        let auth = Authenticator::new(&TokenRules::signed_with(SECRET), false);
        let t = token(json!({"sub": "server", "exp": now() + 60}), SECRET);
        assert_eq!(
            auth.authenticate(&HeaderMap::new(), &query(Some(t), None)),
            Err(AuthError::ServerSubject)
        );
    }

    #[test]
    fn a_guest_and_a_token_of_the_same_name_are_different_players() {
        let auth = Authenticator::new(&TokenRules::signed_with(SECRET), true);
        let t = token(json!({"sub": "alice", "exp": now() + 60}), SECRET);
        let with_token = auth
            .authenticate(&HeaderMap::new(), &query(Some(t), None))
            .expect("token");
        let guest = auth
            .authenticate(&HeaderMap::new(), &query(None, Some("alice")))
            .expect("guest");
        assert_eq!(with_token.player.as_str(), "alice");
        assert_eq!(guest.player.as_str(), "guest:alice");
        assert_ne!(with_token.player, guest.player);
        // The full id names the same guest; no name, or one too long for an id, does not.
        let again = auth
            .authenticate(&HeaderMap::new(), &query(None, Some("guest:alice")))
            .expect("guest by full id");
        assert_eq!(again.player, guest.player);
        for bad in ["", "guest:", &"x".repeat(60)] {
            assert!(
                matches!(
                    auth.authenticate(&HeaderMap::new(), &query(None, Some(bad))),
                    Err(AuthError::BadGuest(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn guests_only_when_enabled() {
        let auth = Authenticator::new(&TokenRules::default(), true);
        let id = auth
            .authenticate(&HeaderMap::new(), &query(None, Some("guest-1")))
            .expect("guest");
        assert!(id.guest);
        assert_eq!(id.player.as_str(), "guest:guest-1");
        assert!(matches!(
            auth.authenticate(&HeaderMap::new(), &query(None, Some("no spaces"))),
            Err(AuthError::BadGuest(_))
        ));
        assert!(matches!(
            auth.authenticate(&HeaderMap::new(), &query(Some("x".into()), None)),
            Err(AuthError::Invalid(_))
        ));
    }
}
