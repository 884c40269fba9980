//! CSV reading on top of the `csv` crate.
//!
//! The parser always runs with `has_headers(false)` and `flexible(false)`: this module treats the
//! first record as the header itself (so it controls naming, decoding and error messages), and
//! the parser rejects any record whose width differs from the first one's. Records are read into
//! one reused `ByteRecord`; only requested cells are validated and copied into the table.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use coupler_engine::{Column, Table};

use super::decode::{Counting, DecodeToUtf8};
use super::{check_duplicates, detect_delimiter, resolve_columns, table_name, too_large};
use super::{CsvOptions, Encoding};
use crate::FilesError;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// How much of the file is scanned for the end of the header line when detecting the delimiter.
const SNIFF_LIMIT: usize = 1 << 20;
/// Progress is reported about this often (bytes).
const PROGRESS_STEP: u64 = 1 << 20;
/// The CSV parser's read buffer.
const CSV_BUFFER: usize = 256 * 1024;
/// How many recent bytes [`LineTap`] remembers; more than the parser can have buffered.
const RING: usize = 2 * CSV_BUFFER;

/// A CSV parser positioned at the start of the first record, plus a live count of the file
/// bytes consumed so far.
pub(crate) struct CsvInput {
    path: PathBuf,
    reader: csv::Reader<LineTap<Box<dyn Read>>>,
    pub(crate) consumed: Rc<Cell<u64>>,
}

impl CsvInput {
    /// Reads the next record into `record`; returns the line it starts on, or `None` at the end.
    pub(crate) fn next_record(
        &mut self,
        record: &mut csv::ByteRecord,
    ) -> Result<Option<u64>, FilesError> {
        match self.reader.read_byte_record(record) {
            Ok(true) => Ok(Some(self.start_line(record))),
            Ok(false) => Ok(None),
            Err(err) => Err(match err.kind() {
                // The record was read (into `record`) before its width was checked.
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => FilesError::RaggedRow {
                    path: self.path.clone(),
                    line: self.start_line(record),
                    expected: *expected_len,
                    found: *len,
                },
                _ => csv_error(&self.path, err),
            }),
        }
    }

    /// The line `record` (just read) starts on.
    ///
    /// The csv crate stamps a record with the position where the *previous* one ended, which is
    /// before the `\n` of a CRLF and before skipped blank lines, so that line can be short.
    /// Instead: the parser's line count now, minus the newlines inside the record's fields, minus
    /// one if the record's terminator was a `\n` (the parser has consumed it).
    fn start_line(&self, record: &csv::ByteRecord) -> u64 {
        let pos = self.reader.position();
        let embedded = memchr::memchr_iter(b'\n', record.as_slice()).count() as u64;
        let ended_by_lf =
            pos.byte() > 0 && self.reader.get_ref().byte_at(pos.byte() - 1) == Some(b'\n');
        pos.line()
            .saturating_sub(embedded)
            .saturating_sub(u64::from(ended_by_lf))
            .max(1)
    }
}

/// Remembers the most recent bytes handed to the parser, by stream offset, so the byte that
/// ended a record can be looked up (the parser's own buffer is at most `CSV_BUFFER` ahead).
pub(crate) struct LineTap<R> {
    inner: R,
    ring: Box<[u8]>,
    total: u64,
}

impl<R> LineTap<R> {
    fn new(inner: R) -> Self {
        LineTap {
            inner,
            ring: vec![0; RING].into_boxed_slice(),
            total: 0,
        }
    }

    /// The byte at stream offset `offset`, if it is still remembered.
    fn byte_at(&self, offset: u64) -> Option<u8> {
        (offset < self.total && self.total - offset <= RING as u64)
            .then(|| self.ring[(offset % RING as u64) as usize])
    }
}

impl<R: Read> Read for LineTap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for chunk in buf[..n].chunks(RING) {
            let start = (self.total % RING as u64) as usize;
            let first = chunk.len().min(RING - start);
            self.ring[start..start + first].copy_from_slice(&chunk[..first]);
            self.ring[..chunk.len() - first].copy_from_slice(&chunk[first..]);
            self.total += chunk.len() as u64;
        }
        Ok(n)
    }
}

