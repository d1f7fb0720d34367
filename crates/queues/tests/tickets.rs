//! Tickets against the shared test cluster: one ticket per player across every queue, even
//! when joins race; leave; status; and a stale marker (a join that died between its two
//! steps) does not lock the player out.

mod common;

use common::tickets;
use fred::prelude::KeysInterface;
use queues::{JoinOutcome, LeaveOutcome, TicketStatus, Tickets};

#[tokio::test]
async fn racing_joins_of_one_player_leave_exactly_one_ticket() {
    let (tickets, _, _) = tickets(&testkit::unique_namespace("race")).await;
    for round in 0..10 {
        let player = format!("racer-{round}");
        let joins = (0..16).map(|i| {
            let tickets = tickets.clone();
            let player = player.clone();
            let (queue, region) = [
                ("duel", "eu"),
                ("duel", "us"),
                ("squad", "eu"),
                ("squad", "us"),
            ][i % 4];
            async move { tickets.join(&player, queue, region).await }
        });
        let outcomes = futures::future::join_all(joins).await;
        let joined = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(JoinOutcome::Joined(_))))
            .count();
        let refused = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(JoinOutcome::AlreadyQueued { .. })))
            .count();
        assert_eq!((joined, refused), (1, 15), "round {round}: {outcomes:?}");
        assert_eq!(
            tickets.leave(&player).await.expect("leave"),
            LeaveOutcome::Left {
                players: vec![player.clone()]
            }
        );
        assert_eq!(
            tickets.leave(&player).await.expect("leave"),
            LeaveOutcome::NotQueued
        );
    }
}

#[tokio::test]
async fn status_follows_the_ticket_and_the_rating_comes_from_the_profile() {
    let (tickets, redis, keys) = tickets(&testkit::unique_namespace("status")).await;
    assert_eq!(
        tickets.status("pat").await.expect("status"),
        TicketStatus::Idle
    );
    let _: () = fred::prelude::HashesInterface::hset(
        &redis,
        keys.player("pat").profile(),
        ("rating", "1712.5"),
    )
    .await
    .expect("profile");
    let JoinOutcome::Joined(ticket) = tickets.join("pat", "duel", "eu").await.expect("join") else {
        panic!("joined");
    };
    assert_eq!(ticket.rating, 1712.5);
    let JoinOutcome::Joined(other) = tickets.join("newbie", "duel", "eu").await.expect("join")
    else {
        panic!("joined");
    };
    assert_eq!(other.rating, 1500.0, "no profile: the default rating");
    match tickets.status("pat").await.expect("status") {
        TicketStatus::Searching {
            queue,
            region,
            ticket: id,
            ..
        } => {
            assert_eq!((queue.as_str(), region.as_str()), ("duel", "eu"));
            assert_eq!(id, ticket.id);
        }
        other => panic!("{other:?}"),
    }
    let score: Option<f64> = fred::prelude::SortedSetsInterface::zscore(
        &redis,
        keys.queue("duel", "eu").tickets(),
        &ticket.id,
    )
    .await
    .expect("zscore");
    assert_eq!(score, Some(1712.5), "the queue is sorted by rating");
    assert_eq!(
        tickets.leave("pat").await.expect("leave"),
        LeaveOutcome::Left {
            players: vec!["pat".to_owned()]
        }
    );
    assert_eq!(
        tickets.status("pat").await.expect("status"),
        TicketStatus::Idle
    );
}

#[tokio::test]
async fn a_stale_marker_does_not_lock_the_player_out() {
    let (tickets, redis, keys) = tickets(&testkit::unique_namespace("stale")).await;
    // A join that reserved, then died before enqueueing, a minute ago.
    let stale = format!("duel eu deadbeef {}", queues_now_ms() - 60_000);
    let _: () = redis
        .set(keys.player("lost").ticket(), stale, None, None, false)
        .await
        .expect("set");
    assert!(matches!(
        tickets.join("lost", "squad", "us").await.expect("join"),
        JoinOutcome::Joined(_)
    ));
    // A fresh marker (a join in flight) is respected.
    let fresh = format!("duel eu cafe {}", queues_now_ms());
    let _: () = redis
        .set(keys.player("busy").ticket(), fresh, None, None, false)
        .await
        .expect("set");
    assert!(matches!(
        tickets.join("busy", "duel", "eu").await.expect("join"),
        JoinOutcome::AlreadyQueued { .. }
    ));
}

