//! `coupler jobs list|show`, `coupler couplings export`, `coupler uncouple`: reading and
//! editing the coupling store. The store is found from `--config` (its `store` key, or
//! `coupler.db` beside it) or given with `--store`; the read-only commands never create one.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use coupler_engine::{
    canonical_integration_id, canonical_local_id, is_guid, Blocking, Fuzzy, Metric,
};
use coupler_files::RowEncoder;
use coupler_store::{bc_table_id, Store, StoreOptions, StoredCoupling, BC_EXPORT_HEADER};

use crate::job::JobJson;
use crate::plan::Plan;
use crate::summary;

/// Where the store is: `--store PATH`, or from `--config FILE` (read once, when first needed).
pub struct StoreLocation {
    config: Option<PathBuf>,
    store: Option<PathBuf>,
    plan: std::cell::OnceCell<Plan>,
}

impl StoreLocation {
    pub fn new(config: Option<PathBuf>, store: Option<PathBuf>) -> StoreLocation {
        StoreLocation {
            config,
            store,
            plan: std::cell::OnceCell::new(),
        }
    }

    /// The config named by `--config`, loaded once.
    fn plan(&self) -> Result<Option<&Plan>> {
        let Some(path) = &self.config else {
            return Ok(None);
        };
        if self.plan.get().is_none() {
            let _ = self.plan.set(Plan::load(path)?);
        }
        Ok(self.plan.get())
    }

    fn path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.store {
            return Ok(p.clone());
        }
        match self.plan()? {
            Some(plan) => Ok(plan.store.clone()),
            None => bail!("say which store: --config FILE (its store, or coupler.db beside it) or --store PATH"),
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
        .ok_or_else(|| {
            let hint = if id.trim().len() < coupler_store::MIN_JOB_PREFIX {
                format!(
                    "; a job id prefix needs at least {} characters (`coupler jobs list` shows the ids)",
                    coupler_store::MIN_JOB_PREFIX
                )
            } else {
                String::new()
            };
            anyhow!("{}: no job with id {id}{hint}", store.path().display())
        })?;
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
            let job = JobJson::parse(text, Path::new("job.json"))
                .with_context(|| format!("job {}: the stored job.json", detail.summary.job_id))?;
            println!("job {}", detail.summary.job_id);
            summary::print(&job);
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

/// `coupler couplings export`'s arguments.
pub struct ExportArgs {
    pub mapping: String,
    /// `csv` or `bc`.
    pub format: String,
    /// `--table-id`: BC's table number for `--format bc`.
    pub table_id: Option<u32>,
    /// `--allow-non-guid`: write `--format bc` even when ids are not GUIDs.
    pub allow_non_guid: bool,
}

/// `coupler uncouple`'s arguments.
pub struct UncoupleArgs {
    pub mapping: String,
    /// `--local-id` (repeatable), in any spelling of the ids.
    pub local_ids: Vec<String>,
    /// `--all`.
    pub all: bool,
    /// `--yes`: confirms `--all`.
    pub yes: bool,
}

/// The mappings a store and a config know, for naming them when a mapping is not found.
struct KnownMappings {
    /// Mappings with couplings or jobs in the store.
    store: Vec<String>,
    /// Mappings of the config (when the store was found through `--config`).
    config: Vec<String>,
}

impl KnownMappings {
    fn read(location: &StoreLocation, store: &Store) -> Result<Self> {
        let mut in_store: Vec<String> = store.jobs()?.into_iter().map(|j| j.mapping).collect();
        in_store.sort_unstable();
        in_store.dedup();
        let config = match location.plan()? {
            Some(plan) => plan.mappings.iter().map(|m| m.name.clone()).collect(),
            None => Vec::new(),
        };
        Ok(KnownMappings {
            store: in_store,
            config,
        })
    }

    fn contains(&self, mapping: &str) -> bool {
        self.store.iter().chain(&self.config).any(|m| m == mapping)
    }

    /// The error for a mapping neither knows: what each knows, and the closest name.
    fn unknown(&self, mapping: &str, store_path: &Path) -> anyhow::Error {
        let mut text = format!(
            "no mapping '{mapping}' in the coupling store {}",
            store_path.display()
        );
        if !self.config.is_empty() {
            text.push_str(" or its config");
        }
        text.push_str(&match self.store.as_slice() {
            [] => "; the store holds no mappings yet".to_string(),
            names => format!("; the store's mappings are: {}", names.join(", ")),
        });
        if !self.config.is_empty() {
            text.push_str(&format!(
                "; the config's mappings are: {}",
                self.config.join(", ")
            ));
        }
        if let Some(close) = closest(mapping, self.store.iter().chain(&self.config)) {
            text.push_str(&format!("; did you mean '{close}'?"));
        }
        anyhow!(text)
    }
}

/// The known name closest to `name` (case aside), if it is close: at most a third of its
/// letters edited (two for short names).
fn closest<'n>(name: &str, known: impl Iterator<Item = &'n String>) -> Option<&'n str> {
    let wanted = name.to_lowercase();
    let max_edits = (wanted.chars().count() / 3).max(2);
    // Levenshtein distance through the engine's similarity (strsim underneath): the score of
    // a pair within `max_edits` edits, higher for closer names.
    let levenshtein = Fuzzy {
        metric: Metric::Levenshtein,
        threshold: max_edits as f64,
        tie_margin: 0.0,
        blocking: Blocking::FirstToken,
    };
    known
        .filter_map(|k| Some((levenshtein.score(&wanted, &k.to_lowercase())?, k)))
        .fold(
            None,
            |best: Option<(f64, &String)>, (score, k)| match best {
                Some((s, _)) if s >= score => best,
                _ => Some((score, k)),
            },
        )
        .map(|(_, k)| k.as_str())
}

