//! Writing outputs: results/couplings CSVs that are safe to open in a spreadsheet, and atomic
//! writes (temp file in the target folder, fsync, rename) so a crash or an error never leaves a
//! half-written file where a good one used to be. Also reads back a couplings CSV.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::block_file::BlockFile;
use crate::read::csv_helpers::{header_name, read_first};
use crate::read::{open_csv, resolve_columns, Encoding};
use crate::FilesError;

/// Bytes of rows [`SafeCsvWriter::write_row`] encodes before handing them to the file.
const BUFFER: usize = 1 << 20;

/// True when a spreadsheet program would treat `value` as a formula (or strip a leading control
/// character and then do so): it starts with `=`, `+`, `-`, `@`, tab or carriage return.
///
/// This is the test [`RowEncoder`] and [`SafeCsvWriter`] apply to every value of a column not
/// marked raw. It looks at the first character only, so phone numbers and negative amounts are
/// guarded too.
///
/// ```
/// use coupler_files::needs_formula_guard;
///
/// assert!(needs_formula_guard("=HYPERLINK(\"http://example.com\")"));
/// assert!(needs_formula_guard("@SUM(A1:A9)"));
/// assert!(needs_formula_guard("+49 30 1234"));
/// assert!(needs_formula_guard("-42"));
/// assert!(needs_formula_guard("\t=1+1"));
/// assert!(!needs_formula_guard("Müller GmbH"));
/// assert!(!needs_formula_guard(" =1+1")); // only the first character counts
/// assert!(!needs_formula_guard(""));
/// ```
pub fn needs_formula_guard(value: &str) -> bool {
    matches!(
        value.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// The folder a file at `path` lives in, created if needed.
fn prepare_dir(path: &Path) -> Result<PathBuf, FilesError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| FilesError::io(&dir, e))?;
    Ok(dir)
}

/// A temp file next to `path`; it is deleted when dropped unless persisted.
fn temp_next_to(path: &Path) -> Result<NamedTempFile, FilesError> {
    let dir = prepare_dir(path)?;
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{stem}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // An ordinary file (umask applies), not tempfile's owner-only default.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    builder
        .tempfile_in(&dir)
        .map_err(|e| FilesError::io(path, e))
}