fn queues_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[tokio::test]
async fn a_requeue_redone_after_the_player_left_does_not_bring_the_ticket_back() {
    use queues::{Claim, Fenced, MatchRecord, MatchedTicket, QueueHolder};
    let (tickets, redis, keys) = tickets(&testkit::unique_namespace("requeue")).await;
    let owner = "test-holder";
    let _: () = redis
        .set(keys.queue("duel", "eu").lease(), owner, None, None, false)
        .await
        .expect("lease");
    let holder = QueueHolder::new(keys.clone(), redis.clone(), "duel", "eu", owner);
    let mut teams = Vec::new();
    for player in ["r1", "r2"] {
        let JoinOutcome::Joined(t) = tickets.join(player, "duel", "eu").await.expect("join") else {
            panic!("joined");
        };
        teams.push(vec![MatchedTicket {
            ticket: t.id,
            player: player.to_owned(),
            rating: t.rating,
            enqueued_ms: t.enqueued_ms,
            ticket_rating: None,
        }]);
    }
    let record = MatchRecord {
        match_id: "m-requeue".into(),
        queue: "duel".into(),
        region: "eu".into(),
        formed_ms: queues_now_ms(),
        teams,
        trace: None,
        fill: None,
        backfilled: Vec::new(),
    };
    assert_eq!(
        holder.claim(&record).await.expect("claim"),
        Fenced::Held(Claim::Claimed)
    );
    assert!(matches!(
        tickets.status("r1").await.expect("status"),
        TicketStatus::Matched { .. }
    ));
    // The match is cancelled: both go back, keeping their tickets.
    tickets.requeue(&record).await.expect("requeue");
    assert!(matches!(
        tickets.status("r1").await.expect("status"),
        TicketStatus::Searching { .. }
    ));
    // r1 leaves; the cancellation is finished again (its instance died half-way).
    assert_eq!(
        tickets.leave("r1").await.expect("leave"),
        LeaveOutcome::Left {
            players: vec!["r1".to_owned()]
        }
    );
    tickets.requeue(&record).await.expect("requeue again");
    assert_eq!(
        tickets.status("r1").await.expect("status"),
        TicketStatus::Idle,
        "not revived"
    );
    let queued: u64 =
        fred::prelude::SortedSetsInterface::zcard(&redis, keys.queue("duel", "eu").waiting())
            .await
            .expect("zcard");
    assert_eq!(queued, 1, "only r2's ticket is queued, once");
}

