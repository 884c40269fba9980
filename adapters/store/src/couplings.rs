//! Couplings: reading them (the "taken" set of every job), committing a job's pairs with the
//! double-coupling rules, and uncoupling.

use std::collections::{BTreeMap, HashSet};

use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use crate::types::{
    CommitReport, ConflictKind, CouplingConflict, JobCommit, JobIntent, MappingRef, PlannedWrite,
    StoredCoupling,
};
use crate::{Store, StoreError, NOW_SQL};

const COLUMNS: &str = "mapping, local_table, integration_table, local_id, integration_id, job_id,
     created_at, pending_write IS NOT NULL";

/// Checks and inserts couplings inside a commit transaction (see [`Store::commit_couplings`]
/// for the rules), collecting the journal writes that go with them.
struct Committer<'t, 'a> {
    by_local: rusqlite::CachedStatement<'t>,
    by_integration: rusqlite::CachedStatement<'t>,
    insert: rusqlite::CachedStatement<'t>,
    job_id: &'a str,
    mapping: &'a MappingRef,
    now: &'a str,
    journal: Vec<&'a PlannedWrite>,
}

impl<'t, 'a> Committer<'t, 'a> {
    fn new(
        tx: &'t rusqlite::Transaction<'_>,
        job_id: &'a str,
        mapping: &'a MappingRef,
        now: &'a str,
    ) -> rusqlite::Result<Self> {
        Ok(Committer {
            by_local: tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM couplings WHERE mapping = ?1 AND local_id = ?2"
            ))?,
            by_integration: tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM couplings WHERE integration_id = ?1"
            ))?,
            insert: tx.prepare_cached(
                "INSERT INTO couplings (mapping, local_table, integration_table, local_id,
                     integration_id, job_id, created_at, pending_write)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?,
            job_id,
            mapping,
            now,
            journal: Vec::new(),
        })
    }

    /// Commits one pair into `report`; `pending` is the journal key of the create the coupling
    /// waits for. Returns whether it was inserted.
    fn commit(
        &mut self,
        local_id: &str,
        integration_id: &str,
        pending: Option<&str>,
        report: &mut CommitReport,
    ) -> rusqlite::Result<bool> {
        let held_local = self
            .by_local
            .query_row(params![self.mapping.mapping, local_id], coupling)
            .optional()?;
        let (holder, kind) = match held_local {
            Some(h) if h.integration_id == integration_id => {
                report
                    .unchanged
                    .push((local_id.to_owned(), integration_id.to_owned()));
                return Ok(false);
            }
            Some(h) => (h, ConflictKind::LocalAlreadyCoupled),
            None => match self
                .by_integration
                .query_row([integration_id], coupling)
                .optional()?
            {
                Some(h) => (h, ConflictKind::IntegrationTaken),
                None => {
                    self.insert.execute(params![
                        self.mapping.mapping,
                        self.mapping.local_table,
                        self.mapping.integration_table,
                        local_id,
                        integration_id,
                        self.job_id,
                        self.now,
                        pending
                    ])?;
                    report
                        .inserted
                        .push((local_id.to_owned(), integration_id.to_owned()));
                    return Ok(true);
                }
            },
        };
        report.conflicts.push(CouplingConflict {
            local_id: local_id.to_owned(),
            integration_id: integration_id.to_owned(),
            kind,
            holder_mapping: holder.mapping,
            holder_local_id: holder.local_id,
            holder_integration_id: holder.integration_id,
            holder_job_id: holder.job_id,
        });
        Ok(false)
    }
}

fn coupling(r: &Row<'_>) -> rusqlite::Result<StoredCoupling> {
    Ok(StoredCoupling {
        mapping: r.get(0)?,
        local_table: r.get(1)?,
        integration_table: r.get(2)?,
        local_id: r.get(3)?,
        integration_id: r.get(4)?,
        job_id: r.get(5)?,
        created_at: r.get(6)?,
        pending: r.get(7)?,
    })
}

