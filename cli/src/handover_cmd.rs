//! `coupler handover --config FILE --mapping NAME --column COLUMN [--apply] [--clear-collisions]
//! [--out DIR] [--json]`: hands a mapping's couplings over to Business Central through BC's own
//! match-based coupling, verified before and after.
//!
//! BC has no API to write its "CRM Integration Record" table. But when every coupled Dataverse
//! row carries its BC record's key in one column (BC's default CUSTOMER and VENDOR mappings
//! send `No.` to `accountnumber`), and no other row carries a BC key of the mapping, BC's
//! match-based coupling with that single criterion couples exactly coupler's pairs. This
//! command:
//!
//! 1. **plans** (`handover-plan.csv`, one row per coupling and per collision): `stamp` (the key
//!    to write), `unchanged` (the row holds it already), `collision` (a row outside the
//!    couplings holds a BC key of the mapping's records — equal under Dataverse's collation — so
//!    BC would match it), `missing` (the coupled row is gone or outside the integration filters,
//!    or the BC record is not in the export or outside the local filters: BC would not see
//!    the pair) and `too_long` (the key exceeds the column's maximum length);
//! 2. **verifies** the plan by running BC's coupling itself — the engine, exactly as BC would
//!    run it: every local record passing the mapping's filters in processing order, the single
//!    criterion key ↔ column, the integration filters, Dataverse's collation, first come first
//!    served — on the rows as they will be after the plan (`handover-mismatches.csv` lists every
//!    coupling BC would make differently or not at all, and every record coupler left uncoupled
//!    that BC would couple);
//! 3. with `--apply`, **writes** the stamps (and, with `--clear-collisions`, blanks the
//!    collisions) through the store's journal — intent recorded before the effect, `PATCH` with
//!    `If-Match: *` in `$batch`es, finished by the next run after a crash — then reads the rows
//!    back and verifies again against what the server holds;
//! 4. prints a summary that ends with the steps to take in BC, in BC's words.
//!
//! Exit 0 only when every coupling verifies and no collision is left; 1 otherwise, naming why.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use coupler_engine::{
    canonical_integration_id, canonical_local_id, couple, passing_rows, Collation, CouplingSpec,
    ExistingCouplings, FieldType, MatchCriterion, Outcome, PriorityMode, RunOptions, Table,
};
use coupler_files::SafeCsvWriter;
use coupler_store::{NewJob, PlannedWrite, Store, StoredCoupling};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::apply::{self, UPDATE};
use crate::couple_cmd::now;
use crate::outputs::folder_name;
use crate::plan::{Plan, PlannedMapping};
use crate::sources::{existing_couplings, read_coupling_files, Columns, Prepared, Rows, Sources};
use crate::sync_step::dataverse_write;

#[derive(clap::Args)]
pub struct HandoverArgs {
    /// The coupling config (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// The mapping whose couplings (in the coupling store) are handed over.
    #[arg(long)]
    pub mapping: String,
    /// The integration column that will carry the BC keys (e.g. accountnumber).
    #[arg(long)]
    pub column: String,
    /// Write the stamps to Dataverse (through the store's journal), then verify again.
    #[arg(long)]
    pub apply: bool,
    /// Also blank the column of the rows outside the couplings that hold a BC key.
    #[arg(long)]
    pub clear_collisions: bool,
    /// Output folder; the plan goes to <DIR>/<MAPPING>/handover-plan.csv.
    #[arg(long, default_value = "coupler-out")]
    pub out: PathBuf,
    /// JSON instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// `handover-plan.csv`'s columns.
const PLAN_HEADER: [&str; 6] = [
    "local_id",
    "integration_id",
    "column",
    "old_value",
    "new_value",
    "status",
];
/// `handover-mismatches.csv`'s columns.
const MISMATCH_HEADER: [&str; 5] = [
    "local_id",
    "expected_integration_id",
    "bc_outcome",
    "bc_integration_id",
    "trace",
];

/// What becomes of one coupling or one colliding row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Stamp,
    Unchanged,
    Collision,
    Missing,
    TooLong,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Stamp => "stamp",
            Status::Unchanged => "unchanged",
            Status::Collision => "collision",
            Status::Missing => "missing",
            Status::TooLong => "too_long",
        }
    }
}

