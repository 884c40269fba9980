//! CSV reading on top of [`Tokenizer`] (the `csv` crate's grammar, see `tokenize.rs`).
//!
//! The first record is the header (or, without headers, the first data row): this module
//! names, decodes and checks it itself, and every later record must have as many fields. Only
//! the requested columns of a record are looked at and copied into the table, and the checked
//! ones looked at; a record inside a block that validated as UTF-8 as a whole needs no check per
//! value. (NUL bytes, byte-order marks, a repeated header and an unclosed quote are the
//! tokenizer's business, in every column.)
//!
//! A large file read while a core is spare (one file alone, e.g. the local side of a Dataverse
//! mapping) is read by two threads: one tokenizes, the other builds the columns (see
//! [`pipelined`]). `couple` reads its two files at once, one thread each.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use coupler_engine::{Column, Table};

use super::decode::{Counting, DecodeToUtf8};
use super::tokenize::{RecordEnd, Sink, Source, Span, Tokenizer, BLOCK, UTF8_BOM};
use super::{check_duplicates, detect_delimiter, resolve_columns, table_name, too_large};
use super::{CsvOptions, Encoding};
use crate::FilesError;

/// How much of the file is scanned for the end of the header line when detecting the delimiter.
const SNIFF_LIMIT: usize = 1 << 20;
/// Progress is reported about this often (bytes).
const PROGRESS_STEP: u64 = 1 << 20;

/// A CSV file opened for reading records.
pub(crate) struct CsvInput {
    tokens: Tokenizer,
}

impl CsvInput {
    /// Reads the next record into `record`; returns the line it starts on, or `None` at the end.
    pub(crate) fn next_record(
        &mut self,
        record: &mut csv::ByteRecord,
    ) -> Result<Option<u64>, FilesError> {
        record.clear();
        let mut sink = OneRecord { record, line: 0 };
        Ok(self.tokens.run(&mut sink)?.then_some(sink.line))
    }

    /// File bytes consumed so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.tokens.consumed()
    }

    /// Names the columns for messages; with `header`, a later record equal to the header row
    /// is an error (two exports concatenated).
    pub(crate) fn set_columns(&mut self, names: &[String], header: bool) {
        self.tokens.set_columns(names, header);
    }
}

/// Takes one record, whole.
struct OneRecord<'a> {
    record: &'a mut csv::ByteRecord,
    line: u64,
}

impl Sink for OneRecord<'_> {
    fn field(&mut self, index: usize, span: Span, block: &[u8], scratch: &[u8]) {
        if index == 0 {
            self.record.clear();
        }
        self.record.push_field(span.get(block, scratch));
    }

    fn record(&mut self, end: &RecordEnd, _: &[u8], _: &[u8]) -> Result<bool, FilesError> {
        self.line = end.line;
        Ok(false)
    }
}

/// Opens a CSV file: strips a UTF-8 BOM, detects the delimiter when not given, and wraps the
/// file in a windows-1252 decoder when asked.
pub(crate) fn open_csv(
    path: &Path,
    delimiter: Option<u8>,
    encoding: Encoding,
) -> Result<CsvInput, FilesError> {
    open_csv_with(path, delimiter, encoding, BLOCK)
}

