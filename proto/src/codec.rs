//! Turning messages into frames and back: JSON or MessagePack (named fields), with size limits.
//!
//! Every decoder checks the input length before parsing and never panics, whatever the bytes.
//! Client requests are parsed once into a generic value and then read field by field (see
//! [`crate::client`]); server messages and events, which come from our own services, are
//! decoded straight into their types and only re-parsed to explain a failure.

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::client::Request;
use crate::error::{DecodeError, EncodeError, RequestError};
use crate::events::{EVENT_VERSION, Event, EventEnvelope};
use crate::server::ServerMessage;

/// Default largest frame a gateway accepts from a client.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Default largest event accepted from pub/sub (a `cache_invalidate` may list many players).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Nesting limit for MessagePack input, the same as serde_json's built-in limit for JSON, so
/// hostile input cannot recurse deep.
const MAX_DEPTH: usize = 128;

/// A connection's wire format, chosen by the `Sec-WebSocket-Protocol` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// `rallypoint.v1.json`: text frames, JSON. The default.
    #[default]
    Json,
    /// `rallypoint.v1.msgpack`: binary frames, MessagePack maps with the same field names.
    MsgPack,
}

impl Encoding {
    /// Subprotocol name for JSON.
    pub const JSON_SUBPROTOCOL: &'static str = "rallypoint.v1.json";
    /// Subprotocol name for MessagePack.
    pub const MSGPACK_SUBPROTOCOL: &'static str = "rallypoint.v1.msgpack";

    /// The encoding for one subprotocol name: JSON when none is named, `None` when unknown.
    pub fn from_subprotocol(name: Option<&str>) -> Option<Self> {
        match name.map(str::trim) {
            None => Some(Encoding::Json),
            Some(Self::JSON_SUBPROTOCOL) => Some(Encoding::Json),
            Some(Self::MSGPACK_SUBPROTOCOL) => Some(Encoding::MsgPack),
            Some(_) => None,
        }
    }

    /// Picks from a raw `Sec-WebSocket-Protocol` header (a comma-separated list, client's
    /// preference first): the first name we speak wins; no (or an empty) header means JSON; a header naming
    /// only protocols we do not speak gives `None` (the gateway decides whether to refuse).
    pub fn negotiate(header: Option<&str>) -> Option<Self> {
        let mut names = header
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .peekable();
        if names.peek().is_none() {
            return Some(Encoding::Json);
        }
        names.find_map(|name| Self::from_subprotocol(Some(name)))
    }

    /// The subprotocol name to answer with.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Encoding::Json => Self::JSON_SUBPROTOCOL,
            Encoding::MsgPack => Self::MSGPACK_SUBPROTOCOL,
        }
    }

    /// Whether frames are binary (MessagePack) rather than text (JSON).
    pub fn is_binary(self) -> bool {
        matches!(self, Encoding::MsgPack)
    }
}

/// Decodes a client request of at most `max_len` bytes (usually [`MAX_FRAME_BYTES`]).
///
/// On failure the error carries the request's `rid` when it could still be read.
pub fn decode_request(
    bytes: &[u8],
    enc: Encoding,
    max_len: usize,
) -> Result<Request, RequestError> {
    check_len(bytes, max_len)?;
    Request::from_value(parse_value(bytes, enc)?)
}

/// Encodes a client request (for SDKs and tests).
pub fn encode_request(req: &Request, enc: Encoding) -> Result<Bytes, EncodeError> {
    encode(req, enc)
}

/// Encodes a server message for a connection.
pub fn encode_server(msg: &ServerMessage, enc: Encoding) -> Result<Bytes, EncodeError> {
    encode(msg, enc)
}

/// Decodes a server message of at most `max_len` bytes (for SDKs and tests).
pub fn decode_server(
    bytes: &[u8],
    enc: Encoding,
    max_len: usize,
) -> Result<ServerMessage, DecodeError> {
    check_len(bytes, max_len)?;
    typed(bytes, enc).map_err(|reason| {
        explain(bytes, enc, reason, |map| {
            tag_error(map, &ServerMessage::TYPES)
        })
    })
}

