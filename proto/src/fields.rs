//! Reading typed fields out of a decoded message map, naming the field when one is wrong.
//!
//! Client requests are decoded through this rather than serde's derived enum so that every
//! error says which field failed and an unknown `type` is told apart from a malformed one.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::body::Body;
use crate::error::DecodeError;

/// The fields of one message; each is moved out as it is read, so nothing is cloned.
pub(crate) struct Fields(Map<String, Value>);

impl Fields {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        Fields(map)
    }

    /// The `type` tag.
    pub(crate) fn type_tag(&mut self) -> Result<String, DecodeError> {
        match self.0.remove("type") {
            None => Err(DecodeError::MissingType),
            Some(Value::String(ty)) => Ok(ty),
            Some(_) => Err(DecodeError::bad_field("type", "expected a string")),
        }
    }

    /// A required field.
    pub(crate) fn take<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, DecodeError> {
        let value = self
            .0
            .remove(name)
            .ok_or_else(|| DecodeError::missing(name))?;
        T::deserialize(value).map_err(|e| DecodeError::bad_field(name, e))
    }

    /// An optional field; `null` counts as absent.
    pub(crate) fn take_opt<T: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<Option<T>, DecodeError> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => T::deserialize(value)
                .map(Some)
                .map_err(|e| DecodeError::bad_field(name, e)),
        }
    }

    /// A required free-form body, size-checked.
    pub(crate) fn body(&mut self, name: &str) -> Result<Body, DecodeError> {
        let value = self
            .0
            .remove(name)
            .ok_or_else(|| DecodeError::missing(name))?;
        Body::new(value).map_err(|_| DecodeError::BodyTooLarge)
    }
}
