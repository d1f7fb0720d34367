//! Bad input of every kind gives the right typed error (and never a panic).

use proto::{
    DecodeError, Encoding, ErrorCode, Event, EventEnvelope, MAX_BODY_BYTES, MAX_EVENT_BYTES,
    MAX_FRAME_BYTES, Request, RequestError, Rid, ServerMessage, decode_event, decode_request,
    decode_server, encode_event, encode_request, encode_server,
};
use serde_json::{Value, json};

use super::samples;

const BOTH: [Encoding; 2] = [Encoding::Json, Encoding::MsgPack];

/// `value` as a frame in `enc`.
fn frame(value: &Value, enc: Encoding) -> Vec<u8> {
    match enc {
        Encoding::Json => serde_json::to_vec(value).unwrap(),
        Encoding::MsgPack => rmp_serde::to_vec_named(value).unwrap(),
    }
}

/// Decodes `value` as a request in both encodings; both must fail the same way.
fn reject(value: Value) -> RequestError {
    let errors: Vec<RequestError> = BOTH
        .map(|enc| decode_request(&frame(&value, enc), enc, MAX_FRAME_BYTES).unwrap_err())
        .to_vec();
    assert_eq!(errors[0], errors[1], "{value}");
    errors[0].clone()
}

fn bad_field(err: &RequestError) -> Option<&str> {
    match &err.error {
        DecodeError::BadField { field, .. } => field.as_deref(),
        other => panic!("expected BadField, got {other:?}"),
    }
}

#[test]
fn garbage_is_malformed() {
    let json: [&[u8]; 7] = [
        b"",
        b"{",
        b"\xff\xfe",
        b"{\"type\":",
        b"nul",
        b"{\"a\":1,}",
        b"{\"a\":\"\xff\"}",
    ];
    // Never-used marker, truncated map, huge declared map, binary, integer key, ext.
    let msgpack: [&[u8]; 7] = [
        b"",
        b"\xc1",
        b"\x81",
        b"\xdf\xff\xff\xff\xff",
        b"\xc4\x02ab",
        b"\x81\x01\x02",
        b"\xd4\x01\x02",
    ];
    for (enc, inputs) in [(Encoding::Json, json), (Encoding::MsgPack, msgpack)] {
        for input in inputs {
            let err = decode_request(input, enc, MAX_FRAME_BYTES).unwrap_err();
            assert!(
                matches!(err.error, DecodeError::Malformed(_)),
                "{enc:?} {input:?}: {err:?}"
            );
            assert_eq!(err.error_code(), ErrorCode::BadRequest);
            assert_eq!(err.rid, None);
        }
    }
}

#[test]
fn every_prefix_of_every_message_is_rejected() {
    for enc in BOTH {
        for body in samples::requests() {
            let bytes = encode_request(&Request::with_rid(body, Rid::Int(1)), enc).unwrap();
            for cut in 0..bytes.len() {
                assert!(decode_request(&bytes[..cut], enc, MAX_FRAME_BYTES).is_err());
            }
        }
        for msg in samples::server_messages() {
            let bytes = encode_server(&msg, enc).unwrap();
            for cut in 0..bytes.len() {
                assert!(decode_server(&bytes[..cut], enc, MAX_FRAME_BYTES).is_err());
            }
        }
    }
    for env in samples::envelopes() {
        let bytes = encode_event(&env).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_event(&bytes[..cut], MAX_EVENT_BYTES).is_err());
        }
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    for enc in BOTH {
        let mut bytes = encode_request(&Request::new(proto::ClientRequest::Ping), enc)
            .unwrap()
            .to_vec();
        bytes.push(0);
        let err = decode_request(&bytes, enc, MAX_FRAME_BYTES).unwrap_err();
        assert!(matches!(err.error, DecodeError::Malformed(_)), "{enc:?}");
    }
}

#[test]
fn oversized_input_is_too_large_before_parsing() {
    for enc in BOTH {
        let big = vec![b' '; MAX_FRAME_BYTES + 1];
        let err = decode_request(&big, enc, MAX_FRAME_BYTES).unwrap_err();
        assert_eq!(
            err.error,
            DecodeError::TooLarge {
                len: MAX_FRAME_BYTES + 1,
                max: MAX_FRAME_BYTES
            }
        );
        assert_eq!(err.error_code(), ErrorCode::TooLarge);
        let ok = encode_request(&Request::new(proto::ClientRequest::Ping), enc).unwrap();
        assert!(decode_request(&ok, enc, ok.len()).is_ok());
        assert!(
            matches!(decode_request(&ok, enc, ok.len() - 1), Err(e) if e.error_code() == ErrorCode::TooLarge)
        );
        assert!(matches!(
            decode_server(&big, enc, 10),
            Err(DecodeError::TooLarge { .. })
        ));
    }
    assert!(matches!(
        decode_event(&[0; 11], 10),
        Err(DecodeError::TooLarge { len: 11, max: 10 })
    ));
}

