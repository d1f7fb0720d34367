//! The life of a match through the crate's own API, on the shared test cluster: from the
//! hand-over to a result, and the cancel of a draining server's last match. The services'
//! tests drive the same steps through their loops; these pin what each step writes.

use std::time::Duration;

use fred::prelude::{
    Client, ClientLike, HashesInterface, KeysInterface, ListInterface, SortedSetsInterface,
};
use matches::announce::Assigned;
use matches::cancel::CancelOutcome;
use matches::{
    Allocation, AllocationRequest, Announcer, Caller, Cancel, MatchState, Matches, Outcome,
    ResultEntry, ResultPost,
};
use proto::{Id, MatchResult, ServerMessage};
use queues::{MatchRecord, MatchedTicket};
use service_runtime::clock::now_ms;
use service_runtime::publish::Publisher;

const REGION: &str = "eu";
const OWNER: &str = "region-worker-1";

struct World {
    matches: Matches,
    announcer: Announcer,
    redis: Client,
    keys: core_keys::Keys,
}

async fn world(what: &str) -> World {
    let env = [
        (
            "RALLYPOINT_REDIS__URLS".to_owned(),
            testkit::redis_urls().join(","),
        ),
        (
            "RALLYPOINT_REDIS__NAMESPACE".to_owned(),
            testkit::unique_namespace(what),
        ),
    ];
    let config =
        service_runtime::LoadedConfig::load_with_env("", None, Some(env.into_iter().collect()))
            .expect("config");
    let redis = service_runtime::redis::build_client(&config.common.redis).expect("client");
    redis.wait_for_connect().await.expect("connected");
    let keys = config.common.redis.keys().expect("keys");
    let matches = Matches::new(keys.clone(), redis.clone(), Publisher::new(redis.clone()));
    // The region worker's lease: allocation is fenced by it.
    let _: () = redis
        .set(
            keys.pool(REGION).allocator_lease(),
            OWNER,
            None,
            None,
            false,
        )
        .await
        .expect("lease");
    World {
        announcer: Announcer::new(
            matches.clone(),
            "join-secret-of-the-life-tests-0123456789",
            std::time::Duration::from_secs(3600),
        ),
        matches,
        redis,
        keys,
    }
}

/// A ready, live server with `capacity` slots, as registering leaves it.
async fn server(w: &World, id: &str, capacity: u32) {
    let pool = w.keys.pool(REGION);
    let _: i64 = w
        .redis
        .hset(
            pool.server(id),
            [
                ("address", "10.0.0.1:7777".to_owned()),
                ("capacity", capacity.to_string()),
                ("status", "ready".to_owned()),
                ("active", "0".to_owned()),
                ("incarnation", "1".to_owned()),
                ("token_hash", token_hash(id)),
            ],
        )
        .await
        .expect("server");
    let _: i64 = w
        .redis
        .zadd(pool.servers_by_load(), None, None, false, false, (0.0, id))
        .await
        .expect("by load");
    let lapses = (now_ms() + 60_000) as f64;
    let _: i64 = w
        .redis
        .zadd(pool.liveness(), None, None, false, false, (lapses, id))
        .await
        .expect("liveness");
}

/// The hash of the token registration gave server `id` (any string stands in for it).
fn token_hash(id: &str) -> String {
    format!("hash-of-the-token-of-{id}")
}

fn record(match_id: &str) -> MatchRecord {
    record_of(match_id, ["ann", "bob"])
}

/// A 1v1 match of `players`.
fn record_of(match_id: &str, players: [&str; 2]) -> MatchRecord {
    let player = |p: &str| MatchedTicket {
        ticket: format!("t-{p}"),
        player: p.to_owned(),
        rating: 1500.0,
        enqueued_ms: now_ms() - 1_000,
        ticket_rating: None,
    };
    MatchRecord {
        match_id: match_id.to_owned(),
        queue: "duel".to_owned(),
        region: REGION.to_owned(),
        formed_ms: now_ms(),
        teams: vec![vec![player(players[0])], vec![player(players[1])]],
        trace: None,
        fill: None,
        backfilled: Vec::new(),
    }
}

async fn record_state(w: &World, match_id: &str) -> Option<String> {
    w.redis
        .hget(w.keys.match_(match_id).record(), "state")
        .await
        .expect("hget")
}

async fn active(w: &World, server: &str) -> Option<i64> {
    w.redis
        .hget(w.keys.pool(REGION).server(server), "active")
        .await
        .expect("hget")
}

