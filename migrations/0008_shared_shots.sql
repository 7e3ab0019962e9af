-- Pictures taken for jobs, kept for `browser.share_window` in the storage
-- backend, so a job on another replica that asks for the same page with
-- the same options shares the picture instead of visiting the page again.
CREATE TABLE shared_shots (
    share_key TEXT PRIMARY KEY,
    blob_name TEXT NOT NULL,
    final_url TEXT NOT NULL,
    status BIGINT NOT NULL,
    title TEXT NOT NULL,
    links TEXT NOT NULL,
    taken_at TEXT NOT NULL
);
CREATE INDEX shared_shots_taken_at ON shared_shots (taken_at);
