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

/// Every Lua script of the workspace, by file name, with the keys it is given for one
/// set of ids: the same functions of `core_keys::scripts` the code runs it with.
fn every_script(k: &Keys, i: usize) -> Vec<(&'static str, scripts::ScriptKeys)> {
    let player = format!("player-{i}");
    let ticket = format!("t{i}");
    let match_id = format!("m-{i}");
    let queue = ["duel", "squad", "ranked-1v1", "br"][i % 4];
    let region = ["eu", "us", "ap-south", "sa"][i % 4];
    let tickets: Vec<String> = (0..10).map(|n| format!("t{i}-{n}")).collect();
    let ticket_refs: Vec<&str> = tickets.iter().map(String::as_str).collect();
    let servers: Vec<String> = (0..5).map(|n| format!("gs-{i}-{n}")).collect();
    let server_refs: Vec<&str> = servers.iter().map(String::as_str).collect();
    let server = &servers[0];
    let lease = || scripts::lease(&k.queue(queue, region).lease());
    vec![
        ("lease_acquire", lease()),
        ("lease_renew", lease()),
        ("lease_release", lease()),
        (
            "instance_announce",
            scripts::instance_announce(k, "gateway", &player),
        ),
        ("session_open", scripts::session_open(k, &player)),
        ("inbox_keep", scripts::inbox_keep(k, &player)),
        ("block_set", scripts::player_blocks(k, &player)),
        ("blocks_put", scripts::player_blocks(k, &player)),
        ("blocks_ack", scripts::blocks_ack(k)),
        ("ready_start", scripts::ready_check(k, &match_id)),
        ("ready_answer", scripts::ready_check(k, &match_id)),
        ("ready_settle", scripts::ready_check(k, &match_id)),
        ("party_claim", scripts::party_member(k, &player)),
        ("party_release", scripts::party_member(k, &player)),
        ("party_invited", scripts::party_member(k, &player)),
        ("party_create", scripts::party_state(k, &ticket)),
        ("party_invite", scripts::party_state(k, &ticket)),
        ("party_join", scripts::party_state(k, &ticket)),
        ("party_remove", scripts::party_state(k, &ticket)),
        ("party_promote", scripts::party_state(k, &ticket)),
        ("party_refresh", scripts::party_state(k, &ticket)),
        ("session_touch", scripts::session_open(k, &player)),
        ("session_close", scripts::session_open(k, &player)),
        ("session_mute", scripts::session_open(k, &player)),
        ("guard_admit", scripts::player_guard(k, &player)),
        ("guard_strike", scripts::player_guard(k, &player)),
        ("room_refresh", scripts::room_membership(k, &player)),
        ("room_leave", scripts::room_membership(k, &player)),
        ("room_publish", scripts::room_publish(k, &player)),
        ("room_history", scripts::room_history(k, &player)),
        ("ticket_reserve", scripts::ticket_reserve(k, &player)),
        ("ticket_release", scripts::ticket_release(k, &player)),
        (
            "ticket_enqueue",
            scripts::queue_enqueue(k, queue, region, &ticket),
        ),
        (
            "ticket_remove",
            scripts::queue_enqueue(k, queue, region, &ticket),
        ),
        (
            "ticket_requeue",
            scripts::queue_requeue(k, queue, region, &ticket),
        ),
        ("player_requeued", scripts::player_matched(k, &player)),
        ("player_matched", scripts::player_matched(k, &player)),
        ("player_result", scripts::player_result(k, &player)),
        ("player_free", scripts::player_result(k, &player)),
        ("queue_snapshot", scripts::queue_view(k, queue, region)),
        ("queue_changes", scripts::queue_changes(k, queue, region)),
        (
            "queue_expire",
            scripts::queue_expire(k, queue, region, &ticket),
        ),
        (
            "queue_claim",
            scripts::queue_claim(k, queue, region, &match_id, &ticket_refs),
        ),
        (
            "backfill_claim",
            scripts::backfill_claim(k, queue, region, &ticket, &match_id, &ticket_refs),
        ),
        (
            "backfill_request",
            scripts::queue_backfill(k, queue, region, &match_id),
        ),
        (
            "backfill_close",
            scripts::queue_backfill(k, queue, region, &match_id),
        ),
        (
            "pool_backfill",
            scripts::pool_backfill(k, region, &match_id, server),
        ),
        ("pool_fill_pend", scripts::pool_fill_pend(k, region)),
        ("pool_pend", scripts::pool_pend(k, region, &match_id)),
        (
            "pool_allocate",
            scripts::pool_allocate(k, region, &match_id, &server_refs),
        ),
        ("pool_ack", scripts::pool_ack(k, region, &match_id, server)),
        (
            "pool_backfill_mark",
            scripts::pool_backfill_mark(k, region, &match_id),
        ),
        (
            "pool_result",
            scripts::pool_result(k, region, &match_id, server),
        ),
        (
            "pool_result_begin",
            scripts::pool_result_begin(k, region, &match_id),
        ),
        (
            "pool_cancel",
            scripts::pool_cancel(k, region, &match_id, server),
        ),
        ("pool_register", scripts::pool_register(k, region, server)),
        ("pool_drain", scripts::pool_drain(k, region, server)),
        (
            "pool_heartbeat",
            scripts::pool_heartbeat(k, region, server, &["m1", "m2"]),
        ),
        ("pool_reap", scripts::pool_reap(k, region, server)),
        ("profile_put", scripts::profile_put(k, &player)),
        ("results_ack", scripts::results_ack(k, region)),
        ("results_replay", scripts::results_replay(k, region)),
        ("data_warm", scripts::data_warm(k, queue)),
    ]
}

#[test]
fn every_script_touches_one_slot() {
    let k = keys();
    for i in 0..500 {
        for (script, keys) in every_script(&k, i) {
            assert_one_slot(script, &keys);
        }
    }
}

/// The `.lua` files under `dir` (recursively), skipping build output.
fn lua_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !matches!(
                name.to_str(),
                Some("target" | ".git" | ".run" | "node_modules")
            ) {
                lua_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "lua") {
            out.push(path);
        }
    }
}

/// A script added without a keys function here (or given keys built elsewhere) fails
/// this test: every `.lua` file that uses `KEYS` is in [`every_script`], and each starts
/// with the header that names it.
#[test]
fn every_lua_script_in_the_workspace_is_covered() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates", "services"] {
        lua_files(&root.join(dir), &mut files);
    }
    let covered: std::collections::BTreeSet<&str> = every_script(&keys(), 0)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let mut scripts_seen = 0;
    for file in &files {
        let source = std::fs::read_to_string(file).expect("a readable script");
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a file name");
        assert!(
            source.starts_with(&format!("-- {stem}.lua:")),
            "{} does not start with its header `-- {stem}.lua: ...`",
            file.display()
        );
        // A library (shared Lua functions, e.g. slot_free.lua) touches no KEYS itself.
        if !source.contains("KEYS[") {
            continue;
        }
        scripts_seen += 1;
        assert!(
            covered.contains(stem),
            "{} has no keys function in the slot test: add it to `every_script`",
            file.display()
        );
    }
    assert_eq!(
        scripts_seen,
        covered.len(),
        "every script the test lists exists as a file"
    );
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