struct PlanRow {
    local_id: String,
    integration_id: String,
    old_value: String,
    new_value: String,
    status: Status,
}

/// A record BC's coupling would treat otherwise than the store says.
struct Mismatch {
    local_id: String,
    expected: String,
    outcome: &'static str,
    bc_integration_id: String,
    trace: String,
}

impl Mismatch {
    /// One line for the summary: what the store says, and what BC would do.
    fn describe(&self) -> String {
        let bc = match self.outcome {
            "coupled" => format!("BC would couple it to {}", self.bc_integration_id),
            "multiple_matches" => "BC would find several rows".into(),
            "no_match" => "BC would find no row".into(),
            "already_coupled" => "BC would find only a row coupled already".into(),
            "not_processed" => {
                "BC would not process it (not in the export, or outside the filters)".into()
            }
            other => format!("BC: {other}"),
        };
        if self.expected.is_empty() {
            format!(
                "{}: not coupled in the store; {bc} (a collision)",
                self.local_id
            )
        } else {
            format!("{}: coupled to {}; {bc}", self.local_id, self.expected)
        }
    }
}

/// The result, as `--json` prints it.
#[derive(Debug, Serialize)]
struct HandoverJson {
    mapping: String,
    column: String,
    couplings: u64,
    stamp: u64,
    unchanged: u64,
    collisions: u64,
    missing: u64,
    too_long: u64,
    /// Rows written (stamps and cleared collisions) by this run (0 without `--apply`).
    written: u64,
    /// Couplings BC's match-based coupling reproduces: on the planned rows, or with `--apply`
    /// on the rows the server holds after the writes.
    verified: u64,
    /// Couplings BC would make differently or not at all, and records coupler left uncoupled
    /// that BC would couple.
    mismatches: u64,
    /// Collisions still in place (not cleared).
    collisions_left: u64,
    plan: String,
    mismatches_file: String,
    /// Whether the verification ran on the server's rows (`--apply`) or on the plan.
    verified_on: &'static str,
}

