//! Who may do what: the role an operator's API token carries.
//!
//! - `viewer` reads: rollouts, services, targets, events, releases, the spec.
//! - `deployer` also creates releases and starts, pauses, resumes, aborts and rolls back
//!   rollouts (of the services its token is scoped to, if it is).
//! - `approver` also approves rollouts waiting at a stage and clears a service's hold (same
//!   scoping); approving is never a deployer's right, so the author of a change needs someone
//!   else to let it through a stage that asks for approval.
//! - `admin` does everything, including applying specs, making enrollment tokens and
//!   creating and revoking API tokens.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Deployer,
    Approver,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Deployer, Role::Approver, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    /// May create releases and start and steer rollouts.
    pub fn deploys(self) -> bool {
        matches!(self, Role::Deployer | Role::Admin)
    }

    /// May approve rollouts and clear holds.
    pub fn approves(self) -> bool {
        matches!(self, Role::Approver | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            format!(
                "unknown role {s:?}: one of {}",
                Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_back_as_written_and_unknown_ones_are_named() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        let err = "root".parse::<Role>().unwrap_err();
        assert!(err.contains("\"root\"") && err.contains("viewer, deployer, approver, admin"), "{err}");
    }

    #[test]
    fn only_deployers_and_admins_deploy_only_approvers_and_admins_approve() {
        let deploys: Vec<Role> = Role::ALL.into_iter().filter(|r| r.deploys()).collect();
        let approves: Vec<Role> = Role::ALL.into_iter().filter(|r| r.approves()).collect();
        assert_eq!(deploys, [Role::Deployer, Role::Admin]);
        assert_eq!(approves, [Role::Approver, Role::Admin]);
    }
}
