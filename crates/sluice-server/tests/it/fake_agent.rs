//! A fake agent: enrolls, long-polls desired state, "applies" a release by downloading its
//! bundle and reporting it as running, and reports a health sample every ~50 ms, unhealthy
//! while it runs the release it was told is bad.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_api::{ApplyReport, Client, Enroll, Report, ServiceReport};
use sluice_core::engine::Sample;
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::time::Millis;
use tokio::task::JoinHandle;

#[derive(Debug)]
struct State {
    client: Client,
    version: Option<u64>,
    running: BTreeMap<String, Option<ReleaseId>>,
    applied_version: u64,
    bad: Option<ReleaseId>,
}

pub struct FakeAgent {
    pub target: TargetId,
    pub credential: String,
    state: Arc<Mutex<State>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl FakeAgent {
    /// Enroll `id` with `labels` using a fresh enrollment token, and start its loop.
    pub async fn start(admin: &Client, id: &str, labels: &[(&str, &str)]) -> FakeAgent {
        let token = crate::harness::enrollment_token(admin).await;
        let enrolled = admin
            .with_token(None)
            .enroll(&Enroll {
                enrollment_token: token,
                target: TargetId::from(id),
                labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                facts: BTreeMap::new(),
            })
            .await
            .unwrap();
        let client = admin.with_token(Some(enrolled.credential.clone()));
        let state = Arc::new(Mutex::new(State {
            client,
            version: None,
            running: BTreeMap::new(),
            applied_version: 0,
            bad: None,
        }));
        let task = tokio::spawn(run(state.clone()));
        FakeAgent { target: enrolled.target, credential: enrolled.credential, state, task: Some(task) }
    }

    /// Report errors while running `release`.
    pub fn set_bad(&self, release: Option<ReleaseId>) {
        self.state.lock().unwrap().bad = release;
    }

    /// Talk to another server (after a restart) with the same credential.
    pub fn retarget(&self, base: &str) {
        let mut s = self.state.lock().unwrap();
        s.client = Client::new(base, Some(self.credential.clone())).unwrap();
    }

    pub fn running(&self, service: &str) -> Option<ReleaseId> {
        self.state.lock().unwrap().running.get(service).cloned().flatten()
    }
}

async fn run(state: Arc<Mutex<State>>) {
    loop {
        if step(&state).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn step(state: &Arc<Mutex<State>>) -> Result<(), sluice_api::ClientError> {
    let (client, after) = {
        let s = state.lock().unwrap();
        (s.client.clone(), s.version)
    };
    let desired = client.desired(after, Duration::from_millis(50)).await?;
    if Some(desired.version) != after {
        for svc in &desired.services {
            if let Some(digest) = &svc.bundle {
                let bytes = client.bundle(digest, 1 << 20).await?;
                assert_eq!(sluice_bundle::digest(&bytes), *digest, "downloaded bundle matches its digest");
            }
        }
        let mut s = state.lock().unwrap();
        for svc in &desired.services {
            s.running.insert(svc.service.clone(), svc.release.clone());
        }
        s.version = Some(desired.version);
        s.applied_version = desired.version;
    }
    let report = {
        let s = state.lock().unwrap();
        Report {
            at: Millis(0),
            facts: BTreeMap::new(),
            services: s
                .running
                .iter()
                .map(|(name, running)| {
                    let bad = running.is_some() && *running == s.bad;
                    ServiceReport {
                        service: name.clone(),
                        running: running.clone(),
                        known_good: None,
                        last_apply: Some(ApplyReport {
                            release: running.clone(),
                            ok: true,
                            reason: None,
                            detail: None,
                            desired_version: s.applied_version,
                            at: Millis(s.applied_version),
                            duration_ms: 1,
                        }),
                        sample: Some(Sample {
                            at: Millis(0),
                            release: running.clone(),
                            requests: 100,
                            errors: if bad { 50 } else { 0 },
                            ..Sample::default()
                        }),
                        metrics: None,
                    }
                })
                .collect(),
            agent: BTreeMap::new(),
        }
    };
    client.report(&report).await?;
    tokio::time::sleep(Duration::from_millis(30)).await;
    Ok(())
}