/// Hands `record` over and gives it a server; the server it got.
async fn allocated(w: &World, record: &MatchRecord) -> String {
    w.matches
        .hand_over(record, Duration::from_secs(60))
        .await
        .expect("handed over");
    let candidates = w.matches.candidates(REGION, 16).await.expect("candidates");
    let allocation = w
        .matches
        .allocate(AllocationRequest {
            region: REGION,
            match_id: &record.match_id,
            owner: OWNER,
            candidates: &candidates,
        })
        .await
        .expect("allocated");
    let Allocation::Assigned {
        server,
        address,
        record: returned,
    } = allocation
    else {
        panic!("not assigned: {allocation:?}");
    };
    assert_eq!(
        returned.as_deref(),
        Some(record),
        "the match comes back as formed"
    );
    w.announcer
        .announce(
            Assigned {
                region: REGION,
                match_id: &record.match_id,
                server: &server,
                address: &address,
            },
            returned.as_deref(),
        )
        .await
        .expect("announced");
    server
}

#[tokio::test]
async fn a_match_lives_from_its_hand_over_to_its_result() {
    let w = world("life").await;
    server(&w, "gs-1", 2).await;
    let record = record("m-life");
    let id = record.match_id.as_str();

    w.matches
        .hand_over(&record, Duration::from_secs(60))
        .await
        .expect("handed over");
    assert!(w.matches.is_handed_over(&record).await.expect("asked"));
    assert_eq!(record_state(&w, id).await.as_deref(), Some("formed"));
    let pending = w.matches.pending(REGION, 10).await.expect("pending");
    assert_eq!(pending.len(), 1, "pending once: {pending:?}");
    // A redone hand-over changes nothing.
    w.matches
        .hand_over(&record, Duration::from_secs(60))
        .await
        .expect("redone");
    assert_eq!(
        w.matches.pending(REGION, 10).await.expect("pending").len(),
        1
    );

    let candidates = vec!["gs-1".to_owned()];
    let stale = w
        .matches
        .allocate(AllocationRequest {
            region: REGION,
            match_id: id,
            owner: "not-the-holder",
            candidates: &candidates,
        })
        .await
        .expect("asked");
    assert_eq!(
        stale,
        Allocation::NotHolder,
        "allocation is fenced by the lease"
    );

    let server = allocated(&w, &record).await;
    assert_eq!(server, "gs-1");
    assert_eq!(active(&w, "gs-1").await, Some(1));
    assert_eq!(record_state(&w, id).await.as_deref(), Some("assigned"));
    // Each player is owed their match.found, with the server's address.
    for player in ["ann", "bob"] {
        let owed = w.matches.owed_match_found(player).await.expect("read");
        let Some(ServerMessage::MatchFound {
            match_id, server, ..
        }) = owed
        else {
            panic!("{player} is owed no match.found: {owed:?}");
        };
        assert_eq!(match_id.as_str(), id);
        assert_eq!(server.address, "10.0.0.1:7777");
    }
    let described = w.matches.describe(id).await.expect("described");
    assert!(
        !described.keys().any(|f| f.starts_with("found:")),
        "the operator's view keeps the join tokens out: {described:?}"
    );
    let assignments = w.matches.assignments(REGION, "gs-1").await.expect("read");
    assert_eq!(assignments.len(), 1);

    // Only the server the match was given to may act on it, with its own token.
    let (own, other) = (token_hash("gs-1"), token_hash("gs-2"));
    let gs1 = Caller {
        region: REGION,
        server: "gs-1",
        token_hash: &own,
    };
    let gs2 = Caller {
        region: REGION,
        server: "gs-2",
        token_hash: &other,
    };
    let forged = Caller {
        token_hash: &other,
        ..gs1
    };
    assert_eq!(
        w.matches.ack(id, &gs2).await.expect("ack"),
        Outcome::NotYours
    );
    assert_eq!(
        w.matches.ack(id, &forged).await.expect("ack"),
        Outcome::Unauthorized
    );
    assert_eq!(
        record_state(&w, id).await.as_deref(),
        Some("assigned"),
        "refused: nothing changed"
    );
    assert_eq!(w.matches.ack(id, &gs1).await.expect("ack"), Outcome::Done);
    assert_eq!(
        w.matches.ack(id, &gs1).await.expect("ack again"),
        Outcome::Done
    );
    assert!(
        w.matches
            .assignments(REGION, "gs-1")
            .await
            .expect("read")
            .is_empty()
    );

    let stranger = MatchResult {
        placements: vec![vec![Id::parse("mallory").expect("id")]],
        stats: None,
    };
    let posted = w
        .matches
        .post_result(id, &gs1, &stranger)
        .await
        .expect("posted");
    assert_eq!(posted.outcome, Outcome::NotInMatch("mallory".to_owned()));
    assert_eq!(
        rating_pending_entry(&w, id).await,
        None,
        "a result naming a stranger leaves no rating-pending entry"
    );

    let result = MatchResult {
        placements: vec![
            vec![Id::parse("ann").expect("id")],
            vec![Id::parse("bob").expect("id")],
        ],
        stats: None,
    };
    for (refused, caller) in [(Outcome::NotYours, &gs2), (Outcome::Unauthorized, &forged)] {
        let posted = w
            .matches
            .post_result(id, caller, &result)
            .await
            .expect("posted");
        assert_eq!(posted.outcome, refused);
        for player in ["ann", "bob"] {
            let pending: i64 = w
                .redis
                .exists(w.keys.player(player).rating_pending())
                .await
                .expect("exists");
            assert_eq!(pending, 0, "a refused result marks nobody's rating pending");
        }
        assert_eq!(
            rating_pending_entry(&w, id).await,
            None,
            "nor indexes the match"
        );
    }
    let posted = w
        .matches
        .post_result(id, &gs1, &result)
        .await
        .expect("posted");
    assert_eq!(posted.outcome, Outcome::Done);
    assert!(
        rating_pending_entry(&w, id).await.is_some(),
        "the accepted result indexed its match before marking its players"
    );
    assert_eq!(posted.server_left, None);
    assert_eq!(active(&w, "gs-1").await, Some(0), "the slot is free again");
    assert_eq!(record_state(&w, id).await.as_deref(), Some("ended"));
    let outbox: Vec<String> = w
        .redis
        .lrange(w.keys.pool(REGION).results_outbox(), 0, -1)
        .await
        .expect("outbox");
    assert_eq!(outbox.len(), 1);
    let entry: ResultEntry = serde_json::from_str(&outbox[0]).expect("an outbox entry");
    assert_eq!(entry.match_id, id);
    assert_eq!(entry.server, "gs-1");
    assert_eq!(entry.record.as_ref(), Some(&record));
    for player in ["ann", "bob"] {
        let p = w.keys.player(player);
        let live: Option<String> = w.redis.get(p.current_match()).await.expect("get");
        let pending: Option<String> = w.redis.get(p.rating_pending()).await.expect("get");
        assert_eq!(live, None, "{player} left the match");
        assert_eq!(pending.as_deref(), Some(id), "{player}'s rating is pending");
    }
    // Posted again: answered the same, counted once.
    let again = w
        .matches
        .post_result(id, &gs1, &result)
        .await
        .expect("posted");
    assert_eq!(again.outcome, Outcome::Duplicate);
    let outbox_len: i64 = w
        .redis
        .llen(w.keys.pool(REGION).results_outbox())
        .await
        .expect("llen");
    assert_eq!(outbox_len, 1);
}

