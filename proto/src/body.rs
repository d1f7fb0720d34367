//! Free-form message payloads (`room.send`, `whisper`): any JSON value, at most 4 KiB.
//!
//! The limit is on the JSON encoding whatever the connection's encoding, so a message costs the
//! same to fan out to JSON and MessagePack members alike.

use std::io;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Largest body accepted, in bytes of its JSON encoding.
pub const MAX_BODY_BYTES: usize = 4096;

/// A JSON value whose JSON encoding is at most [`MAX_BODY_BYTES`] long.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Body(Value);

/// The body's JSON encoding is longer than [`MAX_BODY_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("body is larger than {MAX_BODY_BYTES} bytes encoded as JSON")]
pub struct BodyTooLarge;

impl Body {
    /// Wraps `value` if it is small enough.
    pub fn new(value: Value) -> Result<Self, BodyTooLarge> {
        if fits(&value) {
            Ok(Self(value))
        } else {
            Err(BodyTooLarge)
        }
    }

    /// The payload.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// The payload, owned.
    pub fn into_value(self) -> Value {
        self.0
    }
}

impl TryFrom<Value> for Body {
    type Error = BodyTooLarge;
    fn try_from(value: Value) -> Result<Self, BodyTooLarge> {
        Self::new(value)
    }
}

/// Counts encoded bytes and fails as soon as the limit is passed, so measuring a huge value
/// stops early and allocates nothing.
struct Meter {
    written: usize,
}

impl io::Write for Meter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written = self.written.saturating_add(buf.len());
        if self.written > MAX_BODY_BYTES {
            return Err(io::Error::other("body limit passed"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn fits(value: &Value) -> bool {
    serde_json::to_writer(Meter { written: 0 }, value).is_ok()
}

/// Any JSON value (its size is checked, not its shape).
impl schemars::JsonSchema for Body {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Body".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "any JSON value, at most 4096 bytes encoded as JSON",
        })
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Body::new(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
