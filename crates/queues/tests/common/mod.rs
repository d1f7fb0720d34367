//! What the queues crate's tests share: tickets on the shared test cluster.

use fred::prelude::ClientLike;
use queues::Tickets;

/// Tickets (at a default rating of 1500) in namespace `ns`, with the client and keys.
pub async fn tickets(ns: &str) -> (Tickets, fred::prelude::Client, core_keys::Keys) {
    let env = [
        (
            "RALLYPOINT_REDIS__URLS".to_owned(),
            testkit::redis_urls().join(","),
        ),
        ("RALLYPOINT_REDIS__NAMESPACE".to_owned(), ns.to_owned()),
    ];
    let config =
        service_runtime::LoadedConfig::load_with_env("", None, Some(env.into_iter().collect()))
            .expect("config");
    let redis = service_runtime::redis::build_client(&config.common.redis).expect("client");
    redis.wait_for_connect().await.expect("connected");
    let keys = config.common.redis.keys().expect("keys");
    (
        Tickets::new(
            keys.clone(),
            redis.clone(),
            queues::JoinPolicy::default_rating(1500.0),
        ),
        redis,
        keys,
    )
}