/// Results posted together are recorded as a group: each is answered for itself (one
/// refused among them included), and one `WAIT` confirms the whole group's writes, where
/// results posted one by one take one each.
#[tokio::test]
async fn a_group_of_results_is_confirmed_by_one_wait() {
    let w = world("result-group").await;
    server(&w, "gs-1", 8).await;
    let own = token_hash("gs-1");
    let gs1 = Caller {
        region: REGION,
        server: "gs-1",
        token_hash: &own,
    };
    let other = token_hash("gs-2");
    let gs2 = Caller {
        region: REGION,
        server: "gs-2",
        token_hash: &other,
    };
    let names: Vec<[String; 2]> = (0..4)
        .map(|n| [format!("ann-{n}"), format!("bob-{n}")])
        .collect();
    let mut records = Vec::new();
    for (n, [a, b]) in names.iter().enumerate() {
        let record = record_of(&format!("m-group-{n}"), [a, b]);
        assert_eq!(allocated(&w, &record).await, "gs-1");
        assert_eq!(
            w.matches.ack(&record.match_id, &gs1).await.expect("ack"),
            Outcome::Done
        );
        records.push(record);
    }
    let results: Vec<MatchResult> = names
        .iter()
        .map(|[a, b]| MatchResult {
            placements: vec![
                vec![Id::parse(a).expect("id")],
                vec![Id::parse(b).expect("id")],
            ],
            stats: None,
        })
        .collect();
    // The shared test cluster has a replica per master: one must confirm.
    let replicated = matches::Replicated::new(
        vec![w.redis.clone(), w.redis.clone()],
        1,
        Duration::from_secs(5),
    );
    let grouped = w.matches.clone().with_replication(replicated.clone());
    let posts: Vec<ResultPost<'_>> = records
        .iter()
        .zip(&results)
        .enumerate()
        .map(|(n, (record, result))| ResultPost {
            match_id: &record.match_id,
            // The last one is posted by a server it was not given to.
            caller: if n == 3 { gs2 } else { gs1 },
            result,
        })
        .collect();

    let untouched = record_state(&w, &records[3].match_id).await;
    let waits = replicated.waits_sent();
    let answers: Vec<Outcome> = grouped
        .post_results(&posts)
        .await
        .into_iter()
        .map(|answer| answer.expect("posted").outcome)
        .collect();
    assert_eq!(
        answers,
        [
            Outcome::Done,
            Outcome::Done,
            Outcome::Done,
            Outcome::NotYours
        ]
    );
    assert_eq!(
        replicated.waits_sent() - waits,
        1,
        "one WAIT confirms the group's three results"
    );
    for record in &records[..3] {
        assert_eq!(
            record_state(&w, &record.match_id).await.as_deref(),
            Some("ended")
        );
    }
    assert_eq!(
        record_state(&w, &records[3].match_id).await,
        untouched,
        "the refused result changed nothing"
    );
    let outbox: i64 = w
        .redis
        .llen(w.keys.pool(REGION).results_outbox())
        .await
        .expect("llen");
    assert_eq!(outbox, 3);

    // One by one, each result takes a WAIT of its own: the refused one from its own
    // server, and a repeat of the first (a duplicate, confirmed all the same).
    let waits = replicated.waits_sent();
    for (record, result) in [(&records[3], &results[3]), (&records[0], &results[0])] {
        let posted = grouped
            .post_result(&record.match_id, &gs1, result)
            .await
            .expect("posted");
        assert!(matches!(posted.outcome, Outcome::Done | Outcome::Duplicate));
    }
    assert_eq!(replicated.waits_sent() - waits, 2);
    assert_eq!(
        active(&w, "gs-1").await,
        Some(0),
        "every slot is free again"
    );
}