/// The couplings of `mapping`; a mapping neither the store nor the config knows is an error
/// naming the mappings they know.
fn couplings_of_known(
    location: &StoreLocation,
    store: &Store,
    mapping: &str,
) -> Result<Vec<StoredCoupling>> {
    let couplings = store.couplings_of(mapping)?;
    if couplings.is_empty() {
        let known = KnownMappings::read(location, store)?;
        if !known.contains(mapping) {
            return Err(known.unknown(mapping, store.path()));
        }
    }
    Ok(couplings)
}

/// `coupler couplings export`. `csv`: `local_id,integration_id,mapping,local_table,
/// integration_table,job_id,created_at`; `bc`: BC's "CRM Integration Record" columns (`CRM
/// ID,Integration ID,Table ID`), refused when ids are not GUIDs unless `--allow-non-guid`. Ids
/// are written in their canonical form (GUIDs lower-case without braces, local ids upper-case).
/// A mapping neither the store nor the config knows is an error naming the ones they know.
pub fn couplings_export_with(location: &StoreLocation, args: &ExportArgs) -> Result<()> {
    let mapping = args.mapping.as_str();
    if !matches!(args.format.as_str(), "csv" | "bc") {
        bail!("unknown format '{}'; use csv or bc", args.format);
    }
    let store = location.open_existing()?;
    let couplings = couplings_of_known(location, &store, mapping)?;
    if couplings.is_empty() {
        eprintln!(
            "coupler: mapping {mapping} has no couplings in {}",
            store.path().display()
        );
    }
    // Stores written before ids were canonical may hold other spellings.
    let ids: Vec<(Cow<'_, str>, Cow<'_, str>)> = couplings
        .iter()
        .map(|c| {
            (
                canonical_local_id(&c.local_id),
                canonical_integration_id(&c.integration_id),
            )
        })
        .collect();
    let mut out = std::io::stdout().lock();
    match args.format.as_str() {
        "bc" => {
            if !args.allow_non_guid {
                check_bc_ids(mapping, &ids)?;
            }
            let caption = couplings
                .first()
                .map(|c| c.local_table.as_str())
                .unwrap_or(mapping);
            let table = args
                .table_id
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
            for (local, integration) in &ids {
                encoder
                    .encode([integration, local, table.as_str()])
                    .map_err(anyhow::Error::msg)?;
            }
            out.write_all(&encoder.take())?;
        }
        _ => {
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
            for (c, (local, integration)) in couplings.iter().zip(&ids) {
                encoder
                    .encode([
                        local,
                        integration,
                        c.mapping.as_str(),
                        &c.local_table,
                        &c.integration_table,
                        &c.job_id,
                        &c.created_at,
                    ])
                    .map_err(anyhow::Error::msg)?;
            }
            out.write_all(&encoder.take())?;
        }
    }
    Ok(())
}

