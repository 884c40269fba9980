//! The CSV tokenizer under the files adapter: the `csv` crate's record grammar (csv_core's DFA
//! with its default options: `"` quotes, doubled quotes, CR, LF or CRLF terminators, blank lines
//! skipped, a parse for any input), driven 64 bytes at a time.
//!
//! Why not the `csv` crate's reader: it steps its DFA once per byte, copies every field of every
//! record, and knows a record's line only as the parser's position after it. Reading the few
//! columns a mapping uses, most of that work is thrown away. Here:
//!
//! - the file is read in blocks; each 64-byte window is classified with SIMD compares into a
//!   bit mask of the bytes that matter (delimiter, `"`, CR, LF), and the state machine runs only
//!   on those bytes; the bytes between them are never looked at one by one;
//! - a field is handed over as a span of the block (a quoted value, with its quotes and doubled
//!   quotes removed, is assembled in a scratch buffer that lives as long as the block);
//! - every LF passes through the state machine, so the line a record starts on is a counter,
//!   exact also after blank lines and line breaks inside quoted values;
//! - UTF-8 is validated once per block; a record inside the validated range needs no check per
//!   field. After an invalid sequence, the records up to the next record boundary past it are
//!   checked field by field (only the fields the caller uses, as before), then block validation
//!   resumes;
//! - what no text export holds is looked for in every byte, by the same 64-byte classification
//!   (the window's smallest and largest byte tell whether it may hold one): a NUL byte (a
//!   binary or UTF-16 file) or a UTF-8 byte-order mark past the start (a second export
//!   appended). The record holding one fails; only then is it parsed again, to name the value.
//!   A record equal to the header row (see [`Tokenizer::set_columns`]) fails too: each
//!   record's first byte is looked up, the few that could start the header's first value are
//!   compared, and only a match is parsed again.
//!
//! The grammar, state by state (csv_core's NFA, the order of the tests included, so an odd
//! delimiter such as `"` behaves the same):
//!
//! | state | `"` | delimiter | CR / LF | other byte |
//! |---|---|---|---|---|
//! | start of record | (as start of field) | (as start of field) | skipped | (as start of field) |
//! | start of field | quoted field | empty field ends | empty field, record end | unquoted field |
//! | unquoted field | kept | field ends | field, record end | kept |
//! | quoted field | after quote | kept | kept | kept |
//! | after quote | a kept `"`, quoted field | field ends | field, record end | kept, unquoted field |
//!
//! At the end of the input, a record in progress ends with whatever its last field holds, except
//! in a quoted value: a quote that was never closed is an error naming the line it opens on
//! (csv_core takes the rest of the file as the value). A UTF-8 byte-order mark at the very start
//! of the parsed stream is dropped (csv_core does the same: the caller strips one, the parser a
//! second).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::decode::{Counting, DecodeToUtf8};
use super::utf8::validate;
use crate::FilesError;

pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// The read block. A record longer than a block grows it.
pub(crate) const BLOCK: usize = 512 * 1024;
/// Slack after the data, so that a 64-byte window starting before the end stays in bounds.
const PAD: usize = 64;

/// Where the bytes come from.
pub(crate) enum Source {
    /// UTF-8 straight from the file (positioned after a BOM); `consumed` counts file bytes.
    Plain { file: File, consumed: u64 },
    /// A legacy encoding decoded to UTF-8 on the fly.
    Decoded(DecodeToUtf8<Counting<File>>),
    /// In-memory input, for tests.
    #[cfg(test)]
    Memory(io::Cursor<Vec<u8>>),
}

impl Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Plain { file, consumed } => {
                let n = file.read(buf)?;
                *consumed += n as u64;
                Ok(n)
            }
            Source::Decoded(d) => d.read(buf),
            #[cfg(test)]
            Source::Memory(c) => c.read(buf),
        }
    }

    /// File bytes consumed so far.
    fn consumed(&self) -> u64 {
        match self {
            Source::Plain { consumed, .. } => *consumed,
            Source::Decoded(d) => d.get_ref().count,
            #[cfg(test)]
            Source::Memory(c) => c.position(),
        }
    }
}

/// Where a field's value lies: in the block, or (a quoted value) in the block's scratch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    end: usize,
    in_scratch: bool,
}

impl Span {
    /// The value's bytes.
    #[inline(always)]
    pub(crate) fn get<'a>(&self, block: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        if self.in_scratch {
            &scratch[self.start..self.end]
        } else {
            &block[self.start..self.end]
        }
    }
}

/// What a sink learns about a complete record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordEnd {
    /// The 1-based line the record starts on.
    pub(crate) line: u64,
    /// Whether all of the record's bytes are known to be valid UTF-8 (then so is every field).
    pub(crate) valid_utf8: bool,
    /// Offset of the record's end in the parsed stream.
    pub(crate) offset: u64,
}

/// Receives the fields of each record, then the record.
pub(crate) trait Sink {
    /// Field `index` (0-based) of the record being read is `span`. A record that the end of a
    /// block cuts short is tokenized again after the next read, so its fields can come twice:
    /// field 0 always starts a record.
    fn field(&mut self, index: usize, span: Span, block: &[u8], scratch: &[u8]);
    /// The record is complete and has the expected number of fields. `Ok(false)` stops
    /// reading after it. The spans given to [`Sink::field`] stay valid until the block is
    /// refilled (see [`Sink::fresh_block`]).
    fn record(&mut self, end: &RecordEnd, block: &[u8], scratch: &[u8])
        -> Result<bool, FilesError>;
    /// A block was read; `consumed` file bytes so far.
    fn refilled(&mut self, _consumed: u64) {}
    /// Before a refill: buffers to continue in (a block, a scratch), when the sink wants to
    /// keep the current ones (it then gets them through [`Sink::retire`]). By default the
    /// block is reused in place, which ends its spans.
    fn fresh_block(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        None
    }
    /// The block and scratch the records given so far refer to, after [`Sink::fresh_block`].
    fn retire(&mut self, _block: Vec<u8>, _scratch: Vec<u8>) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before a record: CR and LF are skipped.
    StartRecord,
    /// In an unquoted value, or at the start of a value (`field_start` is the current byte).
    Unquoted,
    /// In a quoted value.
    InQuoted,
    /// Right after a quote that closed a quoted value (or the first of a doubled quote).
    AfterQuote,
    /// In ordinary bytes after a quoted value's closing quote (`"ab"c` is `abc`): kept.
    Tail,
}

