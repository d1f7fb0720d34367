//! `rallypoint-cache-warmer`: see the library for what it does.
//!
//! `rallypoint-cache-warmer migrate [--config PATH]` brings the database schema up to date
//! and exits (a deploy step for operators); without a command it runs the service.

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: service_runtime::Allocator = service_runtime::ALLOCATOR;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("migrate") {
        return cache_warmer::migrate_command(std::env::args().skip(2).collect());
    }
    service_runtime::main::<cache_warmer::CacheWarmer>()
}
