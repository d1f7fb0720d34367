//! Answering a client's requests: one handler per request type, and the one place where a
//! failure becomes an `error` reply ([`Refusal`]).

use std::time::Duration;

use proto::{
    ClientRequest, ErrorCode, Event, Id, PlayerId, QueueState, Request, Rid, RoomId, ServerMessage,
};
use queues::{JoinOutcome, LeaveOutcome, Lookup, TicketError, TicketStatus};
use tracing::Instrument;

use super::Connection;
use crate::rooms::{JoinAs, RoomError};
use service_runtime::clock::now_ms;
use service_runtime::publish::{PublishError, Reached};

/// What is owed right after a reply.
#[derive(Debug)]
pub(super) enum AfterReply {
    /// A `room.join` with `since`: the recovered messages, then the room's held ones
    /// after them, then live ones.
    Recover {
        room: RoomId,
        recovery: crate::room_history::Recovery,
    },
}

impl AfterReply {
    fn run(self, connection: &mut Connection) {
        match self {
            AfterReply::Recover { room, recovery } => {
                for message in &recovery.messages {
                    connection.outbound.send(message);
                }
                connection.shared.rooms.release(
                    &room,
                    connection.member.local_id,
                    Some(recovery.upto),
                );
            }
        }
    }
}

/// A request that failed: the `error` reply's code and message.
#[derive(Debug)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn unavailable(err: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %err, "a request failed on a dependency");
        metrics::counter!("rallypoint_gateway_unavailable_total").increment(1);
        Self::new(
            ErrorCode::Unavailable,
            "a dependency of the gateway is unavailable; retry shortly",
        )
    }
}

impl From<fred::error::Error> for Refusal {
    fn from(err: fred::error::Error) -> Self {
        service_runtime::redis::count_error(&err);
        Self::unavailable(err)
    }
}

impl From<TicketError> for Refusal {
    fn from(err: TicketError) -> Self {
        match err {
            TicketError::RatingPending { match_id } => Self::new(
                ErrorCode::Unavailable,
                format!(
                    "the result of your last match ({match_id}) is still being recorded; retry shortly to queue at your new rating"
                ),
            ),
            TicketError::ProfileUnavailable => Self::new(
                ErrorCode::Unavailable,
                "your profile is being loaded; retry shortly",
            ),
            TicketError::Cooldown { player, until_ms } => Self::new(
                ErrorCode::Cooldown,
                format!(
                    "{player} declined (or did not answer) a ready check and may queue again in {} s",
                    until_ms.saturating_sub(now_ms()).div_ceil(1000)
                ),
            ),
            other => Self::unavailable(other),
        }
    }
}

impl From<cache_reader::ReadError> for Refusal {
    fn from(err: cache_reader::ReadError) -> Self {
        match err {
            cache_reader::ReadError::Unavailable(what) => Self::new(
                ErrorCode::Unavailable,
                format!("{what} is being loaded; retry shortly"),
            ),
            other => Self::unavailable(other),
        }
    }
}

impl From<RoomError> for Refusal {
    fn from(err: RoomError) -> Self {
        Self::unavailable(err)
    }
}

impl From<parties::PartyError> for Refusal {
    fn from(err: parties::PartyError) -> Self {
        use parties::PartyError as E;
        let code = match &err {
            E::NotInParty | E::NotMember { .. } => ErrorCode::NotInParty,
            E::NotLeader { .. } => ErrorCode::NotLeader,
            E::Full { .. } => ErrorCode::PartyFull,
            E::NotInvited { .. } => ErrorCode::NotInvited,
            E::AlreadyInParty { .. } | E::AlreadyMember { .. } => ErrorCode::AlreadyInParty,
            E::InQueue => ErrorCode::InQueue,
            E::TooManyInvites { .. } => ErrorCode::TooManyInvites,
            E::NotOnline { .. } => ErrorCode::NotOnline,
            E::BadRequest(_) => ErrorCode::BadRequest,
            E::Redis(_) => return Self::unavailable(err),
            E::Inconsistent(_) => {
                tracing::error!(error = %err, "party state is inconsistent");
                ErrorCode::Internal
            }
        };
        Self::new(code, err.to_string())
    }
}