enum Scan {
    /// The sink asked to stop.
    Stopped,
    /// The end of the input.
    End,
    /// The rest of the block is an incomplete record.
    NeedMore,
}

/// Tokenizes a CSV stream into records (see the module documentation).
pub(crate) struct Tokenizer {
    path: PathBuf,
    source: Source,
    delimiter: u8,
    /// Block buffer: data in `buf[pos..end]`, `PAD` spare bytes after the capacity.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    started: bool,
    /// Stream offset of `buf[0]`.
    offset: u64,
    /// The line `buf[pos]` is on: 1 + the LFs before it.
    line: u64,
    /// Number of fields of the first record; every other record must have as many.
    width: Option<u64>,
    /// `buf[pos..valid_to]` is valid UTF-8 (`valid_to` on a character boundary).
    valid_to: usize,
    /// Validation stopped at an invalid sequence at `valid_to` (not at the end of the data).
    bad: bool,
    /// The quoted values of the block's records, unquoted.
    scratch: Vec<u8>,
    /// The column names, for messages (empty until the caller knows them).
    names: Vec<String>,
    /// The header row, to recognise it repeated (with a header row only).
    header: Option<HeaderRow>,
}

/// The header's values, and how to spot a record that may repeat them without parsing it: by
/// the raw text of its first non-blank value (`probe`), as written plainly or quoted.
struct HeaderRow {
    names: Vec<String>,
    probe: usize,
    /// The probe value as an unquoted field, when it can be one (else empty).
    plain: Vec<u8>,
    /// The probe value as a quoted field.
    quoted: Vec<u8>,
}

impl HeaderRow {
    fn new(names: &[String], delimiter: u8) -> Option<HeaderRow> {
        let probe = names.iter().position(|n| !n.trim().is_empty())?;
        let name = names[probe].as_bytes();
        let plain = if name.starts_with(b"\"")
            || name
                .iter()
                .any(|&b| b == delimiter || b == b'\n' || b == b'\r')
        {
            Vec::new()
        } else {
            name.to_vec()
        };
        let mut quoted = vec![b'"'];
        for &b in name {
            if b == b'"' {
                quoted.push(b'"');
            }
            quoted.push(b);
        }
        quoted.push(b'"');
        Some(HeaderRow {
            names: names.to_vec(),
            probe,
            plain,
            quoted,
        })
    }

    /// Which bytes a record that may be the header row can start with.
    fn first_bytes(&self) -> [bool; 256] {
        let mut first = [self.probe != 0; 256];
        first[usize::from(*self.plain.first().unwrap_or(&b'"'))] = true;
        first[usize::from(b'"')] = true;
        first
    }

    /// Whether `record` (without its terminator) may be the header row: its probe value is
    /// written the way the header's is (or a quote makes it hard to tell without parsing).
    fn may_be(&self, record: &[u8], delimiter: u8) -> bool {
        let mut at = 0;
        for _ in 0..self.probe {
            match record[at..]
                .iter()
                .position(|&b| b == delimiter || b == b'"')
            {
                Some(p) if record[at + p] == delimiter => at += p + 1,
                Some(_) => return true,
                None => return false,
            }
        }
        let value = &record[at..];
        let written = |form: &[u8]| {
            value.first() == form.first()
                && !form.is_empty()
                && value.starts_with(form)
                && value.get(form.len()).is_none_or(|&b| b == delimiter)
        };
        written(&self.plain) || written(&self.quoted)
    }
}

impl Tokenizer {
    pub(crate) fn with_block(path: &Path, source: Source, delimiter: u8, block: usize) -> Self {
        let block = block.max(PAD);
        Tokenizer {
            path: path.to_path_buf(),
            source,
            delimiter,
            buf: vec![0; block + PAD],
            pos: 0,
            end: 0,
            eof: false,
            started: false,
            offset: 0,
            line: 1,
            width: None,
            valid_to: 0,
            bad: false,
            scratch: Vec::new(),
            names: Vec::new(),
            header: None,
        }
    }

    /// Names the columns for messages; when `header`, they are the header row's values, and
    /// a later record with the same values is an error (two exports concatenated).
    pub(crate) fn set_columns(&mut self, names: &[String], header: bool) {
        self.names = names.to_vec();
        self.header = if header {
            HeaderRow::new(names, self.delimiter)
        } else {
            None
        };
    }

    /// File bytes consumed so far.
    pub(crate) fn consumed(&self) -> u64 {
        self.source.consumed()
    }

    /// The current block and its scratch (what the records given since the last refill refer
    /// to), leaving the tokenizer empty: for handing the last records over.
    pub(crate) fn take_block(&mut self) -> (Vec<u8>, Vec<u8>) {
        (
            std::mem::take(&mut self.buf),
            std::mem::take(&mut self.scratch),
        )
    }

    /// Feeds records to `sink` until it stops (`Ok(true)`) or the input ends (`Ok(false)`).
    /// Fails on a record whose number of fields differs from the first record's, on a NUL byte
    /// or a byte-order mark (past the start) anywhere in a record, on a record equal to the
    /// header row (see [`Tokenizer::set_columns`]), on a quoted value still open at the end of
    /// the input, on a read error, or with the sink's error.
    pub(crate) fn run<S: Sink>(&mut self, sink: &mut S) -> Result<bool, FilesError> {
        if !self.started {
            self.refill(sink)?;
        }
        loop {
            match self.scan(sink)? {
                Scan::Stopped => return Ok(true),
                Scan::End => return Ok(false),
                Scan::NeedMore => self.refill(sink)?,
            }
        }
    }

    fn capacity(&self) -> usize {
        self.buf.len() - PAD
    }

