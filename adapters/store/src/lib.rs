//! coupler's coupling store: the couplings a job committed, the job log (jobs, BC's error rows,
//! per-record results, `job.json`) and the journal of synchronization writes, in one SQLite file
//! (by default `coupler.db` beside the config).
//!
//! This crate owns that file and every rule that must hold across processes:
//!
//! - **No double coupling.** An integration id is coupled at most once across all mappings (BC's
//!   rule: "CRM Integration Record" finds any row with that CRM ID, for any table), and a local
//!   record at most once per mapping. The schema enforces both (`UNIQUE(integration_id)`,
//!   `PRIMARY KEY(mapping, local_id)`), and [`Store::commit_couplings`] checks and inserts in one
//!   `BEGIN IMMEDIATE` transaction, so of two concurrent `couple --apply` runs the second one
//!   sees the first one's couplings and gets its overlapping pairs back as
//!   [`CouplingConflict`]s naming the holder.
//! - **Jobs survive crashes.** [`Store::start_job`] records a job before matching; a process that
//!   dies before [`Store::finish_job`] leaves a job with no `finished_at`, and whatever it had
//!   committed stays committed (a rerun reports those pairs `unchanged`).
//! - **Writes happen exactly once.** Synchronization records each write in the journal
//!   ([`Store::journal_plan`]) before sending it and marks it done after the server confirmed it
//!   ([`Store::journal_mark`]); a rerun picks up [`Store::journal_pending`].
//!
//! Why SQLite: through rusqlite with the *bundled* library, so there is no system library to
//! install and it builds the same everywhere; the whole store is one file that sits beside the
//! config and can be copied, backed up or inspected with any SQLite tool; WAL mode lets readers
//! (`jobs list` while a job runs) proceed without blocking the writer, and the busy timeout makes
//! a second writer wait for the first instead of failing.
//!
//! Durability: WAL with `PRAGMA synchronous = NORMAL`. A committed transaction is in the WAL
//! before `COMMIT` returns; it is fsynced at checkpoints rather than at every commit. A process
//! crash (kill -9) never loses or tears a committed transaction; only an OS crash or power loss
//! can roll back the last few commits, and the database stays consistent (never half a
//! transaction). For this store that is enough: a lost commit is a job that looks unfinished, and
//! the rerun the user makes anyway re-commits the same pairs (idempotent) and re-plans the same
//! journal keys.
//!
//! Integration ids are compared exactly as stored. The CLI lower-cases Dataverse GUIDs before
//! storing them; a caller that does not would be able to couple `7EB6…` and `7eb6…` separately.

#![warn(missing_docs)]

mod bc;
mod couplings;
mod error;
mod jobs;
mod journal;
mod schema;
mod snapshot;
mod types;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

pub use bc::{bc_table_id, BC_EXPORT_HEADER};
pub use error::StoreError;
pub use jobs::MIN_JOB_PREFIX;
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use types::{
    CommitReport, ConflictKind, CouplingConflict, FinishedJob, JobCommit, JobDetail, JobIntent,
    JobSummary, JournalEntry, MappingRef, NewJob, PlannedCreate, PlannedWrite, ResultRecord,
    StoredCoupling, WriteState, JOB_TYPES, RESULT_COLUMNS,
};

/// How long a writer waits for another process's write lock by default.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Options for [`Store::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long to wait for another process's write lock before failing with
    /// [`StoreError::Busy`].
    pub busy_timeout: Duration,
    /// Create the file if it does not exist (default). `false` suits read-only commands such as
    /// `jobs list`, which should not leave an empty store behind: a missing file is then
    /// [`StoreError::Missing`].
    pub create: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            create: true,
        }
    }
}

/// An open coupling store (one SQLite connection). Open one per thread or process; SQLite
/// serialises writers across them.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    busy_timeout: Duration,
    version: u32,
    /// A read-only snapshot's private copy (see [`Store::open_read_only`]), removed on drop.
    snapshot: Option<snapshot::Snapshot>,
}

