//! The CSV reader (tokenizer, header handling, table building) against the `csv` crate.
//!
//! Input: one mode byte, then the file's bytes. The mode picks the delimiter (detected, one of
//! `,` `;` tab `|` `"` LF, or any ASCII byte), the encoding (UTF-8 or windows-1252) and whether
//! the first record is a header. The file is read with coupler's public entry points
//! (`read_header`, then `read_table` for every column) and parsed with `csv::ReaderBuilder`
//! (same delimiter, `"` quotes, flexible so that every record is seen, no header handling)
//! after the same BOM handling and decoding.
//!
//! When coupler accepts the file, none of its reasons to reject holds and the table is the
//! `csv` crate's records exactly: every value, every record's line. When it rejects the file,
//! the error must be one of its documented reasons and hold at the line it names: an empty
//! file, a ragged row, invalid UTF-8 in a used value, a duplicate header name, a NUL byte, a
//! byte-order mark after the start, the header repeated, a quoted value never closed. (Which
//! of several problems is reported first is the reader's business and not checked here.)

#![no_main]

use coupler_files::{
    detect_delimiter, read_header, read_table, CsvOptions, Encoding, FileSource, FilesError,
    SourceFormat,
};
use coupler_fuzz::scratch_path;
use libfuzzer_sys::fuzz_target;

const BOM: &[u8] = b"\xEF\xBB\xBF";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let delimiter = match mode & 7 {
        0 => None,
        1 => Some(b','),
        2 => Some(b';'),
        3 => Some(b'\t'),
        4 => Some(b'|'),
        5 => Some(b'"'),
        6 => Some(b'\n'),
        // Any one ASCII character is a valid `delimiter` in the config, NUL too; but with a
        // NUL delimiter every file is rejected as binary (reported; not fuzzed further).
        _ => Some(match bytes.first().map(|b| b & 0x7F) {
            None | Some(0) => b',',
            Some(d) => d,
        }),
    };
    let encoding = if mode & 8 == 0 {
        Encoding::Utf8
    } else {
        Encoding::Windows1252
    };
    let has_headers = mode & 16 != 0;
    check(bytes, delimiter, encoding, has_headers);
});

/// The `csv` crate's parse (flexible, so that every record is seen), with the line each record
/// starts on, and where a quoted value the end of the file leaves open starts.
struct Reference {
    records: Vec<(u64, Vec<Vec<u8>>)>,
    /// The line of the quote that opens a value the end of the file leaves open.
    open_quote: Option<u64>,
    delimiter: u8,
}

/// The file as coupler's reader sees it: one UTF-8 BOM stripped and the delimiter detected on
/// the rest; windows-1252 decoded by encoding_rs (which sniffs and drops a UTF-8 or UTF-16
/// BOM); then the tokenizer drops one more BOM at the start of the stream, as csv_core does.
fn reference(file: &[u8], delimiter: Option<u8>, encoding: Encoding) -> Reference {
    let bom = if file.starts_with(BOM) { 3 } else { 0 };
    let delimiter = delimiter.unwrap_or_else(|| detect_delimiter(&file[bom..]));
    let stream: Vec<u8> = match encoding {
        Encoding::Utf8 => file[bom..].to_vec(),
        Encoding::Windows1252 => encoding_rs::WINDOWS_1252
            .decode(file)
            .0
            .into_owned()
            .into_bytes(),
    };
    let skip = if stream.starts_with(BOM) { 3 } else { 0 };
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(&stream[..]);
    let mut records = Vec::new();
    let mut rec = csv::ByteRecord::new();
    let mut before = 0usize;
    loop {
        // A record starts at its first byte after the previous record's end, where the parser
        // skips CRs and LFs; its line is 1 + the LFs before that byte.
        let from = before.max(skip);
        let start = stream[from..]
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .map_or(stream.len(), |p| p + from);
        let line = 1 + stream[..start].iter().filter(|&&b| b == b'\n').count() as u64;
        match r.read_byte_record(&mut rec) {
            Ok(true) => records.push((line, rec.iter().map(<[u8]>::to_vec).collect())),
            Ok(false) => break,
            Err(e) => panic!("the csv crate failed: {e}"),
        }
        before = r.position().byte() as usize;
    }
    Reference {
        records,
        open_quote: open_quote_at_end(&stream[skip..], delimiter),
        delimiter,
    }
}