    /// Moves the unparsed tail to the front, grows the block if the tail fills it, reads until
    /// the block is full or the input ends, and validates the new bytes.
    fn refill<S: Sink>(&mut self, sink: &mut S) -> Result<(), FilesError> {
        if self.valid_to < self.pos {
            // Past an invalid sequence: validate again from the record boundary.
            self.valid_to = self.pos;
            self.bad = false;
        }
        if let Some((mut fresh, mut fresh_scratch)) = sink.fresh_block() {
            // The sink keeps the block: continue in a fresh one.
            fresh.resize(self.buf.len(), 0);
            fresh[..self.end - self.pos].copy_from_slice(&self.buf[self.pos..self.end]);
            fresh_scratch.clear();
            let block = std::mem::replace(&mut self.buf, fresh);
            let scratch = std::mem::replace(&mut self.scratch, fresh_scratch);
            sink.retire(block, scratch);
        } else {
            self.buf.copy_within(self.pos..self.end, 0);
            self.scratch.clear();
        }
        self.offset += self.pos as u64;
        self.end -= self.pos;
        self.valid_to -= self.pos;
        self.pos = 0;
        if self.end == self.capacity() {
            let grown = self.capacity() * 2;
            self.buf.resize(grown + PAD, 0);
        }
        let cap = self.capacity();
        while self.end < cap {
            match self.source.read(&mut self.buf[self.end..cap]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FilesError::io(&self.path, e)),
            }
        }
        if !self.started {
            self.started = true;
            if self.buf[self.pos..self.end].starts_with(UTF8_BOM) {
                self.pos += UTF8_BOM.len();
                self.valid_to = self.pos;
            }
        }
        if !self.bad {
            let (n, bad) = validate(&self.buf[self.valid_to..self.end]);
            self.valid_to += n;
            self.bad = bad;
        }
        sink.refilled(self.source.consumed());
        Ok(())
    }

    /// Runs the state machine over `buf[pos..end]`, record by record.
    // The macros leave the state ready for the next byte, which a record's end then overrides.
    #[allow(unused_assignments)]
    fn scan<S: Sink>(&mut self, sink: &mut S) -> Result<Scan, FilesError> {
        let buf = &self.buf[..];
        let scratch = &mut self.scratch;
        let (end, eof, d) = (self.end, self.eof, self.delimiter);
        let start = self.pos;
        let line0 = self.line;
        let mut width = self.width;
        let (mut valid_to, mut bad) = (self.valid_to, self.bad);
        // The first NUL byte or byte-order mark found so far (`usize::MAX`: none).
        let mut odd_at = usize::MAX;
        // A record whose first byte is not one of these does not repeat the header row.
        let header = self.header.as_ref();
        let header_first = header.map_or([false; 256], HeaderRow::first_bytes);

        // After the last complete record: where to resume, and the LFs before it.
        let mut commit = start;
        let mut commit_nl = 0u64;
        // LFs seen since `start`.
        let mut nl = 0u64;
        // In `StartRecord` and `AfterQuote`: the byte after the last one that mattered (bytes
        // from there on up to the current one are ordinary ones).
        let mut next = start;

        let mut state = State::StartRecord;
        let mut rec_line = 0u64;
        // Where the record starts in the block.
        let mut rec_start = 0usize;
        // The LFs (since `start`) before the quote that opened the current quoted value.
        let mut quote_nl = 0u64;
        let mut field = 0usize;
        // `Unquoted`: where the value starts in the block.
        let mut field_start = 0usize;
        // A quoted value: where it starts in the scratch, and where the bytes not yet copied
        // there start in the block.
        let mut sc_start = 0usize;
        let mut seg = 0usize;

        // A record starts at `$at`, after `$lfs` LFs (since `start`).
        macro_rules! begin_record {
            ($at:expr, $lfs:expr) => {{
                rec_line = line0 + $lfs;
                field = 0;
                field_start = $at;
                rec_start = $at;
                state = State::Unquoted;
            }};
        }
        macro_rules! raw_field {
            ($at:expr) => {{
                let at = $at;
                let span = Span {
                    start: field_start,
                    end: at,
                    in_scratch: false,
                };
                sink.field(field, span, buf, scratch);
                field += 1;
                field_start = at + 1;
            }};
        }
        // A quoted value ends; its last bytes are `buf[seg..$copy_to]` when given.
        macro_rules! quoted_field {
            ($at:expr $(, $copy_to:expr)?) => {{
                $(scratch.extend_from_slice(&buf[seg..$copy_to]);)?
                let span = Span {
                    start: sc_start,
                    end: scratch.len(),
                    in_scratch: true,
                };
                sink.field(field, span, buf, scratch);
                field += 1;
                field_start = $at + 1;
                state = State::Unquoted;
            }};
        }
        // The record ends before `$at`; the next one can start at `$at + 1`.
        macro_rules! end_record {
            ($at:expr) => {{
                let at = $at;
                if at > odd_at {
                    // A NUL byte or a byte-order mark in the record (rare: checked again).
                    return Err(odd_error(
                        &self.path,
                        &self.names,
                        &buf[rec_start..at],
                        odd_at - rec_start,
                        rec_line,
                        d,
                    ));
                }
                let found = field as u64;
                match width {
                    None => width = Some(found),
                    Some(expected) if expected != found => {
                        return Err(FilesError::RaggedRow {
                            path: self.path.clone(),
                            line: rec_line,
                            expected,
                            found,
                        });
                    }
                    Some(_) => {}
                }
                if header_first[usize::from(buf[rec_start])]
                    && repeats_header(header, &buf[rec_start..at], d)
                {
                    return Err(FilesError::RepeatedHeader {
                        path: self.path.clone(),
                        line: rec_line,
                        sheet: None,
                    });
                }
                let info = RecordEnd {
                    line: rec_line,
                    valid_utf8: at <= valid_to,
                    offset: self.offset + at as u64,
                };
                let go_on = sink.record(&info, buf, scratch)?;
                commit = (at + 1).min(end);
                commit_nl = nl;
                if bad && commit > valid_to {
                    // The record held the invalid sequence; validate again after it.
                    let (n, b) = validate(&buf[commit..end]);
                    valid_to = commit + n;
                    bad = b;
                }
                if !go_on {
                    break Scan::Stopped;
                }
                // Most records start right after the previous one's line break.
                if at + 1 < end && !matches!(buf[at + 1], b'\n' | b'\r') {
                    begin_record!(at + 1, nl);
                } else {
                    state = State::StartRecord;
                    next = at + 1;
                }
            }};
        }
        // A byte that matters, in an unquoted value (or at the start of one).
        macro_rules! unquoted {
            ($i:expr, $c:expr) => {{
                let (i, c) = ($i, $c);
                if c == b'"' && i == field_start {
                    // (Checked first: csv_core tests the quote before the delimiter.)
                    sc_start = scratch.len();
                    seg = i + 1;
                    quote_nl = nl;
                    state = State::InQuoted;
                } else if c == d {
                    raw_field!(i);
                } else if c == b'\n' || c == b'\r' {
                    raw_field!(i);
                    end_record!(i);
                }
                // Otherwise a quote inside an unquoted value: kept.
            }};
        }

        // The mask of the 64-byte window at `$base`, noting a NUL byte or a byte-order mark in
        // it (windows are classified in order, ahead of the bytes the state machine takes).
        macro_rules! classify {
            ($base:expr) => {{
                let base = $base;
                let (mask, odd) = window(buf, base, end, d);
                if odd {
                    let at = find_odd(buf, base.max(start), (base + 64).min(end), end);
                    odd_at = odd_at.min(at);
                }
                mask
            }};
        }

        let mut base = start & !63;
        let mut mask = if base < end {
            classify!(base) & (!0u64 << (start - base))
        } else {
            0
        };
        let outcome = loop {
            while mask == 0 {
                base += 64;
                if base >= end {
                    break;
                }
                mask = classify!(base);
            }
            if mask == 0 {
                // The data is exhausted.
                if !eof {
                    break Scan::NeedMore;
                }
                match state {
                    State::StartRecord => {
                        if end == next {
                            break Scan::End;
                        }
                        begin_record!(next, nl);
                        raw_field!(end);
                    }
                    State::Unquoted => raw_field!(end),
                    State::InQuoted => {
                        return Err(unclosed_quote(
                            &self.path,
                            &self.names,
                            field,
                            line0 + quote_nl,
                        ))
                    }
                    State::Tail => quoted_field!(end, end),
                    State::AfterQuote if end > next => {
                        seg = next;
                        quoted_field!(end, end);
                    }
                    State::AfterQuote => quoted_field!(end),
                }
                end_record!(end);
                break Scan::End;
            }
            let i = base + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let c = buf[i];
            nl += u64::from(c == b'\n');
            match state {
                State::Unquoted => unquoted!(i, c),
                State::InQuoted => {
                    if c == b'"' {
                        scratch.extend_from_slice(&buf[seg..i]);
                        next = i + 1;
                        state = State::AfterQuote;
                    }
                }
                State::StartRecord => {
                    if i > next {
                        // (The LF counted just now, if `c` is one, comes after the start.)
                        begin_record!(next, nl - u64::from(c == b'\n'));
                        unquoted!(i, c);
                    } else if c == b'\n' || c == b'\r' {
                        // A blank line, or the LF of a CRLF.
                        next = i + 1;
                    } else {
                        begin_record!(i, nl);
                        unquoted!(i, c);
                    }
                }
                State::AfterQuote => {
                    if i > next {
                        // Ordinary bytes after the closing quote: kept, unquoted.
                        seg = next;
                        state = State::Tail;
                        if c == d {
                            quoted_field!(i, i);
                        } else if c == b'\n' || c == b'\r' {
                            quoted_field!(i, i);
                            end_record!(i);
                        }
                    } else if c == b'"' {
                        // A doubled quote: this one is kept.
                        seg = i;
                        state = State::InQuoted;
                    } else if c == d {
                        quoted_field!(i);
                    } else {
                        quoted_field!(i);
                        end_record!(i);
                    }
                }
                State::Tail => {
                    if c == d {
                        quoted_field!(i, i);
                    } else if c == b'\n' || c == b'\r' {
                        quoted_field!(i, i);
                        end_record!(i);
                    }
                    // A quote is kept.
                }
            }
        };
        let commit = match outcome {
            Scan::End => end,
            _ => commit,
        };
        self.pos = commit;
        self.line = line0
            + if matches!(outcome, Scan::End) {
                nl
            } else {
                commit_nl
            };
        self.width = width;
        self.valid_to = valid_to;
        self.bad = bad;
        Ok(outcome)
    }
}