pub fn handover(args: HandoverArgs) -> Result<()> {
    let plan = Plan::load(&args.config)?;
    let m = plan.select(std::slice::from_ref(&args.mapping))?[0];
    if !plan.store.exists() {
        bail!(
            "{}: no coupling store at {}; couple the mapping first (coupler couple --config {} --mapping {} --apply)",
            plan.path.display(),
            plan.store.display(),
            plan.path.display(),
            m.name
        );
    }
    let mut store = if args.apply {
        Store::open(&plan.store)?
    } else {
        Store::open_read_only(&plan.store)?
    };
    let mut sources = Sources::open(&plan, &[m])?;
    // The key and the filters are all a handover reads besides the column.
    let prepared = sources.prepare_keys(m)?;
    let column = args.column.trim().to_string();
    if column.is_empty() {
        bail!("--column: name the integration column that will carry the BC keys");
    }
    let integration_key = prepared.spec.integration_key.clone();
    if column == integration_key {
        bail!("--column {column} is the integration table's key; choose a text column");
    }
    sources.check_columns(m, &[], std::slice::from_ref(&column))?;
    let max_length = sources.text_column_max_length(m, &column)?;
    if args.apply && !sources.can_write(m) {
        bail!(
            "mapping '{}': --apply writes to Dataverse, and the integration side is a file ({}); plan from the export, then write the values with a Dataverse source",
            m.name,
            m.integration.describe()
        );
    }

    let couplings = store.couplings_of(&m.name)?;
    if couplings.is_empty() {
        bail!(
            "mapping '{}': the coupling store {} holds no coupling of it; couple it first (coupler couple --config {} --mapping {} --apply)",
            m.name,
            plan.store.display(),
            plan.path.display(),
            m.name
        );
    }

    // With --apply: a job, and the writes an earlier run left pending sent first.
    let job_id = uuid::Uuid::new_v4().to_string();
    let mut written = 0;
    if args.apply {
        store.start_job(&NewJob {
            job_id: job_id.clone(),
            mapping: m.name.clone(),
            job_type: "synchronization".into(),
            dry_run: false,
            started_at: now(),
            config_path: Some(plan.path.display().to_string()),
        })?;
        written += apply::send_pending(&mut store, sources.link(), &m.name, &job_id)?
            .updates
            .done;
    }
    // BC holds the couplings files' couplings already (this mapping's records are skipped,
    // every file's rows are taken), not the store's.
    let in_bc = existing_couplings(&m.name, &read_coupling_files(&plan)?, &[], &[]);
    let world = read_world(&mut sources, &prepared, &column, &in_bc)?;
    let planned = plan_rows(&world, &couplings, max_length);
    let clearing = args.clear_collisions;
    let after = world.after(&planned, clearing);
    let (mut verified, mut mismatches) = verify(&world, &after, &couplings, m)?;
    let mut verified_on = "plan";
    let mut after_apply = None;

    if args.apply {
        let writes = planned_writes(&world, &planned, clearing, &m.name, &job_id, &column);
        if !writes.is_empty() {
            // The intent first, in one transaction; then the effects, a checkpoint per batch.
            store.journal_plan(&job_id, &writes)?;
            crate::crash_point!("handover::after_journal");
            written += apply::send_pending(&mut store, sources.link(), &m.name, &job_id)?
                .updates
                .done;
        }
        // What the server holds now decides.
        let now = read_world(&mut sources, &prepared, &column, &in_bc)?;
        let identity = now.after(&[], false);
        (verified, mismatches) = verify(&now, &identity, &couplings, m)?;
        verified_on = "server";
        after_apply = Some(now);
    }

    let dir = args.out.join(folder_name(&m.name));
    let plan_path = dir.join("handover-plan.csv");
    let mismatches_path = dir.join("handover-mismatches.csv");
    write_plan(&plan_path, &planned, &column)?;
    write_mismatches(&mismatches_path, &mismatches)?;

    let count = |s: Status| planned.iter().filter(|r| r.status == s).count() as u64;
    let collisions = count(Status::Collision);
    let collisions_left = match &after_apply {
        // What the server holds now.
        Some(now) => plan_rows(now, &couplings, max_length)
            .iter()
            .filter(|r| r.status == Status::Collision)
            .count() as u64,
        None if clearing => 0,
        None => collisions,
    };
    let json = HandoverJson {
        mapping: m.name.clone(),
        column: column.clone(),
        couplings: couplings.len() as u64,
        stamp: count(Status::Stamp),
        unchanged: count(Status::Unchanged),
        collisions,
        missing: count(Status::Missing),
        too_long: count(Status::TooLong),
        written,
        verified,
        mismatches: mismatches.len() as u64,
        collisions_left,
        plan: plan_path.display().to_string(),
        mismatches_file: mismatches_path.display().to_string(),
        verified_on,
    };
    if args.apply {
        let mut finished = coupler_store::FinishedJob {
            finished_at: now(),
            job_json: serde_json::to_string(&json)?,
            ..Default::default()
        };
        finished.counters.insert("modified".into(), written);
        store.finish_job(&job_id, &finished, std::iter::empty())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print_summary(m, &json, &mismatches, args.apply, clearing);
    }
    let mut why = Vec::new();
    if json.mismatches > 0 {
        why.push(format!(
            "BC's coupling would treat {} record(s) otherwise than the store",
            json.mismatches
        ));
    }
    if json.collisions_left > 0 {
        why.push(format!(
            "{} collision(s) left (rows outside the couplings holding a BC key; --clear-collisions blanks them)",
            json.collisions_left
        ));
    }
    if !why.is_empty() {
        bail!(
            "mapping '{}': the handover is not complete: {}; see {}",
            m.name,
            why.join(", "),
            mismatches_path.display()
        );
    }
    Ok(())
}