/// fsyncs `file` and renames it over `path`.
fn persist(file: NamedTempFile, path: &Path) -> Result<(), FilesError> {
    file.as_file()
        .sync_all()
        .map_err(|e| FilesError::io(path, e))?;
    file.persist(path)
        .map_err(|e| FilesError::io(path, e.error))?;
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        // Make the rename itself durable; best effort.
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes bytes atomically (for job.json): temp file in the same folder, fsync, rename.
/// Creates parent folders. On error any existing file at `path` is left untouched.
///
/// ```
/// use coupler_files::write_atomically;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("CUSTOMER").join("job.json");
///
/// write_atomically(&path, br#"{"status":"running"}"#)?; // creates CUSTOMER/
/// write_atomically(&path, br#"{"status":"done"}"#)?; // replaces the file whole
///
/// assert_eq!(std::fs::read_to_string(&path)?, r#"{"status":"done"}"#);
/// // No temp file is left beside it.
/// assert_eq!(std::fs::read_dir(dir.path().join("CUSTOMER"))?.count(), 1);
/// # Ok(())
/// # }
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FilesError> {
    let mut file = temp_next_to(path)?;
    file.write_all(bytes).map_err(|e| FilesError::io(path, e))?;
    persist(file, path)
}

/// Encodes CSV rows into memory, guarding against formula injection: the part of
/// [`SafeCsvWriter`] that can run on many threads at once (each with its own encoder) while one
/// thread appends the encoded blocks to the file in order with
/// [`SafeCsvWriter::write_encoded`].
///
/// In columns not marked raw, a value starting with `=`, `+`, `-`, `@`, tab or carriage return
/// is written with a leading `'` so spreadsheet programs show it as text instead of running it.
///
/// Quoting is the `csv` crate's "necessary" style with `\n` line ends, written directly into
/// the buffer (a test checks it byte for byte against the crate): a field is quoted only when it
/// holds a comma, a quote, `\r` or `\n`, quotes inside doubled. Going through the crate's writer
/// cost a state machine per field and a second copy of every byte (a tenth of rendering 1M
/// records' results).
///
/// ```
/// use coupler_files::RowEncoder;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Column 0 (an id) is written as-is, column 1 is guarded.
/// let mut encoder = RowEncoder::new(&[true, false]);
/// encoder.encode(["-1", "=1+1"])?;
/// encoder.encode(["10000", "Smith, \"J.\""])?;
/// encoder.encode(["10001", "+49 30 1234"])?;
/// assert_eq!(
///     encoder.take(),
///     b"-1,'=1+1\n10000,\"Smith, \"\"J.\"\"\"\n10001,'+49 30 1234\n"
/// );
/// assert!(encoder.is_empty());
///
/// let err = encoder.encode(["10002"]).unwrap_err();
/// assert_eq!(err, "a row has 1 fields but the header has 2");
/// // A refused row leaves nothing behind.
/// assert!(encoder.is_empty());
/// # Ok(())
/// # }
/// ```
///
/// Encoding on several threads, appending in order (see [`SafeCsvWriter::row_encoder`]):
///
/// ```
/// use coupler_files::SafeCsvWriter;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("results.csv");
/// let rows: Vec<[String; 2]> = (0..1000)
///     .map(|i| [format!("{}", 10000 + i), format!("=A{i}")])
///     .collect();
///
/// let mut writer = SafeCsvWriter::new(&path, &["local_id", "name"], &[true])?;
/// let blocks: Vec<Vec<u8>> = std::thread::scope(|scope| {
///     let workers: Vec<_> = rows
///         .chunks(250)
///         .map(|chunk| {
///             let mut encoder = writer.row_encoder();
///             scope.spawn(move || {
///                 for row in chunk {
///                     encoder.encode(row).expect("two fields a row");
///                 }
///                 encoder.take()
///             })
///         })
///         .collect();
///     workers.into_iter().map(|w| w.join().unwrap()).collect()
/// });
/// for block in &blocks {
///     writer.write_encoded(block)?;
/// }
/// writer.finish()?;
///
/// let text = std::fs::read_to_string(&path)?;
/// assert_eq!(text.lines().count(), 1001);
/// assert_eq!(text.lines().nth(1), Some("10000,'=A0"));
/// assert_eq!(text.lines().last(), Some("10999,'=A999"));
/// # Ok(())
/// # }
/// ```
pub struct RowEncoder {
    out: Vec<u8>,
    raw: Vec<bool>,
    width: usize,
}

impl Clone for RowEncoder {
    fn clone(&self) -> Self {
        RowEncoder::new(&self.raw)
    }
}

impl std::fmt::Debug for RowEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowEncoder")
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

/// Whether `field` holds a byte that makes it quoted: a comma, a quote, `\r` or `\n`. Eight
/// bytes at a time (a byte equals `b` where `x ^ b…b` has a zero byte, and the zero-byte test
/// below is exact for "any"): this scan runs over every byte of every output file.
fn needs_quotes(field: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_byte = |x: u64, b: u8| {
        let y = x ^ (ONES * u64::from(b));
        y.wrapping_sub(ONES) & !y & HIGHS != 0
    };
    let mut chunks = field.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        if has_byte(x, b',') || has_byte(x, b'"') || has_byte(x, b'\r') || has_byte(x, b'\n') {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

impl RowEncoder {
    /// An encoder for rows of `raw_columns.len()` fields; `raw_columns[i]` writes column `i`
    /// as-is.
    pub fn new(raw_columns: &[bool]) -> Self {
        RowEncoder {
            out: Vec::with_capacity(1 << 16),
            raw: raw_columns.to_vec(),
            width: raw_columns.len(),
        }
    }

    /// Appends one field: `guard` (a leading `'`) then `field`, quoted if either needs it.
    fn push_field(&mut self, guard: bool, field: &[u8]) {
        if !needs_quotes(field) {
            if guard {
                self.out.push(b'\'');
            }
            self.out.extend_from_slice(field);
            return;
        }
        self.out.push(b'"');
        if guard {
            self.out.push(b'\'');
        }
        for (i, piece) in field.split(|&b| b == b'"').enumerate() {
            if i > 0 {
                self.out.extend_from_slice(b"\"\"");
            }
            self.out.extend_from_slice(piece);
        }
        self.out.push(b'"');
    }

    /// Encodes one row (one field per column). Errors only on a row of the wrong width, with
    /// the message of [`FilesError::Write`] minus the path.
    pub fn encode<I, S>(&mut self, fields: I) -> Result<(), String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let row_start = self.out.len();
        let mut n = 0;
        for field in fields {
            let field = field.as_ref();
            if n > 0 {
                self.out.push(b',');
            }
            let guarded = n >= self.width || !self.raw[n];
            self.push_field(guarded && needs_formula_guard(field), field.as_bytes());
            n += 1;
        }
        // A row of nothing would read back as no row at all.
        if self.out.len() == row_start {
            self.out.extend_from_slice(b"\"\"");
        }
        self.out.push(b'\n');
        if n != self.width {
            // The ragged row is taken back: what was encoded before it stays whole.
            self.out.truncate(row_start);
            return Err(format!(
                "a row has {n} fields but the header has {}",
                self.width
            ));
        }
        Ok(())
    }

    /// Bytes encoded so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True when nothing is encoded.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Takes the encoded bytes, leaving the encoder empty.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.out, Vec::with_capacity(1 << 16))
    }
}

/// Streams a CSV file to disk atomically, guarding against formula injection.
///
/// UTF-8 without BOM, `\n` line endings, standard CSV quoting. Rows go in 2 MiB blocks (past
/// the page cache where the file system allows it, see `block_file.rs`) into a temp file in the
/// target folder; [`finish`](Self::finish) fsyncs it and renames it over
/// `path`. Dropping the writer without `finish` (e.g. on an error path) deletes the temp file
/// and leaves any existing file at `path` untouched.
///
/// Values are guarded as [`RowEncoder`] describes; the header is written as given. Rows can be
/// written one by one ([`write_row`](Self::write_row)) or encoded elsewhere, in parallel, and
/// appended in order ([`row_encoder`](Self::row_encoder), [`write_encoded`](Self::write_encoded)).
///
/// ```
/// use coupler_files::SafeCsvWriter;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("CUSTOMER").join("results.csv");
///
/// // The two id columns are written as-is; `name` is guarded.
/// let header = ["local_id", "integration_id", "name"];
/// let mut writer = SafeCsvWriter::new(&path, &header, &[true, true])?;
/// writer.write_row(["10000", "acc-1", "Müller, Hans"])?;
/// writer.write_row(["10001", "acc-2", "=1+2"])?;
/// writer.write_row(vec![
///     "10002".to_string(),
///     String::new(),
///     r#"=HYPERLINK("http://example.com")"#.to_string(),
/// ])?;
/// assert!(!path.exists()); // written aside until finished
/// writer.finish()?;
///
/// assert_eq!(
///     std::fs::read_to_string(&path)?,
///     "local_id,integration_id,name\n\
///      10000,acc-1,\"Müller, Hans\"\n\
///      10001,acc-2,'=1+2\n\
///      10002,,\"'=HYPERLINK(\"\"http://example.com\"\")\"\n"
/// );
/// # Ok(())
/// # }
/// ```
pub struct SafeCsvWriter {
    path: PathBuf,
    file: BlockFile,
    encoder: RowEncoder,
}

impl std::fmt::Debug for SafeCsvWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeCsvWriter")
            .field("path", &self.path)
            .field("width", &self.encoder.width)
            .finish_non_exhaustive()
    }
}