impl Store {
    /// Opens the store at `path`, creating the file if it does not exist, with the default busy
    /// timeout (30 s). See [`Store::open_with`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// Opens or creates the store: refuses a file that is not a coupler store or whose schema is
    /// newer than this build (without changing it), applies pending migrations, and sets WAL
    /// mode, `synchronous = NORMAL`, foreign keys and the busy timeout.
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        check_path(path)?;
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if options.create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        } else if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        let conn =
            Connection::open_with_flags(path, flags).map_err(|source| StoreError::Sqlite {
                path: path.to_owned(),
                action: "opening the store",
                source,
            })?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
            busy_timeout: options.busy_timeout,
            version: 0,
            snapshot: None,
        };
        store
            .conn
            .busy_timeout(options.busy_timeout)
            .map_err(store.err("setting the busy timeout"))?;
        // One read transaction, so the header and the table list come from the same snapshot
        // (another process may be creating the schema right now).
        let identity = store
            .conn
            .transaction()
            .and_then(|tx| schema::identify(&tx))
            .map_err(store.err("reading the store header"))?;
        match identity {
            schema::Identity::Foreign(reason) => return Err(store.not_ours(reason)),
            schema::Identity::Ours(found) if found > SCHEMA_VERSION => {
                return Err(StoreError::TooNew {
                    path: store.path.clone(),
                    found,
                    supported: SCHEMA_VERSION,
                })
            }
            _ => {}
        }
        let mode = store
            .switch_to_wal()
            .map_err(store.err("switching to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::InvalidInput {
                path: store.path.clone(),
                action: "switching to WAL mode",
                reason: format!(
                    "SQLite kept journal mode '{mode}' (a file system without shared memory?)"
                ),
            });
        }
        store
            .conn
            .execute_batch(
                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
                 PRAGMA journal_size_limit = 67108864;",
            )
            .map_err(store.err("setting pragmas"))?;
        let migrated = schema::migrate_to(&mut store.conn, SCHEMA_VERSION).map_err(|source| {
            store_err(
                &store.path,
                store.busy_timeout,
                "migrating the schema",
                source,
            )
        })?;
        match migrated {
            schema::Migrated::Foreign(reason) => return Err(store.not_ours(reason)),
            schema::Migrated::At(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::TooNew {
                    path: store.path.clone(),
                    found: v,
                    supported: SCHEMA_VERSION,
                })
            }
            schema::Migrated::At(v) => store.version = v,
        }
        Ok(store)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's schema version (always [`SCHEMA_VERSION`] once opened).
    pub fn schema_version(&self) -> u32 {
        self.version
    }

    /// Changes how long a writer waits for another process's lock.
    pub fn set_busy_timeout(&mut self, timeout: Duration) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(timeout)
            .map_err(self.err("setting the busy timeout"))?;
        self.busy_timeout = timeout;
        Ok(())
    }

    /// The busy timeout in force.
    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// Sets WAL mode (persistent in the file). Leaving rollback-journal mode needs an exclusive
    /// lock, and SQLite does not wait on the busy handler for it when other connections are
    /// opening the same new file at the same moment, so busy answers are retried here until the
    /// busy timeout has passed.
    fn switch_to_wal(&self) -> rusqlite::Result<String> {
        let start = std::time::Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            {
                Err(e)
                    if matches!(
                        e.sqlite_error_code(),
                        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                    ) && start.elapsed() < self.busy_timeout =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// A `map_err` adaptor turning an SQLite error into a [`StoreError`] naming this store and
    /// `action`.
    fn err(&self, action: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| store_err(&self.path, self.busy_timeout, action, source)
    }

    fn not_ours(&self, reason: String) -> StoreError {
        StoreError::NotAStore {
            path: self.path.clone(),
            reason,
        }
    }

    fn invalid(&self, action: &'static str, reason: impl Into<String>) -> StoreError {
        StoreError::InvalidInput {
            path: self.path.clone(),
            action,
            reason: reason.into(),
        }
    }
}

/// Refuses an empty path and a folder before SQLite does (its message, "unable to open database
/// file", does not say why).
pub(crate) fn check_path(path: &Path) -> Result<(), StoreError> {
    if path.as_os_str().is_empty() {
        return Err(StoreError::NotAFile {
            path: path.to_owned(),
            reason: "the store path is empty; name a file, e.g. coupler.db".to_owned(),
        });
    }
    if path.is_dir() {
        return Err(StoreError::NotAFile {
            path: path.to_owned(),
            reason: format!(
                "is a folder; the store is a file — name one, e.g. {}",
                path.join("coupler.db").display()
            ),
        });
    }
    Ok(())
}

/// Classifies an SQLite error: lock timeouts and "not a database" get their own variants.
fn store_err(
    path: &Path,
    timeout: Duration,
    action: &'static str,
    source: rusqlite::Error,
) -> StoreError {
    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => StoreError::Busy {
            path: path.to_owned(),
            action,
            timeout,
        },
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            path: path.to_owned(),
            reason: "the file is not an SQLite database".to_owned(),
        },
        _ => StoreError::Sqlite {
            path: path.to_owned(),
            action,
            source,
        },
    }
}