/// [`open_csv`] with a read block of `block` bytes.
fn open_csv_with(
    path: &Path,
    delimiter: Option<u8>,
    encoding: Encoding,
    block: usize,
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

    let source = match encoding {
        Encoding::Utf8 => {
            file.seek(SeekFrom::Start(bom as u64)).map_err(io_err)?;
            Source::Plain {
                file,
                consumed: bom as u64,
            }
        }
        Encoding::Windows1252 => {
            // The decoder sniffs (and drops) a BOM itself.
            file.seek(SeekFrom::Start(0)).map_err(io_err)?;
            Source::Decoded(DecodeToUtf8::new(
                Counting {
                    inner: file,
                    count: 0,
                },
                encoding_rs::WINDOWS_1252,
            ))
        }
    };
    Ok(CsvInput {
        tokens: Tokenizer::with_block(path, source, delimiter, block),
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
    checked: &[String],
    progress: &dyn Fn(u64),
) -> Result<Table, FilesError> {
    read_table_with(path, options, columns, checked, progress, Plan::default())
}

/// How to read a table: with how many threads, in which block size.
#[derive(Debug, Clone, Copy)]
struct Plan {
    threads: Threads,
    block: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threads {
    /// Two for a large file when a core is spare, else one.
    Auto,
    #[cfg(test)]
    One,
    #[cfg(test)]
    Two,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            threads: Threads::Auto,
            block: BLOCK,
        }
    }
}

fn read_table_with(
    path: &Path,
    options: &CsvOptions,
    columns: &[String],
    checked: &[String],
    progress: &dyn Fn(u64),
    plan: Plan,
) -> Result<Table, FilesError> {
    let _reading = Reading::start();
    let mut input = open_csv_with(path, options.delimiter, options.encoding, plan.block)?;
    let (first, first_line) = read_first(path, &mut input)?;
    let names = header_from_first(path, options, &first, first_line)?;
    input.set_columns(&names, options.has_headers);
    let indices = resolve_columns(path, &names, columns)?;
    // The checked columns that are not kept anyway.
    let mut checked_only: Vec<String> = Vec::new();
    for c in checked {
        if !columns.contains(c) && !checked_only.contains(c) {
            checked_only.push(c.clone());
        }
    }
    let checked_indices = resolve_columns(path, &names, &checked_only)?;

    // Header position → span: the kept columns' values, then the checked ones'; the spare
    // span after them takes the other values (and those past the header's width, which make
    // the record an error anyway).
    let spare = columns.len() + checked_only.len();
    let mut slots = vec![spare; names.len() + 1];
    for (j, &i) in indices.iter().chain(&checked_indices).enumerate() {
        slots[i] = j;
    }
    let file_size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut builder = TableBuilder {
        path,
        columns,
        checked: &checked_only,
        cells: columns.iter().map(|_| Column::default()).collect(),
        origins: Vec::new(),
        file_size,
        progress,
        next_report: PROGRESS_STEP,
    };
    if !options.has_headers {
        let values = indices
            .iter()
            .chain(&checked_indices)
            .map(|&i| first.get(i).unwrap_or_default());
        builder.add_checked(values, first_line)?;
    }
    let two = match plan.threads {
        Threads::Auto => file_size >= PIPELINE_MIN_BYTES && Reading::spare_core(),
        #[cfg(test)]
        Threads::One => false,
        #[cfg(test)]
        Threads::Two => true,
    };
    if !two || !pipelined(&mut input.tokens, &slots, &mut builder)? {
        let mut sink = TableSink {
            values: RequestedSpans::new(&slots, spare),
            builder: &mut builder,
        };
        input.tokens.run(&mut sink)?;
    }
    progress(input.consumed());
    Table::from_columns(
        table_name(path),
        columns.to_vec(),
        builder.cells,
        builder.origins,
    )
    .map_err(|source| FilesError::Table {
        path: path.to_path_buf(),
        cause: source,
    })
}

/// Rows read before the columns are sized for the whole file.
const PRESIZE_AFTER_ROWS: usize = 4096;

/// Files from this size on are read by two threads when a core is spare (below, the thread
/// costs more than it saves).
const PIPELINE_MIN_BYTES: u64 = 8 << 20;

/// Counts the CSV tables being read in this process, to tell whether a core is spare: `couple`
/// reads its two files at once, which on two cores leaves none.
struct Reading;

static READING: AtomicUsize = AtomicUsize::new(0);

impl Reading {
    fn start() -> Reading {
        READING.fetch_add(1, Ordering::SeqCst);
        Reading
    }

    /// Whether there are more cores than tables being read.
    fn spare_core() -> bool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        READING.load(Ordering::SeqCst) < cores
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        READING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Builds the table's columns from records.
struct TableBuilder<'a> {
    path: &'a Path,
    /// The kept columns.
    columns: &'a [String],
    /// Columns whose values are only checked (for UTF-8), after the kept ones in each record.
    checked: &'a [String],
    cells: Vec<Column>,
    origins: Vec<u64>,
    file_size: u64,
    progress: &'a dyn Fn(u64),
    next_report: u64,
}

impl TableBuilder<'_> {
    /// Reserves room for the rest of the file, extrapolated from the rows read so far
    /// (`consumed` bytes): growing a column by doubling would copy it and fault in fresh pages
    /// again and again (measured: a quarter of the read time at 10M rows). Reserved but unused
    /// room costs address space, not memory.
    fn presize(&mut self, consumed: u64) {
        let rows = self.origins.len() as f64;
        if consumed == 0 || self.file_size <= consumed {
            return;
        }
        let remaining_rows = (self.file_size - consumed) as f64 / consumed as f64 * rows * 1.05;
        for column in &mut self.cells {
            let bytes_per_row = column.text_len() as f64 / rows;
            column.reserve(
                remaining_rows as usize,
                (remaining_rows * bytes_per_row * 1.05) as usize,
            );
        }
        self.origins.reserve(remaining_rows as usize);
    }

    /// Appends value `j` of a row, checking UTF-8 unless it is known to be valid.
    #[inline(always)]
    fn push(
        &mut self,
        j: usize,
        bytes: &[u8],
        known_valid: bool,
        line: u64,
    ) -> Result<(), FilesError> {
        let text = if known_valid {
            debug_assert!(std::str::from_utf8(bytes).is_ok());
            // SAFETY: the tokenizer validated the whole record as UTF-8 (`RecordEnd::valid_utf8`),
            // and a value is the record's bytes cut at ASCII bytes (delimiters, quotes, line
            // breaks) with ASCII quotes removed, so it is valid UTF-8 too.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            // After windows-1252 decoding the bytes are always valid UTF-8.
            std::str::from_utf8(bytes).map_err(|_| FilesError::InvalidUtf8 {
                path: self.path.to_path_buf(),
                line,
                column: self.columns[j].clone(),
            })?
        };
        self.cells[j]
            .push(text)
            .map_err(|_| too_large(self.path, &self.columns[j]))
    }

    /// Fails when checked value `k` is not valid UTF-8.
    #[cold]
    fn check(&self, k: usize, bytes: &[u8], line: u64) -> Result<(), FilesError> {
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(_) => Err(FilesError::InvalidUtf8 {
                path: self.path.to_path_buf(),
                line,
                column: self.checked[k].clone(),
            }),
        }
    }

    /// Appends a row of requested values (in column order, then the checked ones), checking
    /// each for UTF-8.
    fn add_checked<'v>(
        &mut self,
        values: impl Iterator<Item = &'v [u8]>,
        line: u64,
    ) -> Result<(), FilesError> {
        let kept = self.columns.len();
        for (j, bytes) in values.enumerate() {
            if j < kept {
                self.push(j, bytes, false, line)?;
            } else {
                self.check(j - kept, bytes, line)?;
            }
        }
        self.origins.push(line);
        Ok(())
    }

    /// Appends a tokenized record: `spans` are its requested values, in column order, then
    /// its checked values.
    #[inline(always)]
    fn add(
        &mut self,
        end: &RecordEnd,
        spans: &[Span],
        block: &[u8],
        scratch: &[u8],
    ) -> Result<(), FilesError> {
        let (kept, checked) = spans.split_at(self.columns.len());
        for (j, span) in kept.iter().enumerate() {
            self.push(j, span.get(block, scratch), end.valid_utf8, end.line)?;
        }
        if !end.valid_utf8 {
            for (k, span) in checked.iter().enumerate() {
                self.check(k, span.get(block, scratch), end.line)?;
            }
        }
        self.origins.push(end.line);
        if self.origins.len() == PRESIZE_AFTER_ROWS {
            self.presize(end.offset);
        }
        Ok(())
    }

    fn report(&mut self, consumed: u64) {
        if consumed >= self.next_report {
            (self.progress)(consumed);
            self.next_report = consumed + PROGRESS_STEP;
        }
    }
}

