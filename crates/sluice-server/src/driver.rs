//! The rollout driver: one task ([`run`]) owns the active rollouts. It steps them with what the
//! fleet reported, and carries out operators' starts, commands and hold clearings, which reach
//! it over a channel ([`Driver::start`], [`Driver::command`], [`Driver::clear_hold`] send a
//! request and await its answer). Nothing else holds rollout state: HTTP handlers, the
//! health-source poller and `/metrics` read the immutable [`Snapshot`] the task publishes
//! (`watch<Arc<Snapshot>>`), without waiting on it — no lock is held across an await.
//!
//! Each decision is written to the store first (`commit_transition`: the rollout's new state,
//! its events, the service's standing when it finished, the desired-state changes, in one
//! transaction) and only then mirrored to the desired-state board, which wakes the affected
//! long-polls. A crash before the commit loses nothing (the step is taken again from the
//! stored state); after it, the new state and desired state are in the store, and a restarted
//! server loads both. A failed commit marks the in-memory rollout stale: it is reloaded from
//! the store before its next step.
//!
//! The task wakes on a report or command ([`Driver::wake`]), at the nearest deadline, or every
//! [`TICK`], and steps at most every [`MIN_STEP_GAP`] so bursts of reports coalesce. It
//! publishes a snapshot after every transition and request, and otherwise at most every
//! [`SNAPSHOT_EVERY`] (gate values move between transitions).

mod owner;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sluice_core::engine::{Command, ServiceState};
use sluice_core::release::{ReleaseId, TargetId};
use sluice_core::spec::{GateSpec, PipelineSpec};
use sluice_store::{RolloutFilter, RolloutRecord, Store, StoreError};
use tokio::sync::{Notify, mpsc, oneshot, watch};

pub use self::owner::run;
use crate::http_error::{HttpError, HttpResult};

/// Longest the driver sleeps without a reason to wake.
pub const TICK: Duration = Duration::from_millis(250);
/// Shortest time between two steps: wake-ups closer than this are coalesced. A step judges
/// every wave member's samples, so at 10,000 agents reporting every 5 s (2,000 reports a
/// second) this bounds the judging to 10 steps a second; a verdict comes at most this much
/// later than the report that decides it (a report interval is seconds). Requests (starts,
/// commands) are carried out at once, not after the gap.
pub const MIN_STEP_GAP: Duration = Duration::from_millis(100);
/// Longest a published snapshot's gate evaluations lag the driver's own.
pub const SNAPSHOT_EVERY: Duration = Duration::from_millis(250);
/// Requests waiting for the driver beyond this are refused (503) rather than queued forever.
const INBOX: usize = 1024;

/// The actor of the driver's own transitions.
pub const DRIVER_ACTOR: &str = "sluice";
/// The name of the admin token written at first start (`<data-dir>/admin.token`).
pub const ADMIN_ACTOR: &str = "admin";

/// What the driver task last published: every active rollout, as the driver holds it (with
/// gate evaluations fresher than the store's).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub active: BTreeMap<String, Arc<RolloutRecord>>,
}

/// The handle everyone else holds: requests in, snapshots out.
#[derive(Debug)]
pub struct Driver {
    requests: mpsc::Sender<Request>,
    /// The receiving end and the loaded rollouts, until [`run`] takes them.
    inbox: Mutex<Option<Inbox>>,
    snapshot: watch::Sender<Arc<Snapshot>>,
    wake: Notify,
    /// A rollout ended: the folding task has something to fold.
    fold: Notify,
}

/// What [`run`] takes over: its request channel and the rollouts loaded from the store.
type Inbox = (mpsc::Receiver<Request>, BTreeMap<String, owner::Active>);

/// A gate with a health source that an active rollout is judging.
#[derive(Debug, Clone)]
pub struct SourcedGate {
    pub rollout: String,
    pub service: String,
    pub gate: GateSpec,
}

/// The stage whose gates judge (or are about to judge) a wave in this phase.
/// How a rollout is to start.
#[derive(Debug)]
pub struct StartRequest {
    pub service: String,
    pub release: ReleaseId,
    pub pipeline: PipelineSpec,
    pub emergency: bool,
    pub reason: Option<String>,
    pub seed: Option<u64>,
    /// A revert to the service's previous known-good (`release` must be it): the emergency
    /// profile, no approvals, no probation, allowed while the service is held.
    pub revert: bool,
    /// The pipeline's name, kept with a queued start (resolved again when it starts).
    pub pipeline_name: String,
    /// While another rollout of the service is active: wait behind it instead of a 409.
    pub queue: bool,
    /// Who asked (the API token's name): the actor of the start's events.
    pub actor: String,
    /// What the change says about itself.
    pub change: sluice_core::change::ChangeRecord,
    /// Started past the policy: waits for a second person before anything moves.
    pub break_glass: Option<sluice_core::engine::BreakGlass>,
}

/// What a start did.
#[derive(Debug)]
pub enum Started {
    Rollout(Box<RolloutRecord>),
    /// Waiting behind the active rollout; with the release it superseded.
    Queued(Box<sluice_core::engine::Queued>, Option<ReleaseId>),
}

/// What the driver task is asked to do, with where to answer.
#[derive(Debug)]
enum Request {
    Start(Box<StartRequest>, oneshot::Sender<HttpResult<Started>>),
    Command { id: String, cmd: Command, reply: oneshot::Sender<HttpResult<RolloutRecord>> },
    ClearHold { service: String, reason: String, actor: String, reply: oneshot::Sender<HttpResult<ServiceState>> },
}