/// How messages name column `index` (0-based): by its name when known, else by position.
fn column_label(names: &[String], index: usize) -> String {
    match names.get(index) {
        Some(name) if !name.trim().is_empty() => format!("'{name}'"),
        _ => format!("#{}", index + 1),
    }
}

/// The error for a quoted value (in column `index`) that the end of the input leaves open.
fn unclosed_quote(path: &Path, names: &[String], index: usize, line: u64) -> FilesError {
    FilesError::MalformedCsv {
        path: path.to_path_buf(),
        line: Some(line),
        message: format!(
            "a quoted value in column {} opens on this line and is never closed (a missing '\"'), so the rest of the file would be read as one value",
            column_label(names, index)
        ),
    }
}

/// The error for a record holding a NUL byte or a byte-order mark at `at`: the first of them
/// (`record` is the record's bytes without its terminator, `line` the line it starts on).
#[cold]
fn odd_error(
    path: &Path,
    names: &[String],
    record: &[u8],
    at: usize,
    line: u64,
    delimiter: u8,
) -> FilesError {
    if record[at] != 0 {
        let breaks = record[..at].iter().filter(|&&b| b == b'\n').count() as u64;
        return FilesError::MidFileBom {
            path: path.to_path_buf(),
            line: line + breaks,
        };
    }
    // Which value holds it: the record parsed again (the `csv` crate's grammar is this one).
    let fields = parse_record(record, delimiter);
    let index = fields.iter().position(|f| f.contains(&0)).unwrap_or(0);
    let column = match names.get(index) {
        Some(name) => name.clone(),
        None => {
            // The header itself: its text without the NUL bytes (a UTF-16 name shows).
            let text: String = String::from_utf8_lossy(fields.get(index).map_or(&[][..], |f| f))
                .chars()
                .filter(|c| !c.is_control() && *c != char::REPLACEMENT_CHARACTER)
                .collect();
            if text.trim().is_empty() {
                format!("#{}", index + 1)
            } else {
                text.trim().to_string()
            }
        }
    };
    FilesError::NulByte {
        path: path.to_path_buf(),
        line,
        column,
    }
}