#[test]
fn unknown_and_missing_type_keep_the_rid() {
    let err = reject(json!({"type": "queue.dance", "rid": 4}));
    assert_eq!(err.error, DecodeError::UnknownType("queue.dance".into()));
    assert_eq!(err.error_code(), ErrorCode::UnknownType);
    assert_eq!(err.rid, Some(Rid::Int(4)));

    let err = reject(json!({"queue": "duel", "rid": "x"}));
    assert_eq!(err.error, DecodeError::MissingType);
    assert_eq!(
        (err.error_code(), err.rid.clone()),
        (ErrorCode::BadRequest, Some(Rid::Str("x".into())))
    );

    let err = reject(json!({"type": 3, "rid": 4}));
    assert_eq!(bad_field(&err), Some("type"));

    assert_eq!(reject(json!([1, 2])).error, DecodeError::NotAnObject);
    assert_eq!(reject(json!("ping")).error, DecodeError::NotAnObject);
}

#[test]
fn a_huge_unknown_type_is_not_echoed_whole() {
    let err = reject(json!({"type": "x".repeat(10_000)}));
    assert!(err.error.to_string().len() < 300);
    assert_eq!(err.error_code(), ErrorCode::UnknownType);
    let err = reject(json!({"type": "room.join", "room": ["y".repeat(10_000)]}));
    assert!(err.error.to_string().len() < 300, "{err}");
}

#[test]
fn wrong_field_types_name_the_field() {
    let err = reject(json!({"type": "queue.join", "queue": 5, "region": "eu", "rid": 1}));
    assert_eq!(bad_field(&err), Some("queue"));
    assert_eq!(
        (err.error_code(), err.rid.clone()),
        (ErrorCode::BadRequest, Some(Rid::Int(1)))
    );
    let err = reject(json!({"type": "queue.join", "queue": "duel"}));
    assert_eq!(bad_field(&err), Some("region"));
    assert!(err.to_string().contains("missing"), "{err}");
    let err = reject(json!({"type": "room.send", "room": "lobby"}));
    assert_eq!(bad_field(&err), Some("body"));
    let err = reject(json!({"type": "whisper", "to": null, "body": 1}));
    assert_eq!(bad_field(&err), Some("to"));
    let err = reject(json!({"type": "room.join", "room": {"id": "lobby"}}));
    assert_eq!(bad_field(&err), Some("room"));
}

#[test]
fn invalid_ids_are_bad_fields() {
    for bad in [
        String::new(),
        "r".repeat(65),
        "a b".into(),
        "a/b".into(),
        "é".into(),
        "a\u{0}".into(),
    ] {
        let err = reject(json!({"type": "room.join", "room": bad, "rid": 2}));
        assert_eq!(bad_field(&err), Some("room"), "{bad:?}");
        assert!(err.to_string().contains("invalid id"), "{err}");
        assert_eq!(err.rid, Some(Rid::Int(2)));
    }
    assert!(
        reject(json!({"type": "whisper", "to": "bad id", "body": 1}))
            .to_string()
            .contains("`to`")
    );
}

#[test]
fn invalid_rids_fail_without_an_echo() {
    for rid in [
        json!(1.5),
        json!(true),
        json!({"a": 1}),
        json!([1]),
        json!("r".repeat(65)),
        json!(u64::MAX),
    ] {
        let err = reject(json!({"type": "ping", "rid": rid}));
        assert_eq!(bad_field(&err), Some("rid"));
        assert_eq!(err.rid, None);
    }
    let longest = "r".repeat(64);
    let req = decode_request(
        &frame(&json!({"type": "ping", "rid": longest}), Encoding::Json),
        Encoding::Json,
        MAX_FRAME_BYTES,
    );
    assert_eq!(req.unwrap().rid, Some(Rid::Str(longest)));
}

