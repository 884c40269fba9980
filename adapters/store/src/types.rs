//! The values that go in and out of the store. All ids and timestamps are text, as the CLI
//! writes them (`results.csv`, `job.json`); timestamps are RFC 3339 UTC.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The table mapping a coupling belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRef {
    /// The mapping's name, e.g. `CUSTOMER`.
    pub mapping: String,
    /// The local (BC) table, e.g. `Customer`.
    pub local_table: String,
    /// The integration (Dataverse) table, e.g. `accounts`.
    pub integration_table: String,
}

/// One stored coupling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCoupling {
    /// The mapping's name.
    pub mapping: String,
    /// The local table.
    pub local_table: String,
    /// The integration table.
    pub integration_table: String,
    /// The local record's key, e.g. `C10000` (or its SystemId).
    pub local_id: String,
    /// The integration record's id, as stored (GUIDs lower-cased by the CLI).
    pub integration_id: String,
    /// The job that made the coupling.
    pub job_id: String,
    /// When it was committed, RFC 3339 UTC with milliseconds.
    pub created_at: String,
    /// The integration row is still being created (the create's journal entry is pending): the
    /// coupling holds both sides, but the row may not exist in Dataverse yet. The next
    /// `couple --apply` of the mapping sends the create and clears this.
    #[serde(default)]
    pub pending: bool,
}

/// What `commit_couplings` did with each pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitReport {
    /// Pairs newly stored, in input order.
    pub inserted: Vec<(String, String)>,
    /// Pairs that were already stored exactly so (same mapping, local id and integration id),
    /// by this job or another one: nothing changed.
    pub unchanged: Vec<(String, String)>,
    /// Pairs refused because one side is held by another coupling.
    pub conflicts: Vec<CouplingConflict>,
}

/// Which side of a refused pair was already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// The integration id is coupled (in any mapping) to another local record. BC's rule: an
    /// integration record is coupled at most once.
    IntegrationTaken,
    /// The local record is already coupled in this mapping to another integration record.
    LocalAlreadyCoupled,
}

/// A pair that was not stored, and the coupling that holds its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouplingConflict {
    /// The refused pair's local id.
    pub local_id: String,
    /// The refused pair's integration id.
    pub integration_id: String,
    /// Which side was taken.
    pub kind: ConflictKind,
    /// The holder's mapping.
    pub holder_mapping: String,
    /// The holder's local id.
    pub holder_local_id: String,
    /// The holder's integration id.
    pub holder_integration_id: String,
    /// The job that made the holder.
    pub holder_job_id: String,
}

/// A job as it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    /// Caller-supplied id (a UUID v4 string).
    pub job_id: String,
    /// The mapping's name.
    pub mapping: String,
    /// One of [`JOB_TYPES`]: `coupling`, `uncoupling`, `synchronization`.
    pub job_type: String,
    /// A dry run commits nothing; the store refuses couplings for it.
    pub dry_run: bool,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// The config file the job ran with, if any.
    pub config_path: Option<String>,
}

/// The job types the store accepts.
pub const JOB_TYPES: [&str; 3] = ["coupling", "uncoupling", "synchronization"];

/// A job as it finishes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedJob {
    /// RFC 3339 UTC.
    pub finished_at: String,
    /// The job's `job.json`, kept verbatim (must be valid JSON).
    pub job_json: String,
    /// BC's counters (named by the engine's [`coupler_engine::COUNTER_NAMES`]) and any others.
    pub counters: BTreeMap<String, u64>,
    /// BC's error rows (M1, M2 texts), in order.
    pub errors: Vec<String>,
}

/// One line of `jobs list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    /// The job id.
    pub job_id: String,
    /// The mapping's name.
    pub mapping: String,
    /// `coupling`, `uncoupling` or `synchronization`.
    pub job_type: String,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// `None` for a job that never finished (a crashed or running process).
    pub finished_at: Option<String>,
    /// The counters stored by `finish_job` (empty while unfinished).
    pub counters: BTreeMap<String, u64>,
    /// Number of error rows.
    pub error_count: u64,
}

/// Everything `jobs show` needs, except the result rows (see `Store::job_results`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDetail {
    /// The summary.
    pub summary: JobSummary,
    /// The config file the job ran with, if given.
    pub config_path: Option<String>,
    /// The `job.json` text, verbatim; `None` while unfinished.
    pub job_json: Option<String>,
    /// BC's error rows, in order.
    pub errors: Vec<String>,
    /// How many per-record result rows are stored.
    pub result_rows: u64,
}

/// The `results.csv` columns, in order (the engine's `RESULTS_HEADER`).
pub const RESULT_COLUMNS: [&str; 10] = [
    "local_id",
    "outcome",
    "integration_id",
    "priority",
    "match_count",
    "candidates",
    "coupled_to",
    "trace",
    "message",
    "holder_origin",
];