impl From<Lookup> for Refusal {
    fn from(err: Lookup) -> Self {
        let code = match err {
            Lookup::UnknownQueue(_) => ErrorCode::UnknownQueue,
            Lookup::UnknownRegion { .. } => ErrorCode::UnknownRegion,
        };
        Self::new(code, err.to_string())
    }
}

/// An id that came back from our own Redis state; a malformed one is our bug.
fn stored_id(raw: &str) -> Result<Id, Refusal> {
    Id::parse(raw).map_err(|e| {
        tracing::error!(raw, error = %e, "an id in Redis is not a valid id");
        Refusal::new(ErrorCode::Internal, "inconsistent state; please report")
    })
}

impl Connection {
    /// Decodes, limits and answers one frame.
    pub(super) async fn on_frame(&mut self, data: &[u8]) {
        let allowed = self.limiter.take();
        let decoded = proto::decode_request(
            data,
            self.outbound.encoding(),
            self.shared.config.max_frame_bytes,
        );
        let (rid, outcome) = match decoded {
            Err(err) => {
                metrics::counter!("rallypoint_gateway_messages_in_total", "type" => "invalid")
                    .increment(1);
                (
                    err.rid.clone(),
                    Err(Refusal::new(err.error_code(), err.error.to_string())),
                )
            }
            Ok(Request { body, rid }) => {
                metrics::counter!("rallypoint_gateway_messages_in_total", "type" => body.type_name())
                    .increment(1);
                if allowed {
                    let kind = body.type_name();
                    let started = std::time::Instant::now();
                    let outcome = self.handle(body).await;
                    // How long the gateway took to answer, by request type: the part of
                    // a client's wait that is ours (Redis round trips included).
                    metrics::histogram!("rallypoint_gateway_request_seconds", "type" => kind)
                        .record(started.elapsed().as_secs_f64());
                    (rid, outcome)
                } else {
                    metrics::counter!("rallypoint_gateway_rate_limited_total", "limit" => "connection")
                        .increment(1);
                    let refusal = Refusal::new(
                        ErrorCode::RateLimited,
                        format!(
                            "too many requests: at most {} per second",
                            self.shared.config.rate_per_second
                        ),
                    );
                    (rid, Err(refusal))
                }
            }
        };
        match outcome {
            Ok(reply) => self.outbound.send(&reply.with_rid(rid)),
            Err(refusal) => self.refuse(refusal, rid).await,
        }
        if let Some(after) = self.after_reply.take() {
            after.run(self);
        }
    }

    /// Sends the `error` reply; a refusal for the client's own fault is a strike against
    /// the player ([`crate::guard`]), and the strike that reaches the limit closes the
    /// connection with 1008 and starts the player's cool-down.
    async fn refuse(&mut self, refusal: Refusal, rid: Option<Rid>) {
        let abuse = matches!(
            refusal.code,
            ErrorCode::RateLimited
                | ErrorCode::BadRequest
                | ErrorCode::UnknownType
                | ErrorCode::TooLarge
        );
        self.outbound
            .send(&ServerMessage::error(refusal.code, refusal.message, rid));
        if !abuse {
            return;
        }
        // Counted here too, for when Redis cannot be asked.
        let local_limit = self.strikes.strike();
        let over = match self
            .shared
            .guard
            .strike(self.identity.player.as_str())
            .await
        {
            Ok(struck) => struck.cooling_down,
            Err(err) => {
                metrics::counter!("rallypoint_gateway_guard_errors_total").increment(1);
                tracing::debug!(player = %self.identity.player, error = %err, "cannot count a strike in Redis; counting locally");
                local_limit
            }
        };
        if over {
            tracing::info!(player = %self.identity.player, "closing a connection for repeated abuse (1008); the player cools down");
            metrics::counter!("rallypoint_gateway_disconnects_total", "reason" => "abuse")
                .increment(1);
            self.outbound.close(proto::CloseCode::PolicyViolation);
        }
    }

