-- sluice store, schema 1.
--
-- Portable on purpose: TEXT, INTEGER and BLOB columns, plain primary keys, foreign keys,
-- partial indexes; the PostgreSQL migrations (migrations/postgres/, a later issue) mirror this
-- file with BIGINT for INTEGER and BYTEA for BLOB. Times are milliseconds since the Unix epoch.
-- JSON is stored as TEXT and decoded by the store, never queried into.
--
-- Only the two triggers at the end are SQLite syntax: they make the event log append-only.
-- Never edit a migration that has shipped: add a new one (the checksum is verified on open).

-- Single values: the admin token hash.
CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Every applied spec (sluice.yaml), newest = highest version.
CREATE TABLE specs (
    version INTEGER PRIMARY KEY NOT NULL,
    applied_at INTEGER NOT NULL,
    applied_by TEXT NOT NULL,
    text TEXT NOT NULL,
    parsed TEXT NOT NULL
);

-- Bundle bytes by digest (`sha256:<hex>` of the bytes). Size-limited by the caller.
CREATE TABLE bundles (
    digest TEXT PRIMARY KEY NOT NULL,
    size INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    stored_at INTEGER NOT NULL
);

-- Immutable, content-addressed releases with their change record.
CREATE TABLE releases (
    id TEXT PRIMARY KEY NOT NULL,
    service TEXT NOT NULL,
    parent TEXT REFERENCES releases (id),
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    message TEXT NOT NULL,
    manifest TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX releases_by_service ON releases (service, created_at);

-- A service's standing between rollouts (sluice_core::engine::ServiceState as JSON).
CREATE TABLE services (
    name TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Rollouts: the engine's state (sluice_core::engine::Rollout as JSON) with an optimistic
-- version; `active` is 1 until the rollout finished.
CREATE TABLE rollouts (
    id TEXT PRIMARY KEY NOT NULL,
    service TEXT NOT NULL,
    release TEXT NOT NULL REFERENCES releases (id),
    phase TEXT NOT NULL,
    active INTEGER NOT NULL CHECK (active IN (0, 1)),
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX rollouts_by_service ON rollouts (service, created_at);
-- At most one rollout in progress per service, whatever the callers do.
CREATE UNIQUE INDEX rollouts_one_active_per_service ON rollouts (service) WHERE active = 1;

-- Nodes running `sluice agent`. `desired_version` grows by one each time the target's desired
-- state changes, so long-polls can wait for a change.
CREATE TABLE targets (
    id TEXT PRIMARY KEY NOT NULL,
    labels TEXT NOT NULL,
    facts TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    desired_version INTEGER NOT NULL
);

-- One credential per target: the hash of its agent token.
CREATE TABLE agent_credentials (
    target TEXT PRIMARY KEY NOT NULL REFERENCES targets (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- One-time enrollment tokens, by hash.
CREATE TABLE enrollment_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    used_at INTEGER,
    used_by TEXT
);

-- What each target should run, per service. A NULL release means "nothing from sluice": the
-- agent restores what the node ran before sluice (a rollback with no known-good release).
CREATE TABLE desired (
    target TEXT NOT NULL REFERENCES targets (id),
    service TEXT NOT NULL,
    release TEXT REFERENCES releases (id),
    rollout TEXT REFERENCES rollouts (id),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (target, service)
);

-- The audit trail: every change to specs, releases, rollouts, approvals, services and targets.
-- `seq` is assigned in commit order and never reused; rows are never updated or deleted.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    rollout TEXT REFERENCES rollouts (id),
    service TEXT,
    body TEXT NOT NULL
);
CREATE INDEX events_by_rollout ON events (rollout, seq);

-- SQLite only (PostgreSQL: a trigger function, and no UPDATE/DELETE grant).
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: events cannot be updated');
END;

CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: events cannot be deleted');
END;
