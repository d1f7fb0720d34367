//! Wire-level tests of the protocol crate: round trips, golden shapes, rejections (the
//! fuzz campaigns over the decoders are in crates/fuzz).
#![allow(clippy::unwrap_used)]

mod wire {
    pub mod game_server;
    pub mod golden;
    pub mod rejects;
    pub mod roundtrip;
    pub mod samples;
    pub mod schema;
}
