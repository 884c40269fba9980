//! Reading exports: CSV (any of four delimiters, UTF-8 or windows-1252) and XLSX sheets, into
//! the engine's [`Table`], keeping only the columns a mapping asks for.
//!
//! This module owns everything about *getting text out of a file*: delimiter detection,
//! decoding, header handling, spreadsheet cell formatting, and pointing at the exact line/row and
//! column when something is wrong. It does not interpret the values (trimming, case, duplicate
//! ids are the engine's business): cells are handed over exactly as they are in the file.

mod csv_file;
mod decode;
mod tokenize;
mod utf8;
mod xlsx;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use coupler_engine::{Table, TableError};

use crate::FilesError;

pub(crate) use csv_file::open_csv;

/// A deterministic pseudo-random sequence (xorshift64) for this module's randomized tests.
#[cfg(test)]
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// CSV helpers shared with [`crate::write::read_couplings`].
pub(crate) mod csv_helpers {
    pub(crate) use super::csv_file::{header_name, read_first};
}

/// Text encoding of a CSV file.
///
/// Files are read as UTF-8 unless told otherwise; a file Excel saved as "CSV" on Western
/// Windows is windows-1252, and reading it as UTF-8 fails on the first accented letter with a
/// message that says what to set:
///
/// ```
/// use coupler_files::{read_table, CsvOptions, Encoding, FileSource, SourceFormat};
/// use coupler_files::{FilesError, WINDOWS_1252_HINT};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("kunden.csv");
/// // "Müller" and "€" in windows-1252: 0xFC and 0x80, not valid UTF-8.
/// std::fs::write(&path, b"Name;Limit\r\nM\xfcller GmbH;5000 \x80\r\n")?;
/// let columns = ["Name".to_string(), "Limit".to_string()];
///
/// let mut source = FileSource::csv(&path);
/// let err = read_table(&source, &columns, &|_| {}).unwrap_err();
/// assert!(matches!(err, FilesError::InvalidUtf8 { line: 2, .. }));
/// assert!(err.to_string().ends_with(WINDOWS_1252_HINT));
///
/// source.format = SourceFormat::Csv(CsvOptions {
///     encoding: Encoding::Windows1252,
///     ..CsvOptions::default()
/// });
/// let table = read_table(&source, &columns, &|_| {})?;
/// assert_eq!(table.cell(0, 0), "Müller GmbH");
/// assert_eq!(table.cell(0, 1), "5000 €");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8; a leading byte-order mark is stripped.
    #[default]
    Utf8,
    /// Windows-1252 ("ANSI" on Western Windows; what Excel writes for "CSV (Comma delimited)").
    Windows1252,
}

/// How to parse a CSV file.
///
/// The default detects the delimiter, reads UTF-8 and takes the first line as the header. A
/// file Excel saves as "CSV" where the list separator is `;` (Germany, France, most of Europe)
/// is semicolon-delimited windows-1252 with CRLF line ends:
///
/// ```
/// use coupler_files::{read_table, CsvOptions, Encoding, FileSource, SourceFormat};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("debitoren.csv");
/// std::fs::write(
///     &path,
///     b"Nr.;Name;Ort\r\n10000;M\xfcller GmbH;K\xf6ln\r\n10001;Caf\xe9 Cr\xe8me SARL;Paris\r\n",
/// )?;
///
/// let options = CsvOptions {
///     delimiter: Some(b';'), // `None` would detect it from the header line
///     encoding: Encoding::Windows1252,
///     has_headers: true,
/// };
/// let source = FileSource {
///     path: path.clone(),
///     format: SourceFormat::Csv(options),
/// };
/// let table = read_table(&source, &["Nr.".to_string(), "Ort".to_string()], &|_| {})?;
/// assert_eq!(table.len(), 2);
/// assert_eq!((table.cell(0, 0), table.cell(0, 1)), ("10000", "Köln"));
/// assert_eq!((table.cell(1, 0), table.cell(1, 1)), ("10001", "Paris"));
///
/// // Without headers the columns are named by position and the first line is data.
/// let source = FileSource {
///     path,
///     format: SourceFormat::Csv(CsvOptions {
///         has_headers: false,
///         encoding: Encoding::Windows1252,
///         ..CsvOptions::default()
///     }),
/// };
/// let table = read_table(&source, &["2".to_string()], &|_| {})?;
/// assert_eq!(table.len(), 3);
/// assert_eq!(table.cell(0, 0), "Name");
/// assert_eq!(table.cell(2, 0), "Café Crème SARL");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field delimiter; `None` detects one of `,` `;` tab `|` from the header line.
    pub delimiter: Option<u8>,
    /// Text encoding.
    pub encoding: Encoding,
    /// When false, columns are named "1", "2", … and the first line is data.
    pub has_headers: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: None,
            encoding: Encoding::Utf8,
            has_headers: true,
        }
    }
}

