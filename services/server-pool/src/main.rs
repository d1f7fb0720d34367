//! `rallypoint-server-pool`: see the library for what it does.

fn main() -> std::process::ExitCode {
    service_runtime::main::<server_pool::ServerPool>()
}
