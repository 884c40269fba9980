//! Column-oriented tables of text cells: what the adapters hand to the engine.
//!
//! A [`Table`] keeps only the columns a mapping uses. Each [`Column`] stores all of its cells in
//! one string arena plus an end-offset per cell, so loading a million rows costs two allocations
//! per column instead of one per cell. Cells are raw text exactly as read from the source (no
//! trimming, no case folding): the engine decides what comparison means.

use thiserror::Error;

use crate::hint::prefetch;

/// Errors raised while building a table.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TableError {
    /// A row did not have one value per column.
    #[error("row {row} has {found} values but the table has {expected} columns")]
    RowWidth {
        row: usize,
        expected: usize,
        found: usize,
    },
    /// A single column grew beyond what 32-bit offsets address.
    #[error("column '{column}' holds more than 4 GiB of text; split the export")]
    ColumnTooLarge { column: String },
    /// Two columns with the same name were requested.
    #[error("column '{0}' is listed twice")]
    DuplicateColumn(String),
}

/// A column's arena passed 4 GiB (the limit of its 32-bit offsets).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("a column holds more than 4 GiB of text")]
pub struct ColumnFull;

/// One column of text cells in a single arena.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Column {
    text: String,
    ends: Vec<u32>,
}

impl Column {
    /// An empty column with room for `rows` cells of about `bytes` text in all.
    pub fn with_capacity(rows: usize, bytes: usize) -> Self {
        Column {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(rows),
        }
    }

    /// Reserves room for `rows` more cells of about `bytes` text in all.
    pub fn reserve(&mut self, rows: usize, bytes: usize) {
        self.text.reserve(bytes);
        self.ends.reserve(rows);
    }

    /// Bytes of text held.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Every cell's text, one after another.
    pub(crate) fn text_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The length in bytes of the longest cell (0 without cells).
    pub(crate) fn longest(&self) -> usize {
        let mut previous = 0;
        self.ends.iter().fold(0, |longest, &end| {
            let len = end - previous;
            previous = end;
            longest.max(len)
        }) as usize
    }

    /// Appends one cell. Fails only when the column passes 4 GiB.
    pub fn push(&mut self, cell: &str) -> Result<(), ColumnFull> {
        let end = u32::try_from(self.text.len() + cell.len()).map_err(|_| ColumnFull)?;
        self.text.push_str(cell);
        self.ends.push(end);
        Ok(())
    }

    /// Appends one cell that `write` appends to the given text (no copy of its own). Fails only
    /// when the column passes 4 GiB (then unchanged).
    pub(crate) fn push_with(&mut self, write: impl FnOnce(&mut String)) -> Result<(), ColumnFull> {
        let start = self.text.len();
        write(&mut self.text);
        match u32::try_from(self.text.len()) {
            Ok(end) => {
                self.ends.push(end);
                Ok(())
            }
            Err(_) => {
                self.text.truncate(start);
                Err(ColumnFull)
            }
        }
    }

    /// Appends every cell of `other`. Fails only when the column passes 4 GiB (then unchanged).
    pub fn append(&mut self, other: &Column) -> Result<(), ColumnFull> {
        let base = u32::try_from(self.text.len()).map_err(|_| ColumnFull)?;
        u32::try_from(self.text.len() + other.text.len()).map_err(|_| ColumnFull)?;
        self.text.push_str(&other.text);
        self.ends.extend(other.ends.iter().map(|&end| base + end));
        Ok(())
    }

    /// The cell of row `row`.
    #[inline]
    pub fn get(&self, row: usize) -> &str {
        let start = if row == 0 {
            0
        } else {
            self.ends[row - 1] as usize
        };
        &self.text[start..self.ends[row] as usize]
    }

    /// Starts loading the bounds of cell `row` (a cache hint for loops reading cells at
    /// scattered rows: fetch the bounds first, the text some rows later).
    #[inline]
    pub(crate) fn prefetch_bounds(&self, row: usize) {
        if let Some(end) = self.ends.get(row.saturating_sub(1)) {
            prefetch(end);
        }
    }

    /// Starts loading the text of cell `row` (its bounds are read to find it: see
    /// [`Column::prefetch_bounds`]).
    #[inline]
    pub(crate) fn prefetch_text(&self, row: usize) {
        if row < self.len() {
            let (start, _) = self.span(row);
            if let Some(first_byte) = self.text.as_bytes().get(start as usize) {
                prefetch(first_byte);
            }
        }
    }

