//! The request id a client may attach to a request, echoed back in the reply.
//!
//! Its own type (not a bare JSON value) so a hostile client cannot make the gateway hold or
//! echo arbitrary structures: it is an `i64` or a short string, nothing else.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest string `rid` accepted, in bytes.
pub const MAX_RID_LEN: usize = 64;

/// A client-chosen request id: an integer or a string of at most [`MAX_RID_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rid {
    /// An integer rid (JSON number without fraction, MessagePack int).
    Int(i64),
    /// A string rid.
    Str(String),
}

impl From<i64> for Rid {
    fn from(v: i64) -> Self {
        Rid::Int(v)
    }
}

impl fmt::Display for Rid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rid::Int(v) => write!(f, "{v}"),
            Rid::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// An integer or a short string.
impl schemars::JsonSchema for Rid {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rid".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "a request id: an integer, or a string of at most 64 bytes",
            "type": ["integer", "string"],
        })
    }
}

impl Serialize for Rid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rid::Int(v) => s.serialize_i64(*v),
            Rid::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for Rid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RidVisitor)
    }
}

struct RidVisitor;

impl Visitor<'_> for RidVisitor {
    type Value = Rid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer or a string of at most {MAX_RID_LEN} bytes")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rid, E> {
        Ok(Rid::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rid, E> {
        i64::try_from(v)
            .map(Rid::Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Rid, E> {
        if v.len() > MAX_RID_LEN {
            return Err(E::invalid_length(v.len(), &self));
        }
        Ok(Rid::Str(v.to_owned()))
    }
}
