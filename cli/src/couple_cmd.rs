//! `coupler couple` and `coupler validate`: sources → engine → files, one mapping at a time.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use coupler_engine::report::{
    IdBatch, Renderer, ResultRow, COUPLINGS_HEADER, COUPLINGS_ID_COLUMNS, RESULTS_DETAIL_HEADER,
    RESULTS_HEADER, RESULTS_ID_COLUMNS,
};
use coupler_engine::{
    couple as run_coupling, Collation, CouplingSpec, ExistingCouplings, Outcome, RunOptions, Table,
};
use coupler_files::{
    read_couplings, read_header, read_table_checking, write_atomically, FileSource, RowEncoder,
    SafeCsvWriter, StagedFolder,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::apply;
use crate::config::{file_name, IntegrationSource, Plan, PlannedMapping};
use crate::dataverse_link::{DataverseLink, IntegrationRead};
use crate::progress;
use crate::report_html::{self, JobReport, FAILURE_KINDS, SAMPLES_PER_KIND};
use crate::store;
use crate::summary;
use crate::sync_step;
use coupler_store::{NewJob, Store, StoredCoupling};

pub struct CoupleArgs {
    pub config: PathBuf,
    pub mappings: Vec<String>,
    pub out: PathBuf,
    pub apply: bool,
    pub json: bool,
    pub threads: Option<usize>,
    /// `--report FILE.html`.
    pub report: Option<PathBuf>,
    /// `--compare-collation`.
    pub compare_collation: bool,
}

/// `job.json` (contract: "Output files"); fields after `timings_ms` are extensions.
#[derive(Debug, Serialize)]
pub struct JobJson {
    pub job_id: String,
    pub mapping: String,
    #[serde(rename = "type")]
    pub job_type: &'static str,
    pub dry_run: bool,
    pub started_at: String,
    pub finished_at: String,
    pub counters: BTreeMap<&'static str, u64>,
    pub outcomes: BTreeMap<&'static str, u64>,
    pub errors: Vec<ErrorRow>,
    pub local_records: u64,
    pub integration_records: u64,
    pub timings_ms: Timings,
    pub local_records_read: u64,
    pub integration_records_read: u64,
    /// Outcome counts by the priority level that decided (coupled) or was evaluated last.
    pub by_priority: BTreeMap<u32, BTreeMap<&'static str, u64>>,
    pub files: Files,
    pub threads: usize,
    /// Peak resident memory of the process (MB) after each step, where the OS tells (Linux).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub peak_memory_mb: BTreeMap<&'static str, u64>,
    /// Dataverse-backed jobs: requests, retries and throttled answers (contract: "Dataverse").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<coupler_dataverse::HttpCounts>,
    /// Dataverse-backed jobs: how the integration side was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_read: Option<IntegrationRead>,
    /// BC's name of the table mapping (`Customer - Account`).
    pub table_mapping: String,
    /// What the integration side is called in messages (a file, or the environment URL).
    pub integration_source: String,
    /// With `--apply`: what was committed to the coupling store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<store::Committed>,
    /// `sync_after_coupling`: the plan, and with `--apply` what was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync: Option<sync_step::SyncReport>,
    /// `create_new_if_no_match` with `--apply`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_new: Option<sync_step::CreateReport>,
    /// `--compare-collation`: records whose outcome differs under the other collation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collation_diff: Option<CollationDiff>,
    /// Fuzzy criteria: how the scores of the decided records are distributed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_scores: Option<MatchScores>,
}

/// The fuzzy scores of the records whose deciding level had fuzzy criteria (coupled ones, and
/// the others with a best candidate), by bucket.
#[derive(Debug, Serialize)]
pub struct MatchScores {
    pub scored: u64,
    pub coupled: u64,
    pub min_coupled: Option<f64>,
    pub mean_coupled: Option<f64>,
    /// `[from, to)`, coupled records, other records (1.0 alone: identical after normalizing).
    pub buckets: Vec<ScoreBucket>,
}

#[derive(Debug, Serialize)]
pub struct ScoreBucket {
    pub from: f64,
    pub to: f64,
    pub coupled: u64,
    pub other: u64,
}

/// Bucket bounds of [`MatchScores`]: coarse below 0.9, where few matches should be.
const SCORE_BOUNDS: [f64; 10] = [0.0, 0.8, 0.85, 0.9, 0.92, 0.94, 0.96, 0.98, 1.0, 1.0 + 1e-9];

/// The distribution of the scores `write_rows` rendered (`(coupled, score)` per scored record),
/// for mappings with fuzzy criteria.
fn match_scores(
    run: &coupler_engine::CouplingRun<'_>,
    scored: &[(bool, f64)],
) -> Option<MatchScores> {
    let fuzzy = run
        .spec()
        .criteria
        .iter()
        .any(|c| c.comparator != coupler_engine::Comparator::Exact);
    if !fuzzy {
        return None;
    }
    let mut buckets: Vec<ScoreBucket> = SCORE_BOUNDS
        .windows(2)
        .map(|w| ScoreBucket {
            from: w[0],
            to: w[1].min(1.0),
            coupled: 0,
            other: 0,
        })
        .collect();
    let (mut coupled, mut sum, mut min) = (0u64, 0.0, f64::INFINITY);
    for &(is_coupled, score) in scored {
        let b = SCORE_BOUNDS[1..]
            .iter()
            .position(|&to| score < to)
            .unwrap_or(buckets.len() - 1);
        if is_coupled {
            buckets[b].coupled += 1;
            coupled += 1;
            sum += score;
            min = min.min(score);
        } else {
            buckets[b].other += 1;
        }
    }
    Some(MatchScores {
        scored: scored.len() as u64,
        coupled,
        min_coupled: (coupled > 0).then_some(min),
        mean_coupled: (coupled > 0).then(|| sum / coupled as f64),
        buckets,
    })
}

/// What `--compare-collation` found.
#[derive(Debug, Serialize)]
pub struct CollationDiff {
    /// The collation of this job and the one it was compared with.
    pub configured: &'static str,
    pub compared_with: &'static str,
    /// Records whose outcome or coupled id differs.
    pub records: u64,
    pub file: String,
}

fn collation_name(c: Collation) -> &'static str {
    match c {
        Collation::Exact => "exact",
        Collation::Dataverse {
            accent_sensitive: false,
        } => "dataverse (case- and accent-insensitive)",
        Collation::Dataverse {
            accent_sensitive: true,
        } => "dataverse (case-insensitive, accent-sensitive)",
    }
}

