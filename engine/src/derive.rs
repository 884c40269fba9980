//! Derived comparison values for the criteria beyond BC: normalized, fuzzy and option-mapped.
//!
//! Such a criterion is not compared on the cells as read. Each side's cells are rewritten once,
//! before matching, into a column of **final comparison values**: normalizers applied, then the
//! criterion's usual rule (the local Code preparation, case folding or Dataverse's collation),
//! or an option caption replaced by its choice value. The matcher then compares the derived
//! values by plain equality (exact criteria: the same dictionaries and indexes as BC's criteria)
//! or by similarity (fuzzy criteria). A blank derived value sets no condition.
//!
//! Criteria with the same column and the same rewrite share one derived column.

use std::collections::HashMap;

use crate::couple::position_or_push;
use crate::error::EngineError;
use crate::mapping::{CouplingSpec, MatchCriterion, Reference};
use crate::normalize::normalize;
use crate::table::{Column, Table};
use crate::value::{canonical_number, integration_key_into, local_key_into, FieldType, Fold};

/// The derived columns of a run, and which criterion uses which.
#[derive(Default)]
pub(crate) struct Derivation {
    /// Per criterion: its derived local column (index into `local`), if any.
    pub(crate) local_of: Vec<Option<usize>>,
    /// Per criterion: its derived integration column (index into `integration`), if any.
    pub(crate) integration_of: Vec<Option<usize>>,
    /// Derived local columns, one cell per local row ("" for rows the filter leaves out).
    pub(crate) local: Vec<Column>,
    /// Derived integration columns, one cell per integration row ("" for non-candidates).
    pub(crate) integration: Vec<Column>,
}

enum Side {
    Local,
    Integration,
}

struct Task<'s> {
    side: Side,
    column: usize,
    criterion: &'s MatchCriterion,
    fold: Fold,
}

/// Derives the columns of every criterion beyond BC (`columns`: each criterion's local and
/// integration column and rule). `included_local` / `included_integration`
/// tell which rows take part (only those are checked and rewritten).
pub(crate) fn derive(
    spec: &CouplingSpec,
    local: &Table,
    integration: &Table,
    columns: &[(usize, usize, Fold)],
    included_local: &[bool],
    included_integration: &[bool],
    parallel: bool,
) -> Result<Derivation, EngineError> {
    let mut derivation = Derivation {
        local_of: vec![None; spec.criteria.len()],
        integration_of: vec![None; spec.criteria.len()],
        ..Derivation::default()
    };
    // Tasks, shared by signature: (side, column, rewrite).
    let mut tasks: Vec<Task<'_>> = Vec::new();
    let mut signatures: HashMap<(u8, usize, String), usize> = HashMap::new();
    let (mut local_tasks, mut integration_tasks) = (Vec::new(), Vec::new());
    for (i, c) in spec.criteria.iter().enumerate() {
        if !c.is_beyond_bc() {
            continue;
        }
        let signature = format!(
            "{:?}|{:?}|{:?}|{}|{:?}",
            c.via.as_ref().map(|v| std::sync::Arc::as_ptr(v) as usize),
            c.field_type,
            columns[i].2,
            c.normalizers
                .iter()
                .map(|n| n.describe())
                .collect::<Vec<_>>()
                .join(";"),
            c.options.entries()
        );
        let (local_column, integration_column, fold) = columns[i];
        for (side_no, col) in [(0u8, local_column), (1u8, integration_column)] {
            let next = tasks.len();
            let k = *signatures
                .entry((side_no, col, signature.clone()))
                .or_insert_with(|| {
                    tasks.push(Task {
                        side: if side_no == 0 {
                            Side::Local
                        } else {
                            Side::Integration
                        },
                        column: col,
                        criterion: c,
                        fold,
                    });
                    next
                });
            if side_no == 0 {
                derivation.local_of[i] = Some(position_or_push(&mut local_tasks, k));
            } else {
                derivation.integration_of[i] = Some(position_or_push(&mut integration_tasks, k));
            }
        }
    }
    let run = |task: &Task<'_>| -> Result<Column, EngineError> {
        match task.side {
            Side::Local => derive_column(local, task, included_local, local_value),
            Side::Integration => {
                derive_column(integration, task, included_integration, integration_value)
            }
        }
    };
    let results: Vec<Result<Column, EngineError>> = if parallel {
        use rayon::prelude::*;
        tasks.par_iter().map(run).collect()
    } else {
        tasks.iter().map(run).collect()
    };
    // Report the error of the earliest line (local before integration), whatever the threads.
    let mut columns_by_task = Vec::with_capacity(results.len());
    let mut first_error: Option<(u8, u64, EngineError)> = None;
    for (task, r) in tasks.iter().zip(results) {
        match r {
            Ok(col) => columns_by_task.push(Some(col)),
            Err(e) => {
                let rank = (matches!(task.side, Side::Integration) as u8, e.line());
                if first_error.as_ref().is_none_or(|(s, l, _)| rank < (*s, *l)) {
                    first_error = Some((rank.0, rank.1, e));
                }
                columns_by_task.push(None);
            }
        }
    }
    if let Some((_, _, e)) = first_error {
        return Err(e);
    }
    for k in local_tasks {
        derivation
            .local
            .push(columns_by_task[k].take().expect("derived once"));
    }
    for k in integration_tasks {
        derivation
            .integration
            .push(columns_by_task[k].take().expect("derived once"));
    }
    Ok(derivation)
}

