-- When a device's current playlist item went on its panel, for durations.
ALTER TABLE devices ADD COLUMN playlist_since TEXT;

-- What its last display call told it: when to call again, and the size of
-- the image against its panel's limit, for the status page.
ALTER TABLE devices ADD COLUMN expected_at TEXT;
ALTER TABLE devices ADD COLUMN image_bytes BIGINT;
ALTER TABLE devices ADD COLUMN image_cap BIGINT;

-- The order of a device's log entries, which many share a timestamp.
ALTER TABLE device_logs ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX device_logs_by_seq ON device_logs (mac, seq);
