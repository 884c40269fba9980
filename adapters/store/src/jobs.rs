//! The job log: jobs (started, finished), BC's error rows, the per-record results and the
//! verbatim `job.json`, so `coupler jobs show` can reproduce a run's summary and results.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};

use crate::types::{FinishedJob, JobDetail, JobSummary, NewJob, ResultRecord, JOB_TYPES};
use crate::{Store, StoreError};

/// Shortest job id prefix [`Store::job`] resolves (like git's abbreviated hashes).
pub const MIN_JOB_PREFIX: usize = 8;

const SUMMARY_COLUMNS: &str = "j.job_id, j.mapping, j.job_type, j.dry_run, j.started_at, \
     j.finished_at, j.counters, (SELECT count(*) FROM job_errors e WHERE e.job_id = j.job_id)";

impl Store {
    /// Records a job as started (before matching). Job ids are caller-supplied (UUID v4
    /// strings) and unique; the type must be one of [`JOB_TYPES`].
    pub fn start_job(&mut self, job: &NewJob) -> Result<(), StoreError> {
        const ACTION: &str = "starting a job";
        if job.job_id.is_empty() || job.job_id.chars().any(char::is_whitespace) {
            return Err(self.invalid(ACTION, format!("invalid job id '{}'", job.job_id)));
        }
        if job.mapping.is_empty() {
            return Err(self.invalid(ACTION, "the mapping name is empty"));
        }
        if !JOB_TYPES.contains(&job.job_type.as_str()) {
            return Err(self.invalid(
                ACTION,
                format!(
                    "unknown job type '{}' (expected one of {})",
                    job.job_type,
                    JOB_TYPES.join(", ")
                ),
            ));
        }
        if job.started_at.is_empty() {
            return Err(self.invalid(ACTION, "started_at is empty"));
        }
        let inserted = self
            .conn
            .execute(
                "INSERT INTO jobs (job_id, mapping, job_type, dry_run, started_at, config_path)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (job_id) DO NOTHING",
                params![
                    job.job_id,
                    job.mapping,
                    job.job_type,
                    job.dry_run,
                    job.started_at,
                    job.config_path
                ],
            )
            .map_err(self.err(ACTION))?;
        if inserted == 0 {
            return Err(StoreError::DuplicateJob {
                path: self.path.clone(),
                action: ACTION,
                job_id: job.job_id.clone(),
            });
        }
        Ok(())
    }

    /// Stores the finished job in one transaction: `finished_at`, the verbatim `job.json`, the
    /// counters, BC's error rows and the per-record results (streamed through one prepared
    /// statement, so a million rows never sit in memory). Finishing a job again replaces what
    /// the first call stored. If `results` panics or the process dies mid-way, nothing of this
    /// call is stored and the job stays unfinished.
    pub fn finish_job(
        &mut self,
        job_id: &str,
        finished: &FinishedJob,
        results: impl Iterator<Item = ResultRecord>,
    ) -> Result<(), StoreError> {
        const ACTION: &str = "finishing a job";
        if finished.finished_at.is_empty() {
            return Err(self.invalid(ACTION, "finished_at is empty"));
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&finished.job_json) {
            return Err(self.invalid(ACTION, format!("job_json is not valid JSON: {e}")));
        }
        let counters =
            serde_json::to_string(&finished.counters).map_err(|source| StoreError::Json {
                path: self.path.clone(),
                action: ACTION,
                source,
            })?;
        let path = self.path.clone();
        let timeout = self.busy_timeout;
        let err = |source| crate::store_err(&path, timeout, ACTION, source);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let id: i64 = match tx
            .query_row("SELECT id FROM jobs WHERE job_id = ?1", [job_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?
        {
            Some(id) => id,
            None => {
                return Err(StoreError::UnknownJob {
                    path: path.clone(),
                    action: ACTION,
                    job_id: job_id.to_owned(),
                })
            }
        };
        tx.execute("DELETE FROM job_errors WHERE job_id = ?1", [job_id])
            .map_err(err)?;
        tx.execute("DELETE FROM job_results WHERE job = ?1", [id])
            .map_err(err)?;
        let mut rows: u64 = 0;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO job_errors (job_id, seq, message) VALUES (?1, ?2, ?3)")
                .map_err(err)?;
            for (seq, message) in finished.errors.iter().enumerate() {
                insert
                    .execute(params![job_id, seq as i64, message])
                    .map_err(err)?;
            }
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO job_results (job, seq, local_id, outcome, integration_id, priority,
                         match_count, candidates, coupled_to, trace, message, holder_origin)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(err)?;
            for r in results {
                insert
                    .execute(params![
                        id,
                        rows as i64,
                        r.local_id,
                        r.outcome,
                        r.integration_id,
                        r.priority,
                        r.match_count,
                        r.candidates,
                        r.coupled_to,
                        r.trace,
                        r.message,
                        r.holder_origin
                    ])
                    .map_err(err)?;
                rows += 1;
            }
        }
        tx.execute(
            "UPDATE jobs SET finished_at = ?2, job_json = ?3, counters = ?4, result_rows = ?5
             WHERE id = ?1",
            params![
                id,
                finished.finished_at,
                finished.job_json,
                counters,
                rows as i64
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(())
    }

    /// Every job, newest first (by `started_at`, then insertion order). Unfinished jobs
    /// (crashed or still running) have `finished_at: None`.
    pub fn jobs(&self) -> Result<Vec<JobSummary>, StoreError> {
        const ACTION: &str = "listing jobs";
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM jobs j ORDER BY j.started_at DESC, j.id DESC"
            ))
            .map_err(self.err(ACTION))?;
        let rows = stmt
            .query_map([], summary_row)
            .map_err(self.err(ACTION))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err(ACTION))?;
        rows.into_iter()
            .map(|(s, counters)| self.with_counters(s, &counters, ACTION))
            .collect()
    }

