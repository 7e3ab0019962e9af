-- Jobs submitted to /api/jobs: the validated body, where the job is, the
-- progress of each item, and what its result is once stored.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    items TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    heartbeat_at TEXT,
    expires_at TEXT,
    error TEXT,
    result_type TEXT,
    result_name TEXT,
    result_bytes BIGINT,
    result_etag TEXT
);
CREATE INDEX jobs_by_fingerprint ON jobs (fingerprint, created_at);
CREATE INDEX jobs_by_state ON jobs (state, created_at);
CREATE INDEX jobs_by_owner ON jobs (owner, state);
