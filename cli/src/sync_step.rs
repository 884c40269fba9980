//! After matching: BC's first synchronization of the pairs this job coupled
//! (`sync_after_coupling`), and "Create New If Unable to Find a Match" (`create_new_if_no_match`).
//!
//! A dry run writes the field-level plan (`sync-plan.csv`). With `--apply`, writes to Dataverse
//! go through the store's journal: every write is recorded before it is sent and marked when the
//! server answers, so an interrupted run (kill, network loss, throttling past the retry budget)
//! is finished by running the same command again — the journal's pending writes are sent first.
//! Writes are idempotent on the wire (updates are `If-Match: *` PATCHes of absolute values, a
//! vanished row is an error and never a silent create; creates are `If-None-Match: *` PATCHes of a
//! client-chosen id, so a repeat answers 412 instead of creating twice), which makes "sent twice
//! after a crash" harmless. Updates for the local (BC) side are written as `bc-updates.csv` for
//! import into BC.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use coupler_dataverse::{write_batch, AttributeKind, TableInfo, WriteKind, WriteOp, WriteOutcome};
use coupler_engine::sync::{PlanDirection, PlanStatus};
use coupler_engine::{plan_sync, CouplingRun, FieldType, Outcome, SyncSpec, Table};
use coupler_files::SafeCsvWriter;
use coupler_store::{MappingRef, PlannedWrite, Store, WriteState};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::dataverse_link::DataverseLink;

/// `sync-plan.csv`'s columns (contract), plus `message` (an extension).
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

/// Ops per `$batch`, and per journal checkpoint.
const CHUNK: usize = 100;

/// What the synchronization did (job.json `sync`).
#[derive(Debug, Default, Serialize)]
pub struct SyncReport {
    pub plan: String,
    pub pairs: u64,
    pub to_integration_updates: u64,
    pub from_integration_updates: u64,
    pub unchanged: u64,
    pub conflicts: u64,
    pub failed: u64,
    /// With `--apply`: what the server confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    /// With `--apply`: the local-side updates, for import into BC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bc_updates: Option<String>,
}

/// Writes sent through the journal (this job's and any an interrupted run left pending).
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Applied {
    pub done: u64,
    /// Creates a previous attempt had already made (412 on the repeat).
    pub already_existed: u64,
    /// Updates of rows deleted in Dataverse since they were read: not recreated.
    pub not_found: u64,
    pub failed: u64,
    /// Throttled or refused for a while past the retry budget: still pending in the journal;
    /// running the same command again sends them.
    pub pending: u64,
    /// Of these, writes left pending by an earlier, interrupted run.
    pub resumed: u64,
}

/// What `create_new_if_no_match` did (job.json `create_new`).
#[derive(Debug, Default, Serialize)]
pub struct CreateReport {
    /// Unmatched records a new Dataverse row is planned for.
    pub planned: u64,
    /// Rows created (or found created by an earlier attempt) and coupled.
    pub created: u64,
    pub failed: u64,
    pub file: String,
}

/// Where `--apply` writes go.
pub struct Apply<'a> {
    pub store: &'a mut Store,
    pub link: Option<&'a mut DataverseLink>,
    pub entity_set: Option<&'a str>,
    pub job_id: &'a str,
}

