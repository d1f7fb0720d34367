//! Proves the hash-tag choices: every script's keys share one slot, and players, queues,
//! rooms and regions spread evenly over a 3-master cluster's slot ranges.

use core_keys::slot::{even_slot_ranges, shard_of};
use core_keys::{Keys, scripts, slot_of};

fn keys() -> Keys {
    Keys::new("rp").expect("a valid namespace")
}

fn assert_one_slot(what: &str, keys: &[String]) {
    let first = slot_of(&keys[0]);
    for key in keys {
        assert_eq!(
            slot_of(key),
            first,
            "{what}: {key} is not in the slot of {}",
            keys[0]
        );
    }
}

#[test]
fn every_script_touches_one_slot() {
    let k = keys();
    for i in 0..500 {
        let player = format!("player-{i}");
        let ticket = format!("t{i}");
        let match_id = format!("m-{i}");
        let queue = ["duel", "squad", "ranked-1v1", "br"][i % 4];
        let region = ["eu", "us", "ap-south", "sa"][i % 4];
        let tickets: Vec<String> = (0..10).map(|n| format!("t{i}-{n}")).collect();
        let ticket_refs: Vec<&str> = tickets.iter().map(String::as_str).collect();
        let servers: Vec<String> = (0..5).map(|n| format!("gs-{i}-{n}")).collect();
        let server_refs: Vec<&str> = servers.iter().map(String::as_str).collect();

        assert_one_slot("lease", &scripts::lease(&k.queue(queue, region).lease()));
        assert_one_slot(
            "instance_announce",
            &scripts::instance_announce(&k, "gateway", &player),
        );
        assert_one_slot("session_open", &scripts::session_open(&k, &player));
        assert_one_slot("chat_rate", &scripts::chat_rate(&k, &player));
        assert_one_slot("ticket_reserve", &scripts::ticket_reserve(&k, &player));
        assert_one_slot("player_matched", &scripts::player_matched(&k, &player));
        assert_one_slot("queue_view", &scripts::queue_view(&k, queue, region));
        assert_one_slot(
            "queue_expire",
            &scripts::queue_expire(&k, queue, region, &ticket),
        );
        assert_one_slot(
            "queue_enqueue",
            &scripts::queue_enqueue(&k, queue, region, &ticket),
        );
        assert_one_slot(
            "queue_claim",
            &scripts::queue_claim(&k, queue, region, &match_id, &ticket_refs),
        );
        assert_one_slot(
            "pool_allocate",
            &scripts::pool_allocate(&k, region, &match_id, &server_refs),
        );
        assert_one_slot(
            "pool_register",
            &scripts::pool_register(&k, region, &servers[0]),
        );
        assert_one_slot(
            "pool_cancel",
            &scripts::pool_cancel(&k, region, &match_id, &servers[0]),
        );
        assert_one_slot("pool_reap", &scripts::pool_reap(&k, region, &servers[0]));
        assert_one_slot(
            "queue_requeue",
            &scripts::queue_requeue(&k, queue, region, &ticket),
        );
        assert_one_slot(
            "pool_result",
            &scripts::pool_result(&k, region, &match_id, &servers[0]),
        );
        assert_one_slot("room_membership", &scripts::room_membership(&k, &player));
        assert_one_slot("match_result", &scripts::match_result(&k, &match_id));
        assert_one_slot("data_warm", &scripts::data_warm(&k, queue));
        assert_one_slot("player_result", &scripts::player_result(&k, &player));
        assert_one_slot("profile_put", &scripts::profile_put(&k, &player));
        assert_one_slot("results_ack", &scripts::results_ack(&k, region));
        assert_one_slot("results_replay", &scripts::results_replay(&k, region));
    }
}

#[test]
fn player_keys_and_inbox_share_the_player_slot() {
    let p = keys().player("alice");
    assert_one_slot(
        "player",
        &[
            p.session(),
            p.inbox_channel(),
            p.ticket(),
            p.current_match(),
            p.profile(),
            p.chat_rate(),
            p.rooms(),
        ],
    );
}

#[test]
fn namespace_does_not_move_a_key() {
    let a = Keys::new("prod").expect("valid");
    let b = Keys::new("test-123").expect("valid");
    assert_eq!(
        slot_of(&a.player("bob").session()),
        slot_of(&b.player("bob").session())
    );
}

/// Counts how many of `keys` land on each of 3 evenly split masters and checks each gets
/// a third, within `tolerance` (a fraction of the third).
fn assert_even_over_three_shards(what: &str, keys: impl Iterator<Item = String>, tolerance: f64) {
    let mut counts = [0_u32; 3];
    let mut total = 0_u32;
    for key in keys {
        counts[shard_of(slot_of(&key), 3)] += 1;
        total += 1;
    }
    let third = f64::from(total) / 3.0;
    for (shard, count) in counts.iter().enumerate() {
        let off = (f64::from(*count) - third).abs() / third;
        assert!(
            off <= tolerance,
            "{what}: shard {shard} of {:?} got {count} of {total} ({:.1}% off a third; counts {counts:?})",
            even_slot_ranges(3)[shard],
            off * 100.0
        );
    }
}

#[test]
fn ten_thousand_players_spread_evenly() {
    let k = keys();
    assert_even_over_three_shards(
        "player sessions",
        (0..10_000).map(|i| k.player(&format!("player-{i}")).session()),
        0.05,
    );
    // Ids that differ only in a short numeric suffix are the usual trap for weak tags.
    assert_even_over_three_shards(
        "numeric player ids",
        (0..10_000).map(|i| k.player(&i.to_string()).inbox_channel()),
        0.05,
    );
    // Uuid-like ids, as an identity provider would hand out.
    assert_even_over_three_shards(
        "uuid-like player ids",
        (0..10_000_u64).map(|i| {
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            k.player(&format!("{x:016x}-{:08x}", i * 7919)).session()
        }),
        0.05,
    );
}

#[test]
fn queues_rooms_regions_and_matches_spread_evenly() {
    let k = &keys();
    let regions: Vec<String> = (0..20).map(|i| format!("region-{i}")).collect();
    let queues: Vec<String> = (0..100).map(|i| format!("queue-{i}")).collect();
    assert_even_over_three_shards(
        "queue-regions",
        queues
            .iter()
            .flat_map(|q| regions.iter().map(move |r| k.queue(q, r).tickets())),
        0.05,
    );
    assert_even_over_three_shards(
        "rooms",
        (0..10_000).map(|i| k.room(&format!("room-{i}")).channel()),
        0.05,
    );
    assert_even_over_three_shards(
        "matches",
        (0..10_000).map(|i| k.match_(&format!("m-{i}")).record()),
        0.05,
    );
    // 2,000 regions is more than anyone runs, but it shows region tags do not cluster.
    assert_even_over_three_shards(
        "pool regions",
        (0..3_000).map(|i| k.pool(&format!("r{i}")).servers_by_load()),
        0.08,
    );
}

#[test]
fn the_default_local_queues_and_regions_are_not_all_on_one_shard() {
    let k = keys();
    let mut shards = std::collections::BTreeSet::new();
    for queue in ["duel", "squad"] {
        for region in ["eu", "us"] {
            shards.insert(shard_of(slot_of(&k.queue(queue, region).tickets()), 3));
        }
    }
    assert!(
        shards.len() >= 2,
        "the local stack's four queue-regions all sit on shard {shards:?}"
    );
}
