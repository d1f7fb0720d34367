//! The player's side of a party: `{p:<player>}:party` names the one party they are in.
//! It is claimed before the party is joined (so two accepts at once cannot put a player in
//! two parties) and released when they leave, are kicked, lapse, or the party refused
//! them. It lives as long as the player's session keeps it alive (the session scripts
//! refresh it like the player's rooms).

use core_keys::scripts;
use fred::types::{FromValue, Value};
use service_runtime::script::{LuaScript, tagged, unexpected_reply};

use crate::{Parties, PartyError};

static CLAIM: LuaScript<Claim> = LuaScript::new(include_str!("pointer/party_claim.lua"));
static RELEASE: LuaScript<i64> = LuaScript::new(include_str!("pointer/party_release.lua"));

/// What claiming a party found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    Claimed,
    InParty(String),
    InQueue,
}

impl FromValue for Claim {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, rest) = tagged(value)?;
        Ok(match (tag.as_str(), rest.as_slice()) {
            ("claimed", _) => Claim::Claimed,
            ("in_party", [party]) => Claim::InParty(party.clone()),
            ("in_queue", _) => Claim::InQueue,
            (other, _) => return Err(unexpected_reply("party_claim.lua", other)),
        })
    }
}

impl Parties {
    /// The party `player`'s pointer names, if any (not checked against the party).
    pub(crate) async fn pointer(&self, player: &str) -> Result<Option<String>, PartyError> {
        use fred::prelude::KeysInterface;
        Ok(self.redis.get(self.keys.player(player).party()).await?)
    }

    /// Makes `party` the one party of `player`, unless they are in another or queued.
    pub(crate) async fn claim(&self, player: &str, party: &str) -> Result<Claim, PartyError> {
        Ok(CLAIM
            .run(
                &self.redis,
                scripts::party_member(&self.keys, player),
                vec![party.to_owned(), crate::ms(self.lapse.connected)],
            )
            .await?)
    }

    /// `player` is out of `party` (their pointer goes if it still names it).
    pub(crate) async fn release(&self, player: &str, party: &str) -> Result<(), PartyError> {
        RELEASE
            .run(
                &self.redis,
                scripts::party_member(&self.keys, player),
                vec![party.to_owned()],
            )
            .await?;
        Ok(())
    }

    /// [`Parties::release`] as a clean-up that must not fail the request: a pointer left
    /// behind is stale and cleared by whoever finds it next.
    pub(crate) async fn release_quietly(&self, player: &str, party: &str) {
        if let Err(err) = self.release(player, party).await {
            tracing::debug!(player, party, error = %err, "could not release a party pointer; it is cleared when found stale");
        }
    }
}
