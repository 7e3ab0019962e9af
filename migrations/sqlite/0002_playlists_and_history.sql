-- When a device's current playlist item went on its panel, for durations.
ALTER TABLE devices ADD COLUMN playlist_since TEXT;

-- The order of a device's log entries, which many share a timestamp.
ALTER TABLE device_logs ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX device_logs_by_seq ON device_logs (mac, seq);