    /// Where cell `row` lies in the column's text (for holding on to it in 8 bytes).
    #[inline]
    pub fn span(&self, row: usize) -> (u32, u32) {
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        (start, self.ends[row])
    }

    /// The text of a span returned by [`Column::span`].
    #[inline]
    pub fn text(&self, (start, end): (u32, u32)) -> &str {
        &self.text[start as usize..end as usize]
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the column has no cells.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Heap bytes used (for memory reports).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * std::mem::size_of::<u32>()
    }
}

/// A named table of text columns, plus where each row came from (for error messages).
///
/// Cells are text as read; the engine interprets them by each criterion's field type. An
/// adapter builds a table row by row ([`Table::push_row`], giving each row's source line) or
/// from columns built in parallel ([`Table::from_columns`]); tests use [`Table::from_rows`].
///
/// ```
/// use coupler_engine::{Table, TableError};
///
/// let mut customers = Table::new("customers.csv", vec!["No.".into(), "Name".into()])?;
/// // Line 2 of the file (line 1 is the header).
/// customers.push_row(2, ["C1", "Contoso"])?;
/// customers.push_row(3, ["C2", "Fabrikam"])?;
/// assert_eq!(customers.len(), 2);
/// let name = customers.column_index("Name").unwrap();
/// assert_eq!(customers.cell(1, name), "Fabrikam");
/// assert_eq!(customers.origin(1), 3);
/// // A row must have one cell per column.
/// assert!(matches!(
///     customers.push_row(4, ["C3"]),
///     Err(TableError::RowWidth { expected: 2, found: 1, .. })
/// ));
/// assert_eq!(customers.len(), 2);
///
/// // The same table, from rows (origins count a header line).
/// let same = Table::from_rows(
///     "customers.csv",
///     &["No.", "Name"],
///     &[vec!["C1", "Contoso"], vec!["C2", "Fabrikam"]],
/// )?;
/// assert_eq!(same, customers);
/// # Ok::<(), TableError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    name: String,
    column_names: Vec<String>,
    columns: Vec<Column>,
    /// Source position (e.g. the 1-based line number of a CSV record) of each row; 32 bits
    /// (4 bytes a row matter at millions of rows), saturating beyond 4,294,967,295.
    origins: Vec<u32>,
}

impl Table {
    /// An empty table with the given column names.
    pub fn new(name: impl Into<String>, column_names: Vec<String>) -> Result<Self, TableError> {
        for (i, c) in column_names.iter().enumerate() {
            if column_names[..i].contains(c) {
                return Err(TableError::DuplicateColumn(c.clone()));
            }
        }
        let columns = column_names.iter().map(|_| Column::default()).collect();
        Ok(Table {
            name: name.into(),
            column_names,
            columns,
            origins: Vec::new(),
        })
    }

    /// Builds a table from rows of string slices; handy in tests. Origins are 1-based row
    /// numbers counting a header line (row 0 has origin 2).
    pub fn from_rows<S: AsRef<str>>(
        name: &str,
        column_names: &[&str],
        rows: &[Vec<S>],
    ) -> Result<Self, TableError> {
        let mut t = Table::new(name, column_names.iter().map(|s| s.to_string()).collect())?;
        for (i, row) in rows.iter().enumerate() {
            t.push_row(i as u64 + 2, row.iter().map(|s| s.as_ref()))?;
        }
        Ok(t)
    }

    /// Reserves room for `rows` more rows.
    pub fn reserve(&mut self, rows: usize) {
        self.origins.reserve(rows);
        for c in &mut self.columns {
            c.ends.reserve(rows);
        }
    }