/// The requested values of the record being read, as the tokenizer hands its fields over.
struct RequestedSpans<'s> {
    /// For each header position (and one past them), the span its value goes to.
    slots: &'s [usize],
    /// The requested values, then a spare one that takes all others.
    spans: Vec<Span>,
}

impl<'s> RequestedSpans<'s> {
    /// `slots` maps header positions to `0..requested`, or to `requested` (not requested);
    /// "requested" values are the kept ones and the checked ones.
    fn new(slots: &'s [usize], requested: usize) -> Self {
        RequestedSpans {
            slots,
            spans: vec![Span::default(); requested + 1],
        }
    }

    /// Keeps field `index` when it is requested.
    #[inline(always)]
    fn field(&mut self, index: usize, span: Span) {
        let slot = self.slots[index.min(self.slots.len() - 1)];
        self.spans[slot] = span;
    }

    /// The record's requested values, in column order.
    #[inline(always)]
    fn requested(&self) -> &[Span] {
        &self.spans[..self.spans.len() - 1]
    }
}

/// Builds the table as the tokenizer goes (one thread).
struct TableSink<'a, 'b> {
    values: RequestedSpans<'a>,
    builder: &'a mut TableBuilder<'b>,
}

impl Sink for TableSink<'_, '_> {
    #[inline(always)]
    fn field(&mut self, index: usize, span: Span, _: &[u8], _: &[u8]) {
        self.values.field(index, span);
    }

