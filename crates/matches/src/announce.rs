//! Announcing an allocated match: the match record first (its state, its server, and each
//! player's `match.found` with their join token, so a player who reconnects is told again
//! by the gateway), then side by side the pushes to every player.
//!
//! An allocation puts the match in the region's to-announce set in the same script; the
//! announcer takes it out once announced, one command per batch, and wakes the long poll
//! of each server the batch gave matches to, once per server (its poll reads all its
//! assignments; a wake-up per match was a publish each that the poll, mostly busy
//! reading, did not need). A match left there (its instance died in between) is
//! announced again by whichever instance works the region next: `match.found` may come
//! twice, as PROTOCOL.md allows.

use std::collections::BTreeMap;
use std::sync::Arc;

use fred::prelude::{HashesInterface, SortedSetsInterface};
use futures::{StreamExt, TryStreamExt};
use proto::join_token::{JoinClaim, join_token};
use proto::{Event, Id, ServerEndpoint, ServerMessage, TeamMember};
use queues::MatchRecord;
use tracing::Instrument;

use crate::Matches;
use crate::state::{MatchState, field};

/// Announces matches, signing each player's join token with the join secret.
#[derive(Clone)]
pub struct Announcer {
    matches: Matches,
    join_secret: Arc<str>,
    /// How long a join token is valid after it is issued.
    token_ttl: std::time::Duration,
}

impl std::fmt::Debug for Announcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret never reaches a log.
        f.debug_struct("Announcer").finish_non_exhaustive()
    }
}

/// A match that leaves the to-announce set ([`Announcer::announced`]): `server` is the
/// server to wake if it was announced, `None` if it needed no announcement (cancelled
/// meanwhile).
#[derive(Debug, Clone)]
pub struct Announced {
    pub match_id: String,
    pub server: Option<String>,
}

/// One allocated match to announce.
#[derive(Debug, Clone, Copy)]
pub struct Assigned<'a> {
    pub region: &'a str,
    pub match_id: &'a str,
    pub server: &'a str,
    pub address: &'a str,
}

impl Announcer {
    /// An announcer whose join tokens are signed with `join_secret` (which game servers
    /// check them with) and valid for `token_ttl` (the longest game).
    pub fn new(matches: Matches, join_secret: &str, token_ttl: std::time::Duration) -> Self {
        Self {
            matches,
            join_secret: Arc::from(join_secret),
            token_ttl,
        }
    }

    /// Announces a match just allocated (the caller takes it out of the to-announce set
    /// and wakes its server with [`Announcer::announced`], once for the batch). A record
    /// that cannot be read only gets its state.
    pub async fn announce(
        &self,
        assigned: Assigned<'_>,
        record: Option<&MatchRecord>,
    ) -> Result<(), fred::error::Error> {
        let span = tracing::info_span!(
            "match.allocate",
            region = assigned.region,
            match_id = assigned.match_id,
            server = assigned.server
        );
        // It continues the trace of the match's forming (and so of its players'
        // `queue.join`), and the pushes it publishes carry it on to the gateways.
        service_runtime::trace::continue_from(&span, record.and_then(|r| r.trace.as_deref()));
        self.announce_now(assigned, record).instrument(span).await
    }

    async fn announce_now(
        &self,
        assigned: Assigned<'_>,
        record: Option<&MatchRecord>,
    ) -> Result<(), fred::error::Error> {
        let m = &self.matches;
        let mut record_fields: Vec<(String, String)> = vec![
            (
                field::STATE.to_owned(),
                MatchState::Assigned.as_str().to_owned(),
            ),
            (field::SERVER.to_owned(), assigned.server.to_owned()),
        ];
        // A record that cannot be read only gets its state: nobody to tell.
        let messages = record.and_then(|r| self.messages(assigned, r, None));
        record_fields.extend(messages.iter().flatten().filter_map(|(player, message)| {
            let json = proto::encode_server(message, proto::Encoding::Json).ok()?;
            Some((
                field::found(player),
                String::from_utf8_lossy(&json).into_owned(),
            ))
        }));
        let _: i64 = m
            .redis
            .hset(m.keys.match_(assigned.match_id).record(), record_fields)
            .await?;
        let Some(messages) = messages else {
            return Ok(());
        };
        let pushes = messages
            .into_iter()
            .map(|(player, message)| async move { m.push(&player, message).await });
        futures::future::join_all(pushes).await;
        Ok(())
    }

