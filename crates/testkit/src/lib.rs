//! Test helpers: where the shared test cluster and database are, unique namespaces so
//! tests run side by side on one cluster, and private Redis Clusters for tests that
//! break things (failover, migration, stopping the cluster).
//!
//! # Layout
//! - [`shared`]: the cluster and database `make test` started (`RALLYPOINT_REDIS__URLS`,
//!   `DATABASE_URL`), and unique namespaces.
//! - [`cluster`]: [`PrivateCluster`], a throw-away Redis Cluster of `redis-server`
//!   processes on free loopback ports, killed when dropped.
//! - [`postgres`]: [`PrivatePostgres`], a PostgreSQL of a test's own that it may stop.
//! - [`service`]: a service's settings as environment variables, and the real binary as a
//!   child process.
//! - [`wait`]: waiting for a condition with a deadline (never a bare sleep).
//! - [`http`]: one JSON call to an HTTP API, as the API tests make them.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod cluster;
pub mod http;
pub mod ports;
pub mod postgres;
pub mod service;
pub mod shared;
pub mod wait;

pub use cluster::{PrivateCluster, StandaloneRedis};
pub use postgres::PrivatePostgres;
pub use service::{
    ServiceChild, binary_beside_test, env_var, metric_value, metrics_text, operator_get,
    operator_stats, service_env,
};
pub use shared::{database_url, redis_urls, unique_namespace};
pub use wait::wait_until;
