//! Rallypoint's game-server SDK for Rust: what a dedicated game server needs to take part
//! in the server pool (`proto/PROTOCOL.md`, section 2).
//!
//! - [`pool`]: the pool's HTTP API call by call ([`PoolClient`]: register, heartbeat, long
//!   poll for assignments, ack, backfill, result, leave), over every pool address in turn,
//!   with the registration token only for registering and this incarnation's own token for
//!   the rest.
//! - [`serve`]: the whole loop around a game's [`Games`] (register, heartbeat with the games
//!   in play, long poll, acknowledge each assignment before polling again, backfill
//!   updates, drain and `410`, leave on stop).
//! - [`join`]: checking the join token a connecting player shows ([`JoinVerifier`]).
//!
//! ```no_run
//! # async fn demo(games: impl game_server_sdk::Games) -> Result<(), game_server_sdk::PoolError> {
//! use game_server_sdk::{PoolClient, serve};
//! let pool = PoolClient::new(vec!["http://127.0.0.1:8090".into()], "rallypoint-dev-pool".into())?;
//! let server = proto::RegisterServer {
//!     id: proto::Id::parse("gs-eu-1").expect("an id"),
//!     region: proto::Id::parse("eu").expect("an id"),
//!     address: "127.0.0.1:7777".into(),
//!     capacity: 8,
//!     labels: Default::default(),
//! };
//! let stop = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! match serve(&pool, &server, &games, stop).await? {
//!     game_server_sdk::Exit::Stopped => println!("left the pool"),
//!     game_server_sdk::Exit::Drained => println!("drained by an operator: do not come back"),
//! }
//! # Ok(()) }
//! ```
//!
//! `rallypoint-sim-server` (`crates/sim-game-server`) is a complete game server on it. The
//! same SDK for Node is `@rallypoint/sdk/game-server` (`sdk/typescript`).

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod join;
pub mod pool;
mod serve;

pub use join::JoinVerifier;
pub use pool::{LONG_POLL, PoolClient, PoolError, Standing};
pub use proto;
pub use serve::{Exit, Games, serve};
