//! The shared test stack that `make test` starts (deploy/local/test-stack.sh), and
//! unique namespaces so tests never see each other's keys.

/// Seed URLs of the shared test cluster, from `RALLYPOINT_REDIS__URLS`.
///
/// # Panics
/// When the variable is not set: these tests need a real cluster. Run them with
/// `make test`, which starts one.
pub fn redis_urls() -> Vec<String> {
    match std::env::var("RALLYPOINT_REDIS__URLS") {
        Ok(urls) if !urls.trim().is_empty() => urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => panic!(
            "RALLYPOINT_REDIS__URLS is not set: run the tests with `make test` (it starts a local Redis Cluster), \
             or start one with `deploy/local/redis-cluster.sh start` and export the URLs it prints"
        ),
    }
}

/// The shared test database, from `DATABASE_URL`.
///
/// # Panics
/// When the variable is not set; run the tests with `make test`.
pub fn database_url() -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "DATABASE_URL is not set: run the tests with `make test` (it starts a private PostgreSQL), \
             or start one with `deploy/local/postgres.sh start` and export the URL it prints"
        ),
    }
}

/// A namespace no other test uses: `t-<what>-<random>` (at most 32 characters).
pub fn unique_namespace(what: &str) -> String {
    let what: String = what
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(12)
        .collect();
    format!(
        "t-{what}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}
