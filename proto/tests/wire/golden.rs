//! The JSON (and MessagePack) shapes PROTOCOL.md documents, byte for byte where it matters.

use proto::{
    ClientRequest, CloseCode, Encoding, ErrorCode, EventEnvelope, MAX_FRAME_BYTES, Request, Rid,
    ServerMessage, decode_request, encode_event, encode_request, encode_server,
};
use serde_json::{Value, json};

use super::samples::{self, id};

fn request(json: &str) -> Request {
    decode_request(json.as_bytes(), Encoding::Json, MAX_FRAME_BYTES).unwrap()
}

fn server_json(msg: &ServerMessage) -> Value {
    serde_json::from_slice(&encode_server(msg, Encoding::Json).unwrap()).unwrap()
}

#[test]
fn documented_requests_decode() {
    let req = request(r#"{"type":"queue.join","queue":"duel","region":"eu","rid":7}"#);
    assert_eq!(
        req,
        Request::with_rid(
            ClientRequest::QueueJoin {
                queue: id("duel"),
                region: id("eu")
            },
            Rid::Int(7)
        )
    );
    assert_eq!(
        request(r#"{"type":"ping"}"#),
        Request::new(ClientRequest::Ping)
    );
    assert_eq!(
        request(r#"{"rid":"a1","type":"queue.status"}"#).rid,
        Some(Rid::Str("a1".into()))
    );
    let send = request(r#"{"type":"room.send","room":"lobby","body":"hi"}"#);
    assert_eq!(
        send.body,
        ClientRequest::RoomSend {
            room: id("lobby"),
            body: proto::Body::new(json!("hi")).unwrap()
        }
    );
    let whisper = request(r#"{"type":"whisper","to":"p2","body":null,"rid":null}"#);
    assert_eq!(whisper.rid, None);
    assert!(matches!(whisper.body, ClientRequest::Whisper { .. }));
}

#[test]
fn requests_encode_with_type_first_and_rid_only_when_set() {
    let req = Request::with_rid(
        ClientRequest::RoomJoin {
            room: id("lobby"),
            since: None,
        },
        Rid::Str("r".into()),
    );
    let bytes = encode_request(&req, Encoding::Json).unwrap();
    assert_eq!(
        &bytes[..],
        br#"{"type":"room.join","room":"lobby","rid":"r"}"#
    );
    let bytes = encode_request(&Request::new(ClientRequest::QueueLeave), Encoding::Json).unwrap();
    assert_eq!(&bytes[..], br#"{"type":"queue.leave"}"#);
}

#[test]
fn match_found_has_the_documented_field_names() {
    let msg = samples::server_messages()
        .into_iter()
        .find(|m| m.type_name() == "match.found")
        .unwrap();
    assert_eq!(
        server_json(&msg),
        json!({
            "type": "match.found",
            "match": "m1",
            "queue": "duel",
            "region": "eu",
            "teams": [[{"player": "p1", "rating": 1512.5}], [{"player": "p2", "rating": 1490.0}]],
            "server": {"id": "gs-1", "address": "10.0.0.5:7777"},
            "join_token": "aGVsbG8"
        })
    );
}

#[test]
fn error_omits_rid_when_none() {
    let bytes = encode_server(
        &ServerMessage::error(ErrorCode::BadRequest, "nope", None),
        Encoding::Json,
    );
    assert_eq!(
        &bytes.unwrap()[..],
        br#"{"type":"error","code":"bad_request","message":"nope"}"#
    );
    let with = ServerMessage::error(ErrorCode::RateLimited, "slow down", Some(Rid::Int(9)));
    assert_eq!(
        server_json(&with),
        json!({"type": "error", "code": "rate_limited", "message": "slow down", "rid": 9})
    );
}

#[test]
fn replies_and_pushes_shapes() {
    let idle = ServerMessage::QueueStatus {
        state: proto::QueueState::Idle,
        queue: None,
        region: None,
        waited_ms: None,
        match_id: None,
        rid: Some(Rid::Int(1)),
    };
    assert_eq!(
        server_json(&idle),
        json!({"type": "queue.status", "state": "idle", "rid": 1})
    );
    let all = samples::server_messages();
    let shape = |ty: &str| server_json(all.iter().find(|m| m.type_name() == ty).unwrap());
    assert_eq!(
        shape("welcome"),
        json!({"type": "welcome", "player": "p1", "session": "s-1", "gateway": "gw-a", "heartbeat_ms": 15000})
    );
    assert_eq!(
        shape("match.cancelled"),
        json!({"type": "match.cancelled", "match": "m1", "reason": "no_server", "requeued": true})
    );
    assert_eq!(
        shape("kicked"),
        json!({"type": "kicked", "reason": "session_replaced"})
    );
    assert_eq!(
        shape("room.joined"),
        json!({"type": "room.joined", "room": "lobby", "members": 4, "rid": 3})
    );
    assert_eq!(
        shape("whisper.sent"),
        json!({"type": "whisper.sent", "rid": 3})
    );
}

#[test]
fn msgpack_uses_the_same_field_names() {
    let msg = ServerMessage::QueueTimeout {
        queue: id("duel"),
        waited_ms: 5,
    };
    let packed = encode_server(&msg, Encoding::MsgPack).unwrap();
    let generic: Value = rmp_serde::from_slice(&packed).unwrap();
    assert_eq!(
        generic,
        json!({"type": "queue.timeout", "queue": "duel", "waited_ms": 5})
    );
}

/// What `room_publish.lua` does to an encoded envelope: one more entry in its top-level
/// map (a fixmap, so the count is the first byte's low bits), `offset` appended last.
fn with_offset(encoded: &[u8], offset: u64) -> Vec<u8> {
    let header = encoded[0];
    assert!(
        (0x80..0x8f).contains(&header),
        "an envelope is a map of fewer than 15 entries: {header:#x}"
    );
    let mut out = vec![header + 1];
    out.extend_from_slice(&encoded[1..]);
    out.extend(rmp_serde::to_vec("offset").unwrap());
    out.extend(rmp_serde::to_vec(&offset).unwrap());
    out
}

#[test]
fn an_offset_appended_to_an_encoded_envelope_decodes() {
    let event = proto::Event::RoomMessage {
        room: id("lobby:eu"),
        from: id("p1"),
        body: proto::Body::new(json!({"text": "hi"})).unwrap(),
        ts: 7,
    };
    let mut traced = EventEnvelope::new(event.clone(), 5);
    traced.trace = Some([("traceparent".to_owned(), "00-ab-cd-01".to_owned())].into());
    for env in [EventEnvelope::new(event.clone(), 5), traced] {
        let encoded = encode_event(&env).unwrap();
        let offset = 1_796_517_274_768_001;
        let decoded = proto::decode_event(&with_offset(&encoded, offset), proto::MAX_EVENT_BYTES)
            .expect("the patched envelope decodes");
        assert_eq!(decoded.offset, Some(offset));
        assert_eq!(decoded.event, event);
        assert_eq!(decoded.trace, env.trace);
    }
}

#[test]
fn event_envelope_shape() {
    let env = EventEnvelope::new(
        proto::Event::MatchFormed {
            match_id: id("m1"),
            queue: id("duel"),
            region: id("eu"),
        },
        5,
    );
    let generic: Value = rmp_serde::from_slice(&encode_event(&env).unwrap()).unwrap();
    assert_eq!(
        generic,
        json!({"v": 1, "sent_ms": 5, "event": {"type": "match_formed", "match": "m1", "queue": "duel", "region": "eu"}})
    );
}

#[test]
fn game_server_bodies() {
    let reg: proto::RegisterServer = serde_json::from_value(json!({
        "id": "gs-1", "region": "eu", "address": "gs1.example.com:7777", "capacity": 8,
        "labels": {"map_pool": "ranked"}
    }))
    .unwrap();
    assert_eq!(reg, samples::register());
    let minimal: proto::RegisterServer = serde_json::from_value(json!({
        "id": "gs-1", "region": "eu", "address": "h:1", "capacity": 1
    }))
    .unwrap();
    assert!(minimal.labels.is_empty());
    assert_eq!(
        serde_json::to_value(samples::http_error()).unwrap(),
        json!({"error": "unauthorized", "message": "missing bearer token"})
    );
    assert_eq!(
        serde_json::to_value(samples::assignments()).unwrap(),
        json!({"assignments": [{
            "match": "m1", "queue": "duel", "region": "eu",
            "teams": [[{"player": "p1", "rating": 1512.5}], [{"player": "p2", "rating": 1490.0}]],
            "secret_hint": "k2",
            "backfilled": ["p2"]
        }]})
    );
    // A backfill request and its answer.
    let request: proto::BackfillRequest =
        serde_json::from_value(json!({"slots": [{"team": 1, "count": 2}]})).unwrap();
    assert_eq!(
        request.slots,
        vec![proto::BackfillSlot { team: 1, count: 2 }]
    );
    assert_eq!(
        serde_json::to_value(proto::BackfillAccepted {
            backfill: "b1".into()
        })
        .unwrap(),
        json!({"backfill": "b1"})
    );
    assert_eq!(
        serde_json::to_value(proto::Heartbeat::default()).unwrap(),
        json!({})
    );
    let result: proto::MatchResult =
        serde_json::from_value(json!({"placements": [["p1"], ["p2", "p3"]]})).unwrap();
    assert_eq!(result.stats, None);
    assert_eq!(result.placements.len(), 2);
}

#[test]
fn error_codes_are_exactly_the_documented_ones() {
    let documented = [
        "bad_request",
        "unknown_type",
        "rate_limited",
        "already_queued",
        "not_queued",
        "unknown_queue",
        "unknown_region",
        "not_online",
        "too_large",
        "unavailable",
        "internal",
        "not_leader",
        "party_full",
        "not_invited",
        "already_in_party",
        "in_queue",
        "not_in_party",
        "too_many_invites",
        "party_too_large",
        "cooldown",
        "unknown_match",
        "muted",
    ];
    let wire: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(wire, documented.map(Value::from).to_vec());
    for code in ErrorCode::ALL {
        assert_eq!(code.as_str(), code.to_string());
        assert_eq!(
            serde_json::from_value::<ErrorCode>(json!(code.as_str())).unwrap(),
            code
        );
    }
}

#[test]
fn close_codes() {
    let codes: Vec<u16> = CloseCode::ALL.iter().map(|c| c.code()).collect();
    assert_eq!(codes, [1008, 1009, 1011, 4001, 4002, 4003, 4004, 4005]);
    for c in CloseCode::ALL {
        assert_eq!(CloseCode::from_code(c.into()), Some(c));
        assert!(c.reason().len() < 123);
    }
    assert_eq!(CloseCode::from_code(1000), None);
}

#[test]
fn subprotocol_negotiation() {
    assert_eq!(Encoding::from_subprotocol(None), Some(Encoding::Json));
    assert_eq!(
        Encoding::from_subprotocol(Some("rallypoint.v1.json")),
        Some(Encoding::Json)
    );
    assert_eq!(
        Encoding::from_subprotocol(Some("rallypoint.v1.msgpack")),
        Some(Encoding::MsgPack)
    );
    assert_eq!(Encoding::from_subprotocol(Some("rallypoint.v2.json")), None);
    assert_eq!(Encoding::negotiate(None), Some(Encoding::Json));
    assert_eq!(
        Encoding::negotiate(Some("foo, rallypoint.v1.msgpack, rallypoint.v1.json")),
        Some(Encoding::MsgPack)
    );
    assert_eq!(Encoding::negotiate(Some("foo, bar")), None);
    assert_eq!(Encoding::negotiate(Some(" ")), Some(Encoding::Json));
    for enc in [Encoding::Json, Encoding::MsgPack] {
        assert_eq!(
            Encoding::from_subprotocol(Some(enc.subprotocol())),
            Some(enc)
        );
    }
    assert!(Encoding::MsgPack.is_binary() && !Encoding::Json.is_binary());
}
