//! CSV reading: delimiters, encodings, quoting, line numbers, and error messages.

mod common;

use std::cell::Cell;
use std::path::PathBuf;

use common::{cols, row, rows};
use coupler_engine::Table;
use coupler_files::{
    read_header, read_table, CsvOptions, Encoding, FileSource, FilesError, SourceFormat,
};

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

fn csv_with(path: PathBuf, options: CsvOptions) -> FileSource {
    FileSource {
        path,
        format: SourceFormat::Csv(options),
    }
}

fn read(source: &FileSource, columns: &[&str]) -> Result<Table, FilesError> {
    read_table(source, &cols(columns), &|_| {})
}

#[test]
fn detects_each_delimiter() {
    let d = Dir::new();
    for (name, text) in [
        ("comma.csv", "id,name\n1,Ann\n2,Bob\n"),
        ("semi.csv", "id;name\n1;Ann\n2;Bob\n"),
        ("tab.csv", "id\tname\n1\tAnn\n2\tBob\n"),
        ("pipe.csv", "id|name\n1|Ann\n2|Bob\n"),
    ] {
        let src = FileSource::csv(d.file(name, text.as_bytes()));
        assert_eq!(read_header(&src).unwrap(), cols(&["id", "name"]), "{name}");
        let t = read(&src, &["name", "id"]).unwrap();
        assert_eq!(t.name(), name);
        assert_eq!(t.column_names(), &cols(&["name", "id"])[..]);
        assert_eq!(
            rows(&t),
            vec![row(2, &["Ann", "1"]), row(3, &["Bob", "2"])],
            "{name}"
        );
    }
}

#[test]
fn semicolon_wins_over_commas_inside_quotes_and_decimal_commas_in_data() {
    let d = Dir::new();
    let src = FileSource::csv(d.file(
        "eu.csv",
        "\"Name, full\";amount;city\n\"Müller, Hans\";1,5;Köln\n".as_bytes(),
    ));
    assert_eq!(
        read_header(&src).unwrap(),
        cols(&["Name, full", "amount", "city"])
    );
    let t = read(&src, &["Name, full", "amount"]).unwrap();
    assert_eq!(rows(&t), vec![row(2, &["Müller, Hans", "1,5"])]);
}

#[test]
fn no_delimiter_in_header_means_one_column() {
    let d = Dir::new();
    let src = FileSource::csv(d.file("one.csv", b"accountid\nA-1\nA-2\n"));
    assert_eq!(read_header(&src).unwrap(), cols(&["accountid"]));
    let t = read(&src, &["accountid"]).unwrap();
    assert_eq!(rows(&t), vec![row(2, &["A-1"]), row(3, &["A-2"])]);
}

#[test]
fn explicit_delimiter_overrides_detection() {
    let d = Dir::new();
    // Detection would pick ',' (two commas vs one semicolon).
    let path = d.file("x.csv", b"a,b;c,d\n1,2;3,4\n");
    let src = csv_with(
        path,
        CsvOptions {
            delimiter: Some(b';'),
            ..CsvOptions::default()
        },
    );
    assert_eq!(read_header(&src).unwrap(), cols(&["a,b", "c,d"]));
    let t = read(&src, &["c,d"]).unwrap();
    assert_eq!(rows(&t), vec![row(2, &["3,4"])]);
}

#[test]
fn utf8_bom_is_stripped() {
    let d = Dir::new();
    let src = FileSource::csv(d.file("bom.csv", b"\xEF\xBB\xBFid;name\n1;Zo\xC3\xAB\n"));
    assert_eq!(read_header(&src).unwrap(), cols(&["id", "name"]));
    let t = read(&src, &["id", "name"]).unwrap();
    assert_eq!(rows(&t), vec![row(2, &["1", "Zoë"])]);
}