/// The kind of file and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFormat {
    /// A delimited text file.
    Csv(CsvOptions),
    /// An Excel workbook; the first sheet unless one is named. The first row is the header.
    Xlsx { sheet: Option<String> },
}

/// A file to read a table from.
///
/// [`FileSource::csv`] and [`FileSource::xlsx`] cover the usual case; the fields are public for
/// the rest (CSV options, a named sheet):
///
/// ```
/// use coupler_files::{CsvOptions, FileSource, SourceFormat};
///
/// let source = FileSource::xlsx("exports/accounts.xlsx");
/// assert_eq!(source.format, SourceFormat::Xlsx { sheet: None }); // the first sheet
///
/// let contacts = FileSource {
///     format: SourceFormat::Xlsx {
///         sheet: Some("Contacts".to_string()),
///     },
///     ..source
/// };
/// assert_eq!(contacts.path.to_str(), Some("exports/accounts.xlsx"));
///
/// let mut csv = FileSource::csv("exports/customers.csv");
/// if let SourceFormat::Csv(options) = &mut csv.format {
///     options.delimiter = Some(b'|');
/// }
/// assert_eq!(
///     csv.format,
///     SourceFormat::Csv(CsvOptions {
///         delimiter: Some(b'|'),
///         ..CsvOptions::default()
///     })
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    pub path: PathBuf,
    pub format: SourceFormat,
}

impl FileSource {
    /// A CSV source with default options (detected delimiter, UTF-8, header row).
    ///
    /// ```
    /// use coupler_files::{read_table, FileSource};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("customers.csv");
    /// std::fs::write(&path, "No.;Name\n10000;Müller GmbH\n10001;\"Smith; Sons\"\n")?;
    ///
    /// // `;` is detected from the header line; the quoted `;` is part of the value.
    /// let table = read_table(&FileSource::csv(&path), &["Name".to_string()], &|_| {})?;
    /// assert_eq!(table.cell(0, 0), "Müller GmbH");
    /// assert_eq!(table.cell(1, 0), "Smith; Sons");
    /// # Ok(())
    /// # }
    /// ```
    pub fn csv(path: impl Into<PathBuf>) -> Self {
        FileSource {
            path: path.into(),
            format: SourceFormat::Csv(CsvOptions::default()),
        }
    }

    /// An XLSX source reading the first sheet.
    ///
    /// Cells come out as the text Excel shows: whole numbers without `.0`, dates as
    /// `YYYY-MM-DD`. Row origins are sheet row numbers.
    ///
    /// ```
    /// use coupler_files::{read_table, FileSource};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("accounts.xlsx");
    /// // A small accounts export (written here with rust_xlsxwriter).
    /// let mut workbook = rust_xlsxwriter::Workbook::new();
    /// let sheet = workbook.add_worksheet();
    /// sheet.write_string(0, 0, "Account Number")?;
    /// sheet.write_string(0, 1, "Account Name")?;
    /// sheet.write_string(0, 2, "Credit Limit")?;
    /// sheet.write_number(1, 0, 10000)?;
    /// sheet.write_string(1, 1, "Müller GmbH")?;
    /// sheet.write_number(1, 2, 2500.5)?;
    /// workbook.save(&path)?;
    ///
    /// let columns = ["Account Number".to_string(), "Credit Limit".to_string()];
    /// let table = read_table(&FileSource::xlsx(&path), &columns, &|_| {})?;
    /// assert_eq!(table.len(), 1);
    /// assert_eq!(table.cell(0, 0), "10000");
    /// assert_eq!(table.cell(0, 1), "2500.5");
    /// assert_eq!(table.origin(0), 2); // sheet row 2, under the header
    /// # Ok(())
    /// # }
    /// ```
    pub fn xlsx(path: impl Into<PathBuf>) -> Self {
        FileSource {
            path: path.into(),
            format: SourceFormat::Xlsx { sheet: None },
        }
    }
}

