//! Invariant 2 of docs/ARCHITECTURE.md under stress: three server-pool instances and games that end
//! while new matches keep arriving; no server ever runs more games than its capacity, no
//! match is assigned twice, and every match is assigned.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Api;
use fred::prelude::HashesInterface;
use serde_json::json;

const MATCHES: usize = 400;
const SERVERS: [(&str, u32); 4] = [("s1", 3), ("s2", 5), ("s3", 2), ("s4", 6)];

#[tokio::test]
async fn no_server_ever_exceeds_its_capacity_and_no_match_is_assigned_twice() {
    let ns = testkit::unique_namespace("capacity");
    let redis = common::redis().await;
    let keys = core_keys::Keys::new(&ns).expect("ns");
    // Short leases, so the allocator moves between instances while the test runs.
    let overrides = [("pool.lease_ms", "300"), ("pool.tick_ms", "10")];
    let pools = [
        common::start(&ns, &overrides).await,
        common::start(&ns, &overrides).await,
        common::start(&ns, &overrides).await,
    ];
    let api = Api::new(&pools[0]);
    for (server, capacity) in SERVERS {
        api.register(server, "eu", capacity).await;
    }

    // A watcher reads every server's game count as fast as it can.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (redis, keys, done) = (redis.clone(), keys.clone(), done.clone());
        tokio::spawn(async move {
            let mut highest: HashMap<&str, u64> = HashMap::new();
            while !done.load(Ordering::Relaxed) {
                for (server, capacity) in SERVERS {
                    let active = common::active(&redis, &keys, "eu", server).await;
                    assert!(
                        active <= u64::from(capacity),
                        "{server} runs {active} games, capacity {capacity}"
                    );
                    let high = highest.entry(server).or_default();
                    *high = (*high).max(active);
                }
            }
            highest
        })
    };

    // Matches arrive in bursts; game servers (one per pool instance's API, to spread the
    // calls) end games as soon as they see them.
    let apis: Vec<Api> = pools.iter().map(|pool| api.at_pool(pool)).collect();
    let mut ended: HashMap<String, String> = HashMap::new();
    let mut next = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ended.len() < MATCHES {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {MATCHES} matches were allocated and ended within 60 s",
            ended.len()
        );
        for _ in 0..20 {
            if next < MATCHES {
                let id = format!("m{next}");
                common::pend(
                    &redis,
                    &keys,
                    "eu",
                    &id,
                    &[&format!("a{next}"), &format!("b{next}")],
                )
                .await;
                next += 1;
            }
        }
        for (i, (server, _)) in SERVERS.iter().enumerate() {
            let api = &apis[i % apis.len()];
            let (status, body) = api
                .call(
                    "POST",
                    &format!("/v1/servers/{server}/heartbeat"),
                    Some(json!({})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            for assignment in body["assignments"].as_array().into_iter().flatten() {
                let id = assignment["match"].as_str().unwrap_or_default().to_owned();
                let winner = assignment["teams"][0][0]["player"].clone();
                let (status, _) = api
                    .as_server(server)
                    .call("POST", &format!("/v1/matches/{id}/ack"), None)
                    .await;
                assert_eq!(status, 204);
                let (status, _) = api
                    .as_server(server)
                    .call(
                        "POST",
                        &format!("/v1/matches/{id}/result"),
                        Some(json!({"placements": [[winner]]})),
                    )
                    .await;
                assert_eq!(status, 202);
                if let Some(before) = ended.insert(id.clone(), (*server).to_owned()) {
                    panic!("{id} was given to {before} and to {server}");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done.store(true, Ordering::Relaxed);
    let highest = watcher
        .await
        .expect("the watcher saw no server above capacity");
    eprintln!("{MATCHES} matches through 4 servers; highest concurrent games seen: {highest:?}");

    // Every match was allocated exactly once, to the server recorded for it.
    for i in 0..MATCHES {
        let id = format!("m{i}");
        let server = common::server_of(&redis, &keys, "eu", &id).await;
        assert_eq!(server.as_ref(), ended.get(&id), "{id}");
    }
    let allocations: Option<u64> = redis
        .hget(keys.pool("eu").stats(), "allocations")
        .await
        .expect("hget");
    assert_eq!(
        allocations,
        Some(MATCHES as u64),
        "one allocation per match"
    );
    for (server, _) in SERVERS {
        assert_eq!(
            common::active(&redis, &keys, "eu", server).await,
            0,
            "{server} is idle at the end"
        );
    }
    for pool in pools {
        pool.stop().await.expect("stops");
    }
}
