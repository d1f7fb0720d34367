//! Rallypoint's PostgreSQL access: the connection pool everything durable goes through.
//!
//! PostgreSQL is the system of record (players, ratings, match history, game data).
//! Production points `DATABASE_URL` at RDS; locally and in tests the private server that
//! `deploy/local/postgres.sh` starts serves. Queries are runtime-checked (`sqlx::query`),
//! so building never needs a database. The schema and its migrations arrive with the
//! data issue.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

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
    #[error("query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// Opens a pool of at most `max_connections` to `url`, failing after `connect_timeout`.
pub async fn connect(
    url: &str,
    max_connections: u32,
    connect_timeout: Duration,
) -> Result<PgPool, DbError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(DbError::BadUrl("the scheme must be postgres://".to_owned()));
    }
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| DbError::BadUrl(e.to_string()))?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(connect_timeout)
        .connect_with(options.application_name("rallypoint"))
        .await
        .map_err(DbError::Unreachable)
}

/// The server's version string; a cheap "is it there" check for readiness.
pub async fn server_version(pool: &PgPool) -> Result<String, DbError> {
    Ok(sqlx::query_scalar::<_, String>("SELECT version()")
        .fetch_one(pool)
        .await?)
}
