//! Secrets in config and the one way to print a URL that may carry credentials, so no
//! secret reaches a log, a `--check-config` line or a panic message.
//!
//! A [`Secret`] reads like the string it holds (it derefs to `str`) but its `Debug` and
//! `Display` show only whether it is set: a config struct that derives `Debug` can be
//! logged whole. [`redact_url`] blanks the user-info part of a URL
//! (`postgres://app:pw@db:5432/x` -> `postgres://***@db:5432/x`); every message that
//! names a Redis or PostgreSQL URL goes through it.

use serde::Deserialize;

/// A secret string from the config: shown as `"<redacted>"` (or `""` when empty).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it (a key, an AUTH command).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Secret {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"<redacted>\"")
        }
    }
}

/// `url` with any user name and password replaced by `***`: safe to log. A string that
/// is not a URL is returned with anything before an `@` blanked all the same.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    // The authority ends at the first '/', '?' or '#'; credentials end at its last '@'.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_itself() {
        let secret = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{secret:?}"), "\"<redacted>\"");
        assert_eq!(format!("{secret}"), "\"<redacted>\"");
        assert_eq!(secret.expose(), "hunter2-very-secret");
        assert_eq!(secret.len(), 19);
        assert_eq!(format!("{:?}", Secret::default()), "\"\"");
        let parsed: Secret = serde_json::from_str("\"abc\"").expect("deserializes");
        assert_eq!(&*parsed, "abc");
    }

    #[test]
    fn urls_lose_their_credentials() {
        for (url, safe) in [
            (
                "postgres://app:pw@db.internal:5432/rp?sslmode=require",
                "postgres://***@db.internal:5432/rp?sslmode=require",
            ),
            ("redis://:token@10.0.0.1:6379", "redis://***@10.0.0.1:6379"),
            ("rediss://user:p@ss@host:6379/", "rediss://***@host:6379/"),
            ("redis://127.0.0.1:7000", "redis://127.0.0.1:7000"),
            ("user:pw@host", "***@host"),
            ("nonsense", "nonsense"),
            ("", ""),
        ] {
            assert_eq!(redact_url(url), safe, "{url}");
        }
    }
}
