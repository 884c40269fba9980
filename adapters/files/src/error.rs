//! The crate's single error type. Every message names the file, and where it applies the line
//! (CSV) or row (XLSX) and the column, because the Display text is what users see.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The hint appended to invalid-UTF-8 errors.
pub const WINDOWS_1252_HINT: &str =
    "set encoding = \"windows-1252\" if the file was saved by Excel as CSV";

/// Everything that can go wrong reading exports or writing outputs.
///
/// The `Display` text is the message for users; [`path`](Self::path), [`line`](Self::line) and
/// [`column`](Self::column) give its parts to code.
///
/// ```
/// use coupler_files::{read_table, FileSource, FilesError};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let columns = ["No.".to_string(), "Name".to_string()];
///
/// // A windows-1252 "ü" (0xFC) in a file read as UTF-8.
/// let path = dir.path().join("customers.csv");
/// std::fs::write(&path, b"No.,Name\n10000,M\xfcller GmbH\n")?;
/// let err = read_table(&FileSource::csv(&path), &columns, &|_| {}).unwrap_err();
/// assert_eq!(err.path(), path);
/// assert_eq!(err.line(), Some(2));
/// assert_eq!(err.column(), Some("Name"));
/// assert_eq!(
///     err.to_string(),
///     format!(
///         "{}: line 2, column 'Name': invalid UTF-8; \
///          set encoding = \"windows-1252\" if the file was saved by Excel as CSV",
///         path.display()
///     )
/// );
///
/// // A quote opened on line 3 and never closed.
/// let path = dir.path().join("vendors.csv");
/// std::fs::write(&path, "No.,Name\n20000,Acme\n20001,\"Smith & Sons\n20002,Bolt\n")?;
/// let err = read_table(&FileSource::csv(&path), &columns, &|_| {}).unwrap_err();
/// assert!(matches!(err, FilesError::MalformedCsv { .. }));
/// assert_eq!(err.path(), path);
/// assert_eq!(err.line(), Some(3));
/// assert!(err.to_string().contains("line 3: malformed CSV: a quoted value in column 'Name'"));
///
/// // A record with a field too many.
/// std::fs::write(&path, "No.,Name\n20000,Acme\n20001,Smith,Sons\n")?;
/// let err = read_table(&FileSource::csv(&path), &columns, &|_| {}).unwrap_err();
/// assert_eq!((err.line(), err.column()), (Some(3), None));
/// assert!(err.to_string().ends_with("line 3 has 3 fields but the header has 2"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FilesError {
    /// The file is missing, unreadable or unwritable.
    // The cause is part of the message and deliberately not a `source()`, so that error
    // chains printed by the CLI do not repeat it.
    #[error("{}: {cause}", path.display())]
    Io { path: PathBuf, cause: io::Error },

    /// The file (or sheet) has no header row.
    #[error("{}: the file is empty (no header row)", path.display())]
    Empty { path: PathBuf },

    /// Two header cells carry the same name. Positions are 1-based.
    #[error(
        "{}: column '{column}' appears twice in the header (columns {first} and {second})",
        path.display()
    )]
    DuplicateHeader {
        path: PathBuf,
        column: String,
        first: usize,
        second: usize,
    },

    /// A requested column is not in the header.
    #[error("{}: column '{column}' not found; {}", path.display(), ColumnList(suggestion, available))]
    ColumnNotFound {
        path: PathBuf,
        column: String,
        /// An existing column that differs only by case or surrounding spaces, or one close
        /// enough to be a typo.
        suggestion: Option<String>,
        /// The columns that do exist (blank header names left out).
        available: Vec<String>,
    },

    /// A record has a different number of fields than the header.
    #[error(
        "{}: line {line} has {found} fields but the header has {expected}",
        path.display()
    )]
    RaggedRow {
        path: PathBuf,
        line: u64,
        expected: u64,
        found: u64,
    },

    /// The CSV parser rejected the input.
    #[error("{}: {}malformed CSV: {message}", path.display(), LinePrefix(*line))]
    MalformedCsv {
        path: PathBuf,
        line: Option<u64>,
        message: String,
    },

    /// A cell that is used (header, requested or checked column) is not valid UTF-8.
    #[error(
        "{}: line {line}, column '{column}': invalid UTF-8; {WINDOWS_1252_HINT}",
        path.display()
    )]
    InvalidUtf8 {
        path: PathBuf,
        line: u64,
        column: String,
    },

    /// A value holds a NUL byte (0x00), which no text export contains: the file is binary, or
    /// UTF-16 (where every ASCII character comes with a NUL byte), or damaged.
    #[error(
        "{}: line {line}, column '{column}': a NUL byte: the file is binary or UTF-16, not a CSV export",
        path.display()
    )]
    NulByte {
        path: PathBuf,
        line: u64,
        column: String,
    },

    /// A UTF-8 byte-order mark after the start of the file (where a second export begins).
    #[error(
        "{}: line {line}: a byte-order mark in the middle of the file: two exports concatenated?",
        path.display()
    )]
    MidFileBom { path: PathBuf, line: u64 },

    /// A data row whose every value equals the header's name for that column (CSV: `sheet`
    /// is `None` and `line` a line; XLSX: a sheet row).
    #[error(
        "{}: the header repeated at {}: two exports concatenated?",
        path.display(),
        RowRef(sheet.as_deref(), *line)
    )]
    RepeatedHeader {
        path: PathBuf,
        line: u64,
        sheet: Option<String>,
    },

    /// The requested sheet is not in the workbook.
    #[error(
        "{}: sheet '{sheet}' not found; the sheets are: {}",
        path.display(),
        available.join(", ")
    )]
    SheetNotFound {
        path: PathBuf,
        sheet: String,
        available: Vec<String>,
    },

    /// An XLSX cell holds an error value such as `#DIV/0!`.
    #[error(
        "{}: sheet '{sheet}', row {row}, column '{column}': the cell holds the error {value}",
        path.display()
    )]
    CellError {
        path: PathBuf,
        sheet: String,
        row: u64,
        column: String,
        value: String,
    },

    /// The workbook could not be read (not an XLSX file, damaged, ...).
    #[error("{}: cannot read the workbook: {message}", path.display())]
    Xlsx { path: PathBuf, message: String },

    /// A couplings row has one id but not the other.
    #[error(
        "{}: line {line}: '{blank}' is blank but '{other}' is '{value}'",
        path.display()
    )]
    HalfCoupling {
        path: PathBuf,
        line: u64,
        blank: String,
        other: String,
        value: String,
    },

    /// The table could not be built (a requested column listed twice, a column over 4 GiB).
    #[error("{}: {cause}", path.display())]
    Table {
        path: PathBuf,
        cause: coupler_engine::TableError,
    },

    /// Writing a CSV failed for a reason other than I/O (e.g. a row of the wrong width).
    #[error("{}: cannot write: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

