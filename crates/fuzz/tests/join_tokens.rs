//! Join tokens, which a game server checks when a player connects to it: whatever string a
//! player presents, `proto::join_token::verify` admits exactly the player, match and server
//! the pool signed it for, before it expires, or refuses it (malformed, bad signature,
//! expired), never a panic.

use fuzz::{campaign, damaged_text, nasty_string, text_damage};
use proptest::prelude::*;
use proto::join_token::{JoinClaim, JoinTokenError, join_token, verify};

const SECRET: &[u8] = b"fuzz-join-secret-0123456789abcdef";
const NOW: u64 = 1_767_225_600_000;

fn claim() -> JoinClaim<'static> {
    JoinClaim {
        match_id: "m-1",
        player: "alice",
        server: "gs-1",
        expires_ms: NOW + 60_000,
    }
}

fn check(token: &str, match_id: &str, player: &str, server: &str) -> Result<(), JoinTokenError> {
    verify(&[SECRET], match_id, player, server, token, NOW)
}

#[test]
fn arbitrary_strings_are_refused() {
    let strategy = prop_oneof![
        nasty_string(),
        "v2\\.[0-9]{0,20}\\.[A-Za-z0-9_-]{0,50}",
        "v[0-9]\\.[^.]{0,10}\\.[^.]{0,50}",
        ".{0,200}",
    ];
    campaign("join tokens: arbitrary strings", strategy, |token| {
        let verdict = check(&token, "m-1", "alice", "gs-1");
        prop_assert!(verdict.is_err(), "{:?} admitted", token);
        Ok(())
    });
}

#[test]
fn a_damaged_token_admits_no_one_else_and_a_good_one_only_its_claim() {
    let good = join_token(SECRET, &claim());
    assert_eq!(check(&good, "m-1", "alice", "gs-1"), Ok(()));
    let strategy = (
        text_damage(),
        prop::sample::select(vec![
            ("m-1", "alice", "gs-1"),
            ("m-2", "alice", "gs-1"),
            ("m-1", "bob", "gs-1"),
            ("m-1", "alice", "gs-2"),
            ("m-1\nalice", "", "gs-1"),
        ]),
    );
    campaign(
        "join tokens: damaged tokens and other claims",
        strategy,
        |(damage, (match_id, player, server))| {
            let token = damaged_text(&good, &damage);
            match check(&token, match_id, player, server) {
                Ok(()) => {
                    // Only the signed claim, with the signed expiry (base64's unused bits
                    // may absorb a change in the signature's last character).
                    prop_assert_eq!((match_id, player, server), ("m-1", "alice", "gs-1"));
                    let signed = format!("v2.{}.", NOW + 60_000);
                    prop_assert!(token.starts_with(&signed), "{:?}", token);
                }
                Err(err) => prop_assert!(!err.to_string().is_empty()),
            }
            Ok(())
        },
    );
}