/// BC's "CRM Integration Record" holds GUIDs on both sides: `CRM ID` the Dataverse row's id,
/// `Integration ID` the BC record's SystemId. A file with anything else there cannot be
/// imported, so `--format bc` refuses it (unless `--allow-non-guid`), saying how to get them.
fn check_bc_ids(mapping: &str, ids: &[(Cow<'_, str>, Cow<'_, str>)]) -> Result<()> {
    let total = ids.len();
    if let Some((example, count)) = not_guids(ids.iter().map(|(local, _)| &**local)) {
        bail!(
            "--format bc: {count} of {total} local id(s) of mapping {mapping} are not GUIDs (e.g. '{example}'). \
             BC's \"CRM Integration Record\" needs the BC record's SystemId (a GUID) as Integration ID, not its No.: \
             export the BC table with its SystemId column, make that column the `key` of [mappings.local], \
             then `coupler uncouple --mapping {mapping} --all --yes` and `coupler couple --apply` again; \
             or add --allow-non-guid to write these ids anyway"
        );
    }
    if let Some((example, count)) = not_guids(ids.iter().map(|(_, integration)| &**integration)) {
        bail!(
            "--format bc: {count} of {total} integration id(s) of mapping {mapping} are not GUIDs (e.g. '{example}'). \
             BC's \"CRM Integration Record\" needs the Dataverse row's id (a GUID) as CRM ID: \
             make the table's primary id column (e.g. accountid) the `key` of [mappings.integration]; \
             or add --allow-non-guid to write these ids anyway"
        );
    }
    Ok(())
}

/// The first of `ids` that is not a GUID, and how many are not.
fn not_guids<'i>(ids: impl Iterator<Item = &'i str>) -> Option<(&'i str, usize)> {
    let mut bad = ids.filter(|id| !is_guid(id));
    let first = bad.next()?;
    Some((first, bad.count() + 1))
}

/// `coupler uncouple`. Ids are matched in any spelling (`c00010 ` is `C00010`, a
/// GUID in any case, with or without braces). Nothing is removed, and no job recorded, when
/// the mapping is unknown, when none of the ids is coupled, or when `--all` lacks `--yes`.
pub fn uncouple_with(location: &StoreLocation, args: &UncoupleArgs) -> Result<()> {
    let UncoupleArgs {
        mapping,
        local_ids,
        all,
        yes,
    } = args;
    let mapping = mapping.as_str();
    if *all != local_ids.is_empty() {
        bail!("say what to uncouple: --local-id ID (repeatable) or --all");
    }
    let path = location.path()?;
    let mut store = location.open_existing()?;
    let coupled = couplings_of_known(location, &store, mapping)?;
    let selected: Option<Vec<String>> = if *all {
        if coupled.is_empty() {
            bail!(
                "mapping {mapping} has no couplings in {}; nothing to uncouple",
                display(&path)
            );
        }
        if !yes {
            bail!(
                "--all would remove all {} coupling(s) of mapping {mapping} from {}; add --yes to confirm",
                coupled.len(),
                display(&path)
            );
        }
        None
    } else {
        // The stored spellings of each coupled id, by canonical id (stores written before ids
        // were canonical may hold others, even two of one id).
        let mut stored: HashMap<Cow<'_, str>, Vec<&str>> = HashMap::new();
        for c in &coupled {
            stored
                .entry(canonical_local_id(&c.local_id))
                .or_default()
                .push(&c.local_id);
        }
        let mut asked = HashSet::new();
        let mut found: Vec<String> = Vec::new();
        for id in local_ids {
            let canonical = canonical_local_id(id);
            if !asked.insert(canonical.clone()) {
                continue; // named twice
            }
            match stored.get(&canonical) {
                Some(spellings) => found.extend(spellings.iter().map(|s| s.to_string())),
                None => eprintln!("coupler: warning: {id} is not coupled in mapping {mapping}"),
            }
        }
        if found.is_empty() {
            bail!(
                "none of the given local ids is coupled in mapping {mapping} ({}); nothing uncoupled",
                display(&path)
            );
        }
        Some(found)
    };
    let job_id = uuid::Uuid::new_v4().to_string();
    let removed = store.uncouple(mapping, selected.as_deref(), &job_id)?;
    for c in &removed {
        eprintln!(
            "  uncoupled {} from {}",
            canonical_local_id(&c.local_id),
            canonical_integration_id(&c.integration_id)
        );
    }
    // Coupled when read, gone when removed: another process uncoupled them meanwhile.
    let gone: HashSet<&str> = removed.iter().map(|c| c.local_id.as_str()).collect();
    for id in selected.iter().flatten() {
        if !gone.contains(id.as_str()) {
            eprintln!(
                "coupler: warning: {} is not coupled in mapping {mapping} (any more)",
                canonical_local_id(id)
            );
        }
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
