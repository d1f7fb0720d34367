//! Decode and encode errors, and how a decode failure maps onto a protocol error code.
//!
//! Messages may quote client input, so every string taken from input is clipped: an error reply
//! must never echo a 64 KiB frame back.

use std::fmt::Display;

use crate::codes::ErrorCode;
use crate::rid::Rid;
use crate::server::ServerMessage;

/// Longest piece of client input quoted in an error message, in bytes.
const MAX_QUOTED: usize = 160;

/// Why bytes could not be decoded into a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is longer than the limit the caller set.
    #[error("message is {len} bytes, at most {max} allowed")]
    TooLarge {
        /// Input length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not valid JSON / MessagePack (or trailing bytes after the message).
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Valid JSON / MessagePack, but not an object.
    #[error("a message must be an object")]
    NotAnObject,
    /// An object without a `type` field.
    #[error("the message has no `type` field")]
    MissingType,
    /// A `type` this side does not know.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A field is missing, has the wrong type or an invalid value (e.g. an invalid id).
    #[error("{}", bad_field_message(.field.as_deref(), .reason))]
    BadField {
        /// The field, when known.
        field: Option<String>,
        /// What is wrong with it.
        reason: String,
    },
    /// A `body` is over [`crate::MAX_BODY_BYTES`].
    #[error("{}", crate::body::BodyTooLarge)]
    BodyTooLarge,
    /// An event envelope of a version this build does not speak.
    #[error("unsupported event envelope version {0}")]
    UnsupportedVersion(u64),
}

fn bad_field_message(field: Option<&str>, reason: &str) -> String {
    match field {
        Some(field) => format!("field `{field}`: {reason}"),
        None => format!("bad field: {reason}"),
    }
}

impl DecodeError {
    /// The protocol error code to answer with.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } | DecodeError::BodyTooLarge => ErrorCode::TooLarge,
            DecodeError::UnknownType(_) => ErrorCode::UnknownType,
            DecodeError::Malformed(_)
            | DecodeError::NotAnObject
            | DecodeError::MissingType
            | DecodeError::BadField { .. }
            | DecodeError::UnsupportedVersion(_) => ErrorCode::BadRequest,
        }
    }

    pub(crate) fn malformed(err: impl Display) -> Self {
        DecodeError::Malformed(clip(err.to_string()))
    }

    pub(crate) fn unknown_type(ty: &str) -> Self {
        DecodeError::UnknownType(clip(ty.to_owned()))
    }

    pub(crate) fn bad_field(field: &str, reason: impl Display) -> Self {
        DecodeError::BadField {
            field: Some(field.to_owned()),
            reason: clip(reason.to_string()),
        }
    }

    pub(crate) fn missing(field: &str) -> Self {
        Self::bad_field(field, "missing")
    }

    /// A serde error about a whole message; names the field when serde's message does.
    pub(crate) fn from_serde(err: impl Display) -> Self {
        let reason = err.to_string();
        let field = reason
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field.to_owned());
        DecodeError::BadField {
            field,
            reason: clip(reason),
        }
    }
}

/// Cuts `s` to at most [`MAX_QUOTED`] bytes on a char boundary.
fn clip(mut s: String) -> String {
    if s.len() > MAX_QUOTED {
        let mut end = MAX_QUOTED;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// A request that could not be decoded, with its `rid` when one could still be read, so the
/// `error` reply can echo it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct RequestError {
    /// The request's `rid`, if the input was an object with a valid `rid`.
    pub rid: Option<Rid>,
    /// What was wrong.
    pub error: DecodeError,
}

impl RequestError {
    /// The protocol error code to answer with.
    pub fn error_code(&self) -> ErrorCode {
        self.error.error_code()
    }

    /// The `error` push answering this failure (the connection stays open).
    pub fn reply(&self) -> ServerMessage {
        ServerMessage::Error {
            code: self.error_code(),
            message: self.error.to_string(),
            rid: self.rid.clone(),
        }
    }
}

impl From<DecodeError> for RequestError {
    fn from(error: DecodeError) -> Self {
        RequestError { rid: None, error }
    }
}

/// A message could not be encoded. Not expected with this crate's types; kept as an error
/// rather than a panic because the encoders are fallible by signature.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// JSON encoding failed.
    #[error("JSON encoding failed: {0}")]
    Json(#[from] serde_json::Error),
    /// MessagePack encoding failed.
    #[error("MessagePack encoding failed: {0}")]
    MsgPack(#[from] rmp_serde::encode::Error),
}
