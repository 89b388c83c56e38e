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
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: stopping the demo");
            return exit::ROLLED_BACK;
        }
    };
    let rig = match built {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the demo could not start: {e:#}");
            print_json(o, &[]);
            return exit::INTERNAL;
        }
    };
    let told = tokio::select! {
        r = tell(&rig, &mut progress) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let steps = match told {
        Some(Ok(steps)) => steps,
        Some(Err(e)) => {
            eprintln!("error: the demo's setup failed: {e:#}");
            eprintln!("logs: {}", rig.logs().display());
            print_json(o, &[]);
            rig.stop().await;
            return exit::INTERNAL;
        }
        None => {
            eprintln!("interrupted: stopping the fleet");
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
            eprintln!("\nThe fleet stays up (traffic keeps flowing) until Ctrl-C. Try:");
            eprintln!(
                "  export SLUICE_SERVER={} SLUICE_TOKEN_FILE={}",
                server.base_url(),
                server.admin_token_path().display()
            );
            eprintln!("  sluice targets");
            for st in steps.iter().filter(|st| st.rollout.is_some()) {
                let id = st.rollout.as_deref().unwrap_or_default();
                eprintln!("  sluice rollout status {id}; sluice events --rollout {id}    # {}", st.name);
            }
            eprintln!("  sluice release create edge {}", rig.releases.join("v4-features-doubled").display());
            eprintln!("logs: {}", rig.logs().display());
        }
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping the fleet");
    }
    if rig.kept() {
        eprintln!("demo directory kept: {}", rig.dir.display());
    }
    rig.stop().await;
    if ok { exit::OK } else { exit::ROLLED_BACK }
}

async fn tell(rig: &Rig, progress: &mut Progress) -> anyhow::Result<Vec<step::StepResult>> {
    story::baseline(rig, progress).await?;
    Ok(story::steps(rig, progress).await)
}

fn print_json(o: Options, steps: &[step::StepResult]) {
    if o.json {
        println!("{}", step::to_json(steps));
    }
}