/// Plans (and with `apply`, performs) the first synchronization of the pairs the run coupled.
pub fn synchronize(
    spec: &SyncSpec,
    run: &CouplingRun<'_>,
    local: &Table,
    integration: &Table,
    dir: &Path,
    apply: Option<&mut Apply<'_>>,
) -> Result<SyncReport> {
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
    let mut plan = plan_sync(spec, local, integration, &pairs)
        .with_context(|| format!("mapping '{}': synchronization", spec.mapping_name))?;
    let local_key = run.spec().local_key.as_str();
    let integration_key = run.spec().integration_key.as_str();
    let local_id = column_reader(local, local_key);
    let integration_id = column_reader(integration, integration_key);
    let mut report = SyncReport {
        pairs: pairs.len() as u64,
        ..SyncReport::default()
    };
    if let Some(apply) = apply {
        // Local-side updates: a file for BC.
        let path = dir.join("bc-updates.csv");
        let mut bc = SafeCsvWriter::new(
            &path,
            &["local_id", "field", "new_value"],
            &[true, false, false],
        )?;
        for r in plan.rows.iter().filter(|r| {
            r.direction == PlanDirection::FromIntegration && r.status == PlanStatus::Update
        }) {
            bc.write_row([local_id(r.local_row), r.field.as_str(), &r.new_value])?;
        }
        bc.finish()?;
        report.bc_updates = Some(path.display().to_string());
        // Integration-side updates: one PATCH of the changed columns per pair.
        let to_integration: Vec<usize> = (0..plan.rows.len())
            .filter(|&i| {
                let r = &plan.rows[i];
                r.direction == PlanDirection::ToIntegration && r.status == PlanStatus::Update
            })
            .collect();
        if !to_integration.is_empty() && apply.entity_set.is_none() {
            // The integration side is a file: the updates become a file too.
            let path = dir.join("integration-updates.csv");
            let mut out = SafeCsvWriter::new(
                &path,
                &["integration_id", "field", "new_value"],
                &[true, false, false],
            )?;
            for &i in &to_integration {
                let r = &plan.rows[i];
                out.write_row([
                    integration_id(r.integration_row),
                    r.field.as_str(),
                    &r.new_value,
                ])?;
            }
            out.finish()?;
        } else if !to_integration.is_empty() {
            let (Some(link), Some(entity_set)) = (apply.link.as_deref_mut(), apply.entity_set)
            else {
                bail!(
                    "mapping '{}': no Dataverse connection for the synchronization",
                    spec.mapping_name
                );
            };
            let info = link.table(entity_set)?.clone();
            let mut writes: Vec<PlannedWrite> = Vec::new();
            let mut start = 0;
            while start < to_integration.len() {
                let pair = plan.rows[to_integration[start]].integration_row;
                let mut fields = Map::new();
                let mut end = start;
                while end < to_integration.len()
                    && plan.rows[to_integration[end]].integration_row == pair
                {
                    let r = &plan.rows[to_integration[end]];
                    fields.insert(r.field.clone(), json_value(&info, &r.field, &r.new_value)?);
                    end += 1;
                }
                let id = integration_id(pair).to_string();
                writes.push(planned(
                    apply.job_id,
                    &spec.mapping_name,
                    &format!("update:{id}"),
                    WriteKind::Update,
                    entity_set,
                    &id,
                    fields,
                ));
                start = end;
            }
            apply.store.journal_plan(apply.job_id, &writes)?;
        }
        let (applied, outcomes) = send_pending(
            apply.store,
            apply.link.as_deref_mut(),
            &spec.mapping_name,
            apply.job_id,
        )?;
        report.applied = Some(applied);
        // Rows whose write the server refused are not updated: say so in the plan.
        for r in plan.rows.iter_mut().filter(|r| {
            r.direction == PlanDirection::ToIntegration && r.status == PlanStatus::Update
        }) {
            let key = format!(
                "{}:update:{}",
                apply.job_id,
                integration_id(r.integration_row)
            );
            match outcomes.get(&key) {
                Some(WriteNote::Pending(message)) => r.message = message.clone(),
                Some(WriteNote::Refused(message)) => {
                    r.status = PlanStatus::Failed;
                    r.message = message.clone();
                }
                None => {}
            }
        }
    }
    let path = dir.join("sync-plan.csv");
    let mut out = SafeCsvWriter::new(
        &path,
        &PLAN_HEADER,
        &[true, true, false, false, false, false, false, false],
    )?;
    for r in &plan.rows {
        match (r.status, r.direction) {
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
            r.status.name(),
            &r.message,
        ])?;
    }
    out.finish()?;
    report.plan = path.display().to_string();
    Ok(report)
}

