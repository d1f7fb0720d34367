//! The cluster as operators see it: `GET /v1/cluster` (admin token) puts together the
//! figures every live instance announced in the registry ([`crate::instances`]) into one
//! view: players online per gateway, queues with their wait times, game servers per
//! region, allocations and cancellations, cache hit rate, results outbox.
//!
//! It reads only the registry, so any service's ops port answers it and no service calls
//! another. Figures that are cluster-wide in Redis (queue sizes, cache counters) are taken
//! from the freshest instance that reports them; a queue comes from the matchmaker
//! instance that holds it (it forms every match there, so it has the wait times), and a
//! region's game servers from the pool instance allocating for it: each reports only the
//! units it holds, so each unit is read once, by its holder.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fred::prelude::Client;
use serde_json::{Map, Value, json};

use crate::clock::now_ms;
use crate::instances::{Announced, Registry};

/// The services a deployment runs; one without a live instance is reported as missing.
pub const SERVICES: [&str; 4] = ["gateway", "matchmaker", "server-pool", "cache-warmer"];

#[derive(Clone)]
struct ClusterState {
    registry: Registry,
    redis: Client,
    stale_after_ms: u64,
}

/// `GET /v1/cluster`; mount it behind the admin token. Figures announced more than
/// `stale_after_ms` ago are left out (their instance is listed as `stale`): an instance
/// that stopped announcing must not look live until its entry lapses.
pub fn routes(registry: Registry, redis: Client, stale_after_ms: u64) -> Router {
    Router::new()
        .route("/v1/cluster", get(cluster))
        .with_state(ClusterState {
            registry,
            redis,
            stale_after_ms,
        })
}

async fn cluster(State(state): State<ClusterState>) -> Response {
    match state.registry.live(&state.redis, None).await {
        Ok(instances) => Json(view(now_ms(), state.stale_after_ms, instances)).into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "unavailable", "message": format!("cannot read the instance registry from Redis ({err}); retry")})),
        )
            .into_response(),
    }
}