    async fn handle(&mut self, request: ClientRequest) -> Result<ServerMessage, Refusal> {
        match request {
            ClientRequest::Ping => Ok(ServerMessage::Pong { rid: None }),
            ClientRequest::QueueJoin { queue, region } => {
                // The root of a player's journey: the match, its allocation and the
                // `match.found` push continue this trace (service_runtime::trace).
                let span = tracing::info_span!("queue.join", player = %self.identity.player, queue = %queue, region = %region);
                self.queue_join(queue, region).instrument(span).await
            }
            ClientRequest::QueueLeave => self.queue_leave().await,
            ClientRequest::QueueStatus => self.queue_status().await,
            ClientRequest::RoomJoin { room, since } => self.room_join(room, since).await,
            ClientRequest::RoomHistory {
                room,
                before,
                limit,
            } => self.room_history(room, before, limit).await,
            ClientRequest::RoomLeave { room } => self.room_leave(room).await,
            ClientRequest::RoomMembers { room, cursor } => self.room_members(room, cursor).await,
            ClientRequest::PresenceGet { players } => self.presence_get(players).await,
            ClientRequest::Block { player } => self.block(player, true).await,
            ClientRequest::Unblock { player } => self.block(player, false).await,
            ClientRequest::RoomSend { room, body } => self.room_send(room, body).await,
            ClientRequest::Whisper { to, body } => self.whisper(to, body).await,
            ClientRequest::ProfileGet => self.profile_get().await,
            ClientRequest::DataGet { kind, id } => self.data_get(kind, id).await,
            ClientRequest::PartyCreate => {
                let created = self.parties().create(self.me()).await;
                // Once the script ran: the heartbeat refreshes the pointer it may have set.
                self.member.refresh.party_maybe();
                Ok(created?.reply()?)
            }
            ClientRequest::PartyInvite { to } => {
                let party = self.parties().invite(self.me(), to.as_str()).await?;
                Ok(ServerMessage::PartyInvited {
                    party: stored_id(&party)?,
                    to,
                    rid: None,
                })
            }
            ClientRequest::PartyAccept { party } => {
                // A party whose ticket waits does not change (its leader's marker says so).
                if let Some(joining) = self.parties().read(party.as_str()).await?
                    && crate::party_queue::is_queued(&self.shared, &joining.leader).await?
                {
                    return Err(Refusal::new(
                        ErrorCode::InQueue,
                        "that party is queued: join it once it is out of the queue",
                    ));
                }
                let accepted = self.parties().accept(self.me(), party.as_str()).await;
                self.member.refresh.party_maybe();
                Ok(accepted?.reply()?)
            }
            ClientRequest::PartyDecline { party } => {
                self.parties().decline(self.me(), party.as_str()).await?;
                Ok(ServerMessage::PartyDeclined { party, rid: None })
            }
            ClientRequest::PartyLeave => {
                self.not_while_queued(self.me()).await?;
                let party = self.parties().leave(self.me()).await?;
                Ok(ServerMessage::PartyLeft {
                    party: stored_id(&party)?,
                    reason: proto::server::reason::LEFT.to_owned(),
                    rid: None,
                })
            }
            ClientRequest::PartyKick { player } => {
                self.not_while_queued(player.as_str()).await?;
                Ok(self
                    .parties()
                    .kick(self.me(), player.as_str())
                    .await?
                    .reply()?)
            }
            ClientRequest::PartyPromote { player } => Ok(self
                .parties()
                .promote(self.me(), player.as_str())
                .await?
                .reply()?),
            ClientRequest::MatchAccept { match_id } => self.ready_answer(match_id, true).await,
            ClientRequest::MatchDecline { match_id } => self.ready_answer(match_id, false).await,
            ClientRequest::PartyGet => match self.parties().current(self.me()).await? {
                Some(party) => Ok(party.reply()?),
                None => Err(parties::PartyError::NotInParty.into()),
            },
        }
    }

    /// `match.accept` / `match.decline`: the player's answer to their match's ready check
    /// (every player of the match is told the tally, this one in the reply).
    async fn ready_answer(&self, match_id: Id, accept: bool) -> Result<ServerMessage, Refusal> {
        use matches::ready::Answered;
        match self
            .shared
            .matches
            .answer_ready_check(self.me(), match_id.as_str(), accept)
            .await?
        {
            Answered::Counted {
                accepted, total, ..
            } => Ok(ServerMessage::MatchReadyUpdate {
                match_id,
                accepted,
                total,
                rid: None,
            }),
            Answered::Unknown => Err(Refusal::new(
                ErrorCode::UnknownMatch,
                format!("no ready check of yours for match {match_id}"),
            )),
            Answered::Over(state) => Err(Refusal::new(
                ErrorCode::UnknownMatch,
                format!("the ready check of match {match_id} is over ({state})"),
            )),
        }
    }

