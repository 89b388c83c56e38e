//! `sluice server`: run the control plane until SIGINT or SIGTERM, logging to stderr
//! (`RUST_LOG` filters, default `info`).

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use sluice_core::time::Dur;
use sluice_server::ServerConfig;
use tracing_subscriber::EnvFilter;

use crate::args::ServerArgs;
use crate::exit;

pub fn run(a: &ServerArgs) -> u8 {
    let config = match config(a) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::USAGE;
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INTERNAL;
        }
    };
    runtime.block_on(serve(config))
}

fn config(a: &ServerArgs) -> Result<ServerConfig, String> {
    let listen = SocketAddr::from_str(&a.listen)
        .map_err(|e| format!("--listen {:?} is not an address like 127.0.0.1:7070: {e}", a.listen))?;
    let interval = Dur::from_str(&a.report_interval).map_err(|e| format!("--report-interval: {e}"))?;
    let config = ServerConfig::new(listen, a.data_dir.clone()).with_report_interval(Duration::from_millis(interval.0));
    config.check().map_err(|e| e.to_string())?;
    Ok(config)
}

async fn serve(config: ServerConfig) -> u8 {
    let server = match sluice_server::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return exit::INTERNAL;
        }
    };
    eprintln!(
        "sluice server listening on {} (admin token in {})",
        server.base_url(),
        server.admin_token_path().display()
    );
    if let Err(e) = stop_signal().await {
        eprintln!("error: cannot wait for a stop signal: {e}");
    }
    tracing::info!("stopping");
    match server.shutdown().await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::INTERNAL
        }
    }
}

/// SIGINT or SIGTERM.
async fn stop_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