/// Column names of the source (header row), for `validate` and for error messages.
///
/// Reads only the first record (CSV) or the first used row (XLSX). Fails on an empty file,
/// invalid UTF-8 in the header, or a name that appears twice (blank names may repeat: Excel
/// writes trailing empty columns as `a;b;;`).
///
/// ```
/// use coupler_files::{read_header, FileSource};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("customers.csv");
/// // Excel keeps formatted but empty columns as trailing delimiters.
/// std::fs::write(&path, "No.;Name;Phone No.;;\r\n10000;Müller GmbH;+49 30 1234;;\r\n")?;
///
/// let header = read_header(&FileSource::csv(&path))?;
/// assert_eq!(header, ["No.", "Name", "Phone No.", "", ""]);
///
/// std::fs::write(&path, "No.,Name,No.\n")?;
/// let err = read_header(&FileSource::csv(&path)).unwrap_err();
/// assert!(err
///     .to_string()
///     .ends_with("column 'No.' appears twice in the header (columns 1 and 3)"));
/// # Ok(())
/// # }
/// ```
pub fn read_header(source: &FileSource) -> Result<Vec<String>, FilesError> {
    match &source.format {
        SourceFormat::Csv(options) => csv_file::read_header(&source.path, options),
        SourceFormat::Xlsx { sheet } => xlsx::read_header(&source.path, sheet.as_deref()),
    }
}

/// Reads the rows, keeping only `columns` (in that order).
///
/// The table's name is the file name (basename, e.g. "accounts.csv"); each row's origin is the
/// 1-based line number where the CSV record starts (header is line 1), or the 1-based sheet row
/// for XLSX. `progress` gets the number of bytes consumed so far now and then (about every MiB)
/// and once at the end.
///
/// Every file is checked whole for what no export holds: a NUL byte (a binary or UTF-16 file), a
/// UTF-8 byte-order mark after the start or a data row equal to the header row (two exports
/// concatenated), a quoted value that is never closed. Values are checked for UTF-8 in the
/// requested columns only (see [`read_table_checking`] for columns that are used but not read).
///
/// ```
/// use std::cell::Cell;
/// use coupler_files::{read_table, FileSource};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("customers.csv");
/// std::fs::write(
///     &path,
///     "No.,Name,City,Phone No.\n\
///      10000,Müller GmbH,Berlin,+49 30 1234\n\
///      \n\
///      10001,\"Smith, J.\",London,\n",
/// )?;
///
/// let columns = ["Name".to_string(), "No.".to_string()];
/// let bytes_read = Cell::new(0);
/// let table = read_table(&FileSource::csv(&path), &columns, &|n| bytes_read.set(n))?;
///
/// assert_eq!(table.name(), "customers.csv");
/// assert_eq!(table.column_names(), ["Name", "No."]); // in the order asked for
/// assert_eq!(table.len(), 2); // the blank line is no row
/// assert_eq!((table.cell(0, 0), table.cell(0, 1)), ("Müller GmbH", "10000"));
/// assert_eq!((table.cell(1, 0), table.cell(1, 1)), ("Smith, J.", "10001"));
/// let no = table.column_index("No.").unwrap();
/// assert_eq!(table.column(no).get(1), "10001");
/// // Origins are the lines the records start on (the header is line 1).
/// assert_eq!((table.origin(0), table.origin(1)), (2, 4));
/// assert_eq!(bytes_read.get(), std::fs::metadata(&path)?.len());
/// # Ok(())
/// # }
/// ```
pub fn read_table(
    source: &FileSource,
    columns: &[String],
    progress: &dyn Fn(u64),
) -> Result<Table, FilesError> {
    read_table_checking(source, columns, &[], progress)
}