/// Opens a CSV file: strips a UTF-8 BOM, detects the delimiter when not given, and wraps the
/// file in a windows-1252 decoder when asked.
pub(crate) fn open_csv(
    path: &Path,
    delimiter: Option<u8>,
    encoding: Encoding,
) -> Result<CsvInput, FilesError> {
    let io_err = |e| FilesError::io(path, e);
    let mut file = File::open(path).map_err(io_err)?;
    let prefix = sniff_header_line(&mut file).map_err(io_err)?;
    let bom = if prefix.starts_with(UTF8_BOM) {
        UTF8_BOM.len()
    } else {
        0
    };
    let delimiter = delimiter.unwrap_or_else(|| detect_delimiter(&prefix[bom..]));

    let consumed = Rc::new(Cell::new(0));
    let inner: Box<dyn Read> = match encoding {
        Encoding::Utf8 => {
            file.seek(SeekFrom::Start(bom as u64)).map_err(io_err)?;
            consumed.set(bom as u64);
            Box::new(Counting {
                inner: file,
                count: consumed.clone(),
            })
        }
        Encoding::Windows1252 => {
            // The decoder sniffs (and drops) a BOM itself.
            file.seek(SeekFrom::Start(0)).map_err(io_err)?;
            Box::new(DecodeToUtf8::new(
                Counting {
                    inner: file,
                    count: consumed.clone(),
                },
                encoding_rs::WINDOWS_1252,
            ))
        }
    };
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .delimiter(delimiter)
        .buffer_capacity(CSV_BUFFER)
        .from_reader(LineTap::new(inner));
    Ok(CsvInput {
        path: path.to_path_buf(),
        reader,
        consumed,
    })
}

/// Reads the start of the file up to the end of the header line (a newline outside quotes), or
/// at most `SNIFF_LIMIT` bytes.
fn sniff_header_line(file: &mut File) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut quoted = false;
    while prefix.len() < SNIFF_LIMIT {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let start = prefix.len();
        prefix.extend_from_slice(&chunk[..n]);
        for &b in &prefix[start..] {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => return Ok(prefix),
                _ => {}
            }
        }
    }
    Ok(prefix)
}

/// Maps a parser error to a file error (ragged rows are handled in [`CsvInput::next_record`]).
pub(crate) fn csv_error(path: &Path, err: csv::Error) -> FilesError {
    let line = err.position().map(|p| p.line());
    let message = err.to_string();
    match err.into_kind() {
        csv::ErrorKind::Io(e) => FilesError::io(path, e),
        _ => FilesError::MalformedCsv {
            path: path.to_path_buf(),
            line,
            message,
        },
    }
}

/// Decodes one header cell (position `index`, 0-based) strictly.
pub(crate) fn header_name(
    path: &Path,
    field: &[u8],
    line: u64,
    index: usize,
) -> Result<String, FilesError> {
    match std::str::from_utf8(field) {
        Ok(s) => Ok(s.to_string()),
        Err(_) => {
            let lossy = String::from_utf8_lossy(field);
            Err(FilesError::InvalidUtf8 {
                path: path.to_path_buf(),
                line,
                column: if lossy.trim().is_empty() {
                    format!("#{}", index + 1)
                } else {
                    lossy.into_owned()
                },
            })
        }
    }
}

/// The header names from the first record, or positional names "1", "2", … without headers.
fn header_from_first(
    path: &Path,
    options: &CsvOptions,
    first: &csv::ByteRecord,
    line: u64,
) -> Result<Vec<String>, FilesError> {
    let names = if options.has_headers {
        first
            .iter()
            .enumerate()
            .map(|(i, f)| header_name(path, f, line, i))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        (1..=first.len()).map(|i| i.to_string()).collect()
    };
    check_duplicates(path, &names)?;
    Ok(names)
}

/// Reads the first record (the header, or the first data row); fails on an empty file.
pub(crate) fn read_first(
    path: &Path,
    input: &mut CsvInput,
) -> Result<(csv::ByteRecord, u64), FilesError> {
    let mut first = csv::ByteRecord::new();
    match input.next_record(&mut first)? {
        Some(line) => Ok((first, line)),
        None => Err(FilesError::Empty {
            path: path.to_path_buf(),
        }),
    }
}

pub(super) fn read_header(path: &Path, options: &CsvOptions) -> Result<Vec<String>, FilesError> {
    let mut input = open_csv(path, options.delimiter, options.encoding)?;
    let (first, line) = read_first(path, &mut input)?;
    header_from_first(path, options, &first, line)
}