/// Both sides as BC's coupling would see them: the local records passing the mapping's
/// filters (key only), the integration rows passing them (id and the column), in order.
struct World {
    /// Local keys, canonical, in processing order.
    local_keys: Vec<String>,
    /// Integration rows: (canonical id, the column's value as read).
    rows: Vec<(String, String)>,
    /// Canonical integration id → position in `rows`.
    row_of: HashMap<String, usize>,
    collation: Collation,
    /// The entity set when the integration side is Dataverse.
    entity_set: Option<String>,
    /// The couplings BC holds already: the couplings files (BC skips this mapping's records
    /// there, and every file's rows are taken).
    in_bc: ExistingCouplings,
}

impl World {
    /// The column's values after the plan: stamps written, collisions blanked when cleared.
    fn after(&self, planned: &[PlanRow], clear_collisions: bool) -> Vec<String> {
        let mut values: Vec<String> = self.rows.iter().map(|(_, v)| v.clone()).collect();
        for r in planned {
            let write = match r.status {
                Status::Stamp => true,
                Status::Collision => clear_collisions,
                _ => false,
            };
            if write {
                if let Some(&at) = self.row_of.get(&r.integration_id) {
                    values[at] = r.new_value.clone();
                }
            }
        }
        values
    }
}

fn read_world(
    sources: &mut Sources,
    p: &Prepared<'_>,
    column: &str,
    in_bc: &ExistingCouplings,
) -> Result<World> {
    let spec = &p.spec;
    let mut local_columns = vec![spec.local_key.clone()];
    local_columns.extend(spec.local_filter.iter().map(|(c, _)| c.clone()));
    let mut integration_columns = vec![spec.integration_key.clone(), column.to_string()];
    integration_columns.extend(spec.integration_filter.iter().map(|(c, _)| c.clone()));
    let sides = sources.read_sides(
        p,
        &Columns::only(local_columns, integration_columns),
        Rows::Whole,
    )?;
    let (local, integration) = (&sides.local, &sides.integration);
    let index = |t: &Table, name: &str| {
        t.column_index(name)
            .with_context(|| format!("{}: column '{name}' was not read", t.name()))
    };
    let local_key = index(local, &spec.local_key)?;
    let local_keys = passing_rows(local, &spec.local_filter)?
        .into_iter()
        .map(|r| canonical_local_id(local.cell(r, local_key)).into_owned())
        .filter(|k| !k.is_empty())
        .collect();
    let (id, value) = (
        index(integration, &spec.integration_key)?,
        index(integration, column)?,
    );
    let rows: Vec<(String, String)> = passing_rows(integration, &spec.integration_filter)?
        .into_iter()
        .map(|r| {
            (
                canonical_integration_id(integration.cell(r, id)).into_owned(),
                integration.cell(r, value).to_string(),
            )
        })
        .collect();
    let row_of = rows
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.clone(), i))
        .collect();
    Ok(World {
        local_keys,
        rows,
        row_of,
        // BC's coupling runs against Dataverse: its collation decides.
        collation: match p.mapping.collation() {
            Collation::Dataverse { accent_sensitive } => Collation::Dataverse { accent_sensitive },
            Collation::Exact => Collation::Dataverse {
                accent_sensitive: false,
            },
        },
        entity_set: p.mapping.dataverse_entity_set().map(str::to_string),
        in_bc: in_bc.clone(),
    })
}

