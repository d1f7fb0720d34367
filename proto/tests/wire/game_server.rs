//! `validate()` on the game-server request bodies names the field and the problem.

use proto::game_server::{MAX_CAPACITY, MAX_LABELS};
use proto::{Heartbeat, HttpError, MatchResult, RegisterServer, Validate, ValidationError};

use super::samples::{self, id};

fn field(result: Result<(), ValidationError>) -> String {
    result.unwrap_err().field
}

#[test]
fn a_good_registration_passes() {
    assert_eq!(samples::register().validate(), Ok(()));
}

#[test]
fn capacity_must_be_in_range() {
    for capacity in [0, MAX_CAPACITY + 1, u32::MAX] {
        let reg = RegisterServer {
            capacity,
            ..samples::register()
        };
        assert_eq!(field(reg.validate()), "capacity");
    }
    let reg = RegisterServer {
        capacity: MAX_CAPACITY,
        ..samples::register()
    };
    assert_eq!(reg.validate(), Ok(()));
}

#[test]
fn address_must_be_host_and_port() {
    let good = [
        "gs1:7777",
        "10.0.0.5:1",
        "[::1]:65535",
        "game_server-1.eu.internal:7000",
    ];
    for address in good {
        let reg = RegisterServer {
            address: address.into(),
            ..samples::register()
        };
        assert_eq!(reg.validate(), Ok(()), "{address}");
    }
    let long_host = format!("{}:1", "h".repeat(300));
    let bad = [
        "gs1",
        "gs1:",
        ":7777",
        "gs1:0",
        "gs1:65536",
        "gs1:+80",
        "gs 1:80",
        "::1:80",
        "[zz]:80",
        "gs1:http",
        "",
        &long_host,
    ];
    for address in bad {
        let reg = RegisterServer {
            address: address.into(),
            ..samples::register()
        };
        assert_eq!(field(reg.validate()), "address", "{address:?}");
    }
}

#[test]
fn labels_are_bounded() {
    let mut reg = samples::register();
    reg.labels.insert("bad key".into(), "v".into());
    assert_eq!(field(reg.validate()), "labels");
    let mut reg = samples::register();
    reg.labels.insert("k".into(), "v".repeat(257));
    assert_eq!(field(reg.validate()), "labels.k");
    let mut reg = samples::register();
    reg.labels = (0..=MAX_LABELS)
        .map(|i| (format!("k{i}"), String::new()))
        .collect();
    assert_eq!(field(reg.validate()), "labels");
}

#[test]
fn placements_are_checked() {
    assert_eq!(samples::match_result().validate(), Ok(()));
    let empty = MatchResult {
        placements: vec![],
        stats: None,
    };
    assert_eq!(field(empty.validate()), "placements");
    let hole = MatchResult {
        placements: vec![vec![id("p1")], vec![]],
        stats: None,
    };
    assert_eq!(field(hole.validate()), "placements[1]");
    let twice = MatchResult {
        placements: vec![vec![id("p1")], vec![id("p2"), id("p1")]],
        stats: None,
    };
    let err = twice.validate().unwrap_err();
    assert_eq!(err.field, "placements[1][1]");
    assert!(err.to_string().contains("p1"), "{err}");
    let crowd = (0..1025).map(|i| vec![id(&format!("p{i}"))]).collect();
    assert_eq!(
        field(
            MatchResult {
                placements: crowd,
                stats: None
            }
            .validate()
        ),
        "placements"
    );
}

#[test]
fn heartbeat_counts_are_plausible() {
    assert_eq!(Heartbeat::default().validate(), Ok(()));
    let hb = Heartbeat {
        active_games: Some(MAX_CAPACITY + 1),
        ..Heartbeat::default()
    };
    assert_eq!(field(hb.validate()), "active_games");
    let crowd = Heartbeat {
        games: Some(
            (0..=MAX_CAPACITY)
                .map(|i| proto::Id::parse(&format!("m{i}")).expect("an id"))
                .collect(),
        ),
        ..Heartbeat::default()
    };
    assert_eq!(field(crowd.validate()), "games");
}

#[test]
fn validation_errors_become_400_bodies() {
    let err = RegisterServer {
        capacity: 0,
        ..samples::register()
    }
    .validate()
    .unwrap_err();
    let body = HttpError::from(err);
    assert_eq!(body.error, "bad_request");
    assert!(body.message.contains("capacity"), "{}", body.message);
}

#[test]
fn a_backfill_request_names_each_team_once_with_at_least_one_player() {
    use proto::game_server::MAX_BACKFILL_SLOTS;
    use proto::{BackfillRequest, BackfillSlot};
    let slot = |team, count| BackfillSlot { team, count };
    let request = |slots: Vec<BackfillSlot>| BackfillRequest { slots };
    assert_eq!(request(vec![slot(0, 1), slot(1, 2)]).validate(), Ok(()));
    assert_eq!(field(request(vec![]).validate()), "slots");
    assert_eq!(
        field(
            request(
                (0..=MAX_BACKFILL_SLOTS as u32)
                    .map(|t| slot(t, 1))
                    .collect()
            )
            .validate()
        ),
        "slots"
    );
    assert_eq!(
        field(request(vec![slot(0, 1), slot(1, 0)]).validate()),
        "slots[1].count"
    );
    assert_eq!(
        field(request(vec![slot(1, 1), slot(1, 1)]).validate()),
        "slots[1].team"
    );
}