#[test]
fn windows_1252_is_decoded() {
    let d = Dir::new();
    let mut bytes = b"Name;Stra\xDFe\n".to_vec();
    bytes.extend_from_slice(&[0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72]); // Müller
    bytes.extend_from_slice(b";Hauptstra\xDFe 1 \x80\n");
    let path = d.file("ansi.csv", &bytes);
    let src = csv_with(
        path.clone(),
        CsvOptions {
            encoding: Encoding::Windows1252,
            ..CsvOptions::default()
        },
    );
    assert_eq!(read_header(&src).unwrap(), cols(&["Name", "Straße"]));
    let t = read(&src, &["Name", "Straße"]).unwrap();
    assert_eq!(rows(&t), vec![row(2, &["Müller", "Hauptstraße 1 €"])]);

    // The same file read as UTF-8 fails in the header, with the hint.
    let err = read_header(&FileSource::csv(path)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ansi.csv"), "{msg}");
    assert!(msg.contains("line 1"), "{msg}");
    assert!(
        msg.contains("set encoding = \"windows-1252\" if the file was saved by Excel as CSV"),
        "{msg}"
    );
}

#[test]
fn invalid_utf8_names_line_and_column_and_only_requested_columns_are_checked() {
    let d = Dir::new();
    let src = FileSource::csv(d.file(
        "bad.csv",
        b"id,name,notes\n1,Ann,ok\n2,Bob,caf\xE9\n3,M\xFCller,x\n",
    ));
    // `notes` has a bad byte on line 3 but is not requested.
    let err = read(&src, &["id", "name"]).unwrap_err();
    assert!(matches!(err, FilesError::InvalidUtf8 { .. }), "{err:?}");
    assert_eq!(err.line(), Some(4));
    assert_eq!(err.column(), Some("name"));
    let msg = err.to_string();
    assert!(msg.contains("bad.csv"), "{msg}");
    assert!(msg.contains("line 4"), "{msg}");
    assert!(msg.contains("column 'name'"), "{msg}");
    assert!(msg.contains("windows-1252"), "{msg}");

    let t = read(&src, &["id"]).unwrap();
    assert_eq!(t.len(), 3);
}

#[test]
fn quoted_fields_keep_delimiters_quotes_and_newlines_and_line_numbers_stay_right() {
    let d = Dir::new();
    let text = "id,name,address\n\
                1,\"Smith, John\",\"Main St 1\nSecond line\nThird line\"\n\
                2,\"He said \"\"hi\"\"\",plain\n\
                3,\"\",\"\"\n\
                4,last,\"multi\r\nline\"\n\
                5,after,x\n";
    let src = FileSource::csv(d.file("q.csv", text.as_bytes()));
    let t = read(&src, &["id", "name", "address"]).unwrap();
    assert_eq!(
        rows(&t),
        vec![
            row(
                2,
                &["1", "Smith, John", "Main St 1\nSecond line\nThird line"]
            ),
            row(5, &["2", "He said \"hi\"", "plain"]),
            row(6, &["3", "", ""]),
            row(7, &["4", "last", "multi\r\nline"]),
            row(9, &["5", "after", "x"]),
        ]
    );
}

#[test]
fn crlf_line_endings() {
    let d = Dir::new();
    let src = FileSource::csv(d.file("crlf.csv", b"id;name\r\n1;Ann\r\n2;Bob\r\n"));
    assert_eq!(read_header(&src).unwrap(), cols(&["id", "name"]));
    let t = read(&src, &["name"]).unwrap();
    assert_eq!(rows(&t), vec![row(2, &["Ann"]), row(3, &["Bob"])]);
}

#[test]
fn no_trailing_newline_and_cells_are_not_trimmed() {
    let d = Dir::new();
    let src = FileSource::csv(d.file("t.csv", b"id,name\n 1 ,Ann  "));
    let t = read(&src, &["id", "name"]).unwrap();
    assert_eq!(rows(&t), vec![row(2, &[" 1 ", "Ann  "])]);
}

#[test]
fn only_requested_columns_are_kept_in_requested_order() {
    let d = Dir::new();
    let src = FileSource::csv(d.file(
        "accounts.csv",
        b"accountid,name,telephone1,city\nA1,Ann,555,Oslo\nA2,Bob,556,Rome\n",
    ));
    let t = read(&src, &["city", "accountid"]).unwrap();
    assert_eq!(t.column_names(), &cols(&["city", "accountid"])[..]);
    assert_eq!(
        rows(&t),
        vec![row(2, &["Oslo", "A1"]), row(3, &["Rome", "A2"])]
    );
    let none = read(&src, &[]).unwrap();
    assert_eq!(none.column_names().len(), 0);
}

#[test]
fn missing_column_lists_the_existing_ones() {
    let d = Dir::new();
    let src = FileSource::csv(d.file("accounts.csv", b"accountid,name,telephone1\nA1,Ann,555\n"));
    let err = read(&src, &["accountid", "fax"]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.ends_with(
            "accounts.csv: column 'fax' not found; the columns are: accountid, name, telephone1"
        ),
        "{msg}"
    );
    assert!(!msg.contains("did you mean"), "{msg}");
}

#[test]
fn missing_column_suggests_a_close_name() {
    let d = Dir::new();
    let src = FileSource::csv(d.file("accounts.csv", b"accountid,name,telephone1\nA1,Ann,555\n"));
    let msg = read(&src, &["telephone"]).unwrap_err().to_string();
    assert!(
        msg.ends_with(
            "accounts.csv: column 'telephone' not found; did you mean 'telephone1'? \
             the columns are: accountid, name, telephone1"
        ),
        "{msg}"
    );
}

#[test]
fn missing_column_suggests_a_case_or_space_variant() {
    let d = Dir::new();
    let src = FileSource::csv(d.file("accounts.csv", b"accountid, Name ,telephone1\nA1,Ann,555\n"));
    let err = read(&src, &["name"]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.ends_with(
            "accounts.csv: column 'name' not found; did you mean ' Name '? \
             the columns are: accountid,  Name , telephone1"
        ),
        "{msg}"
    );
    let err = read(&src, &["ACCOUNTID"]).unwrap_err();
    assert!(
        matches!(&err, FilesError::ColumnNotFound { suggestion: Some(s), .. } if s == "accountid"),
        "{err:?}"
    );
}

#[test]
fn duplicate_header_names_both_positions() {
    let d = Dir::new();
    let src = FileSource::csv(d.file("dup.csv", b"id,name,city,name\n1,a,b,c\n"));
    for err in [
        read_header(&src).unwrap_err(),
        read(&src, &["id"]).unwrap_err(),
    ] {
        assert!(
            matches!(&err, FilesError::DuplicateHeader { column, first: 2, second: 4, .. } if column == "name"),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("dup.csv"), "{msg}");
        assert!(msg.contains("'name'"), "{msg}");
        assert!(msg.contains("columns 2 and 4"), "{msg}");
    }
}

#[test]
fn repeated_blank_header_names_are_tolerated() {
    // Excel writes `a;b;;` when columns beyond the data were ever touched.
    let d = Dir::new();
    let src = FileSource::csv(d.file("blank.csv", b"a;b;;\n1;2;;\n"));
    assert_eq!(read_header(&src).unwrap(), cols(&["a", "b", "", ""]));
    let t = read(&src, &["b"]).unwrap();
    assert_eq!(rows(&t), vec![row(2, &["2"])]);
    let err = read(&src, &["x"]).unwrap_err();
    assert!(err.to_string().ends_with("the columns are: a, b"), "{err}");
}

#[test]
fn empty_file_is_an_error() {
    let d = Dir::new();
    for (name, bytes) in [
        ("empty.csv", &b""[..]),
        ("bom_only.csv", &b"\xEF\xBB\xBF"[..]),
    ] {
        let src = FileSource::csv(d.file(name, bytes));
        let err = read_header(&src).unwrap_err();
        assert!(matches!(err, FilesError::Empty { .. }), "{err:?}");
        assert!(err.to_string().contains(name), "{err}");
        assert!(err.to_string().contains("empty"), "{err}");
        assert!(matches!(
            read(&src, &["id"]).unwrap_err(),
            FilesError::Empty { .. }
        ));
    }
}

#[test]
fn header_only_file_gives_zero_rows() {
    let d = Dir::new();
    let src = FileSource::csv(d.file("h.csv", b"id,name\n"));
    let t = read(&src, &["name", "id"]).unwrap();
    assert_eq!(t.len(), 0);
    assert_eq!(t.column_names(), &cols(&["name", "id"])[..]);
}

#[test]
fn ragged_row_names_line_expected_and_found() {
    let d = Dir::new();
    let src = FileSource::csv(d.file(
        "r.csv",
        b"id,name,city\n1,a,b\n2,\"x\ny\",c\n3,short\n4,a,b\n",
    ));
    let err = read(&src, &["id"]).unwrap_err();
    assert!(
        matches!(
            err,
            FilesError::RaggedRow {
                line: 5,
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.line(), Some(5));
    let msg = err.to_string();
    assert!(msg.contains("r.csv"), "{msg}");
    assert!(
        msg.contains("line 5 has 2 fields but the header has 3"),
        "{msg}"
    );

    let wide = FileSource::csv(d.file("w.csv", b"id,name\n1,a,extra\n"));
    let err = read(&wide, &["id"]).unwrap_err();
    assert!(
        matches!(
            err,
            FilesError::RaggedRow {
                line: 2,
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn without_headers_columns_are_numbered_and_the_first_line_is_data() {
    let d = Dir::new();
    let src = csv_with(
        d.file("nh.csv", b"A1;Ann;Oslo\nA2;Bob;Rome\n"),
        CsvOptions {
            has_headers: false,
            ..CsvOptions::default()
        },
    );
    assert_eq!(read_header(&src).unwrap(), cols(&["1", "2", "3"]));
    let t = read(&src, &["3", "1"]).unwrap();
    assert_eq!(
        rows(&t),
        vec![row(1, &["Oslo", "A1"]), row(2, &["Rome", "A2"])]
    );
    let err = read(&src, &["4"]).unwrap_err();
    assert!(
        err.to_string().ends_with("the columns are: 1, 2, 3"),
        "{err}"
    );
}

#[test]
fn missing_file_names_the_path() {
    let d = Dir::new();
    let path = d.0.path().join("nope.csv");
    let err = read_header(&FileSource::csv(path.clone())).unwrap_err();
    assert!(matches!(err, FilesError::Io { .. }), "{err:?}");
    assert_eq!(err.path(), path);
    assert!(err.to_string().contains("nope.csv"), "{err}");
}

#[test]
fn requesting_a_column_twice_is_an_error() {
    let d = Dir::new();
    let src = FileSource::csv(d.file("a.csv", b"id\n1\n"));
    let err = read(&src, &["id", "id"]).unwrap_err();
    assert!(matches!(err, FilesError::Table { .. }), "{err:?}");
    assert!(err.to_string().contains("'id'"), "{err}");
}

#[test]
fn progress_reports_bytes_and_ends_at_the_file_size() {
    let d = Dir::new();
    let mut text = String::from("id,name,notes\n");
    for i in 0..60_000 {
        text.push_str(&format!(
            "{i},name {i},some notes to make the file bigger\n"
        ));
    }
    let src = FileSource::csv(d.file("big.csv", text.as_bytes()));
    let calls = Cell::new(Vec::new());
    let progress = |n: u64| {
        let mut v = calls.take();
        v.push(n);
        calls.set(v);
    };
    let t = read_table(&src, &cols(&["id"]), &progress).unwrap();
    assert_eq!(t.len(), 60_000);
    assert_eq!(t.cell(59_999, 0), "59999");
    assert_eq!(t.origin(59_999), 60_001);
    let calls = calls.take();
    assert!(calls.len() >= 2, "{calls:?}");
    assert!(calls.windows(2).all(|w| w[0] <= w[1]), "{calls:?}");
    assert_eq!(*calls.last().unwrap(), text.len() as u64);
}

#[test]
fn garbage_input_does_not_panic() {
    let d = Dir::new();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in 0..200 {
        let len = (i * 7) % 300;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b"a,;\t|\"\r\n\xFC\xC3"[(state % 10) as usize]
            })
            .collect();
        let path = d.file("g.csv", &bytes);
        for encoding in [Encoding::Utf8, Encoding::Windows1252] {
            let src = csv_with(
                path.clone(),
                CsvOptions {
                    encoding,
                    ..CsvOptions::default()
                },
            );
            if let Ok(names) = read_header(&src) {
                let _ = read_table(&src, &names, &|_| {});
            }
        }
    }
}

#[test]
fn line_numbers_survive_crlf_blank_lines_and_large_files() {
    let d = Dir::new();
    let src = FileSource::csv(d.file(
        "mixed.csv",
        b"id,note\r\n1,\"a\r\nb\"\r\n\r\n\r\n2,x\r\n3,\"\"\"q\"\"\nz\"\n\n4,y",
    ));
    let t = read(&src, &["id", "note"]).unwrap();
    assert_eq!(
        rows(&t),
        vec![
            row(2, &["1", "a\r\nb"]),
            row(6, &["2", "x"]),
            row(7, &["3", "\"q\"\nz"]),
            row(10, &["4", "y"]),
        ]
    );

    let ragged = FileSource::csv(d.file("rag.csv", b"a;b\r\n1;2\r\n\r\n3\r\n"));
    let err = read(&ragged, &["a"]).unwrap_err();
    assert_eq!(err.line(), Some(4), "{err}");

    // Far beyond the parser's buffer, with CRLF and windows-1252.
    let mut bytes = b"id;name\r\n".to_vec();
    for i in 0..100_000 {
        bytes.extend_from_slice(format!("{i};M\u{fc}ller\r\n").as_bytes());
    }
    let bytes: Vec<u8> = String::from_utf8(bytes)
        .unwrap()
        .chars()
        .map(|c| if c == 'ü' { 0xFC } else { c as u8 })
        .collect();
    let big = csv_with(
        d.file("big1252.csv", &bytes),
        CsvOptions {
            encoding: Encoding::Windows1252,
            ..CsvOptions::default()
        },
    );
    let t = read(&big, &["name", "id"]).unwrap();
    assert_eq!(t.len(), 100_000);
    for r in [0, 1, 31_337, 99_999] {
        assert_eq!(t.origin(r), r as u64 + 2);
        assert_eq!(t.cell(r, 1), r.to_string());
        assert_eq!(t.cell(r, 0), "Müller");
    }
}

/// Every column of the file requested, as a job mapping all of them would.
fn read_all(source: &FileSource) -> Result<Table, FilesError> {
    read_table(source, &read_header(source)?, &|_| {})
}

/// `text` in UTF-16, little- or big-endian, with or without its byte-order mark.
fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
    for unit in units {
        let pair = if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        bytes.extend_from_slice(&pair);
    }
    bytes
}

#[test]
fn a_nul_byte_anywhere_is_an_error_naming_line_and_column() {
    let d = Dir::new();
    let text = b"No.,Name,Notes\n1,Ann,\"two\nlines\"\n2,Bob,ab\0cd\n3,Cy,x\n";
    let path = d.file("nul.csv", text);
    let want = format!(
        "{}: line 4, column 'Notes': a NUL byte: the file is binary or UTF-16, not a CSV export",
        path.display()
    );
    // Also in a column nobody asked for, and in a windows-1252 file.
    for encoding in [Encoding::Utf8, Encoding::Windows1252] {
        let src = csv_with(
            path.clone(),
            CsvOptions {
                encoding,
                ..CsvOptions::default()
            },
        );
        for columns in [&["No."][..], &["Notes", "Name"]] {
            let err = read(&src, columns).unwrap_err();
            assert_eq!(err.to_string(), want);
            assert_eq!((err.line(), err.column()), (Some(4), Some("Notes")));
        }
    }
    // In a quoted value, far into a large file (past the first read block).
    let mut big = b"id;name\n".to_vec();
    for i in 0..100_000 {
        big.extend_from_slice(format!("{i};\"name\n{i}\"\n").as_bytes());
    }
    big.extend_from_slice(b"x;\"\0\"\n");
    let src = FileSource::csv(d.file("big.csv", &big));
    let err = read(&src, &["id"]).unwrap_err();
    assert_eq!(err.line(), Some(200_002), "{err}");
    assert!(
        err.to_string().ends_with(
            "line 200002, column 'name': a NUL byte: the file is binary or UTF-16, not a CSV export"
        ),
        "{err}"
    );
}

#[test]
fn a_utf16_file_is_named_as_such_in_the_header() {
    let d = Dir::new();
    let text = "No.\tName\r\nC1\tZoë\r\n";
    for big_endian in [false, true] {
        for bom in [false, true] {
            let path = d.file("unicode.txt", &utf16(text, big_endian, bom));
            let src = FileSource::csv(path.clone());
            let want = format!(
                "{}: line 1, column 'No.': a NUL byte: the file is binary or UTF-16, not a CSV export",
                path.display()
            );
            let err = read_header(&src).unwrap_err();
            assert_eq!(err.to_string(), want, "BE {big_endian}, BOM {bom}");
            let err = read(&src, &["No."]).unwrap_err();
            assert_eq!(err.to_string(), want, "BE {big_endian}, BOM {bom}");
        }
    }
    // With encoding = "windows-1252" a UTF-16 file with its byte-order mark is decoded (the
    // mark says what the file is); without one it is not.
    let options = CsvOptions {
        encoding: Encoding::Windows1252,
        ..CsvOptions::default()
    };
    let src = csv_with(
        d.file("bom.txt", &utf16(text, false, true)),
        options.clone(),
    );
    let t = read(&src, &["Name", "No."]).unwrap();
    assert_eq!(rows(&t), vec![row(2, &["Zoë", "C1"])]);
    let src = csv_with(d.file("nobom.txt", &utf16(text, false, false)), options);
    let err = read_header(&src).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "line 1, column 'No.': a NUL byte: the file is binary or UTF-16, not a CSV export"
        ),
        "{err}"
    );
}

#[test]
fn two_exports_concatenated_are_an_error_naming_the_line() {
    let d = Dir::new();
    let export = b"No.;Name\n1;\"Ann\nSmith\"\n2;Bob\n".to_vec();

    // UTF-8 exports start with a byte-order mark: the second one's is on line 5.
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), &export].concat();
    let path = d.file("two.csv", &[with_bom.clone(), with_bom].concat());
    for encoding in [Encoding::Utf8, Encoding::Windows1252] {
        let src = csv_with(
            path.clone(),
            CsvOptions {
                encoding,
                ..CsvOptions::default()
            },
        );
        let err = read(&src, &["No."]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: line 5: a byte-order mark in the middle of the file: two exports concatenated?",
                path.display()
            )
        );
        assert_eq!(err.line(), Some(5));
    }

    // Exports without a mark (windows-1252): the header row again, however it is quoted.
    for second in [&b"No.;Name\n"[..], b"\"No.\";\"Name\"\r\n3;Cy"] {
        let path = d.file("again.csv", &[&export[..], second].concat());
        for encoding in [Encoding::Utf8, Encoding::Windows1252] {
            let src = csv_with(
                path.clone(),
                CsvOptions {
                    encoding,
                    ..CsvOptions::default()
                },
            );
            let err = read(&src, &["Name"]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "{}: the header repeated at line 5: two exports concatenated?",
                    path.display()
                )
            );
            assert_eq!(err.line(), Some(5));
        }
    }

    // Rows that only partly look like the header are data; so is any row without a header.
    let path = d.file("like.csv", &[&export[..], b"No.;Nam\nNo.;Name \n"].concat());
    let t = read(&FileSource::csv(path), &["No.", "Name"]).unwrap();
    assert_eq!(t.len(), 4);
    let no_header = CsvOptions {
        has_headers: false,
        ..CsvOptions::default()
    };
    let path = d.file("nh.csv", &[&export[..], b"No.;Name\n"].concat());
    let t = read(&csv_with(path, no_header), &["1"]).unwrap();
    assert_eq!(t.len(), 4);
}

