//! `coupler couple` and `coupler validate`: each selected mapping's job, from its sources
//! (`sources.rs`) through the engine to its output folder (`outputs.rs`) and job document
//! (`job.rs`); with `--apply`, through the coupling store and the journal (`docs/apply.md`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use coupler_engine::report::{
    Renderer, COUPLINGS_HEADER, COUPLINGS_ID_COLUMNS, RESULTS_ID_COLUMNS,
};
use coupler_engine::{couple as run_coupling, CouplingRun, Outcome, RunOptions};
use coupler_files::{write_atomically, SafeCsvWriter, StagedFolder};
use coupler_store::{NewJob, Store, StoredCoupling};

use crate::apply;
use crate::job::{
    lookup_reports, match_scores, CreateReport, ErrorRow, Files, JobJson, SyncReport, Timings,
};
use crate::outputs::{
    compare_collations, folder_name, peak_memory_mb, results_header, write_report, write_rows,
};
use crate::plan::{file_name, sync_with_lookups, Plan};
use crate::report_html::{self, JobReport};
use crate::sources::{
    existing_couplings, read_coupling_files, translations, Columns, CouplingFile, Prepared, Rows,
    Sources,
};
use crate::store;
use crate::summary;
use crate::sync_step;

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

/// What one mapping's job needs besides the mapping: the sources, existing couplings, the
/// store, and where outputs go.
struct RunEnv<'a> {
    sources: &'a mut Sources,
    coupling_files: &'a [CouplingFile],
    /// Couplings made by earlier mappings of this run, `(mapping, local id, integration id)`
    /// (taken for the later ones, and translating their lookups).
    made_in_run: &'a mut Vec<(String, String, String)>,
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
    let selected = plan.select(&args.mappings)?;
    let mut sources = Sources::open(&plan, &selected)?;
    // Check every selected mapping's sources and columns before any work or output.
    let mut prepared = Vec::with_capacity(selected.len());
    for m in &selected {
        prepared.push(sources.prepare(m)?);
        for w in &m.warnings {
            eprintln!("coupler: warning: {w}");
        }
    }
    let coupling_files = read_coupling_files(&plan)?;
    // A dry run reads the store's couplings if there is a store, and never creates or writes it.
    let mut store = store::open_for(&plan, args.apply)?;
    let stored = if args.apply {
        Vec::new()
    } else {
        store::read_couplings(&plan, &mut store)?
    };
    let mut made_in_run: Vec<(String, String, String)> = Vec::new();
    let mut jobs = Vec::new();
    // With `--report`, each job's sample results rows.
    let mut samples_of_jobs = Vec::new();
    let count = prepared.len();
    for (n, p) in prepared.iter().enumerate() {
        let mut samples = Vec::new();
        let job = run_mapping(
            p,
            RunEnv {
                sources: &mut sources,
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
        if !args.json {
            summary::print(&job);
        }
        jobs.push(job);
        samples_of_jobs.push(samples);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
    }
    if let Some(path) = &args.report {
        let reports: Vec<JobReport> = jobs
            .iter()
            .zip(samples_of_jobs)
            .map(|(job, samples)| JobReport { job, samples })
            .collect();
        write_report(path, &report_html::couple_page(&reports))?;
    }
    Ok(())
}

/// Checks the config, every source and column, and the connection — and reports every problem
/// found, not only the first.
pub fn validate(config: &Path) -> Result<()> {
    let plan = Plan::load(config)?;
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = read_coupling_files(&plan) {
        problems.push(crate::one_line(&e));
    }
    // `couple` leaves the `[[variants]]` to `criteria compare`; `validate` checks them too.
    if let Err(e) = plan.variants() {
        problems.push(crate::one_line(&e));
    }
    let all = plan.select(&[])?;
    let mut sources = Sources::open(&plan, &all).unwrap_or_else(|e| {
        problems.push(crate::one_line(&e));
        Sources::files_only()
    });
    for m in &plan.mappings {
        if !sources.can_reach(m) {
            // Its columns cannot be checked without the connection (reported above).
            if let Err(e) = sources.check_columns(m, &m.mapped_local, &[]) {
                problems.push(crate::one_line(&e));
            }
            continue;
        }
        let p = match sources.prepare(m) {
            Ok(p) => p,
            Err(e) => {
                problems.push(crate::one_line(&e));
                continue;
            }
        };
        for w in &m.warnings {
            eprintln!("coupler: warning: {w}");
        }
        let spec = &p.spec;
        let levels: std::collections::BTreeSet<u32> =
            spec.criteria.iter().map(|c| c.priority).collect();
        println!(
            "{}: {} → {}: key '{}' ↔ '{}', {} match criteria on {} priority level(s){}",
            m.name,
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
    match problems.len() {
        0 => {
            println!("{}: the configuration is valid.", plan.path.display());
            Ok(())
        }
        1 => bail!("{}", problems[0]),
        n => {
            for p in &problems {
                eprintln!("coupler: error: {p}");
            }
            bail!("{}: {n} problems (listed above)", plan.path.display())
        }
    }
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
fn run_mapping(p: &Prepared<'_>, env: RunEnv<'_>) -> Result<JobJson> {
    let RunEnv {
        sources,
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
    let m = p.mapping;
    let mapping = m.name.as_str();
    let started_at = now();
    let job_id = uuid::Uuid::new_v4().to_string();
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
                started_at: started_at.clone(),
                config_path: Some(config_path.display().to_string()),
            })?;
            sent = apply::send_pending(store, sources.link(), mapping, &job_id)?;
            crate::crash_point!("apply::after_resume");
            fresh_stored = store.couplings()?;
            &fresh_stored
        }
        None => stored,
    };
    let t0 = Instant::now();
    let sides = sources.read_sides(p, &Columns::of_job(p), Rows::AsConfigured)?;
    let (local, integration) = (&sides.local, &sides.integration);
    let mut peak_memory = BTreeMap::new();
    if let Some(mb) = peak_memory_mb() {
        peak_memory.insert("1_read".to_string(), mb);
    }
    let existing = existing_couplings(mapping, coupling_files, stored, made_in_run);
    let p = &p.with_translations(translations(
        &m.lookups,
        coupling_files,
        stored,
        made_in_run,
    ))?;
    let spec = &p.spec;
    let t1 = Instant::now();
    let mut run = run_coupling(spec, local, integration, &existing, RunOptions::default())
        .with_context(|| format!("mapping '{mapping}'"))?;

    let dataverse_table = match store {
        Some(_) => sources.dataverse_table(m)?,
        None => None,
    };
    // The synchronization and the creates, their lookups translating through this run's
    // couplings; written to Dataverse, each lookup binds a row of its mapping's table.
    let sync_spec = m.sync.as_ref().map(|s| sync_with_lookups(s, &p.facts));
    let create_spec = m
        .create_new
        .as_ref()
        .map(|s| sync_with_lookups(s, &p.facts));
    let binds = match dataverse_table {
        Some(_) => sources.lookup_binds(m, sync_spec.iter().chain(create_spec.iter()))?,
        None => BTreeMap::new(),
    };
    let dataverse = dataverse_table
        .as_ref()
        .map(|(set, info)| sync_step::Target {
            entity_set: set,
            info,
            binds: &binds,
        });
    let mut planned_sync = match &sync_spec {
        Some(sync) => Some(sync_step::plan_sync(
            sync,
            &run,
            local,
            integration,
            dataverse,
            store.is_some().then_some(job_id.as_str()),
        )?),
        None => None,
    };
    let mut committed = None;
    let mut dropped = HashSet::new();
    let mut create_report = None;
    if let Some(store) = store.as_deref_mut() {
        let (creates, refused) = match (&create_spec, dataverse) {
            (Some(create), Some(target)) => {
                sync_step::plan_creates(create, &run, local, target, &job_id)?
            }
            (Some(_), None) => bail!("mapping '{mapping}': create_new_if_no_match needs the integration side in Dataverse (dataverse_table)"),
            (None, _) => (Vec::new(), Vec::new()),
        };
        if let Some((local_id, text)) = refused.first() {
            eprintln!(
                "coupler: warning: mapping '{mapping}': {} unmatched record(s) get no new Dataverse row, because a lookup points to a record that is not coupled (BC fails their insert the same way); the first, {local_id}: {text}",
                refused.len()
            );
        }
        // The writes go to the store; the plan's rows stay for sync-plan.csv.
        let writes = planned_sync
            .as_mut()
            .map(|p| std::mem::take(&mut p.writes))
            .unwrap_or_default();
        let (done, commit, not_ours) = store::commit(store, &job_id, &mut run, writes, creates)?;
        crate::crash_point!("apply::after_commit");
        committed = Some(done);
        dropped = not_ours;
        sent.absorb(apply::send_pending(
            store,
            sources.link(),
            mapping,
            &job_id,
        )?);
        let creates = &sent.creates;
        if m.create_new.is_some() || creates.done + creates.already_existed + creates.failed > 0 {
            create_report = Some(CreateReport {
                planned: commit.creates.inserted.len() as u64,
                created: creates.done + creates.already_existed,
                already_existed: creates.already_existed,
                resumed: creates.resumed,
                failed: creates.failed + refused.len() as u64,
                pending: creates.pending,
                withdrawn: commit.creates.conflicts.len() as u64,
                file: String::new(),
            });
        }
    }
    let t2 = Instant::now();
    if let Some(mb) = peak_memory_mb() {
        peak_memory.insert("2_match".to_string(), mb);
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
        let mut diff = compare_collations(&renderer, local, integration, &existing, dir)?;
        diff.file = shown(Path::new(&diff.file));
        Some(diff)
    } else {
        None
    };
    if collect_couplings {
        made_in_run.extend(
            coupled_pairs(&run)
                .map(|(local, integration)| (mapping.to_string(), local, integration)),
        );
    }
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
            sync_report = Some(SyncReport::default());
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
    let inserted = create_report.as_ref().map_or(0, |r| r.created);
    let mut job = JobJson {
        job_id: job_id.clone(),
        mapping: mapping.to_string(),
        job_type: "coupling".into(),
        dry_run: store.is_none(),
        started_at,
        finished_at: String::new(),
        counters: {
            // BC counts a row created for an unmatched record as inserted.
            let mut counters = log.counters;
            counters.inserted += inserted;
            named(counters.pairs())
        },
        outcomes: named(log.outcomes.pairs()),
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
                    let name = format!("{i}_{}", name.replace(' ', "_"));
                    (name, d.as_micros() as u64)
                })
                .collect(),
        },
        local_records_read: log.local_records_read,
        integration_records_read: log.integration_records_read,
        by_priority: by_priority(&run),
        files: Files {
            results: shown(&results_path),
            couplings: shown(&couplings_path),
            job: shown(&job_path),
        },
        threads: rayon::current_num_threads(),
        peak_memory_mb: BTreeMap::new(),
        http: sources.link().map(|l| l.take_counts()),
        integration_read: sides.read.clone(),
        table_mapping: spec.friendly_name(),
        integration_source: spec.integration_source.clone(),
        store: committed,
        sync: sync_report,
        create_new: create_report,
        collation_diff,
        match_scores: match_scores(&run, &scored),
        lookups: lookup_reports(&run),
    };
    job.timings_ms.write = ms(t2.elapsed());
    if let Some(mb) = peak_memory_mb() {
        peak_memory.insert("3_write".to_string(), mb);
    }
    job.peak_memory_mb = peak_memory;
    job.finished_at = now();
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