type Rewrite = fn(&str, &Task<'_>, &mut String) -> Result<(), Problem>;

/// Why a cell cannot be rewritten.
enum Problem {
    Invalid(crate::value::InvalidValue),
    UnmappedCaption,
    UnmappedChoice,
}

fn derive_column(
    table: &Table,
    task: &Task<'_>,
    included: &[bool],
    rewrite: Rewrite,
) -> Result<Column, EngineError> {
    let source = table.column(task.column);
    let mut out = Column::with_capacity(table.len(), source.text_len());
    let mut value = String::new();
    for (row, &take) in included.iter().enumerate() {
        value.clear();
        if take {
            let cell = source.get(row);
            if let Err(problem) = rewrite(cell, task, &mut value) {
                return Err(error(table, row, task, problem));
            }
        }
        out.push(&value).map_err(|_| EngineError::ColumnTooLarge {
            table: table.name().to_string(),
            column: table.column_names()[task.column].clone(),
        })?;
    }
    Ok(out)
}

fn error(table: &Table, row: usize, task: &Task<'_>, problem: Problem) -> EngineError {
    let (table_name, column) = (
        table.name().to_string(),
        table.column_names()[task.column].clone(),
    );
    let (line, value) = (table.origin(row), table.cell(row, task.column).to_string());
    let options = task.criterion.options.entries();
    match problem {
        Problem::Invalid(problem) => EngineError::InvalidValue {
            table: table_name,
            column,
            line,
            value,
            problem,
        },
        Problem::UnmappedCaption => EngineError::UnmappedOption {
            table: table_name,
            column,
            line,
            value,
            known: options.iter().map(|(c, _)| c.clone()).collect(),
        },
        Problem::UnmappedChoice => EngineError::UnmappedChoice {
            table: table_name,
            column,
            line,
            value,
            known: options.iter().map(|(_, v)| v.to_string()).collect(),
        },
    }
}

/// Derived values of a lookup through couplings: a translated id or an integration id
/// (`#<id>`), or a key no coupling translates (`!<key>`: nothing on the integration side
/// carries that prefix, so it matches no row).
pub(crate) const TRANSLATED: char = '#';
pub(crate) const UNTRANSLATED: char = '!';

/// The final comparison value of a local cell ("" = no condition).
fn local_value(cell: &str, task: &Task<'_>, out: &mut String) -> Result<(), Problem> {
    let c = task.criterion;
    if let Some(via) = &c.via {
        match via.resolve_key(cell) {
            Reference::Blank => {}
            Reference::Coupled(id) => {
                out.push(TRANSLATED);
                out.push_str(id);
            }
            Reference::NotCoupled(key) => {
                out.push(UNTRANSLATED);
                out.push_str(&key);
            }
        }
        return Ok(());
    }
    if c.field_type == FieldType::Option {
        return match c.options.value(cell) {
            Some(v) => {
                let key = canonical_number(&v.to_string()).map_err(Problem::Invalid)?;
                out.push_str(&key);
                Ok(())
            }
            // A blank caption nobody mapped sets no condition, as blank text does.
            None if cell.trim().is_empty() => Ok(()),
            None => Err(Problem::UnmappedCaption),
        };
    }
    let normalized = normalize(&c.normalizers, cell);
    let mut buf = String::new();
    match local_key_into(&normalized, c.field_type, task.fold, &mut buf) {
        Ok(Some(key)) => out.push_str(key),
        Ok(None) => {}
        Err(problem) => return Err(Problem::Invalid(problem)),
    }
    Ok(())
}

/// The final comparison value of an integration cell.
fn integration_value(cell: &str, task: &Task<'_>, out: &mut String) -> Result<(), Problem> {
    let c = task.criterion;
    if c.via.is_some() {
        let id = crate::ids::canonical_integration_id(cell);
        if !id.trim().is_empty() {
            out.push(TRANSLATED);
            out.push_str(&id);
        }
        return Ok(());
    }
    if c.field_type == FieldType::Option {
        if cell.trim().is_empty() {
            return Ok(());
        }
        let key = canonical_number(cell).map_err(Problem::Invalid)?;
        let value: Option<i64> = cell.trim().parse().ok();
        if !value.is_some_and(|v| c.options.has_value(v)) {
            return Err(Problem::UnmappedChoice);
        }
        out.push_str(&key);
        return Ok(());
    }
    let normalized = normalize(&c.normalizers, cell);
    let mut buf = String::new();
    let key = integration_key_into(&normalized, task.fold, &mut buf).map_err(Problem::Invalid)?;
    out.push_str(key);
    Ok(())
}