/// One row per coupling (in the store's order, by local id) and one per colliding row.
fn plan_rows(
    world: &World,
    couplings: &[StoredCoupling],
    max_length: Option<usize>,
) -> Vec<PlanRow> {
    let locals: std::collections::HashSet<&str> =
        world.local_keys.iter().map(String::as_str).collect();
    let mut sorted: Vec<&StoredCoupling> = couplings.iter().collect();
    sorted.sort_by(|a, b| a.local_id.cmp(&b.local_id));
    let mut out = Vec::with_capacity(sorted.len());
    let mut coupled_rows = std::collections::HashSet::new();
    for c in sorted {
        let key = canonical_local_id(&c.local_id).into_owned();
        let id = canonical_integration_id(&c.integration_id).into_owned();
        let row = world.row_of.get(&id).copied();
        if let Some(at) = row {
            coupled_rows.insert(at);
        }
        let old = row.map_or(String::new(), |at| world.rows[at].1.clone());
        let status = if row.is_none() || !locals.contains(key.as_str()) {
            Status::Missing
        } else if max_length.is_some_and(|max| key.chars().count() > max) {
            Status::TooLong
        } else if old == key {
            Status::Unchanged
        } else {
            Status::Stamp
        };
        out.push(PlanRow {
            local_id: key.clone(),
            integration_id: id,
            old_value: old,
            new_value: key,
            status,
        });
    }
    // Collisions: rows outside the couplings that a BC key of the mapping's records matches
    // under the collation — found by BC's own coupling, run on those rows alone.
    let others: Vec<usize> = (0..world.rows.len())
        .filter(|at| !coupled_rows.contains(at))
        .collect();
    for (at, key) in colliding_rows(world, &others) {
        let (id, old) = &world.rows[at];
        out.push(PlanRow {
            local_id: key,
            integration_id: id.clone(),
            old_value: old.clone(),
            new_value: String::new(),
            status: Status::Collision,
        });
    }
    out
}

/// The rows among `candidates` that some local key matches (row, the first such key), in row
/// order.
fn colliding_rows(world: &World, candidates: &[usize]) -> Vec<(usize, String)> {
    let rows: Vec<Vec<&str>> = candidates
        .iter()
        .map(|&at| vec![world.rows[at].0.as_str(), world.rows[at].1.as_str()])
        .collect();
    let (local, integration, spec) = match tables(world, &rows) {
        Some(t) => t,
        None => return Vec::new(),
    };
    let Ok(run) = couple(
        &spec,
        &local,
        &integration,
        &world.in_bc,
        RunOptions::default(),
    ) else {
        return Vec::new();
    };
    let position: HashMap<&str, usize> = rows.iter().enumerate().map(|(p, r)| (r[0], p)).collect();
    let mut found: BTreeMap<usize, String> = BTreeMap::new();
    for (i, record) in run.outcomes().iter().enumerate() {
        let key = run.local_id(record).to_string();
        let hits: Vec<u32> = match record.outcome {
            Outcome::Coupled {
                integration_row, ..
            }
            | Outcome::AlreadyCoupled {
                integration_row, ..
            } => vec![integration_row],
            Outcome::MultipleMatches { .. } => run
                .candidates(i, usize::MAX)
                .into_iter()
                .filter_map(|id| position.get(id).map(|&p| p as u32))
                .collect(),
            _ => Vec::new(),
        };
        for row in hits {
            found
                .entry(candidates[row as usize])
                .or_insert_with(|| key.clone());
        }
    }
    found.into_iter().collect()
}

