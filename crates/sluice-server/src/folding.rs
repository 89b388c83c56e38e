//! Folding finished rollouts into the stored desired state, off the decision path. A
//! transition never writes per target: desired state is derived from the rollouts not folded
//! yet (their plan and state) laid over the stored rows. Once a rollout ends, this task writes
//! its touched targets into the rows — one transaction per rollout, oldest first — so reads
//! lay only the few rollouts of the moment over them. What any target reads is the same before
//! and after a fold; a crash mid-fold leaves the rollout unfolded, and it is folded again.

use std::time::Duration;

use crate::app::SharedApp;

/// How often the task looks for something to fold without being asked.
pub const FOLD_EVERY: Duration = Duration::from_secs(30);

/// Runs until the server shuts down: folds at start, when the driver says a rollout ended,
/// and every [`FOLD_EVERY`].
pub async fn run(app: SharedApp) {
    let mut shutdown = app.shutdown.clone();
    loop {
        fold_all(&app).await;
        tokio::select! {
            () = app.driver.fold_wanted() => {}
            () = tokio::time::sleep(FOLD_EVERY) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
}

async fn fold_all(app: &SharedApp) {
    loop {
        let began = tokio::time::Instant::now();
        match app.store.fold_finished_rollout().await {
            Ok(Some((rollout, targets))) => {
                tracing::debug!(rollout, targets, took_ms = began.elapsed().as_millis() as u64, "rollout folded");
            }
            Ok(None) => return,
            Err(e) => {
                // Nothing is lost: the rollout stays unfolded (reads still derive from it) and
                // is tried again at the next wake-up.
                tracing::warn!(error = %e, "cannot fold a finished rollout into the desired state; trying again later");
                return;
            }
        }
    }
}
