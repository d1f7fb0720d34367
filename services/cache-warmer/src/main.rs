//! `rallypoint-cache-warmer`: see the library for what it does.

fn main() -> std::process::ExitCode {
    service_runtime::main::<cache_warmer::CacheWarmer>()
}
