//! The `--apply` state machine's effects: sending the journal's Dataverse writes and handing
//! over its file rows. What is planned, and when, is `couple_cmd::run_mapping`'s; the rules
//! live here and in the store (`docs/apply.md` draws the whole machine).
//!
//! Every effect was recorded in the store's journal before it happens, in the same transaction
//! as the couplings it depends on (`Store::commit_job`). This module only ever acts on what the
//! journal holds, so a run that dies anywhere leaves work that the next run of the same command
//! finds and finishes:
//!
//! - **Dataverse writes** (`update`, `create`): sent a `$batch` at a time, in plan order; each
//!   batch is marked `sent` before it goes out and `done` / `failed` when the server answered,
//!   in one transaction per batch. A write left `sent` may or may not have reached the server; it
//!   is sent again, which is harmless: updates are `If-Match: *` PATCHes of absolute values, and
//!   creates are `If-None-Match: *` PATCHes of the id chosen at planning, so a repeat answers
//!   412 (`already_existed`) and never makes a second row. Marking a create `done` confirms its
//!   coupling in the same transaction; a create refused for good withdraws it.
//! - **File rows** (`bc_update`: values for BC to import; `file_update`: values for an
//!   integration side that is a file): delivered by writing them into the job's output folder;
//!   marked `done` once that folder has been swapped in. Rows of a run that died before its
//!   folder was swapped in are delivered by the next run's folder.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use coupler_dataverse::{write_batch, WriteKind, WriteOp, WriteOutcome};
use coupler_store::{JournalEntry, Store, WriteState};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::dataverse_link::DataverseLink;

/// Journal operations.
pub const UPDATE: &str = "update";
pub const CREATE: &str = "create";
pub const BC_UPDATE: &str = "bc_update";
pub const FILE_UPDATE: &str = "file_update";

/// Writes per `$batch`, and per journal checkpoint.
const CHUNK: usize = 100;

/// A Dataverse write's journal payload: what to send.
#[derive(Serialize, Deserialize)]
pub struct DataverseWrite {
    pub create: bool,
    pub entity_set: String,
    pub id: String,
    pub fields: Map<String, Value>,
}

impl DataverseWrite {
    fn into_op(self, key: &str) -> WriteOp {
        WriteOp {
            key: key.to_string(),
            kind: if self.create {
                WriteKind::Create
            } else {
                WriteKind::Update
            },
            entity_set: self.entity_set,
            id: self.id,
            fields: self.fields,
        }
    }
}

/// A file row's journal payload: one record's changed fields, in plan order.
#[derive(Serialize, Deserialize)]
pub struct FileRow {
    /// The local id (`bc_update`) or the integration id (`file_update`).
    pub id: String,
    pub fields: Vec<(String, String)>,
}

/// What became of the Dataverse writes of one kind sent in a run (job.json `sync.applied`,
/// and the create counts).
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Applied {
    pub done: u64,
    /// Creates a previous attempt had already made (412 on the repeat).
    pub already_existed: u64,
    /// Updates of rows deleted in Dataverse since they were read: not recreated.
    pub not_found: u64,
    pub failed: u64,
    /// Throttled or refused for a while past the retry budget: still pending in the journal;
    /// running the same command again sends them.
    pub pending: u64,
    /// Of these, writes an earlier, interrupted run had planned.
    pub resumed: u64,
}

/// Why a journal write did not succeed (for `sync-plan.csv`'s message column).
pub enum WriteNote {
    /// Still pending (transient failure past the retry budget): the next run sends it.
    Pending(String),
    /// Refused for good.
    Refused(String),
}

/// Everything one round of sending did.
#[derive(Default)]
pub struct Sent {
    pub updates: Applied,
    pub creates: Applied,
    /// By journal key, the writes that did not succeed.
    pub notes: HashMap<String, WriteNote>,
    /// Creates confirmed in this round: `(local id, new row id)`.
    pub created: Vec<(String, String)>,
}

impl Sent {
    /// Adds another round's counts and lists.
    pub fn absorb(&mut self, other: Sent) {
        for (mine, theirs) in [
            (&mut self.updates, other.updates),
            (&mut self.creates, other.creates),
        ] {
            mine.done += theirs.done;
            mine.already_existed += theirs.already_existed;
            mine.not_found += theirs.not_found;
            mine.failed += theirs.failed;
            mine.pending += theirs.pending;
            mine.resumed += theirs.resumed;
        }
        self.notes.extend(other.notes);
        self.created.extend(other.created);
    }
}

/// The local id a create's key names (`<job>:create:<local id>`, or version 1's
/// `<mapping>:create:<local id>`).
pub fn created_local_id(key: &str) -> &str {
    key.split_once(":create:").map_or("", |(_, l)| l)
}

