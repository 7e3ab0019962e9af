-- Every page a crawl job visited: where it was found, what it answered,
-- and the stored picture (a blob in the storage backend).
CREATE TABLE crawl_pages (
    job_id TEXT NOT NULL,
    n BIGINT NOT NULL,
    url TEXT NOT NULL,
    depth BIGINT NOT NULL,
    parent TEXT,
    final_url TEXT,
    status BIGINT,
    title TEXT,
    file TEXT,
    blob_name TEXT,
    error TEXT,
    taken_at TEXT,
    PRIMARY KEY (job_id, n)
);
