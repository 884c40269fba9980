//! The write journal: exactly-once synchronization writes.
//!
//! The protocol, for the synchronization code:
//!
//! 1. Plan: [`Store::journal_plan`] records every write (with an idempotency key derived from
//!    what is written, not from the run, e.g. `CUSTOMER:update:accounts(<guid>):<hash of
//!    payload>`) in one transaction *before anything is sent*. Planning a key that is already in
//!    the journal is a no-op, whatever its state, so a rerun of the same command re-plans
//!    harmlessly and never re-sends a write that is `done`.
//! 2. For each of [`Store::journal_pending`] (planned or sent, across jobs, in plan order): mark
//!    it `sent`, send it, and mark it `done` once the server confirmed it (or `failed` with the
//!    error text when giving up).
//! 3. A run that dies between 2's steps leaves entries `planned` or `sent`; the next run resumes
//!    them. An entry left `sent` may or may not have reached the server: the sender must make
//!    the write idempotent on the server side (an update with the same values is harmless; a
//!    create should use a caller-chosen id or an alternate key so that a second create of the
//!    same record is recognised), or check the target first.
//!
//! States: `planned` → `sent` → `done` | `failed`. Allowed marks: `sent` from planned, sent or
//! failed (each adds one attempt); `done` from any state (again on `done` is a no-op: the
//! server's confirmation is final); `failed` from planned, sent or failed; `planned` from planned
//! or failed (re-queue). Nothing leaves `done`.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::types::{JournalEntry, PlannedWrite, WriteState};
use crate::{Store, StoreError, NOW_SQL};

impl Store {
    /// Records planned writes in one transaction, in order, for job `job_id` (which must exist).
    /// Keys already in the journal are left as they are (their first payload and state win).
    /// Returns how many entries were newly planned.
    pub fn journal_plan(
        &mut self,
        job_id: &str,
        writes: &[PlannedWrite],
    ) -> Result<usize, StoreError> {
        const ACTION: &str = "planning journal writes";
        check_writes(self, ACTION, writes.iter())?;
        let path = self.path.clone();
        let timeout = self.busy_timeout;
        let err = |source| crate::store_err(&path, timeout, ACTION, source);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let known: bool = tx
            .query_row(
                "SELECT count(*) > 0 FROM jobs WHERE job_id = ?1",
                [job_id],
                |r| r.get(0),
            )
            .map_err(err)?;
        if !known {
            return Err(StoreError::UnknownJob {
                path: path.clone(),
                action: ACTION,
                job_id: job_id.to_owned(),
            });
        }
        let planned = insert_writes(&tx, job_id, writes.iter()).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(planned)
    }

