//! `rallypoint-matchmaker`: see the library for what it does.

#[global_allocator]
static ALLOCATOR: service_runtime::Allocator = service_runtime::ALLOCATOR;

fn main() -> std::process::ExitCode {
    service_runtime::main::<matchmaker::Matchmaker>()
}
