//! Operators' commands: pause, resume, approve, abort, roll back.

use serde::{Deserialize, Serialize};

use super::{Phase, Rollout};
use crate::engine::action::{Action, EventKind, Outcome};
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
    Approve {
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
}

impl Command {
    /// Who gave the command.
    pub fn by(&self) -> &str {
        match self {
            Command::Pause { by, .. }
            | Command::Resume { by, .. }
            | Command::Approve { by, .. }
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
            Command::Approve { by, reason } => match self.phase.clone() {
                Phase::AwaitingApproval { stage, .. } => {
                    self.approved.insert(stage);
                    let name = self.plan.stages[stage].name.clone();
                    let reason = reason.clone();
                    self.record(&mut out, now, EventKind::Approved { stage: name, by: by.clone(), reason });
                    self.enter_stage(&mut out, now, stage);
                }
                _ => return Err(refuse(self, "approve")),
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

    pub fn phase_name(&self) -> &'static str {
        self.phase_kind().as_str()
    }
}