/// The local keys and the given integration rows as tables, and BC's single-criterion spec.
fn tables(world: &World, rows: &[Vec<&str>]) -> Option<(Table, Table, CouplingSpec)> {
    const KEY: &str = "key";
    const ID: &str = "id";
    const VALUE: &str = "value";
    let keys: Vec<Vec<&str>> = world.local_keys.iter().map(|k| vec![k.as_str()]).collect();
    let local = Table::from_rows("BC records", &[KEY], &keys).ok()?;
    let integration = Table::from_rows("Dataverse rows", &[ID, VALUE], rows).ok()?;
    let spec = CouplingSpec {
        mapping_name: "HANDOVER".into(),
        local_caption: "BC".into(),
        integration_caption: "Dataverse".into(),
        integration_source: "Dataverse".into(),
        local_key: KEY.into(),
        integration_key: ID.into(),
        criteria: vec![MatchCriterion::new(KEY, VALUE, FieldType::Code, 0, false)],
        priority_mode: PriorityMode::Cumulative,
        collation: world.collation,
        local_filter: vec![],
        integration_filter: vec![],
    };
    Some((local, integration, spec))
}

/// BC's match-based coupling on `values` (the column of every row): how many couplings of the
/// store it reproduces, and every record it treats otherwise.
fn verify(
    world: &World,
    values: &[String],
    couplings: &[StoredCoupling],
    m: &PlannedMapping,
) -> Result<(u64, Vec<Mismatch>)> {
    let rows: Vec<Vec<&str>> = world
        .rows
        .iter()
        .zip(values)
        .map(|((id, _), v)| vec![id.as_str(), v.as_str()])
        .collect();
    let (local, integration, spec) = tables(world, &rows)
        .with_context(|| format!("mapping '{}': verifying the handover", m.name))?;
    let run = couple(
        &spec,
        &local,
        &integration,
        &world.in_bc,
        RunOptions::default(),
    )
    .with_context(|| format!("mapping '{}': verifying the handover", m.name))?;
    let expected: HashMap<String, String> = couplings
        .iter()
        .map(|c| {
            (
                canonical_local_id(&c.local_id).into_owned(),
                canonical_integration_id(&c.integration_id).into_owned(),
            )
        })
        .collect();
    let mut verified = 0;
    let mut mismatches = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for record in run.outcomes() {
        let key = run.local_id(record);
        seen.insert(key.to_string());
        let bc = match record.outcome {
            Outcome::Coupled {
                integration_row, ..
            } => Some(run.integration_id(integration_row)),
            _ => None,
        };
        let want = expected.get(key).map(String::as_str);
        if bc.is_some() && bc == want {
            verified += 1;
            continue;
        }
        if want.is_none() && bc.is_none() {
            continue; // left uncoupled by both
        }
        mismatches.push(Mismatch {
            local_id: key.to_string(),
            expected: want.unwrap_or_default().to_string(),
            outcome: record.outcome.name(),
            bc_integration_id: bc.unwrap_or_default().to_string(),
            trace: run
                .trace(record)
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        });
    }
    // Couplings whose BC record BC would not even process (not in the export, filtered out).
    let mut unseen: Vec<(&String, &String)> = expected
        .iter()
        .filter(|(k, _)| !seen.contains(k.as_str()))
        .collect();
    unseen.sort();
    for (key, id) in unseen {
        mismatches.push(Mismatch {
            local_id: key.clone(),
            expected: id.clone(),
            outcome: "not_processed",
            bc_integration_id: String::new(),
            trace: String::new(),
        });
    }
    Ok((verified, mismatches))
}

/// One `PATCH` per stamp (and per collision, when cleared), keyed by this job and the row.
fn planned_writes(
    world: &World,
    planned: &[PlanRow],
    clear_collisions: bool,
    mapping: &str,
    job_id: &str,
    column: &str,
) -> Vec<PlannedWrite> {
    let Some(entity_set) = &world.entity_set else {
        return Vec::new();
    };
    planned
        .iter()
        .filter(|r| {
            r.status == Status::Stamp || (clear_collisions && r.status == Status::Collision)
        })
        .map(|r| {
            let mut fields = Map::new();
            let value = if r.new_value.is_empty() {
                Value::Null
            } else {
                Value::String(r.new_value.clone())
            };
            fields.insert(column.to_string(), value);
            dataverse_write(
                job_id,
                mapping,
                UPDATE,
                entity_set,
                &r.integration_id,
                fields,
                &r.integration_id,
            )
        })
        .collect()
}

