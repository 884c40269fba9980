//! Helpers shared by the reading tests.

use coupler_engine::Table;

/// Column names as the reader takes them.
pub fn cols(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// All rows as vectors of cells, with their origins.
pub fn rows(t: &Table) -> Vec<(u64, Vec<String>)> {
    (0..t.len())
        .map(|r| {
            (
                t.origin(r),
                (0..t.column_names().len())
                    .map(|c| t.cell(r, c).to_string())
                    .collect(),
            )
        })
        .collect()
}

/// One expected row.
pub fn row(origin: u64, cells: &[&str]) -> (u64, Vec<String>) {
    (origin, cells.iter().map(|s| s.to_string()).collect())
}
