//! After matching: BC's first synchronization of the pairs a job coupled (`sync_after_coupling`)
//! and "Create New If Unable to Find a Match" (`create_new_if_no_match`) — planned here, as
//! journal writes and output files.
//!
//! Planning is separate from doing: [`plan_sync`] and [`plan_creates`] turn a job's outcomes into
//! the writes it intends (each keyed by the job and the record, with the id it will use), which
//! `couple_cmd` commits to the store together with the couplings (`Store::commit_job`); the
//! effects are then sent from the journal only ([`crate::apply`]). A dry run writes the
//! field-level plan (`sync-plan.csv`) and sends nothing.
//!
//! Updates for the local (BC) side become `bc-updates.csv` for import into BC; updates for an
//! integration side that is a file become `integration-updates.csv`. Both are journaled too, and
//! every run's folder carries the rows no earlier folder delivered.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{bail, Context, Result};
use coupler_dataverse::{bind_value, AttributeKind, LookupTarget, TableInfo};
use coupler_engine::sync::{translate_reference, PlanDirection, PlanStatus, SyncPlan};
use coupler_engine::{CouplingRun, FieldType, Outcome, SyncSpec, Table};
use coupler_files::SafeCsvWriter;
use coupler_store::{PlannedCreate, PlannedWrite};
use serde_json::{Map, Value};

use crate::apply::{DataverseWrite, FileRow, WriteNote, BC_UPDATE, CREATE, FILE_UPDATE, UPDATE};
use crate::job::SyncReport;

/// `sync-plan.csv`'s columns (docs/reference.md), `message` last.
const PLAN_HEADER: [&str; 8] = [
    "local_id",
    "integration_id",
    "direction",
    "field",
    "old_value",
    "new_value",
    "status",
    "message",
];

/// What the synchronization did (job.json `sync`).
/// What `create_new_if_no_match` did (job.json `create_new`).
/// A job's synchronization, planned: the field rows and the writes they make.
pub struct PlannedSync {
    pub plan: SyncPlan,
    /// Integration-side updates (one per pair with changes) and the local-side rows, each with
    /// the local id of its pair: journaled only if the pair is committed.
    pub writes: Vec<(String, PlannedWrite)>,
}

/// Plans the first synchronization of the pairs the run coupled; with `job_id` (an `--apply`
/// job) also the writes it makes. With `dataverse` (the integration side's entity set and
/// columns) the integration-side updates are PATCHes; otherwise rows of
/// `integration-updates.csv`.
pub fn plan_sync(
    spec: &SyncSpec,
    run: &CouplingRun<'_>,
    local: &Table,
    integration: &Table,
    dataverse: Option<Target<'_>>,
    job_id: Option<&str>,
) -> Result<PlannedSync> {
    let pairs: Vec<(u32, u32)> = run
        .outcomes()
        .iter()
        .filter_map(|r| match r.outcome {
            Outcome::Coupled {
                integration_row, ..
            } => Some((r.local_row, integration_row)),
            _ => None,
        })
        .collect();
    let plan = coupler_engine::plan_sync(spec, local, integration, &pairs)
        .with_context(|| format!("mapping '{}': synchronization", spec.mapping_name))?;
    let Some(job_id) = job_id else {
        // A dry run writes the plan only.
        return Ok(PlannedSync {
            plan,
            writes: Vec::new(),
        });
    };
    // The run's ids are the canonical ones (GUIDs lower-case, codes upper-case).
    let local_id = |row: u32| run.local_id_of_row(row);
    let integration_id = |row: u32| run.integration_id(row);
    let mapping = spec.mapping_name.as_str();
    let mut writes = Vec::new();
    // Plan rows come grouped by pair and direction; one write per group.
    let updates = |d| {
        plan.rows
            .iter()
            .filter(move |r| r.direction == d && r.status == PlanStatus::Update)
    };
    let mut group_start = 0;
    let to_integration: Vec<_> = updates(PlanDirection::ToIntegration).collect();
    while group_start < to_integration.len() {
        let row = to_integration[group_start].integration_row;
        let end = group_start
            + to_integration[group_start..]
                .iter()
                .take_while(|r| r.integration_row == row)
                .count();
        let group = &to_integration[group_start..end];
        let (lid, iid) = (local_id(group[0].local_row), integration_id(row));
        let write = match dataverse {
            Some(target) => {
                let mut fields = Map::new();
                for r in group {
                    target.insert(&mut fields, &r.field, &r.new_value)?;
                }
                dataverse_write(job_id, mapping, UPDATE, target.entity_set, iid, fields, iid)
            }
            None => file_row(job_id, mapping, FILE_UPDATE, iid, group),
        };
        writes.push((lid.to_string(), write));
        group_start = end;
    }
    let from_integration: Vec<_> = updates(PlanDirection::FromIntegration).collect();
    let mut group_start = 0;
    while group_start < from_integration.len() {
        let row = from_integration[group_start].local_row;
        let end = group_start
            + from_integration[group_start..]
                .iter()
                .take_while(|r| r.local_row == row)
                .count();
        let lid = local_id(row);
        let write = file_row(
            job_id,
            mapping,
            BC_UPDATE,
            lid,
            &from_integration[group_start..end],
        );
        writes.push((lid.to_string(), write));
        group_start = end;
    }
    Ok(PlannedSync { plan, writes })
}

