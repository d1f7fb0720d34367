//! Join tokens: proof for a game server that a connecting player belongs to one of its
//! matches (PROTOCOL.md section 1, "Join tokens"). The server pool issues one per player in
//! `match.found`; a game server checks it with [`verify`].
//!
//! A token binds the match, the player, the game server and an expiry, and is signed with
//! the deployment's join secret (`pool.join_secret`, a key of its own: not a credential
//! any caller uses). The signed bytes are the fields one per line, which is unambiguous
//! because no id may contain a line break:
//!
//! ```text
//! token   = "v2." <expires_ms> "." base64url_nopad(HMAC-SHA256(join_secret, message))
//! message = "rallypoint-join-v2\n" <match> "\n" <player> "\n" <server> "\n" <expires_ms>
//! ```
//!
//! `expires_ms` is milliseconds since the Unix epoch, in decimal ASCII.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What a join token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinClaim<'a> {
    pub match_id: &'a str,
    pub player: &'a str,
    /// The game server the match was given to.
    pub server: &'a str,
    /// When the token stops being valid, ms since the Unix epoch.
    pub expires_ms: u64,
}

/// Why a join token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinTokenError {
    #[error("not a join token (expected v2.<expires_ms>.<signature>)")]
    Malformed,
    #[error("the join token expired")]
    Expired,
    #[error("the join token is not for this player, match and server")]
    BadSignature,
}

const VERSION: &str = "v2";
const CONTEXT: &[u8] = b"rallypoint-join-v2\n";

fn mac(secret: &[u8], claim: &JoinClaim<'_>) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(CONTEXT);
    for part in [claim.match_id, claim.player, claim.server] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    mac.update(claim.expires_ms.to_string().as_bytes());
    Some(mac)
}

/// The join token for `claim`, signed with `secret`.
pub fn join_token(secret: &[u8], claim: &JoinClaim<'_>) -> String {
    let Some(mac) = mac(secret, claim) else {
        return String::new();
    };
    let signature =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{VERSION}.{}.{signature}", claim.expires_ms)
}

/// Checks that `token` admits `player` to `match_id` on `server` at `now_ms`, signed with
/// any of `secrets` (the current join secret, and during a rotation the previous one).
/// The signature is compared in constant time.
pub fn verify(
    secrets: &[&[u8]],
    match_id: &str,
    player: &str,
    server: &str,
    token: &str,
    now_ms: u64,
) -> Result<(), JoinTokenError> {
    let mut parts = token.splitn(3, '.');
    let (Some(VERSION), Some(expires), Some(signature)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(JoinTokenError::Malformed);
    };
    // Digits only: "+5" or " 5" would parse but sign differently.
    if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
        return Err(JoinTokenError::Malformed);
    }
    let expires_ms: u64 = expires.parse().map_err(|_| JoinTokenError::Malformed)?;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JoinTokenError::Malformed)?;
    let claim = JoinClaim {
        match_id,
        player,
        server,
        expires_ms,
    };
    let signed = secrets
        .iter()
        .any(|secret| mac(secret, &claim).is_some_and(|mac| mac.verify_slice(&signature).is_ok()));
    if !signed {
        return Err(JoinTokenError::BadSignature);
    }
    if now_ms >= expires_ms {
        return Err(JoinTokenError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"rallypoint-dev-join-secret-0123456789";

    fn claim<'a>(match_id: &'a str, player: &'a str, server: &'a str) -> JoinClaim<'a> {
        JoinClaim {
            match_id,
            player,
            server,
            expires_ms: 1_767_225_600_000,
        }
    }

    #[test]
    fn matches_the_test_vector_in_protocol_md() {
        // Computed independently: Python's hmac.new(secret,
        // b"rallypoint-join-v2\nm-1\nalice\ngs-eu-1\n1767225600000", hashlib.sha256),
        // base64url without padding.
        assert_eq!(
            join_token(SECRET, &claim("m-1", "alice", "gs-eu-1")),
            "v2.1767225600000.h6Wo3UlGFf_SwqQn73Oz6IHhLOFkaGR5D4a-7c47-WM"
        );
    }

    #[test]
    fn admits_only_its_player_match_and_server_until_it_expires() {
        let token = join_token(SECRET, &claim("m1", "alice", "gs-1"));
        let before = 1_767_225_599_999;
        assert_eq!(
            verify(&[SECRET], "m1", "alice", "gs-1", &token, before),
            Ok(())
        );
        let refused = Err(JoinTokenError::BadSignature);
        assert_eq!(
            verify(&[SECRET], "m1", "bob", "gs-1", &token, before),
            refused
        );
        assert_eq!(
            verify(&[SECRET], "m2", "alice", "gs-1", &token, before),
            refused
        );
        assert_eq!(
            verify(&[SECRET], "m1", "alice", "gs-2", &token, before),
            refused
        );
        assert_eq!(
            verify(&[b"another"], "m1", "alice", "gs-1", &token, before),
            refused
        );
        assert_eq!(
            verify(&[SECRET], "m1", "alice", "gs-1", &token, before + 1),
            Err(JoinTokenError::Expired)
        );
    }

    #[test]
    fn fields_cannot_be_shifted_between_parts() {
        // "m:1" + "a" and "m" + "1:a" signed the same under the v1 encoding.
        assert_ne!(
            join_token(SECRET, &claim("m:1", "a", "s")),
            join_token(SECRET, &claim("m", "1:a", "s"))
        );
    }

    #[test]
    fn a_rotation_accepts_the_previous_secret() {
        let token = join_token(b"old-secret", &claim("m1", "alice", "gs-1"));
        let secrets: [&[u8]; 2] = [SECRET, b"old-secret"];
        assert_eq!(verify(&secrets, "m1", "alice", "gs-1", &token, 0), Ok(()));
    }

    #[test]
    fn a_moved_expiry_or_garbage_is_refused() {
        let token = join_token(SECRET, &claim("m1", "alice", "gs-1"));
        let moved = token.replace("v2.1767225600000.", "v2.1767225700000.");
        assert_eq!(
            verify(&[SECRET], "m1", "alice", "gs-1", &moved, 0),
            Err(JoinTokenError::BadSignature)
        );
        for garbage in [
            "",
            "v2",
            "v2..",
            "v1.5.abc",
            "v2.+5.abc",
            "v2.5.%%%",
            "sNdAVkHFnfg",
        ] {
            assert_eq!(
                verify(&[SECRET], "m1", "alice", "gs-1", garbage, 0),
                Err(JoinTokenError::Malformed),
                "{garbage:?}"
            );
        }
    }
}