/// The run's coupled pairs, as `(local id, integration id)`.
fn coupled_pairs<'r>(run: &'r CouplingRun<'_>) -> impl Iterator<Item = (String, String)> + 'r {
    run.outcomes()
        .iter()
        .filter_map(|record| match record.outcome {
            Outcome::Coupled {
                integration_row, ..
            } => Some((
                run.local_id(record).to_string(),
                run.integration_id(integration_row).to_string(),
            )),
            _ => None,
        })
}

/// Outcome counts by the priority level that decided (coupled) or was evaluated last; levels
/// with no record left out.
fn by_priority(run: &CouplingRun<'_>) -> BTreeMap<u32, BTreeMap<String, u64>> {
    run.priorities()
        .iter()
        .zip(&run.log().by_level)
        .filter_map(|(&priority, counts)| {
            let counts: BTreeMap<_, _> = named(counts.pairs())
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .collect();
            (!counts.is_empty()).then_some((priority, counts))
        })
        .collect()
}

/// The engine's `(name, count)` pairs as job.json's map.
fn named(pairs: impl IntoIterator<Item = (&'static str, u64)>) -> BTreeMap<String, u64> {
    pairs.into_iter().map(|(k, n)| (k.to_string(), n)).collect()
}

/// The current time, RFC 3339 UTC with milliseconds (the store's and job.json's form).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}
