-- Away mode: a device paused until this time sleeps until it, shown the
-- sleep picture; NULL when it is not paused.
ALTER TABLE devices ADD COLUMN paused_until TEXT;