    /// Appends a row; `cells` yields one value per column, in column order.
    pub fn push_row<'a>(
        &mut self,
        origin: u64,
        cells: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), TableError> {
        let row = self.origins.len();
        let mut n = 0;
        for cell in cells {
            if n < self.columns.len() {
                self.columns[n]
                    .push(cell)
                    .map_err(|_| TableError::ColumnTooLarge {
                        column: self.column_names[n].clone(),
                    })?;
            }
            n += 1;
        }
        if n != self.columns.len() {
            // Roll back the partial row so the table stays rectangular.
            for c in &mut self.columns {
                c.ends.truncate(row);
                let end = c.ends.last().copied().unwrap_or(0) as usize;
                c.text.truncate(end);
            }
            return Err(TableError::RowWidth {
                row,
                expected: self.columns.len(),
                found: n,
            });
        }
        self.origins.push(saturate(origin));
        Ok(())
    }

    /// Assembles a table from columns built elsewhere (e.g. by a parallel reader). Every column
    /// must hold one cell per origin.
    pub fn from_columns(
        name: impl Into<String>,
        column_names: Vec<String>,
        columns: Vec<Column>,
        origins: Vec<u64>,
    ) -> Result<Self, TableError> {
        let mut t = Table::new(name, column_names)?;
        if columns.len() != t.columns.len() {
            return Err(TableError::RowWidth {
                row: 0,
                expected: t.columns.len(),
                found: columns.len(),
            });
        }
        if let Some(c) = columns.iter().find(|c| c.len() != origins.len()) {
            return Err(TableError::RowWidth {
                row: c.len().min(origins.len()),
                expected: origins.len(),
                found: c.len(),
            });
        }
        t.columns = columns;
        t.origins = origins.into_iter().map(saturate).collect();
        Ok(t)
    }

    /// A table of the rows `rows` (in that order), with their origins: what is left of a
    /// source after a filter that applies as it is read (a table filter).
    ///
    /// ```
    /// use coupler_engine::Table;
    ///
    /// let t = Table::from_rows("t.csv", &["No."], &[vec!["C1"], vec!["C2"], vec!["C3"]])?;
    /// let kept = t.retain_rows(&[0, 2]);
    /// assert_eq!((kept.len(), kept.cell(1, 0), kept.origin(1)), (2, "C3", 4));
    /// # Ok::<(), coupler_engine::TableError>(())
    /// ```
    pub fn retain_rows(&self, rows: &[usize]) -> Table {
        let mut kept = Table {
            name: self.name.clone(),
            column_names: self.column_names.clone(),
            columns: self.columns.iter().map(|_| Column::default()).collect(),
            origins: rows.iter().map(|&r| self.origins[r]).collect(),
        };
        for (from, to) in self.columns.iter().zip(&mut kept.columns) {
            let bytes: usize = rows.iter().map(|&r| from.get(r).len()).sum();
            to.reserve(rows.len(), bytes);
            for &r in rows {
                // A subset of a column that fitted fits.
                to.push(from.get(r)).expect("a subset of a column fits");
            }
        }
        kept
    }

    /// The table's name (used in messages, e.g. a file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.origins.len()
    }

    /// True when the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// Column names, in order.
    pub fn column_names(&self) -> &[String] {
        &self.column_names
    }

    /// Index of a column by exact name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.column_names.iter().position(|c| c == name)
    }

    /// A column by index.
    pub fn column(&self, index: usize) -> &Column {
        &self.columns[index]
    }

    /// The cell at (`row`, `column`).
    #[inline]
    pub fn cell(&self, row: usize, column: usize) -> &str {
        self.columns[column].get(row)
    }

    /// Where row `row` came from (1-based line number for CSV, row number for XLSX).
    pub fn origin(&self, row: usize) -> u64 {
        u64::from(self.origins[row])
    }

    /// Heap bytes used by the table's cells.
    pub fn heap_bytes(&self) -> usize {
        self.columns.iter().map(Column::heap_bytes).sum::<usize>()
            + self.origins.capacity() * std::mem::size_of::<u32>()
    }
}

fn saturate(origin: u64) -> u32 {
    u32::try_from(origin).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_round_trip_including_empty_and_unicode() {
        let t = Table::from_rows("t", &["a", "b"], &[vec!["", "Zoë"], vec!["x y", ""]]).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.cell(0, 0), "");
        assert_eq!(t.cell(0, 1), "Zoë");
        assert_eq!(t.cell(1, 0), "x y");
        assert_eq!(t.cell(1, 1), "");
        assert_eq!(t.origin(1), 3);
    }

    #[test]
    fn short_row_is_rejected_and_rolled_back() {
        let mut t = Table::new("t", vec!["a".into(), "b".into()]).unwrap();
        t.push_row(2, ["1", "2"]).unwrap();
        let err = t.push_row(3, ["only"]).unwrap_err();
        assert_eq!(
            err,
            TableError::RowWidth {
                row: 1,
                expected: 2,
                found: 1
            }
        );
        assert_eq!(t.len(), 1);
        t.push_row(4, ["3", "4"]).unwrap();
        assert_eq!(t.cell(1, 1), "4");
    }

    #[test]
    fn duplicate_column_names_are_rejected() {
        assert!(matches!(
            Table::new("t", vec!["a".into(), "a".into()]),
            Err(TableError::DuplicateColumn(_))
        ));
    }
}
