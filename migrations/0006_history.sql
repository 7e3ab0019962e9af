-- Every numeric value a fetch extracts, at the time it stands for (Unix
-- seconds): one row per spot, field and time, however many replicas fetch.
CREATE TABLE samples (
    spot TEXT NOT NULL,
    field TEXT NOT NULL,
    at BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (spot, field, at)
);
CREATE INDEX samples_by_time ON samples (at);

-- The samples of each hour, summarised; kept long after the raw rows.
CREATE TABLE samples_hourly (
    spot TEXT NOT NULL,
    field TEXT NOT NULL,
    hour BIGINT NOT NULL,
    lo DOUBLE PRECISION NOT NULL,
    hi DOUBLE PRECISION NOT NULL,
    total DOUBLE PRECISION NOT NULL,
    n BIGINT NOT NULL,
    last_value DOUBLE PRECISION NOT NULL,
    last_at BIGINT NOT NULL,
    PRIMARY KEY (spot, field, hour)
);
CREATE INDEX samples_hourly_by_time ON samples_hourly (hour);

-- Each field's latest forecast, replaced by every newer one.
CREATE TABLE forecasts (
    spot TEXT NOT NULL,
    field TEXT NOT NULL,
    at BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    issued BIGINT NOT NULL,
    PRIMARY KEY (spot, field, at)
);

-- Each field's unit, and a text field's latest value.
CREATE TABLE history_fields (
    spot TEXT NOT NULL,
    field TEXT NOT NULL,
    unit TEXT,
    text_value TEXT,
    text_at BIGINT,
    PRIMARY KEY (spot, field)
);