/// The values of one record (`record` without its terminator), by the `csv` crate.
fn parse_record(record: &[u8], delimiter: u8) -> Vec<Vec<u8>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(record);
    let mut fields = csv::ByteRecord::new();
    match reader.read_byte_record(&mut fields) {
        Ok(true) => fields.iter().map(<[u8]>::to_vec).collect(),
        _ => Vec::new(),
    }
}

/// Whether `record` (without its terminator) repeats the header row.
#[cold]
#[inline(never)]
fn repeats_header(header: Option<&HeaderRow>, record: &[u8], delimiter: u8) -> bool {
    header.is_some_and(|h| h.may_be(record, delimiter) && h.is(record, delimiter))
}

impl HeaderRow {
    /// Whether `record` (without its terminator) has exactly the header's values.
    fn is(&self, record: &[u8], delimiter: u8) -> bool {
        let fields = parse_record(record, delimiter);
        fields.len() == self.names.len()
            && fields
                .iter()
                .zip(&self.names)
                .all(|(f, n)| f[..] == *n.as_bytes())
    }
}

/// The first NUL byte or UTF-8 byte-order mark starting in `buf[from..to]`, or `usize::MAX`
/// (a mark that `end` cuts short is not one: its record is incomplete, and looked at again
/// after a refill). Rare: only for windows that hold a 0 or a byte from 0xEF up (or lie at the
/// end of the data).
#[cold]
#[inline(never)]
fn find_odd(buf: &[u8], from: usize, to: usize, end: usize) -> usize {
    (from..to)
        .find(|&i| buf[i] == 0 || buf[i..end].starts_with(UTF8_BOM))
        .unwrap_or(usize::MAX)
}

/// The mask of the bytes that matter in the 64 bytes at `base` (bit k = `buf[base + k]`),
/// cut at `end`; and whether the 64 bytes (uncut) may hold a NUL byte or a byte-order mark.
#[inline(always)]
fn window(buf: &[u8], base: usize, end: usize, delimiter: u8) -> (u64, bool) {
    let block: &[u8; 64] = buf[base..base + 64].try_into().expect("64 bytes");
    let (mask, odd) = special_bytes(block, delimiter);
    if end - base < 64 {
        (mask & ((1u64 << (end - base)) - 1), odd)
    } else {
        (mask, odd)
    }
}

/// Bit k is set when `block[k]` is the delimiter, `"`, CR or LF; and whether `block` may hold a
/// NUL byte or a byte-order mark (it holds a 0, or a byte from 0xEF up).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn special_bytes(block: &[u8; 64], delimiter: u8) -> (u64, bool) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_min_epu8, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8, _mm_setzero_si128,
    };
    let mut mask = 0u64;
    // SAFETY: SSE2 is part of the x86_64 baseline; each load reads 16 bytes inside `block`
    // (offsets 0, 16, 32, 48 of 64), unaligned loads allowed.
    unsafe {
        let d = _mm_set1_epi8(delimiter as i8);
        let q = _mm_set1_epi8(b'"' as i8);
        let cr = _mm_set1_epi8(b'\r' as i8);
        let lf = _mm_set1_epi8(b'\n' as i8);
        // The smallest and largest byte of each lane (two instructions a vector; whether
        // there is a 0 or a byte from 0xEF up is asked once for the window).
        let mut low = _mm_set1_epi8(-1);
        let mut high = _mm_setzero_si128();
        for k in 0..4 {
            let x = _mm_loadu_si128(block.as_ptr().add(16 * k).cast::<__m128i>());
            let hits = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(x, d), _mm_cmpeq_epi8(x, q)),
                _mm_or_si128(_mm_cmpeq_epi8(x, cr), _mm_cmpeq_epi8(x, lf)),
            );
            mask |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * k);
            low = _mm_min_epu8(low, x);
            high = _mm_max_epu8(high, x);
        }
        let ef = _mm_set1_epi8(0xEFu8 as i8);
        let odd = _mm_or_si128(
            _mm_cmpeq_epi8(low, _mm_setzero_si128()),
            _mm_cmpeq_epi8(_mm_max_epu8(high, ef), high),
        );
        let odd = _mm_movemask_epi8(odd) != 0;
        (mask, odd)
    }
}

/// Bit k is set when `block[k]` is the delimiter, `"`, CR or LF; and whether `block` may hold a
/// NUL byte or a byte-order mark (it holds a 0, or a byte from 0xEF up).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn special_bytes(block: &[u8; 64], delimiter: u8) -> (u64, bool) {
    special_bytes_portable(block, delimiter)
}