impl Driver {
    /// Load the active rollouts from the store; [`run`] takes them over.
    pub async fn load(store: &dyn Store) -> Result<Driver, StoreError> {
        let active: BTreeMap<String, owner::Active> = store
            .list_rollouts(&RolloutFilter::active())
            .await?
            .into_iter()
            .map(|record| (record.rollout.id.clone(), owner::Active { record, stale: false }))
            .collect();
        let (requests, inbox) = mpsc::channel(INBOX);
        let first =
            Snapshot { active: active.iter().map(|(id, a)| (id.clone(), Arc::new(a.record.clone()))).collect() };
        let (snapshot, _) = watch::channel(Arc::new(first));
        Ok(Driver {
            requests,
            inbox: Mutex::new(Some((inbox, active))),
            snapshot,
            wake: Notify::new(),
            fold: Notify::new(),
        })
    }

    /// Ask for a step soon (a report or command arrived).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves once a rollout ended since the last call (for the folding task).
    pub async fn fold_wanted(&self) {
        self.fold.notified().await;
    }

    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// The driver's copy of an active rollout (fresher gate evaluations than the store's).
    pub fn active(&self, id: &str) -> Option<Arc<RolloutRecord>> {
        self.snapshot().active.get(id).cloned()
    }

    /// The gates with a health source of the stages each active rollout judges now: the one
    /// applying or baking and every stage passed before it (also while paused or awaiting
    /// approval), every stage in probation (`Rollout::judged_stages`).
    pub fn sourced_gates(&self) -> Vec<SourcedGate> {
        let snap = self.snapshot();
        let mut out = Vec::new();
        for rec in snap.active.values() {
            let r = &rec.rollout;
            for stage in r.judged_stages().into_iter().filter_map(|i| r.plan.stages.get(i)) {
                for g in stage.gates.iter().filter(|g| g.source().is_some()) {
                    out.push(SourcedGate { rollout: r.id.clone(), service: r.service.clone(), gate: g.clone() });
                }
            }
        }
        out
    }

    /// The judged targets of every stage an active rollout judges now (what a `per: cohort`
    /// source's value stands for): the current stage's members told so far and every member of
    /// the stages it watches (all of them in probation); empty otherwise.
    pub fn canary(&self, rollout: &str) -> Vec<TargetId> {
        let Some(rec) = self.active(rollout) else { return Vec::new() };
        let r = &rec.rollout;
        let current = r.position();
        let mut out = Vec::new();
        for stage in r.judged_stages() {
            let Some(sp) = r.plan.stages.get(stage) else { continue };
            let told = r.told_in(stage);
            let end = match current {
                Some((s, wave)) if s == stage => sp.wave_end(wave).min(told),
                _ => told,
            };
            out.extend(sp.targets[..end].iter().filter(|t| !r.excluded.contains(*t)).cloned());
        }
        out
    }

    /// Active rollouts by phase name (for `/metrics`).
    pub fn phases(&self) -> HashMap<&'static str, i64> {
        let mut out = HashMap::new();
        for rec in self.snapshot().active.values() {
            *out.entry(rec.rollout.phase_name()).or_insert(0) += 1;
        }
        out
    }

    /// Start a rollout: refused (409) while the service has a hold, or an active rollout
    /// unless `req.queue` (then it waits behind it).
    pub async fn start(&self, req: StartRequest) -> HttpResult<Started> {
        self.ask(|reply| Request::Start(Box::new(req), reply)).await
    }

    /// Start a rollout now, or refuse (409): never queues.
    pub async fn start_now(&self, req: StartRequest) -> HttpResult<RolloutRecord> {
        match self.start(StartRequest { queue: false, ..req }).await? {
            Started::Rollout(r) => Ok(*r),
            Started::Queued(..) => Err(HttpError::internal("starting a rollout", "it was queued though it may not be")),
        }
    }

    /// Carry out an operator's command on an active rollout: 409 when it is finished or the
    /// command does not apply to its phase; 404 for an unknown rollout.
    pub async fn command(&self, id: &str, cmd: Command) -> HttpResult<RolloutRecord> {
        self.ask(|reply| Request::Command { id: id.to_string(), cmd, reply }).await
    }

    /// Clear the hold a failed rollout left on `service` (serialized with starts and steps):
    /// 409 when the service is not held.
    pub async fn clear_hold(&self, service: &str, reason: &str, actor: &str) -> HttpResult<ServiceState> {
        self.ask(|reply| Request::ClearHold {
            service: service.to_string(),
            reason: reason.to_string(),
            actor: actor.to_string(),
            reply,
        })
        .await
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<HttpResult<T>>) -> Request) -> HttpResult<T> {
        let (reply, answer) = oneshot::channel();
        self.requests.try_send(make(reply)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                HttpError::unavailable("the rollout driver is busy: too many requests waiting; try again")
            }
            mpsc::error::TrySendError::Closed(_) => HttpError::unavailable("the rollout driver has stopped"),
        })?;
        self.wake();
        answer.await.map_err(|_| HttpError::unavailable("the rollout driver stopped before answering"))?
    }

    /// Taken once by [`run`].
    fn take_inbox(&self) -> Option<Inbox> {
        self.inbox.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn publish(&self, active: &BTreeMap<String, owner::Active>) {
        let snap = Snapshot {
            active: active
                .iter()
                .filter(|(_, a)| !a.stale)
                .map(|(id, a)| (id.clone(), Arc::new(a.record.clone())))
                .collect(),
        };
        self.snapshot.send_replace(Arc::new(snap));
    }
}
