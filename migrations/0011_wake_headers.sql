-- What firmware 1.8 says of each wake: why it woke (`Update-Source`), the
-- Wi-Fi band, the panel's temperature profile, and whether it had its
-- image cached; the latest on the device, and each call's in telemetry.
ALTER TABLE devices ADD COLUMN wake_reason TEXT;
ALTER TABLE devices ADD COLUMN wifi_band TEXT;
ALTER TABLE telemetry ADD COLUMN wake_reason TEXT;
ALTER TABLE telemetry ADD COLUMN wifi_band TEXT;
ALTER TABLE telemetry ADD COLUMN temperature_profile TEXT;
ALTER TABLE telemetry ADD COLUMN image_cached BIGINT;
