//! The `sluice` binary: parses arguments and hands them to [`sluice_cli::run`].

fn main() -> std::process::ExitCode {
    sluice_cli::run(std::env::args_os())
}
