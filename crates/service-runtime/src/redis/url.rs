//! Parsing of `redis://host:port` and `rediss://host:port` seed URLs.
//!
//! Credentials do not go in the URL (they would end up in logs); they have their own keys.

use fred::types::config::Server;

/// One seed node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub host: String,
    pub port: u16,
    /// `rediss://`: connect with TLS.
    pub tls: bool,
}

impl RedisUrl {
    /// Parses `redis://host:port` / `rediss://host:port` (port defaults to 6379).
    pub fn parse(url: &str) -> Result<Self, String> {
        let expected = "expected redis://host:port or rediss://host:port";
        // What the messages show: never the credentials a mistaken URL may carry.
        let shown = crate::secret::redact_url(url);
        let (tls, rest) = if let Some(rest) = url.strip_prefix("rediss://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("redis://") {
            (false, rest)
        } else {
            return Err(format!("{shown:?} is not a Redis URL ({expected})"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') {
            return Err(format!(
                "{shown:?} carries credentials; set redis.username and redis.password instead"
            ));
        }
        if rest.contains('/') || rest.contains('?') {
            return Err(format!("{shown:?} has a path or query; {expected}"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("{shown:?} has a bad port; {expected}"))?;
                (host, port)
            }
            _ => (rest, 6379),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{shown:?} has no host; {expected}"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
        })
    }

    /// The fred server entry.
    pub fn server(&self) -> Server {
        Server::new(self.host.as_str(), self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::RedisUrl;

    #[test]
    fn parses_seed_urls() {
        assert_eq!(
            RedisUrl::parse("redis://127.0.0.1:7000"),
            Ok(RedisUrl {
                host: "127.0.0.1".into(),
                port: 7000,
                tls: false
            })
        );
        assert_eq!(
            RedisUrl::parse("rediss://cache.example:6380/"),
            Ok(RedisUrl {
                host: "cache.example".into(),
                port: 6380,
                tls: true
            })
        );
        assert_eq!(
            RedisUrl::parse("redis://localhost").map(|u| u.port),
            Ok(6379)
        );
        assert_eq!(
            RedisUrl::parse("redis://[::1]:7000").map(|u| u.host),
            Ok("::1".to_owned())
        );
    }

    #[test]
    fn refuses_what_is_not_a_seed_url() {
        for bad in [
            "nonsense",
            "http://x:1",
            "redis://",
            "redis://h:0",
            "redis://h:99999",
            "redis://u:p@h:1",
            "redis://h:1/0",
        ] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
