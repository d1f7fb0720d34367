//! `proto/schema/protocol.json` is what the wire types produce, and it describes the
//! messages they really send: every sample's fields are properties of its variant, and
//! every required property is in the sample.

use std::path::PathBuf;

use serde_json::Value;

use super::samples;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schema/protocol.json")
}

fn rendered() -> String {
    let mut text = serde_json::to_string_pretty(&proto::schema::protocol_schema()).unwrap();
    text.push('\n');
    text
}

/// The committed schema matches the Rust types. `RALLYPOINT_SCHEMA_WRITE=1` (what
/// `make schema` sets) rewrites it instead; the TypeScript SDK's types are generated from it.
#[test]
fn the_committed_schema_is_what_the_types_produce() {
    let path = committed_path();
    let fresh = rendered();
    if std::env::var_os("RALLYPOINT_SCHEMA_WRITE").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is not what the proto types produce: a wire type changed. Run `make schema` \
         (it rewrites the schema and the TypeScript SDK's generated types) and commit both.",
        path.display()
    );
}

fn definitions(schema: &Value) -> &serde_json::Map<String, Value> {
    schema["definitions"].as_object().unwrap()
}

/// Follows a `$ref` into `definitions`.
fn resolve<'a>(schema: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/definitions/");
            &definitions(schema)[name]
        }
        None => node,
    }
}

/// The variant of a `type`-tagged union whose `type` is `tag`.
fn variant<'a>(schema: &'a Value, union: &'a Value, tag: &str) -> &'a Value {
    let union = resolve(schema, union);
    union["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| resolve(schema, v))
        .find(|v| v["properties"]["type"]["const"] == tag)
        .unwrap_or_else(|| panic!("the schema has no variant for type {tag}"))
}

/// Checks one encoded message against its object schema; returns what is wrong.
fn mismatches(object: &Value, message: &Value) -> Vec<String> {
    let properties = object["properties"].as_object().unwrap();
    let required: Vec<&str> = object["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields = message.as_object().unwrap();
    let mut wrong = Vec::new();
    for name in fields.keys() {
        if !properties.contains_key(name) {
            wrong.push(format!("field {name} is not in the schema"));
        }
    }
    for name in required {
        if !fields.contains_key(name) {
            wrong.push(format!("required field {name} is missing"));
        }
    }
    wrong
}

#[test]
fn every_sample_message_fits_its_variant_in_the_schema() {
    let schema = proto::schema::protocol_schema();
    let roots = &schema["properties"];
    let mut checked = 0;
    for request in samples::requests() {
        let json = serde_json::to_value(&request).unwrap();
        let tag = json["type"].as_str().unwrap().to_owned();
        let wrong = mismatches(variant(&schema, &roots["ClientRequest"], &tag), &json);
        assert!(wrong.is_empty(), "request {tag}: {wrong:?}");
        checked += 1;
    }
    for message in samples::server_messages() {
        let json = serde_json::to_value(&message).unwrap();
        let tag = json["type"].as_str().unwrap().to_owned();
        let wrong = mismatches(variant(&schema, &roots["ServerMessage"], &tag), &json);
        assert!(wrong.is_empty(), "server message {tag}: {wrong:?}");
        checked += 1;
    }
    let bodies = [
        (
            "RegisterServer",
            serde_json::to_value(samples::register()).unwrap(),
        ),
        (
            "Registered",
            serde_json::to_value(samples::registered()).unwrap(),
        ),
    ];
    for (root, json) in bodies {
        let wrong = mismatches(resolve(&schema, &roots[root]), &json);
        assert!(wrong.is_empty(), "{root}: {wrong:?}");
        checked += 1;
    }
    assert!(checked > 60, "only {checked} samples checked");
}

#[test]
fn optional_fields_are_never_null_and_close_codes_are_listed() {
    let schema = proto::schema::protocol_schema();
    let since = &variant(&schema, &schema["properties"]["ClientRequest"], "room.join")["properties"]
        ["since"];
    assert_eq!(
        since["type"], "integer",
        "an optional field keeps its type without null: {since}"
    );
    let codes: Vec<u64> = definitions(&schema)["CloseCode"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["const"].as_u64())
        .collect();
    let expected: Vec<u64> = proto::CloseCode::ALL
        .iter()
        .map(|c| u64::from(c.code()))
        .collect();
    assert_eq!(codes, expected);
}
