//! The runtime's stop signal: set once (SIGTERM, SIGINT, or the caller's shutdown future);
//! every wait point of the loops races it, while an apply in progress runs to its end.

use std::time::Duration;

use tokio::sync::watch;

/// A cheap, cloneable view of the stop signal.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    rx: watch::Receiver<bool>,
}

impl Stop {
    pub(crate) fn new(rx: watch::Receiver<bool>) -> Stop {
        Stop { rx }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once the stop is set (or its sender is gone).
    pub(crate) async fn stopped(&mut self) {
        while !*self.rx.borrow_and_update() {
            if self.rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Sleeps `d`; false when the stop came first.
    pub(crate) async fn sleep(&mut self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            () = self.stopped() => false,
        }
    }
}