#[test]
fn an_unclosed_quote_names_the_line_it_opens_on() {
    let d = Dir::new();
    let message = |path: &PathBuf, line: u64, column: &str| {
        format!(
            "{}: line {line}: malformed CSV: a quoted value in column '{column}' opens on this line and is never closed (a missing '\"'), so the rest of the file would be read as one value",
            path.display()
        )
    };
    for (text, line, column) in [
        // After multi-line values, in the last column.
        (
            &b"id,name,note\n1,\"Ann\nSmith\",x\n2,Bob,\"open\n3,Cy,y\n"[..],
            4,
            "note",
        ),
        // In a middle column (not a ragged row: the quote is what is wrong).
        (
            b"id,name,note\n1,\"a\n\nb\",x\n2,\"open,y\n3,c,d\n",
            5,
            "name",
        ),
        // On the second line of its record.
        (b"id,name,note\n1,\"a\nb\",\"open\n3,c,d\n", 3, "note"),
        // At the very end, without a line break after it.
        (b"id,name\n1,\"Ann\nSmith\"\n2,\"open", 4, "name"),
        // In the header.
        (b"id,\"name\n1,2\n", 1, "#2"),
    ] {
        let path = d.file("q.csv", text);
        let err = read_all(&FileSource::csv(path.clone()))
            .or_else(|_| read(&FileSource::csv(path.clone()), &["id"]))
            .unwrap_err();
        let want = message(&path, line, column).replace("'#2'", "#2");
        assert_eq!(err.to_string(), want, "{}", String::from_utf8_lossy(text));
        assert_eq!(err.line(), Some(line));
    }
    // A closed quoted value may end with a line break.
    let src = FileSource::csv(d.file("ok.csv", b"id,note\n1,\"Street 1\n\"\n2,x\n"));
    let t = read(&src, &["id", "note"]).unwrap();
    assert_eq!(
        rows(&t),
        vec![row(2, &["1", "Street 1\n"]), row(4, &["2", "x"])]
    );
}
