//! Who is calling: the admin (operator routes), an agent (agent routes and bundles, as the
//! target its credential belongs to), or nobody. Identity comes from the bearer token only,
//! never from the request body or path. Agent credentials are cached by hash after the first
//! lookup, so a long-poll or report costs no SQLite query; a re-enrolled target's old
//! credential is dropped from the cache when the new one is set.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sluice_core::release::TargetId;
use sluice_store::Store;

use crate::app::SharedApp;
use crate::http_error::HttpError;
use crate::secret;

/// The caller a token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Agent(TargetId),
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
            return Ok(Caller::Admin);
        }
        if let Some(t) = self.agents.read().unwrap_or_else(PoisonError::into_inner).get(&hash) {
            return Ok(Caller::Agent(t.clone()));
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

/// An operator route's caller: the admin token, else 403 (an agent) or 401.
#[derive(Debug)]
pub struct Admin;

impl FromRequestParts<SharedApp> for Admin {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, app: &SharedApp) -> Result<Self, HttpError> {
        match app.credentials.caller(app.store.as_ref(), parts).await? {
            Caller::Admin => Ok(Admin),
            Caller::Agent(t) => {
                Err(HttpError::forbidden(format!("agent {t}'s credential may not use operator routes")))
            }
        }
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
            Caller::Admin => Err(HttpError::forbidden("the admin token may not use agent routes")),
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