/// Creates a Dataverse row for every unmatched record (BC: "Create New If Unable to Find a
/// Match") and couples it. The new row's id is chosen here and kept in the journal under a key
/// made of the mapping and the local id, so a rerun after a crash reuses it: never two rows.
pub fn create_new(
    spec: &SyncSpec,
    run: &CouplingRun<'_>,
    local: &Table,
    dir: &Path,
    apply: &mut Apply<'_>,
) -> Result<CreateReport> {
    let (Some(link), Some(entity_set)) = (apply.link.as_deref_mut(), apply.entity_set) else {
        bail!("mapping '{}': create_new_if_no_match needs the integration side in Dataverse (dataverse_table)", spec.mapping_name);
    };
    let info = link.table(entity_set)?.clone();
    let local_key = run.spec().local_key.as_str();
    let mut writes = Vec::new();
    for record in run.outcomes() {
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
            let value = if f.field_type == FieldType::Code {
                value.trim().to_uppercase()
            } else {
                value
            };
            fields.insert(
                f.integration_field.clone(),
                json_value(&info, &f.integration_field, &value)?,
            );
        }
        let local_id = cell(local, local_key, record.local_row);
        writes.push(planned(
            &spec.mapping_name,
            &spec.mapping_name,
            &format!("create:{local_id}"),
            WriteKind::Create,
            entity_set,
            &id,
            fields,
        ));
    }
    let planned_count = writes.len() as u64;
    apply.store.journal_plan(apply.job_id, &writes)?;
    send_pending(
        apply.store,
        apply.link.as_deref_mut(),
        &spec.mapping_name,
        apply.job_id,
    )?;
    // Couple every row whose create the server confirmed (now or in an interrupted run).
    let mut pairs = Vec::new();
    let mut failed = 0;
    for w in &writes {
        let Some(entry) = apply.store.journal_entry(&w.key)? else {
            continue;
        };
        let op: WriteOp = serde_json::from_str::<JournalOp>(&entry.payload)?.into_op(&entry.key);
        match entry.state {
            WriteState::Done => {
                let local_id = entry
                    .key
                    .rsplit_once(":create:")
                    .map_or("", |(_, l)| l)
                    .to_string();
                pairs.push((local_id, op.id));
            }
            _ => failed += 1,
        }
    }
    let mapping = MappingRef {
        mapping: run.spec().mapping_name.clone(),
        local_table: run.spec().local_caption.clone(),
        integration_table: run.spec().integration_caption.clone(),
    };
    let report = apply
        .store
        .commit_couplings(apply.job_id, &mapping, &pairs)?;
    let path = dir.join("created.csv");
    let mut out = SafeCsvWriter::new(&path, &["local_id", "integration_id"], &[true, true])?;
    for (l, i) in report.inserted.iter().chain(report.unchanged.iter()) {
        out.write_row([l.as_str(), i.as_str()])?;
    }
    out.finish()?;
    Ok(CreateReport {
        planned: planned_count,
        created: (report.inserted.len() + report.unchanged.len()) as u64,
        failed,
        file: path.display().to_string(),
    })
}

/// A journal payload: what to send.
#[derive(Serialize, serde::Deserialize)]
struct JournalOp {
    create: bool,
    entity_set: String,
    id: String,
    fields: Map<String, Value>,
}

impl JournalOp {
    fn into_op(self, key: &str) -> WriteOp {
        WriteOp {
            key: key.to_string(),
            kind: if self.create {
                WriteKind::Create
            } else {
                WriteKind::Update
            },
            entity_set: self.entity_set,
            id: self.id,
            fields: self.fields,
        }
    }
}