/// The line of the quote that opened a quoted value the end of `bytes` leaves open, if one
/// does: csv_core's states, a byte at a time.
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

fn has_nul(fields: &[Vec<u8>]) -> bool {
    fields.iter().any(|f| f.contains(&0))
}

/// The lines a byte-order mark inside the record is on (a record can span lines: LFs in
/// quoted values, or LF as the delimiter).
fn bom_lines(line: u64, fields: &[Vec<u8>], delimiter: u8) -> Vec<u64> {
    let mut lines = Vec::new();
    let mut breaks = 0;
    for (i, f) in fields.iter().enumerate() {
        breaks += u64::from(i > 0 && delimiter == b'\n');
        for (k, &b) in f.iter().enumerate() {
            if f[k..].starts_with(BOM) {
                lines.push(line + breaks);
            }
            breaks += u64::from(b == b'\n');
        }
    }
    lines
}

fn valid(field: Option<&Vec<u8>>) -> bool {
    std::str::from_utf8(field.map_or(&[][..], Vec::as_slice)).is_ok()
}

fn check(bytes: &[u8], delimiter: Option<u8>, encoding: Encoding, has_headers: bool) {
    let path = scratch_path("input.csv");
    std::fs::write(&path, bytes).expect("scratch file");
    let source = FileSource {
        path: path.clone(),
        format: SourceFormat::Csv(CsvOptions {
            delimiter,
            encoding,
            has_headers,
        }),
    };
    let want = reference(bytes, delimiter, encoding);
    let show = || {
        format!(
            "delimiter {delimiter:?}, {encoding:?}, headers {has_headers}; csv crate: {} record(s), quote open at the end from line {:?}; input {:?}",
            want.records.len(),
            want.open_quote,
            String::from_utf8_lossy(bytes)
        )
    };

    // The header (or, without one, the width of the first record).
    let names = match read_header(&source) {
        Ok(names) => names,
        Err(e) => {
            explain(&e, &want, has_headers, None).unwrap_or_else(|why| {
                panic!(
                    "read_header rejected the file: {e}\n  but {why}\n  {}",
                    show()
                )
            });
            return;
        }
    };
    let first = want
        .records
        .first()
        .unwrap_or_else(|| panic!("read_header accepted an empty file; {}", show()));
    if has_headers {
        let expected: Vec<String> = first
            .1
            .iter()
            .map(|f| String::from_utf8(f.clone()).expect("read_header checks UTF-8"))
            .collect();
        assert_eq!(names, expected, "header names; {}", show());
    } else {
        let expected: Vec<String> = (1..=first.1.len()).map(|i| i.to_string()).collect();
        assert_eq!(names, expected, "positional names; {}", show());
    }

    // Every column (a blank name that repeats cannot be asked for).
    let requested: Vec<(usize, String)> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| names.iter().filter(|m| m == n).count() == 1)
        .map(|(i, n)| (i, n.clone()))
        .collect();
    let columns: Vec<String> = requested.iter().map(|(_, n)| n.clone()).collect();
    match read_table(&source, &columns, &|_| {}) {
        Ok(table) => {
            // Accepted: none of the reasons to reject holds, and the table is the csv crate's
            // records exactly.
            let fail = |why: String| -> ! {
                panic!("read_table accepted the file, but {why}\n  {}", show())
            };
            if let Some(line) = want.open_quote {
                fail(format!(
                    "a quoted value opened on line {line} is never closed"
                ));
            }
            let width = first.1.len();
            for (line, fields) in &want.records {
                if fields.len() != width {
                    fail(format!(
                        "line {line} has {} fields, not {width}",
                        fields.len()
                    ));
                }
                if has_nul(fields) {
                    fail(format!("line {line} holds a NUL byte"));
                }
                if let Some(l) = bom_lines(*line, fields, want.delimiter).first() {
                    fail(format!("line {l} holds a byte-order mark"));
                }
            }
            let data = &want.records[usize::from(has_headers)..];
            assert_eq!(table.len(), data.len(), "row count; {}", show());
            for (row, (line, fields)) in data.iter().enumerate() {
                assert_eq!(table.origin(row), *line, "line of row {row}; {}", show());
                for (j, (i, _)) in requested.iter().enumerate() {
                    if !valid(fields.get(*i)) {
                        fail(format!("line {line}, column {} is invalid UTF-8", i + 1));
                    }
                    let value = std::str::from_utf8(fields.get(*i).map_or(&[][..], Vec::as_slice))
                        .expect("checked");
                    assert_eq!(
                        table.cell(row, j),
                        value,
                        "row {row} (line {line}), column {}; {}",
                        i + 1,
                        show()
                    );
                }
            }
        }
        Err(e) => explain(&e, &want, has_headers, Some(&requested)).unwrap_or_else(|why| {
            panic!(
                "read_table rejected the file: {e}\n  but {why}\n  {}",
                show()
            )
        }),
    }
}