/// Plans a new Dataverse row for every unmatched record (BC: "Create New If Unable to Find a
/// Match"): its id is chosen here, and the create is keyed by this job and the record, so a
/// rerun after a crash sends the same create (never a second row), and a later job that finds
/// the record unmatched again (its row deleted and the coupling removed) plans a new one.
///
/// A record with a lookup (`via`) to a record that is not coupled is not created (BC fails its
/// insert with the same text as a synchronization): it is returned with that text instead.
pub fn plan_creates(
    spec: &SyncSpec,
    run: &CouplingRun<'_>,
    local: &Table,
    target: Target<'_>,
    job_id: &str,
) -> Result<(Vec<PlannedCreate>, Refused)> {
    let mut creates = Vec::new();
    let mut refused = Vec::new();
    'records: for record in run.outcomes() {
        if !matches!(record.outcome, Outcome::NoMatch { .. }) {
            continue;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut fields = Map::new();
        for f in spec
            .fields
            .iter()
            .filter(|f| spec.takes_part(f, PlanDirection::ToIntegration))
        {
            let value = match (&f.constant, &f.local_field) {
                (Some(c), _) => c.clone(),
                (None, Some(l)) => cell(local, l, record.local_row).to_string(),
                (None, None) => continue,
            };
            let value = match &f.via {
                Some(via) => {
                    let source = f.local_field.as_deref().unwrap_or_default();
                    match translate_reference(
                        &value,
                        PlanDirection::ToIntegration,
                        via,
                        f.clear_on_failed_sync,
                        source,
                    ) {
                        Ok(id) if id.is_empty() => continue,
                        Ok(id) => id,
                        Err(text) => {
                            refused.push((run.local_id(record).to_string(), text));
                            continue 'records;
                        }
                    }
                }
                None if f.field_type == FieldType::Code => value.trim().to_uppercase(),
                None => value,
            };
            target.insert(&mut fields, &f.integration_field, &value)?;
        }
        let local_id = run.local_id(record);
        creates.push(PlannedCreate {
            local_id: local_id.to_string(),
            integration_id: id.clone(),
            write: dataverse_write(
                job_id,
                &spec.mapping_name,
                CREATE,
                target.entity_set,
                &id,
                fields,
                local_id,
            ),
        });
    }
    Ok((creates, refused))
}

/// Unmatched records that get no new row: `(local id, BC's error text)`.
pub type Refused = Vec<(String, String)>;

/// What became of a job's planned writes, for `sync-plan.csv`.
pub struct PlanFate<'a> {
    pub job_id: &'a str,
    /// Local rows whose pair another job committed first: their rows are not this job's.
    pub dropped_local_rows: &'a HashSet<u32>,
    /// By journal key, the writes that did not succeed.
    pub notes: &'a std::collections::HashMap<String, WriteNote>,
}

/// Writes `sync-plan.csv` (the rows of committed pairs; a row whose write the server refused
/// says so) and counts the rows for job.json.
pub fn write_plan(
    planned: &PlannedSync,
    run: &CouplingRun<'_>,
    fate: &PlanFate<'_>,
    dir: &Path,
) -> Result<SyncReport> {
    let PlanFate {
        job_id,
        dropped_local_rows,
        notes,
    } = *fate;
    // The run's ids are the canonical ones (GUIDs lower-case, codes upper-case).
    let local_id = |row: u32| run.local_id_of_row(row);
    let integration_id = |row: u32| run.integration_id(row);
    let path = dir.join("sync-plan.csv");
    let mut out = SafeCsvWriter::new(
        &path,
        &PLAN_HEADER,
        &[true, true, false, false, false, false, false, false],
    )?;
    let mut report = SyncReport::default();
    let mut pairs = HashSet::new();
    for r in &planned.plan.rows {
        if dropped_local_rows.contains(&r.local_row) {
            continue;
        }
        pairs.insert(r.local_row);
        let (mut status, mut message) = (r.status, r.message.as_str());
        if r.direction == PlanDirection::ToIntegration && status == PlanStatus::Update {
            let key = format!("{job_id}:{UPDATE}:{}", integration_id(r.integration_row));
            match notes.get(&key) {
                Some(WriteNote::Pending(m)) => message = m,
                Some(WriteNote::Refused(m)) => {
                    status = PlanStatus::Failed;
                    message = m;
                }
                None => {}
            }
        }
        match (status, r.direction) {
            (PlanStatus::Update, PlanDirection::ToIntegration) => {
                report.to_integration_updates += 1
            }
            (PlanStatus::Update, PlanDirection::FromIntegration) => {
                report.from_integration_updates += 1
            }
            (PlanStatus::Unchanged, _) => report.unchanged += 1,
            (PlanStatus::Conflict, _) => report.conflicts += 1,
            (PlanStatus::Failed, _) => report.failed += 1,
        }
        out.write_row([
            local_id(r.local_row),
            integration_id(r.integration_row),
            r.direction.name(),
            r.field.as_str(),
            &r.old_value,
            &r.new_value,
            status.name(),
            message,
        ])?;
    }
    out.finish()?;
    report.pairs = run
        .outcomes()
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Coupled { .. }))
        .count() as u64;
    report.plan = path.display().to_string();
    Ok(report)
}

