//! The coupling store from a run's side: which file, opening it (created only by `--apply`; a
//! dry run reads an existing store's couplings read-only and writes nothing), committing a job's
//! couplings with the intent of their effects — records another job coupled first are demoted, as BC would report them — and
//! keeping the finished job with its per-record results for `jobs show`.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use coupler_engine::report::{Renderer, ResultRow};
use coupler_engine::{CouplingRun, Outcome};
use coupler_store::{
    ConflictKind, FinishedJob, JobCommit, JobIntent, MappingRef, PlannedCreate, PlannedWrite,
    ResultRecord, Store, StoredCoupling,
};

use crate::job::{Committed, JobJson};
use crate::plan::Plan;

/// The store for a run: created with `--apply`; otherwise opened read-only (nothing written
/// to it or created beside it) if it exists.
pub fn open_for(plan: &Plan, apply: bool) -> Result<Option<Store>> {
    if apply {
        return Ok(Some(Store::open(&plan.store)?));
    }
    if plan.store.exists() {
        return Ok(Some(Store::open_read_only(&plan.store)?));
    }
    Ok(None)
}

/// Every stored coupling, read from one consistent state of the store: a read-only store whose
/// file another process changed meanwhile is opened and read again.
pub fn read_couplings(plan: &Plan, store: &mut Option<Store>) -> Result<Vec<StoredCoupling>> {
    let mut attempt = 1;
    loop {
        let Some(s) = store.as_ref() else {
            return Ok(Vec::new());
        };
        let couplings = s.couplings()?;
        match s.verify_snapshot() {
            Ok(()) => return Ok(couplings),
            Err(e) if attempt == 5 => return Err(e.into()),
            Err(_) => attempt += 1,
        }
        *store = Some(Store::open_read_only(&plan.store)?);
    }
}

/// Commits the run's couplings and the intent of their effects in one transaction
/// (`Store::commit_job`), and demotes the records whose pair another job stored first (two
/// concurrent `--apply` runs: the loser reports `already_coupled`, or `skipped`). Returns what
/// was committed and the local rows whose pair was not committed by this job (their planned
/// writes were dropped with them).
pub fn commit(
    store: &mut Store,
    job_id: &str,
    run: &mut CouplingRun<'_>,
    pair_writes: Vec<(String, PlannedWrite)>,
    creates: Vec<PlannedCreate>,
) -> Result<(Committed, JobCommit, HashSet<u32>)> {
    let spec = run.spec().clone();
    let pairs: Vec<(String, String)> = run
        .outcomes()
        .iter()
        .filter_map(|r| match r.outcome {
            Outcome::Coupled {
                integration_row, ..
            } => Some((
                run.local_id(r).to_string(),
                run.integration_id(integration_row).to_string(),
            )),
            _ => None,
        })
        .collect();
    let mapping = MappingRef {
        mapping: spec.mapping_name.clone(),
        local_table: spec.local_caption,
        integration_table: spec.integration_caption,
    };
    let intent = JobIntent {
        pairs,
        pair_writes,
        creates,
    };
    let done = store.commit_job(job_id, &mapping, &intent)?;
    let report = &done.couplings;
    let mut dropped = HashSet::new();
    // This job commits once, so a pair the store already held was stored by another job
    // (a concurrent run, or one that finished while this one matched): not booked here.
    if !report.conflicts.is_empty() || !report.unchanged.is_empty() {
        let index: HashMap<&str, usize> = run
            .outcomes()
            .iter()
            .enumerate()
            .map(|(i, r)| (run.local_id(r), i))
            .collect();
        let demotions: Vec<(usize, ConflictKind, String)> = report
            .conflicts
            .iter()
            .filter_map(|c| {
                let holder = match c.kind {
                    ConflictKind::IntegrationTaken => c.holder_local_id.clone(),
                    ConflictKind::LocalAlreadyCoupled => c.holder_integration_id.clone(),
                };
                Some((*index.get(c.local_id.as_str())?, c.kind, holder))
            })
            .chain(report.unchanged.iter().filter_map(|(local, integration)| {
                Some((
                    *index.get(local.as_str())?,
                    ConflictKind::LocalAlreadyCoupled,
                    integration.clone(),
                ))
            }))
            .collect();
        drop(index);
        for (i, kind, holder) in demotions {
            dropped.insert(run.outcomes()[i].local_row);
            match kind {
                ConflictKind::IntegrationTaken => run.demote_to_already_coupled(i, &holder),
                ConflictKind::LocalAlreadyCoupled => run.demote_to_skipped(i, &holder),
            };
        }
    }
    for c in &done.creates.conflicts {
        eprintln!(
            "coupler: warning: mapping '{}': {} was coupled by another job while this one ran; no row is created for it",
            spec.mapping_name, c.local_id
        );
    }
    let committed = Committed {
        path: store.path().display().to_string(),
        inserted: report.inserted.len() as u64,
        unchanged: report.unchanged.len() as u64,
        conflicts: report.conflicts.len() as u64,
    };
    Ok((committed, done, dropped))
}

/// Stores the finished job: its job.json and every results row.
pub fn finish(
    store: &mut Store,
    job: &JobJson,
    job_json: &[u8],
    renderer: &Renderer<'_, '_>,
) -> Result<()> {
    let finished = FinishedJob {
        finished_at: job.finished_at.clone(),
        job_json: String::from_utf8_lossy(job_json).into_owned(),
        counters: job
            .counters
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
        errors: job.errors.iter().map(|e| e.message.clone()).collect(),
    };
    let mut row = ResultRow::default();
    let rows = (0..renderer.run().outcomes().len())
        .map(move |i| ResultRecord::from_row(renderer.render(i, &mut row)));
    store.finish_job(&job.job_id, &finished, rows)?;
    Ok(())
}