impl Store {
    /// Every stored coupling, all mappings, ordered by mapping, then `created_at`, then local id.
    /// The CLI adds them to the engine's "taken" set: the job's own mapping's as own couplings,
    /// the others as other mappings'.
    pub fn couplings(&self) -> Result<Vec<StoredCoupling>, StoreError> {
        const ACTION: &str = "reading couplings";
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM couplings ORDER BY mapping, created_at, local_id"
            ))
            .map_err(self.err(ACTION))?;
        let rows = stmt.query_map([], coupling).map_err(self.err(ACTION))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(self.err(ACTION))
    }

    /// The couplings of one mapping, ordered by `created_at`, then local id.
    pub fn couplings_of(&self, mapping: &str) -> Result<Vec<StoredCoupling>, StoreError> {
        const ACTION: &str = "reading couplings";
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM couplings WHERE mapping = ?1 ORDER BY created_at, local_id"
            ))
            .map_err(self.err(ACTION))?;
        let rows = stmt
            .query_map([mapping], coupling)
            .map_err(self.err(ACTION))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(self.err(ACTION))
    }

    /// Commits a job's pairs `(local_id, integration_id)` in one `BEGIN IMMEDIATE` transaction.
    ///
    /// Per pair, in input order:
    /// - stored already with the same mapping, local id and integration id → `unchanged`;
    /// - the local id is coupled in this mapping to another integration id →
    ///   [`ConflictKind::LocalAlreadyCoupled`];
    /// - the integration id is coupled (any mapping) to another local record →
    ///   [`ConflictKind::IntegrationTaken`];
    /// - else inserted, with this job id and the current time.
    ///
    /// The transaction takes the write lock first, so the checks see every coupling committed
    /// before it, and no other process can commit between check and insert: of two concurrent
    /// runs, the loser gets the winner's pairs back as conflicts naming the winner. Refused if
    /// the job is unknown, is a dry run, or belongs to another mapping, or if an id is empty;
    /// then nothing is written.
    pub fn commit_couplings(
        &mut self,
        job_id: &str,
        mapping: &MappingRef,
        pairs: &[(String, String)],
    ) -> Result<CommitReport, StoreError> {
        let intent = JobIntent {
            pairs: pairs.to_vec(),
            ..JobIntent::default()
        };
        Ok(self.commit_job(job_id, mapping, &intent)?.couplings)
    }

    /// Commits a job's couplings together with the intent of every effect that depends on
    /// them, in one `BEGIN IMMEDIATE` transaction: intent before effect.
    ///
    /// - `pairs` are committed as [`Store::commit_couplings`] does;
    /// - each of `pair_writes` is journaled (state `planned`) when its pair was newly inserted
    ///   here, and dropped otherwise (the pair is someone else's, or was stored before);
    /// - each create's coupling is inserted *pending* (its row does not exist yet) with the same
    ///   rules, and its write journaled when the coupling was inserted.
    ///
    /// So a process that dies after this returns leaves nothing planned that the next run
    /// cannot find ([`Store::journal_pending`]); one that dies before leaves nothing at all.
    /// Marking a create `done` confirms its coupling; marking it `failed` withdraws it
    /// ([`Store::journal_mark`]).
    pub fn commit_job(
        &mut self,
        job_id: &str,
        mapping: &MappingRef,
        intent: &JobIntent,
    ) -> Result<JobCommit, StoreError> {
        const ACTION: &str = "committing couplings";
        if mapping.mapping.is_empty() {
            return Err(self.invalid(ACTION, "the mapping name is empty"));
        }
        let create_pairs = intent
            .creates
            .iter()
            .map(|c| (&c.local_id, &c.integration_id));
        let all_pairs = intent.pairs.iter().map(|(l, i)| (l, i)).chain(create_pairs);
        if let Some((l, i)) = all_pairs
            .clone()
            .find(|(l, i)| l.is_empty() || i.is_empty())
        {
            return Err(self.invalid(
                ACTION,
                format!("empty id in pair (local '{l}', integration '{i}')"),
            ));
        }
        let writes = intent
            .pair_writes
            .iter()
            .map(|(_, w)| w)
            .chain(intent.creates.iter().map(|c| &c.write));
        crate::journal::check_writes(self, ACTION, writes)?;
        let path = self.path.clone();
        let timeout = self.busy_timeout;
        let err = |source| crate::store_err(&path, timeout, ACTION, source);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let job: Option<(String, bool)> = tx
            .query_row(
                "SELECT mapping, dry_run FROM jobs WHERE job_id = ?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        match job {
            None => {
                return Err(StoreError::UnknownJob {
                    path,
                    action: ACTION,
                    job_id: job_id.to_owned(),
                })
            }
            Some((_, true)) => {
                return Err(StoreError::InvalidInput {
                    path,
                    action: ACTION,
                    reason: format!("job '{job_id}' is a dry run; a dry run commits nothing"),
                })
            }
            Some((job_mapping, false)) if job_mapping != mapping.mapping => {
                return Err(StoreError::InvalidInput {
                    path,
                    action: ACTION,
                    reason: format!(
                        "job '{job_id}' belongs to mapping '{job_mapping}', not '{}'",
                        mapping.mapping
                    ),
                })
            }
            Some(_) => {}
        }
        // One timestamp for the whole commit: SQLite's 'now' may move between statements.
        let now: String = tx
            .query_row(&format!("SELECT {NOW_SQL}"), [], |r| r.get(0))
            .map_err(err)?;
        let mut committer = Committer::new(&tx, job_id, mapping, &now).map_err(err)?;
        let mut result = JobCommit::default();
        for (local_id, integration_id) in &intent.pairs {
            committer
                .commit(local_id, integration_id, None, &mut result.couplings)
                .map_err(err)?;
        }
        for c in &intent.creates {
            let inserted = committer
                .commit(
                    &c.local_id,
                    &c.integration_id,
                    Some(&c.write.key),
                    &mut result.creates,
                )
                .map_err(err)?;
            if inserted {
                committer.journal.push(&c.write);
            }
        }
        let inserted: HashSet<&str> = result
            .couplings
            .inserted
            .iter()
            .map(|(l, _)| l.as_str())
            .collect();
        for (local_id, w) in &intent.pair_writes {
            if inserted.contains(local_id.as_str()) {
                committer.journal.push(w);
            }
        }
        let journal = std::mem::take(&mut committer.journal);
        drop(committer);
        result.journaled =
            crate::journal::insert_writes(&tx, job_id, journal.into_iter()).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(result)
    }

    /// Removes couplings of `mapping`: the given local ids (ids not coupled are ignored), or all
    /// of the mapping's when `None`. Returns the removed couplings. In the same transaction,
    /// records an `uncoupling` job `job_id` (finished, with BC's counters, `uncoupled` = the
    /// number removed); if the caller already started that job with [`Store::start_job`]
    /// (type `uncoupling`, unfinished), it is finished instead.
    pub fn uncouple(
        &mut self,
        mapping: &str,
        local_ids: Option<&[String]>,
        job_id: &str,
    ) -> Result<Vec<StoredCoupling>, StoreError> {
        const ACTION: &str = "uncoupling";
        if mapping.is_empty() {
            return Err(self.invalid(ACTION, "the mapping name is empty"));
        }
        if job_id.is_empty() {
            return Err(self.invalid(ACTION, "the job id is empty"));
        }
        let path = self.path.clone();
        let timeout = self.busy_timeout;
        let err = |source| crate::store_err(&path, timeout, ACTION, source);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let existing: Option<(String, String, Option<String>)> = tx
            .query_row(
                "SELECT job_type, mapping, finished_at FROM jobs WHERE job_id = ?1",
                [job_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(err)?;
        match &existing {
            Some((t, m, None)) if t == "uncoupling" && m == mapping => {}
            Some(_) => {
                return Err(StoreError::DuplicateJob {
                    path,
                    action: ACTION,
                    job_id: job_id.to_owned(),
                })
            }
            None => {
                tx.execute(
                    &format!(
                        "INSERT INTO jobs (job_id, mapping, job_type, dry_run, started_at)
                         VALUES (?1, ?2, 'uncoupling', 0, {NOW_SQL})"
                    ),
                    params![job_id, mapping],
                )
                .map_err(err)?;
            }
        }
        let mut removed = Vec::new();
        {
            let mut delete = tx
                .prepare_cached(&format!(
                    "DELETE FROM couplings WHERE mapping = ?1 AND local_id = ?2 RETURNING {COLUMNS}"
                ))
                .map_err(err)?;
            match local_ids {
                Some(ids) => {
                    for id in ids {
                        if let Some(c) = delete
                            .query_row(params![mapping, id], coupling)
                            .optional()
                            .map_err(err)?
                        {
                            removed.push(c);
                        }
                    }
                }
                None => {
                    let mut all = tx
                        .prepare(&format!(
                            "SELECT {COLUMNS} FROM couplings WHERE mapping = ?1
                             ORDER BY created_at, local_id"
                        ))
                        .map_err(err)?;
                    removed = all
                        .query_map([mapping], coupling)
                        .map_err(err)?
                        .collect::<rusqlite::Result<_>>()
                        .map_err(err)?;
                    tx.execute("DELETE FROM couplings WHERE mapping = ?1", [mapping])
                        .map_err(err)?;
                }
            }
        }
        // A create whose pending coupling is gone must not be sent: its row would be an orphan.
        tx.execute(
            &format!(
                "UPDATE journal SET state = 'failed', updated_at = {NOW_SQL},
                     detail = 'withdrawn: its record was uncoupled before the row was confirmed'
                 WHERE mapping = ?1 AND operation = 'create' AND state IN ('planned', 'sent')
                   AND NOT EXISTS (SELECT 1 FROM couplings c WHERE c.pending_write = journal.key)"
            ),
            [mapping],
        )
        .map_err(err)?;
        // Writes planned for a pair that no longer exists are not sent either: the user may have
        // uncoupled it because it was wrong. The CLI keys them `<job>:<operation>:<id>`.
        {
            let mut withdraw = tx
                .prepare_cached(&format!(
                    "UPDATE journal SET state = 'failed', updated_at = {NOW_SQL},
                         detail = 'withdrawn: its pair was uncoupled before it was written'
                     WHERE mapping = ?1 AND state IN ('planned', 'sent')
                       AND (key = job_id || ':update:' || ?3
                            OR key = job_id || ':file_update:' || ?3
                            OR key = job_id || ':bc_update:' || ?2)"
                ))
                .map_err(err)?;
            for c in &removed {
                withdraw
                    .execute(params![mapping, c.local_id, c.integration_id])
                    .map_err(err)?;
            }
        }
        let mut counters: BTreeMap<String, u64> = coupler_engine::COUNTER_NAMES
            .iter()
            .map(|c| (c.to_string(), 0))
            .collect();
        counters.insert("uncoupled".to_owned(), removed.len() as u64);
        let counters = serde_json::to_string(&counters).map_err(|source| StoreError::Json {
            path: path.clone(),
            action: ACTION,
            source,
        })?;
        tx.execute(
            &format!("UPDATE jobs SET finished_at = {NOW_SQL}, counters = ?2 WHERE job_id = ?1"),
            params![job_id, counters],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(removed)
    }
}