    /// Each player's `match.found` (or only `only`'s), or none if an id in the record is
    /// not a valid id.
    fn messages(
        &self,
        assigned: Assigned<'_>,
        record: &MatchRecord,
        only: Option<&[String]>,
    ) -> Option<Vec<(String, ServerMessage)>> {
        let match_id = Id::parse(assigned.match_id).ok()?;
        let queue = Id::parse(&record.queue).ok()?;
        let region = Id::parse(assigned.region).ok()?;
        let server = ServerEndpoint {
            id: Id::parse(assigned.server).ok()?,
            address: assigned.address.to_owned(),
        };
        let teams = teams(record)?;
        let secret = self.join_secret.as_bytes();
        let expires_ms =
            service_runtime::clock::now_ms().saturating_add(self.token_ttl.as_millis() as u64);
        Some(
            record
                .players()
                .filter(|p| only.is_none_or(|only| only.contains(&p.player)))
                .map(|p| {
                    let message = ServerMessage::MatchFound {
                        match_id: match_id.clone(),
                        queue: queue.clone(),
                        region: region.clone(),
                        teams: teams.clone(),
                        server: server.clone(),
                        join_token: join_token(
                            secret,
                            &JoinClaim {
                                match_id: assigned.match_id,
                                player: &p.player,
                                server: assigned.server,
                                expires_ms,
                            },
                        ),
                    };
                    (p.player.clone(), message)
                })
                .collect(),
        )
    }