/// Runs the mapping again under the other collation (exact ↔ Dataverse's; Dataverse's is
/// accent-insensitive unless configured otherwise) and writes the records whose outcome or
/// coupled id differs to `collation-diff.csv`.
fn compare_collations(
    renderer: &Renderer<'_, '_>,
    local: &Table,
    integration: &Table,
    existing: &ExistingCouplings,
    dir: &Path,
) -> Result<CollationDiff> {
    let run = renderer.run();
    let configured = run.spec().collation;
    let other = match configured {
        Collation::Exact => Collation::Dataverse {
            accent_sensitive: false,
        },
        Collation::Dataverse { .. } => Collation::Exact,
    };
    let spec = CouplingSpec {
        collation: other,
        ..run.spec().clone()
    };
    let other_run = run_coupling(&spec, local, integration, existing, RunOptions::default())?;
    let other_renderer = Renderer::new(&other_run);
    let path = dir.join("collation-diff.csv");
    let (a, b) = (collation_name(configured), collation_name(other));
    let mut out = SafeCsvWriter::new(
        &path,
        &[
            "local_id",
            "outcome",
            "integration_id",
            "trace",
            "other_outcome",
            "other_integration_id",
            "other_trace",
        ],
        &[true, false, true, false, false, true, false],
    )?;
    let (mut mine, mut theirs) = (ResultRow::default(), ResultRow::default());
    let mut records = 0;
    for i in 0..run.outcomes().len() {
        let x = renderer.render(i, &mut mine);
        let y = other_renderer.render(i, &mut theirs);
        // Same outcome, same coupled id, same candidates: no difference worth listing.
        if x[1] == y[1] && x[2] == y[2] && x[5] == y[5] {
            continue;
        }
        records += 1;
        out.write_row([x[0], x[1], x[2], x[7], y[1], y[2], y[7]])?;
    }
    out.finish()?;
    Ok(CollationDiff {
        configured: a,
        compared_with: b,
        records,
        file: path.display().to_string(),
    })
}

