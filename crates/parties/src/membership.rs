//! Who is in a party and who leads it: create, accept, leave, kick, promote, the
//! refresh that keeps a connected member's membership alive (and drops the lapsed), and
//! reading a party. Each change is one script on the party's hash (`membership/*.lua`,
//! with `party_lib.lua` in front), preceded or followed by the player's pointer
//! ([`crate::pointer`]); every member is told the party's new state.

use core_keys::scripts;
use fred::types::{FromValue, Value};
use proto::ServerMessage;
use proto::server::reason;
use service_runtime::script::{LuaScript, tagged};

use crate::pointer::Claim;
use crate::{PARTY_LIB, Parties, Party, PartyError, now_ms};

static CREATE: LuaScript<Answer> =
    LuaScript::with_library(PARTY_LIB, include_str!("membership/party_create.lua"));
static JOIN: LuaScript<Answer> =
    LuaScript::with_library(PARTY_LIB, include_str!("membership/party_join.lua"));
static REMOVE: LuaScript<Answer> =
    LuaScript::with_library(PARTY_LIB, include_str!("membership/party_remove.lua"));
static PROMOTE: LuaScript<Answer> =
    LuaScript::with_library(PARTY_LIB, include_str!("membership/party_promote.lua"));
static REFRESH: LuaScript<Answer> =
    LuaScript::with_library(PARTY_LIB, include_str!("membership/party_refresh.lua"));

/// The answer of a script on a party's hash (`party_reply` in `party_lib.lua`): what
/// happened, the party as it is now when the script sent it, and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub tag: String,
    /// Leader, max size, members in join order.
    pub state: Option<(String, u32, Vec<String>)>,
    /// After the party: who lapsed (`party_refresh.lua`).
    pub extra: Vec<String>,
}

impl FromValue for Answer {
    fn from_value(value: Value) -> Result<Self, fred::error::Error> {
        let (tag, rest) = tagged(value)?;
        let [leader, max_size, count, ..] = rest.as_slice() else {
            return Ok(Answer {
                tag,
                state: None,
                extra: Vec::new(),
            });
        };
        let parse = |what: &str| {
            fred::error::Error::new(
                fred::error::ErrorKind::Parse,
                format!("a party script's {what} is not a number"),
            )
        };
        let max_size: u32 = max_size.parse().map_err(|_| parse("max_size"))?;
        let count: usize = count.parse().map_err(|_| parse("member count"))?;
        let members: Vec<String> = rest.iter().skip(3).take(count).cloned().collect();
        let extra = rest.iter().skip(3 + count).cloned().collect();
        Ok(Answer {
            tag,
            state: Some((leader.clone(), max_size, members)),
            extra,
        })
    }
}

impl Answer {
    fn party(&self, id: &str) -> Result<Party, PartyError> {
        let (leader, max_size, members) = self.state.clone().ok_or_else(|| {
            PartyError::Inconsistent(format!("{} came without the party", self.tag))
        })?;
        Ok(Party {
            id: id.to_owned(),
            leader,
            members,
            max_size,
        })
    }
}

/// What a refresh found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refreshed {
    /// The party as it is now; `None` if the player is not in it (any more, or yet).
    pub party: Option<Party>,
    /// Members dropped now, away past the grace (they were told, and so were the others).
    pub dropped: Vec<String>,
}

impl Parties {
    /// The party `player` is in now, if any. A pointer to a party that does not list
    /// the player (left behind by a step that failed half-way) is cleared.
    pub async fn current(&self, player: &str) -> Result<Option<Party>, PartyError> {
        let Some(party_id) = self.pointer(player).await? else {
            return Ok(None);
        };
        match self.read(&party_id).await? {
            Some(party) if party.members.iter().any(|m| m == player) => Ok(Some(party)),
            _ => {
                self.release_quietly(player, &party_id).await;
                Ok(None)
            }
        }
    }

    /// The party `party_id` as stored, if it exists.
    pub async fn read(&self, party_id: &str) -> Result<Option<Party>, PartyError> {
        read(&self.redis, &self.keys, party_id).await
    }

    /// A new party led by `player`.
    pub async fn create(&self, player: &str) -> Result<Party, PartyError> {
        if let Some(party) = self.current(player).await? {
            return Err(PartyError::AlreadyInParty { party: party.id });
        }
        let party_id = format!("pt-{}", uuid::Uuid::new_v4().simple());
        self.claim_or_refuse(player, &party_id).await?;
        let answer = CREATE
            .run(
                &self.redis,
                scripts::party_state(&self.keys, &party_id),
                vec![
                    player.to_owned(),
                    self.config.max_size.to_string(),
                    (now_ms() + self.lapse.connected.as_millis() as u64).to_string(),
                    self.keep_ms(),
                ],
            )
            .await?;
        if answer.tag != "created" {
            self.release_quietly(player, &party_id).await;
            return Err(PartyError::Inconsistent(format!(
                "a new party id was taken: {}",
                answer.tag
            )));
        }
        metrics::counter!("rallypoint_parties_created_total").increment(1);
        answer.party(&party_id)
    }

