//! The protocol as one machine-readable JSON Schema (`proto/schema/protocol.json`), made
//! from the wire types themselves so it cannot drift from them.
//!
//! Other languages' SDKs take their message types from this file (the TypeScript SDK
//! generates `sdk/typescript/src/protocol.ts` from it), and `proto/tests/schema.rs` fails
//! when the committed file is not what the types produce: a field added in Rust reaches the
//! other SDKs through a regenerated file, or a test fails.
//!
//! The schema describes what goes on the wire as JSON (MessagePack carries the same
//! shapes). An optional field is one that may be absent; it is never `null`.

use schemars::Schema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::client::ClientRequest;
use crate::codes::{CloseCode, ErrorCode};
use crate::game_server::{
    AssignmentsReply, BackfillAccepted, BackfillRequest, Heartbeat, HttpError, MatchResult,
    RegisterServer, Registered,
};
use crate::server::ServerMessage;

/// The schema, as the JSON value written to `proto/schema/protocol.json`.
///
/// Its `properties` name the top-level messages (one per direction and HTTP body); every
/// type they use is under `definitions`.
pub fn protocol_schema() -> Value {
    let mut generator = SchemaSettings::draft07().for_serialize().into_generator();
    let mut roots = Map::new();
    let mut root = |name: &str, schema: Schema| {
        roots.insert(name.to_owned(), schema.to_value());
    };
    root("ClientRequest", generator.subschema_for::<ClientRequest>());
    root("ServerMessage", generator.subschema_for::<ServerMessage>());
    root("ErrorCode", generator.subschema_for::<ErrorCode>());
    root(
        "RegisterServer",
        generator.subschema_for::<RegisterServer>(),
    );
    root("Registered", generator.subschema_for::<Registered>());
    root("Heartbeat", generator.subschema_for::<Heartbeat>());
    root(
        "AssignmentsReply",
        generator.subschema_for::<AssignmentsReply>(),
    );
    root(
        "BackfillRequest",
        generator.subschema_for::<BackfillRequest>(),
    );
    root(
        "BackfillAccepted",
        generator.subschema_for::<BackfillAccepted>(),
    );
    root("MatchResult", generator.subschema_for::<MatchResult>());
    root("HttpError", generator.subschema_for::<HttpError>());
    let mut definitions = generator.take_definitions(true);
    definitions.insert("CloseCode".to_owned(), close_codes());
    roots.insert(
        "CloseCode".to_owned(),
        json!({"$ref": "#/definitions/CloseCode"}),
    );

    let mut schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "RallypointProtocol",
        "description": "Rallypoint's wire protocol (proto/PROTOCOL.md), generated from the Rust `proto` crate: do not edit; run `make schema`.",
        "type": "object",
        "properties": Value::Object(roots),
        "definitions": Value::Object(definitions),
    });
    drop_null_from_optional(&mut schema);
    schema
}

/// The WebSocket close codes, each with its name and meaning.
fn close_codes() -> Value {
    let variants: Vec<Value> = CloseCode::ALL
        .into_iter()
        .map(|code| {
            json!({
                "const": code.code(),
                "title": format!("{code:?}"),
                "description": code.reason(),
            })
        })
        .collect();
    json!({
        "description": "WebSocket close codes the gateway sends (PROTOCOL.md section 1).",
        "oneOf": variants,
    })
}

/// Optional fields are absent rather than `null` on the wire (`skip_serializing_if`):
/// removes the `null` schemars adds to an optional `Option` field's type, so SDKs type
/// them `x?: T`. A required field keeps its `null` (it is sent as `null`).
fn drop_null_from_optional(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let required: Vec<Value> = match map.get("required") {
                Some(Value::Array(names)) => names.clone(),
                _ => Vec::new(),
            };
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for (name, property) in properties.iter_mut() {
                    if !required.iter().any(|r| r == name.as_str()) {
                        strip_null(property);
                    }
                }
            }
            for child in map.values_mut() {
                drop_null_from_optional(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_from_optional),
        _ => {}
    }
}

fn strip_null(property: &mut Value) {
    let Value::Object(map) = property else { return };
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            map.insert("type".to_owned(), only);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = map.get_mut(key) {
            options.retain(|o| o.get("type") != Some(&Value::from("null")));
            if let [only] = options.as_slice() {
                let only = only.clone();
                map.remove(key);
                if let Value::Object(inner) = only {
                    map.extend(inner);
                }
            }
        }
    }
}