    #[inline(always)]
    fn record(
        &mut self,
        end: &RecordEnd,
        block: &[u8],
        scratch: &[u8],
    ) -> Result<bool, FilesError> {
        self.builder
            .add(end, self.values.requested(), block, scratch)?;
        Ok(true)
    }

    fn refilled(&mut self, consumed: u64) {
        self.builder.report(consumed);
    }
}

/// A block of tokenized records handed from the tokenizer's thread to the builder.
#[derive(Default)]
struct Batch {
    block: Vec<u8>,
    scratch: Vec<u8>,
    records: Vec<RecordEnd>,
    /// The requested values of each record, `requested` spans a record.
    spans: Vec<Span>,
    /// File bytes consumed when the batch was handed over.
    consumed: u64,
    /// What stopped the tokenizer after the batch's records (a ragged row, a read error).
    error: Option<FilesError>,
}

/// Reads the rest of the file with two threads: a spawned one reads, validates and tokenizes
/// blocks, handing each over with the spans of its records' requested values; this one builds
/// the columns (which costs as much: copying the values, faulting in the columns' memory).
/// Errors come in file order: a batch's records are built before its tokenizer error counts.
/// `Ok(false)` when no thread could be started (nothing was read).
fn pipelined(
    tokens: &mut Tokenizer,
    slots: &[usize],
    builder: &mut TableBuilder<'_>,
) -> Result<bool, FilesError> {
    // Two batches in flight, and their buffers recycled.
    let (batches, received) = mpsc::sync_channel::<Batch>(2);
    let (recycle, recycled) = mpsc::channel::<Batch>();
    let requested = builder.columns.len() + builder.checked.len();
    std::thread::scope(|scope| {
        // Owned by this closure, so that returning early (on an error) drops it, which makes
        // the tokenizer's next hand-over fail and the thread end: the scope waits for it.
        let received = received;
        let spawned = std::thread::Builder::new()
            .name("csv-tokenizer".into())
            .spawn_scoped(scope, move || {
                let mut sink = BatchSink {
                    values: RequestedSpans::new(slots, requested),
                    batch: Batch::default(),
                    batches,
                    recycled,
                    spare: None,
                    closed: false,
                };
                let error = tokens.run(&mut sink).err();
                let (block, scratch) = tokens.take_block();
                sink.hand_over(block, scratch, error);
            });
        if spawned.is_err() {
            return Ok(false);
        }
        for batch in received.iter() {
            let mut spans = batch.spans.chunks_exact(requested.max(1));
            for end in &batch.records {
                let values = if requested == 0 {
                    &[][..]
                } else {
                    spans.next().expect("spans for each record")
                };
                builder.add(end, values, &batch.block, &batch.scratch)?;
            }
            builder.report(batch.consumed);
            if let Some(error) = batch.error {
                return Err(error);
            }
            // The tokenizer may be gone already; then the buffers are simply dropped.
            let _ = recycle.send(batch);
        }
        Ok(true)
    })
}

/// Collects tokenized records into batches, on the tokenizer's thread.
struct BatchSink<'a> {
    values: RequestedSpans<'a>,
    batch: Batch,
    batches: mpsc::SyncSender<Batch>,
    recycled: mpsc::Receiver<Batch>,
    /// A batch the builder is done with, emptied, for the next hand-over.
    spare: Option<Batch>,
    /// The builder stopped (it failed): stop tokenizing.
    closed: bool,
}

impl BatchSink<'_> {
    /// Sends the batch of records collected so far, which refer to `block` and `scratch`.
    fn hand_over(&mut self, block: Vec<u8>, scratch: Vec<u8>, error: Option<FilesError>) {
        let mut next = self.spare.take().unwrap_or_default();
        next.records.clear();
        next.spans.clear();
        let mut batch = std::mem::replace(&mut self.batch, next);
        batch.block = block;
        batch.scratch = scratch;
        batch.error = error;
        if self.batches.send(batch).is_err() {
            self.closed = true;
        }
    }
}

