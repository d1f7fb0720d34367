//! Results: each region's outbox (`{pool:<region>}:results`, filled by the server pool)
//! drained into PostgreSQL by the one instance holding the region's results lease.
//!
//! One round: read a batch from the head, store its results (match, participants, new
//! ratings: the whole batch in one transaction, in outbox order, idempotent on the match
//! id; if PostgreSQL refuses the batch's data, result by result, those that share no
//! player side by side, to find the one to set aside), write the new profiles
//! into the cache and settle the players' pending ratings, then take the batch off the outbox
//! (`results_ack.lua`, fenced by the lease and by the head being unchanged). A crash
//! anywhere before the last step leaves the entries in the outbox; whoever takes the
//! lease next stores them again, which the match id makes a no-op. An entry that cannot
//! be read is moved to a dead-letter list, never dropped. While PostgreSQL is down,
//! entries wait and the round is retried with a growing pause.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::ListInterface;
use futures::StreamExt;
use persistence::results::{self, FinishedMatch, RatingRules, Stored};
use service_runtime::lease::{Lease, LeaseKeeper, Transition};
use service_runtime::script::LuaScript;
use tokio_util::sync::CancellationToken;

use crate::state::Shared;

pub mod dead_letters;

static RESULTS_ACK: LuaScript<i64> = LuaScript::new(include_str!("outbox/results_ack.lua"));

/// The longest pause between rounds while PostgreSQL or Redis fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What one round did.
enum Round {
    /// Entries were committed (more may wait: go again at once).
    Committed,
    /// Nothing waited.
    Empty,
    /// The lease turned out to be gone.
    LeaseLost,
    /// PostgreSQL or Redis failed: pause and retry.
    Failed,
}

