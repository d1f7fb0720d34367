//! Client frames, JSON and MessagePack: whatever a client sends, the decoder answers with a
//! request or with the documented error code (`bad_request`, `unknown_type`, `too_large`),
//! never a panic; and what decodes re-encodes to the same request.

use fuzz::{
    any_bytes, byte_damage, campaign, damaged, json_value, mutate, mutations, object, to_json,
    to_msgpack,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use proto::{
    ClientRequest, Encoding, ErrorCode, MAX_EVENT_BYTES, MAX_FRAME_BYTES, decode_event,
    decode_request, decode_server, encode_request,
};
use serde_json::{Value, json};

const BOTH: [Encoding; 2] = [Encoding::Json, Encoding::MsgPack];

fn encoded(value: &Value, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Json => to_json(value),
        Encoding::MsgPack => to_msgpack(value),
    }
}

/// One valid frame of every request type, with a `rid` of either kind.
fn valid_requests() -> Vec<Value> {
    vec![
        json!({"type": "ping", "rid": 1}),
        json!({"type": "queue.join", "queue": "duel", "region": "eu", "rid": "a"}),
        json!({"type": "queue.leave"}),
        json!({"type": "queue.status", "rid": 7}),
        json!({"type": "room.join", "room": "lobby"}),
        json!({"type": "room.leave", "room": "lobby"}),
        json!({"type": "room.join", "room": "lobby:eu", "since": 1_796_517_274_768_001_u64}),
        json!({"type": "room.history", "room": "lobby:eu", "before": 12, "limit": 20}),
        json!({"type": "room.members", "room": "lobby", "cursor": "p2"}),
        json!({"type": "presence.get", "players": ["p1", "p2"]}),
        json!({"type": "block", "player": "p2"}),
        json!({"type": "unblock", "player": "p2"}),
        json!({"type": "room.send", "room": "lobby", "body": {"text": "hi", "n": [1, 2.5, null]}}),
        json!({"type": "whisper", "to": "bob", "body": "psst", "rid": "w1"}),
        json!({"type": "profile.get"}),
        json!({"type": "data.get", "kind": "items", "id": "sword"}),
        json!({"type": "party.create", "rid": 2}),
        json!({"type": "party.invite", "to": "bob"}),
        json!({"type": "party.accept", "party": "pt-1", "rid": "p"}),
        json!({"type": "party.decline", "party": "pt-1"}),
        json!({"type": "party.leave"}),
        json!({"type": "party.kick", "player": "bob"}),
        json!({"type": "party.promote", "player": "bob", "rid": 9}),
        json!({"type": "party.get"}),
        json!({"type": "match.accept", "match": "m-1"}),
        json!({"type": "match.decline", "match": "m-1", "rid": 4}),
    ]
}

/// The decoder's promise for one frame.
fn check_request(bytes: &[u8], encoding: Encoding) -> Result<(), TestCaseError> {
    match decode_request(bytes, encoding, MAX_FRAME_BYTES) {
        Ok(request) => {
            prop_assert!(ClientRequest::TYPES.contains(&request.body.type_name()));
            let again = encode_request(&request, encoding)
                .map_err(|e| TestCaseError::fail(format!("re-encoding failed: {e}")))?;
            prop_assert_eq!(
                decode_request(&again, encoding, MAX_FRAME_BYTES),
                Ok(request)
            );
        }
        Err(err) => {
            let code = err.error_code();
            prop_assert!(
                matches!(
                    code,
                    ErrorCode::BadRequest | ErrorCode::UnknownType | ErrorCode::TooLarge
                ),
                "{:?}",
                code
            );
            let message = err.to_string();
            prop_assert!(!message.is_empty() && message.len() < 400, "{}", message);
        }
    }
    Ok(())
}

#[test]
fn every_sample_is_a_valid_request() {
    for value in valid_requests() {
        for encoding in BOTH {
            let decoded = decode_request(&encoded(&value, encoding), encoding, MAX_FRAME_BYTES);
            assert!(decoded.is_ok(), "{value} in {encoding:?}: {decoded:?}");
        }
    }
    let types: Vec<String> = valid_requests()
        .iter()
        .filter_map(|v| v["type"].as_str().map(str::to_owned))
        .collect();
    for ty in ClientRequest::TYPES {
        assert!(types.iter().any(|t| t == ty), "no sample of {ty}");
    }
}

#[test]
fn client_frames_of_arbitrary_bytes() {
    campaign("client frames: arbitrary bytes", any_bytes(512), |bytes| {
        for encoding in BOTH {
            check_request(&bytes, encoding)?;
            // What the SDK and the other services decode must not panic either.
            let _ = decode_server(&bytes, encoding, MAX_FRAME_BYTES);
        }
        let _ = decode_event(&bytes, MAX_EVENT_BYTES);
        Ok(())
    });
}

#[test]
fn client_frames_of_arbitrary_json_values() {
    campaign("client frames: arbitrary JSON", json_value(), |value| {
        for encoding in BOTH {
            check_request(&encoded(&value, encoding), encoding)?;
        }
        Ok(())
    });
}

#[test]
fn client_frames_mutated_from_valid_ones() {
    let samples = valid_requests();
    let strategy = (
        prop::sample::select(samples),
        mutations(),
        byte_damage(),
        any::<bool>(),
    );
    campaign(
        "client frames: mutations of valid frames",
        strategy,
        |(sample, changes, damage, binary)| {
            let value = mutate(sample, &changes);
            let encoding = if binary {
                Encoding::MsgPack
            } else {
                Encoding::Json
            };
            // The structural change alone, then with bytes damaged too.
            let bytes = encoded(&value, encoding);
            check_request(&bytes, encoding)?;
            check_request(&damaged(bytes, &damage), encoding)
        },
    );
}

#[test]
fn a_frame_over_the_limit_is_too_large_whatever_it_holds() {
    let padding = "x".repeat(MAX_FRAME_BYTES);
    let value = object(&[("type", json!("ping")), ("pad", json!(padding))]);
    for encoding in BOTH {
        let err = decode_request(&encoded(&value, encoding), encoding, MAX_FRAME_BYTES)
            .expect_err("too large");
        assert_eq!(err.error_code(), ErrorCode::TooLarge);
    }
}
