-- Operators' API tokens: a name (never reused, so the audit trail stays unambiguous), the
-- hash of the secret (the secret itself is shown once and never stored), a role and, for
-- deployers and approvers, the services the token is limited to (a JSON array; NULL: every
-- service). A revoked token keeps its row with the time it was revoked.
CREATE TABLE api_tokens (
    name TEXT PRIMARY KEY NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'approver', 'admin')),
    services TEXT,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at INTEGER
);
