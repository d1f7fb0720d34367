//! Keys of one kind of static game data, all in the slot `{data:<kind>}`.
//!
//! A warm-up writes the documents and bumps the version in one step, so a reader that
//! sees version N sees all of N's documents.

/// Keys of one data kind. Built by [`crate::Keys::data`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKeys {
    prefix: String,
}

impl DataKeys {
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    /// Hash: document id -> JSON document.
    pub fn documents(&self) -> String {
        format!("{}:docs", self.prefix)
    }

    /// String: the version of the documents now in Redis.
    pub fn version(&self) -> String {
        format!("{}:version", self.prefix)
    }

    /// String: lease of the cache-warmer instance warming this kind.
    pub fn warm_lease(&self) -> String {
        format!("{}:lease:warm", self.prefix)
    }
}
