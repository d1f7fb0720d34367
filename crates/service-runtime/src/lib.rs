//! What every Rallypoint service shares: config, the Redis connection, sharded
//! subscriptions that survive cluster changes, the publish path, leases, the instance
//! registry, telemetry, the ops HTTP server and graceful shutdown.
//!
//! # Layout
//! - [`check`]: what every config section's validation shares (errors name the key).
//! - [`clock`]: the one wall clock (ms since the epoch).
//! - [`http_server`]: the HTTP server of the gateway's clients and the ops endpoints (a
//!   deadline for request heads, the peer's address, a graceful stop).
//! - [`config`]: defaults < TOML file < `RALLYPOINT_` environment; errors name the key.
//! - [`rate`]: the one token bucket, alone or per key in a bounded table.
//! - [`redis`]: fred clients for a cluster or a single node; Redis health.
//! - [`script`]: every Lua script declared once: its file, its keys, its typed reply.
//! - [`secret`]: secrets in config that never print, and URLs with their credentials
//!   blanked.
//! - [`subscriptions`]: the one manager of `SSUBSCRIBE`s, with its supervisor and canaries.
//! - [`publish`]: the one publish path (`SPUBLISH` with a bounded retry).
//! - [`lease`]: leases with owner tokens, renewed and released by compare-and-delete.
//! - [`hold`]: hold points before fenced writes, where tests pause a process (inert
//!   unless `RPTEST_HOLD_DIR` is set).
//! - [`instances`]: the registry of live service instances.
//! - [`telemetry`]: logs (text or JSON), OTLP traces, the Prometheus recorder.
//! - [`trace`]: trace context carried through Redis from one service's step to the next.
//! - [`readiness`] and [`ops`]: `/health/live`, `/health/ready`, `/metrics`, the cluster
//!   view and the operator dashboard.
//! - [`shutdown`]: signals and the drain.
//! - [`service`]: the [`Service`] trait and the runner every `main.rs` calls.
//! - [`Allocator`]: the global allocator every service's `main.rs` declares.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

/// The global allocator of every service binary (mimalloc): each `main.rs` declares
/// `#[global_allocator] static ALLOCATOR: service_runtime::Allocator = service_runtime::ALLOCATOR;`.
/// glibc's malloc and free were about 5% of a busy gateway's profile; with mimalloc the
/// gateway spent about 12% less CPU per matched ticket and 5% less per whisper (the same
/// per room delivery). Memory per idle connection was the same at 5,000 connections
/// (3.5-3.7 KiB with either) and 0.2-0.5 KiB higher at 15,000 after a fast connect burst
/// (docs/ARCHITECTURE.md, "Fast by design").
pub type Allocator = mimalloc::MiMalloc;

/// The one value of [`Allocator`].
pub const ALLOCATOR: Allocator = mimalloc::MiMalloc;

pub mod check;
pub mod clock;
pub mod config;
pub mod hold;
pub mod http_server;
pub mod instances;
pub mod lease;
pub mod ops;
pub mod proxy_protocol;
pub mod publish;
pub mod rate;
pub mod readiness;
pub mod redis;
pub mod script;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod subscriptions;
pub mod telemetry;
pub mod trace;

pub use config::{ConfigError, LoadedConfig};
pub use service::{RunningService, Service, ServiceContext, main, start};
