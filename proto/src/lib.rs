//! Rallypoint wire protocol: the messages every service, game client and game server exchange.
//!
//! The protocol document (`PROTOCOL.md`, sections 1 and 2) is the contract; this crate is its
//! typed form. Decoding is the trust boundary for client input, so it never panics and every
//! failure is a typed error that maps onto a protocol error code.
//!
//! # Layout
//!
//! - [`ids`]: validated id strings (`[A-Za-z0-9_.:-]{1,64}`) for players, matches, rooms...
//! - [`rid`]: the client-chosen request id echoed in replies.
//! - [`body`]: free-form JSON payloads of chat messages, capped at 4 KiB.
//! - [`client`]: requests a game client sends to a gateway.
//! - [`server`]: replies and pushes a gateway sends to a game client.
//! - [`codes`]: protocol error codes and WebSocket close codes.
//! - [`game_server`]: HTTP bodies between game servers and the server pool, with validation.
//! - [`join_token`]: the token a player shows a game server, and its check.
//! - [`events`]: inter-service events carried over Redis pub/sub.
//! - [`codec`]: JSON / MessagePack encoding, subprotocol negotiation and size limits.
//! - [`schema`]: the whole protocol as one JSON Schema, for other languages' SDKs.
//! - [`error`]: decode and encode errors.
//! - `fields`: reading typed fields out of a decoded map, naming the field on failure.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod body;
pub mod client;
pub mod codec;
pub mod codes;
pub mod error;
pub mod events;
mod fields;
pub mod game_server;
pub mod ids;
pub mod join_token;
pub mod rid;
pub mod schema;
pub mod server;

pub use body::{Body, BodyTooLarge, MAX_BODY_BYTES};
pub use client::{ClientRequest, Request};
pub use codec::{
    Encoding, MAX_EVENT_BYTES, MAX_FRAME_BYTES, decode_event, decode_request, decode_server,
    encode_event, encode_request, encode_server,
};
pub use codes::{CloseCode, ErrorCode};
pub use error::{DecodeError, EncodeError, RequestError};
pub use events::{BlockChange, EVENT_VERSION, Event, EventEnvelope};
pub use game_server::{
    Assignment, AssignmentsReply, BackfillAccepted, BackfillRequest, BackfillSlot, Heartbeat,
    HeartbeatReply, HttpError, MatchResult, RegisterServer, Registered, Validate, ValidationError,
};
pub use ids::{
    ConnId, GatewayId, Id, IdError, MatchId, PartyId, PlayerId, QueueName, RegionName, RoomId,
    ServerId, SessionId, TicketId,
};
pub use rid::Rid;
pub use server::{
    HistoryMessage, PlayerPresence, QueueState, ServerEndpoint, ServerMessage, TeamMember, Teams,
};
