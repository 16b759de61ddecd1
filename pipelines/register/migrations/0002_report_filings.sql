-- Reports filed with the zone authority, one per incident: who filed it, when, and the
-- authority's reference. Kept apart from incidents so that replaying telemetry again (an
-- upsert of the incident) can never erase a filing.
CREATE TABLE report_filings (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (incident_id),
    reference TEXT NOT NULL,
    filed_by TEXT NOT NULL,
    filed_at_ms BIGINT NOT NULL
);