impl Sink for BatchSink<'_> {
    #[inline(always)]
    fn field(&mut self, index: usize, span: Span, _: &[u8], _: &[u8]) {
        self.values.field(index, span);
    }

    #[inline(always)]
    fn record(&mut self, end: &RecordEnd, _: &[u8], _: &[u8]) -> Result<bool, FilesError> {
        self.batch.spans.extend_from_slice(self.values.requested());
        self.batch.records.push(*end);
        Ok(!self.closed)
    }

    fn refilled(&mut self, consumed: u64) {
        self.batch.consumed = consumed;
    }

    fn fresh_block(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        if self.batch.records.is_empty() {
            return None;
        }
        // The buffers of a batch the builder is done with, if one has come back.
        Some(match self.recycled.try_recv() {
            Ok(mut old) => {
                let buffers = (
                    std::mem::take(&mut old.block),
                    std::mem::take(&mut old.scratch),
                );
                self.spare = Some(old);
                buffers
            }
            Err(_) => (Vec::new(), Vec::new()),
        })
    }

    fn retire(&mut self, block: Vec<u8>, scratch: Vec<u8>) {
        self.hand_over(block, scratch, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::path::PathBuf;

    /// Every way of reading: one thread or two, tiny blocks (records, quoted values and
    /// characters cut at every place) or the default.
    const PLANS: [Plan; 6] = [
        Plan {
            threads: Threads::One,
            block: BLOCK,
        },
        Plan {
            threads: Threads::One,
            block: 64,
        },
        Plan {
            threads: Threads::One,
            block: 100,
        },
        Plan {
            threads: Threads::Two,
            block: BLOCK,
        },
        Plan {
            threads: Threads::Two,
            block: 64,
        },
        Plan {
            threads: Threads::Two,
            block: 333,
        },
    ];

    type Rows = Vec<(u64, Vec<String>)>;

    fn rows(table: &Table) -> Rows {
        (0..table.len())
            .map(|r| {
                let cells = (0..table.column_names().len())
                    .map(|c| table.cell(r, c).to_string())
                    .collect();
                (table.origin(r), cells)
            })
            .collect()
    }

    /// Reads `path` every way; all must agree (rows, or the error's message). Returns that.
    fn read_every_way(path: &Path, options: &CsvOptions, columns: &[&str]) -> Result<Rows, String> {
        read_every_way_checking(path, options, columns, &[])
    }

    /// [`read_every_way`], also checking the `checked` columns.
    fn read_every_way_checking(
        path: &Path,
        options: &CsvOptions,
        columns: &[&str],
        checked: &[&str],
    ) -> Result<Rows, String> {
        let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let checked: Vec<String> = checked.iter().map(|c| c.to_string()).collect();
        let mut results = PLANS.iter().map(|&plan| {
            read_table_with(path, options, &columns, &checked, &|_| {}, plan)
                .map(|t| rows(&t))
                .map_err(|e| e.to_string())
        });
        let first = results.next().expect("plans");
        for (plan, other) in PLANS[1..].iter().zip(results) {
            assert_eq!(other, first, "{plan:?} differs from {:?}", PLANS[0]);
        }
        first
    }

    struct Dir(tempfile::TempDir);

    impl Dir {
        fn new() -> Self {
            Dir(tempfile::tempdir().unwrap())
        }
        fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let p = self.0.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        }
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    /// A CSV of `rows` records × 5 columns with quoted values (delimiters, doubled quotes,
    /// LF and CRLF inside), accents, emoji, blank lines, CRLF and LF endings; and the values
    /// and start line of each record, computed independently.
    fn messy_csv(seed: u64, rows: usize) -> (Vec<u8>, Rows) {
        let mut rng = Rng(seed);
        let mut text = String::from("id,name,\"note, long\",city,zip\n");
        let mut line = 2u64;
        let mut expected = Vec::new();
        let plain = [
            "Ann",
            "Zoë",
            "Müller",
            "€uro",
            "x",
            "",
            "🎉 party",
            "O'Neil",
            "a\"b",
        ];
        let quoted = [
            ("\"Smith, John\"", "Smith, John"),
            ("\"say \"\"hi\"\"\"", "say \"hi\""),
            ("\"two\nlines\"", "two\nlines"),
            ("\"crlf\r\ninside\"", "crlf\r\ninside"),
            ("\"\"", ""),
            ("\"Straße\n\n3\"", "Straße\n\n3"),
        ];
        for r in 0..rows {
            let mut values = vec![r.to_string()];
            let mut fields = vec![r.to_string()];
            for _ in 0..4 {
                if rng.next().is_multiple_of(3) {
                    let (raw, value) = quoted[(rng.next() % quoted.len() as u64) as usize];
                    fields.push(raw.to_string());
                    values.push(value.to_string());
                } else {
                    let v = rng.pick(&plain);
                    fields.push(v.to_string());
                    values.push(v.to_string());
                }
            }
            let record = fields.join(",");
            expected.push((line, values));
            line += record.matches('\n').count() as u64;
            text.push_str(&record);
            match rng.next() % 6 {
                0 => text.push_str("\r\n"),
                1 => {
                    text.push_str("\n\n");
                    line += 1;
                }
                2 => {
                    text.push_str("\r\n\r\n");
                    line += 1;
                }
                _ => text.push('\n'),
            }
            line += 1;
        }
        (text.into_bytes(), expected)
    }

    #[test]
    fn every_plan_reads_messy_files_alike_with_exact_lines() {
        let d = Dir::new();
        for seed in 1..6 {
            let (bytes, expected) = messy_csv(seed * 0x9E37_79B9, 700);
            let path = d.file("messy.csv", &bytes);
            let got = read_every_way(
                &path,
                &CsvOptions::default(),
                &["note, long", "id", "name", "zip", "city"],
            )
            .unwrap();
            let expected: Rows = expected
                .into_iter()
                .map(|(line, v)| {
                    (
                        line,
                        vec![
                            v[2].clone(),
                            v[0].clone(),
                            v[1].clone(),
                            v[4].clone(),
                            v[3].clone(),
                        ],
                    )
                })
                .collect();
            assert_eq!(got, expected, "seed {seed}");
            // The `csv` crate agrees on the values.
            let mut r = csv::ReaderBuilder::new().from_path(&path).unwrap();
            let theirs: Vec<String> = r.records().map(|rec| rec.unwrap()[2].to_string()).collect();
            let ours: Vec<String> = got.iter().map(|(_, v)| v[0].clone()).collect();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn line_numbers_after_multi_line_quoted_values_in_errors() {
        let d = Dir::new();
        let (mut bytes, expected) = messy_csv(7, 400);
        let last_line = expected.last().unwrap().0;
        // A requested value with invalid UTF-8 after many multi-line values…
        let mut bad = bytes.clone();
        bad.extend_from_slice(b"400,caf\xE9,x,y,z\n401,a,b,c,d\n");
        let path = d.file("bad.csv", &bad);
        let err = read_every_way(&path, &CsvOptions::default(), &["id", "name"]).unwrap_err();
        let want_line = last_line
            + 1
            + expected
                .last()
                .unwrap()
                .1
                .iter()
                .map(|v| v.matches('\n').count() as u64)
                .sum::<u64>();
        assert!(
            err.ends_with(&format!(
                "line {want_line}, column 'name': invalid UTF-8; {}",
                crate::WINDOWS_1252_HINT
            )),
            "{err}"
        );
        // …but not when only other columns are requested.
        let ok = read_every_way(&path, &CsvOptions::default(), &["id", "zip"]).unwrap();
        assert_eq!(ok.len(), 402);
        // A ragged row.
        bytes.extend_from_slice(b"400,short\n");
        let path = d.file("ragged.csv", &bytes);
        let err = read_every_way(&path, &CsvOptions::default(), &["id"]).unwrap_err();
        assert!(
            err.ends_with(&format!(
                "line {want_line} has 2 fields but the header has 5"
            )),
            "{err}"
        );
    }

    #[test]
    fn the_first_error_in_file_order_wins_across_batches() {
        let d = Dir::new();
        let mut text = b"a,b,c\n".to_vec();
        for i in 0..300 {
            text.extend_from_slice(format!("{i},v{i},w\n").as_bytes());
        }
        let mut utf8_first = text.clone();
        utf8_first.extend_from_slice(b"300,\xFF,w\n301,x\n");
        let path = d.file("u.csv", &utf8_first);
        let err = read_every_way(&path, &CsvOptions::default(), &["b"]).unwrap_err();
        assert!(err.contains("line 302, column 'b': invalid UTF-8"), "{err}");
        let mut ragged_first = text.clone();
        ragged_first.extend_from_slice(b"300,x\n301,\xFF,w\n");
        let path = d.file("r.csv", &ragged_first);
        let err = read_every_way(&path, &CsvOptions::default(), &["b"]).unwrap_err();
        assert!(
            err.contains("line 302 has 2 fields but the header has 3"),
            "{err}"
        );
        // Invalid UTF-8 in a column nobody asked for, in every record: no error, any plan.
        let mut latin = b"a;b\n".to_vec();
        for i in 0..300 {
            latin.extend_from_slice(format!("{i};M").as_bytes());
            latin.extend_from_slice(b"\xFCller\n");
        }
        let path = d.file("l.csv", &latin);
        let got = read_every_way(&path, &CsvOptions::default(), &["a"]).unwrap();
        assert_eq!(got.len(), 300);
        assert_eq!(got[299], (301, vec!["299".to_string()]));
        // A NUL byte after invalid UTF-8 in a requested value, and before it.
        let mut both = utf8_first.clone();
        both.extend_from_slice(b"302,\0,w\n");
        let path = d.file("b.csv", &both);
        let err = read_every_way(&path, &CsvOptions::default(), &["b"]).unwrap_err();
        assert!(err.contains("line 302, column 'b': invalid UTF-8"), "{err}");
        let mut nul_first = text.clone();
        nul_first.extend_from_slice(b"300,x,\0\n301,\xFF,w\n");
        let path = d.file("n.csv", &nul_first);
        let err = read_every_way(&path, &CsvOptions::default(), &["b"]).unwrap_err();
        assert!(err.contains("line 302, column 'c': a NUL byte"), "{err}");
        // Unclosed quote near the end: the line it opens on.
        let mut unclosed = text.clone();
        unclosed.extend_from_slice(b"300,x,\"open\n301,x,y\n");
        let path = d.file("q.csv", &unclosed);
        let err = read_every_way(&path, &CsvOptions::default(), &["a"]).unwrap_err();
        assert!(
            err.contains(
                "line 302: malformed CSV: a quoted value in column 'c' opens on this line"
            ),
            "{err}"
        );
    }

    #[test]
    fn checked_columns_and_corrupt_files_through_every_plan() {
        let d = Dir::new();
        let (bytes, expected) = messy_csv(11, 700);
        // The line after the last record.
        let (last_line, last) = expected.last().unwrap();
        let next = last_line
            + 1
            + last
                .iter()
                .map(|v| v.matches('\n').count() as u64)
                .sum::<u64>();
        let read = |tail: &[u8], columns: &[&str], checked: &[&str]| {
            let path = d.file("m.csv", &[&bytes[..], tail].concat());
            read_every_way_checking(&path, &CsvOptions::default(), columns, checked)
        };
        // Invalid UTF-8 in a checked column fails; elsewhere it does not.
        let tail = b"700,x,\"\xFCber\nall\",y,z\n701,a,b,c,d\n";
        let err = read(tail, &["id", "zip"], &["name", "note, long"]).unwrap_err();
        assert!(
            err.ends_with(&format!(
                "line {next}, column 'note, long': invalid UTF-8; {}",
                crate::WINDOWS_1252_HINT
            )),
            "{err}"
        );
        let got = read(tail, &["id"], &["zip", "id"]).unwrap();
        assert_eq!(got.len(), 702);
        assert_eq!(got[701], (next + 2, vec!["701".to_string()]));
        // A NUL byte, a byte-order mark, the header repeated, a quote never closed.
        for (tail, want) in [
            (
                &b"700,x,y,z,\0\n"[..],
                format!("line {next}, column 'zip': a NUL byte"),
            ),
            (
                b"\xEF\xBB\xBFid,name\n",
                format!("line {next}: a byte-order mark"),
            ),
            (
                b"id,name,\"note, long\",city,zip\n",
                format!("the header repeated at line {next}: "),
            ),
            (
                b"700,\"x\ny\",\"open\n701,a,b,c,d\n",
                format!(
                    "line {}: malformed CSV: a quoted value in column 'note, long' opens",
                    next + 1
                ),
            ),
        ] {
            let err = read(tail, &["id"], &[]).unwrap_err();
            assert!(err.contains(&want), "{err}");
        }
    }

    #[test]
    fn an_early_error_stops_the_tokenizer_thread() {
        // The builder fails at the third row while the tokenizer is far ahead (tiny blocks,
        // thousands of them): the read must end with that error, not wait for the thread.
        let d = Dir::new();
        let mut text = b"a,b\n1,x\n2,\xFF\n".to_vec();
        for i in 0..20_000 {
            text.extend_from_slice(format!("{i},y\n").as_bytes());
        }
        let path = d.file("early.csv", &text);
        for block in [64, 4096] {
            let plan = Plan {
                threads: Threads::Two,
                block,
            };
            let err = read_table_with(
                &path,
                &CsvOptions::default(),
                &["b".to_string()],
                &[],
                &|_| {},
                plan,
            )
            .unwrap_err();
            assert!(err.to_string().contains("line 3, column 'b'"), "{err}");
        }
        // No columns at all: no values to check.
        let got = read_every_way(&path, &CsvOptions::default(), &[]).unwrap();
        assert_eq!(got.len(), 20_002);
    }

    #[test]
    fn windows_1252_and_boms_through_every_plan() {
        let d = Dir::new();
        let mut ansi = b"Name;Ort\r\n".to_vec();
        for i in 0..500 {
            ansi.extend_from_slice(format!("M{i}").as_bytes());
            ansi.extend_from_slice(b"\xFCller;K\xF6ln \x80\r\n");
        }
        let options = CsvOptions {
            encoding: Encoding::Windows1252,
            ..CsvOptions::default()
        };
        let path = d.file("ansi.csv", &ansi);
        let got = read_every_way(&path, &options, &["Ort", "Name"]).unwrap();
        assert_eq!(got.len(), 500);
        assert_eq!(
            got[499],
            (501, vec!["Köln €".to_string(), "M499üller".to_string()])
        );

        // A UTF-8 BOM makes the windows-1252 reader read UTF-8 (the file says so).
        let mut bom = b"\xEF\xBB\xBFName;Ort\n".to_vec();
        for i in 0..500 {
            bom.extend_from_slice(format!("Zoë{i};Köln\n").as_bytes());
        }
        let path = d.file("bom.csv", &bom);
        for options in [options.clone(), CsvOptions::default()] {
            let got = read_every_way(&path, &options, &["Name", "Ort"]).unwrap();
            assert_eq!(got[0], (2, vec!["Zoë0".to_string(), "Köln".to_string()]));
            assert_eq!(got.len(), 500);
        }

        // Two BOMs: one is stripped by the reader, the second by the parser (as the csv crate
        // did), also for windows-1252, where the decoder takes the first.
        let mut two = b"\xEF\xBB\xBF".to_vec();
        two.extend_from_slice(&bom);
        let path = d.file("two.csv", &two);
        for options in [options, CsvOptions::default()] {
            let got = read_every_way(&path, &options, &["Name"]).unwrap();
            assert_eq!(got[0], (2, vec!["Zoë0".to_string()]));
        }
    }

    #[test]
    fn without_headers_and_progress_with_two_threads() {
        let d = Dir::new();
        let mut text = String::new();
        for i in 0..5000 {
            text.push_str(&format!("{i};name {i};\"multi\nline\"\n"));
        }
        let path = d.file("nh.csv", text.as_bytes());
        let options = CsvOptions {
            has_headers: false,
            ..CsvOptions::default()
        };
        let got = read_every_way(&path, &options, &["2", "1"]).unwrap();
        assert_eq!(got.len(), 5000);
        assert_eq!(got[0], (1, vec!["name 0".to_string(), "0".to_string()]));
        assert_eq!(
            got[4999],
            (9999, vec!["name 4999".to_string(), "4999".to_string()])
        );

        let calls = RefCell::new(Vec::new());
        let progress = |n: u64| calls.borrow_mut().push(n);
        let plan = Plan {
            threads: Threads::Two,
            block: 4096,
        };
        let t = read_table_with(&path, &options, &["1".to_string()], &[], &progress, plan).unwrap();
        assert_eq!(t.len(), 5000);
        let calls = calls.into_inner();
        assert!(calls.windows(2).all(|w| w[0] <= w[1]), "{calls:?}");
        assert_eq!(calls.last(), Some(&(text.len() as u64)));
    }
}