impl FilesError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            FilesError::Io { path, .. }
            | FilesError::Empty { path }
            | FilesError::DuplicateHeader { path, .. }
            | FilesError::ColumnNotFound { path, .. }
            | FilesError::RaggedRow { path, .. }
            | FilesError::MalformedCsv { path, .. }
            | FilesError::InvalidUtf8 { path, .. }
            | FilesError::NulByte { path, .. }
            | FilesError::MidFileBom { path, .. }
            | FilesError::RepeatedHeader { path, .. }
            | FilesError::SheetNotFound { path, .. }
            | FilesError::CellError { path, .. }
            | FilesError::Xlsx { path, .. }
            | FilesError::HalfCoupling { path, .. }
            | FilesError::Table { path, .. }
            | FilesError::Write { path, .. } => path,
        }
    }

    /// The 1-based line (CSV) or sheet row (XLSX) the error is about, when there is one.
    pub fn line(&self) -> Option<u64> {
        match self {
            FilesError::RaggedRow { line, .. }
            | FilesError::InvalidUtf8 { line, .. }
            | FilesError::NulByte { line, .. }
            | FilesError::MidFileBom { line, .. }
            | FilesError::RepeatedHeader { line, .. }
            | FilesError::HalfCoupling { line, .. } => Some(*line),
            FilesError::CellError { row, .. } => Some(*row),
            FilesError::MalformedCsv { line, .. } => *line,
            _ => None,
        }
    }

    /// The column the error is about, when there is one.
    pub fn column(&self) -> Option<&str> {
        match self {
            FilesError::DuplicateHeader { column, .. }
            | FilesError::ColumnNotFound { column, .. }
            | FilesError::InvalidUtf8 { column, .. }
            | FilesError::NulByte { column, .. }
            | FilesError::CellError { column, .. } => Some(column),
            FilesError::HalfCoupling { blank, .. } => Some(blank),
            _ => None,
        }
    }

    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        FilesError::Io {
            path: path.to_path_buf(),
            cause: source,
        }
    }
}

struct ColumnList<'a>(&'a Option<String>, &'a [String]);

impl fmt::Display for ColumnList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.0 {
            write!(f, "did you mean '{s}'? ")?;
        }
        if self.1.is_empty() {
            write!(f, "the file has no named columns")
        } else {
            write!(f, "the columns are: {}", self.1.join(", "))
        }
    }
}

/// "line N" (CSV) or "sheet 'S', row N" (XLSX).
struct RowRef<'a>(Option<&'a str>, u64);

impl fmt::Display for RowRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(sheet) => write!(f, "sheet '{sheet}', row {}", self.1),
            None => write!(f, "line {}", self.1),
        }
    }
}

struct LinePrefix(Option<u64>);

impl fmt::Display for LinePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(l) => write!(f, "line {l}: "),
            None => Ok(()),
        }
    }
}
