//! `rallypoint-matchmaker`: see the library for what it does.

fn main() -> std::process::ExitCode {
    service_runtime::main::<matchmaker::Matchmaker>()
}