/// Writes file rows (`bc-updates.csv`: `local_id, field, new_value`; `integration-updates.csv`:
/// `integration_id, field, new_value`).
pub fn write_file_rows(path: &Path, id_column: &str, rows: &[(String, FileRow)]) -> Result<()> {
    let mut out = SafeCsvWriter::new(
        path,
        &[id_column, "field", "new_value"],
        &[true, false, false],
    )?;
    for (_, row) in rows {
        for (field, value) in &row.fields {
            out.write_row([row.id.as_str(), field.as_str(), value.as_str()])?;
        }
    }
    out.finish()?;
    Ok(())
}

/// Writes `created.csv`: the rows created in this run and the records they are coupled to.
pub fn write_created(path: &Path, created: &[(String, String)]) -> Result<()> {
    let mut out = SafeCsvWriter::new(path, &["local_id", "integration_id"], &[true, true])?;
    for (l, i) in created {
        out.write_row([l.as_str(), i.as_str()])?;
    }
    out.finish()?;
    Ok(())
}

pub(crate) fn dataverse_write(
    job_id: &str,
    mapping: &str,
    operation: &str,
    entity_set: &str,
    id: &str,
    fields: Map<String, Value>,
    key_id: &str,
) -> PlannedWrite {
    let write = DataverseWrite {
        create: operation == CREATE,
        entity_set: entity_set.to_string(),
        id: id.to_string(),
        fields,
    };
    PlannedWrite {
        key: format!("{job_id}:{operation}:{key_id}"),
        mapping: mapping.to_string(),
        target: format!("dataverse:{entity_set}({id})"),
        operation: operation.into(),
        payload: serde_json::to_string(&write).unwrap_or_default(),
    }
}

fn file_row(
    job_id: &str,
    mapping: &str,
    operation: &str,
    id: &str,
    rows: &[&coupler_engine::sync::PlanRow],
) -> PlannedWrite {
    let row = FileRow {
        id: id.to_string(),
        fields: rows
            .iter()
            .map(|r| (r.field.clone(), r.new_value.clone()))
            .collect(),
    };
    let file = if operation == BC_UPDATE {
        "bc-updates.csv"
    } else {
        "integration-updates.csv"
    };
    PlannedWrite {
        key: format!("{job_id}:{operation}:{id}"),
        mapping: mapping.to_string(),
        target: format!("file:{file}({id})"),
        operation: operation.into(),
        payload: serde_json::to_string(&row).unwrap_or_default(),
    }
}

/// The Dataverse table a mapping writes to: its entity set, its columns, and how its lookup
/// columns bind the rows they point to.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    pub entity_set: &'a str,
    pub info: &'a TableInfo,
    /// Lookup column (`_x_value`) → its navigation property and target entity set.
    pub binds: &'a BTreeMap<String, LookupTarget>,
}

impl Target<'_> {
    /// Puts a column's new value into a write: a lookup as `<navigation>@odata.bind` to
    /// `/<set>(<id>)` (blank clears it), anything else as Dataverse's JSON for its column.
    fn insert(&self, fields: &mut Map<String, Value>, column: &str, text: &str) -> Result<()> {
        if let Some(bind) = self.binds.get(column) {
            let value = if text.is_empty() {
                Value::Null
            } else {
                Value::String(bind_value(&bind.entity_set, text)?)
            };
            fields.insert(format!("{}@odata.bind", bind.navigation), value);
            return Ok(());
        }
        fields.insert(column.to_string(), json_value(self.info, column, text)?);
        Ok(())
    }
}

/// A cell of a named column (the engine's tables are read with every column the job needs).
fn cell<'t>(table: &'t Table, column: &str, row: u32) -> &'t str {
    table
        .column_index(column)
        .map_or("", |c| table.cell(row as usize, c))
}

/// A value as Dataverse's JSON for its column: numbers and yes/no typed, blank as null.
fn json_value(info: &TableInfo, column: &str, text: &str) -> Result<Value> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    let kind = info.column(column).map_or(AttributeKind::Other, |c| c.kind);
    Ok(match kind {
        AttributeKind::Number => {
            let v: Value = serde_json::from_str(text.trim())
                .ok()
                .filter(Value::is_number)
                .with_context(|| format!("column {column}: '{text}' is not a number"))?;
            v
        }
        AttributeKind::Boolean => Value::Bool(matches!(
            text.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes"
        )),
        AttributeKind::Guid => bail!("column {column} is a lookup: a lookup is written through the couplings of the mapping its rows belong to; give its field mapping via = \"MAPPING\""),
        _ => Value::String(text.to_string()),
    })
}
