//! `coupler jobs list|show`, `coupler couplings export`, `coupler uncouple`: reading and
//! editing the coupling store. The store is found from `--config` (its `store` key, or
//! `coupler.db` beside it) or given with `--store`; the read-only commands never create one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use coupler_files::RowEncoder;
use coupler_store::{bc_table_id, Store, StoreOptions, BC_EXPORT_HEADER};

use crate::config::Plan;
use crate::summary;

/// Where the store is: `--store PATH`, or from `--config FILE`.
pub struct StoreLocation {
    pub config: Option<PathBuf>,
    pub store: Option<PathBuf>,
}

impl StoreLocation {
    fn path(&self) -> Result<PathBuf> {
        match (&self.config, &self.store) {
            (_, Some(p)) => Ok(p.clone()),
            (Some(c), None) => Ok(Plan::load(c)?.store),
            (None, None) => bail!("say which store: --config FILE (its store, or coupler.db beside it) or --store PATH"),
        }
    }

    /// Opens an existing store; a missing one is an error that names the path.
    fn open_existing(&self) -> Result<Store> {
        let path = self.path()?;
        if !path.exists() {
            bail!(
                "{}: no coupling store here yet; `coupler couple --apply` creates it",
                path.display()
            );
        }
        let options = StoreOptions {
            create: false,
            ..StoreOptions::default()
        };
        Ok(Store::open_with(&path, options)?)
    }
}

pub fn jobs_list(location: &StoreLocation, json: bool) -> Result<()> {
    let store = location.open_existing()?;
    let jobs = store.jobs()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
        return Ok(());
    }
    if jobs.is_empty() {
        println!("no jobs in {}", store.path().display());
        return Ok(());
    }
    println!(
        "{:<36}  {:<12} {:<11} {:<24} {:>8} {:>8} {:>9} {:>6}",
        "job id", "mapping", "type", "started", "coupled", "failed", "uncoupled", "errors"
    );
    for j in jobs {
        let counter = |k: &str| j.counters.get(k).copied().unwrap_or(0);
        println!(
            "{:<36}  {:<12} {:<11} {:<24} {:>8} {:>8} {:>9} {:>6}{}",
            j.job_id,
            j.mapping,
            j.job_type,
            j.started_at,
            counter("coupled"),
            counter("failed"),
            counter("uncoupled"),
            j.error_count,
            if j.finished_at.is_none() {
                "  (unfinished: the run stopped before it ended)"
            } else {
                ""
            }
        );
    }
    Ok(())
}

pub fn jobs_show(location: &StoreLocation, id: &str, json: bool, results: bool) -> Result<()> {
    let store = location.open_existing()?;
    let detail = store
        .job(id)?
        .ok_or_else(|| anyhow!("{}: no job with id {id}", store.path().display()))?;
    if results {
        let mut encoder = RowEncoder::new(&[
            true, false, true, false, false, false, false, false, false, false,
        ]);
        encoder
            .encode(coupler_engine::report::RESULTS_HEADER)
            .map_err(anyhow::Error::msg)?;
        let mut out = std::io::stdout().lock();
        let mut failure = None;
        store.job_results(&detail.summary.job_id, &mut |r| {
            if failure.is_some() {
                return;
            }
            if let Err(e) = encoder.encode(r.to_row()) {
                failure = Some(anyhow::Error::msg(e));
            } else if encoder.len() > 1 << 16 {
                if let Err(e) = out.write_all(&encoder.take()) {
                    failure = Some(e.into());
                }
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        out.write_all(&encoder.take())?;
        return Ok(());
    }
    match (&detail.job_json, json) {
        (Some(text), true) => println!("{text}"),
        (Some(text), false) => {
            let value: serde_json::Value = serde_json::from_str(text)
                .with_context(|| format!("job {}: the stored job.json", detail.summary.job_id))?;
            println!("job {}", detail.summary.job_id);
            summary::print(&value);
        }
        (None, _) => {
            println!(
                "job {} ({}, {}) started {} and {}",
                detail.summary.job_id,
                detail.summary.mapping,
                detail.summary.job_type,
                detail.summary.started_at,
                match &detail.summary.finished_at {
                    Some(f) => format!("finished {f}"),
                    None => "did not finish (the run stopped before it ended)".into(),
                }
            );
            for (k, v) in &detail.summary.counters {
                println!("  {k}: {v}");
            }
            for e in &detail.errors {
                println!("  error: {e}");
            }
        }
    }
    Ok(())
}

/// `csv`: `local_id,integration_id,mapping,local_table,integration_table,job_id,created_at`;
/// `bc`: BC's "CRM Integration Record" columns (`CRM ID,Integration ID,Table ID`).
pub fn couplings_export(
    location: &StoreLocation,
    mapping: &str,
    format: &str,
    table_id: Option<u32>,
) -> Result<()> {
    let store = location.open_existing()?;
    let couplings = store.couplings_of(mapping)?;
    let mut out = std::io::stdout().lock();
    match format {
        "csv" => {
            let mut encoder = RowEncoder::new(&[true, true, false, false, false, false, false]);
            encoder
                .encode([
                    "local_id",
                    "integration_id",
                    "mapping",
                    "local_table",
                    "integration_table",
                    "job_id",
                    "created_at",
                ])
                .map_err(anyhow::Error::msg)?;
            for c in &couplings {
                encoder
                    .encode([
                        c.local_id.as_str(),
                        &c.integration_id,
                        &c.mapping,
                        &c.local_table,
                        &c.integration_table,
                        &c.job_id,
                        &c.created_at,
                    ])
                    .map_err(anyhow::Error::msg)?;
            }
            out.write_all(&encoder.take())?;
        }
        "bc" => {
            let caption = couplings
                .first()
                .map(|c| c.local_table.as_str())
                .unwrap_or(mapping);
            let table = table_id
                .or_else(|| bc_table_id(caption))
                .or_else(|| bc_table_id(mapping))
                .ok_or_else(|| {
                    anyhow!("BC's table number of '{caption}' is not known; give it with --table-id (Customer 18, Vendor 23, Contact 5050, …)")
                })?;
            let table = table.to_string();
            let mut encoder = RowEncoder::new(&[true, true, false]);
            encoder
                .encode(BC_EXPORT_HEADER)
                .map_err(anyhow::Error::msg)?;
            for c in &couplings {
                encoder
                    .encode([c.integration_id.as_str(), &c.local_id, &table])
                    .map_err(anyhow::Error::msg)?;
            }
            out.write_all(&encoder.take())?;
        }
        other => bail!("unknown format '{other}'; use csv or bc"),
    }
    Ok(())
}

pub fn uncouple(
    location: &StoreLocation,
    mapping: &str,
    local_ids: &[String],
    all: bool,
) -> Result<()> {
    if all != local_ids.is_empty() {
        bail!("say what to uncouple: --local-id ID (repeatable) or --all");
    }
    let path = location.path()?;
    let mut store = location.open_existing()?;
    let job_id = uuid::Uuid::new_v4().to_string();
    let removed = store.uncouple(mapping, (!all).then_some(local_ids), &job_id)?;
    for c in &removed {
        eprintln!("  uncoupled {} from {}", c.local_id, c.integration_id);
    }
    let missing: Vec<&String> = local_ids
        .iter()
        .filter(|id| !removed.iter().any(|c| &c.local_id == *id))
        .collect();
    for id in &missing {
        eprintln!("coupler: warning: {id} was not coupled in mapping {mapping}");
    }
    println!(
        "{} coupling(s) of mapping {mapping} removed from {} (job {job_id})",
        removed.len(),
        display(&path)
    );
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
