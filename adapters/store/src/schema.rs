//! Recognising a store file and migrating its schema.
//!
//! A coupler store is an SQLite file with `PRAGMA application_id` = [`APPLICATION_ID`] ("CPLR")
//! and its schema version in `PRAGMA user_version`. Each version has one migration function
//! (`MIGRATIONS[n - 1]` takes a file from version `n - 1` to `n`) and runs in its own
//! `BEGIN IMMEDIATE` transaction together with the `user_version` bump, so a crash mid-migration
//! leaves the file at the previous version and two processes opening a fresh file at once migrate
//! it once.

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// `PRAGMA application_id` of a coupler store: the ASCII bytes "CPLR".
pub const APPLICATION_ID: i32 = 0x4350_4C52;

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: u32 = 2;

type Migration = fn(&Transaction<'_>) -> rusqlite::Result<()>;

/// `MIGRATIONS[n - 1]` migrates version `n - 1` to `n`.
const MIGRATIONS: [Migration; SCHEMA_VERSION as usize] = [v1, v2];

/// What an opened file is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    /// A new or empty SQLite file: ours to initialise.
    Empty,
    /// A coupler store at this schema version.
    Ours(u32),
    /// Someone else's SQLite file.
    Foreign(String),
}

/// Reads the header fields and the table list. A file that is not SQLite fails here with
/// `SQLITE_NOTADB`.
pub(crate) fn identify(conn: &Connection) -> rusqlite::Result<Identity> {
    let app: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if app == APPLICATION_ID {
        return Ok(Identity::Ours(u32::try_from(version).unwrap_or(u32::MAX)));
    }
    if app != 0 {
        return Ok(Identity::Foreign(format!(
            "an SQLite database of another application (application_id {app:#010x})"
        )));
    }
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 4",
    )?;
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if tables.is_empty() && version == 0 {
        Ok(Identity::Empty)
    } else if tables.is_empty() {
        Ok(Identity::Foreign(format!(
            "an SQLite database of another application (user_version {version}, no coupler application_id)"
        )))
    } else {
        Ok(Identity::Foreign(format!(
            "an SQLite database of another application (tables: {})",
            tables.join(", ")
        )))
    }
}

/// The outcome of [`migrate_to`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Migrated {
    /// The file is at `target` (or was already newer, which the caller checks).
    At(u32),
    /// Another process turned the file into something that is not ours meanwhile.
    Foreign(String),
}

/// Brings the file to schema version `target`, one transaction per version.
pub(crate) fn migrate_to(conn: &mut Connection, target: u32) -> rusqlite::Result<Migrated> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read under the write lock: another process may have migrated meanwhile.
        let current = match identify(&tx)? {
            Identity::Empty => 0,
            Identity::Ours(v) => v,
            Identity::Foreign(reason) => return Ok(Migrated::Foreign(reason)),
        };
        if current >= target {
            return Ok(Migrated::At(current));
        }
        MIGRATIONS[current as usize](&tx)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
    }
}

/// Version 1: couplings, jobs, job errors, per-record results, the write journal.
fn v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES
    ('application', 'coupler-store'),
    ('created_at', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('created_by', 'coupler-store ' || 'CRATE_VERSION');

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
"#
        .replace("CRATE_VERSION", env!("CARGO_PKG_VERSION"))
        .as_str(),
    )
}

/// Version 2: a coupling can wait for the create of its integration row
/// (`couplings.pending_write` = the create's journal key; NULL once the row exists). The
/// coupling and the create's intent are committed together, so a created row always has its
/// record. Creates that version 1 left pending (keyed `MAPPING:create:LOCAL_ID`, coupled only
/// after the server answered) get their pending coupling here when neither side is coupled yet,
/// and are withdrawn (marked failed, with the reason) otherwise.
fn v2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        r#"
ALTER TABLE couplings ADD COLUMN pending_write TEXT;
CREATE INDEX couplings_pending ON couplings (pending_write) WHERE pending_write IS NOT NULL;

INSERT INTO couplings (mapping, local_table, integration_table, local_id, integration_id,
                       job_id, created_at, pending_write)
SELECT j.mapping, j.mapping, substr(j.target, 11, instr(j.target, '(') - 11),
       substr(j.key, length(j.mapping) + 9), json_extract(j.payload, '$.id'),
       j.job_id, j.planned_at, j.key
FROM journal j
WHERE j.operation = 'create' AND j.state IN ('planned', 'sent')
  AND j.key = j.mapping || ':create:' || substr(j.key, length(j.mapping) + 9)
  AND json_valid(j.payload) AND json_extract(j.payload, '$.id') IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM couplings c
                  WHERE (c.mapping = j.mapping AND c.local_id = substr(j.key, length(j.mapping) + 9))
                     OR c.integration_id = json_extract(j.payload, '$.id'));

UPDATE journal SET state = 'failed',
    detail = 'withdrawn when the store was upgraded: the record or the row was coupled meanwhile'
WHERE operation = 'create' AND state IN ('planned', 'sent')
  AND NOT EXISTS (SELECT 1 FROM couplings c WHERE c.pending_write = journal.key);
"#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_cover_every_version() {
        assert_eq!(MIGRATIONS.len(), SCHEMA_VERSION as usize);
    }

    #[test]
    fn fresh_connection_is_empty_and_migrates_to_latest() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(identify(&conn).unwrap(), Identity::Empty);
        assert_eq!(
            migrate_to(&mut conn, SCHEMA_VERSION).unwrap(),
            Migrated::At(SCHEMA_VERSION)
        );
        assert_eq!(identify(&conn).unwrap(), Identity::Ours(SCHEMA_VERSION));
        // Migrating again is a no-op.
        assert_eq!(
            migrate_to(&mut conn, SCHEMA_VERSION).unwrap(),
            Migrated::At(SCHEMA_VERSION)
        );
    }

    #[test]
    fn foreign_database_is_not_touched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE invoices (id INTEGER)")
            .unwrap();
        match migrate_to(&mut conn, SCHEMA_VERSION).unwrap() {
            Migrated::Foreign(reason) => assert!(reason.contains("invoices"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let app: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .unwrap();
        assert_eq!(app, 0);
    }
}