/// Freeing a slot is one piece of Lua for the result and the cancel path alike: a
/// draining server whose last match is cancelled leaves the pool at once, as it does
/// after its last result.
#[tokio::test]
async fn a_draining_servers_last_match_frees_it_on_either_path() {
    let w = world("drain-last").await;
    let pool = w.keys.pool(REGION);
    server(&w, "gs-a", 1).await;
    server(&w, "gs-b", 1).await;
    let cancelled = record("m-cancel");
    let ended = record("m-end");
    let first = allocated(&w, &cancelled).await;
    let second = allocated(&w, &ended).await;
    assert_ne!(first, second, "one game per server at capacity 1");
    for server in [&first, &second] {
        // What a drain leaves: no new games, out of the load index.
        let _: i64 = w
            .redis
            .hset(pool.server(server), ("status", "draining"))
            .await
            .expect("drain");
        let _: i64 = w
            .redis
            .zrem(pool.servers_by_load(), server.as_str())
            .await
            .expect("zrem");
    }

    // The acknowledgement deadline cancels the match on the draining server.
    let cancel = Cancel {
        region: REGION,
        match_id: &cancelled.match_id,
        server: Some(&first),
        reason: proto::server::reason::NOT_STARTED,
        only_in: Some(MatchState::Assigned),
    };
    let outcome = w.matches.cancel(cancel).await.expect("cancelled");
    assert_eq!(outcome.outcome, CancelOutcome::Requeued);
    assert!(
        outcome.server_left,
        "the draining server ran its last match"
    );
    let exists: i64 = w.redis.exists(pool.server(&first)).await.expect("exists");
    assert_eq!(exists, 0, "it left the pool");
    assert_eq!(
        record_state(&w, &cancelled.match_id).await.as_deref(),
        Some("cancelled")
    );
    let again = w.matches.cancel(cancel).await.expect("asked");
    assert_eq!(again.outcome, CancelOutcome::Unchanged, "cancelled once");
    let hash = token_hash(&first);
    let first_server = Caller {
        region: REGION,
        server: &first,
        token_hash: &hash,
    };
    assert_eq!(
        w.matches
            .ack(&cancelled.match_id, &first_server)
            .await
            .expect("ack"),
        Outcome::Conflict("cancelled".to_owned())
    );

    let result = MatchResult {
        placements: vec![vec![
            Id::parse("ann").expect("id"),
            Id::parse("bob").expect("id"),
        ]],
        stats: None,
    };
    let hash = token_hash(&second);
    let second_server = Caller {
        region: REGION,
        server: &second,
        token_hash: &hash,
    };
    let posted = w
        .matches
        .post_result(&ended.match_id, &second_server, &result)
        .await
        .expect("posted");
    assert_eq!(posted.outcome, Outcome::Done);
    assert_eq!(posted.server_left.as_deref(), Some(second.as_str()));
    let exists: i64 = w.redis.exists(pool.server(&second)).await.expect("exists");
    assert_eq!(exists, 0, "it left the pool");
}

