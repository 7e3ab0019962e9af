-- TRMNL devices: one row per MAC, with its key and its latest telemetry.
CREATE TABLE devices (
    mac TEXT PRIMARY KEY,
    api_key TEXT NOT NULL UNIQUE,
    friendly_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_seen_at TEXT,
    model TEXT,
    firmware TEXT,
    battery_voltage DOUBLE PRECISION,
    battery_percent BIGINT,
    rssi BIGINT,
    wake_time_ms BIGINT,
    playlist_position BIGINT NOT NULL DEFAULT 0
);

-- Every display call's telemetry, for history.
CREATE TABLE telemetry (
    mac TEXT NOT NULL,
    at TEXT NOT NULL,
    battery_voltage DOUBLE PRECISION,
    battery_percent BIGINT,
    rssi BIGINT,
    firmware TEXT,
    model TEXT,
    wake_time_ms BIGINT
);
CREATE INDEX telemetry_by_device ON telemetry (mac, at);

-- The last entries each device posted to /api/log.
CREATE TABLE device_logs (
    mac TEXT NOT NULL,
    at TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX device_logs_by_device ON device_logs (mac, at);