/// [`read_table`], also checking the values of the `checked` columns as if they were read
/// (invalid UTF-8 in a CSV, an error value in an XLSX cell fail the same way) without keeping
/// them: for columns a job uses later, such as the fields a synchronization would copy.
/// `checked` columns must exist; those also in `columns` are checked once.
///
/// ```
/// use coupler_files::{read_table, read_table_checking, FileSource};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("customers.csv");
/// // Line 3's phone number holds a windows-1252 byte (0xA0, a no-break space).
/// std::fs::write(
///     &path,
///     b"No.,Name,Phone No.\n10000,M\xc3\xbcller GmbH,+49 30 1234\n10001,Smith,+44\xa020 7946\n",
/// )?;
/// let source = FileSource::csv(&path);
/// let columns = ["No.".to_string(), "Name".to_string()];
///
/// // Reading the two columns alone does not look at the phone numbers...
/// let table = read_table(&source, &columns, &|_| {})?;
/// assert_eq!((table.cell(0, 1), table.cell(1, 1)), ("Müller GmbH", "Smith"));
///
/// // ...checking them as well finds the bad value, without keeping the column.
/// let checked = ["Phone No.".to_string()];
/// let err = read_table_checking(&source, &columns, &checked, &|_| {}).unwrap_err();
/// assert_eq!((err.line(), err.column()), (Some(3), Some("Phone No.")));
///
/// // A clean column passes and is not part of the table.
/// let table = read_table_checking(&source, &columns[..1], &columns[1..], &|_| {})?;
/// assert_eq!(table.column_names(), ["No."]);
/// # Ok(())
/// # }
/// ```
pub fn read_table_checking(
    source: &FileSource,
    columns: &[String],
    checked: &[String],
    progress: &dyn Fn(u64),
) -> Result<Table, FilesError> {
    check_requested(&source.path, columns)?;
    match &source.format {
        SourceFormat::Csv(options) => {
            csv_file::read_table(&source.path, options, columns, checked, progress)
        }
        SourceFormat::Xlsx { sheet } => {
            xlsx::read_table(&source.path, sheet.as_deref(), columns, checked, progress)
        }
    }
}

/// Picks the delimiter of a header line: the most frequent of `,` `;` tab `|` outside double
/// quotes; ties go to the earlier one in that order; none at all gives `,` (a one-column file).
/// Only the first line (up to a newline outside quotes) is looked at.
///
/// ```
/// use coupler_files::detect_delimiter;
///
/// assert_eq!(detect_delimiter(b"No.;Name;City\r\n10000;M\xfcller, Hans;K\xf6ln"), b';');
/// assert_eq!(detect_delimiter(b"\"Name, first\"\t\"Name, last\"\tCity"), b'\t');
/// assert_eq!(detect_delimiter(b"No.|Name"), b'|');
/// // A tie goes to the earlier of `,` `;` tab `|`; no delimiter at all is one column.
/// assert_eq!(detect_delimiter(b"No.;Name,City"), b',');
/// assert_eq!(detect_delimiter(b"No."), b',');
/// ```
pub fn detect_delimiter(header_line: &[u8]) -> u8 {
    const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
    let mut counts = [0usize; 4];
    let mut quoted = false;
    for &b in header_line {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = CANDIDATES.iter().position(|&c| c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let mut best = 0;
    for i in 1..CANDIDATES.len() {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    CANDIDATES[best]
}

/// The name a table read from `path` gets: the file name.
pub(crate) fn table_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn is_blank(name: &str) -> bool {
    name.trim().is_empty()
}

/// Fails when a non-blank header name appears twice.
pub(crate) fn check_duplicates(path: &Path, names: &[String]) -> Result<(), FilesError> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if is_blank(name) {
            continue;
        }
        if let Some(&first) = seen.get(name.as_str()) {
            return Err(FilesError::DuplicateHeader {
                path: path.to_path_buf(),
                column: name.clone(),
                first: first + 1,
                second: i + 1,
            });
        }
        seen.insert(name, i);
    }
    Ok(())
}

/// Fails when the caller asks for the same column twice (before reading a large file).
fn check_requested(path: &Path, columns: &[String]) -> Result<(), FilesError> {
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(FilesError::Table {
                path: path.to_path_buf(),
                cause: TableError::DuplicateColumn(c.clone()),
            });
        }
    }
    Ok(())
}