#[tokio::test]
async fn a_pending_rating_holds_a_join_back_only_where_a_cache_warmer_settles_it() {
    let ns = testkit::unique_namespace("pending");
    let (optional, redis, keys) = tickets(&ns).await;
    let player = "just-played";
    let _: () = redis
        .set(
            keys.player(player).rating_pending(),
            "m-1",
            None,
            None,
            false,
        )
        .await
        .expect("marked");
    let _: i64 = fred::prelude::HashesInterface::hset(
        &redis,
        keys.player(player).profile(),
        [("rating", "1600"), ("version", "3")],
    )
    .await
    .expect("profile");
    let required = Tickets::new(
        keys.clone(),
        redis.clone(),
        queues::JoinPolicy {
            default_rating: 1500.0,
            profiles: queues::ProfilePolicy::Required,
            profile_wait: std::time::Duration::from_millis(200),
            result_wait: std::time::Duration::from_millis(200),
        },
    );
    // Profiles required (a cache-warmer will settle the mark): the join waits, then refuses.
    match required.join(player, "duel", "eu").await {
        Err(queues::TicketError::RatingPending { match_id }) => assert_eq!(match_id, "m-1"),
        other => panic!("expected rating pending, got {other:?}"),
    }
    let marker: Option<String> = redis.get(keys.player(player).ticket()).await.expect("get");
    assert_eq!(marker, None, "a refused join leaves nothing behind");
    // No cache-warmer (profiles optional): nobody would settle the mark, so it is ignored.
    match optional.join(player, "duel", "eu").await.expect("joined") {
        JoinOutcome::Joined(ticket) => assert_eq!(ticket.rating, 1600.0),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_party_queues_as_one_ticket_goes_back_whole_after_a_cancel_and_leaves_whole() {
    use queues::{Change, Claim, Fenced, MatchRecord, MatchedTicket, PartyRating, QueueHolder};
    let (tickets, redis, keys) = tickets(&testkit::unique_namespace("party-ticket")).await;
    let owner = "test-holder";
    let _: () = redis
        .set(keys.queue("squad", "eu").lease(), owner, None, None, false)
        .await
        .expect("lease");
    let holder = QueueHolder::new(keys.clone(), redis.clone(), "squad", "eu", owner);
    let party = ["lead".to_owned(), "mate".to_owned()];

    // A member with a ticket of their own stops the party's join, and nothing is left
    // behind: the leader's marker is released again.
    let JoinOutcome::Joined(own) = tickets.join("mate", "duel", "eu").await.expect("join") else {
        panic!("the mate queues alone first");
    };
    let refused = tickets
        .join_party(&party, "squad", "eu", PartyRating::Max)
        .await
        .expect("join");
    assert!(
        matches!(refused, JoinOutcome::MemberQueued { ref player, .. } if player == "mate"),
        "{refused:?}"
    );
    assert_eq!(
        tickets.status("lead").await.expect("status"),
        TicketStatus::Idle
    );
    assert_eq!(
        tickets.leave("mate").await.expect("leave"),
        LeaveOutcome::Left {
            players: vec!["mate".to_owned()]
        }
    );
    drop(own);

    let JoinOutcome::Joined(ticket) = tickets
        .join_party(&party, "squad", "eu", PartyRating::Max)
        .await
        .expect("join")
    else {
        panic!("the party queues");
    };
    assert_eq!(ticket.members.len(), 2);
    // Both members' markers name the one ticket; the holder sees one ticket seating two.
    for player in &party {
        assert!(matches!(
            tickets.status(player).await.expect("status"),
            TicketStatus::Searching { ticket: ref t, .. } if *t == ticket.id
        ));
    }
    let Fenced::Held(snapshot) = holder.snapshot().await.expect("snapshot") else {
        panic!("held");
    };
    assert_eq!(snapshot.len(), 1);
    assert_eq!(snapshot[0].size(), 2);
    assert_eq!(snapshot[0].leader(), "lead");

    // Claimed into a match, then cancelled: the ticket goes back whole, at its rating.
    let seats = ticket
        .members
        .iter()
        .map(|m| MatchedTicket {
            ticket: ticket.id.clone(),
            player: m.player.clone(),
            rating: m.rating,
            enqueued_ms: ticket.enqueued_ms,
            ticket_rating: Some(ticket.rating),
        })
        .collect();
    let record = MatchRecord {
        match_id: "m-party".into(),
        queue: "squad".into(),
        region: "eu".into(),
        formed_ms: queues_now_ms(),
        teams: vec![seats],
        trace: None,
        fill: None,
        backfilled: Vec::new(),
    };
    assert_eq!(
        holder.claim(&record).await.expect("claim"),
        Fenced::Held(Claim::Claimed)
    );
    let Fenced::Held(_) = holder.changes().await.expect("changes") else {
        panic!("held");
    };
    tickets.requeue(&record).await.expect("requeue");
    let Fenced::Held(changes) = holder.changes().await.expect("changes") else {
        panic!("held");
    };
    match changes.as_slice() {
        [Change::Joined(back)] => {
            assert_eq!(back.id, ticket.id);
            assert_eq!(back.size(), 2, "{back:?}");
            assert_eq!(back.rating, ticket.rating);
            assert_eq!(
                back.enqueued_ms, ticket.enqueued_ms,
                "the party keeps its wait"
            );
        }
        other => panic!("expected the ticket back, got {other:?}"),
    }
    // Any member's leave takes the party out, and releases both markers.
    match tickets.leave("mate").await.expect("leave") {
        LeaveOutcome::Left { mut players } => {
            players.sort();
            assert_eq!(players, vec!["lead".to_owned(), "mate".to_owned()]);
        }
        other => panic!("expected left, got {other:?}"),
    }
    for player in &party {
        assert_eq!(
            tickets.status(player).await.expect("status"),
            TicketStatus::Idle
        );
    }
}

/// The queue's change log stays bounded when nobody follows it (no matchmaker running):
/// a join onto a full log drops the oldest entry and keeps its own, and one onto a log
/// below the bound trims nothing.
#[tokio::test]
async fn the_change_log_keeps_its_bound_when_nobody_follows_it() {
    use fred::prelude::ListInterface;
    const BOUND: usize = 100_000;
    let (tickets, redis, keys) = tickets(&testkit::unique_namespace("log-bound")).await;
    let log = keys.queue("duel", "eu").changes();
    // Filled to the bound in a few large pushes: the oldest entry is "old 0".
    for chunk in (0..BOUND).collect::<Vec<_>>().chunks(10_000) {
        let entries: Vec<String> = chunk.iter().map(|i| format!("old {i}")).collect();
        let _: i64 = redis.rpush(&log, entries).await.expect("fill the log");
    }
    let JoinOutcome::Joined(ticket) = tickets.join("late", "duel", "eu").await.expect("join")
    else {
        panic!("the join was refused");
    };
    let length: usize = redis.llen(&log).await.expect("llen");
    assert_eq!(length, BOUND, "the log grew past its bound");
    let first: String = redis.lindex(&log, 0).await.expect("lindex");
    assert_eq!(first, "old 1", "the oldest entry is the one dropped");
    let last: String = redis.lindex(&log, -1).await.expect("lindex");
    assert!(
        last.starts_with(&format!("j {} ", ticket.id)),
        "the join is the newest entry: {last}"
    );

    // Below the bound, nothing is dropped.
    let short = keys.queue("duel", "us").changes();
    let _: i64 = redis.rpush(&short, vec!["old 0"]).await.expect("push");
    let JoinOutcome::Joined(_) = tickets.join("early", "duel", "us").await.expect("join") else {
        panic!("the join was refused");
    };
    let kept: Vec<String> = redis.lrange(&short, 0, -1).await.expect("lrange");
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(kept[0], "old 0");
}