    /// `player` joins `party_id`, which invited them.
    pub async fn accept(&self, player: &str, party_id: &str) -> Result<Party, PartyError> {
        match self.current(player).await? {
            Some(party) if party.id == party_id => return Ok(party),
            Some(party) => return Err(PartyError::AlreadyInParty { party: party.id }),
            None => {}
        }
        self.claim_or_refuse(player, party_id).await?;
        // On an error the script may still have run: the claim stays, and is cleared as
        // stale by whoever finds it if the join did not happen.
        let answer = JOIN
            .run(
                &self.redis,
                scripts::party_state(&self.keys, party_id),
                vec![
                    player.to_owned(),
                    now_ms().to_string(),
                    (now_ms() + self.lapse.connected.as_millis() as u64).to_string(),
                    self.keep_ms(),
                ],
            )
            .await?;
        match answer.tag.as_str() {
            "joined" => {
                let party = answer.party(party_id)?;
                metrics::counter!("rallypoint_party_joins_total").increment(1);
                self.tell_members(&party).await;
                Ok(party)
            }
            refused => {
                self.release_quietly(player, party_id).await;
                Err(match refused {
                    "full" => PartyError::Full {
                        max_size: self.config.max_size,
                    },
                    _ => PartyError::NotInvited {
                        party: party_id.to_owned(),
                    },
                })
            }
        }
    }

    /// Claims `party_id` as `player`'s one party, or says why not.
    async fn claim_or_refuse(&self, player: &str, party_id: &str) -> Result<(), PartyError> {
        match self.claim(player, party_id).await? {
            Claim::Claimed => Ok(()),
            Claim::InParty(party) => Err(PartyError::AlreadyInParty { party }),
            Claim::InQueue => Err(PartyError::InQueue),
        }
    }

    /// `player` leaves their party; its id.
    pub async fn leave(&self, player: &str) -> Result<String, PartyError> {
        let party = self.current(player).await?.ok_or(PartyError::NotInParty)?;
        let answer = self.remove(player, player, &party.id).await?;
        self.release_quietly(player, &party.id).await;
        match answer.tag.as_str() {
            "removed" => {
                let left = answer.party(&party.id)?;
                self.tell_members(&left).await;
                Ok(party.id)
            }
            _ => Err(PartyError::NotInParty),
        }
    }

    /// The leader `player` removes `target` from the party; the party as it is now.
    pub async fn kick(&self, player: &str, target: &str) -> Result<Party, PartyError> {
        if player == target {
            return Err(PartyError::BadRequest(
                "you cannot kick yourself: send party.leave",
            ));
        }
        let party = self.current(player).await?.ok_or(PartyError::NotInParty)?;
        let answer = self.remove(player, target, &party.id).await?;
        match answer.tag.as_str() {
            "removed" => {
                self.release_quietly(target, &party.id).await;
                let now = answer.party(&party.id)?;
                self.tell_left(target, &party.id, reason::KICKED).await;
                self.tell_members(&now).await;
                Ok(now)
            }
            refused => Err(self.refusal(refused, player, target, &party)),
        }
    }

    /// The leader `player` hands the lead to `target`; the party as it is now.
    pub async fn promote(&self, player: &str, target: &str) -> Result<Party, PartyError> {
        let party = self.current(player).await?.ok_or(PartyError::NotInParty)?;
        let answer = PROMOTE
            .run(
                &self.redis,
                scripts::party_state(&self.keys, &party.id),
                vec![player.to_owned(), target.to_owned()],
            )
            .await?;
        match answer.tag.as_str() {
            "promoted" => {
                let now = answer.party(&party.id)?;
                self.tell_members(&now).await;
                Ok(now)
            }
            refused => Err(self.refusal(refused, player, target, &party)),
        }
    }

    /// The error for a refusal `party_remove.lua` or `party_promote.lua` gave.
    fn refusal(&self, tag: &str, player: &str, target: &str, party: &Party) -> PartyError {
        match tag {
            "not_leader" => PartyError::NotLeader {
                leader: party.leader.clone(),
            },
            "target_not_member" => PartyError::NotMember {
                player: target.to_owned(),
            },
            _ => {
                tracing::debug!(player, party = %party.id, "the player left the party meanwhile");
                PartyError::NotInParty
            }
        }
    }

    async fn remove(
        &self,
        player: &str,
        target: &str,
        party_id: &str,
    ) -> Result<Answer, PartyError> {
        Ok(REMOVE
            .run(
                &self.redis,
                scripts::party_state(&self.keys, party_id),
                vec![player.to_owned(), target.to_owned(), self.keep_ms()],
            )
            .await?)
    }

