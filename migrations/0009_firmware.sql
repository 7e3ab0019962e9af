-- Firmware updates: the version a device was offered and has not yet come
-- back from, when it was offered and when its image was downloaded, and
-- the offers of one version it failed (came back still on its old one).
ALTER TABLE devices ADD COLUMN fw_offered TEXT;
ALTER TABLE devices ADD COLUMN fw_offered_at TEXT;
ALTER TABLE devices ADD COLUMN fw_downloaded_at TEXT;
ALTER TABLE devices ADD COLUMN fw_failed_version TEXT;
ALTER TABLE devices ADD COLUMN fw_failures BIGINT NOT NULL DEFAULT 0;
