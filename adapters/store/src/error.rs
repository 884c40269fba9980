//! The store's one error type. Every variant names the store file and what was being done, so a
//! message read on its own (in a log, in a CI run) says where to look.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not a coupler store: not SQLite at all, or another application's
    /// SQLite database. Nothing was changed in it.
    #[error("{}: not a coupler store ({reason}); point `store = \"...\"` (or --store) at a coupler store or at a new file", path.display())]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The file does not exist and [`crate::StoreOptions::create`] was `false`.
    #[error("{}: no coupling store here (nothing has been applied yet?)", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The path names a folder, or is empty.
    #[error("{}: {reason}", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The store kept changing while a read-only snapshot of it was taken (another process
    /// writing heavily); trying again later works.
    #[error("{}: the store changed while it was being read ({attempts} attempts); another coupler process is writing to it — try again when it has finished", path.display())]
    Unstable {
        /// The file.
        path: PathBuf,
        /// How many snapshots were tried.
        attempts: u32,
    },
    /// The store was written by a newer coupler (a schema version this build does not know).
    #[error("{}: the coupling store has schema version {found}, newer than this coupler build supports ({supported}); use a newer coupler", path.display())]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The file's schema version (`PRAGMA user_version`).
        found: u32,
        /// The newest schema version this build knows.
        supported: u32,
    },
    /// Another process held the store's write lock for longer than the busy timeout.
    #[error("{}: {action}: the store is locked by another process (waited {} ms); try again when it has finished", path.display(), timeout.as_millis())]
    Busy {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The busy timeout in force.
        timeout: Duration,
    },
    /// An SQLite error.
    #[error("{}: {action}: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A stored JSON value (job counters) could not be read or written.
    #[error("{}: {action}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// No job with that id (or id prefix).
    #[error("{}: {action}: no job '{job_id}' in the store", path.display())]
    UnknownJob {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The id asked for.
        job_id: String,
    },
    /// A job id prefix matched several jobs.
    #[error("{}: {action}: job id prefix '{prefix}' is ambiguous; it matches {}", path.display(), matches.join(", "))]
    AmbiguousJobId {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The prefix asked for.
        prefix: String,
        /// The matching job ids (at most a few).
        matches: Vec<String>,
    },
    /// `start_job` (or `uncouple`) with a job id that is already stored.
    #[error("{}: {action}: job '{job_id}' already exists", path.display())]
    DuplicateJob {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The job id.
        job_id: String,
    },
    /// The caller passed something the store refuses (empty ids, unknown job type, a dry-run job
    /// committing couplings, invalid job JSON...). Nothing was written.
    #[error("{}: {action}: {reason}", path.display())]
    InvalidInput {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `journal_mark` with a key that was never planned.
    #[error("{}: {action}: no journal entry with key '{key}'", path.display())]
    UnknownWrite {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The idempotency key.
        key: String,
    },
    /// `journal_mark` asked for a transition the journal does not allow (e.g. `done` → `sent`).
    #[error("{}: {action}: journal entry '{key}' is {from}; it cannot become {to}", path.display())]
    InvalidTransition {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The idempotency key.
        key: String,
        /// Its current state.
        from: crate::WriteState,
        /// The state asked for.
        to: crate::WriteState,
    },
}

impl StoreError {
    /// The store file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            StoreError::NotAStore { path, .. }
            | StoreError::Missing { path }
            | StoreError::NotAFile { path, .. }
            | StoreError::Unstable { path, .. }
            | StoreError::TooNew { path, .. }
            | StoreError::Busy { path, .. }
            | StoreError::Sqlite { path, .. }
            | StoreError::Json { path, .. }
            | StoreError::UnknownJob { path, .. }
            | StoreError::AmbiguousJobId { path, .. }
            | StoreError::DuplicateJob { path, .. }
            | StoreError::InvalidInput { path, .. }
            | StoreError::UnknownWrite { path, .. }
            | StoreError::InvalidTransition { path, .. } => path,
        }
    }
}
