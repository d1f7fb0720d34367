//! What the pool's benchmark examples share: their command line and the config of the
//! services they run in-process against the cluster in `RALLYPOINT_REDIS__URLS`.

#![allow(dead_code)]

use service_runtime::{LoadedConfig, Service};

/// The registration token the benchmarks' pools take.
pub const POOL_TOKEN: &str = "bench-pool-token-0123456789";

/// The `--flag value` pairs of the command line, in order.
pub fn flags() -> anyhow::Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        pairs.push((flag, value));
    }
    Ok(pairs)
}

/// The config of service `S` in namespace `ns`, listening on free ports, with `extra`
/// `RALLYPOINT_*` variables on top.
pub fn config<S: Service>(ns: &str, extra: &[(&str, &str)]) -> anyhow::Result<LoadedConfig> {
    let urls = std::env::var("RALLYPOINT_REDIS__URLS").map_err(|_| {
        anyhow::anyhow!("set RALLYPOINT_REDIS__URLS (make up; eval \"$(deploy/local/env.sh)\")")
    })?;
    let mut env: Vec<(String, String)> = vec![
        ("RALLYPOINT_REDIS__URLS".into(), urls),
        ("RALLYPOINT_REDIS__NAMESPACE".into(), ns.into()),
        ("RALLYPOINT_OPS__LISTEN".into(), "127.0.0.1:0".into()),
        ("RALLYPOINT_POOL__LISTEN".into(), "127.0.0.1:0".into()),
        ("RALLYPOINT_POOL__TOKEN".into(), POOL_TOKEN.into()),
        (
            "RALLYPOINT_POOL__JOIN_SECRET".into(),
            "bench-pool-join-secret-0123456789abcdef".into(),
        ),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Ok(LoadedConfig::load_with_env(
        S::DEFAULTS,
        None,
        Some(env.into_iter().collect()),
    )?)
}
