//! The state of the agent's connection to the server, logged once per change (lost, what kind
//! of failure, regained after how many failures) rather than once per attempt: a fleet whose
//! server is down must not flood its logs.

use sluice_api::{ClientError, ErrorCode};

/// Whether an error is worth retrying as it is (the server is away or overloaded), as opposed
/// to one only a change can fix (a refused request, a missing bundle).
pub(crate) fn is_transient(e: &ClientError) -> bool {
    match e {
        ClientError::Unreachable { .. } | ClientError::BadResponse { .. } => true,
        ClientError::Api(api) => matches!(api.code, ErrorCode::Unavailable | ErrorCode::Internal),
    }
}

pub(crate) fn is_unauthorized(e: &ClientError) -> bool {
    e.code() == Some(ErrorCode::Unauthorized)
}

/// One conversation with the server (`desired`, `report`): up, or down for a kind of reason.
#[derive(Debug)]
pub(crate) struct Link {
    what: &'static str,
    down: Option<String>,
    failures: u64,
}

impl Link {
    pub(crate) fn new(what: &'static str) -> Link {
        Link { what, down: None, failures: 0 }
    }

    /// A request succeeded.
    pub(crate) fn up(&mut self) {
        if self.down.take().is_some() {
            tracing::info!(what = self.what, failures = self.failures, "server reachable again");
        }
        self.failures = 0;
    }

    /// A request failed with `e`; logs when the kind of failure changed.
    pub(crate) fn down(&mut self, e: &ClientError) {
        self.failures = self.failures.saturating_add(1);
        let kind = match e {
            ClientError::Unreachable { .. } => "unreachable".to_string(),
            ClientError::BadResponse { .. } => "bad_response".to_string(),
            ClientError::Api(api) => api.code.as_str().to_string(),
        };
        if self.down.as_deref() != Some(kind.as_str()) {
            if is_transient(e) {
                tracing::warn!(what = self.what, error = %e, "server unavailable; serving what is applied, retrying with backoff");
            } else {
                tracing::error!(what = self.what, error = %e, "server refused the request; retrying with backoff");
            }
            self.down = Some(kind);
        }
    }
}