/// Sends every pending Dataverse write of `mapping` (any job's, in plan order), a batch at a
/// time, with a journal checkpoint before and after each batch. Writes of jobs other than
/// `job_id` count as `resumed`.
pub fn send_pending(
    store: &mut Store,
    link: Option<&mut DataverseLink>,
    mapping: &str,
    job_id: &str,
) -> Result<Sent> {
    let pending: Vec<JournalEntry> = store
        .journal_pending(mapping)?
        .into_iter()
        .filter(|e| e.operation == UPDATE || e.operation == CREATE)
        .collect();
    let mut sent = Sent::default();
    if pending.is_empty() {
        return Ok(sent);
    }
    let Some(link) = link else {
        bail!("mapping '{mapping}': {} planned Dataverse write(s) are pending in the store, but this run has no Dataverse connection; run it with the [dataverse] section that planned them", pending.len());
    };
    for chunk in pending.chunks(CHUNK) {
        let ops: Vec<WriteOp> = chunk
            .iter()
            .map(|e| {
                let write: DataverseWrite =
                    serde_json::from_str(&e.payload).with_context(|| {
                        format!(
                            "the store's journal entry '{}' is not a Dataverse write",
                            e.key
                        )
                    })?;
                Ok(write.into_op(&e.key))
            })
            .collect::<Result<_>>()?;
        let marks: Vec<_> = chunk
            .iter()
            .map(|e| (e.key.as_str(), WriteState::Sent, None))
            .collect();
        store.journal_mark_all(&marks)?;
        crate::crash_point!("apply::batch_marked_sent");
        let results = write_batch(&link.session, &ops, CHUNK, &|_| {}).with_context(|| {
            format!("mapping '{mapping}': sending planned writes to Dataverse; nothing is lost: they stay in the coupling store's journal, and running the same command again sends them")
        })?;
        crate::crash_point!("apply::batch_answered");
        let mut details: Vec<Option<String>> = Vec::with_capacity(chunk.len());
        let mut states = Vec::with_capacity(chunk.len());
        for ((e, op), r) in chunk.iter().zip(&ops).zip(results) {
            let applied = if e.operation == CREATE {
                &mut sent.creates
            } else {
                &mut sent.updates
            };
            if e.job_id != job_id {
                applied.resumed += 1;
            }
            let (state, detail) = match r.outcome {
                WriteOutcome::Done => {
                    applied.done += 1;
                    (Some(WriteState::Done), None)
                }
                WriteOutcome::AlreadyExisted => {
                    applied.already_existed += 1;
                    (Some(WriteState::Done), None)
                }
                WriteOutcome::NotFound => {
                    applied.not_found += 1;
                    (
                        Some(WriteState::Failed),
                        Some("the Dataverse row no longer exists (deleted since it was read); it was not recreated".to_string()),
                    )
                }
                WriteOutcome::Failed {
                    status,
                    code,
                    message,
                } if matches!(status, 429 | 502 | 503 | 504) => {
                    // Transient, past the retry budget: stays pending for the next run.
                    applied.pending += 1;
                    sent.notes.insert(
                        e.key.clone(),
                        WriteNote::Pending(format!("not sent yet (HTTP {status} {code}: {message}); run the same command again to send it")),
                    );
                    (None, None)
                }
                WriteOutcome::Failed {
                    status,
                    code,
                    message,
                } => {
                    applied.failed += 1;
                    (
                        Some(WriteState::Failed),
                        Some(format!("HTTP {status} {code}: {message}")),
                    )
                }
            };
            if let Some(state) = state {
                if e.operation == CREATE && state == WriteState::Done {
                    sent.created
                        .push((created_local_id(&e.key).to_string(), op.id.clone()));
                }
                if let Some(d) = &detail {
                    sent.notes
                        .insert(e.key.clone(), WriteNote::Refused(d.clone()));
                    if e.operation == CREATE {
                        eprintln!("coupler: warning: mapping '{mapping}': the row for {} was not created ({d}); its coupling is withdrawn", created_local_id(&e.key));
                    }
                }
                states.push((e.key.as_str(), state));
                details.push(detail);
            }
        }
        let marks: Vec<_> = states
            .iter()
            .zip(&details)
            .map(|(&(key, state), detail)| (key, state, detail.as_deref()))
            .collect();
        store.journal_mark_all(&marks)?;
        crate::crash_point!("apply::batch_marked");
    }
    let pending = sent.updates.pending + sent.creates.pending;
    if pending > 0 {
        eprintln!("coupler: warning: mapping '{mapping}': {pending} Dataverse write(s) are still pending after the retry budget (throttling or server errors); run the same command again to send them");
    }
    Ok(sent)
}

/// The file rows of `operation` (`bc_update` or `file_update`) that no swapped-in output folder
/// has delivered yet, any job's, in plan order: `(journal key, row)`.
pub fn undelivered(
    store: &Store,
    mapping: &str,
    operation: &str,
) -> Result<Vec<(String, FileRow)>> {
    store
        .journal_pending(mapping)?
        .into_iter()
        .filter(|e| e.operation == operation)
        .map(|e| {
            let row: FileRow = serde_json::from_str(&e.payload).with_context(|| {
                format!("the store's journal entry '{}' is not a file row", e.key)
            })?;
            Ok((e.key, row))
        })
        .collect()
}

/// Marks file rows delivered (their output folder is in place).
pub fn mark_delivered(store: &mut Store, keys: &[String]) -> Result<()> {
    let marks: Vec<_> = keys
        .iter()
        .map(|k| {
            (
                k.as_str(),
                WriteState::Done,
                Some("delivered in the output folder"),
            )
        })
        .collect();
    store.journal_mark_all(&marks)?;
    Ok(())
}
