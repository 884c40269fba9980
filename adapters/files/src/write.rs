//! Writing outputs: results/couplings CSVs that are safe to open in a spreadsheet, and atomic
//! writes (temp file in the target folder, fsync, rename) so a crash or an error never leaves a
//! half-written file where a good one used to be. Also reads back a couplings CSV.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::read::csv_helpers::{header_name, read_first};
use crate::read::{open_csv, resolve_columns, Encoding};
use crate::FilesError;

/// Size of the write buffer.
const BUFFER: usize = 1 << 20;

/// True when a spreadsheet program would treat `value` as a formula (or strip a leading control
/// character and then do so): it starts with `=`, `+`, `-`, `@`, tab or carriage return.
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
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FilesError> {
    let mut file = temp_next_to(path)?;
    file.write_all(bytes).map_err(|e| FilesError::io(path, e))?;
    persist(file, path)
}

/// Streams a CSV file to disk atomically, guarding against formula injection.
///
/// UTF-8 without BOM, `\n` line endings, standard CSV quoting. Rows go through a 1 MiB buffer
/// into a temp file in the target folder; [`finish`](Self::finish) fsyncs it and renames it over
/// `path`. Dropping the writer without `finish` (e.g. on an error path) deletes the temp file
/// and leaves any existing file at `path` untouched.
///
/// In columns not marked raw, a value starting with `=`, `+`, `-`, `@`, tab or carriage return
/// is written with a leading `'` so spreadsheet programs show it as text instead of running it.
/// Raw columns (ids, numbers the tool produced itself) are written as they are. The header is
/// written as given.
pub struct SafeCsvWriter {
    path: PathBuf,
    writer: csv::Writer<NamedTempFile>,
    raw: Vec<bool>,
    width: usize,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for SafeCsvWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafeCsvWriter")
            .field("path", &self.path)
            .field("width", &self.width)
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
        let file = temp_next_to(&path)?;
        let writer = csv::WriterBuilder::new()
            .buffer_capacity(BUFFER)
            .terminator(csv::Terminator::Any(b'\n'))
            .flexible(false)
            .from_writer(file);
        let mut raw = raw_columns.to_vec();
        raw.resize(header.len(), false);
        let mut w = SafeCsvWriter {
            path,
            writer,
            raw,
            width: header.len(),
            scratch: Vec::new(),
        };
        w.writer.write_record(header).map_err(|e| w.error(e))?;
        Ok(w)
    }

    /// The final path (not the temp file).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: csv::Error) -> FilesError {
        match e.into_kind() {
            csv::ErrorKind::Io(e) => FilesError::io(&self.path, e),
            other => FilesError::Write {
                path: self.path.clone(),
                message: format!("{other:?}"),
            },
        }
    }

    /// Writes one row: one field per header column. Accepts `&[&str]`, `Vec<String>`, or any
    /// iterator of string-likes. After an error, drop the writer.
    pub fn write_row<I, S>(&mut self, fields: I) -> Result<(), FilesError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut n = 0;
        for field in fields {
            let field = field.as_ref();
            let guarded = n >= self.width || !self.raw[n];
            let result = if guarded && needs_formula_guard(field) {
                self.scratch.clear();
                self.scratch.push(b'\'');
                self.scratch.extend_from_slice(field.as_bytes());
                self.writer.write_field(&self.scratch)
            } else {
                self.writer.write_field(field)
            };
            result.map_err(|e| self.error(e))?;
            n += 1;
        }
        if n != self.width {
            return Err(FilesError::Write {
                path: self.path.clone(),
                message: format!("a row has {n} fields but the header has {}", self.width),
            });
        }
        self.writer
            .write_record(None::<&[u8]>)
            .map_err(|e| self.error(e))
    }

    /// Flushes, fsyncs and renames the temp file over the target path.
    pub fn finish(self) -> Result<(), FilesError> {
        let SafeCsvWriter { path, writer, .. } = self;
        let file = writer
            .into_inner()
            .map_err(|e| FilesError::io(&path, e.into_error()))?;
        persist(file, &path)
    }
}

/// Reads a couplings CSV: (local_id, integration_id, line) for each row.
///
/// The header must contain `local_id` and `integration_id` (other columns are ignored); the
/// delimiter is detected as for exports; UTF-8 with an optional BOM. Rows where both ids are
/// blank are skipped; a row with only one of them is an error naming the line. Ids are returned
/// exactly as written (not trimmed), like every other cell this crate reads.
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
            (false, false) => out.push((local.to_string(), integration.to_string(), line)),
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