/// The process's peak resident set so far, in MB (Linux `VmHWM`), if known.
fn peak_memory_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[derive(Debug, Serialize)]
pub struct ErrorRow {
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct Timings {
    pub read: u64,
    #[serde(rename = "match")]
    pub matching: u64,
    pub write: u64,
    /// The engine's phases (extension), in microseconds.
    pub match_phases_us: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct Files {
    pub results: String,
    pub couplings: String,
    pub job: String,
}

/// What one mapping's run needs besides the mapping: the connection, existing couplings,
/// the store, and where outputs go.
struct RunEnv<'a> {
    link: Option<&'a mut DataverseLink>,
    coupling_files: &'a [CouplingFile],
    /// Couplings made by earlier mappings of this run (taken for the later ones).
    made_in_run: &'a mut Vec<(String, String)>,
    /// Whether mappings follow that need this one's couplings.
    collect_couplings: bool,
    /// A dry run: every coupling in the store, read once (taken in every job).
    stored: &'a [StoredCoupling],
    /// With `--apply`: the store the couplings are committed to (its couplings are read afresh
    /// for each mapping, after the journal's leftovers are finished).
    store: Option<&'a mut Store>,
    config_path: &'a Path,
    out: &'a Path,
    /// With `--report`: where sample results rows of each failure kind go.
    samples: Option<&'a mut Vec<Vec<String>>>,
    /// `--compare-collation`.
    compare_collation: bool,
}

pub fn couple(args: CoupleArgs) -> Result<()> {
    if let Some(asked) = args.threads {
        // More workers than cores only add idle ones, and rayon's idle workers cost more the
        // more there are (each scans every other's queue): 1024 took seconds, 10000 hours.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if asked > cores {
            let s = if cores == 1 { "" } else { "s" };
            eprintln!("coupler: warning: --threads {asked} is more than this machine's {cores} core{s}; using {cores}");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(asked.min(cores))
            .build_global()
            .context("cannot start the worker threads")?;
    }
    let plan = Plan::load(&args.config)?;
    let mut selected: Vec<PlannedMapping> =
        plan.select(&args.mappings)?.into_iter().cloned().collect();
    let mut link = open_link(&plan, &selected)?;
    // Check every selected mapping's sources and columns before any work or output.
    for m in &mut selected {
        check_mapping(m, link.as_mut())?;
        for w in &m.warnings {
            eprintln!("coupler: warning: {w}");
        }
    }
    let coupling_files = read_all_couplings(&plan)?;
    // A dry run reads the store's couplings if there is a store, and never creates or writes it.
    let mut store = store::open_for(&plan, args.apply)?;
    let stored = if args.apply {
        Vec::new()
    } else {
        store::read_couplings(&plan, &mut store)?
    };
    let mut made_in_run: Vec<(String, String)> = Vec::new();
    let mut jobs = Vec::new();
    let mut reports: Vec<JobReport> = Vec::new();
    let count = selected.len();
    for (n, m) in selected.iter().enumerate() {
        let mut samples = Vec::new();
        let job = run_mapping(
            m,
            RunEnv {
                link: link.as_mut(),
                coupling_files: &coupling_files,
                made_in_run: &mut made_in_run,
                collect_couplings: n + 1 < count,
                stored: &stored,
                store: if args.apply { store.as_mut() } else { None },
                config_path: &plan.path,
                out: &args.out,
                samples: args.report.is_some().then_some(&mut samples),
                compare_collation: args.compare_collation,
            },
        )?;
        let value = serde_json::to_value(&job)?;
        if !args.json {
            summary::print(&value);
        }
        if args.report.is_some() {
            reports.push(JobReport {
                job: value,
                samples,
            });
        }
        jobs.push(job);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
    }
    if let Some(path) = &args.report {
        write_report(path, &report_html::couple_page(&reports))?;
    }
    Ok(())
}

/// Writes an HTML report atomically (its folder is created if needed) and says where on stderr.
pub(crate) fn write_report(path: &Path, html: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    write_atomically(path, html.as_bytes())?;
    eprintln!("coupler: report written to {}", path.display());
    Ok(())
}

/// A Dataverse session when a selected mapping reads from Dataverse.
pub(crate) fn open_link(plan: &Plan, selected: &[PlannedMapping]) -> Result<Option<DataverseLink>> {
    let needs = selected
        .iter()
        .any(|m| matches!(m.integration, IntegrationSource::Dataverse(_)));
    match (&plan.dataverse, needs) {
        (Some(config), true) => Ok(Some(DataverseLink::open(config, &plan.base)?)),
        _ => Ok(None),
    }
}

pub fn validate(config: &Path) -> Result<()> {
    let plan = Plan::load(config)?;
    read_all_couplings(&plan)?;
    let mut mappings = plan.mappings.clone();
    let mut link = open_link(&plan, &mappings)?;
    for m in &mut mappings {
        check_mapping(m, link.as_mut())?;
        for w in &m.warnings {
            eprintln!("coupler: warning: {w}");
        }
        let spec = &m.spec;
        let levels: std::collections::BTreeSet<u32> =
            spec.criteria.iter().map(|c| c.priority).collect();
        println!(
            "{}: {} → {}: key '{}' ↔ '{}', {} match criteria on {} priority level(s){}",
            spec.mapping_name,
            file_name(&m.local.path),
            m.integration.describe(),
            spec.local_key,
            spec.integration_key,
            spec.criteria.len(),
            levels.len(),
            if spec.criteria.is_empty() {
                " — the job would fail: no fields are flagged match = true"
            } else {
                ""
            }
        );
    }
    println!("{}: the configuration is valid.", plan.path.display());
    Ok(())
}

/// Config-level rules, and every column the mapping names exists in its source (for
/// Dataverse, in the table's metadata; the key is resolved there too).
pub(crate) fn check_mapping(
    m: &mut PlannedMapping,
    link: Option<&mut DataverseLink>,
) -> Result<()> {
    if let IntegrationSource::File(_) = m.integration {
        m.spec.validate()?;
    }
    let with_mapped = |columns: Vec<String>, mapped: &[String]| {
        let mut all = columns;
        all.extend(
            mapped
                .iter()
                .filter(|c| !all.contains(c))
                .cloned()
                .collect::<Vec<_>>(),
        );
        all
    };
    check_columns(&m.local, &with_mapped(m.local_columns(), &m.mapped_local))?;
    match (&m.integration, link) {
        (IntegrationSource::File(f), _) => check_columns(
            f,
            &with_mapped(m.integration_columns(), &m.mapped_integration),
        )?,
        (IntegrationSource::Dataverse(t), Some(link)) => {
            let extra = m.integration_columns();
            link.prepare(&mut m.spec, t, &extra)?;
            // Option maps come from metadata: the spec is complete only now.
            m.spec.validate()?
        }
        (IntegrationSource::Dataverse(_), None) => {
            bail!(
                "mapping '{}' reads from Dataverse but no connection is configured",
                m.spec.mapping_name
            )
        }
    }
    Ok(())
}

fn check_columns(source: &FileSource, columns: &[String]) -> Result<()> {
    let header = read_header(source)?;
    coupler_files::check_columns(&source.path, &header, columns)?;
    Ok(())
}

type CouplingFile = (String, Vec<(String, String, u64)>);

pub(crate) fn read_all_couplings(plan: &Plan) -> Result<Vec<CouplingFile>> {
    let mut out = Vec::new();
    for m in &plan.mappings {
        if let Some(path) = &m.couplings {
            out.push((m.spec.mapping_name.clone(), read_couplings(path)?));
        }
    }
    Ok(out)
}

pub(crate) fn read_source(source: &FileSource, columns: &[String]) -> Result<Table> {
    read_source_checking(source, columns, &[])
}

/// Reads `columns` of a source and checks `checked` ones as text too (without keeping them).
fn read_source_checking(
    source: &FileSource,
    columns: &[String],
    checked: &[String],
) -> Result<Table> {
    let size = std::fs::metadata(&source.path)
        .map(|m| m.len())
        .unwrap_or(0);
    let bar = progress::reading(&file_name(&source.path), size);
    let table = read_table_checking(source, columns, checked, &|bytes| bar.set_position(bytes))?;
    bar.finish_and_clear();
    Ok(table)
}

/// One mapping's job. A dry run reads, matches and writes its folder. With `--apply` it is the
/// state machine of `docs/apply.md`:
///
/// 1. start the job in the store;
/// 2. **resume**: send what earlier runs of the mapping left pending in the journal (so the
///    server holds their writes and their creates' couplings are settled before reading);
/// 3. read both sides and match against the couplings the store holds now;
/// 4. **commit the intent**: the couplings, every planned write and create (with the ids they
///    will use) and the file rows, in one transaction;
/// 5. **effects**: send the journal's writes, a checkpoint per `$batch`;
/// 6. **outputs**: write the folder aside and swap it in whole; then mark its file rows
///    delivered and store the finished job.
///
/// A crash anywhere leaves either nothing (before 4) or a journal the next run of the same
/// command finishes in its step 2 (after 4).
fn run_mapping(m: &PlannedMapping, env: RunEnv<'_>) -> Result<JobJson> {
    let RunEnv {
        link,
        coupling_files,
        made_in_run,
        collect_couplings,
        stored,
        mut store,
        config_path,
        out,
        samples,
        compare_collation,
    } = env;
    let spec = &m.spec;
    let mapping = spec.mapping_name.as_str();
    let started_at = chrono::Utc::now();
    let started_text = started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let job_id = uuid::Uuid::new_v4().to_string();
    let mut link = link;
    let mut sent = apply::Sent::default();
    let fresh_stored;
    let stored: &[StoredCoupling] = match store.as_deref_mut() {
        Some(store) => {
            // Recorded first: a run that dies half-way shows as unfinished in `jobs list`.
            store.start_job(&NewJob {
                job_id: job_id.clone(),
                mapping: mapping.to_string(),
                job_type: "coupling".into(),
                dry_run: false,
                started_at: started_text.clone(),
                config_path: Some(config_path.display().to_string()),
            })?;
            sent = apply::send_pending(store, link.as_deref_mut(), mapping, &job_id)?;
            crate::crash_point!("apply::after_resume");
            fresh_stored = store.couplings()?;
            &fresh_stored
        }
        None => stored,
    };
    let t0 = Instant::now();
    let (local, integration, integration_read) = match (&m.integration, link.as_deref_mut()) {
        (IntegrationSource::File(file), _) => {
            let (local, integration) = rayon::join(
                || read_source_checking(&m.local, &m.local_columns(), &m.mapped_local),
                || read_source_checking(file, &m.integration_columns(), &m.mapped_integration),
            );
            (local?, integration?, None)
        }
        (IntegrationSource::Dataverse(table), Some(link)) => {
            // The local side first: a lookup read needs its values.
            let local = read_source_checking(&m.local, &m.local_columns(), &m.mapped_local)?;
            let (integration, how) = link.read(spec, table, &m.integration_columns(), &local)?;
            (local, integration, Some(how))
        }
        (IntegrationSource::Dataverse(_), None) => {
            bail!("mapping '{mapping}' reads from Dataverse but no connection is configured")
        }
    };
    let mut peak_memory = BTreeMap::new();
    if let Some(mb) = peak_memory_mb() {
        peak_memory.insert("1_read", mb);
    }
    // This mapping's couplings first, so their holders win; then every other coupling.
    let mut existing = ExistingCouplings::new();
    for (name, rows) in coupling_files {
        if name == mapping {
            for (l, i, _) in rows {
                existing.add_own(l, i);
            }
        }
    }
    for c in stored.iter().filter(|c| c.mapping == mapping) {
        existing.add_own(&c.local_id, &c.integration_id);
    }
    for c in stored.iter().filter(|c| c.mapping != mapping) {
        existing.add_other(&c.local_id, &c.integration_id);
    }
    for (name, rows) in coupling_files {
        if name != mapping {
            for (l, i, _) in rows {
                existing.add_other(l, i);
            }
        }
    }
    for (l, i) in made_in_run.iter() {
        existing.add_other(l, i);
    }
    let t1 = Instant::now();
    let mut run = run_coupling(spec, &local, &integration, &existing, RunOptions::default())
        .with_context(|| format!("mapping '{mapping}'"))?;

    let entity_set = match &m.integration {
        IntegrationSource::Dataverse(t) => Some(t.entity_set.as_str()),
        IntegrationSource::File(_) => None,
    };
    let dataverse_table = match (&store, entity_set, link.as_deref_mut()) {
        (Some(_), Some(set), Some(link)) => Some((set, link.table(set)?.clone())),
        _ => None,
    };
    let dataverse = dataverse_table.as_ref().map(|(set, info)| (*set, info));
    let mut planned_sync = match &m.sync {
        Some(sync) => Some(sync_step::plan_sync(
            sync,
            &run,
            &local,
            &integration,
            dataverse,
            store.is_some().then_some(job_id.as_str()),
        )?),
        None => None,
    };
    let mut committed = None;
    let mut dropped = HashSet::new();
    let mut create_report = None;
    if let Some(store) = store.as_deref_mut() {
        let creates = match (&m.create_new, dataverse) {
            (Some(create), Some((set, info))) => {
                sync_step::plan_creates(create, &run, &local, set, info, &job_id)?
            }
            (Some(_), None) => bail!("mapping '{mapping}': create_new_if_no_match needs the integration side in Dataverse (dataverse_table)"),
            (None, _) => Vec::new(),
        };
        // The writes go to the store; the plan's rows stay for sync-plan.csv.
        let writes = planned_sync
            .as_mut()
            .map(|p| std::mem::take(&mut p.writes))
            .unwrap_or_default();
        let (done, commit, not_ours) = store::commit(store, &job_id, m, &mut run, writes, creates)?;
        crate::crash_point!("apply::after_commit");
        committed = Some(done);
        dropped = not_ours;
        sent.absorb(apply::send_pending(
            store,
            link.as_deref_mut(),
            mapping,
            &job_id,
        )?);
        let creates = &sent.creates;
        if m.create_new.is_some() || creates.done + creates.already_existed + creates.failed > 0 {
            create_report = Some(sync_step::CreateReport {
                planned: commit.creates.inserted.len() as u64,
                created: creates.done + creates.already_existed,
                already_existed: creates.already_existed,
                resumed: creates.resumed,
                failed: creates.failed,
                pending: creates.pending,
                withdrawn: commit.creates.conflicts.len() as u64,
                file: String::new(),
            });
        }
    }
    let t2 = Instant::now();
    if let Some(mb) = peak_memory_mb() {
        peak_memory.insert("2_match", mb);
    }

    // Outputs: written aside, swapped in whole (a failed run leaves the previous folder).
    let staged = StagedFolder::new(&out.join(folder_name(mapping)))?;
    let dir = staged.path();
    let shown = |path: &Path| staged.final_path(path).display().to_string();
    let results_path = dir.join("results.csv");
    let couplings_path = dir.join("couplings.csv");
    let job_path = dir.join("job.json");
    let renderer = Renderer::new(&run);
    let mut results = SafeCsvWriter::new(
        &results_path,
        &results_header(&renderer),
        &RESULTS_ID_COLUMNS,
    )?;
    let mut couplings =
        SafeCsvWriter::new(&couplings_path, &COUPLINGS_HEADER, &COUPLINGS_ID_COLUMNS)?;
    let scored = write_rows(&renderer, &mut results, &mut couplings, samples)?;
    let collation_diff = if compare_collation {
        let mut diff = compare_collations(&renderer, &local, &integration, &existing, dir)?;
        diff.file = shown(Path::new(&diff.file));
        Some(diff)
    } else {
        None
    };
    if collect_couplings {
        for record in run.outcomes() {
            if let Outcome::Coupled {
                integration_row, ..
            } = record.outcome
            {
                made_in_run.push((
                    run.local_id(record).to_string(),
                    run.integration_id(integration_row).to_string(),
                ));
            }
        }
    }
    let by_priority: BTreeMap<u32, BTreeMap<&'static str, u64>> = run
        .priorities()
        .iter()
        .zip(&run.log().by_level)
        .filter_map(|(&priority, counts)| {
            let counts: BTreeMap<_, _> =
                counts.pairs().into_iter().filter(|&(_, n)| n > 0).collect();
            (!counts.is_empty()).then_some((priority, counts))
        })
        .collect();
    results.finish()?;
    couplings.finish()?;
    let mut sync_report = match &planned_sync {
        Some(planned) => {
            let mut report = sync_step::write_plan(
                planned,
                &run,
                &sync_step::PlanFate {
                    job_id: &job_id,
                    dropped_local_rows: &dropped,
                    notes: &sent.notes,
                },
                dir,
            )?;
            report.plan = shown(Path::new(&report.plan));
            Some(report)
        }
        None => None,
    };
    // File rows any run planned and no folder has delivered yet go into this one.
    let mut delivered = Vec::new();
    if let Some(store) = store.as_deref() {
        let updates = &sent.updates;
        let bc_rows = apply::undelivered(store, mapping, apply::BC_UPDATE)?;
        if sync_report.is_none()
            && (updates.done + updates.failed + updates.not_found > 0 || !bc_rows.is_empty())
        {
            // Writes an earlier run planned, finished now although this config syncs nothing.
            sync_report = Some(sync_step::SyncReport::default());
        }
        if let Some(report) = sync_report.as_mut() {
            report.applied = Some(sent.updates);
            let path = dir.join("bc-updates.csv");
            sync_step::write_file_rows(&path, "local_id", &bc_rows)?;
            report.bc_updates = Some(shown(&path));
        }
        let file_rows = apply::undelivered(store, mapping, apply::FILE_UPDATE)?;
        if !file_rows.is_empty() {
            let path = dir.join("integration-updates.csv");
            sync_step::write_file_rows(&path, "integration_id", &file_rows)?;
        }
        delivered.extend(bc_rows.into_iter().map(|(key, _)| key));
        delivered.extend(file_rows.into_iter().map(|(key, _)| key));
        if let Some(report) = create_report.as_mut() {
            let path = dir.join("created.csv");
            sync_step::write_created(&path, &sent.created)?;
            report.file = shown(&path);
        }
    } else if m.create_new.is_some() {
        let unmatched = run.log().outcomes.no_match;
        eprintln!("coupler: note: mapping '{mapping}': create_new_if_no_match: {unmatched} unmatched record(s) would get a new Dataverse row with --apply");
    }
    let log = run.log();
    let c = &log.counters;
    let mut job = JobJson {
        job_id: job_id.clone(),
        mapping: mapping.to_string(),
        job_type: "coupling",
        dry_run: store.is_none(),
        started_at: started_text,
        finished_at: String::new(),
        counters: BTreeMap::from([
            ("coupled", c.coupled),
            ("failed", c.failed),
            ("skipped", c.skipped),
            (
                "inserted",
                c.inserted + create_report.as_ref().map_or(0, |r| r.created),
            ),
            ("modified", c.modified),
            ("deleted", c.deleted),
            ("unchanged", c.unchanged),
            ("uncoupled", c.uncoupled),
        ]),
        outcomes: log.outcomes.pairs().into_iter().collect(),
        errors: log
            .errors
            .iter()
            .map(|m| ErrorRow { message: m.clone() })
            .collect(),
        local_records: log.local_records,
        integration_records: log.integration_records,
        timings_ms: Timings {
            read: ms(t1 - t0),
            matching: ms(t2 - t1),
            write: 0,
            match_phases_us: run
                .phases()
                .iter()
                .enumerate()
                .map(|(i, (name, d))| {
                    (
                        format!("{i}_{}", name.replace(' ', "_")),
                        d.as_micros() as u64,
                    )
                })
                .collect(),
        },
        local_records_read: log.local_records_read,
        integration_records_read: log.integration_records_read,
        by_priority,
        files: Files {
            results: shown(&results_path),
            couplings: shown(&couplings_path),
            job: shown(&job_path),
        },
        threads: rayon::current_num_threads(),
        peak_memory_mb: BTreeMap::new(),
        http: link.map(|l| l.take_counts()),
        integration_read,
        table_mapping: spec.friendly_name(),
        integration_source: spec.integration_source.clone(),
        store: committed,
        sync: sync_report,
        create_new: create_report,
        collation_diff,
        match_scores: match_scores(&run, &scored),
    };
    job.timings_ms.write = ms(t2.elapsed());
    if let Some(mb) = peak_memory_mb() {
        peak_memory.insert("3_write", mb);
    }
    job.peak_memory_mb = peak_memory;
    job.finished_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut bytes = serde_json::to_vec_pretty(&job)?;
    bytes.push(b'\n');
    write_atomically(&job_path, &bytes)?;
    crate::crash_point!("apply::outputs_staged");
    staged.commit()?;
    crate::crash_point!("apply::outputs_swapped");
    if let Some(store) = store {
        apply::mark_delivered(store, &delivered)?;
        crate::crash_point!("apply::before_finish");
        store::finish(store, &job, &bytes, &renderer)?;
    }
    Ok(job)
}

/// One block of records, rendered and encoded.
struct EncodedBlock {
    /// Its `results.csv` and `couplings.csv` rows.
    results: Vec<u8>,
    couplings: Vec<u8>,
    /// Its first rows of each failure kind (index into [`FAILURE_KINDS`]), when sampling.
    samples: Vec<(usize, Vec<String>)>,
    /// `(coupled, score)` of its records with a fuzzy score.
    scores: Vec<(bool, f64)>,
}

// The sampling counters below are indexed by failure kind.
const _: () = assert!(FAILURE_KINDS.len() == 4);

/// The failure kind's index in [`FAILURE_KINDS`], for sampling.
fn failure_kind(outcome: &Outcome) -> Option<usize> {
    match outcome {
        Outcome::NoMatch { .. } => Some(0),
        Outcome::MultipleMatches { .. } => Some(1),
        Outcome::AlreadyCoupled { .. } => Some(2),
        Outcome::NoCriteria => Some(3),
        Outcome::Coupled { .. } | Outcome::Skipped => None,
    }
}

/// Rows per rendering block; a wave is two blocks per thread.
const BLOCK: usize = 16 * 1024;

/// Renders `results.csv` and `couplings.csv` rows on all threads, a wave of blocks at a time,
/// and appends the blocks in processing order (memory stays bounded by two waves): a writer
/// thread writes one wave's bytes while the next wave is rendered.
///
/// With `samples`, the first [`SAMPLES_PER_KIND`] rows of each failure kind (in file order)
/// are kept as they are rendered: each block keeps at most that many of each kind, and the
/// blocks are merged in order.
///
/// Returns `(coupled, score)` of every record rendered with a fuzzy score.
fn write_rows(
    renderer: &Renderer<'_, '_>,
    results: &mut SafeCsvWriter,
    couplings: &mut SafeCsvWriter,
    samples: Option<&mut Vec<Vec<String>>>,
) -> Result<Vec<(bool, f64)>> {
    let encoders = (results.row_encoder(), couplings.row_encoder());
    std::thread::scope(|scope| {
        // A rendezvous: the renderer hands a wave over when the writer has written the last.
        let (to_writer, from_renderer) =
            std::sync::mpsc::sync_channel::<Vec<(Vec<u8>, Vec<u8>)>>(0);
        let writer = scope.spawn(move || -> Result<()> {
            for wave in from_renderer {
                for (r, c) in wave {
                    results.write_encoded(&r)?;
                    couplings.write_encoded(&c)?;
                }
            }
            Ok(())
        });
        let rendering = render_waves(renderer, &encoders, samples, &to_writer);
        drop(to_writer);
        let writing = writer.join().expect("the CSV writer thread does not panic");
        // A write error explains a stopped rendering; otherwise the rendering's own result.
        writing.and(rendering)
    })
}

/// Renders the rows wave by wave and hands each wave's encoded blocks to the writer; keeps the
/// samples; returns the fuzzy scores. Stops early when the writer has stopped (on an error).
fn render_waves(
    renderer: &Renderer<'_, '_>,
    encoders: &(RowEncoder, RowEncoder),
    mut samples: Option<&mut Vec<Vec<String>>>,
    to_writer: &std::sync::mpsc::SyncSender<Vec<(Vec<u8>, Vec<u8>)>>,
) -> Result<Vec<(bool, f64)>> {
    let mut scored = Vec::new();
    let sampling = samples.is_some();
    let mut taken = [0usize; 4];
    let n = renderer.run().outcomes().len();
    let wave = BLOCK * 2 * rayon::current_num_threads();
    for wave_start in (0..n).step_by(wave) {
        let blocks: Vec<(usize, usize)> = (wave_start..n.min(wave_start + wave))
            .step_by(BLOCK)
            .map(|start| (start, n.min(start + BLOCK)))
            .collect();
        let encoded: Vec<std::result::Result<EncodedBlock, String>> = blocks
            .par_iter()
            .map(|&(start, end)| render_block(renderer, encoders, start..end, sampling))
            .collect();
        let mut bytes = Vec::with_capacity(encoded.len());
        for block in encoded {
            let block = block.map_err(anyhow::Error::msg)?;
            scored.extend(block.scores);
            bytes.push((block.results, block.couplings));
            if let Some(samples) = samples.as_deref_mut() {
                for (k, row) in block.samples {
                    if taken[k] < SAMPLES_PER_KIND {
                        taken[k] += 1;
                        samples.push(row);
                    }
                }
            }
        }
        if to_writer.send(bytes).is_err() {
            // The writer stopped on an error, which it reports.
            break;
        }
    }
    Ok(scored)
}

/// Renders and encodes records `records` (sample rows kept when `sampling`), or the encoder's
/// error. The block's integration ids are gathered first, by the core that renders them
/// ([`IdBatch`]).
fn render_block(
    renderer: &Renderer<'_, '_>,
    (results_encoder, couplings_encoder): &(RowEncoder, RowEncoder),
    records: std::ops::Range<usize>,
    sampling: bool,
) -> std::result::Result<EncodedBlock, String> {
    let mut ids = IdBatch::default();
    renderer.gather_ids(records.clone(), &mut ids);
    let mut r = results_encoder.clone();
    let mut c = couplings_encoder.clone();
    let mut row = ResultRow::default();
    let mut details = Default::default();
    let mut kept = Vec::new();
    let mut block_scores = Vec::new();
    let mut kept_of = [0usize; 4];
    for i in records {
        let record = &renderer.run().outcomes()[i];
        let fields = renderer.render_gathered(i, &mut row, &ids);
        let details = renderer.has_details().then(|| {
            let (fields, score) = renderer.render_details(i, &mut details);
            if let Some(score) = score {
                let coupled = matches!(record.outcome, Outcome::Coupled { .. });
                block_scores.push((coupled, score));
            }
            fields
        });
        let all = fields.iter().chain(details.iter().flatten());
        if sampling {
            if let Some(k) = failure_kind(&record.outcome) {
                if kept_of[k] < SAMPLES_PER_KIND {
                    kept_of[k] += 1;
                    kept.push((k, all.clone().map(|f| f.to_string()).collect()));
                }
            }
        }
        r.encode(all)?;
        if let Some(fields) = Renderer::coupling(record, &fields) {
            c.encode(fields)?;
        }
    }
    Ok(EncodedBlock {
        results: r.take(),
        couplings: c.take(),
        samples: kept,
        scores: block_scores,
    })
}

/// `results.csv`'s header: BC's columns, plus the detail columns of criteria beyond BC.
pub(crate) fn results_header(renderer: &Renderer<'_, '_>) -> Vec<&'static str> {
    let mut header = RESULTS_HEADER.to_vec();
    if renderer.has_details() {
        header.extend(RESULTS_DETAIL_HEADER);
    }
    header
}

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

/// A mapping name as a folder name: path separators and control characters replaced.
fn folder_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}
