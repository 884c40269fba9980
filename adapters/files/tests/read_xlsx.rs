//! XLSX reading: cell formatting, sheets, row numbers, errors.

mod common;

use std::path::{Path, PathBuf};

use common::{cols, row, rows};
use coupler_files::{read_header, read_table, FileSource, FilesError, SourceFormat};
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

fn sheet(path: &Path, name: Option<&str>) -> FileSource {
    FileSource {
        path: path.to_path_buf(),
        format: SourceFormat::Xlsx {
            sheet: name.map(str::to_string),
        },
    }
}

/// A workbook with two sheets: "Accounts" (typed cells) and "Contacts".
fn workbook(dir: &Path) -> PathBuf {
    let path = dir.join("export.xlsx");
    let mut wb = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");

    let ws = wb.add_worksheet();
    ws.set_name("Accounts").unwrap();
    for (c, h) in ["id", "name", "amount", "active", "since", "ratio"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_number(1, 0, 10000).unwrap();
    ws.write_string(1, 1, "Müller, Hans").unwrap();
    ws.write_number(1, 2, 1234.5).unwrap();
    ws.write_boolean(1, 3, true).unwrap();
    ws.write_datetime_with_format(1, 4, ExcelDateTime::from_ymd(2024, 3, 15).unwrap(), &date)
        .unwrap();
    ws.write_number(1, 5, 0.1).unwrap();

    ws.write_string(2, 0, "A-2").unwrap();
    // name left empty
    ws.write_number(2, 2, -7).unwrap();
    ws.write_boolean(2, 3, false).unwrap();
    ws.write_datetime_with_format(
        2,
        4,
        ExcelDateTime::from_ymd(1999, 12, 31)
            .unwrap()
            .and_hms(13, 45, 30)
            .unwrap(),
        &datetime,
    )
    .unwrap();
    ws.write_number(2, 5, 1.0 / 3.0).unwrap();
    // A trailing row holding only formatting is not data.
    ws.write_blank(5, 0, &date).unwrap();

    let ws = wb.add_worksheet();
    ws.set_name("Contacts").unwrap();
    ws.write_string(0, 0, "contactid").unwrap();
    ws.write_string(0, 1, "email").unwrap();
    ws.write_string(1, 0, "C1").unwrap();
    ws.write_string(1, 1, "c1@example.com").unwrap();
    ws.write_string(2, 0, "C2").unwrap();
    // an empty row in the middle is kept (it is a row of blanks)
    ws.write_string(4, 0, "C4").unwrap();
    ws.write_string(4, 1, "c4@example.com").unwrap();

    wb.save(&path).unwrap();
    path
}

#[test]
fn first_sheet_cells_become_text_like_excel_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook(dir.path());
    let src = sheet(&path, None);
    assert_eq!(
        read_header(&src).unwrap(),
        cols(&["id", "name", "amount", "active", "since", "ratio"])
    );
    let size = std::fs::metadata(&path).unwrap().len();
    let seen = std::cell::Cell::new(0);
    let t = read_table(
        &src,
        &cols(&["id", "name", "amount", "active", "since", "ratio"]),
        &|n| seen.set(n),
    )
    .unwrap();
    assert_eq!(seen.get(), size);
    assert_eq!(t.name(), "export.xlsx");
    assert_eq!(
        rows(&t),
        vec![
            row(
                2,
                &[
                    "10000",
                    "Müller, Hans",
                    "1234.5",
                    "true",
                    "2024-03-15",
                    "0.1"
                ]
            ),
            row(
                3,
                &[
                    "A-2",
                    "",
                    "-7",
                    "false",
                    "1999-12-31T13:45:30",
                    "0.3333333333333333"
                ]
            ),
        ]
    );
}

#[test]
fn named_sheet_and_only_requested_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook(dir.path());
    let src = sheet(&path, Some("Contacts"));
    assert_eq!(read_header(&src).unwrap(), cols(&["contactid", "email"]));
    let t = read_table(&src, &cols(&["email", "contactid"]), &|_| {}).unwrap();
    assert_eq!(
        rows(&t),
        vec![
            row(2, &["c1@example.com", "C1"]),
            row(3, &["", "C2"]),
            row(4, &["", ""]),
            row(5, &["c4@example.com", "C4"]),
        ]
    );
}

