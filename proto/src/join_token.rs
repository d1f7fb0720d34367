//! Join tokens: proof for a game server that a connecting player belongs to the match,
//! `base64url(HMAC-SHA256(secret, "<match>:<player>"))` (PROTOCOL.md section 1). The
//! secret is the game servers' pool token, which they already hold. The server pool
//! issues them in `match.found`; a game server checks them with [`verify`].

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The join token of `player` for `match_id`.
pub fn join_token(secret: &[u8], match_id: &str, player: &str) -> String {
    // HMAC takes keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(match_id.as_bytes());
    mac.update(b":");
    mac.update(player.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `token` is `player`'s join token for `match_id` (compared in constant time).
pub fn verify(secret: &[u8], match_id: &str, player: &str, token: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let expected = join_token(secret, match_id, player);
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_base64url_hmac_sha256_of_match_colon_player() {
        // Computed independently: Python's hmac.new(b"rallypoint-dev-pool", b"m-1:alice",
        // hashlib.sha256), base64url without padding.
        assert_eq!(
            join_token(b"rallypoint-dev-pool", "m-1", "alice"),
            "sNdAVkHFnfgRmL1RfmWNxUwTNBG-pMfPezqXASL-nqw"
        );
        assert_ne!(
            join_token(b"k", "m1", "alice"),
            join_token(b"k", "m1", "bob")
        );
        let token = join_token(b"k", "m1", "alice");
        assert!(verify(b"k", "m1", "alice", &token));
        assert!(!verify(b"k", "m1", "bob", &token));
        assert!(!verify(b"k", "m2", "alice", &token));
        assert!(!verify(b"k", "m1", "alice", ""));
        assert_ne!(
            join_token(b"k", "m1", "alice"),
            join_token(b"k2", "m1", "alice")
        );
    }
}
