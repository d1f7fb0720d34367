//! Every message type survives encode -> decode in both encodings.

use std::collections::BTreeSet;
use std::fmt::Debug;

use proto::{
    ClientRequest, Encoding, Event, MAX_EVENT_BYTES, MAX_FRAME_BYTES, Request, ServerMessage,
    decode_event, decode_request, decode_server, encode_event, encode_request, encode_server,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::samples;

const BOTH: [Encoding; 2] = [Encoding::Json, Encoding::MsgPack];

/// The `type` a value serialises with, read back generically.
fn wire_type<T: Serialize>(value: &T) -> String {
    let json: Value = serde_json::to_value(value).unwrap();
    json["type"].as_str().unwrap().to_owned()
}

#[test]
fn every_client_request_with_every_rid_shape() {
    for body in samples::requests() {
        for rid in samples::rids() {
            let req = Request {
                body: body.clone(),
                rid,
            };
            for enc in BOTH {
                let bytes = encode_request(&req, enc).unwrap();
                let back = decode_request(&bytes, enc, MAX_FRAME_BYTES);
                assert_eq!(back.as_ref(), Ok(&req), "{enc:?} {req:?}");
            }
        }
    }
}

#[test]
fn request_serde_impls_agree_with_the_codec() {
    for body in samples::requests() {
        let req = Request::with_rid(body, proto::Rid::Int(1));
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), req);
        let packed = rmp_serde::to_vec_named(&req).unwrap();
        assert_eq!(rmp_serde::from_slice::<Request>(&packed).unwrap(), req);
    }
}

#[test]
fn every_server_message() {
    for msg in samples::server_messages() {
        for enc in BOTH {
            let bytes = encode_server(&msg, enc).unwrap();
            assert_eq!(
                decode_server(&bytes, enc, MAX_FRAME_BYTES).as_ref(),
                Ok(&msg),
                "{enc:?}"
            );
        }
    }
}

#[test]
fn every_event_through_the_event_codec() {
    for env in samples::envelopes() {
        let bytes = encode_event(&env).unwrap();
        assert_eq!(decode_event(&bytes, MAX_EVENT_BYTES).as_ref(), Ok(&env));
    }
}

fn serde_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let json = serde_json::to_vec(value).unwrap();
    assert_eq!(&serde_json::from_slice::<T>(&json).unwrap(), value, "JSON");
    let packed = rmp_serde::to_vec_named(value).unwrap();
    assert_eq!(
        &rmp_serde::from_slice::<T>(&packed).unwrap(),
        value,
        "MessagePack"
    );
}

#[test]
fn every_event_in_json_too() {
    for env in samples::envelopes() {
        serde_round_trip(&env);
    }
}

#[test]
fn every_game_server_body() {
    serde_round_trip(&samples::register());
    let mut bare = samples::register();
    bare.labels.clear();
    serde_round_trip(&bare);
    serde_round_trip(&samples::registered());
    for hb in samples::heartbeats() {
        serde_round_trip(&hb);
    }
    serde_round_trip(&samples::assignment());
    serde_round_trip(&proto::game_server::Assignment {
        secret_hint: None,
        backfilled: Vec::new(),
        ..samples::assignment()
    });
    serde_round_trip(&samples::assignments());
    serde_round_trip(&proto::AssignmentsReply::default());
    serde_round_trip(&samples::match_result());
    serde_round_trip(&proto::MatchResult {
        stats: None,
        ..samples::match_result()
    });
    serde_round_trip(&samples::http_error());
}

/// `TYPES`, `type_name()` and the serde tags must agree, and the samples must cover them all.
#[test]
fn type_lists_match_serde_tags_and_samples_cover_every_type() {
    let seen: BTreeSet<String> = samples::requests().iter().map(wire_type).collect();
    let listed: BTreeSet<String> = ClientRequest::TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(seen, listed);
    for req in samples::requests() {
        assert_eq!(wire_type(&req), req.type_name());
    }

    let seen: BTreeSet<String> = samples::server_messages().iter().map(wire_type).collect();
    let listed: BTreeSet<String> = ServerMessage::TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(seen, listed);
    for msg in samples::server_messages() {
        assert_eq!(wire_type(&msg), msg.type_name());
    }

    let seen: BTreeSet<String> = samples::events().iter().map(wire_type).collect();
    let listed: BTreeSet<String> = Event::TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(seen, listed);
    for event in samples::events() {
        assert_eq!(wire_type(&event), event.type_name());
    }
}

#[test]
fn replies_expose_their_rid_and_pushes_have_none() {
    for msg in samples::server_messages() {
        let json: Value = serde_json::to_value(&msg).unwrap();
        assert_eq!(msg.rid().is_some(), json.get("rid").is_some(), "{msg:?}");
    }
}