    /// One job by id, or by a unique id prefix of at least [`MIN_JOB_PREFIX`] characters.
    /// `Ok(None)` if nothing matches; an ambiguous prefix is an error.
    pub fn job(&self, job_id: &str) -> Result<Option<JobDetail>, StoreError> {
        const ACTION: &str = "reading a job";
        let Some(id) = self.resolve_job(job_id, ACTION)? else {
            return Ok(None);
        };
        let (summary, counters, config_path, job_json, result_rows) = self
            .conn
            .query_row(
                &format!(
                    "SELECT {SUMMARY_COLUMNS}, j.config_path, j.job_json, j.result_rows
                     FROM jobs j WHERE j.job_id = ?1"
                ),
                [&id],
                |r| {
                    let (s, c) = summary_row(r)?;
                    Ok((
                        s,
                        c,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, Option<String>>(9)?,
                        r.get::<_, i64>(10)?,
                    ))
                },
            )
            .map_err(self.err(ACTION))?;
        let summary = self.with_counters(summary, &counters, ACTION)?;
        let mut stmt = self
            .conn
            .prepare("SELECT message FROM job_errors WHERE job_id = ?1 ORDER BY seq")
            .map_err(self.err(ACTION))?;
        let errors = stmt
            .query_map([&id], |r| r.get(0))
            .map_err(self.err(ACTION))?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err(ACTION))?;
        Ok(Some(JobDetail {
            summary,
            config_path,
            job_json,
            errors,
            result_rows: u64::try_from(result_rows).unwrap_or(0),
        }))
    }

    /// Calls `visit` with each stored result row of the job (id or unique prefix), in the order
    /// they were stored. An unknown job is an error.
    pub fn job_results(
        &self,
        job_id: &str,
        visit: &mut dyn FnMut(ResultRecord),
    ) -> Result<(), StoreError> {
        const ACTION: &str = "reading job results";
        let Some(id) = self.resolve_job(job_id, ACTION)? else {
            return Err(StoreError::UnknownJob {
                path: self.path.clone(),
                action: ACTION,
                job_id: job_id.to_owned(),
            });
        };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.local_id, r.outcome, r.integration_id, r.priority, r.match_count,
                        r.candidates, r.coupled_to, r.trace, r.message, r.holder_origin
                 FROM job_results r JOIN jobs j ON j.id = r.job
                 WHERE j.job_id = ?1 ORDER BY r.seq",
            )
            .map_err(self.err(ACTION))?;
        let mut rows = stmt.query([&id]).map_err(self.err(ACTION))?;
        while let Some(r) = rows.next().map_err(self.err(ACTION))? {
            let record = (|| {
                Ok(ResultRecord {
                    local_id: r.get(0)?,
                    outcome: r.get(1)?,
                    integration_id: r.get(2)?,
                    priority: r.get(3)?,
                    match_count: r.get(4)?,
                    candidates: r.get(5)?,
                    coupled_to: r.get(6)?,
                    trace: r.get(7)?,
                    message: r.get(8)?,
                    holder_origin: r.get(9)?,
                })
            })()
            .map_err(self.err(ACTION))?;
            visit(record);
        }
        Ok(())
    }

    /// The full job id for an id or a unique prefix (≥ [`MIN_JOB_PREFIX`] characters).
    fn resolve_job(
        &self,
        job_id: &str,
        action: &'static str,
    ) -> Result<Option<String>, StoreError> {
        let exact: Option<String> = self
            .conn
            .query_row("SELECT job_id FROM jobs WHERE job_id = ?1", [job_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err(action))?;
        if exact.is_some() || job_id.chars().count() < MIN_JOB_PREFIX {
            return Ok(exact);
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT job_id FROM jobs WHERE substr(job_id, 1, length(?1)) = ?1
                 ORDER BY job_id LIMIT 5",
            )
            .map_err(self.err(action))?;
        let matches: Vec<String> = stmt
            .query_map([job_id], |r| r.get(0))
            .map_err(self.err(action))?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err(action))?;
        match matches.len() {
            0 => Ok(None),
            1 => Ok(matches.into_iter().next()),
            _ => Err(StoreError::AmbiguousJobId {
                path: self.path.clone(),
                action,
                prefix: job_id.to_owned(),
                matches,
            }),
        }
    }

    fn with_counters(
        &self,
        mut summary: JobSummary,
        counters: &str,
        action: &'static str,
    ) -> Result<JobSummary, StoreError> {
        summary.counters =
            serde_json::from_str::<BTreeMap<String, u64>>(counters).map_err(|source| {
                StoreError::Json {
                    path: self.path.clone(),
                    action,
                    source,
                }
            })?;
        Ok(summary)
    }
}

/// A summary row (counters still as JSON text).
fn summary_row(r: &Row<'_>) -> rusqlite::Result<(JobSummary, String)> {
    Ok((
        JobSummary {
            job_id: r.get(0)?,
            mapping: r.get(1)?,
            job_type: r.get(2)?,
            dry_run: r.get(3)?,
            started_at: r.get(4)?,
            finished_at: r.get(5)?,
            counters: BTreeMap::new(),
            error_count: u64::try_from(r.get::<_, i64>(7)?).unwrap_or(0),
        },
        r.get(6)?,
    ))
}
