-- The store's schema at version 1 (coupler 0.1), for upgrade tests.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES
    ('application', 'coupler-store'),
    ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('created_by', 'coupler-store ' || '0.1.0');

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,          -- row number; job_results refer to it
    job_id       TEXT NOT NULL UNIQUE,         -- caller's UUID
    mapping      TEXT NOT NULL,
    job_type     TEXT NOT NULL,                -- coupling | uncoupling | synchronization
    dry_run      INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,                         -- NULL: never finished (crashed or running)
    config_path  TEXT,
    job_json     TEXT,                         -- job.json, verbatim
    counters     TEXT NOT NULL DEFAULT '{}',   -- JSON object name -> count
    result_rows  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_started ON jobs (started_at);

CREATE TABLE couplings (
    mapping           TEXT NOT NULL,
    local_table       TEXT NOT NULL,
    integration_table TEXT NOT NULL,
    local_id          TEXT NOT NULL,
    integration_id    TEXT NOT NULL,
    job_id            TEXT NOT NULL REFERENCES jobs (job_id),
    created_at        TEXT NOT NULL,
    PRIMARY KEY (mapping, local_id),           -- a local record at most once per mapping
    UNIQUE (integration_id)                    -- an integration record at most once, all mappings
);
CREATE INDEX couplings_order ON couplings (mapping, created_at, local_id);

CREATE TABLE job_errors (
    job_id  TEXT NOT NULL REFERENCES jobs (job_id),
    seq     INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE job_results (
    job            INTEGER NOT NULL REFERENCES jobs (id),
    seq            INTEGER NOT NULL,
    local_id       TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    priority       TEXT NOT NULL,
    match_count    TEXT NOT NULL,
    candidates     TEXT NOT NULL,
    coupled_to     TEXT NOT NULL,
    trace          TEXT NOT NULL,
    message        TEXT NOT NULL,
    holder_origin  TEXT NOT NULL,
    PRIMARY KEY (job, seq)
);

CREATE TABLE journal (
    key        TEXT PRIMARY KEY NOT NULL,      -- caller's idempotency key
    job_id     TEXT NOT NULL REFERENCES jobs (job_id),
    mapping    TEXT NOT NULL,
    target     TEXT NOT NULL,
    operation  TEXT NOT NULL,
    payload    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('planned', 'sent', 'done', 'failed')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    detail     TEXT,
    planned_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    seq        INTEGER NOT NULL UNIQUE         -- plan order across jobs
);
CREATE INDEX journal_pending ON journal (mapping, seq) WHERE state IN ('planned', 'sent');

PRAGMA application_id = 1129335890;
PRAGMA user_version = 1;