impl SafeCsvWriter {
    /// Starts writing `path` (creating parent folders) and writes the header.
    /// `raw_columns[i] == true` writes column `i` as-is; missing entries count as false.
    pub fn new(
        path: impl AsRef<Path>,
        header: &[&str],
        raw_columns: &[bool],
    ) -> Result<Self, FilesError> {
        let path = path.as_ref().to_path_buf();
        let file = BlockFile::new(temp_next_to(&path)?);
        let mut raw = raw_columns.to_vec();
        raw.resize(header.len(), false);
        let mut w = SafeCsvWriter {
            path,
            file,
            encoder: RowEncoder::new(&raw),
        };
        // The header is written as given: mark every column raw for it.
        let mut header_encoder = RowEncoder::new(&vec![true; header.len()]);
        header_encoder
            .encode(header)
            .map_err(|message| w.write_error(message))?;
        w.write_encoded(&header_encoder.take())?;
        Ok(w)
    }

    /// The final path (not the temp file).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_error(&self, message: String) -> FilesError {
        FilesError::Write {
            path: self.path.clone(),
            message,
        }
    }

    /// A fresh encoder for this file's columns, for encoding rows on another thread.
    pub fn row_encoder(&self) -> RowEncoder {
        self.encoder.clone()
    }

    /// Appends rows encoded by a [`RowEncoder`] of this writer.
    pub fn write_encoded(&mut self, bytes: &[u8]) -> Result<(), FilesError> {
        self.file
            .write_all(bytes)
            .map_err(|e| FilesError::io(&self.path, e))
    }

    /// Writes one row: one field per header column. Accepts `&[&str]`, `Vec<String>`, or any
    /// iterator of string-likes. After an error, drop the writer.
    ///
    /// ```
    /// use coupler_files::{FilesError, SafeCsvWriter};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("couplings.csv");
    /// std::fs::write(&path, "local_id,integration_id\n10000,acc-1\n")?;
    ///
    /// let mut writer = SafeCsvWriter::new(&path, &["local_id", "integration_id"], &[true, true])?;
    /// writer.write_row(&["10001", "acc-2"])?;
    /// let err = writer.write_row(&["10002"]).unwrap_err();
    /// assert!(matches!(err, FilesError::Write { .. }));
    /// assert_eq!(err.path(), path);
    /// drop(writer);
    ///
    /// // The earlier file is untouched, and no temp file is left.
    /// assert_eq!(
    ///     std::fs::read_to_string(&path)?,
    ///     "local_id,integration_id\n10000,acc-1\n"
    /// );
    /// assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_row<I, S>(&mut self, fields: I) -> Result<(), FilesError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.encoder
            .encode(fields)
            .map_err(|message| self.write_error(message))?;
        if self.encoder.len() >= BUFFER {
            let bytes = self.encoder.take();
            self.write_encoded(&bytes)?;
        }
        Ok(())
    }

    /// Flushes, fsyncs and renames the temp file over the target path.
    pub fn finish(mut self) -> Result<(), FilesError> {
        let bytes = self.encoder.take();
        self.write_encoded(&bytes)?;
        let SafeCsvWriter { path, file, .. } = self;
        let file = file.finish().map_err(|e| FilesError::io(&path, e))?;
        persist(file, &path)
    }
}