    /// Refuses a party change that would take `player` out while their (party's) ticket
    /// waits ([`crate::party_queue`]).
    async fn not_while_queued(&self, player: &str) -> Result<(), Refusal> {
        if crate::party_queue::is_queued(&self.shared, player).await? {
            return Err(Refusal::new(
                ErrorCode::InQueue,
                "the party is queued: send queue.leave first",
            ));
        }
        Ok(())
    }

    /// Pushes `message` to each of `players` (the runtime's one push path).
    async fn push_to(&self, players: &[&str], message: &ServerMessage) {
        for player in players {
            self.shared
                .ctx
                .publisher
                .push_to_player(&self.shared.ctx.keys, player, message.clone())
                .await;
        }
    }

    fn parties(&self) -> &parties::Parties {
        &self.shared.parties
    }

    /// The player this connection is.
    fn me(&self) -> &str {
        self.identity.player.as_str()
    }

    async fn profile_get(&mut self) -> Result<ServerMessage, Refusal> {
        let profile = self
            .shared
            .cache
            .profile(self.identity.player.as_str())
            .await?;
        Ok(ServerMessage::Profile {
            player: self.identity.player.clone(),
            name: profile.display_name.clone(),
            rating: profile.rating,
            games: profile.games_played,
            rid: None,
        })
    }

    async fn data_get(&mut self, kind: Id, id: Id) -> Result<ServerMessage, Refusal> {
        let document = self
            .shared
            .cache
            .document(kind.as_str(), id.as_str())
            .await?;
        let (version, document) = match document {
            Some(doc) => {
                let json = serde_json::from_str(&doc.json).map_err(|err| {
                    Refusal::new(
                        ErrorCode::Internal,
                        format!("game data {kind}/{id} is not valid JSON: {err}"),
                    )
                })?;
                (doc.version, Some(json))
            }
            None => (self.shared.cache.version_of(kind.as_str()).await?, None),
        };
        Ok(ServerMessage::Data {
            kind,
            id,
            version,
            document,
            rid: None,
        })
    }

    async fn queue_join(&mut self, queue: Id, region: Id) -> Result<ServerMessage, Refusal> {
        let shared = self.shared.clone();
        let definition = shared.matchmaking.lookup(queue.as_str(), region.as_str())?;
        // A party queues as one ticket, by its leader; a party of one queues like anyone.
        // The join's own script says whether the player is in a party, so a player who is
        // not pays no extra round trip.
        let outcome = match self
            .shared
            .tickets
            .join(self.me(), queue.as_str(), region.as_str())
            .await?
        {
            JoinOutcome::InParty { .. } => {
                self.queue_join_party(definition, &queue, &region).await?
            }
            alone => alone,
        };
        self.queue_join_answer(outcome, queue, region).await
    }

    /// `queue.join` of a player in a party: the leader queues the whole party; a party of
    /// one (or a stale pointer) queues alone.
    async fn queue_join_party(
        &self,
        definition: &queues::QueueDefinition,
        queue: &Id,
        region: &Id,
    ) -> Result<JoinOutcome, Refusal> {
        let party = self
            .parties()
            .current(self.me())
            .await?
            .filter(|p| p.members.len() > 1);
        Ok(match party {
            Some(party) => {
                if party.leader != self.me() {
                    return Err(Refusal::new(
                        ErrorCode::NotLeader,
                        format!(
                            "only your party's leader ({}) queues the party",
                            party.leader
                        ),
                    ));
                }
                if party.members.len() > definition.team_size as usize {
                    return Err(Refusal::new(
                        ErrorCode::PartyTooLarge,
                        format!(
                            "a party of {} does not fit a team of {} in {queue}",
                            party.members.len(),
                            definition.team_size
                        ),
                    ));
                }
                self.shared
                    .tickets
                    .join_party(
                        &party.members,
                        queue.as_str(),
                        region.as_str(),
                        definition.party_rating,
                    )
                    .await?
            }
            None => {
                self.shared
                    .tickets
                    .join_without_party(self.me(), queue.as_str(), region.as_str())
                    .await?
            }
        })
    }

