//! `rallypoint-gateway`: see the library for what it does.

fn main() -> std::process::ExitCode {
    service_runtime::main::<gateway::Gateway>()
}
