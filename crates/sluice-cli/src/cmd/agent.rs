//! `sluice agent --config agent.yaml`: the node agent. Reads the configuration (a bad one exits
//! 2 with file:line:column), logs to stderr through `tracing` (`RUST_LOG` filters, default
//! `info`), and runs [`sluice_agent::run`] on a single-threaded runtime until SIGTERM or SIGINT.

use sluice_agent::AgentConfig;
use tracing_subscriber::EnvFilter;

use crate::args::AgentArgs;
use crate::exit;

pub fn run(a: &AgentArgs) -> u8 {
    let config = match AgentConfig::load(&a.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (the binary is also driven in-process by tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    match runtime.block_on(sluice_agent::run(config, stop_signal())) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            if e.is_config() { exit::USAGE } else { exit::INTERNAL }
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT. If the handlers cannot be installed, never
/// resolves (the process still dies on the default action).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::warn!("cannot install the SIGTERM/SIGINT handlers; the agent stops only when killed");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
}