    async fn queue_join_answer(
        &self,
        outcome: JoinOutcome,
        queue: Id,
        region: Id,
    ) -> Result<ServerMessage, Refusal> {
        match outcome {
            JoinOutcome::Joined(ticket) => {
                let joined = ServerMessage::QueueJoined {
                    ticket: stored_id(&ticket.id)?,
                    queue,
                    region,
                    rid: None,
                };
                // The other members are told their party is queued.
                let others: Vec<&str> = ticket
                    .members
                    .iter()
                    .map(|m| m.player.as_str())
                    .filter(|p| *p != self.me())
                    .collect();
                self.push_to(&others, &joined).await;
                Ok(joined)
            }
            JoinOutcome::MemberQueued {
                player,
                queue,
                region,
            } => Err(Refusal::new(
                ErrorCode::AlreadyQueued,
                format!(
                    "{player}, of your party, is queued in {queue}/{region} on their own: they must send queue.leave first"
                ),
            )),
            JoinOutcome::MemberInMatch { player, match_id } => Err(Refusal::new(
                ErrorCode::AlreadyQueued,
                format!(
                    "{player}, of your party, is in match {match_id}: queue again when it ends"
                ),
            )),
            JoinOutcome::InParty { party } => {
                tracing::error!(party, "a party join answered that the player is in a party");
                Err(Refusal::new(
                    ErrorCode::Internal,
                    "inconsistent party state; please report",
                ))
            }
            JoinOutcome::AlreadyQueued { queue, region } => Err(Refusal::new(
                ErrorCode::AlreadyQueued,
                format!("already queued in {queue}/{region}: send queue.leave first"),
            )),
            JoinOutcome::InMatch { match_id } => Err(Refusal::new(
                ErrorCode::AlreadyQueued,
                format!("in match {match_id}: queue again when it ends"),
            )),
        }
    }

    async fn queue_leave(&mut self) -> Result<ServerMessage, Refusal> {
        match self
            .shared
            .tickets
            .leave(self.identity.player.as_str())
            .await?
        {
            LeaveOutcome::Left { players } => {
                // A party leaves whole: the other members are told.
                let others: Vec<&str> = players
                    .iter()
                    .map(String::as_str)
                    .filter(|p| *p != self.me())
                    .collect();
                self.push_to(&others, &ServerMessage::QueueLeft { rid: None })
                    .await;
                Ok(ServerMessage::QueueLeft { rid: None })
            }
            LeaveOutcome::NotQueued => Err(Refusal::new(
                ErrorCode::NotQueued,
                "no ticket is waiting (never queued, or already matched: see queue.status)",
            )),
        }
    }

    async fn queue_status(&mut self) -> Result<ServerMessage, Refusal> {
        let status = self
            .shared
            .tickets
            .status(self.identity.player.as_str())
            .await?;
        let idle = ServerMessage::QueueStatus {
            state: QueueState::Idle,
            queue: None,
            region: None,
            waited_ms: None,
            match_id: None,
            rid: None,
        };
        Ok(match status {
            TicketStatus::Idle => idle,
            TicketStatus::Searching {
                queue,
                region,
                waited_ms,
                ..
            } => ServerMessage::QueueStatus {
                state: QueueState::Searching,
                queue: Some(stored_id(&queue)?),
                region: Some(stored_id(&region)?),
                waited_ms: Some(waited_ms),
                match_id: None,
                rid: None,
            },
            TicketStatus::Matched {
                match_id,
                queue,
                region,
            } => ServerMessage::QueueStatus {
                state: QueueState::Matched,
                queue: queue.as_deref().map(stored_id).transpose()?,
                region: region.as_deref().map(stored_id).transpose()?,
                waited_ms: None,
                match_id: Some(stored_id(&match_id)?),
                rid: None,
            },
        })
    }

