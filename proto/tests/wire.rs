//! Wire-level tests of the protocol crate: round trips, golden shapes, rejections, fuzzing.
#![allow(clippy::unwrap_used)]

mod wire {
    pub mod fuzz;
    pub mod game_server;
    pub mod golden;
    pub mod rejects;
    pub mod roundtrip;
    pub mod samples;
}
