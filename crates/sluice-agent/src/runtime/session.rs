//! Who the agent is to the server: enrollment with the one-time token, the saved credential,
//! and what happens when the server stops accepting it (401): log loudly, enroll again when a
//! token is configured, otherwise keep serving and retry with backoff.

use std::path::PathBuf;
use std::sync::Mutex;

use sluice_api::{Client, ClientError, Enroll};
use sluice_core::labels::Labels;
use sluice_core::release::TargetId;

use super::stop::Stop;
use super::{AgentError, lock};
use crate::backoff::Backoff;
use crate::config::AgentConfig;
use crate::credential::{self, Credential};

/// The agent's connection to the server and the credential it uses.
#[derive(Debug)]
pub(crate) struct Session {
    server: String,
    target: TargetId,
    labels: Labels,
    facts: Labels,
    token: Option<String>,
    token_file: Option<PathBuf>,
    state_dir: PathBuf,
    /// The client with the current credential, and its generation (bumped on re-enrollment).
    client: Mutex<(u64, Client)>,
    /// One enrollment at a time (a token is good for one).
    renewing: tokio::sync::Mutex<()>,
    /// The generation whose refusal was logged.
    refused_logged: Mutex<Option<u64>>,
}

/// How enrollment ended.
enum Enrollment {
    Done(Credential),
    /// No token configured.
    NoToken,
    Failed(String),
}