fn planned(
    scope: &str,
    mapping: &str,
    what: &str,
    kind: WriteKind,
    entity_set: &str,
    id: &str,
    fields: Map<String, Value>,
) -> PlannedWrite {
    let create = matches!(kind, WriteKind::Create);
    let op = JournalOp {
        create,
        entity_set: entity_set.to_string(),
        id: id.to_string(),
        fields,
    };
    PlannedWrite {
        key: format!("{scope}:{what}"),
        mapping: mapping.to_string(),
        target: format!("dataverse:{entity_set}({id})"),
        operation: if create { "create" } else { "update" }.into(),
        payload: serde_json::to_string(&op).unwrap_or_default(),
    }
}

/// Why a journal write did not succeed.
enum WriteNote {
    /// Still pending (transient failure past the retry budget): the next run sends it.
    Pending(String),
    /// Refused for good.
    Refused(String),
}

/// Sends every pending journal write of the mapping (oldest first), a checkpoint per batch.
/// Returns the counts and, by journal key, the writes that did not succeed.
fn send_pending(
    store: &mut Store,
    link: Option<&mut DataverseLink>,
    mapping: &str,
    job_id: &str,
) -> Result<(Applied, HashMap<String, WriteNote>)> {
    let pending = store.journal_pending(mapping)?;
    let mut applied = Applied::default();
    let mut outcomes = HashMap::new();
    if pending.is_empty() {
        return Ok((applied, outcomes));
    }
    let Some(link) = link else {
        bail!("mapping '{mapping}': {} planned Dataverse write(s) are pending in the store, but this run has no Dataverse connection", pending.len());
    };
    for chunk in pending.chunks(CHUNK) {
        let ops: Vec<WriteOp> = chunk
            .iter()
            .map(|e| Ok(serde_json::from_str::<JournalOp>(&e.payload)?.into_op(&e.key)))
            .collect::<Result<_>>()?;
        for e in chunk {
            store.journal_mark(&e.key, WriteState::Sent, None)?;
        }
        let results = write_batch(&link.session, &ops, CHUNK, &|_| {})?;
        for (e, r) in chunk.iter().zip(results) {
            if e.job_id != job_id {
                applied.resumed += 1;
            }
            let (state, message) = match r.outcome {
                WriteOutcome::Done => {
                    applied.done += 1;
                    (WriteState::Done, None)
                }
                WriteOutcome::AlreadyExisted => {
                    applied.already_existed += 1;
                    (WriteState::Done, None)
                }
                WriteOutcome::NotFound => {
                    applied.not_found += 1;
                    (
                        WriteState::Failed,
                        Some("the Dataverse row no longer exists (deleted since it was read); it was not recreated".to_string()),
                    )
                }
                WriteOutcome::Failed {
                    status,
                    code,
                    message,
                } if matches!(status, 429 | 502 | 503 | 504) => {
                    // Transient, past the retry budget: stays pending for the next run.
                    applied.pending += 1;
                    outcomes.insert(
                        e.key.clone(),
                        WriteNote::Pending(format!("not sent yet (HTTP {status} {code}: {message}); run the same command again to send it")),
                    );
                    continue;
                }
                WriteOutcome::Failed {
                    status,
                    code,
                    message,
                } => {
                    applied.failed += 1;
                    (
                        WriteState::Failed,
                        Some(format!("HTTP {status} {code}: {message}")),
                    )
                }
            };
            store.journal_mark(&e.key, state, message.as_deref())?;
            if let Some(message) = message {
                outcomes.insert(e.key.clone(), WriteNote::Refused(message));
            }
        }
    }
    if applied.pending > 0 {
        eprintln!("coupler: warning: mapping '{mapping}': {} Dataverse write(s) are still pending after the retry budget (throttling or server errors); run the same command again to send them", applied.pending);
    }
    Ok((applied, outcomes))
}

/// Reads the cells of a named column, the column looked up once.
fn column_reader<'t>(table: &'t Table, column: &str) -> impl Fn(u32) -> &'t str {
    let index = table.column_index(column);
    move |row| index.map_or("", |c| table.cell(row as usize, c))
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
        AttributeKind::Guid => bail!("column {column}: writing lookup columns is not supported; leave it out of the synchronized fields"),
        _ => Value::String(text.to_string()),
    })
}