/// The portable version of [`special_bytes`] (and its reference in tests).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn special_bytes_portable(block: &[u8; 64], delimiter: u8) -> (u64, bool) {
    let mask = block.iter().enumerate().fold(0u64, |mask, (k, &b)| {
        let hit = b == delimiter || b == b'"' || b == b'\r' || b == b'\n';
        mask | (u64::from(hit) << k)
    });
    (mask, block.iter().any(|&b| b == 0 || b >= 0xEF))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects every record: (line, fields, valid_utf8).
    #[derive(Default)]
    struct Collect {
        fields: Vec<Vec<u8>>,
        records: Vec<(u64, Vec<Vec<u8>>, bool)>,
    }

    impl Sink for Collect {
        fn field(&mut self, index: usize, span: Span, block: &[u8], scratch: &[u8]) {
            if index == 0 {
                self.fields.clear();
            }
            assert_eq!(index, self.fields.len());
            self.fields.push(span.get(block, scratch).to_vec());
        }
        fn record(&mut self, e: &RecordEnd, _: &[u8], _: &[u8]) -> Result<bool, FilesError> {
            let fields = std::mem::take(&mut self.fields);
            self.records.push((e.line, fields, e.valid_utf8));
            Ok(true)
        }
    }

    /// Why tokenizing stopped before the end.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Stop {
        /// A ragged row: line, expected, found.
        Ragged(u64, u64, u64),
        /// A quoted value never closed, opened on this line.
        Unclosed(u64),
        /// A NUL byte: line, column.
        Nul(u64, String),
        /// A byte-order mark on this line.
        Bom(u64),
        /// The header repeated on this line.
        Header(u64),
    }

    type Parsed = (Vec<(u64, Vec<Vec<u8>>)>, Option<Stop>);

    /// Tokenizes `bytes` with a block of `block` bytes: records, and why it stopped early if
    /// it did. Checks the UTF-8 flag on the way. With `header`, the first record is the header.
    fn tokenize_with(bytes: &[u8], delimiter: u8, block: usize, header: bool) -> Parsed {
        let source = Source::Memory(io::Cursor::new(bytes.to_vec()));
        let mut t = Tokenizer::with_block(Path::new("t.csv"), source, delimiter, block);
        let mut sink = Collect::default();
        let mut outcome = Ok(false);
        if header {
            // Read the header alone, as the reader does, then name the columns after it.
            struct First(Collect);
            impl Sink for First {
                fn field(&mut self, index: usize, span: Span, block: &[u8], scratch: &[u8]) {
                    self.0.field(index, span, block, scratch);
                }
                fn record(
                    &mut self,
                    e: &RecordEnd,
                    b: &[u8],
                    s: &[u8],
                ) -> Result<bool, FilesError> {
                    self.0.record(e, b, s)?;
                    Ok(false)
                }
            }
            let mut first = First(Collect::default());
            outcome = t.run(&mut first);
            sink.records = first.0.records;
            if let Some((_, fields, _)) = sink.records.first() {
                let names: Vec<String> = fields
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect();
                t.set_columns(&names, true);
            }
        }
        if outcome.is_ok() {
            outcome = t.run(&mut sink);
        }
        let stop = match outcome {
            Ok(stopped) => {
                assert!(!stopped);
                None
            }
            Err(FilesError::RaggedRow {
                line,
                expected,
                found,
                ..
            }) => Some(Stop::Ragged(line, expected, found)),
            Err(e @ FilesError::MalformedCsv { .. }) => {
                assert!(e.to_string().contains("is never closed"), "{e}");
                Some(Stop::Unclosed(e.line().unwrap()))
            }
            Err(FilesError::NulByte { line, column, .. }) => Some(Stop::Nul(line, column)),
            Err(FilesError::MidFileBom { line, .. }) => Some(Stop::Bom(line)),
            Err(FilesError::RepeatedHeader { line, .. }) => Some(Stop::Header(line)),
            Err(e) => panic!("{e}"),
        };
        let records = sink
            .records
            .into_iter()
            .map(|(line, fields, valid)| {
                if valid {
                    for f in &fields {
                        assert!(std::str::from_utf8(f).is_ok(), "{bytes:?}");
                    }
                }
                (line, fields)
            })
            .collect();
        (records, stop)
    }

    fn tokenize(bytes: &[u8], delimiter: u8, block: usize) -> Parsed {
        tokenize_with(bytes, delimiter, block, false)
    }

    /// The line of the quote that opened a quoted value the end of `bytes` leaves open, if
    /// one does: csv_core's states, a byte at a time (see the table in the module docs).
    fn open_quote_at_end(bytes: &[u8], delimiter: u8) -> Option<u64> {
        #[derive(PartialEq)]
        enum S {
            FieldStart,
            Unquoted,
            Quoted,
            AfterQuote,
        }
        let mut state = S::FieldStart;
        let (mut line, mut quote_line) = (1u64, 0u64);
        for &b in bytes {
            let ends = b == delimiter || b == b'\n' || b == b'\r';
            state = match state {
                S::FieldStart if b == b'"' => {
                    quote_line = line;
                    S::Quoted
                }
                S::FieldStart | S::Unquoted if ends => S::FieldStart,
                S::FieldStart | S::Unquoted => S::Unquoted,
                S::Quoted if b == b'"' => S::AfterQuote,
                S::Quoted => S::Quoted,
                S::AfterQuote if b == b'"' => S::Quoted,
                S::AfterQuote if ends => S::FieldStart,
                S::AfterQuote => S::Unquoted,
            };
            line += u64::from(b == b'\n');
        }
        (state == S::Quoted).then_some(quote_line)
    }

    /// The `csv` crate's parse of `bytes` (as the adapter configured it), with the line each
    /// record starts on: 1 + the LFs before its first byte (after the previous record's end,
    /// the parser skips CRs and LFs). A quoted value that the end leaves open, which the crate
    /// takes as it is, stops the adapter instead of its record.
    fn reference(bytes: &[u8], delimiter: u8) -> Parsed {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(false)
            .delimiter(delimiter)
            .from_reader(bytes);
        let skip = if bytes.starts_with(UTF8_BOM) { 3 } else { 0 };
        let unclosed = open_quote_at_end(&bytes[skip..], delimiter).map(Stop::Unclosed);
        let mut records = Vec::new();
        let mut rec = csv::ByteRecord::new();
        let mut before = 0usize;
        loop {
            let start = bytes[before.max(skip)..]
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .map_or(bytes.len(), |p| p + before.max(skip));
            let line = 1 + bytes[..start].iter().filter(|&&b| b == b'\n').count() as u64;
            match r.read_byte_record(&mut rec) {
                Ok(true) => records.push((line, rec.iter().map(<[u8]>::to_vec).collect())),
                Ok(false) => {
                    if unclosed.is_some() {
                        // The last record holds the open value.
                        records.pop();
                    }
                    return (records, unclosed);
                }
                Err(e) => match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        let last = matches!(r.read_byte_record(&mut rec), Ok(false));
                        return match &unclosed {
                            Some(stop) if last => (records, Some(stop.clone())),
                            _ => (records, Some(Stop::Ragged(line, *expected_len, *len))),
                        };
                    }
                    _ => panic!("{e}"),
                },
            }
            before = r.position().byte() as usize;
        }
    }

    fn check(bytes: &[u8], delimiter: u8) {
        let want = reference(bytes, delimiter);
        for block in [64, 65, 100, 200, 4096] {
            assert_eq!(
                tokenize(bytes, delimiter, block),
                want,
                "block {block}, delimiter {:?}, input {:?}",
                delimiter as char,
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn simd_mask_matches_the_portable_one() {
        let mut next = crate::read::xorshift(0x9E37_79B9_7F4A_7C15);
        for case in 0..4000 {
            let mut block = [0u8; 64];
            for b in &mut block {
                *b = b",;\"\r\n a\xC3\xEE\t\x01\x10\xBB"[(next() % 13) as usize];
            }
            // Half the blocks get a NUL byte or one from 0xEF up, anywhere.
            if case % 2 == 0 {
                block[(next() % 64) as usize] = [0, 0xEF, 0xF0, 0xFF][(next() % 4) as usize];
            }
            for d in [b',', b';', b'\t', b'|', b'"', b'\n'] {
                assert_eq!(special_bytes(&block, d), special_bytes_portable(&block, d));
            }
        }
    }

    #[test]
    fn plain_quoted_and_odd_records_match_the_csv_crate() {
        for text in [
            &b"a,b\n1,2\n"[..],
            b"a,b\r\n1,2\r\n",
            b"a,b\r1,2\r",
            b"a,b",
            b"a,b\n\n\n1,2",
            b"\n\r\n a,b\n",
            b"a,\"b,c\"\n\"x\ny\",\"\"\n",
            b"\"say \"\"hi\"\"\",x\n",
            b"ab\"c,d\n",
            b"\"ab\"c,d\n",
            b"\"ab\"\"c\"d\"e,f\n",
            b"a,\"unclosed\nb,c\n",
            b"a,\"unclosed",
            b"a,b,c\n1,\"x\ny\",\"open\n2,z\n",
            b"a,b\n\"x\"\"",
            b"\"open,b\n1,2\n",
            b"a,\"closed at the end\"",
            b"a,",
            b",\n,\n",
            b"\"\"\n",
            b"\xEF\xBB\xBFid\n1\n",
            b"a,b\n1\n",
            b"a,b\n1,2,3\n",
        ] {
            check(text, b',');
        }
        check(b"a\"b\"c\n\"x\"\"y\"\n", b'"');
        check(b"a\nb\rc\r\nd\n", b'\n');
        check(b"a;b\n\"1;2\";3\n", b';');
    }

    /// `text` shifted by every padding of blank lines (so that 64-byte windows and block ends
    /// fall everywhere), tokenized at several block sizes: all must stop alike, with `stop`
    /// moved down by the padding's lines.
    fn stops_everywhere_alike(text: &[u8], header: bool, stop: Stop) {
        for pad in 0..70u64 {
            let mut shifted = vec![b'\n'; pad as usize];
            shifted.extend_from_slice(text);
            let want = match &stop {
                Stop::Ragged(l, e, f) => Stop::Ragged(l + pad, *e, *f),
                Stop::Unclosed(l) => Stop::Unclosed(l + pad),
                Stop::Nul(l, c) => Stop::Nul(l + pad, c.clone()),
                Stop::Bom(l) => Stop::Bom(l + pad),
                Stop::Header(l) => Stop::Header(l + pad),
            };
            for block in [64, 65, 100, 4096] {
                let (_, got) = tokenize_with(&shifted, b',', block, header);
                assert_eq!(
                    got,
                    Some(want.clone()),
                    "pad {pad} block {block}: {:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn a_nul_byte_stops_at_its_record_naming_the_column() {
        let rows = b"id,name,city\n1,Ann,Oslo\n2,\"two\nlines\",Rome\n".to_vec();
        let with = |tail: &[u8]| [&rows[..], tail].concat();
        // In a plain value, a quoted one, a multi-line one (the record's line), the last one.
        stops_everywhere_alike(
            &with(b"3,B\0b,X\n4,a,b\n"),
            true,
            Stop::Nul(5, "name".into()),
        );
        stops_everywhere_alike(&with(b"3,\"B\0\",X\n"), true, Stop::Nul(5, "name".into()));
        stops_everywhere_alike(
            &with(b"3,b,\"x\ny\0\"\n"),
            true,
            Stop::Nul(5, "city".into()),
        );
        stops_everywhere_alike(&with(b"3,b,x\0"), true, Stop::Nul(5, "city".into()));
        // Before the ragged row it is part of, and in the header itself.
        stops_everywhere_alike(&with(b"3,\0\n"), true, Stop::Nul(5, "name".into()));
        stops_everywhere_alike(b"id,na\0me\n1,2\n", true, Stop::Nul(1, "name".into()));
        // A UTF-16 file, little- and big-endian, with and without its byte-order mark: the
        // header's first value, named without its NUL bytes.
        let utf16 = |big: bool, bom: bool| {
            let mut bytes = Vec::new();
            if bom {
                bytes.extend_from_slice(if big { b"\xFE\xFF" } else { b"\xFF\xFE" });
            }
            for unit in "No.,Name\nC1,Zoë\n".encode_utf16() {
                let pair = if big {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                };
                bytes.extend_from_slice(&pair);
            }
            bytes
        };
        for big in [false, true] {
            for bom in [false, true] {
                let (records, stop) = tokenize(&utf16(big, bom), b',', 4096);
                assert!(records.is_empty());
                assert_eq!(stop, Some(Stop::Nul(1, "No.".into())), "{big} {bom}");
            }
        }
    }

    #[test]
    fn a_byte_order_mark_past_the_start_stops_at_its_line() {
        let first = b"No.,Name\n1,Ann\n2,\"two\nlines\"\n".to_vec();
        // Two exports concatenated: the second one's header, after its mark, on line 5.
        let mut two = first.clone();
        two.extend_from_slice(b"\xEF\xBB\xBFNo.,Name\n3,Bob\n");
        stops_everywhere_alike(&two, true, Stop::Bom(5));
        stops_everywhere_alike(&two, false, Stop::Bom(5));
        // Inside a value, on the second line of a multi-line one.
        let mut inside = first.clone();
        inside.extend_from_slice(b"3,\"x\ny\xEF\xBB\xBF\"\n");
        stops_everywhere_alike(&inside, true, Stop::Bom(6));
        // Two marks at the very start: the tokenizer drops one (the reader the other)...
        let (_, stop) = tokenize(b"\xEF\xBB\xBFa,b\n1,2\n", b',', 64);
        assert_eq!(stop, None);
        let (_, stop) = tokenize(b"\xEF\xBB\xBF\xEF\xBB\xBFa,b\n1,2\n", b',', 64);
        assert_eq!(stop, Some(Stop::Bom(1)));
        // ...and the first bytes of a mark, or other characters starting with 0xEF, are text.
        for text in ["a,b\n1,\u{FF71}\u{FEFE}\n", "a,b\n1,x\u{EFBB}"] {
            check(text.as_bytes(), b',');
        }
        check(b"a,b\n1,\xEF\xBB", b',');
    }

    #[test]
    fn the_header_repeated_stops_at_its_line() {
        let rows = b"No.,Name,City\n1,Ann,Oslo\n2,\"two\nlines\",Rome\n".to_vec();
        let with = |tail: &[u8]| [&rows[..], tail].concat();
        // Quoted or not, the same values.
        stops_everywhere_alike(&with(b"No.,Name,City\n3,x,y\n"), true, Stop::Header(5));
        stops_everywhere_alike(&with(b"\"No.\",\"Name\",City\r\n"), true, Stop::Header(5));
        // Not without a header row, and not when only some values match.
        for tail in [&b"No.,Name,Town\n"[..], b"No.,x,City\n", b"No.,Name,City "] {
            let text = with(tail);
            let (records, stop) = tokenize_with(&text, b',', 64, true);
            assert_eq!((records.len(), stop), (4, None));
        }
        let (records, stop) = tokenize_with(&with(b"No.,Name,City\n"), b',', 64, false);
        assert_eq!((records.len(), stop), (4, None));
        // Names that must be quoted, or hold a quote.
        let odd = b"\"a,b\",x\"y,\"\"\"q\"\n1,2,3\n\"a,b\",x\"y,\"\"\"q\"\n";
        stops_everywhere_alike(odd, true, Stop::Header(3));
        let odd = b"\"a,b\",x\"y\n1,2\n\"a,b\",\"x\"\"y\"\n";
        stops_everywhere_alike(odd, true, Stop::Header(3));
        // A blank first name: the first non-blank one is compared first.
        stops_everywhere_alike(b",Name\n1,a\n\n,Name\n", true, Stop::Header(4));
        stops_everywhere_alike(b",,Name\n1,\"x\",a\n,\"\",Name\n", true, Stop::Header(3));
        let (records, stop) = tokenize_with(b",Name\n1,a\n,b\n", b',', 64, true);
        assert_eq!((records.len(), stop), (3, None));
    }

    #[test]
    fn an_unclosed_quote_names_the_line_it_opens_on() {
        // After multi-line values in earlier records, and in its own record.
        let text = b"a,b,c\n1,\"x\ny\",z\n2,\"p\n\nq\",\"open\nr\n3,s,t\n";
        stops_everywhere_alike(text, true, Stop::Unclosed(6));
        let (records, _) = tokenize(text, b',', 64);
        assert_eq!(records.len(), 2);
        // The header's message names the column by position.
        let source = Source::Memory(io::Cursor::new(b"a,\"b\n1,2\n".to_vec()));
        let mut t = Tokenizer::with_block(Path::new("q.csv"), source, b',', 64);
        let err = t.run(&mut Collect::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "q.csv: line 1: malformed CSV: a quoted value in column #2 opens on this line and is never closed (a missing '\"'), so the rest of the file would be read as one value"
        );
    }

    #[test]
    fn random_inputs_match_the_csv_crate_at_every_block_size() {
        let mut next = crate::read::xorshift(0x2545_F491_4F6C_DD1D);
        for case in 0..3000u32 {
            let len = (next() % 400) as usize;
            // Mostly ordinary bytes, like real files; sometimes dense with special ones.
            let dense = case.is_multiple_of(3);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if !dense && !r.is_multiple_of(4) {
                        b"abcdefgh"[(r >> 8) as usize % 8]
                    } else {
                        b",;\"\r\n \xC3\xA9\xFC|"[(r >> 8) as usize % 10]
                    }
                })
                .collect();
            check(&bytes, if case.is_multiple_of(2) { b',' } else { b';' });
        }
    }

    #[test]
    fn a_record_longer_than_the_block_grows_it() {
        let mut text = b"id,note\n1,\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', 1000));
        text.extend_from_slice(b"\ny\"\n2,short\n");
        let (records, ragged) = tokenize(&text, b',', 64);
        assert_eq!(ragged, None);
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].1[1].len(), 1002);
        assert_eq!((records[1].0, records[2].0), (2, 4));
    }

    #[test]
    fn invalid_utf8_is_flagged_per_record_and_validation_resumes_after_it() {
        let text = b"a,b\n1,ok\n2,caf\xE9\n3,fine\n4,Zo\xC3\xAB\n";
        for block in [64, 4096] {
            let source = Source::Memory(io::Cursor::new(text.to_vec()));
            let mut t = Tokenizer::with_block(Path::new("u.csv"), source, b',', block);
            let mut sink = Collect::default();
            t.run(&mut sink).unwrap();
            let flags: Vec<bool> = sink.records.iter().map(|r| r.2).collect();
            assert_eq!(flags, [true, true, false, true, true], "block {block}");
        }
    }

    #[test]
    fn a_chunk_boundary_inside_a_quoted_value_or_a_multibyte_character() {
        // Every split of the input across two blocks of the smallest size.
        let text = "id,name\n1,\"Müller, \"\"Hans\"\"\nzwei\"\r\n2,Zoë\n".as_bytes();
        let want = reference(text, b',');
        assert_eq!(want.0[1].0, 2);
        assert_eq!(want.0[2].0, 4);
        for pad in 0..64 {
            // Shift the input so that the 64-byte windows and the block end fall everywhere.
            let mut shifted = vec![b'\n'; pad];
            shifted.extend_from_slice(text);
            let want = reference(&shifted, b',');
            for block in [64, 70, 90] {
                assert_eq!(
                    tokenize(&shifted, b',', block),
                    want,
                    "pad {pad} block {block}"
                );
            }
        }
    }
}
