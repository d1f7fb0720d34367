//! The join-token check a game server makes when a player connects (PROTOCOL.md section 2,
//! "Join tokens"): the token is bound to the match, the player, this server and an expiry,
//! signed with the deployment's join secret. The bytes and the check are `proto`'s
//! ([`proto::join_token`]); this holds what one server checks with.

use std::time::{SystemTime, UNIX_EPOCH};

pub use proto::join_token::{JoinClaim, JoinTokenError, join_token};

/// What a game server checks join tokens with: its own id, the join secret, and during a
/// rotation the previous one. Its `Debug` never shows the secrets.
#[derive(Clone)]
pub struct JoinVerifier {
    server: String,
    secrets: Vec<Vec<u8>>,
}

impl std::fmt::Debug for JoinVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinVerifier")
            .field("server", &self.server)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl JoinVerifier {
    /// Checks tokens for `server` signed with `secret`, or with `previous` during a rotation.
    pub fn new(server: impl Into<String>, secret: &[u8], previous: Option<&[u8]>) -> Self {
        Self {
            server: server.into(),
            secrets: std::iter::once(secret)
                .chain(previous)
                .map(<[u8]>::to_vec)
                .collect(),
        }
    }

    /// The server this verifier admits players to.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Whether `token` admits `player` to `match_id` on this server now.
    pub fn verify(&self, match_id: &str, player: &str, token: &str) -> Result<(), JoinTokenError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.verify_at(match_id, player, token, now_ms)
    }

    /// As [`JoinVerifier::verify`], at `now_ms` (ms since the Unix epoch).
    pub fn verify_at(
        &self,
        match_id: &str,
        player: &str,
        token: &str,
        now_ms: u64,
    ) -> Result<(), JoinTokenError> {
        let secrets: Vec<&[u8]> = self.secrets.iter().map(Vec::as_slice).collect();
        proto::join_token::verify(&secrets, match_id, player, &self.server, token, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PROTOCOL.md section 2's test vector.
    const SECRET: &[u8] = b"rallypoint-dev-join-secret-0123456789";
    const VECTOR: &str = "v2.1767225600000.h6Wo3UlGFf_SwqQn73Oz6IHhLOFkaGR5D4a-7c47-WM";
    const EXPIRES: u64 = 1_767_225_600_000;

    #[test]
    fn admits_the_protocol_test_vector_until_it_expires() {
        let verifier = JoinVerifier::new("gs-eu-1", SECRET, None);
        assert_eq!(
            verifier.verify_at("m-1", "alice", VECTOR, EXPIRES - 1),
            Ok(())
        );
        assert_eq!(
            verifier.verify_at("m-1", "alice", VECTOR, EXPIRES),
            Err(JoinTokenError::Expired)
        );
    }

    #[test]
    fn refuses_another_player_match_server_or_secret_and_takes_the_previous_secret() {
        let now = EXPIRES - 1;
        let verifier = JoinVerifier::new("gs-eu-1", SECRET, None);
        for (match_id, player) in [("m-1", "bob"), ("m-2", "alice")] {
            assert_eq!(
                verifier.verify_at(match_id, player, VECTOR, now),
                Err(JoinTokenError::BadSignature)
            );
        }
        let other_server = JoinVerifier::new("gs-eu-2", SECRET, None);
        assert_eq!(
            other_server.verify_at("m-1", "alice", VECTOR, now),
            Err(JoinTokenError::BadSignature)
        );
        let rotated = JoinVerifier::new("gs-eu-1", b"the-new-join-secret-0123456789ab", None);
        assert_eq!(
            rotated.verify_at("m-1", "alice", VECTOR, now),
            Err(JoinTokenError::BadSignature)
        );
        let rotating =
            JoinVerifier::new("gs-eu-1", b"the-new-join-secret-0123456789ab", Some(SECRET));
        assert_eq!(rotating.verify_at("m-1", "alice", VECTOR, now), Ok(()));
        assert_eq!(
            verifier.verify_at("m-1", "alice", "v2.x.y", now),
            Err(JoinTokenError::Malformed)
        );
        assert!(!format!("{rotating:?}").contains("join-secret"));
    }
}