    /// Entries of `mapping` that are planned or sent but not done (nor failed), in plan order,
    /// across jobs: what a rerun must resume.
    pub fn journal_pending(&self, mapping: &str) -> Result<Vec<JournalEntry>, StoreError> {
        const ACTION: &str = "reading the journal";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT key, job_id, mapping, target, operation, payload, state, attempts, detail
                 FROM journal WHERE mapping = ?1 AND state IN ('planned', 'sent') ORDER BY seq",
            )
            .map_err(self.err(ACTION))?;
        let rows = stmt
            .query_map([mapping], |r| {
                Ok((
                    JournalEntry {
                        key: r.get(0)?,
                        job_id: r.get(1)?,
                        mapping: r.get(2)?,
                        target: r.get(3)?,
                        operation: r.get(4)?,
                        payload: r.get(5)?,
                        state: WriteState::Planned,
                        attempts: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(u32::MAX),
                        detail: r.get(8)?,
                    },
                    r.get::<_, String>(6)?,
                ))
            })
            .map_err(self.err(ACTION))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err(ACTION))?;
        rows.into_iter()
            .map(|(mut e, state)| {
                e.state = self.parse_state(&state, ACTION)?;
                Ok(e)
            })
            .collect()
    }

    /// One journal entry by key, in any state.
    pub fn journal_entry(&self, key: &str) -> Result<Option<JournalEntry>, StoreError> {
        const ACTION: &str = "reading the journal";
        let row = self
            .conn
            .query_row(
                "SELECT key, job_id, mapping, target, operation, payload, state, attempts, detail
                 FROM journal WHERE key = ?1",
                [key],
                |r| {
                    Ok((
                        JournalEntry {
                            key: r.get(0)?,
                            job_id: r.get(1)?,
                            mapping: r.get(2)?,
                            target: r.get(3)?,
                            operation: r.get(4)?,
                            payload: r.get(5)?,
                            state: WriteState::Planned,
                            attempts: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(u32::MAX),
                            detail: r.get(8)?,
                        },
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err(ACTION))?;
        row.map(|(mut e, state)| {
            e.state = self.parse_state(&state, ACTION)?;
            Ok(e)
        })
        .transpose()
    }

    /// Moves an entry to `state` (see the module docs for the allowed transitions); `detail`,
    /// when given, replaces the stored detail (for `failed`: the error text). Marking `sent`
    /// counts an attempt. Marking `done` twice is a no-op.
    pub fn journal_mark(
        &mut self,
        key: &str,
        state: WriteState,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        self.mark("marking a journal write", &[(key, state, detail)])
    }

    /// Marks several entries in one transaction (one checkpoint per `$batch`), with the same
    /// rules as [`Store::journal_mark`]; refused as a whole if one transition is not allowed.
    pub fn journal_mark_all(
        &mut self,
        marks: &[(&str, WriteState, Option<&str>)],
    ) -> Result<(), StoreError> {
        self.mark("marking journal writes", marks)
    }

    /// [`Store::journal_mark_all`], its errors naming `ACTION`.
    fn mark(
        &mut self,
        action: &'static str,
        marks: &[(&str, WriteState, Option<&str>)],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let timeout = self.busy_timeout;
        let err = |source| crate::store_err(&path, timeout, action, source);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        for &(key, state, detail) in marks {
            let current: Option<String> = tx
                .query_row("SELECT state FROM journal WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(err)?;
            let Some(current) = current else {
                return Err(StoreError::UnknownWrite {
                    path: path.clone(),
                    action,
                    key: key.to_owned(),
                });
            };
            let from = WriteState::parse(&current).ok_or_else(|| StoreError::InvalidInput {
                path: path.clone(),
                action,
                reason: format!("journal entry '{key}' has an unknown state '{current}'"),
            })?;
            match transition_allowed(from, state) {
                Some(true) => {}
                Some(false) => continue,
                None => {
                    return Err(StoreError::InvalidTransition {
                        path: path.clone(),
                        action,
                        key: key.to_owned(),
                        from,
                        to: state,
                    })
                }
            }
            tx.execute(
                &format!(
                    "UPDATE journal SET state = ?2, attempts = attempts + ?3,
                         detail = coalesce(?4, detail), updated_at = {NOW_SQL}
                     WHERE key = ?1"
                ),
                params![
                    key,
                    state.as_str(),
                    i64::from(state == WriteState::Sent),
                    detail
                ],
            )
            .map_err(err)?;
            settle_pending_coupling(&tx, key, state).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(())
    }

    fn parse_state(&self, s: &str, action: &'static str) -> Result<WriteState, StoreError> {
        WriteState::parse(s).ok_or_else(|| StoreError::InvalidInput {
            path: self.path.clone(),
            action,
            reason: format!("the journal holds an unknown state '{s}'"),
        })
    }
}

/// Whether `from → to` is allowed: `Some(true)` to apply it, `Some(false)` for a no-op
/// (`done` again), `None` when refused.
fn transition_allowed(from: WriteState, to: WriteState) -> Option<bool> {
    use WriteState::*;
    match (from, to) {
        (Done, Done) => Some(false),
        (Done, _) => None,
        (_, Done) => Some(true),
        (Planned | Sent | Failed, Sent | Failed) => Some(true),
        (Planned | Failed, Planned) => Some(true),
        (Sent, Planned) => None,
    }
}

/// A create's coupling follows its journal entry, in the same transaction: confirmed when the
/// row exists (`done`), withdrawn when the create was refused for good (`failed`), so that no
/// coupling points at a row that will never exist and no created row lacks its record.
fn settle_pending_coupling(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    state: WriteState,
) -> rusqlite::Result<()> {
    match state {
        WriteState::Done => {
            tx.execute(
                "UPDATE couplings SET pending_write = NULL WHERE pending_write = ?1",
                [key],
            )?;
        }
        WriteState::Failed => {
            tx.execute("DELETE FROM couplings WHERE pending_write = ?1", [key])?;
        }
        WriteState::Planned | WriteState::Sent => {}
    }
    Ok(())
}

/// Refuses writes without a key, a mapping or a target (nothing is written then).
pub(crate) fn check_writes<'w>(
    store: &Store,
    action: &'static str,
    mut writes: impl Iterator<Item = &'w PlannedWrite>,
) -> Result<(), StoreError> {
    match writes.find(|w| w.key.is_empty() || w.mapping.is_empty() || w.target.is_empty()) {
        Some(w) => Err(store.invalid(
            action,
            format!(
                "a planned write needs a key, a mapping and a target (key '{}', target '{}')",
                w.key, w.target
            ),
        )),
        None => Ok(()),
    }
}

/// Journals `writes` (state `planned`, in order, after every entry planned so far) inside the
/// caller's transaction; keys already in the journal are left as they are. Returns how many were
/// newly planned.
pub(crate) fn insert_writes<'w>(
    tx: &rusqlite::Transaction<'_>,
    job_id: &str,
    writes: impl Iterator<Item = &'w PlannedWrite>,
) -> rusqlite::Result<usize> {
    let mut seq: i64 = tx.query_row("SELECT coalesce(max(seq), 0) FROM journal", [], |r| {
        r.get(0)
    })?;
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO journal (key, job_id, mapping, target, operation, payload, state,
             attempts, detail, planned_at, updated_at, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'planned', 0, NULL, {NOW_SQL}, {NOW_SQL}, ?7)
         ON CONFLICT (key) DO NOTHING"
    ))?;
    let mut planned = 0;
    for w in writes {
        let n = insert.execute(params![
            w.key,
            job_id,
            w.mapping,
            w.target,
            w.operation,
            w.payload,
            seq + 1
        ])?;
        if n > 0 {
            seq += 1;
            planned += 1;
        }
    }
    Ok(planned)
}