fn write_plan(path: &Path, planned: &[PlanRow], column: &str) -> Result<()> {
    let mut w = SafeCsvWriter::new(path, &PLAN_HEADER, &[true, true, true])?;
    for r in planned {
        w.write_row([
            r.local_id.as_str(),
            &r.integration_id,
            column,
            &r.old_value,
            &r.new_value,
            r.status.name(),
        ])?;
    }
    w.finish()?;
    Ok(())
}

fn write_mismatches(path: &Path, mismatches: &[Mismatch]) -> Result<()> {
    let mut w = SafeCsvWriter::new(path, &MISMATCH_HEADER, &[true, true, true, true])?;
    for x in mismatches {
        w.write_row([
            x.local_id.as_str(),
            &x.expected,
            x.outcome,
            &x.bc_integration_id,
            &x.trace,
        ])?;
    }
    w.finish()?;
    Ok(())
}

fn print_summary(
    m: &PlannedMapping,
    j: &HandoverJson,
    mismatches: &[Mismatch],
    applied: bool,
    clearing: bool,
) {
    println!(
        "{} ({}) — handover through {} of {}",
        m.name,
        m.friendly_name(),
        j.column,
        m.integration.describe()
    );
    println!();
    println!("  couplings in the store  {:>8}", j.couplings);
    println!(
        "  stamp                   {:>8}   the BC key to write",
        j.stamp
    );
    println!(
        "  unchanged               {:>8}   the row holds it already",
        j.unchanged
    );
    println!(
        "  collision               {:>8}   rows outside the couplings holding a BC key{}",
        j.collisions,
        if clearing { " (blanked)" } else { "" }
    );
    println!(
        "  missing                 {:>8}   the row or the BC record is gone, or outside the filters",
        j.missing
    );
    println!(
        "  too long                {:>8}   the key exceeds the column's maximum length",
        j.too_long
    );
    if applied {
        println!("  written                 {:>8}", j.written);
    }
    println!();
    println!(
        "  BC's match-based coupling on {} reproduces {} of {} coupling(s) ({}){}",
        j.column,
        j.verified,
        j.couplings,
        if applied {
            "on the rows Dataverse holds now"
        } else {
            "on the rows as they will be after the plan"
        },
        if mismatches.is_empty() {
            String::new()
        } else {
            format!("; {} mismatch(es):", mismatches.len())
        }
    );
    for x in mismatches.iter().take(10) {
        println!("    {}", x.describe());
    }
    if mismatches.len() > 10 {
        println!("    … all in {}", j.mismatches_file);
    }
    println!();
    println!("  plan: {}", j.plan);
    println!();
    let key = m.local_key();
    let sync = m.sync.is_some();
    println!("  In Business Central, once the check above is clean:");
    println!(
        "    1. Search for Integration Table Mappings, select {} ({}).",
        m.name,
        m.friendly_name()
    );
    println!("    2. Choose Coupling > Match-Based Coupling.");
    println!(
        "    3. On the Select Coupling Criteria page, set Match on this Field for {key} <-> {} only (clear it on every other field); Match Priority 0; Case-sensitive Matching off (Dataverse compares without case either way).",
        j.column
    );
    println!("    4. Create New If Unable to Find a Match: off (coupler left the other records uncoupled on purpose).");
    println!(
        "    5. Synchronize After Coupling: {}",
        if sync {
            "off — coupler's --apply already ran the first synchronization of these pairs"
        } else {
            "as you would for a new coupling (on: BC synchronizes each pair right away)"
        }
    );
    println!(
        "    6. Choose OK, and check the job in Integration Synch. Job Log: Coupled {} (the couplings that verified).",
        j.verified
    );
}
