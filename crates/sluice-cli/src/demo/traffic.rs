//! Steady traffic to every demo edge, as its users would send it, counting per target what was
//! sent and what failed (5xx or no answer). This is how the demo shows what users saw, apart
//! from what the agents reported.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

/// One edge to send traffic to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub target: String,
    pub url: String,
}

#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU64,
    failed: AtomicU64,
}

/// Requests sent and failed, per target, at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(pub BTreeMap<String, (u64, u64)>);

impl Tally {
    /// What happened between `earlier` and this tally.
    pub fn since(&self, earlier: &Tally) -> Tally {
        Tally(
            self.0
                .iter()
                .map(|(t, (s, f))| {
                    let (s0, f0) = earlier.0.get(t).copied().unwrap_or((0, 0));
                    (t.clone(), (s.saturating_sub(s0), f.saturating_sub(f0)))
                })
                .collect(),
        )
    }

    /// Sent and failed over the targets `keep` picks.
    pub fn sum(&self, keep: impl Fn(&str) -> bool) -> (u64, u64) {
        self.0.iter().filter(|(t, _)| keep(t)).fold((0, 0), |(s, f), (_, (s1, f1))| (s + s1, f + f1))
    }
}

/// The running load generator; dropping it stops the traffic.
#[derive(Debug)]
pub struct Traffic {
    counts: BTreeMap<String, Arc<Counts>>,
    _tasks: JoinSet<()>,
}

impl Traffic {
    /// Send `per_second` requests a second to each endpoint, spread evenly over the second.
    pub fn start(endpoints: &[Endpoint], per_second: u32) -> Traffic {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap_or_default();
        let period = Duration::from_secs(1) / per_second.max(1);
        let mut tasks = JoinSet::new();
        let mut counts = BTreeMap::new();
        let n = u32::try_from(endpoints.len().max(1)).unwrap_or(u32::MAX);
        for (i, e) in endpoints.iter().enumerate() {
            let c = Arc::new(Counts::default());
            counts.insert(e.target.clone(), c.clone());
            let http = http.clone();
            let url = e.url.clone();
            let offset = period * u32::try_from(i).unwrap_or(0) / n;
            tasks.spawn(async move {
                tokio::time::sleep(offset).await;
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
                loop {
                    tick.tick().await;
                    let ok = match http.get(&url).send().await {
                        Ok(r) => !r.status().is_server_error(),
                        Err(_) => false,
                    };
                    c.sent.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        c.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        Traffic { counts, _tasks: tasks }
    }

    pub fn tally(&self) -> Tally {
        Tally(
            self.counts
                .iter()
                .map(|(t, c)| (t.clone(), (c.sent.load(Ordering::Relaxed), c.failed.load(Ordering::Relaxed))))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_subtract_and_sum() {
        let a = Tally([("a".to_string(), (10, 1)), ("b".to_string(), (5, 0))].into_iter().collect());
        let b = Tally([("a".to_string(), (15, 4)), ("b".to_string(), (9, 0))].into_iter().collect());
        let d = b.since(&a);
        assert_eq!(d.0["a"], (5, 3));
        assert_eq!(d.sum(|_| true), (9, 3));
        assert_eq!(d.sum(|t| t == "b"), (4, 0));
    }
}