/// Encodes an event envelope as MessagePack with named fields.
pub fn encode_event(env: &EventEnvelope) -> Result<Bytes, EncodeError> {
    encode(env, Encoding::MsgPack)
}

/// Decodes an event envelope of at most `max_len` bytes (usually [`MAX_EVENT_BYTES`]).
pub fn decode_event(bytes: &[u8], max_len: usize) -> Result<EventEnvelope, DecodeError> {
    check_len(bytes, max_len)?;
    let env: EventEnvelope = typed(bytes, Encoding::MsgPack)
        .map_err(|reason| explain(bytes, Encoding::MsgPack, reason, explain_envelope))?;
    if env.v != EVENT_VERSION {
        return Err(DecodeError::UnsupportedVersion(env.v.into()));
    }
    Ok(env)
}

fn check_len(bytes: &[u8], max: usize) -> Result<(), DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

fn encode<T: Serialize>(value: &T, enc: Encoding) -> Result<Bytes, EncodeError> {
    Ok(Bytes::from(match enc {
        Encoding::Json => serde_json::to_vec(value)?,
        Encoding::MsgPack => rmp_serde::to_vec_named(value)?,
    }))
}

/// Decodes `bytes` straight into `T`; the error is only a reason string, explained later.
fn typed<T: DeserializeOwned>(bytes: &[u8], enc: Encoding) -> Result<T, String> {
    match enc {
        Encoding::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        Encoding::MsgPack => from_msgpack(bytes),
    }
}

/// MessagePack into `T` with a depth limit, refusing trailing bytes as JSON does.
fn from_msgpack<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut de = rmp_serde::Deserializer::new(bytes);
    de.set_max_depth(MAX_DEPTH);
    let value = T::deserialize(&mut de).map_err(|e| e.to_string())?;
    if !de.get_ref().is_empty() {
        return Err("trailing bytes after the message".to_owned());
    }
    Ok(value)
}

/// Parses into a generic value; failure means the input is not JSON / MessagePack at all
/// (or uses MessagePack features JSON has no equivalent for, like binary or integer keys).
fn parse_value(bytes: &[u8], enc: Encoding) -> Result<Value, DecodeError> {
    match enc {
        Encoding::Json => serde_json::from_slice(bytes).map_err(DecodeError::malformed),
        Encoding::MsgPack => from_msgpack(bytes).map_err(DecodeError::malformed),
    }
}

/// Explains why a typed decode failed: re-parses generically and lets `check` find a tag or
/// version problem; otherwise it was a field problem described by serde's `reason`.
fn explain(
    bytes: &[u8],
    enc: Encoding,
    reason: String,
    check: impl FnOnce(&Map<String, Value>) -> Option<DecodeError>,
) -> DecodeError {
    match parse_value(bytes, enc) {
        Err(malformed) => malformed,
        Ok(Value::Object(map)) => check(&map).unwrap_or_else(|| DecodeError::from_serde(reason)),
        Ok(_) => DecodeError::NotAnObject,
    }
}

/// A problem with the `type` tag of `map`, if any.
fn tag_error(map: &Map<String, Value>, known: &[&str]) -> Option<DecodeError> {
    match map.get("type") {
        None => Some(DecodeError::MissingType),
        Some(Value::String(ty)) if known.contains(&ty.as_str()) => None,
        Some(Value::String(ty)) => Some(DecodeError::unknown_type(ty)),
        Some(_) => Some(DecodeError::bad_field("type", "expected a string")),
    }
}

fn explain_envelope(map: &Map<String, Value>) -> Option<DecodeError> {
    if let Some(v) = map.get("v").and_then(Value::as_u64)
        && v != u64::from(EVENT_VERSION)
    {
        return Some(DecodeError::UnsupportedVersion(v));
    }
    match map.get("event") {
        Some(Value::Object(event)) => tag_error(event, &Event::TYPES),
        Some(_) => Some(DecodeError::bad_field("event", "expected an object")),
        None => None,
    }
}
