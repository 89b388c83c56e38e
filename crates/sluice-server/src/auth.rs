//! Who is calling: an operator (the admin token written at first start, or a named API token
//! with a role and maybe a service scope: [`Operator`]), an agent (agent routes and bundles, as
//! the target its credential belongs to), or nobody. Identity comes from the bearer token only,
//! never from the request body or path. Agent credentials are cached by hash after the first
//! lookup, so a long-poll or report costs no SQLite query; a re-enrolled target's old
//! credential is dropped from the cache when the new one is set. Operators' API tokens are
//! looked up on every request (operators call rarely), so a revoked token is refused at once.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sluice_core::release::TargetId;
use sluice_core::role::Role;
use sluice_store::Store;

use crate::app::SharedApp;
use crate::http_error::HttpError;
use crate::secret;

/// The caller a token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Operator(Operator),
    Agent(TargetId),
}

/// A person (or their automation) holding an operator's token: its name is the actor of every
/// event they cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub role: Role,
    /// The services a deployer or approver may act on; `None`: every service.
    pub services: Option<Vec<String>>,
}

impl Operator {
    /// The admin token written at first start.
    fn first_admin() -> Operator {
        Operator { name: crate::driver::ADMIN_ACTOR.to_string(), role: Role::Admin, services: None }
    }

    fn scoped_to(&self, service: &str) -> bool {
        self.services.as_ref().is_none_or(|s| s.iter().any(|x| x == service))
    }

    fn refuse(&self, what: &str, needs: &str) -> HttpError {
        HttpError::forbidden(format!("token {} ({}) may not {what}: that needs {needs}", self.name, self.describe()))
    }

    /// `viewer`, or `deployer of edge-rules, api`.
    pub fn describe(&self) -> String {
        match &self.services {
            Some(s) => format!("{} of {}", self.role, s.join(", ")),
            None => self.role.to_string(),
        }
    }

    /// Create releases of, start and steer rollouts of `service`: `deployer` (scoped to it) or
    /// `admin`; else 403 naming what is missing.
    pub fn may_deploy(&self, service: &str, what: &str) -> Result<(), HttpError> {
        self.may(self.role.deploys(), "the deployer or admin role", service, what)
    }

    /// Approve rollouts of, clear the hold of `service`: `approver` (scoped to it) or `admin`.
    pub fn may_approve(&self, service: &str, what: &str) -> Result<(), HttpError> {
        self.may(self.role.approves(), "the approver or admin role", service, what)
    }

    /// Pause, resume, abort or roll back a rollout of `service`: a deployer's right, and an
    /// approver's too (stopping a change is never less allowed than letting it through).
    pub fn may_steer(&self, service: &str, what: &str) -> Result<(), HttpError> {
        self.may(self.role.deploys() || self.role.approves(), "the deployer, approver or admin role", service, what)
    }

    fn may(&self, role_allows: bool, needs: &str, service: &str, what: &str) -> Result<(), HttpError> {
        if !role_allows {
            return Err(self.refuse(what, needs));
        }
        if !self.scoped_to(service) {
            return Err(self.refuse(what, &format!("a token for service {service}")));
        }
        Ok(())
    }
}

/// Token hashes the server accepts.
#[derive(Debug)]
pub struct Credentials {
    admin_hash: String,
    /// Agent token hash → target; filled on first use and on enrollment.
    agents: RwLock<HashMap<String, TargetId>>,
}

impl Credentials {
    pub fn new(admin_hash: String) -> Credentials {
        Credentials { admin_hash, agents: RwLock::new(HashMap::new()) }
    }

    /// The caller `parts` carries a token of; 401 without a token or with an unknown one.
    pub async fn caller(&self, store: &dyn Store, parts: &Parts) -> Result<Caller, HttpError> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(HttpError::unauthorized("missing `Authorization: Bearer <token>` header"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| HttpError::unauthorized("the Authorization header is not `Bearer <token>`"))?;
        if token.len() > secret::MAX_TOKEN_LEN {
            return Err(HttpError::unauthorized("unknown token"));
        }
        let hash = secret::hash(token);
        if hash == self.admin_hash {
            return Ok(Caller::Operator(Operator::first_admin()));
        }
        if let Some(t) = self.agents.read().unwrap_or_else(PoisonError::into_inner).get(&hash) {
            return Ok(Caller::Agent(t.clone()));
        }
        if let Some(t) = store.api_token_by_hash(&hash).await? {
            return Ok(Caller::Operator(Operator { name: t.name, role: t.role, services: t.services }));
        }
        match store.agent_by_token_hash(&hash).await? {
            Some(target) => {
                self.agents.write().unwrap_or_else(PoisonError::into_inner).insert(hash, target.clone());
                Ok(Caller::Agent(target))
            }
            None => Err(HttpError::unauthorized("unknown token")),
        }
    }

    /// `target` now has the credential `hash`: forget its older ones.
    pub fn agent_credential_set(&self, target: &TargetId, hash: String) {
        let mut agents = self.agents.write().unwrap_or_else(PoisonError::into_inner);
        agents.retain(|_, t| t != target);
        agents.insert(hash, target.clone());
    }
}

/// An operator route's caller, any role (every role reads); 403 for an agent, 401 without a
/// known token. Routes that change something check the role and scope they need.
impl FromRequestParts<SharedApp> for Operator {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, HttpError> {
        match app.credentials.caller(app.store.as_ref(), parts).await? {
            Caller::Operator(op) => Ok(op),
            Caller::Agent(t) => {
                Err(HttpError::forbidden(format!("agent {t}'s credential may not use operator routes")))
            }
        }
    }
}

/// An admin-only route's caller: an operator with the `admin` role, else 403.
#[derive(Debug)]
pub struct Admin(pub Operator);

impl FromRequestParts<SharedApp> for Admin {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, HttpError> {
        let op = Operator::from_request_parts(parts, app).await?;
        if op.role != Role::Admin {
            return Err(HttpError::forbidden(format!(
                "token {} ({}) may not use this route: it needs the admin role",
                op.name,
                op.describe()
            )));
        }
        Ok(Admin(op))
    }
}

/// An agent route's caller: the target its credential belongs to, else 403 (the admin) or 401.
#[derive(Debug)]
pub struct Agent(pub TargetId);

impl FromRequestParts<SharedApp> for Agent {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, HttpError> {
        match app.credentials.caller(app.store.as_ref(), parts).await? {
            Caller::Agent(t) => Ok(Agent(t)),
            Caller::Operator(op) => {
                Err(HttpError::forbidden(format!("operator token {} may not use agent routes", op.name)))
            }
        }
    }
}

/// Either kind of caller (bundle downloads).
#[derive(Debug)]
pub struct AnyCaller;

impl FromRequestParts<SharedApp> for AnyCaller {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, HttpError> {
        app.credentials.caller(app.store.as_ref(), parts).await.map(|_| AnyCaller)
    }
}
