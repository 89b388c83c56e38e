//! Operators' commands: pause, resume, approve, abort, roll back.

use serde::{Deserialize, Serialize};

use super::{Approval, Phase, Rollout};
use crate::engine::action::{Action, EventKind, Outcome};
use crate::role::Role;
use crate::spec::ApprovalSpec;
use crate::time::{Dur, Millis};

/// An operator's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum Command {
    /// Every command but `rollback` may carry a reason (the `--reason` a person gave); it is
    /// recorded in the event the command causes.
    Pause {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Resume {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Approve the stage the rollout waits at (or its broken glass). `role` is the role the
    /// person holds (`None` where roles are not known, as in the simulator).
    Approve {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<Role>,
    },
    /// Take back one's approval of the stage the rollout waits at (only before it starts).
    Withdraw {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Stop and return every touched target to known-good; the service is not held.
    Abort {
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Return every touched target to known-good now and hold the service, as a failed gate does.
    Rollback { by: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("cannot {command} rollout {rollout}: it is {phase}")]
    NotApplicable { rollout: String, command: &'static str, phase: String },
    /// The author of a change may not be the one who lets it through.
    #[error("{by} started rollout {rollout} and so may not approve it: another person must")]
    OwnApproval { rollout: String, by: String },
    /// The stage takes approvals from other roles only.
    #[error("stage {stage} of rollout {rollout} takes approvals from {from} only; {by} is {role}")]
    RoleMayNotApprove { rollout: String, stage: String, by: String, role: Role, from: String },
    #[error("{by} already approved stage {stage} of rollout {rollout}: each person counts once ({count} of {needed})")]
    AlreadyApproved { rollout: String, stage: String, by: String, count: usize, needed: u32 },
    #[error("{by} has no approval of stage {stage} of rollout {rollout} to withdraw")]
    NothingToWithdraw { rollout: String, stage: String, by: String },
}

impl Command {
    /// Who gave the command.
    pub fn by(&self) -> &str {
        match self {
            Command::Pause { by, .. }
            | Command::Resume { by, .. }
            | Command::Approve { by, .. }
            | Command::Withdraw { by, .. }
            | Command::Abort { by, .. }
            | Command::Rollback { by, .. } => by,
        }
    }
}

impl Rollout {
    /// Carry out an operator's command.
    pub fn command(&mut self, now: Millis, cmd: &Command) -> Result<Vec<Action>, CommandError> {
        self.upgrade_marks();
        let mut out = Vec::new();
        let refuse = |r: &Rollout, command: &'static str| CommandError::NotApplicable {
            rollout: r.id.clone(),
            command,
            phase: r.phase_name().to_string(),
        };
        match cmd {
            Command::Pause { by, reason } => match &self.phase {
                Phase::Applying { .. }
                | Phase::Baking { .. }
                | Phase::AwaitingApproval { .. }
                | Phase::Probation { .. } => {
                    self.record(&mut out, now, EventKind::Paused { by: by.clone(), reason: reason.clone() });
                    self.phase = Phase::Paused { resume_to: Box::new(self.phase.clone()), by: by.clone() };
                }
                _ => return Err(refuse(self, "pause")),
            },
            Command::Resume { by, reason } => match self.phase.clone() {
                Phase::Paused { resume_to, .. } => {
                    self.record(&mut out, now, EventKind::Resumed { by: by.clone(), reason: reason.clone() });
                    // A bake must be one unbroken healthy stretch: it starts over. An apply gets
                    // its full deadline again (a person held it).
                    self.phase = match *resume_to {
                        Phase::Baking { stage, wave, .. } => {
                            Phase::Baking { stage, wave, since: now, held: false, observed: Dur::ZERO, checked: now }
                        }
                        Phase::Applying { stage, wave, .. } => Phase::Applying { stage, wave, since: now },
                        Phase::Probation { .. } => {
                            Phase::Probation { since: now, held: false, observed: Dur::ZERO, checked: now }
                        }
                        other => other,
                    };
                }
                _ => return Err(refuse(self, "resume")),
            },
            Command::Approve { by, .. } if self.author.as_ref() == Some(by) => {
                return Err(CommandError::OwnApproval { rollout: self.id.clone(), by: by.clone() });
            }
            Command::Approve { by, reason, role } => match self.phase.clone() {
                Phase::AwaitingApproval { stage, .. } => self.approve(&mut out, now, stage, by, reason, *role)?,
                _ => return Err(refuse(self, "approve")),
            },
            Command::Withdraw { by, reason } => match self.phase.clone() {
                Phase::AwaitingApproval { stage, .. } => self.withdraw(&mut out, now, stage, by, reason)?,
                _ => return Err(refuse(self, "withdraw an approval of")),
            },
            Command::Abort { by, reason } => match self.phase {
                Phase::Finished { .. } | Phase::RollingBack { .. } => return Err(refuse(self, "abort")),
                _ => {
                    let why = match reason {
                        Some(r) => format!("aborted by {by}: {r}"),
                        None => format!("aborted by {by}"),
                    };
                    self.begin_rollback(&mut out, now, why, Outcome::Aborted)
                }
            },
            Command::Rollback { by, reason } => match self.phase {
                Phase::Finished { .. } | Phase::RollingBack { .. } => return Err(refuse(self, "roll back")),
                _ => self.begin_rollback(&mut out, now, format!("rolled back by {by}: {reason}"), Outcome::RolledBack),
            },
        }
        Ok(out)
    }

    /// One person's approval of `stage` (or of broken glass, which comes first).
    fn approve(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        stage: usize,
        by: &str,
        reason: &Option<String>,
        role: Option<Role>,
    ) -> Result<(), CommandError> {
        let approval = Approval { by: by.to_string(), role, at: now, reason: reason.clone() };
        let name = self.plan.stages[stage].name.clone();
        if let Some(glass) = self.break_glass.as_mut().filter(|g| g.approved.is_none()) {
            if let Some(role) = role.filter(|r| !r.approves()) {
                return Err(CommandError::RoleMayNotApprove {
                    rollout: self.id.clone(),
                    stage: name,
                    by: by.to_string(),
                    role,
                    from: "approver or admin (broken glass)".into(),
                });
            }
            glass.approved = Some(approval);
            self.record(out, now, EventKind::BreakGlassApproved { by: by.to_string(), reason: reason.clone() });
            self.enter_stage(out, now, stage);
            return Ok(());
        }
        // Coverage that blocks asks for one approval where the stage itself asks for none.
        let rule = self.plan.stages[stage].approval_rule().unwrap_or_else(ApprovalSpec::one);
        if let Some(role) = role.filter(|r| !rule.accepts(*r)) {
            let from = rule.from.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ");
            return Err(CommandError::RoleMayNotApprove {
                rollout: self.id.clone(),
                stage: name,
                by: by.to_string(),
                role,
                from,
            });
        }
        let given = self.approvals.entry(stage).or_default();
        if given.iter().any(|a| a.by == by) {
            return Err(CommandError::AlreadyApproved {
                rollout: self.id.clone(),
                stage: name,
                by: by.to_string(),
                count: given.len(),
                needed: rule.count,
            });
        }
        given.push(approval);
        let count = given.len();
        let event = EventKind::Approved {
            stage: name.clone(),
            by: by.to_string(),
            reason: reason.clone(),
            count: u32::try_from(count).unwrap_or(u32::MAX),
            needed: rule.count,
        };
        self.record(out, now, event);
        if count >= rule.count as usize {
            self.approved.insert(stage);
            self.enter_stage(out, now, stage);
        } else if let Phase::AwaitingApproval { why, .. } = &mut self.phase {
            *why = approvals_why(count, &rule);
        }
        Ok(())
    }

    /// `by` takes back their approval of `stage` (which has not started).
    fn withdraw(
        &mut self,
        out: &mut Vec<Action>,
        now: Millis,
        stage: usize,
        by: &str,
        reason: &Option<String>,
    ) -> Result<(), CommandError> {
        let name = self.plan.stages[stage].name.clone();
        let given = self.approvals.entry(stage).or_default();
        let Some(i) = given.iter().position(|a| a.by == by) else {
            return Err(CommandError::NothingToWithdraw { rollout: self.id.clone(), stage: name, by: by.to_string() });
        };
        given.remove(i);
        let count = given.len();
        self.record(out, now, EventKind::ApprovalWithdrawn { stage: name, by: by.to_string(), reason: reason.clone() });
        let rule = self.plan.stages[stage].approval_rule().unwrap_or_else(ApprovalSpec::one);
        if let Phase::AwaitingApproval { why, .. } = &mut self.phase {
            *why = approvals_why(count, &rule);
        }
        Ok(())
    }

    pub fn phase_name(&self) -> &'static str {
        self.phase_kind().as_str()
    }
}

/// Why a stage still waits: how many approvals it has of how many, from whom.
pub(super) fn approvals_why(count: usize, rule: &ApprovalSpec) -> String {
    let from = rule.from.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" or ");
    if rule.count == 1 && count == 0 {
        return format!("the stage requires approval (from {from})");
    }
    format!("the stage requires {} approvals from different people ({from}): {count} so far", rule.count)
}
