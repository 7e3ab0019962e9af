-- Why a device's last display call could not show it any playlist item
-- (each failed to draw); NULL while it shows one.
ALTER TABLE devices ADD COLUMN trouble TEXT;
