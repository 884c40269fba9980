//! Which rows of a table take part in a job: a [`TableFilter`] applied to a [`Table`].
//!
//! A filter is a list of `(column, value)` conditions; a row passes when **every** condition
//! holds, each compared as raw text: the cell byte for byte equal to the value (no trimming, no
//! case folding, no reading as a number; an empty value matches only empty cells). An empty
//! filter passes every row. A condition on a column the table lacks is an error
//! ([`EngineError::MissingColumn`]), not a row that fails.
//!
//! [`couple`](crate::couple()) applies the mapping's local filter to the local table (which
//! records take part) and its integration filter to the integration table (which records are
//! candidates: BC's Integration Table Filter); [`passing_rows`] gives callers the same rows.
//!
//! A *table filter* in BC's filter syntax ([`ColumnFilter`], [`passing_table_filter`]) is what a
//! source's rows pass as they are read: rows outside it are not part of the source at all.

use rayon::prelude::*;

use crate::couple::RunOptions;
use crate::error::{column, EngineError};
use crate::index::same_text;
#[cfg(doc)]
use crate::mapping::TableFilter;
use crate::table::Table;

/// The rows of `table` that pass `filter` (every `(column, value)` holds as raw text), in
/// ascending order: exactly the rows [`couple`](crate::couple()) takes part with.
///
/// `filter` is a [`TableFilter`] (`&spec.local_filter`, `&spec.integration_filter`) or any slice
/// of pairs. Fails with [`EngineError::MissingColumn`] (naming the table, the column and the
/// columns it has) when a condition names a column `table` lacks; the conditions are checked
/// before any row, so an empty table fails too. Runs on rayon's current thread pool.
///
/// ```
/// use coupler_engine::{passing_rows, EngineError, Table};
///
/// let customers = Table::from_rows(
///     "customers.csv",
///     &["No.", "Blocked", "Country"],
///     &[
///         vec!["C1", "", "DE"],
///         vec!["C2", "Ship", "DE"],
///         vec!["C3", "", "de"],
///         vec!["C4", "", "DE"],
///     ],
/// )?;
/// // Not blocked, and in "DE" as written: C3's "de" differs.
/// let filter = vec![
///     ("Blocked".to_string(), String::new()),
///     ("Country".to_string(), "DE".to_string()),
/// ];
/// assert_eq!(passing_rows(&customers, &filter)?, vec![0, 3]);
/// // No conditions: every row.
/// assert_eq!(passing_rows(&customers, &[])?, vec![0, 1, 2, 3]);
/// // A column the table lacks is an error.
/// let err = passing_rows(&customers, &[("Region".to_string(), "EU".to_string())]).unwrap_err();
/// assert!(matches!(err, EngineError::MissingColumn { ref column, .. } if column == "Region"));
/// assert_eq!(
///     err.to_string(),
///     "customers.csv: column 'Region' not found; the columns are: No., Blocked, Country"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn passing_rows(table: &Table, filter: &[(String, String)]) -> Result<Vec<usize>, EngineError> {
    let rows = filtered_rows(table, filter, RunOptions::default())?;
    Ok(rows.into_iter().map(|r| r as usize).collect())
}

/// The rows of `table` that pass `filter`, in order.
pub(crate) fn filtered_rows(
    table: &Table,
    filter: &[(String, String)],
    options: RunOptions,
) -> Result<Vec<u32>, EngineError> {
    let conditions = filter
        .iter()
        .map(|(c, v)| Ok((column(table, c)?, v.as_str())))
        .collect::<Result<Vec<_>, EngineError>>()?;
    let passes = |r: &u32| {
        conditions
            .iter()
            .all(|&(c, v)| same_text(table.cell(*r as usize, c), v))
    };
    let rows = 0..table.len() as u32;
    Ok(if options.parallel {
        rows.into_par_iter().filter(passes).collect()
    } else {
        rows.filter(passes).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_rows_are_the_rows_the_engine_filters() {
        let table = Table::from_rows(
            "t.csv",
            &["id", "a", "b"],
            &[
                vec!["1", "x", ""],
                vec!["2", "x ", ""],
                vec!["3", "X", ""],
                vec!["4", "x", "y"],
                vec!["5", "x", ""],
            ],
        )
        .unwrap();
        let filter = vec![("a".to_string(), "x".to_string()), ("b".into(), "".into())];
        for parallel in [false, true] {
            let options = RunOptions {
                parallel,
                ..RunOptions::default()
            };
            assert_eq!(filtered_rows(&table, &filter, options).unwrap(), [0, 4]);
        }
        assert_eq!(passing_rows(&table, &filter).unwrap(), [0, 4]);
        // A column repeated: both conditions must hold.
        let contradictory = vec![("a".to_string(), "x".to_string()), ("a".into(), "X".into())];
        assert_eq!(
            passing_rows(&table, &contradictory).unwrap(),
            Vec::<usize>::new()
        );
        let empty = Table::from_rows::<&str>("e.csv", &["id"], &[]).unwrap();
        assert!(matches!(
            passing_rows(&empty, &filter),
            Err(EngineError::MissingColumn { .. })
        ));
    }
}

/// A table filter on one column: BC's filter expression and the column's type
/// ([`crate::bc_filter`]), e.g. `Blocked` = `''` or `Name` = `@a*|@b*`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnFilter {
    pub column: String,
    pub expr: crate::bc_filter::FilterExpr,
    pub field_type: crate::FieldType,
}

/// The rows of `table` whose cells meet every [`ColumnFilter`], in order.
///
/// ```
/// use coupler_engine::filter::{passing_table_filter, ColumnFilter};
/// use coupler_engine::{FieldType, FilterExpr, Table};
///
/// let t = Table::from_rows("c.csv", &["No.", "Credit"], &[
///     vec!["C1", "100"], vec!["C2", "2500"], vec!["C3", ""],
/// ])?;
/// let filter = [ColumnFilter {
///     column: "Credit".into(),
///     expr: FilterExpr::parse("1000..")?,
///     field_type: FieldType::Decimal,
/// }];
/// assert_eq!(passing_table_filter(&t, &filter)?, vec![1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn passing_table_filter(
    table: &Table,
    filter: &[ColumnFilter],
) -> Result<Vec<usize>, EngineError> {
    let conditions = filter
        .iter()
        .map(|f| Ok((column(table, &f.column)?, f)))
        .collect::<Result<Vec<_>, EngineError>>()?;
    Ok((0..table.len())
        .into_par_iter()
        .filter(|&r| {
            conditions
                .iter()
                .all(|&(c, f)| f.expr.matches(table.cell(r, c), f.field_type))
        })
        .collect())
}