#[test]
fn bodies_over_4_kib_are_too_large() {
    // A JSON string of n characters encodes to n + 2 bytes.
    let at_limit = "a".repeat(MAX_BODY_BYTES - 2);
    for enc in BOTH {
        for ty in ["room.send", "whisper"] {
            let ok = json!({"type": ty, "room": "lobby", "to": "p2", "body": at_limit});
            assert!(decode_request(&frame(&ok, enc), enc, MAX_FRAME_BYTES).is_ok());
        }
    }
    let over = json!({"type": "room.send", "room": "lobby", "body": {"t": "a".repeat(MAX_BODY_BYTES)}, "rid": 5});
    let err = reject(over);
    assert_eq!(err.error, DecodeError::BodyTooLarge);
    assert_eq!(
        (err.error_code(), err.rid.clone()),
        (ErrorCode::TooLarge, Some(Rid::Int(5)))
    );
    let err = reject(json!({"type": "whisper", "to": "p2", "body": vec![0; MAX_BODY_BYTES]}));
    assert_eq!(err.error, DecodeError::BodyTooLarge);
    assert!(proto::Body::new(json!("a".repeat(MAX_BODY_BYTES - 1))).is_err());
}

#[test]
fn unknown_extra_fields_are_ignored() {
    let req =
        json!({"type": "room.join", "room": "lobby", "extra": {"deep": [1, 2]}, "v2_flag": true});
    for enc in BOTH {
        assert!(decode_request(&frame(&req, enc), enc, MAX_FRAME_BYTES).is_ok());
        let msg = json!({"type": "room.left", "room": "lobby", "new_field": 1});
        assert!(decode_server(&frame(&msg, enc), enc, MAX_FRAME_BYTES).is_ok());
    }
    let env = json!({"v": 1, "sent_ms": 1, "later": "x", "event": {"type": "warm_profiles", "players": ["a"], "extra": 0}});
    assert!(decode_event(&frame(&env, Encoding::MsgPack), MAX_EVENT_BYTES).is_ok());
    let reg = json!({"id": "gs", "region": "eu", "address": "h:1", "capacity": 1, "gpu": "yes"});
    assert!(serde_json::from_value::<proto::RegisterServer>(reg).is_ok());
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let depth = 50_000;
    let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let mut packed = vec![0x91; depth]; // fixarray of one element, nested
    packed.push(0x90);
    for (bytes, enc) in [
        (json.as_bytes(), Encoding::Json),
        (&packed[..], Encoding::MsgPack),
    ] {
        let err = decode_request(bytes, enc, usize::MAX).unwrap_err();
        assert!(
            matches!(err.error, DecodeError::Malformed(_)),
            "{enc:?} {err:?}"
        );
        assert!(decode_server(bytes, enc, usize::MAX).is_err());
    }
    assert!(decode_event(&packed, usize::MAX).is_err());
}

#[test]
fn server_and_event_decoders_classify_errors() {
    for enc in BOTH {
        let decode = |v: Value| decode_server(&frame(&v, enc), enc, MAX_FRAME_BYTES).unwrap_err();
        assert_eq!(
            decode(json!({"type": "future.push"})),
            DecodeError::UnknownType("future.push".into())
        );
        assert_eq!(decode(json!({"room": "x"})), DecodeError::MissingType);
        assert_eq!(decode(json!(7)), DecodeError::NotAnObject);
        let missing = decode(json!({"type": "room.left"}));
        assert!(matches!(missing, DecodeError::BadField { field: Some(f), .. } if f == "room"));
        assert!(matches!(
            decode(json!({"type": "room.left", "room": "a b"})),
            DecodeError::BadField { .. }
        ));
    }
    let event =
        |v: Value| decode_event(&frame(&v, Encoding::MsgPack), MAX_EVENT_BYTES).unwrap_err();
    assert_eq!(
        event(json!({"v": 2, "sent_ms": 1, "event": {"type": "x"}})),
        DecodeError::UnsupportedVersion(2)
    );
    assert_eq!(
        event(json!({"v": 1, "sent_ms": 1, "event": {"type": "later"}})),
        DecodeError::UnknownType("later".into())
    );
    assert_eq!(
        event(json!({"v": 1, "sent_ms": 1, "event": {}})),
        DecodeError::MissingType
    );
    assert!(
        matches!(event(json!({"v": 1, "event": {"type": "warm_profiles", "players": ["a"]}})),
        DecodeError::BadField { field: Some(f), .. } if f == "sent_ms")
    );
    let mut env = EventEnvelope::new(
        Event::WarmProfiles {
            players: vec![samples::id("m")],
        },
        0,
    );
    env.v = 9;
    assert_eq!(
        decode_event(&encode_event(&env).unwrap(), MAX_EVENT_BYTES),
        Err(DecodeError::UnsupportedVersion(9))
    );
}

#[test]
fn request_errors_become_error_replies() {
    let err = reject(json!({"type": "nope", "rid": "q"}));
    let ServerMessage::Error { code, message, rid } = err.reply() else {
        panic!("not an error")
    };
    assert_eq!(
        (code, rid),
        (ErrorCode::UnknownType, Some(Rid::Str("q".into())))
    );
    assert!(message.contains("nope"));
}
