//! Property tests: no input makes a decoder panic, and whatever decodes re-encodes faithfully.

use proptest::prelude::*;
use proto::{
    ClientRequest, Encoding, ErrorCode, MAX_EVENT_BYTES, MAX_FRAME_BYTES, ServerMessage,
    decode_event, decode_request, decode_server, encode_request,
};
use serde_json::{Map, Value};

use super::samples;

const BOTH: [Encoding; 2] = [Encoding::Json, Encoding::MsgPack];

fn frame(value: &Value, enc: Encoding) -> Vec<u8> {
    match enc {
        Encoding::Json => serde_json::to_vec(value).unwrap(),
        Encoding::MsgPack => rmp_serde::to_vec_named(value).unwrap(),
    }
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["duel", "eu", "lobby", "p2", "", "bad id", "é"])
            .prop_map(String::from),
        "[A-Za-z0-9_.:-]{60,70}",
        ".{0,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any_string().prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["type", "rid", "queue", "region", "room", "body", "to"])
            .prop_map(String::from),
        "[a-z]{1,6}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects shaped like requests: usually a known `type`, plausible fields, random values.
fn request_like() -> impl Strategy<Value = Value> {
    let ty = prop_oneof![
        3 => prop::sample::select(ClientRequest::TYPES.to_vec()).prop_map(Value::from),
        1 => prop::sample::select(ServerMessage::TYPES.to_vec()).prop_map(Value::from),
        1 => json_value(),
    ];
    (
        prop::option::of(ty),
        prop::collection::btree_map(key(), json_value(), 0..5),
    )
        .prop_map(|(ty, fields)| {
            let mut map: Map<String, Value> = fields.into_iter().collect();
            if let Some(ty) = ty {
                map.insert("type".into(), ty);
            }
            Value::Object(map)
        })
}

fn check_request(bytes: &[u8], enc: Encoding) -> Result<(), TestCaseError> {
    match decode_request(bytes, enc, MAX_FRAME_BYTES) {
        Ok(req) => {
            prop_assert!(ClientRequest::TYPES.contains(&req.body.type_name()));
            let again = encode_request(&req, enc).unwrap();
            prop_assert_eq!(decode_request(&again, enc, MAX_FRAME_BYTES), Ok(req));
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
            prop_assert!(err.to_string().len() < 400, "{}", err);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for enc in BOTH {
            check_request(&bytes, enc)?;
            let _ = decode_server(&bytes, enc, MAX_FRAME_BYTES);
        }
        let _ = decode_event(&bytes, MAX_EVENT_BYTES);
    }

    #[test]
    fn arbitrary_json_values_never_panic(value in json_value()) {
        for enc in BOTH {
            check_request(&frame(&value, enc), enc)?;
        }
    }

    #[test]
    fn request_shaped_objects_decode_or_fail_cleanly(value in request_like()) {
        for enc in BOTH {
            let bytes = frame(&value, enc);
            check_request(&bytes, enc)?;
            let _ = decode_server(&bytes, enc, MAX_FRAME_BYTES);
        }
        let envelope = serde_json::json!({"v": 1, "sent_ms": 1, "event": value});
        let _ = decode_event(&frame(&envelope, Encoding::MsgPack), MAX_EVENT_BYTES);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        pick in 0usize..8,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let body = samples::requests().swap_remove(pick);
        let req = proto::Request::with_rid(body, proto::Rid::Str("abc".into()));
        for enc in BOTH {
            let mut bytes = encode_request(&req, enc).unwrap().to_vec();
            for (at, byte) in &flips {
                let i = at.index(bytes.len());
                bytes[i] = *byte;
            }
            check_request(&bytes, enc)?;
        }
    }
}