/// Whether a rejection gives one of the reader's documented reasons, and that reason holds in
/// the `csv` crate's parse at the line it names. `requested` is `None` for `read_header`.
fn explain(
    e: &FilesError,
    want: &Reference,
    has_headers: bool,
    requested: Option<&[(usize, String)]>,
) -> Result<(), String> {
    let at = |line: u64| {
        want.records
            .iter()
            .enumerate()
            .filter(move |(_, r)| r.0 == line)
    };
    let header = want.records.first().map(|r| &r.1);
    match e {
        FilesError::Empty { .. } => want
            .records
            .is_empty()
            .then_some(())
            .ok_or_else(|| "the csv crate finds records".into()),
        FilesError::RaggedRow {
            line,
            expected,
            found,
            ..
        } => {
            let width = header.map_or(0, |h| h.len() as u64);
            (width == *expected && at(*line).any(|(_, r)| r.1.len() as u64 == *found))
                .then_some(())
                .ok_or_else(|| {
                    format!("no record on line {line} has {found} fields (the first has {width})")
                })
        }
        FilesError::InvalidUtf8 { line, column, .. } => {
            let holds = match requested {
                // The header: a name is not UTF-8.
                None => {
                    has_headers
                        && at(*line).any(|(i, r)| i == 0 && r.1.iter().any(|f| !valid(Some(f))))
                }
                Some(requested) => {
                    let index = requested.iter().find(|(_, n)| n == column).map(|(i, _)| *i);
                    at(*line).any(|(i, r)| {
                        (i > 0 || !has_headers) && index.is_some_and(|k| !valid(r.1.get(k)))
                    })
                }
            };
            holds.then_some(()).ok_or_else(|| {
                format!("no value of column '{column}' on line {line} is invalid UTF-8")
            })
        }
        FilesError::DuplicateHeader { column, .. } if has_headers => {
            let count = header.map_or(0, |h| h.iter().filter(|f| *f == column.as_bytes()).count());
            (count > 1 && !column.trim().is_empty())
                .then_some(())
                .ok_or_else(|| format!("'{column}' appears {count} time(s) in the header"))
        }
        FilesError::NulByte { line, .. } => at(*line)
            .any(|(_, r)| has_nul(&r.1))
            .then_some(())
            .ok_or_else(|| format!("no record on line {line} holds a NUL byte")),
        FilesError::MidFileBom { line, .. } => want
            .records
            .iter()
            .any(|(l, fields)| bom_lines(*l, fields, want.delimiter).contains(line))
            .then_some(())
            .ok_or_else(|| format!("no byte-order mark on line {line}")),
        FilesError::RepeatedHeader { line, .. } if has_headers => at(*line)
            .any(|(i, r)| i > 0 && Some(&r.1) == header)
            .then_some(())
            .ok_or_else(|| format!("the record on line {line} is not the header")),
        FilesError::MalformedCsv { line, message, .. } if message.contains("never closed") => {
            match (want.open_quote, line) {
                (Some(open), Some(line)) if open == *line => Ok(()),
                (Some(_), None) => Ok(()),
                (open, _) => Err(format!("the quote open at the end is on line {open:?}")),
            }
        }
        other => Err(format!("not a documented rejection: {other:?}")),
    }
}