/// Checks that every requested column is in a header read with [`read_header`]; the error
/// lists the columns that exist, and suggests the closest name: one that differs only by case
/// or surrounding spaces, else one close enough to be a typo. `path` is only used in the
/// message.
///
/// ```
/// use std::path::Path;
/// use coupler_files::check_columns;
///
/// let path = Path::new("customers.csv");
/// let header = ["No.", "Name", "Phone No."].map(String::from);
///
/// assert!(check_columns(path, &header, &["Name".to_string(), "No.".to_string()]).is_ok());
///
/// let err = check_columns(path, &header, &["Phone Nr.".to_string()]).unwrap_err();
/// assert_eq!(err.column(), Some("Phone Nr."));
/// assert_eq!(
///     err.to_string(),
///     "customers.csv: column 'Phone Nr.' not found; did you mean 'Phone No.'? \
///      the columns are: No., Name, Phone No."
/// );
///
/// let err = check_columns(path, &header, &["name".to_string()]).unwrap_err();
/// assert!(err.to_string().contains("did you mean 'Name'?"));
/// ```
pub fn check_columns(
    path: &Path,
    header: &[String],
    requested: &[String],
) -> Result<(), FilesError> {
    resolve_columns(path, header, requested).map(|_| ())
}

/// The header name most like `wanted` (lower-cased), if one is close: a typo or a missing
/// word (case-insensitive Jaro-Winkler of at least 0.85, as the Dataverse adapter suggests
/// column names).
fn closest_name<'a>(wanted: &str, names: &'a [String]) -> Option<&'a String> {
    names
        .iter()
        .filter(|n| !is_blank(n))
        .map(|n| (strsim::jaro_winkler(wanted, &n.trim().to_lowercase()), n))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}

/// Positions of `requested` in `names`, or a message listing what exists.
pub(crate) fn resolve_columns(
    path: &Path,
    names: &[String],
    requested: &[String],
) -> Result<Vec<usize>, FilesError> {
    requested
        .iter()
        .map(|r| {
            let mut hits = names.iter().enumerate().filter(|(_, n)| *n == r);
            match (hits.next(), hits.next()) {
                (Some((i, _)), None) => Ok(i),
                // Only blank names can repeat (check_duplicates); asking for one is ambiguous.
                (Some((i, _)), Some((j, _))) => Err(FilesError::DuplicateHeader {
                    path: path.to_path_buf(),
                    column: r.clone(),
                    first: i + 1,
                    second: j + 1,
                }),
                (None, _) => {
                    let key = r.trim().to_lowercase();
                    let suggestion = names
                        .iter()
                        .find(|n| !is_blank(n) && n.trim().to_lowercase() == key)
                        .or_else(|| closest_name(&key, names))
                        .cloned();
                    Err(FilesError::ColumnNotFound {
                        path: path.to_path_buf(),
                        column: r.clone(),
                        suggestion,
                        available: names.iter().filter(|n| !is_blank(n)).cloned().collect(),
                    })
                }
            }
        })
        .collect()
}

/// Converts a column that outgrew the engine's arena into a file error.
pub(crate) fn too_large(path: &Path, column: &str) -> FilesError {
    FilesError::Table {
        path: path.to_path_buf(),
        cause: TableError::ColumnTooLarge {
            column: column.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_counts_outside_quotes_and_breaks_ties_in_order() {
        assert_eq!(detect_delimiter(b"a,b,c"), b',');
        assert_eq!(detect_delimiter(b"a;b;c"), b';');
        assert_eq!(detect_delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(detect_delimiter(b"a|b|c"), b'|');
        assert_eq!(detect_delimiter(b"\"a,b,c\";d"), b';');
        assert_eq!(detect_delimiter(b"a;b,c"), b',');
        assert_eq!(detect_delimiter(b"a|b\tc"), b'\t');
        assert_eq!(detect_delimiter(b"name"), b',');
        assert_eq!(detect_delimiter(b"a;b\nc,d,e,f"), b';');
        assert_eq!(detect_delimiter(b"\"x\ny,z\";a\n"), b';');
    }
}