/// Puts the instances' announced figures together (see the module doc), leaving out
/// figures older than `stale_after_ms`.
pub fn view(now: u64, stale_after_ms: u64, mut instances: Vec<Announced>) -> Value {
    let stale = |i: &Announced| now.saturating_sub(i.announced_ms) > stale_after_ms;
    // Freshest first, so "the first that reports it" is the most recent figure.
    instances.sort_by_key(|i| std::cmp::Reverse(i.announced_ms));
    let of = |service: &'static str| instances.iter().filter(move |i| i.info.service == service);
    let figures = |i: &Announced| {
        i.stats
            .as_ref()
            .filter(|s| s.is_object() && !stale(i))
            .cloned()
    };

    let mut gateways = Vec::new();
    let mut players_online = 0;
    for gateway in of("gateway") {
        let stats = figures(gateway).unwrap_or(Value::Null);
        let connections = stats["connections"].as_u64();
        players_online += connections.unwrap_or(0);
        gateways.push(json!({
            "id": gateway.info.id,
            "connections": connections,
            "rooms": stats["rooms"],
            "accepting": stats["accepting"],
        }));
    }
    gateways.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));

    // Queues: each matchmaker reports the queues it holds (it has their wait times);
    // the freshest report of a queue wins (two just after a handover).
    let mut queues: BTreeMap<(String, String), Value> = BTreeMap::new();
    for matchmaker in of("matchmaker") {
        let Some(stats) = figures(matchmaker) else {
            continue;
        };
        for entry in stats["queues"].as_array().into_iter().flatten() {
            let (Some(queue), Some(region)) = (entry["queue"].as_str(), entry["region"].as_str())
            else {
                continue;
            };
            if entry["held_here"].as_bool() != Some(true) {
                continue;
            }
            let mut entry = entry.clone();
            if let Some(object) = entry.as_object_mut() {
                object.remove("held_here");
                object.insert("held_by".into(), json!(matchmaker.info.id));
            }
            queues
                .entry((queue.to_owned(), region.to_owned()))
                .or_insert(entry);
        }
    }

    let freshest = |service: &'static str, field: &str| {
        of(service)
            .filter_map(figures)
            .map(|stats| stats[field].clone())
            .find(|v| !v.is_null())
            .unwrap_or(Value::Null)
    };
    // Each pool instance reports the regions it allocates for; the freshest report of a
    // region wins (two just after a handover).
    let mut regions: BTreeMap<String, Value> = BTreeMap::new();
    for pool in of("server-pool") {
        let Some(stats) = figures(pool) else {
            continue;
        };
        for entry in stats["regions"].as_array().into_iter().flatten() {
            if let Some(region) = entry["region"].as_str() {
                regions
                    .entry(region.to_owned())
                    .or_insert_with(|| entry.clone());
            }
        }
    }
    let warmer_results = freshest("cache-warmer", "results");
    let outbox: Vec<Value> = warmer_results
        .as_object()
        .map(|regions| {
            regions
                .iter()
                .map(|(region, figures)| {
                    json!({
                        "region": region,
                        "outbox": figures["outbox"],
                        "dead_letters": figures["dead_letters"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();

    let mut counts: BTreeMap<&str, u64> = SERVICES.iter().map(|s| (*s, 0)).collect();
    let listed: Vec<Value> = instances
        .iter()
        .map(|i| {
            if let Some(count) = counts.get_mut(i.info.service.as_str()) {
                *count += 1;
            }
            json!({
                "service": i.info.service,
                "id": i.info.id,
                "version": i.info.version,
                "address": i.info.address,
                "started_ms": i.info.started_ms,
                "stats_age_ms": now.saturating_sub(i.announced_ms),
                "stale": stale(i),
            })
        })
        .collect();
    let missing: Vec<&str> = counts
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(s, _)| *s)
        .collect();

    let mut out = Map::new();
    out.insert("at_ms".into(), json!(now));
    out.insert("instances".into(), Value::Array(listed));
    out.insert("missing".into(), json!(missing));
    out.insert("players_online".into(), json!(players_online));
    out.insert("gateways".into(), Value::Array(gateways));
    out.insert(
        "queues".into(),
        Value::Array(queues.into_values().collect()),
    );
    out.insert(
        "regions".into(),
        Value::Array(regions.into_values().collect()),
    );
    out.insert("cache".into(), freshest("cache-warmer", "cache"));
    out.insert("outbox".into(), Value::Array(outbox));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instances::InstanceInfo;

    fn announced(service: &str, id: &str, at: u64, stats: Value) -> Announced {
        Announced {
            info: InstanceInfo {
                service: service.into(),
                id: id.into(),
                version: "0.1.0".into(),
                address: "127.0.0.1:1".into(),
                started_ms: 0,
            },
            announced_ms: at,
            stats: Some(stats),
        }
    }

    #[test]
    fn players_are_summed_over_gateways_and_missing_services_are_named() {
        let view = view(
            10_000,
            60_000,
            vec![
                announced(
                    "gateway",
                    "gw-b",
                    9_000,
                    json!({"connections": 3, "rooms": 1, "accepting": true}),
                ),
                announced(
                    "gateway",
                    "gw-a",
                    9_500,
                    json!({"connections": 4, "rooms": 0, "accepting": false}),
                ),
            ],
        );
        assert_eq!(view["players_online"], 7);
        assert_eq!(view["gateways"][0]["id"], "gw-a");
        assert_eq!(view["gateways"][0]["accepting"], false);
        assert_eq!(
            view["missing"],
            json!(["cache-warmer", "matchmaker", "server-pool"])
        );
        assert_eq!(view["instances"][0]["stats_age_ms"], 500);
    }

    #[test]
    fn figures_an_instance_stopped_announcing_are_left_out() {
        let view = view(
            10_000,
            2_000,
            vec![
                announced("gateway", "gw-live", 9_000, json!({"connections": 3})),
                announced("gateway", "gw-hung", 5_000, json!({"connections": 40})),
            ],
        );
        assert_eq!(view["players_online"], 3);
        let hung = view["instances"]
            .as_array()
            .and_then(|all| all.iter().find(|i| i["id"] == "gw-hung"))
            .cloned()
            .expect("still listed");
        assert_eq!(hung["stale"], true);
    }

    #[test]
    fn a_queue_is_reported_by_its_holder_even_when_another_instance_is_fresher() {
        let queue = |held: bool, queued: u64| json!({"queues": [{"queue": "duel", "region": "eu", "queued": queued, "held_here": held}]});
        let view = view(
            10_000,
            60_000,
            vec![
                announced("matchmaker", "mm-fresh", 9_900, queue(false, 5)),
                announced("matchmaker", "mm-holder", 9_000, queue(true, 4)),
            ],
        );
        let queues = view["queues"].as_array().expect("queues");
        assert_eq!(queues.len(), 1);
        assert_eq!(queues[0]["held_by"], "mm-holder");
        assert_eq!(queues[0]["queued"], 4);
        assert!(queues[0].get("held_here").is_none());
    }

    #[test]
    fn the_freshest_pool_and_warmer_figures_win_and_null_figures_are_skipped() {
        let view = view(
            10_000,
            60_000,
            vec![
                announced(
                    "server-pool",
                    "pool-old",
                    1_000,
                    json!({"regions": [
                        {"region": "eu", "allocations": 1},
                        {"region": "us", "allocations": 5},
                    ]}),
                ),
                announced(
                    "server-pool",
                    "pool-new",
                    9_000,
                    json!({"regions": [{"region": "eu", "allocations": 2}]}),
                ),
                announced("server-pool", "pool-silent", 9_999, Value::Null),
                announced(
                    "cache-warmer",
                    "cw",
                    9_000,
                    json!({
                        "results": {"eu": {"outbox": 3, "dead_letters": 1}},
                        "cache": {"hit_rate": 0.5},
                    }),
                ),
            ],
        );
        assert_eq!(view["regions"][0]["allocations"], 2);
        // Regions reported by different pool instances (each its own) are all listed.
        assert_eq!(view["regions"][1]["region"], "us");
        assert_eq!(view["regions"][1]["allocations"], 5);
        assert_eq!(
            view["outbox"],
            json!([{"region": "eu", "outbox": 3, "dead_letters": 1}])
        );
        assert_eq!(view["cache"]["hit_rate"], 0.5);
        assert_eq!(view["missing"], json!(["gateway", "matchmaker"]));
    }
}
