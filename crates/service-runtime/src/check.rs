//! The checks every config section shares: the error that names its key, positive
//! numbers, and lists that an environment variable gives as one comma-separated string.
//! A leaf module, so both [`crate::config`] and the sections defined beside the code they
//! configure (`[redis]` in [`crate::redis`]) use it without depending on each other.

/// A configuration problem, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config: {key}: {message}")]
pub struct ConfigError {
    /// The dotted key (`redis.urls`); its environment variable is
    /// `RALLYPOINT_` + the key upper-cased with `.` replaced by `__`.
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Fails with a message naming `key` when `value` is zero.
pub fn positive(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(key, "must be greater than 0"));
    }
    Ok(())
}

/// Accepts a list, or a comma-separated string (as environment variables give).
pub fn string_or_list<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list of strings or a comma-separated string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_any(Visitor)
}
