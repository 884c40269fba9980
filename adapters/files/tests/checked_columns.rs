//! Columns a job uses but does not read into its table (`read_table_checking`): checked like
//! read ones, not kept.

mod common;

use std::path::{Path, PathBuf};

use common::{cols, row, rows};
use coupler_files::{
    read_table, read_table_checking, CsvOptions, Encoding, FileSource, FilesError, SourceFormat,
    WINDOWS_1252_HINT,
};
use rust_xlsxwriter::{Formula, Workbook};

fn file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A windows-1252 customer export: `Müller` in `Name` on line 3 (0xFC is not UTF-8).
fn ansi_export(rows: usize) -> Vec<u8> {
    let mut bytes = b"No.;Name;Phone No.;Notes\r\n".to_vec();
    for i in 0..rows {
        bytes.extend_from_slice(format!("C{i};Name {i};+49 {i};n\r\n").as_bytes());
        if i == 0 {
            bytes.extend_from_slice(b"C-M;M\xFCller;+49 221;\"a\r\nb\"\r\n");
        }
    }
    bytes
}

#[test]
fn a_checked_column_with_invalid_utf8_fails_like_a_read_one() {
    let dir = tempfile::tempdir().unwrap();
    for records in [3, 120_000] {
        let path = file(dir.path(), "customers.csv", &ansi_export(records));
        let src = FileSource::csv(path.clone());
        // Only the phone is a criterion: the name is not read, the job passes...
        let t = read_table(&src, &cols(&["No.", "Phone No."]), &|_| {}).unwrap();
        assert_eq!(t.len(), records + 1);
        // ...unless the name is checked as a column the job uses.
        let err = read_table_checking(
            &src,
            &cols(&["No.", "Phone No."]),
            &cols(&["Name", "Phone No."]),
            &|_| {},
        )
        .unwrap_err();
        assert!(matches!(err, FilesError::InvalidUtf8 { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "{}: line 3, column 'Name': invalid UTF-8; {WINDOWS_1252_HINT}",
                path.display()
            )
        );
        // Read as windows-1252 it is fine, and only the read columns are kept.
        let ansi = FileSource {
            path,
            format: SourceFormat::Csv(CsvOptions {
                encoding: Encoding::Windows1252,
                ..CsvOptions::default()
            }),
        };
        let t =
            read_table_checking(&ansi, &cols(&["Phone No."]), &cols(&["Name"]), &|_| {}).unwrap();
        assert_eq!(t.column_names(), &cols(&["Phone No."])[..]);
        assert_eq!(t.len(), records + 1);
        assert_eq!(rows(&t)[1], row(3, &["+49 221"]));
    }
}

#[test]
fn checked_columns_in_a_file_without_headers_and_in_the_first_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path(), "nh.csv", b"1;M\xFCller;x\n2;Bob;y\n");
    let src = FileSource {
        path: path.clone(),
        format: SourceFormat::Csv(CsvOptions {
            has_headers: false,
            ..CsvOptions::default()
        }),
    };
    let err = read_table_checking(&src, &cols(&["1"]), &cols(&["2"]), &|_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: line 1, column '2': invalid UTF-8; {WINDOWS_1252_HINT}",
            path.display()
        )
    );
    let t = read_table_checking(&src, &cols(&["1"]), &cols(&["3"]), &|_| {}).unwrap();
    assert_eq!(rows(&t), vec![row(1, &["1"]), row(2, &["2"])]);
}

#[test]
fn a_checked_column_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let src = FileSource::csv(file(dir.path(), "a.csv", b"id,name\n1,a\n"));
    let err = read_table_checking(&src, &cols(&["id"]), &cols(&["Name"]), &|_| {}).unwrap_err();
    assert!(matches!(err, FilesError::ColumnNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("did you mean 'name'?"), "{err}");
}

#[test]
fn a_checked_xlsx_column_with_an_error_cell_fails_like_a_read_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("err.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Data").unwrap();
    ws.write_string(0, 0, "id").unwrap();
    ws.write_string(0, 1, "amount").unwrap();
    ws.write_string(1, 0, "A").unwrap();
    ws.write_number(1, 1, 1).unwrap();
    ws.write_string(2, 0, "B").unwrap();
    ws.write_formula(2, 1, Formula::new("=1/0").set_result("#DIV/0!"))
        .unwrap();
    wb.save(&path).unwrap();
    let src = FileSource::xlsx(&path);
    let err = read_table_checking(&src, &cols(&["id"]), &cols(&["amount"]), &|_| {}).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("sheet 'Data', row 3, column 'amount': the cell holds the error #DIV/0!"),
        "{err}"
    );
    let t = read_table_checking(&src, &cols(&["id"]), &cols(&["id"]), &|_| {}).unwrap();
    assert_eq!(t.column_names(), &cols(&["id"])[..]);
    assert_eq!(t.len(), 2);
}