/// A result post that died after marking the players' ratings pending (before the result
/// was recorded) must not hold their next join for the marks' hour: the reconciler clears
/// such marks once they are older than the grace, and leaves those of a recorded result to
/// the cache-warmer's commit.
#[tokio::test]
async fn pending_ratings_whose_result_never_got_recorded_are_cleared() {
    let w = world("stale-marks").await;
    server(&w, "gs-1", 2).await;
    let lost = record("m-lost");
    let mut kept = record("m-kept");
    for (team, player) in kept.teams.iter_mut().zip(["cat", "dan"]) {
        team[0].player = player.to_owned();
        team[0].ticket = format!("t-{player}");
    }
    for record in [&lost, &kept] {
        allocated(&w, record).await;
    }
    let hash = token_hash("gs-1");
    let gs1 = Caller {
        region: REGION,
        server: "gs-1",
        token_hash: &hash,
    };
    // m-kept's result is recorded; m-lost's post marked its players and died there.
    let result = MatchResult {
        placements: vec![
            vec![Id::parse("cat").expect("id")],
            vec![Id::parse("dan").expect("id")],
        ],
        stats: None,
    };
    let posted = w
        .matches
        .post_result("m-kept", &gs1, &result)
        .await
        .expect("posted");
    assert_eq!(posted.outcome, Outcome::Done);
    w.matches
        .mark_rating_pending(REGION, "m-lost", ["ann", "bob"].into_iter())
        .await
        .expect("marked");
    let redis = &w.redis;
    let pending = |player: &'static str| {
        let key = w.keys.player(player).rating_pending();
        async move {
            let mark: Option<String> = redis.get(key).await.expect("get");
            mark
        }
    };
    assert_eq!(pending("ann").await.as_deref(), Some("m-lost"));

    // Within the grace nothing is touched (a post may be between its two steps).
    w.matches
        .clear_stale_rating_marks(REGION)
        .await
        .expect("reconciled");
    assert_eq!(pending("ann").await.as_deref(), Some("m-lost"));

    // Past it (the marks were made a minute ago): m-lost's marks go, m-kept's stay.
    let index = w.keys.pool(REGION).rating_pending();
    let a_minute_ago = (now_ms() - 60_000) as f64;
    for id in ["m-lost", "m-kept"] {
        let _: i64 = w
            .redis
            .zadd(&index, None, None, false, false, (a_minute_ago, id))
            .await
            .expect("zadd");
    }
    w.matches
        .clear_stale_rating_marks(REGION)
        .await
        .expect("reconciled");
    assert_eq!(pending("ann").await, None, "ann may queue again");
    assert_eq!(pending("bob").await, None, "bob may queue again");
    assert_eq!(
        pending("cat").await.as_deref(),
        Some("m-kept"),
        "the commit clears it"
    );
    assert_eq!(pending("dan").await.as_deref(), Some("m-kept"));
    let left: i64 = w.redis.zcard(&index).await.expect("zcard");
    assert_eq!(left, 0, "both were looked at once");
}

/// The match's entry in the region's rating-pending index, if it has one.
async fn rating_pending_entry(w: &World, match_id: &str) -> Option<f64> {
    w.redis
        .zscore(w.keys.pool(REGION).rating_pending(), match_id)
        .await
        .expect("zscore")
}