/// Reads a couplings CSV: (local_id, integration_id, line) for each row.
///
/// The header must contain `local_id` and `integration_id` (other columns are ignored); the
/// delimiter is detected as for exports; UTF-8 with an optional BOM. Rows where both ids are
/// blank are skipped; a row with only one of them is an error naming the line. Ids are returned
/// in the engine's canonical form ([`coupler_engine::ids`]: GUIDs lower-case without braces,
/// local ids trimmed and upper-cased, other integration ids as written).
///
/// ```
/// use coupler_files::read_couplings;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("couplings.csv");
/// std::fs::write(
///     &path,
///     "local_id;integration_id;note\n\
///      cust-0042 ;{5F641B45-48BC-A138-BE13-4EA95426DD94};moved\n\
///      ;;\n\
///      10001;acc-7;\n",
/// )?;
///
/// let couplings = read_couplings(&path)?;
/// assert_eq!(
///     couplings,
///     [
///         (
///             "CUST-0042".to_string(),
///             "5f641b45-48bc-a138-be13-4ea95426dd94".to_string(),
///             2, // the line
///         ),
///         ("10001".to_string(), "acc-7".to_string(), 4),
///     ]
/// );
///
/// std::fs::write(&path, "local_id,integration_id\n10000,\n")?;
/// let err = read_couplings(&path).unwrap_err();
/// assert!(err
///     .to_string()
///     .ends_with("line 2: 'integration_id' is blank but 'local_id' is '10000'"));
/// # Ok(())
/// # }
/// ```
pub fn read_couplings(path: &Path) -> Result<Vec<(String, String, u64)>, FilesError> {
    const LOCAL: &str = "local_id";
    const INTEGRATION: &str = "integration_id";
    let mut input = open_csv(path, None, Encoding::Utf8)?;
    let (mut record, header_line) = read_first(path, &mut input)?;
    let names = record
        .iter()
        .enumerate()
        .map(|(i, f)| header_name(path, f, header_line, i))
        .collect::<Result<Vec<_>, _>>()?;
    let wanted = [LOCAL.to_string(), INTEGRATION.to_string()];
    let idx = resolve_columns(path, &names, &wanted)?;

    let mut out = Vec::new();
    while let Some(line) = input.next_record(&mut record)? {
        let cell = |k: usize| {
            std::str::from_utf8(record.get(idx[k]).unwrap_or_default()).map_err(|_| {
                FilesError::InvalidUtf8 {
                    path: path.to_path_buf(),
                    line,
                    column: wanted[k].clone(),
                }
            })
        };
        let (local, integration) = (cell(0)?, cell(1)?);
        match (local.trim().is_empty(), integration.trim().is_empty()) {
            (true, true) => continue,
            (false, false) => out.push((
                coupler_engine::canonical_local_id(local).into_owned(),
                coupler_engine::canonical_integration_id(integration).into_owned(),
                line,
            )),
            (local_blank, _) => {
                let (blank, other, value) = if local_blank {
                    (LOCAL, INTEGRATION, integration)
                } else {
                    (INTEGRATION, LOCAL, local)
                };
                return Err(FilesError::HalfCoupling {
                    path: path.to_path_buf(),
                    line,
                    blank: blank.to_string(),
                    other: other.to_string(),
                    value: value.to_string(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::xorshift;

    /// What the `csv` crate writes for `rows`, with the same formula guard.
    fn csv_crate(rows: &[Vec<String>], raw: &[bool]) -> Vec<u8> {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .flexible(true)
            .from_writer(Vec::new());
        for row in rows {
            for (n, field) in row.iter().enumerate() {
                let guarded = n >= raw.len() || !raw[n];
                if guarded && needs_formula_guard(field) {
                    writer.write_field(format!("'{field}")).unwrap();
                } else {
                    writer.write_field(field).unwrap();
                }
            }
            writer.write_record(None::<&[u8]>).unwrap();
        }
        writer.into_inner().unwrap()
    }

    #[test]
    fn rows_are_encoded_as_the_csv_crate_writes_them() {
        let mut next = xorshift(0x5eed_c0de);
        let alphabet = [
            "a", "Z", "0", ",", "\"", "\r", "\n", " ", "'", "=", "+", "-", "@", "\t", "ä", "€", "",
        ];
        for case in 0..2000 {
            let width = 1 + (next() % 4) as usize;
            let raw: Vec<bool> = (0..width).map(|_| next().is_multiple_of(3)).collect();
            let rows: Vec<Vec<String>> = (0..1 + next() % 3)
                .map(|_| {
                    (0..width)
                        .map(|_| {
                            (0..next() % 24)
                                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                                .collect()
                        })
                        .collect()
                })
                .collect();
            let mut encoder = RowEncoder::new(&raw);
            for row in &rows {
                encoder.encode(row).unwrap();
            }
            assert_eq!(
                String::from_utf8_lossy(&encoder.take()),
                String::from_utf8_lossy(&csv_crate(&rows, &raw)),
                "case {case}: {rows:?} raw {raw:?}"
            );
        }
    }
}
