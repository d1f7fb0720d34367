//! Rallypoint's PostgreSQL access: the connection pool everything durable goes through.
//!
//! PostgreSQL is the system of record (players, ratings, match history, game data).
//! Production points `DATABASE_URL` at RDS; locally and in tests the private server that
//! `deploy/local/postgres.sh` starts serves. Queries are runtime-checked (`sqlx::query`),
//! so building never needs a database; the store tests run every query against the real
//! server.
//!
//! - [`migrations`](MIGRATOR): the schema, embedded at build time, applied by [`migrate`]
//!   (the cache-warmer at start; `rallypoint-cache-warmer migrate` for operators).
//! - [`players`]: profiles and their creation at the default rating.
//! - [`blocks`]: who each player blocked, applied from the gateway's outbox.
//! - [`results`]: a match result, its participants and the new ratings in one idempotent
//!   transaction.
//! - [`elo`]: the rating arithmetic (pure).
//! - [`game_data`]: static game data documents and their versions.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod blocks;
pub mod elo;
pub mod game_data;
pub mod players;
pub mod results;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL is not a PostgreSQL URL (postgres://user@host:port/db): {0}")]
    BadUrl(String),
    #[error("cannot reach PostgreSQL: {0}")]
    Unreachable(sqlx::Error),
    #[error("migrating the schema failed: {0}")]
    Migration(String),
    #[error("query failed: {0}")]
    Query(#[from] sqlx::Error),
}

fn options(
    url: &str,
    max_connections: u32,
    connect_timeout: Duration,
) -> Result<(PgPoolOptions, PgConnectOptions), DbError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(DbError::BadUrl("the scheme must be postgres://".to_owned()));
    }
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| DbError::BadUrl(e.to_string()))?;
    Ok((
        PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(connect_timeout),
        options.application_name("rallypoint"),
    ))
}

/// A pool that connects on first use: a service can start while PostgreSQL is down.
pub fn connect_lazy(
    url: &str,
    max_connections: u32,
    connect_timeout: Duration,
) -> Result<PgPool, DbError> {
    let (pool, options) = options(url, max_connections, connect_timeout)?;
    Ok(pool.connect_lazy_with(options))
}

/// Opens a pool of at most `max_connections` to `url`, failing after `connect_timeout`.
pub async fn connect(
    url: &str,
    max_connections: u32,
    connect_timeout: Duration,
) -> Result<PgPool, DbError> {
    let (pool, options) = options(url, max_connections, connect_timeout)?;
    pool.connect_with(options)
        .await
        .map_err(DbError::Unreachable)
}

/// The server's version string; a cheap "is it there" check for readiness.
pub async fn server_version(pool: &PgPool) -> Result<String, DbError> {
    Ok(sqlx::query_scalar::<_, String>("SELECT version()")
        .fetch_one(pool)
        .await?)
}

impl DbError {
    /// A failure of the data itself (SQLSTATE class 22, data exception, or 23, integrity
    /// violation): retrying the same statement fails the same way, while the database is
    /// fine. Anything else (connection, timeouts, read-only after a failover) may pass on
    /// a retry.
    pub fn is_data_error(&self) -> bool {
        let DbError::Query(sqlx::Error::Database(db)) = self else {
            return false;
        };
        db.code()
            .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
    }
}

/// The schema's migrations (`crates/persistence/migrations`), embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Brings the schema up to date. Safe to run from several processes at once (PostgreSQL's
/// advisory lock serialises them) and again on an up-to-date database (a no-op).
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(e) => DbError::Query(e),
        other => DbError::Migration(other.to_string()),
    })
}