/// One per-record result row: the columns of `results.csv`, all text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// The local record's key.
    pub local_id: String,
    /// `coupled`, `no_match`, `multiple_matches`, `already_coupled`, `no_criteria`, `skipped`.
    pub outcome: String,
    /// The integration id it was coupled to (or the taken one), else empty.
    pub integration_id: String,
    /// The deciding priority level, else empty.
    pub priority: String,
    /// Match count at the deciding level, else empty.
    pub match_count: String,
    /// Candidate ids for `multiple_matches`.
    pub candidates: String,
    /// For `already_coupled`: the local record holding the candidate.
    pub coupled_to: String,
    /// The per-level trace, e.g. `p0:multiple(3) p1:no_match`.
    pub trace: String,
    /// The per-record message.
    pub message: String,
    /// For `already_coupled`: `existing` or `this_job`.
    pub holder_origin: String,
}

impl ResultRecord {
    /// Builds a record from a `results.csv` row in [`RESULT_COLUMNS`] order (what the engine's
    /// `Renderer::render` returns).
    pub fn from_row(row: [&str; 10]) -> ResultRecord {
        let [local_id, outcome, integration_id, priority, match_count, candidates, coupled_to, trace, message, holder_origin] =
            row.map(str::to_owned);
        ResultRecord {
            local_id,
            outcome,
            integration_id,
            priority,
            match_count,
            candidates,
            coupled_to,
            trace,
            message,
            holder_origin,
        }
    }

    /// The row in [`RESULT_COLUMNS`] order, for writing `results.csv` back out.
    pub fn to_row(&self) -> [&str; 10] {
        [
            &self.local_id,
            &self.outcome,
            &self.integration_id,
            &self.priority,
            &self.match_count,
            &self.candidates,
            &self.coupled_to,
            &self.trace,
            &self.message,
            &self.holder_origin,
        ]
    }
}

/// A write the synchronization is about to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedWrite {
    /// Caller-supplied idempotency key, unique across the store: the same write planned again
    /// (by a rerun) must get the same key.
    pub key: String,
    /// The mapping's name.
    pub mapping: String,
    /// What is written, e.g. `dataverse:accounts(<guid>)` or `bc:Customer/C10000`.
    pub target: String,
    /// `update` or `create`.
    pub operation: String,
    /// The request body (JSON).
    pub payload: String,
}

/// A row to create for an unmatched local record, and the coupling that waits for it
/// ([`Store::commit_job`]).
///
/// [`Store::commit_job`]: crate::Store::commit_job
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedCreate {
    /// The local record that asked for the row.
    pub local_id: String,
    /// The new row's id, chosen by the caller.
    pub integration_id: String,
    /// The create itself (operation `create`).
    pub write: PlannedWrite,
}

/// Everything one coupling job commits in one transaction: its couplings and the intent of
/// every effect that depends on them ([`Store::commit_job`]).
///
/// [`Store::commit_job`]: crate::Store::commit_job
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobIntent {
    /// The pairs the job matched `(local_id, integration_id)`.
    pub pairs: Vec<(String, String)>,
    /// Writes that exist because of a pair, keyed by the pair's local id (the first
    /// synchronization's updates, the local-side update rows): journaled only when that pair is
    /// newly stored by this job.
    pub pair_writes: Vec<(String, PlannedWrite)>,
    /// Rows to create, each coupled (pending) to its record in the same transaction.
    pub creates: Vec<PlannedCreate>,
}

/// What [`Store::commit_job`] did.
///
/// [`Store::commit_job`]: crate::Store::commit_job
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCommit {
    /// The matched pairs, as [`CommitReport`].
    pub couplings: CommitReport,
    /// The creates' pending couplings: `inserted` ones were journaled; a `conflicts` entry is a
    /// record another job coupled meanwhile (its create is not planned).
    pub creates: CommitReport,
    /// Journal entries newly recorded (writes and creates).
    pub journaled: usize,
}

/// A journal entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The idempotency key.
    pub key: String,
    /// The job that planned it.
    pub job_id: String,
    /// The mapping's name.
    pub mapping: String,
    /// What is written.
    pub target: String,
    /// `update` or `create`.
    pub operation: String,
    /// The request body (JSON), as first planned.
    pub payload: String,
    /// Where it stands.
    pub state: WriteState,
    /// How many times it was marked `sent`.
    pub attempts: u32,
    /// The last detail given (the error text of a failure, or what the server answered).
    pub detail: Option<String>,
}

/// The life of a journal entry: `planned` → `sent` → `done` | `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteState {
    /// Recorded, not yet sent.
    Planned,
    /// Sent (at least once); the server has not confirmed it yet.
    Sent,
    /// The server confirmed it. Final.
    Done,
    /// Given up on; `detail` holds the error. A later `sent` or `planned` retries it.
    Failed,
}

impl WriteState {
    /// The name stored in the `journal.state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteState::Planned => "planned",
            WriteState::Sent => "sent",
            WriteState::Done => "done",
            WriteState::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<WriteState> {
        Some(match s {
            "planned" => WriteState::Planned,
            "sent" => WriteState::Sent,
            "done" => WriteState::Done,
            "failed" => WriteState::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for WriteState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
