-- Until when a set-up device may be given its key again by /api/setup:
-- a window an operator opens (`inkspot devices pair MAC`).
ALTER TABLE devices ADD COLUMN pair_until TEXT;

-- Gallery sign-ins: a hash of each session's random id, and when it ends.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