    /// `room.join`, with `since` a recovery: in a room that keeps history the member is
    /// held while the history after `since` is read; the reply, then those messages, then
    /// the held ones after them follow in order ([`AfterReply`]).
    async fn room_join(
        &mut self,
        room: RoomId,
        since: Option<u64>,
    ) -> Result<ServerMessage, Refusal> {
        let max = self.shared.config.max_rooms;
        if !self.rooms.contains(&room) && self.rooms.len() >= max {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("a connection may be in at most {max} rooms: leave one first"),
            ));
        }
        let keeps_history = self.shared.history.kinds().history(room.as_str()).is_some();
        let mode = if since.is_some() && keeps_history {
            JoinAs::Held
        } else {
            JoinAs::Live
        };
        self.member.refresh.joining_rooms();
        let joined = self.shared.rooms.join(&room, &self.member, mode).await?;
        self.rooms.insert(room.clone());
        let reply = |recovered, offset| ServerMessage::RoomJoined {
            room: room.clone(),
            members: joined.members,
            recovered,
            offset,
            rid: None,
        };
        let held = joined.was.unwrap_or(mode) == JoinAs::Held;
        let Some(since) = since else {
            // A plain join of a room held since a reconnect: what it holds goes first.
            if held {
                self.shared.rooms.release(&room, self.member.local_id, None);
            }
            // Read once the member receives the room: every message after it reaches it.
            let offset = if keeps_history {
                self.shared.history.latest(&room).await?
            } else {
                None
            };
            return Ok(reply(None, offset));
        };
        if !held {
            // No history, or the connection already gets the room's messages live: what
            // it missed cannot come in order any more.
            return Ok(reply(Some(false), None));
        }
        let recovery = match self.shared.history.since(&room, since).await {
            Ok(Some(recovery)) => recovery,
            Ok(None) => {
                self.shared.rooms.release(&room, self.member.local_id, None);
                return Ok(reply(Some(false), None));
            }
            Err(err) => {
                self.shared.rooms.release(&room, self.member.local_id, None);
                return Err(err.into());
            }
        };
        let recovered = recovery.recovered;
        self.after_reply = Some(AfterReply::Recover {
            room: room.clone(),
            recovery,
        });
        Ok(reply(Some(recovered), None))
    }

    /// `room.history`: the newest kept messages of a room the connection is in.
    async fn room_history(
        &mut self,
        room: RoomId,
        before: Option<u64>,
        limit: Option<u32>,
    ) -> Result<ServerMessage, Refusal> {
        if !self.rooms.contains(&room) {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!(
                    "not in room {room}: only members may read its history (send room.join first)"
                ),
            ));
        }
        let page = proto::client::ROOM_HISTORY_PAGE;
        let limit = limit.unwrap_or(page);
        if limit == 0 || limit > page {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("invalid `limit`: 1..={page}"),
            ));
        }
        let messages = self
            .shared
            .history
            .before(&room, before, limit as usize)
            .await?;
        Ok(ServerMessage::RoomHistory {
            room,
            messages,
            rid: None,
        })
    }

    async fn room_leave(&mut self, room: RoomId) -> Result<ServerMessage, Refusal> {
        self.rooms.remove(&room);
        self.shared.rooms.leave(&room, &self.member, true).await?;
        Ok(ServerMessage::RoomLeft { room, rid: None })
    }

    /// A page of the members of a room this connection is in, across every gateway.
    async fn room_members(
        &mut self,
        room: RoomId,
        cursor: Option<PlayerId>,
    ) -> Result<ServerMessage, Refusal> {
        if !self.rooms.contains(&room) {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("not in room {room}: only members may list it (send room.join first)"),
            ));
        }
        let (page, more) = self
            .shared
            .rooms
            .members_page(
                &room,
                cursor.as_ref().map(PlayerId::as_str),
                proto::client::ROOM_MEMBERS_PAGE,
            )
            .await?;
        let members: Vec<PlayerId> = page
            .iter()
            .filter_map(|id| PlayerId::parse(id).ok())
            .collect();
        let cursor = if more { members.last().cloned() } else { None };
        Ok(ServerMessage::RoomMembers {
            room,
            members,
            cursor,
            rid: None,
        })
    }

    /// `block` / `unblock`.
    async fn block(&mut self, player: PlayerId, block: bool) -> Result<ServerMessage, Refusal> {
        if player == self.identity.player {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                "a player cannot block themselves",
            ));
        }
        crate::blocks::change(
            &self.shared.ctx.redis,
            &self.shared.ctx.keys,
            &self.identity.player,
            &player,
            block,
            &self.member.blocks,
        )
        .await
        .map_err(|err| match err {
            crate::blocks::BlockError::Full => Refusal::new(ErrorCode::BadRequest, err.to_string()),
            crate::blocks::BlockError::Redis(err) => err.into(),
        })?;
        Ok(if block {
            ServerMessage::Blocked { player, rid: None }
        } else {
            ServerMessage::Unblocked { player, rid: None }
        })
    }

    /// Whether each of `players` is online and when they were last seen.
    async fn presence_get(&mut self, players: Vec<PlayerId>) -> Result<ServerMessage, Refusal> {
        let max = proto::client::MAX_PRESENCE_PLAYERS;
        if players.len() > max {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("presence.get asks about at most {max} players at once"),
            ));
        }
        let mut players = players;
        players.sort_unstable();
        players.dedup();
        let ids: Vec<String> = players.iter().map(ToString::to_string).collect();
        let found = self.shared.sessions.presence(&ids).await?;
        let players = players
            .into_iter()
            .zip(found)
            .map(|(player, presence)| {
                let presence = proto::PlayerPresence {
                    online: presence.online,
                    last_seen_ms: presence.last_seen_ms,
                };
                (player, presence)
            })
            .collect();
        Ok(ServerMessage::Presence { players, rid: None })
    }

    async fn room_send(
        &mut self,
        room: RoomId,
        body: proto::Body,
    ) -> Result<ServerMessage, Refusal> {
        if !self.rooms.contains(&room) {
            return Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("not in room {room}: send room.join first"),
            ));
        }
        self.check_chat_rate()?;
        let event = Event::RoomMessage {
            room: room.clone(),
            from: self.identity.player.clone(),
            body,
            ts: now_ms(),
        };
        match self.shared.history.publish(&room, event).await {
            Ok(_) => {}
            Err(PublishError::Encode(err)) => {
                return Err(Refusal::new(ErrorCode::Internal, err.to_string()));
            }
            Err(PublishError::Redis(err)) => return Err(err.into()),
        }
        Ok(ServerMessage::RoomSent { room, rid: None })
    }

    async fn whisper(&mut self, to: PlayerId, body: proto::Body) -> Result<ServerMessage, Refusal> {
        self.check_chat_rate()?;
        let event = Event::Deliver {
            player: to.clone(),
            conn: None,
            message: ServerMessage::Whisper {
                from: self.identity.player.clone(),
                body,
                ts: now_ms(),
            },
        };
        let reached = self
            .shared
            .ctx
            .publisher
            .send_to_player(&self.shared.ctx.keys, to.as_str(), event)
            .await;
        match reached {
            // Delivered, or kept for the socket they are coming back on.
            Ok(Reached::Socket | Reached::Kept) => Ok(ServerMessage::WhisperSent { rid: None }),
            Ok(Reached::Unreachable) => Err(Refusal::new(
                ErrorCode::Unavailable,
                format!("{to} is online but could not be reached just now; retry"),
            )),
            Ok(Reached::Offline) => Err(Refusal::new(
                ErrorCode::NotOnline,
                format!("{to} is not online"),
            )),
            Err(PublishError::Encode(err)) => {
                Err(Refusal::new(ErrorCode::Internal, err.to_string()))
            }
            Err(PublishError::Redis(err)) => Err(err.into()),
        }
    }

    /// Spends one message of the player's chat budget (held by this connection: no Redis
    /// command; see [`crate::chat`]).
    fn check_chat_rate(&self) -> Result<(), Refusal> {
        if let Some(until_ms) = self.member.mute.active(now_ms()) {
            metrics::counter!("rallypoint_gateway_muted_total").increment(1);
            return Err(Refusal::new(
                ErrorCode::Muted,
                format!("muted by the server until {until_ms} (ms since the epoch)"),
            ));
        }
        match self
            .member
            .chat
            .spend(self.shared.chat, crate::chat::now_us())
        {
            None => Ok(()),
            Some(wait) => {
                metrics::counter!("rallypoint_gateway_rate_limited_total", "limit" => "chat")
                    .increment(1);
                Err(Refusal::new(
                    ErrorCode::RateLimited,
                    format!(
                        "chat limit: {} messages per minute; the next may go in {} ms",
                        self.shared.chat.per_window(),
                        wait.max(Duration::from_millis(1)).as_millis()
                    ),
                ))
            }
        }
    }

    /// Publishes an event; the number of gateways subscribed.
    pub(super) async fn publish(&self, channel: &str, event: Event) -> Result<u64, Refusal> {
        match self.shared.ctx.publisher.send_event(channel, event).await {
            Ok(receivers) => Ok(receivers),
            Err(PublishError::Encode(err)) => {
                Err(Refusal::new(ErrorCode::Internal, err.to_string()))
            }
            Err(PublishError::Redis(err)) => Err(err.into()),
        }
    }
}
