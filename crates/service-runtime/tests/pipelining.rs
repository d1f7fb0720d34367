//! Against the shared 6-node test cluster: commands sent side by side share socket
//! writes, script calls included, which is what "Batch the round trips" in
//! docs/ARCHITECTURE.md counts on (every separate write is a separate read for Redis).
//! fred upstream flushes the socket after every script call; `vendor/fred` lifts that
//! (vendor/README.md), and this test fails without it.
//!
//! The writes are counted from `/proc/self/io` (`syscw`: the process's `write`/`writev`
//! calls): nextest runs each test in a process of its own, and the test's runtime is
//! single-threaded, so nothing else writes while the calls go out.

mod common;

use fred::types::scripts::Script;

/// The `write`/`writev` system calls this process has made.
fn write_syscalls() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io (Linux)");
    io.lines()
        .find_map(|line| line.strip_prefix("syscw: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("a syscw line")
}

#[tokio::test]
async fn script_calls_sent_together_share_socket_writes() {
    const CALLS: usize = 64;
    let config = common::redis_config(
        &testkit::redis_urls(),
        &testkit::unique_namespace("pipelining"),
    );
    let redis = common::connect(&config).await;
    let keys = config.keys().expect("namespace");
    // One key, so one slot and one connection: every call goes to the same master.
    let key = keys.player("counter").session();
    let count = Script::from_lua("return redis.call('INCR', KEYS[1])");
    // Loaded first, so no call below needs a NOSCRIPT reload (a write of its own).
    let first: i64 = count
        .evalsha_with_reload(&redis, key.clone(), ())
        .await
        .expect("the script runs");
    assert_eq!(first, 1);

    let before = write_syscalls();
    let calls = (0..CALLS).map(|_| count.evalsha_with_reload::<i64, _, _>(&redis, key.clone(), ()));
    let replies = futures::future::join_all(calls).await;
    let writes = write_syscalls() - before;

    let mut counts: Vec<i64> = replies
        .into_iter()
        .map(|reply| reply.expect("the script runs"))
        .collect();
    counts.sort_unstable();
    let expected: Vec<i64> = (2..=CALLS as i64 + 1).collect();
    assert_eq!(counts, expected, "every call ran once");
    // Upstream fred makes one write per call (64); pipelined, the 64 calls (about 5 KB)
    // leave in one write, or a few where the socket's buffer fills.
    assert!(
        writes <= 4,
        "{CALLS} script calls sent together took {writes} socket writes: scripts are not pipelined"
    );
}

/// A script a node does not have (a new release's, or any after a failover or a `SCRIPT
/// FLUSH`) is loaded on the fly even when many calls of it are out together on the same
/// connections: every call answers. fred's own reload (`SCRIPT LOAD` on every master)
/// drains every connection first, and with calls pipelined behind the one that found
/// the script missing, that broke connections and failed calls ("Missing cluster routing
/// state"); `LuaScript::run` sends the script itself (`EVAL`) instead.
#[tokio::test]
async fn a_script_no_node_has_yet_answers_every_call_sent_together() {
    const CALLS: usize = 64;
    let namespace = testkit::unique_namespace("noscript");
    let config = common::redis_config(&testkit::redis_urls(), &namespace);
    // A client just built, still connecting (as a service's are at start).
    let redis = service_runtime::redis::build_client(&config).expect("client");
    let keys = config.keys().expect("namespace");
    // A text of its own (the namespace in it), so no node has this script yet.
    let source: &'static str = Box::leak(
        format!("-- noscript.lua: {namespace}\nreturn redis.call('INCR', KEYS[1])")
            .into_boxed_str(),
    );
    let count: service_runtime::script::LuaScript<i64> =
        service_runtime::script::LuaScript::new(source);
    // Players' keys spread over every master; each lease key is one player's.
    let players: Vec<String> = (0..CALLS).map(|n| format!("p{n}")).collect();
    let calls = players.iter().map(|player| {
        count.run(
            &redis,
            core_keys::scripts::lease(&keys.player(player).session()),
            (),
        )
    });
    let replies = futures::future::join_all(calls).await;
    for (player, reply) in players.iter().zip(replies) {
        assert_eq!(
            reply.expect("the script runs"),
            1,
            "{player}'s call ran once"
        );
    }
}
