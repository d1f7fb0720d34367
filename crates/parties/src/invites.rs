//! Invites: a member asks a player into their party (`party_invite.lua` on the party's
//! hash, where it waits `parties.invite_ttl_ms`; `party_invited.lua` on the invitee's
//! side, which bounds the invites waiting for one player), the invitee is pushed
//! `party.invite` wherever they are connected, and answers with `party.accept`
//! ([`Parties::accept`]) or `party.decline`. An invite holds no seat: seats are counted
//! when it is accepted.

use core_keys::scripts;
use proto::{Event, ServerMessage};
use service_runtime::script::LuaScript;

use crate::membership::Answer;
use crate::{PARTY_LIB, Parties, PartyError, now_ms};

static INVITE: LuaScript<Answer> =
    LuaScript::with_library(PARTY_LIB, include_str!("invites/party_invite.lua"));
static INVITED: LuaScript<i64> = LuaScript::new(include_str!("invites/party_invited.lua"));

/// The party hash's field of an open invite to `player` (`party_lib.lua`'s layout).
fn invite_field(player: &str) -> String {
    format!("i:{player}")
}

impl Parties {
    /// `player` invites `to` into their party; the party's id. The invitee must be online
    /// (they are pushed `party.invite`).
    pub async fn invite(&self, player: &str, to: &str) -> Result<String, PartyError> {
        if player == to {
            return Err(PartyError::BadRequest("you cannot invite yourself"));
        }
        let party = self.current(player).await?.ok_or(PartyError::NotInParty)?;
        if party.members.iter().any(|m| m == to) {
            return Err(PartyError::AlreadyMember {
                player: to.to_owned(),
            });
        }
        let now = now_ms();
        let expires = (now + self.config.invite_ttl_ms).to_string();
        let noted = INVITED
            .run(
                &self.redis,
                scripts::party_member(&self.keys, to),
                vec![
                    party.id.clone(),
                    expires.clone(),
                    now.to_string(),
                    self.config.max_pending_invites.to_string(),
                ],
            )
            .await?;
        if noted == 0 {
            return Err(PartyError::TooManyInvites {
                player: to.to_owned(),
                limit: self.config.max_pending_invites,
            });
        }
        let answer = INVITE
            .run(
                &self.redis,
                scripts::party_state(&self.keys, &party.id),
                vec![
                    player.to_owned(),
                    to.to_owned(),
                    expires,
                    now.to_string(),
                    self.keep_ms(),
                ],
            )
            .await?;
        let refused = match answer.tag.as_str() {
            "invited" => None,
            "already_member" => Some(PartyError::AlreadyMember {
                player: to.to_owned(),
            }),
            "full" => Some(PartyError::Full {
                max_size: party.max_size,
            }),
            _ => Some(PartyError::NotInParty),
        };
        if let Some(refused) = refused {
            self.forget_invite(to, &party.id).await;
            return Err(refused);
        }
        if !self.push_invite(player, to, &party.id).await? {
            self.withdraw(to, &party.id).await?;
            return Err(PartyError::NotOnline {
                player: to.to_owned(),
            });
        }
        metrics::counter!("rallypoint_party_invites_total").increment(1);
        Ok(party.id)
    }

    /// Pushes `party.invite` to `to`; false if no gateway holds a session of theirs.
    async fn push_invite(&self, from: &str, to: &str, party: &str) -> Result<bool, PartyError> {
        use fred::prelude::KeysInterface;
        let message = ServerMessage::PartyInvite {
            party: crate::id(party)?,
            from: crate::id(from)?,
        };
        let event = Event::Deliver {
            player: crate::id(to)?,
            conn: None,
            message,
        };
        let channel = self.keys.player(to).inbox_channel();
        let receivers = self
            .publisher
            .send_event(&channel, event)
            .await
            .map_err(|err| PartyError::Inconsistent(err.to_string()))?;
        if receivers > 0 {
            return Ok(true);
        }
        // Nobody subscribed: offline, or their gateway is resubscribing right now (then
        // the invite stands; they see it when they ask again).
        let online: i64 = self.redis.exists(self.keys.player(to).session()).await?;
        Ok(online == 1)
    }

    /// `player` turns down `party_id`'s invite.
    pub async fn decline(&self, player: &str, party_id: &str) -> Result<(), PartyError> {
        if !self.withdraw(player, party_id).await? {
            return Err(PartyError::NotInvited {
                party: party_id.to_owned(),
            });
        }
        Ok(())
    }

    /// Takes `party_id`'s invite to `player` back, on both sides; whether there was one.
    async fn withdraw(&self, player: &str, party_id: &str) -> Result<bool, PartyError> {
        use fred::prelude::HashesInterface;
        let removed: i64 = self
            .redis
            .hdel(self.keys.party(party_id).state(), invite_field(player))
            .await?;
        self.forget_invite(player, party_id).await;
        Ok(removed > 0)
    }

    /// Takes an invite off the invitee's side (best effort: it expires there anyway).
    async fn forget_invite(&self, player: &str, party_id: &str) {
        use fred::prelude::SortedSetsInterface;
        let forgot: Result<i64, _> = self
            .redis
            .zrem(self.keys.player(player).party_invites(), party_id)
            .await;
        if let Err(err) = forgot {
            tracing::debug!(player, party = party_id, error = %err, "could not forget an invite; it expires by itself");
        }
    }
}
