//! The scenarios, one module each; [`delivery`] is what `fanout` and `whisper` share
//! (stamped messages, who got what, latency at the receivers).

pub mod abuse;
pub mod broadcast;
pub mod connections;
pub mod delivery;
pub mod fanout;
pub mod matchmaking;
pub mod parties;
pub mod whisper;