pub(super) fn read_table(
    path: &Path,
    options: &CsvOptions,
    columns: &[String],
    progress: &dyn Fn(u64),
) -> Result<Table, FilesError> {
    let mut input = open_csv(path, options.delimiter, options.encoding)?;
    let (first, first_line) = read_first(path, &mut input)?;
    let names = header_from_first(path, options, &first, first_line)?;
    let indices = resolve_columns(path, &names, columns)?;

    let mut sink = Sink {
        path,
        columns,
        indices: &indices,
        cells: columns.iter().map(|_| Column::default()).collect(),
        origins: Vec::new(),
    };
    if !options.has_headers {
        sink.push(&first, first_line)?;
    }
    let file_size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut record = csv::ByteRecord::new();
    let mut next_report = PROGRESS_STEP;
    // A quote that is never closed makes the parser read the rest of the file into one value,
    // which then ends with the file's final line break: stop instead of swallowing rows.
    // (The parser's line number of such a record is unreliable; report the record before it.)
    let mut unclosed_after: Option<u64> = None;
    let mut previous_line = first_line;
    if !options.has_headers && ends_with_line_break(&first) {
        unclosed_after = Some(0);
    }
    while let Some(line) = input.next_record(&mut record)? {
        if ends_with_line_break(&record) {
            unclosed_after = Some(previous_line);
        }
        previous_line = line;
        sink.push(&record, line)?;
        if sink.origins.len() == PRESIZE_AFTER_ROWS {
            sink.presize(file_size, input.consumed.get());
        }
        if input.consumed.get() >= next_report {
            progress(input.consumed.get());
            next_report = input.consumed.get() + PROGRESS_STEP;
        }
    }
    progress(input.consumed.get());
    if let Some(line) = unclosed_after {
        return Err(FilesError::MalformedCsv {
            path: path.to_path_buf(),
            line: None,
            message: format!("the record after line {line} opens a quoted value that is never closed (a missing '\"'), so the rest of the file would be read as one value"),
        });
    }
    Table::from_columns(table_name(path), columns.to_vec(), sink.cells, sink.origins).map_err(
        |source| FilesError::Table {
            path: path.to_path_buf(),
            cause: source,
        },
    )
}

/// Whether the record's last value ends with a line break (the mark of an unclosed quote).
fn ends_with_line_break(record: &csv::ByteRecord) -> bool {
    matches!(
        record.iter().next_back().and_then(|f| f.last()),
        Some(b'\n' | b'\r')
    )
}

/// Accumulates the requested cells of each record.
struct Sink<'a> {
    path: &'a Path,
    columns: &'a [String],
    indices: &'a [usize],
    cells: Vec<Column>,
    origins: Vec<u64>,
}

/// Rows read before the columns are sized for the whole file.
const PRESIZE_AFTER_ROWS: usize = 4096;

impl Sink<'_> {
    /// Reserves room for the rest of the file, extrapolated from the rows read so far
    /// (`consumed` bytes): growing a column by doubling would copy it and fault in fresh pages
    /// again and again (measured: a quarter of the read time at 10M rows). Reserved but unused
    /// room costs address space, not memory.
    fn presize(&mut self, file_size: u64, consumed: u64) {
        let rows = self.origins.len() as f64;
        if consumed == 0 || file_size <= consumed {
            return;
        }
        let remaining_rows = (file_size - consumed) as f64 / consumed as f64 * rows * 1.05;
        for column in &mut self.cells {
            let bytes_per_row = column.text_len() as f64 / rows;
            column.reserve(
                remaining_rows as usize,
                (remaining_rows * bytes_per_row * 1.05) as usize,
            );
        }
        self.origins.reserve(remaining_rows as usize);
    }

    fn push(&mut self, record: &csv::ByteRecord, line: u64) -> Result<(), FilesError> {
        for (j, &i) in self.indices.iter().enumerate() {
            let bytes = record.get(i).unwrap_or_default();
            // After windows-1252 decoding the bytes are always valid UTF-8.
            let text = std::str::from_utf8(bytes).map_err(|_| FilesError::InvalidUtf8 {
                path: self.path.to_path_buf(),
                line,
                column: self.columns[j].clone(),
            })?;
            self.cells[j]
                .push(text)
                .map_err(|_| too_large(self.path, &self.columns[j]))?;
        }
        self.origins.push(line);
        Ok(())
    }
}
