//! Why a coupling job could not run: [`EngineError`], one variant per problem, each naming the
//! table, the column and (for data problems) the source line a user needs to find it; and the
//! two errors the engine raises from several places: a column a table lacks (`column`) and a
//! cell that does not read as its field type (`invalid`).

use thiserror::Error;

use crate::couple::MAX_CRITERIA;
use crate::table::Table;
use crate::value::InvalidValue;

/// Why a coupling job could not run. Every variant names the table and, for data problems,
/// the row's origin (line number) so the adapter's user can find it.
///
/// ```
/// use coupler_engine::{
///     couple, Collation, CouplingSpec, EngineError, ExistingCouplings, PriorityMode, RunOptions,
///     Table,
/// };
///
/// let customers = Table::from_rows("customers.csv", &["No."], &[vec!["C1"], vec!["c1 "]])?;
/// let accounts = Table::from_rows("accounts.csv", &["accountid"], &[vec!["A1"]])?;
/// let spec = CouplingSpec {
///     mapping_name: "CUSTOMER".into(),
///     local_caption: "Customer".into(),
///     integration_caption: "Account".into(),
///     integration_source: "accounts.csv".into(),
///     local_key: "No.".into(),
///     integration_key: "accountid".into(),
///     criteria: vec![],
///     priority_mode: PriorityMode::Cumulative,
///     collation: Collation::Exact,
///     local_filter: vec![],
///     integration_filter: vec![],
/// };
/// let existing = ExistingCouplings::new();
/// let Err(err) = couple(&spec, &customers, &accounts, &existing, RunOptions::default()) else {
///     panic!("C1 is there twice");
/// };
/// assert!(matches!(err, EngineError::DuplicateId { line: 3, first_line: 2, .. }));
/// assert_eq!(err.line(), 3);
/// assert!(err.to_string().starts_with(
///     "customers.csv line 3: duplicate id 'c1 ' (first seen on line 2 as 'C1'; \
///      BC reads both as one id"
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("{table}: column '{column}' not found; the columns are: {}", available.join(", "))]
    MissingColumn {
        table: String,
        column: String,
        available: Vec<String>,
    },
    /// Two rows have one id ([`crate::ids`]: codes trimmed and upper-cased, GUIDs whatever their
    /// case and braces); `id` and `first_id` are the two spellings as read.
    #[error("{table} line {line}: duplicate id '{id}' (first seen on line {first_line}{})", spelled_as(.id, .first_id))]
    DuplicateId {
        table: String,
        id: String,
        line: u64,
        first_line: u64,
        first_id: String,
    },
    #[error("{table} line {line}: the id column '{column}' is blank")]
    BlankId {
        table: String,
        column: String,
        line: u64,
    },
    #[error("{table} line {line}, column '{column}': '{value}' is {problem}")]
    InvalidValue {
        table: String,
        column: String,
        line: u64,
        value: String,
        problem: InvalidValue,
    },
    #[error("mapping {mapping}: the criterion on integration column '{column}' would replace the integration filter on the same column (BC silently drops the filter); filter on another column or drop the criterion")]
    CriterionOnFilteredColumn { mapping: String, column: String },
    #[error("mapping {mapping}: {count} match criteria; at most {MAX_CRITERIA} are supported")]
    TooManyCriteria { mapping: String, count: usize },
    #[error("{table} line {line}, column '{column}': option '{value}' has no option mapping; the mapped captions are: {}", known.join(", "))]
    UnmappedOption {
        table: String,
        column: String,
        line: u64,
        value: String,
        known: Vec<String>,
    },
    #[error("{table} line {line}, column '{column}': choice value '{value}' is not in the option mapping; the mapped values are: {}", known.join(", "))]
    UnmappedChoice {
        table: String,
        column: String,
        line: u64,
        value: String,
        known: Vec<String>,
    },
    #[error("mapping {mapping}, match field '{field}': {problem}")]
    InvalidCriterion {
        mapping: String,
        field: String,
        problem: String,
    },
    #[error("{table}: the values derived from column '{column}' pass 4 GiB; split the export")]
    ColumnTooLarge { table: String, column: String },
}

/// How a duplicate's first occurrence was spelled, when not as the duplicate.
fn spelled_as(id: &str, first_id: &str) -> String {
    if id == first_id {
        String::new()
    } else {
        format!(
            " as '{first_id}'; BC reads both as one id: codes are trimmed and upper-cased, GUIDs have no case or braces"
        )
    }
}

impl EngineError {
    /// The source line a data error points at (0 for errors of the configuration).
    pub fn line(&self) -> u64 {
        match self {
            EngineError::DuplicateId { line, .. }
            | EngineError::BlankId { line, .. }
            | EngineError::InvalidValue { line, .. }
            | EngineError::UnmappedOption { line, .. }
            | EngineError::UnmappedChoice { line, .. } => *line,
            _ => 0,
        }
    }
}

/// The index of the column `name` of `table`, or [`EngineError::MissingColumn`].
pub(crate) fn column(table: &Table, name: &str) -> Result<usize, EngineError> {
    table
        .column_index(name)
        .ok_or_else(|| EngineError::MissingColumn {
            table: table.name().to_string(),
            column: name.to_string(),
            available: table.column_names().to_vec(),
        })
}

/// [`EngineError::InvalidValue`] for the cell of `table` at (`row`, `col`).
pub(crate) fn invalid(table: &Table, row: usize, col: usize, problem: InvalidValue) -> EngineError {
    EngineError::InvalidValue {
        table: table.name().to_string(),
        column: table.column_names()[col].clone(),
        line: table.origin(row),
        value: table.cell(row, col).to_string(),
        problem,
    }
}
