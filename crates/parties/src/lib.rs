//! Parties: friends who play together. A party is a leader, its members (at most
//! `parties.max_size`) and its open invites, kept in one hash in the party's slot
//! (`{party:<id>}:party`), so every change to it is one script and seats are counted
//! where they are taken. Which party a player is in is kept on the player's side too
//! (`{p:<id>}:party`), claimed before the party is joined, so a player accepting two
//! invites at once ends up in one party; the party's hash is the truth when the two
//! disagree, and whoever finds a stale pointer clears it.
//!
//! Memberships lapse like sessions: a member's gateway refreshes theirs every heartbeat
//! (another session TTL plus the reconnect grace) and, when the socket closes, leaves it
//! the reconnect grace. A member away past it (or whose gateway died) is dropped by the
//! next refresh of any member of the party, and everyone is told. Every change is pushed
//! to every member (`party.updated`) through the one push path, whichever gateway they
//! are on.
//!
//! # Layout
//! - [`config`]: the `[parties]` section.
//! - [`membership`]: create, accept, leave, kick, promote, refresh, and reading a party
//!   (`party_create.lua`, `party_join.lua`, `party_remove.lua`, `party_promote.lua`,
//!   `party_refresh.lua`).
//! - [`invites`]: invite and decline (`party_invite.lua` on the party,
//!   `party_invited.lua` on the invitee's side, which bounds the invites waiting for them).
//! - [`pointer`]: the player's side: claim and release their one party
//!   (`party_claim.lua`, `party_release.lua`).
//! - `party_lib.lua`: reading, changing and answering a party's hash, put in front of
//!   every script on it.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod config;
pub mod invites;
pub mod membership;
pub mod pointer;

use std::time::Duration;

use core_keys::Keys;
use fred::prelude::Client;
use proto::ServerMessage;
use service_runtime::publish::Publisher;

pub use config::PartyConfig;
pub use membership::Refreshed;

/// The Lua every script on a party's hash shares.
const PARTY_LIB: &str = include_str!("party_lib.lua");

/// A party as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub id: String,
    pub leader: String,
    /// Longest-standing first.
    pub members: Vec<String>,
    pub max_size: u32,
}

impl Party {
    /// The `party` reply.
    pub fn reply(&self) -> Result<ServerMessage, PartyError> {
        Ok(ServerMessage::Party {
            party: id(&self.id)?,
            leader: id(&self.leader)?,
            members: ids(&self.members)?,
            max_size: self.max_size,
            rid: None,
        })
    }

    /// The `party.updated` push.
    pub fn updated(&self) -> Result<ServerMessage, PartyError> {
        Ok(ServerMessage::PartyUpdated {
            party: id(&self.id)?,
            leader: id(&self.leader)?,
            members: ids(&self.members)?,
        })
    }
}

/// Why a party request was refused, or failed.
#[derive(Debug, thiserror::Error)]
pub enum PartyError {
    #[error("you are not in a party: send party.create first, or accept an invite")]
    NotInParty,
    #[error("only the party's leader ({leader}) may do that")]
    NotLeader { leader: String },
    #[error("{player} is not in your party")]
    NotMember { player: String },
    #[error("the party is full ({max_size} members)")]
    Full { max_size: u32 },
    #[error("no live invite to party {party}: it expired, was declined, or never was")]
    NotInvited { party: String },
    #[error("you are already in party {party}: send party.leave first")]
    AlreadyInParty { party: String },
    #[error("{player} is already in your party")]
    AlreadyMember { player: String },
    #[error("you are queued: send queue.leave first")]
    InQueue,
    #[error("{player} has {limit} invites waiting already; try again later")]
    TooManyInvites { player: String, limit: u32 },
    #[error("{player} is not online")]
    NotOnline { player: String },
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("inconsistent party state: {0}")]
    Inconsistent(String),
}

/// How long a membership lasts without a refresh.
#[derive(Debug, Clone, Copy)]
pub struct Lapse {
    /// While connected: refreshed every heartbeat, so the session TTL (a gateway that
    /// died) plus the reconnect grace.
    pub connected: Duration,
    /// After the socket closed: the reconnect grace.
    pub away: Duration,
}

/// A handle on the parties of one deployment.
#[derive(Debug, Clone)]
pub struct Parties {
    keys: Keys,
    redis: Client,
    publisher: Publisher,
    config: PartyConfig,
    lapse: Lapse,
}

impl Parties {
    pub fn new(
        keys: Keys,
        redis: Client,
        publisher: Publisher,
        config: PartyConfig,
        lapse: Lapse,
    ) -> Self {
        Self {
            keys,
            redis,
            publisher,
            config,
            lapse,
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &PartyConfig {
        &self.config
    }

    /// How long a party's hash lives without a change or refresh: past its longest
    /// membership and invite, so only an abandoned party expires.
    fn keep_ms(&self) -> String {
        let longest = self
            .lapse
            .connected
            .max(Duration::from_millis(self.config.invite_ttl_ms));
        (longest + Duration::from_secs(60)).as_millis().to_string()
    }

    /// Pushes `message` to every player of `to` (the runtime's one push path).
    async fn tell(&self, to: &[String], message: &ServerMessage) {
        for player in to {
            self.publisher
                .push_to_player(&self.keys, player, message.clone())
                .await;
        }
    }

    /// Tells every member of `party` its state now.
    async fn tell_members(&self, party: &Party) {
        match party.updated() {
            Ok(updated) => self.tell(&party.members, &updated).await,
            Err(err) => {
                tracing::error!(party = %party.id, error = %err, "cannot tell a party's members")
            }
        }
    }
}

fn id(raw: &str) -> Result<proto::Id, PartyError> {
    proto::Id::parse(raw).map_err(|e| PartyError::Inconsistent(format!("{raw:?}: {e}")))
}

fn ids(raw: &[String]) -> Result<Vec<proto::Id>, PartyError> {
    raw.iter().map(|r| id(r)).collect()
}

fn now_ms() -> u64 {
    service_runtime::clock::now_ms()
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}