#[test]
fn missing_sheet_lists_the_sheets() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook(dir.path());
    let err = read_header(&sheet(&path, Some("Leads"))).unwrap_err();
    assert!(matches!(err, FilesError::SheetNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("export.xlsx"), "{msg}");
    assert!(
        msg.ends_with("sheet 'Leads' not found; the sheets are: Accounts, Contacts"),
        "{msg}"
    );
}

#[test]
fn missing_column_in_a_sheet_lists_columns_and_suggests() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook(dir.path());
    let err = read_table(&sheet(&path, Some("Contacts")), &cols(&["Email"]), &|_| {}).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "column 'Email' not found; did you mean 'email'? the columns are: contactid, email"
        ),
        "{err}"
    );
}

#[test]
fn header_not_in_first_row_gives_sheet_row_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("offset.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(2, 1, "id").unwrap();
    ws.write_string(2, 2, "name").unwrap();
    ws.write_string(3, 1, "X1").unwrap();
    // Row 5 is ragged in spirit: only the id.
    ws.write_string(4, 1, "X2").unwrap();
    ws.write_string(5, 2, "only name").unwrap();
    wb.save(&path).unwrap();
    let t = read_table(&sheet(&path, None), &cols(&["name", "id"]), &|_| {}).unwrap();
    assert_eq!(
        rows(&t),
        vec![
            row(4, &["", "X1"]),
            row(5, &["", "X2"]),
            row(6, &["only name", ""]),
        ]
    );
}

#[test]
fn error_cells_name_sheet_row_and_column() {
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
    let src = sheet(&path, None);
    let err = read_table(&src, &cols(&["id", "amount"]), &|_| {}).unwrap_err();
    assert!(
        matches!(err, FilesError::CellError { row: 3, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("err.xlsx"), "{msg}");
    assert!(
        msg.contains("sheet 'Data', row 3, column 'amount': the cell holds the error #DIV/0!"),
        "{msg}"
    );
    // Not requested → not looked at.
    let t = read_table(&src, &cols(&["id"]), &|_| {}).unwrap();
    assert_eq!(t.len(), 2);
}

#[test]
fn empty_sheet_duplicate_header_and_not_a_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.xlsx");
    let mut wb = Workbook::new();
    wb.add_worksheet();
    let ws = wb.add_worksheet();
    ws.set_name("Dup").unwrap();
    ws.write_string(0, 0, "id").unwrap();
    ws.write_string(0, 1, "x").unwrap();
    ws.write_string(0, 2, "id").unwrap();
    wb.save(&path).unwrap();

    let err = read_header(&sheet(&path, None)).unwrap_err();
    assert!(matches!(err, FilesError::Empty { .. }), "{err:?}");
    let err = read_header(&sheet(&path, Some("Dup"))).unwrap_err();
    assert!(
        matches!(
            &err,
            FilesError::DuplicateHeader {
                first: 1,
                second: 3,
                ..
            }
        ),
        "{err:?}"
    );

    let fake = dir.path().join("fake.xlsx");
    std::fs::write(&fake, b"id,name\n1,a\n").unwrap();
    let err = read_header(&sheet(&fake, None)).unwrap_err();
    assert!(matches!(err, FilesError::Xlsx { .. }), "{err:?}");
    assert!(err.to_string().contains("fake.xlsx"), "{err}");

    let missing = dir.path().join("missing.xlsx");
    let err = read_header(&sheet(&missing, None)).unwrap_err();
    assert!(matches!(err, FilesError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.xlsx"), "{err}");
}

#[test]
fn a_repeated_header_row_names_the_sheet_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Data").unwrap();
    let header = ["id", "name", "2024"];
    for (r, values) in [
        &header[..],
        &["1", "Ann", "x"],
        // Rows that only partly look like the header are data.
        &["id", "name", "x"],
        &["id", "", "2024"],
        &header[..],
        &["2", "Bob", "y"],
    ]
    .iter()
    .enumerate()
    {
        for (c, v) in values.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
            }
        }
    }
    // The second header's year typed as a number shows the same.
    ws.write_number(5, 2, 2024).unwrap();
    wb.save(&path).unwrap();
    let err = read_table(&sheet(&path, None), &cols(&["id"]), &|_| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the header repeated at sheet 'Data', row 6: two exports concatenated?",
            path.display()
        )
    );
    assert_eq!(err.line(), Some(6));
}