/// The current time as SQLite writes it: RFC 3339 UTC with milliseconds (`…T12:00:00.123Z`),
/// the format the CLI uses in `job.json`.
pub(crate) const NOW_SQL: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_creates_left_pending_get_their_coupling_at_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            assert_eq!(
                schema::migrate_to(&mut conn, 1).unwrap(),
                schema::Migrated::At(1)
            );
            conn.execute_batch(
                r#"INSERT INTO jobs (job_id, mapping, job_type, dry_run, started_at)
                       VALUES ('job-1', 'CUSTOMER', 'coupling', 0, '2024-01-01T00:00:00.000Z');
                   INSERT INTO couplings VALUES ('CUSTOMER', 'Customer', 'accounts', 'C9', 'g9',
                       'job-1', '2024-01-01T00:00:01.000Z');
                   INSERT INTO journal VALUES ('CUSTOMER:create:C1', 'job-1', 'CUSTOMER',
                       'dataverse:accounts(n1)', 'create',
                       '{"create":true,"entity_set":"accounts","id":"n1","fields":{}}', 'sent',
                       1, NULL, 'x', 'x', 1);
                   INSERT INTO journal VALUES ('CUSTOMER:create:C9', 'job-1', 'CUSTOMER',
                       'dataverse:accounts(n9)', 'create',
                       '{"create":true,"entity_set":"accounts","id":"n9","fields":{}}',
                       'planned', 0, NULL, 'x', 'x', 2);"#,
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let c1 = store
            .couplings_of("CUSTOMER")
            .unwrap()
            .into_iter()
            .find(|c| c.local_id == "C1")
            .expect("C1's pending create got its coupling");
        assert_eq!((c1.integration_id.as_str(), c1.pending), ("n1", true));
        assert_eq!(c1.integration_table, "accounts");
        // C9 was coupled meanwhile: its create is withdrawn, never sent.
        let c9 = store.journal_entry("CUSTOMER:create:C9").unwrap().unwrap();
        assert_eq!(c9.state, WriteState::Failed);
        let pending: Vec<String> = store
            .journal_pending("CUSTOMER")
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(pending, ["CUSTOMER:create:C1"]);
    }

    #[test]
    fn file_created_at_each_version_keeps_its_data_when_opened() {
        for version in 1..=SCHEMA_VERSION {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("old.db");
            {
                let mut conn = Connection::open(&path).unwrap();
                assert_eq!(
                    schema::migrate_to(&mut conn, version).unwrap(),
                    schema::Migrated::At(version)
                );
                // Data written with the version-1 columns, which every later version keeps.
                conn.execute_batch(
                    "INSERT INTO jobs (job_id, mapping, job_type, dry_run, started_at)
                         VALUES ('job-1', 'CUSTOMER', 'coupling', 0, '2024-01-01T00:00:00.000Z');
                     INSERT INTO couplings (mapping, local_table, integration_table, local_id,
                         integration_id, job_id, created_at)
                         VALUES ('CUSTOMER', 'Customer', 'accounts', 'C1', 'guid-1',
                         'job-1', '2024-01-01T00:00:01.000Z');",
                )
                .unwrap();
            }
            let store = Store::open(&path).unwrap();
            assert_eq!(store.schema_version(), SCHEMA_VERSION);
            let couplings = store.couplings().unwrap();
            assert_eq!(couplings.len(), 1, "version {version}");
            assert_eq!(couplings[0].integration_id, "guid-1");
            assert_eq!(store.jobs().unwrap()[0].job_id, "job-1");
        }
    }
}
