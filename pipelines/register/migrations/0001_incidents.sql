-- The register's incidents: the latest known state of each incident, one row per incident id.
-- The same SQL runs on SQLite and PostgreSQL: TEXT, BIGINT (integer milliseconds since the
-- Unix epoch, UTC) and DOUBLE PRECISION only, no engine-specific types.
CREATE TABLE incidents (
    incident_id TEXT PRIMARY KEY,
    lifecycle_status TEXT NOT NULL,
    pilot_zone TEXT NOT NULL,
    area TEXT,
    rule_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    operator_id TEXT NOT NULL,
    vehicle_class TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT,
    peak_value DOUBLE PRECISION,
    latitude DOUBLE PRECISION NOT NULL,
    longitude DOUBLE PRECISION NOT NULL,
    config_version TEXT NOT NULL,
    report_deadline_ms BIGINT,
    explanation TEXT NOT NULL,
    -- How far this state has got (lifecycle rank, end, peak, latest fix): an upsert replaces
    -- the row only with a state at least as far, so records arriving out of order, or twice,
    -- leave the register as the last state would.
    progress_rank INTEGER NOT NULL,
    progress_end_ms BIGINT NOT NULL,
    progress_peak DOUBLE PRECISION NOT NULL,
    progress_observed_ms BIGINT NOT NULL
);

CREATE INDEX incidents_by_zone_start ON incidents (pilot_zone, start_ms);
CREATE INDEX incidents_by_deadline ON incidents (report_deadline_ms);
