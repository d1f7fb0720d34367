//! The cache-warmer's PostgreSQL: the pool, and what its health means for readiness.
//!
//! The database being down does not make the instance unready (replacing it would not
//! bring PostgreSQL back, and the rest of the platform keeps matching players whose
//! profiles are cached): it marks the instance degraded with the reason, logs the
//! transition once, and every caller retries its work later. Results wait in Redis.

use std::time::Duration;

use persistence::DbError;
use service_runtime::readiness::Readiness;
use sqlx::PgPool;

use crate::config::DatabaseSection;

/// The pool and the readiness it reports into. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Database {
    pub pool: PgPool,
    readiness: Readiness,
}

impl Database {
    /// A lazy pool: it connects on first use, so the service starts (and serves what it
    /// can) while PostgreSQL is still down.
    pub fn new(config: &DatabaseSection, readiness: Readiness) -> Result<Self, DbError> {
        let pool = persistence::connect_lazy(
            &config.url,
            config.max_connections,
            Duration::from_millis(config.connect_timeout_ms),
        )?;
        Ok(Self { pool, readiness })
    }

    /// Why PostgreSQL was last seen unavailable, if it was (what the last call through
    /// [`Database::observe`] found; no query).
    pub fn last_seen_down(&self) -> Option<String> {
        self.readiness.degraded().remove("database")
    }

    /// Records the outcome of a database call: a failure marks the instance degraded, a
    /// success clears it. Returns the result unchanged.
    pub fn observe<T>(&self, result: Result<T, DbError>) -> Result<T, DbError> {
        match &result {
            Ok(_) => {
                if self.readiness.set_degraded("database", None) {
                    tracing::info!("PostgreSQL answers again; pending work resumes");
                }
            }
            // The database answered: it is up, the data was wrong.
            Err(err) if err.is_data_error() => {
                metrics::counter!("rallypoint_database_errors_total", "kind" => "data")
                    .increment(1);
            }
            Err(err) => {
                metrics::counter!("rallypoint_database_errors_total", "kind" => "unavailable")
                    .increment(1);
                let reason = format!("PostgreSQL unavailable: {err}; results wait in Redis");
                if self.readiness.set_degraded("database", Some(reason)) {
                    tracing::warn!(error = %err, "PostgreSQL unavailable: results stay in the Redis outbox and profiles are served from the cache until it is back");
                }
            }
        }
        result
    }
}