impl Session {
    /// Loads the saved credential, or enrolls (retrying with backoff until `stop`). `None`
    /// when stopped before enrolling.
    pub(crate) async fn start(
        config: &AgentConfig,
        target: TargetId,
        facts: Labels,
        seed: u64,
        stop: &mut Stop,
    ) -> Result<Option<Session>, AgentError> {
        let bare = Client::new(&config.server, None).map_err(AgentError::Client)?;
        let mut session = Session {
            server: config.server.clone(),
            target,
            labels: config.labels.clone(),
            facts,
            token: config.enrollment_token.clone(),
            token_file: config.enrollment_token_file.clone(),
            state_dir: config.state_dir.clone(),
            client: Mutex::new((0, bare.clone())),
            renewing: tokio::sync::Mutex::new(()),
            refused_logged: Mutex::new(None),
        };
        let saved = Credential::load(&config.state_dir).map_err(AgentError::Credential)?;
        if let Some(saved) = saved {
            if saved.target != session.target {
                if !session.has_token() {
                    return Err(AgentError::CredentialMismatch {
                        file: credential::path(&config.state_dir),
                        saved: saved.target,
                        configured: session.target,
                    });
                }
                tracing::warn!(saved = %saved.target, configured = %session.target, "the saved credential is another target's; enrolling again");
            } else {
                if saved.server.trim_end_matches('/') != session.server.trim_end_matches('/') {
                    tracing::warn!(saved = %saved.server, configured = %session.server, "the saved credential was issued by another server URL; using it anyway");
                }
                tracing::info!(target = %session.target, "using the saved credential");
                *lock(&session.client) = (1, bare.with_token(Some(saved.credential)));
                return Ok(Some(session));
            }
        } else if !session.has_token() {
            return Err(AgentError::NotEnrolled { file: credential::path(&config.state_dir) });
        }
        let mut backoff = Backoff::agent(seed);
        let mut last_failure = None;
        loop {
            match session.enroll().await {
                Enrollment::Done(credential) => {
                    session.client = Mutex::new((1, bare.with_token(Some(credential.credential))));
                    return Ok(Some(session));
                }
                Enrollment::NoToken => {
                    return Err(AgentError::NotEnrolled { file: credential::path(&config.state_dir) });
                }
                Enrollment::Failed(why) => {
                    if last_failure.as_ref() != Some(&why) {
                        tracing::warn!(error = %why, "enrollment failed; retrying with backoff");
                        last_failure = Some(why);
                    }
                    if !stop.sleep(backoff.next_delay()).await {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// A session with no credential, for unit tests of what shares one.
    #[cfg(test)]
    pub(crate) fn for_tests(config: &AgentConfig) -> Session {
        let client = Client::new(&config.server, None).unwrap_or_else(|e| unreachable!("{e}"));
        Session {
            server: config.server.clone(),
            target: TargetId(config.id.clone().unwrap_or_default()),
            labels: config.labels.clone(),
            facts: Labels::new(),
            token: config.enrollment_token.clone(),
            token_file: config.enrollment_token_file.clone(),
            state_dir: config.state_dir.clone(),
            client: Mutex::new((0, client)),
            renewing: tokio::sync::Mutex::new(()),
            refused_logged: Mutex::new(None),
        }
    }

    /// The client with the current credential, and its generation.
    pub(crate) fn client(&self) -> (u64, Client) {
        let guard = lock(&self.client);
        (guard.0, guard.1.clone())
    }

    pub(crate) fn facts(&self) -> &Labels {
        &self.facts
    }

    /// The server answered 401 to a request made with credential `generation`. Enrolls again
    /// when a token is configured; true when a new credential is in place (retry at once).
    pub(crate) async fn refused(&self, generation: u64) -> bool {
        let _one_at_a_time = self.renewing.lock().await;
        if self.client().0 != generation {
            return true;
        }
        let first = {
            let mut logged = lock(&self.refused_logged);
            let first = *logged != Some(generation);
            *logged = Some(generation);
            first
        };
        match self.enroll().await {
            Enrollment::Done(credential) => {
                tracing::warn!(target = %self.target, "the server refused the saved credential (401); enrolled again");
                let mut guard = lock(&self.client);
                let client = guard.1.with_token(Some(credential.credential));
                *guard = (generation + 1, client);
                true
            }
            Enrollment::NoToken => {
                if first {
                    tracing::error!(
                        target = %self.target,
                        "THE SERVER REFUSES THIS AGENT'S CREDENTIAL (401) and no enrollment token is configured: \
                         serving what is applied, retrying with backoff; configure an enrollment token to enroll again"
                    );
                }
                false
            }
            Enrollment::Failed(why) => {
                if first {
                    tracing::error!(target = %self.target, error = %why, "the server refuses this agent's credential (401) and enrolling again failed; retrying with backoff");
                }
                false
            }
        }
    }

    fn has_token(&self) -> bool {
        self.token.is_some() || self.token_file.is_some()
    }

    /// The enrollment token: inline, or read from its file now (so a replaced file is used).
    fn enrollment_token(&self) -> Result<Option<String>, String> {
        if let Some(t) = &self.token {
            return Ok(Some(t.clone()));
        }
        let Some(file) = &self.token_file else { return Ok(None) };
        let text = std::fs::read_to_string(file).map_err(|e| format!("read {}: {e}", file.display()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("{} is empty", file.display()));
        }
        Ok(Some(token.to_string()))
    }

    /// One enrollment attempt; saves the credential on success.
    async fn enroll(&self) -> Enrollment {
        let token = match self.enrollment_token() {
            Ok(Some(token)) => token,
            Ok(None) => return Enrollment::NoToken,
            Err(why) => return Enrollment::Failed(why),
        };
        let bare = self.client().1.with_token(None);
        let request = Enroll {
            enrollment_token: token,
            target: self.target.clone(),
            labels: self.labels.clone(),
            facts: self.facts.clone(),
        };
        let enrolled = match bare.enroll(&request).await {
            Ok(enrolled) => enrolled,
            Err(e) => return Enrollment::Failed(describe(&e)),
        };
        if enrolled.target != self.target {
            tracing::warn!(asked = %self.target, given = %enrolled.target, "the server enrolled this agent under another target id");
        }
        let credential =
            Credential { server: self.server.clone(), target: self.target.clone(), credential: enrolled.credential };
        if let Err(e) = credential.save(&self.state_dir) {
            // The credential works for this run; the next start needs a token again.
            tracing::error!(error = %e, file = %credential::path(&self.state_dir).display(), "could not save the credential");
        } else {
            tracing::info!(target = %self.target, "enrolled; credential saved");
        }
        Enrollment::Done(credential)
    }
}

fn describe(e: &ClientError) -> String {
    e.to_string()
}
