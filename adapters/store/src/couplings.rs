//! Couplings: reading them (the "taken" set of every job), committing a job's pairs with the
//! double-coupling rules, and uncoupling.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use crate::types::{
    CommitReport, ConflictKind, CouplingConflict, MappingRef, StoredCoupling, BC_COUNTERS,
};
use crate::{Store, StoreError, NOW_SQL};

const COLUMNS: &str =
    "mapping, local_table, integration_table, local_id, integration_id, job_id, created_at";

fn coupling(r: &Row<'_>) -> rusqlite::Result<StoredCoupling> {
    Ok(StoredCoupling {
        mapping: r.get(0)?,
        local_table: r.get(1)?,
        integration_table: r.get(2)?,
        local_id: r.get(3)?,
        integration_id: r.get(4)?,
        job_id: r.get(5)?,
        created_at: r.get(6)?,
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
        const ACTION: &str = "committing couplings";
        if mapping.mapping.is_empty() {
            return Err(self.invalid(ACTION, "the mapping name is empty"));
        }
        if let Some((l, i)) = pairs.iter().find(|(l, i)| l.is_empty() || i.is_empty()) {
            return Err(self.invalid(
                ACTION,
                format!("empty id in pair (local '{l}', integration '{i}')"),
            ));
        }
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
        let mut report = CommitReport::default();
        // One timestamp for the whole commit: SQLite's 'now' may move between statements.
        let now: String = tx
            .query_row(&format!("SELECT {NOW_SQL}"), [], |r| r.get(0))
            .map_err(err)?;
        {
            let mut by_local = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM couplings WHERE mapping = ?1 AND local_id = ?2"
                ))
                .map_err(err)?;
            let mut by_integration = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM couplings WHERE integration_id = ?1"
                ))
                .map_err(err)?;
            let mut insert = tx
                .prepare_cached(&format!(
                    "INSERT INTO couplings ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ))
                .map_err(err)?;
            for (local_id, integration_id) in pairs {
                let held_local = by_local
                    .query_row(params![mapping.mapping, local_id], coupling)
                    .optional()
                    .map_err(err)?;
                let (holder, kind) = match held_local {
                    Some(h) if h.integration_id == *integration_id => {
                        report
                            .unchanged
                            .push((local_id.clone(), integration_id.clone()));
                        continue;
                    }
                    Some(h) => (h, ConflictKind::LocalAlreadyCoupled),
                    None => match by_integration
                        .query_row([integration_id], coupling)
                        .optional()
                        .map_err(err)?
                    {
                        Some(h) => (h, ConflictKind::IntegrationTaken),
                        None => {
                            insert
                                .execute(params![
                                    mapping.mapping,
                                    mapping.local_table,
                                    mapping.integration_table,
                                    local_id,
                                    integration_id,
                                    job_id,
                                    now
                                ])
                                .map_err(err)?;
                            report
                                .inserted
                                .push((local_id.clone(), integration_id.clone()));
                            continue;
                        }
                    },
                };
                report.conflicts.push(CouplingConflict {
                    local_id: local_id.clone(),
                    integration_id: integration_id.clone(),
                    kind,
                    holder_mapping: holder.mapping,
                    holder_local_id: holder.local_id,
                    holder_integration_id: holder.integration_id,
                    holder_job_id: holder.job_id,
                });
            }
        }
        tx.commit().map_err(err)?;
        Ok(report)
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
        let mut counters: BTreeMap<String, u64> =
            BC_COUNTERS.iter().map(|c| (c.to_string(), 0)).collect();
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