    /// A member's gateway says where they stand: `connected` (each heartbeat, and on a
    /// reconnect) or not (their socket closed: the membership lasts the reconnect grace).
    /// Members whose membership lapsed are dropped and everyone is told.
    pub async fn refresh(
        &self,
        player: &str,
        party_id: &str,
        connected: bool,
    ) -> Result<Refreshed, PartyError> {
        let lasts = if connected {
            self.lapse.connected
        } else {
            self.lapse.away
        };
        let now = now_ms();
        let answer = REFRESH
            .run(
                &self.redis,
                scripts::party_state(&self.keys, party_id),
                vec![
                    player.to_owned(),
                    (now + lasts.as_millis() as u64).to_string(),
                    now.to_string(),
                    self.keep_ms(),
                ],
            )
            .await?;
        if answer.tag != "refreshed" {
            // Not a member (yet): the pointer is left to the player's own next party or
            // queue request (`current` clears it if stale). A heartbeat must not clear
            // it: it may run between a `party.accept`'s claim and its join.
            return Ok(Refreshed::default());
        }
        let party = answer.party(party_id)?;
        if !answer.extra.is_empty() {
            for gone in &answer.extra {
                metrics::counter!("rallypoint_party_lapses_total").increment(1);
                self.release_quietly(gone, party_id).await;
                self.tell_left(gone, party_id, reason::DISCONNECTED).await;
            }
            self.tell_members(&party).await;
        }
        Ok(Refreshed {
            party: Some(party),
            dropped: answer.extra,
        })
    }

    /// Tells `player` they are out of `party_id`, and why.
    async fn tell_left(&self, player: &str, party_id: &str, why: &str) {
        let Ok(party) = proto::Id::parse(party_id) else {
            return;
        };
        let left = ServerMessage::PartyLeft {
            party,
            reason: why.to_owned(),
            rid: None,
        };
        self.tell(&[player.to_owned()], &left).await;
    }
}

/// The party `party_id` as stored, if it exists (read-only).
pub async fn read(
    redis: &fred::prelude::Client,
    keys: &core_keys::Keys,
    party_id: &str,
) -> Result<Option<Party>, PartyError> {
    use fred::prelude::HashesInterface;
    let fields: std::collections::HashMap<String, String> =
        redis.hgetall(keys.party(party_id).state()).await?;
    if fields.is_empty() {
        return Ok(None);
    }
    // The layout `party_lib.lua` documents: `m:<player>` for each member, `o:<player>`
    // for their join number.
    let mut members: Vec<(u64, String)> = fields
        .keys()
        .filter_map(|field| field.strip_prefix("m:"))
        .map(|player| {
            let order = fields
                .get(&format!("o:{player}"))
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            (order, player.to_owned())
        })
        .collect();
    members.sort();
    Ok(Some(Party {
        id: party_id.to_owned(),
        leader: fields.get("leader").cloned().unwrap_or_default(),
        members: members.into_iter().map(|(_, player)| player).collect(),
        max_size: fields
            .get("max_size")
            .and_then(|m| m.parse().ok())
            .unwrap_or(0),
    }))
}

/// What an operator sees of `player`'s party side (read-only; nothing is repaired): the
/// party their pointer names (and whether it lists them: if not, the pointer is stale and
/// the player's next party request clears it), and the invites waiting for them.
pub async fn inspect(
    redis: &fred::prelude::Client,
    keys: &core_keys::Keys,
    player: &str,
) -> Result<serde_json::Value, PartyError> {
    use fred::prelude::{KeysInterface, SortedSetsInterface};
    let pointer: Option<String> = redis.get(keys.player(player).party()).await?;
    let invites: Vec<String> = redis
        .zrange(
            keys.player(player).party_invites(),
            0,
            -1,
            None,
            false,
            None,
            false,
        )
        .await?;
    let party = match &pointer {
        Some(id) => read(redis, keys, id).await?,
        None => None,
    };
    Ok(serde_json::json!({
        "pointer": pointer,
        "party": party.map(|p| serde_json::json!({
            "id": p.id,
            "leader": p.leader,
            "is_member": p.members.iter().any(|m| m == player),
            "members": p.members,
            "max_size": p.max_size,
        })),
        "invites": invites,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fred::types::Value;

    fn reply(parts: &[&str]) -> Value {
        Value::Array(parts.iter().map(|p| Value::from(*p)).collect())
    }

    #[test]
    fn an_answer_carries_the_party_then_what_follows() {
        let answer = Answer::from_value(reply(&["refreshed", "ann", "5", "2", "ann", "bob", "cy"]))
            .expect("parses");
        assert_eq!(answer.tag, "refreshed");
        assert_eq!(
            answer.state,
            Some(("ann".into(), 5, vec!["ann".into(), "bob".into()]))
        );
        assert_eq!(answer.extra, vec!["cy".to_owned()]);
        let refused = Answer::from_value(reply(&["not_leader"])).expect("parses");
        assert_eq!(refused.state, None);
        assert!(Answer::from_value(reply(&["joined", "ann", "five", "1", "ann"])).is_err());
    }
}