    /// Announces the players backfills added to running matches (`fills`, from
    /// [`Matches::apply_fills`]) once a replica has the fills: each gets `match.found`
    /// for the same match and server with their own join token (kept in the match record
    /// for a reconnect, like everyone's), and the server's long poll is woken for the
    /// updated assignment. Unconfirmed fills stay in the region's set for a later round.
    pub async fn announce_fills(
        &self,
        region: &str,
        fills: Vec<crate::Fill>,
    ) -> Result<(), fred::error::Error> {
        if fills.is_empty() {
            return Ok(());
        }
        let m = &self.matches;
        if let Err(not_replicated) = m.confirm_allocations(region).await? {
            tracing::warn!(region, error = %not_replicated, "backfills not confirmed by a replica in time; they are announced by a later round");
            return Ok(());
        }
        let announced = futures::future::join_all(fills.iter().map(|fill| async move {
            let assigned = Assigned {
                region,
                match_id: &fill.match_id,
                server: &fill.server,
                address: &fill.address,
            };
            let Some(messages) = self.messages(assigned, &fill.record, Some(&fill.players))
            else {
                return Ok(fill.fill_id.clone());
            };
            let mut record_fields: Vec<(String, String)> = messages
                .iter()
                .filter_map(|(player, message)| {
                    let json = proto::encode_server(message, proto::Encoding::Json).ok()?;
                    Some((
                        field::found(player),
                        String::from_utf8_lossy(&json).into_owned(),
                    ))
                })
                .collect();
            if let Ok(json) = serde_json::to_string(&fill.record) {
                record_fields.push((field::RECORD.to_owned(), json));
            }
            let _: i64 = m
                .redis
                .hset(m.keys.match_(&fill.match_id).record(), record_fields)
                .await?;
            let count = messages.len();
            futures::future::join_all(
                messages
                    .into_iter()
                    .map(|(player, message)| async move { m.push(&player, message).await }),
            )
            .await;
            metrics::counter!("rallypoint_backfill_players_total").increment(count as u64);
            tracing::info!(match_id = %fill.match_id, players = ?fill.players, "backfilled players were told their match");
            Ok::<String, fred::error::Error>(fill.fill_id.clone())
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<String>, _>>()?;
        self.wake_servers(
            region,
            fills
                .iter()
                .map(|f| (f.server.as_str(), f.match_id.as_str())),
        )
        .await;
        m.fills_done(region, &announced).await
    }

    /// Wakes the long poll of each server in `assigned` (server, match) once, however
    /// many of the matches it was given: its poll reads every assignment it has.
    async fn wake_servers<'a>(
        &self,
        region: &str,
        assigned: impl Iterator<Item = (&'a str, &'a str)>,
    ) {
        let m = &self.matches;
        let servers: BTreeMap<&str, &str> = assigned.collect();
        let wakes = servers.into_iter().map(|(server, match_id)| async move {
            let (Ok(server_id), Ok(match_id)) = (Id::parse(server), Id::parse(match_id)) else {
                return;
            };
            let ready = Event::AssignmentReady {
                server: server_id,
                match_id,
            };
            let channel = m.keys.pool(region).assignments_channel(server);
            // A lost wake-up is made good by the server's next poll.
            m.publisher.publish_event(&channel, ready).await;
        });
        futures::future::join_all(wakes).await;
    }

    /// Announces again the matches of `region` allocated at least `retry_after_ms` ago
    /// and never announced (their instance died in between), up to `batch` of them,
    /// `in_flight` at a time. A match no longer on its server (cancelled meanwhile) only
    /// leaves the set.
    pub async fn announce_left_over(
        &self,
        region: &str,
        retry_after_ms: u64,
        batch: i64,
        in_flight: usize,
    ) -> Result<(), fred::error::Error> {
        let m = &self.matches;
        let left_over = m
            .older_than(m.keys.pool(region).announce(), retry_after_ms, batch)
            .await?;
        let announced = futures::stream::iter(left_over)
            .map(|match_id| async move {
                let server = self.announce_again(region, &match_id).await?;
                Ok::<Announced, fred::error::Error>(Announced { match_id, server })
            })
            .buffer_unordered(in_flight)
            .try_collect::<Vec<Announced>>()
            .await?;
        self.announced(region, announced).await
    }

    /// Announces a match found in the to-announce set, from what its pool hash says: its
    /// server (to wake), or `None` if it is no longer on one.
    async fn announce_again(
        &self,
        region: &str,
        match_id: &str,
    ) -> Result<Option<String>, fred::error::Error> {
        let m = &self.matches;
        let (record, server, address, state): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = m
            .redis
            .hmget(
                m.keys.pool(region).pool_match(match_id),
                vec![field::RECORD, field::SERVER, field::ADDRESS, field::STATE],
            )
            .await?;
        let record = record.and_then(|r| serde_json::from_str::<MatchRecord>(&r).ok());
        // Only a match still on its server is announced (not one cancelled meanwhile).
        let on_server = state
            .as_deref()
            .and_then(MatchState::parse)
            .is_some_and(MatchState::is_on_server);
        match (server, address, on_server) {
            (Some(server), Some(address), true) => {
                let assigned = Assigned {
                    region,
                    match_id,
                    server: &server,
                    address: &address,
                };
                self.announce(assigned, record.as_ref()).await?;
                Ok(Some(server))
            }
            _ => Ok(None),
        }
    }

    /// The matches just announced leave the to-announce set, one command per batch, and
    /// the servers they were given are woken, once each.
    pub async fn announced(
        &self,
        region: &str,
        announced: Vec<Announced>,
    ) -> Result<(), fred::error::Error> {
        if announced.is_empty() {
            return Ok(());
        }
        let m = &self.matches;
        let servers = announced
            .iter()
            .filter_map(|a| Some((a.server.as_deref()?, a.match_id.as_str())));
        let ids: Vec<&str> = announced.iter().map(|a| a.match_id.as_str()).collect();
        let (left, ()) = futures::future::join(
            m.redis
                .zrem::<i64, _, _>(m.keys.pool(region).announce(), ids),
            self.wake_servers(region, servers),
        )
        .await;
        left?;
        Ok(())
    }
}

/// The teams of a record as the protocol shows them (none if an id is invalid).
pub fn teams(record: &MatchRecord) -> Option<proto::Teams> {
    record
        .teams
        .iter()
        .map(|team| {
            team.iter()
                .map(|t| {
                    Some(TeamMember {
                        player: Id::parse(&t.player).ok()?,
                        rating: t.rating,
                    })
                })
                .collect()
        })
        .collect()
}
