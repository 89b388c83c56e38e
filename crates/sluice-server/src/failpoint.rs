//! A failpoint for crash tests: with `SLUICE_FAILPOINT=abort-after-moves:N` in its environment
//! the server aborts (no shutdown code runs, as with kill -9) right after it committed its
//! N-th transition that moves targets, before it tells any agent — the window the crash tests
//! must cover: the new state is in the store, no long-poll has woken. Unset (always, outside
//! tests), it costs one relaxed atomic load per transition that moves targets.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms the failpoint.
pub const VAR: &str = "SLUICE_FAILPOINT";

fn armed() -> Option<u64> {
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    *AT.get_or_init(|| {
        let value = std::env::var(VAR).ok()?;
        match value.strip_prefix("abort-after-moves:").and_then(|n| n.parse::<u64>().ok()) {
            Some(n) => {
                tracing::warn!(failpoint = %value, "failpoint armed: the server will abort after {n} transition(s) that move targets");
                Some(n)
            }
            None => {
                tracing::error!(failpoint = %value, "unknown failpoint (known: abort-after-moves:N); ignored");
                None
            }
        }
    })
}

/// Called after each committed transition that moves targets, before agents are told.
pub fn after_moves_committed() {
    static SEEN: AtomicU64 = AtomicU64::new(0);
    if let Some(n) = armed()
        && SEEN.fetch_add(1, Ordering::Relaxed) + 1 >= n
    {
        eprintln!("failpoint abort-after-moves:{n}: aborting after the commit, before any agent is told");
        std::process::abort();
    }
}
