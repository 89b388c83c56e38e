//! `sluice demo-edge --listen ADDR --dir DIR/current --proxy fl1|fl2 --ruleset managed|none`:
//! the demo's stand-in proxy (hidden; `sluice demo` starts 48 of them).
//!
//! With `SLUICE_DEMO_EDGE_LIFELINE=1` in its environment it also exits when its stdin closes,
//! so an edge never outlives the `sluice demo` that started it, even if that one is killed.

use std::sync::Arc;

use std::io::Read;

use tokio::net::TcpListener;

use crate::args::DemoEdgeArgs;
use crate::demo::edge_decision::{Proxy, Ruleset};
use crate::demo::edge_server::{Edge, serve};
use crate::exit;

/// The environment variable that turns stdin into a lifeline.
pub const LIFELINE_ENV: &str = "SLUICE_DEMO_EDGE_LIFELINE";

pub fn run(a: &DemoEdgeArgs) -> u8 {
    let (proxy, ruleset) = match (a.proxy.parse::<Proxy>(), a.ruleset.parse::<Ruleset>()) {
        (Ok(p), Ok(r)) => (p, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the runtime: {e}");
            return exit::INTERNAL;
        }
    };
    let lifeline = std::env::var_os(LIFELINE_ENV).is_some_and(|v| v == "1");
    rt.block_on(async move {
        let listener = match TcpListener::bind(&a.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: failed to listen on {}: {e}", a.listen);
                return exit::USAGE;
            }
        };
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| a.listen.clone());
        eprintln!("demo-edge: {proxy}/{ruleset} serving {} on http://{addr}", a.dir.display());
        let edge: Arc<Edge> = Edge::new(&a.dir, proxy, ruleset);
        tokio::select! {
            r = serve(listener, edge) => match r {
                Ok(()) => exit::OK,
                Err(e) => {
                    eprintln!("error: demo-edge stopped accepting: {e}");
                    exit::INTERNAL
                }
            },
            _ = tokio::signal::ctrl_c() => exit::OK,
            _ = stdin_closed(), if lifeline => exit::OK,
        }
    })
}

/// Resolves when stdin reaches its end (the parent closed the pipe or died). A plain thread
/// reads it: stdin is a blocking file.
async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new().name("lifeline".into()).spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = tx.send(());
    });
    if spawned.is_ok() {
        let _ = rx.await;
    } else {
        std::future::pending::<()>().await;
    }
}