/// Drains `region`'s outbox while holding its lease, until `stop`.
pub async fn run(
    shared: Arc<Shared>,
    region: String,
    share: Arc<service_runtime::lease::FairShare>,
    stop: CancellationToken,
) {
    let keys = shared.ctx.keys.pool(&region);
    // The new holder reports the depth; the keeper zeroes this instance's figure when it
    // stops holding the outbox (the alarms take the maximum over instances).
    let mut keeper = LeaseKeeper::new(Lease::with_owner(
        keys.results_lease(),
        shared.ctx.instance_id.clone(),
        Duration::from_millis(shared.config.warmer.lease_ms),
    ))
    .with_unit_gauges([metrics::gauge!(
        "rallypoint_results_outbox_depth",
        "region" => region.to_owned()
    )])
    .with_share(share);
    let poll = Duration::from_millis(shared.config.warmer.results_poll_ms);
    let mut backoff = poll;
    while !stop.is_cancelled() {
        match keeper.check(&shared.ctx.redis).await {
            Transition::Gained => {
                tracing::info!(%region, "committing results: this instance holds the region's outbox")
            }
            Transition::Lost => {
                tracing::info!(%region, "committing results: outbox lease lost to another instance");
            }
            Transition::Unchanged => {}
        }
        let pause = if keeper.is_held() {
            match round(&shared, &region, keeper.lease().owner()).await {
                Round::Committed => {
                    backoff = poll;
                    continue;
                }
                Round::Empty => {
                    backoff = poll;
                    poll
                }
                Round::LeaseLost => {
                    keeper.lost();
                    poll
                }
                Round::Failed => {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                }
            }
        } else {
            service_runtime::lease::renew_interval(keeper.lease().ttl())
        };
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    keeper.release(&shared.ctx.redis).await;
}

async fn round(shared: &Shared, region: &str, owner: &str) -> Round {
    let keys = shared.ctx.keys.pool(region);
    let batch = shared.config.warmer.results_batch as i64;
    let entries: Vec<String> = match shared
        .ctx
        .redis
        .lrange(keys.results_outbox(), 0, batch - 1)
        .await
    {
        Ok(entries) => entries,
        Err(err) => {
            tracing::debug!(%region, error = %err, "cannot read the results outbox; retrying");
            return Round::Failed;
        }
    };
    if entries.is_empty() {
        metrics::gauge!("rallypoint_results_outbox_depth", "region" => region.to_owned()).set(0.0);
        return Round::Empty;
    }
    let rules = RatingRules {
        k: shared.config.warmer.k_factor,
        default_rating: shared.config.default_rating,
    };
    let mut dispositions = String::new();
    let mut changed_players = Vec::new();
    let mut failed = false;
    // A round ends well within the lease, so the ack still finds the lease ours.
    let budget = service_runtime::lease::renew_interval(Duration::from_millis(
        shared.config.warmer.lease_ms,
    ));
    let started = tokio::time::Instant::now();
    let parsed: Vec<Option<FinishedMatch>> = entries.iter().map(|e| parse(e)).collect();
    let outcomes = match dispose_batch(shared, region, rules, &entries, &parsed).await {
        Some(outcomes) => outcomes,
        None => dispose_each(shared, region, rules, &entries, &parsed, started, budget).await,
    };
    // Only a prefix of the outbox is taken off: stop at the first result that must wait
    // (those after it are stored again next round, a no-op).
    for (entry, outcome) in entries.iter().zip(outcomes) {
        match outcome {
            Disposition::SetAside => {
                // Here, in the acked prefix only, so a retried round does not count or
                // free anything twice.
                set_aside(shared, entry).await;
                dispositions.push('d');
            }
            Disposition::Stored(players) => {
                changed_players.extend(players);
                dispositions.push('s');
            }
            Disposition::Wait => {
                failed = true;
                break;
            }
        }
    }
    if dispositions.is_empty() {
        return Round::Failed;
    }
    let done = dispositions.len();
    let mut args = Vec::with_capacity(done + 2);
    args.push(owner.to_owned());
    args.push(dispositions);
    args.extend(entries.iter().take(done).cloned());
    let acked: Result<i64, _> = RESULTS_ACK
        .run(
            &shared.ctx.redis,
            core_keys::scripts::results_ack(&shared.ctx.keys, region),
            args,
        )
        .await;
    shared.announce_change(None, changed_players).await;
    match acked {
        Ok(-1) => Round::LeaseLost,
        Ok(-2) => {
            tracing::warn!(%region, "the outbox head changed under this instance (another took it over); its entries are idempotent");
            Round::LeaseLost
        }
        Ok(depth) => {
            metrics::gauge!("rallypoint_results_outbox_depth", "region" => region.to_owned())
                .set(depth as f64);
            if failed {
                Round::Failed
            } else {
                Round::Committed
            }
        }
        Err(err) => {
            tracing::debug!(%region, error = %err, "cannot take committed entries off the outbox; they are stored again (a no-op) next round");
            Round::Failed
        }
    }
}

/// What became of one outbox entry.
enum Disposition {
    /// Stored now or before; its players' new profiles are cached.
    Stored(Vec<String>),
    /// Unreadable, or refused by PostgreSQL as data: for the dead-letter list.
    SetAside,
    /// PostgreSQL or Redis failed: the entry stays for the next round.
    Wait,
}

/// Stores every readable entry of the round in one transaction and caches the new
/// profiles: one disposition per entry, in order. `None` when PostgreSQL refuses the
/// batch's data: then [`dispose_each`] finds the entry to set aside.
async fn dispose_batch(
    shared: &Shared,
    region: &str,
    rules: RatingRules,
    entries: &[String],
    parsed: &[Option<FinishedMatch>],
) -> Option<Vec<Disposition>> {
    let readable: Vec<&FinishedMatch> = parsed.iter().flatten().collect();
    let stored = if readable.is_empty() {
        Vec::new()
    } else {
        match shared
            .db
            .observe(results::store_all(&shared.db.pool, &readable, rules).await)
        {
            Ok(stored) => stored,
            Err(err) if err.is_data_error() => {
                tracing::info!(%region, results = readable.len(), error = %err, "PostgreSQL refuses a result in this batch; storing them one by one to set that one aside");
                return None;
            }
            Err(err) => {
                tracing::warn!(%region, results = readable.len(), error = %err, "cannot store results yet; they stay in the outbox");
                return Some(entries.iter().map(|_| Disposition::Wait).collect());
            }
        }
    };
    let mut stored = stored.into_iter();
    let outcomes = parsed.iter().zip(entries).map(|(finished, entry)| {
        // One stored result per readable entry, in order.
        let result = finished.as_ref().and_then(|f| Some((f, stored.next()?)));
        async move {
            match result {
                Some((finished, stored)) => cache_profiles(shared, region, finished, stored).await,
                None => unreadable(region, entry),
            }
        }
    });
    Some(futures::future::join_all(outcomes).await)
}

/// Result by result (those that share no player side by side, so every player's results
/// still apply in outbox order), until the round's time is up: the way through a batch
/// that holds a result PostgreSQL refuses.
async fn dispose_each(
    shared: &Shared,
    region: &str,
    rules: RatingRules,
    entries: &[String],
    parsed: &[Option<FinishedMatch>],
    started: tokio::time::Instant,
    budget: Duration,
) -> Vec<Disposition> {
    // Each region commits on its share of the pool, less two connections kept for
    // profile warm-ups (which a join may be waiting for).
    let in_flight = (shared.config.database.max_connections as usize)
        .saturating_sub(2)
        .checked_div(shared.config.regions.len())
        .unwrap_or(1)
        .max(1);
    let mut outcomes = Vec::new();
    for wave in waves(parsed) {
        if !outcomes.is_empty() && started.elapsed() >= budget {
            break;
        }
        let wave_outcomes: Vec<Disposition> = futures::stream::iter(wave)
            .map(|i| {
                let (entry, finished) = (&entries[i], parsed[i].as_ref());
                async move { dispose(shared, region, rules, entry, finished).await }
            })
            .buffered(in_flight)
            .collect()
            .await;
        let waits = wave_outcomes.iter().any(|o| matches!(o, Disposition::Wait));
        outcomes.extend(wave_outcomes);
        if waits {
            break;
        }
    }
    outcomes
}

fn unreadable(region: &str, entry: &str) -> Disposition {
    tracing::error!(%region, entry = %truncate(entry), "an outbox entry cannot be read; moved to the dead-letter list for an operator");
    Disposition::SetAside
}

/// Stores one entry's result and caches its players' new profiles.
async fn dispose(
    shared: &Shared,
    region: &str,
    rules: RatingRules,
    entry: &str,
    finished: Option<&FinishedMatch>,
) -> Disposition {
    let Some(finished) = finished else {
        return unreadable(region, entry);
    };
    let stored = shared
        .db
        .observe(results::store(&shared.db.pool, finished, rules).await);
    let stored = match stored {
        Ok(stored) => stored,
        Err(err) if err.is_data_error() => {
            tracing::error!(%region, match_id = %finished.match_id, error = %err, "PostgreSQL refuses this result's data; moved to the dead-letter list for an operator, its players may queue again");
            return Disposition::SetAside;
        }
        Err(err) => {
            tracing::warn!(%region, match_id = %finished.match_id, error = %err, "cannot store a result yet; it stays in the outbox");
            return Disposition::Wait;
        }
    };
    cache_profiles(shared, region, finished, stored).await
}

/// Writes a stored result's profiles into the cache (settling the players' pending
/// ratings for this match).
async fn cache_profiles(
    shared: &Shared,
    region: &str,
    finished: &FinishedMatch,
    stored: Stored,
) -> Disposition {
    if let Err(err) = crate::profiles::put(
        &shared.ctx.redis,
        &shared.ctx.keys,
        stored.profiles(),
        Some(&finished.match_id),
    )
    .await
    {
        tracing::warn!(%region, match_id = %finished.match_id, error = %err, "stored a result but cannot refresh the profiles yet; retrying");
        return Disposition::Wait;
    }
    match &stored {
        Stored::New(_) => {
            metrics::counter!("rallypoint_results_committed_total").increment(1);
            tracing::debug!(%region, match_id = %finished.match_id, players = stored.profiles().len(), "result stored and ratings updated");
        }
        Stored::Already(_) => {
            metrics::counter!("rallypoint_results_redelivered_total").increment(1);
            tracing::info!(%region, match_id = %finished.match_id, "result was already stored (delivered again); nothing changed");
        }
    }
    Disposition::Stored(stored.profiles().iter().map(|p| p.id.clone()).collect())
}

/// Splits the entries, in order, into runs in which no player appears twice.
fn waves(parsed: &[Option<FinishedMatch>]) -> Vec<std::ops::Range<usize>> {
    let mut waves = Vec::new();
    let mut start = 0;
    let mut players: HashSet<&str> = HashSet::new();
    for (i, finished) in parsed.iter().enumerate() {
        let names: Vec<&str> = finished
            .iter()
            .flat_map(|f| f.teams.iter().chain(&f.placements).flatten())
            .map(String::as_str)
            .collect();
        if names.iter().any(|p| players.contains(p)) {
            waves.push(start..i);
            start = i;
            players.clear();
        }
        players.extend(names);
    }
    if start < parsed.len() {
        waves.push(start..parsed.len());
    }
    waves
}

/// An entry that will not be stored: counted, and its players freed of their pending
/// rating (their next join uses the rating they have) so they are not held back.
async fn set_aside(shared: &Shared, entry: &str) {
    metrics::counter!("rallypoint_results_dead_lettered_total").increment(1);
    let Some((match_id, players)) = match_and_players(entry) else {
        return;
    };
    if let Err(err) = shared
        .matches
        .free_players(&match_id, players.iter().map(String::as_str))
        .await
    {
        tracing::warn!(%match_id, error = %err, "cannot clear the pending ratings of a set-aside result; they lapse by themselves");
    }
}

/// The match id and every player id an entry names, read as leniently as possible.
fn match_and_players(entry: &str) -> Option<(String, Vec<String>)> {
    let value: serde_json::Value = serde_json::from_str(entry).ok()?;
    let match_id = value.get("match")?.as_str()?.to_owned();
    let mut players = Vec::new();
    let mut collect = |groups: Option<&serde_json::Value>, field: Option<&str>| {
        for group in groups.and_then(|g| g.as_array()).into_iter().flatten() {
            for member in group.as_array().into_iter().flatten() {
                let id = match field {
                    Some(field) => member.get(field).and_then(|p| p.as_str()),
                    None => member.as_str(),
                };
                players.extend(id.map(str::to_owned));
            }
        }
    };
    collect(value.get("placements"), None);
    collect(value.pointer("/record/teams"), Some("player"));
    players.sort();
    players.dedup();
    Some((match_id, players))
}

/// An outbox entry as a match to store.
fn parse(entry: &str) -> Option<FinishedMatch> {
    let entry: matches::ResultEntry = serde_json::from_str(entry).ok()?;
    let (queue, formed_ms, teams) = match &entry.record {
        Some(record) => (
            record.queue.clone(),
            Some(record.formed_ms),
            record
                .teams
                .iter()
                .map(|team| team.iter().map(|t| t.player.clone()).collect())
                .collect(),
        ),
        None => (String::new(), None, Vec::new()),
    };
    Some(FinishedMatch {
        match_id: entry.match_id,
        queue,
        region: entry.region,
        server: entry.server,
        formed_ms,
        started_ms: entry.started_ms,
        ended_ms: entry.ended_ms,
        teams,
        placements: entry.placements,
        stats: entry.stats,
    })
}

fn truncate(entry: &str) -> &str {
    let mut end = entry.len().min(200);
    while !entry.is_char_boundary(end) {
        end -= 1;
    }
    &entry[..end]
}

/// Outbox depth and dead letters per region, for `/v1/stats`.
pub async fn depths(shared: &Shared) -> Result<Vec<(String, u64, u64)>, fred::error::Error> {
    let mut out = Vec::new();
    for region in &shared.config.regions {
        let keys = shared.ctx.keys.pool(region);
        let depth: u64 = shared.ctx.redis.llen(keys.results_outbox()).await?;
        let dead: u64 = shared.ctx.redis.llen(keys.results_dead()).await?;
        out.push((region.clone(), depth, dead));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_without_a_record_keep_their_placements() {
        let entry =
            r#"{"match":"m1","region":"eu","server":"s","ended_ms":5,"placements":[["a"],["b"]]}"#;
        let parsed = parse(entry).expect("readable");
        assert!(parsed.teams.is_empty());
        assert_eq!(
            parsed.placements,
            vec![vec!["a".to_owned()], vec!["b".to_owned()]]
        );
        assert!(parse("not json").is_none());
        assert!(parse(r#"{"match":"m1"}"#).is_none());
    }

    #[test]
    fn a_set_aside_entry_still_names_its_players() {
        let entry = r#"{"match":"m1","placements":[["a"],["b", 7]],"record":{"teams":[[{"player":"c"}]]},"ended_ms":"oops"}"#;
        assert!(parse(entry).is_none(), "unreadable as a result");
        assert_eq!(
            match_and_players(entry),
            Some((
                "m1".to_owned(),
                vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]
            ))
        );
        assert_eq!(match_and_players("{not json"), None);
    }

    #[test]
    fn waves_keep_each_players_results_in_order() {
        let result = |id: &str, a: &str, b: &str| {
            parse(&format!(
                r#"{{"match":"{id}","region":"eu","server":"s","ended_ms":5,"placements":[["{a}"],["{b}"]]}}"#
            ))
        };
        let parsed = vec![
            result("m1", "a", "b"),
            result("m2", "c", "d"),
            None, // unreadable: no players, never splits a wave
            result("m3", "e", "a"),
            result("m4", "f", "g"),
            result("m5", "g", "h"),
        ];
        assert_eq!(waves(&parsed), vec![0..3, 3..5, 5..6]);
        assert_eq!(waves(&[]), Vec::<std::ops::Range<usize>>::new());
    }

    #[test]
    fn truncation_respects_characters() {
        let long = "é".repeat(300);
        assert!(truncate(&long).len() <= 200);
    }
}
