//! `sluice demo`: a real control plane, a local fleet of real agents in front of demo edge
//! services, steady traffic, and the story of the two outages in the scenarios — a harmless
//! release that goes everywhere, the 5 Dec kill switch caught in staging and rolled back, and
//! the 18 Nov feature file rejected before any target sees it.
//!
//! The demo edge (`sluice demo-edge`) is a stand-in for a proxy: it is a demo, not a server to
//! run in production.

pub mod agent_config;
pub mod bundled;
pub mod children;
pub mod clock;
pub mod control_plane;
pub mod edge_config;
pub mod edge_decision;
pub mod edge_metrics;
pub mod edge_server;
pub mod emergency;
pub mod fleet;
pub mod progress;
pub mod rig;
pub mod rollout_watch;
pub mod step;
pub mod story;
pub mod summary;
pub mod traffic;
pub mod wait;

use crate::exit;

/// A line on stderr that never panics: after SIGHUP the terminal may be gone, and stopping the
/// fleet matters more than saying so.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
use progress::Progress;
use rig::Rig;

/// How the demo runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Run the story and stop; otherwise keep the fleet up until Ctrl-C.
    pub once: bool,
    /// `{"ok", "steps"}` on stdout, no progress on stderr.
    pub json: bool,
    /// Keep the demo directory.
    pub keep: bool,
}

/// Run the demo; returns the exit code.
pub async fn run(o: Options) -> u8 {
    let mut progress = Progress::new(o.json);
    let built = tokio::select! {
        r = Rig::build(o.keep, &progress) => r,
        _ = stop_requested() => {
            note!("interrupted: stopping the demo");
            return exit::ROLLED_BACK;
        }
    };
    let rig = match built {
        Ok(r) => r,
        Err(e) => {
            note!("error: the demo could not start: {e:#}");
            print_json(o, &[]);
            return exit::INTERNAL;
        }
    };
    let told = tokio::select! {
        r = tell(&rig, &mut progress) => Some(r),
        _ = stop_requested() => None,
    };
    let steps = match told {
        Some(Ok(steps)) => steps,
        Some(Err(e)) => {
            note!("error: the demo's setup failed: {e:#}");
            note!("logs: {}", rig.logs().display());
            print_json(o, &[]);
            rig.stop().await;
            return exit::INTERNAL;
        }
        None => {
            note!("interrupted: stopping the fleet");
            rig.stop().await;
            return exit::ROLLED_BACK;
        }
    };
    let ok = step::all_ok(&steps);
    if o.json {
        print_json(o, &steps);
    } else {
        println!("\n{}", summary::table(&steps));
        println!("{}", if ok { "the story held: every step ended as expected" } else { "the story did NOT hold" });
    }
    if !o.once {
        if let Some(server) = &rig.server {
            note!("\nThe fleet stays up (traffic keeps flowing) until Ctrl-C. Try:");
            note!(
                "  export SLUICE_SERVER={} SLUICE_TOKEN_FILE={}",
                server.base_url(),
                server.admin_token_path().display()
            );
            note!("  sluice targets");
            for st in steps.iter().filter(|st| st.rollout.is_some()) {
                let id = st.rollout.as_deref().unwrap_or_default();
                note!("  sluice rollout status {id}; sluice events --rollout {id}    # {}", st.name);
            }
            note!("  sluice release create edge {}", rig.releases.join("v4-features-doubled").display());
            note!("logs: {}", rig.logs().display());
        }
        stop_requested().await;
        note!("stopping the fleet");
    }
    if rig.kept() {
        note!("demo directory kept: {}", rig.dir.display());
    }
    rig.stop().await;
    if ok { exit::OK } else { exit::ROLLED_BACK }
}

/// Ctrl-C, SIGTERM or SIGHUP (a closed terminal): every one stops the demo in order, so no
/// child outlives it. (Only SIGKILL cannot be handled: the edges then exit as their stdin
/// closes, the agents keep running; see `children`.)
async fn stop_requested() {
    use tokio::signal::unix::{SignalKind, signal};
    let (term, hup) = (signal(SignalKind::terminate()), signal(SignalKind::hangup()));
    match (term, hup) {
        (Ok(mut term), Ok(mut hup)) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn tell(rig: &Rig, progress: &mut Progress) -> anyhow::Result<Vec<step::StepResult>> {
    let people = story::people(rig, progress).await?;
    story::baseline(rig, &people, progress).await?;
    Ok(story::steps(rig, &people, progress).await)
}

fn print_json(o: Options, steps: &[step::StepResult]) {
    if o.json {
        println!("{}", step::to_json(steps));
    }
}
