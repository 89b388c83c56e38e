//! What the runner measures on its own, independent of sluice: steady requests to every nginx
//! instance (a new connection each, counted per target), and where every host's `current`
//! symlink points, read from disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The runner's requests to one target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetTraffic {
    pub requests: u64,
    pub failures: u64,
    /// Failures by path.
    pub failures_by_path: BTreeMap<String, u64>,
    /// The first few failures, as `path: what` (`502`, `connect error`).
    pub examples: Vec<String>,
}

type Stats = Arc<Mutex<BTreeMap<String, TargetTraffic>>>;

/// Requests to `/` and `/api/` of every target, each path every `every`.
#[derive(Debug)]
pub struct Traffic {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    stats: Stats,
}

impl Traffic {
    pub fn start(targets: &[(String, u16)], every: Duration) -> anyhow::Result<Traffic> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(2))
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let stats: Stats = Arc::default();
        let mut tasks = Vec::new();
        for (id, port) in targets {
            for path in ["/", "/api/"] {
                let (http, stats, mut stopped) = (http.clone(), stats.clone(), stopped.clone());
                let (id, url) = (id.clone(), format!("http://127.0.0.1:{port}{path}"));
                tasks.push(tokio::spawn(async move {
                    let mut tick = tokio::time::interval(every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tokio::select! {
                            _ = tick.tick() => {}
                            _ = stopped.changed() => break,
                        }
                        let failure = match http.get(&url).send().await {
                            Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                                Ok(_) => None,
                                Err(e) => Some(format!("body: {e}")),
                            },
                            Ok(resp) => Some(resp.status().as_u16().to_string()),
                            Err(e) => Some(format!("error: {e}")),
                        };
                        let mut s = stats.lock().unwrap_or_else(PoisonError::into_inner);
                        let t = s.entry(id.clone()).or_default();
                        t.requests += 1;
                        if let Some(what) = failure {
                            t.failures += 1;
                            *t.failures_by_path.entry(path.to_string()).or_default() += 1;
                            if t.examples.len() < 3 {
                                t.examples.push(format!("{path}: {what}"));
                            }
                        }
                    }
                }));
            }
        }
        Ok(Traffic { stop, tasks, stats })
    }

    pub fn snapshot(&self) -> BTreeMap<String, TargetTraffic> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Stops every sender and waits for requests in flight.
    pub async fn stop(self) -> BTreeMap<String, TargetTraffic> {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.stats.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Every release directory each host's `current` ever pointed at (read every 20 ms).
#[derive(Debug)]
pub struct CurrentWatch {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    seen: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
}

impl CurrentWatch {
    /// `links`: target id → its service's `current` symlink.
    pub fn start(links: Vec<(String, PathBuf)>) -> CurrentWatch {
        let (stop, mut stopped) = watch::channel(false);
        let seen: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>> = Arc::default();
        let s2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                for (id, link) in &links {
                    if let Some(name) = std::fs::read_link(link)
                        .ok()
                        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    {
                        s2.lock().unwrap_or_else(PoisonError::into_inner).entry(id.clone()).or_default().insert(name);
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        CurrentWatch { stop, task, seen }
    }

    /// Targets whose `current` ever pointed at release directory `dir`.
    pub fn ever_on(&self, dir: &str) -> BTreeSet<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, s)| s.contains(dir))
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
