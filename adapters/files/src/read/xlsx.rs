//! XLSX reading on top of `calamine`.
//!
//! The sheet is loaded as a calamine `Range` (the used area), whose first row is the header.
//! Cells are turned into the text a user would recognise from Excel: integral numbers without
//! ".0", dates as ISO `YYYY-MM-DD`, booleans as `true`/`false`.

use std::fmt::Write as _;
use std::path::Path;

use calamine::{
    open_workbook, Data, ExcelDateTime, ExcelDateTimeType, Range, Reader, Xlsx, XlsxError,
};
use coupler_engine::{Column, Table};

use super::{check_duplicates, resolve_columns, table_name, too_large};
use crate::FilesError;

/// Opens the workbook and loads the named sheet (or the first one).
fn load(path: &Path, sheet: Option<&str>) -> Result<(String, Range<Data>), FilesError> {
    let xlsx_err = |e: XlsxError| match e {
        XlsxError::Io(source) => FilesError::io(path, source),
        other => FilesError::Xlsx {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    };
    let mut workbook: Xlsx<_> = open_workbook(path).map_err(xlsx_err)?;
    let sheets = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => match sheets.iter().find(|s| *s == wanted) {
            Some(s) => s.clone(),
            None => {
                return Err(FilesError::SheetNotFound {
                    path: path.to_path_buf(),
                    sheet: wanted.to_string(),
                    available: sheets,
                })
            }
        },
        None => match sheets.first() {
            Some(s) => s.clone(),
            None => {
                return Err(FilesError::Empty {
                    path: path.to_path_buf(),
                })
            }
        },
    };
    let range = workbook.worksheet_range(&name).map_err(xlsx_err)?;
    Ok((name, range))
}

/// Excel's letter for a 0-based column index (0 → A, 26 → AA).
fn column_letter(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// Appends the text of `cell` to `out`; an error cell gives back its error text.
pub(crate) fn cell_text(cell: &Data, out: &mut String) -> Result<(), String> {
    match cell {
        Data::Empty => {}
        Data::String(s) => out.push_str(s),
        Data::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Data::Float(f) => push_float(*f, out),
        Data::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Data::DateTime(dt) => {
            if dt.is_duration() {
                push_duration(dt.as_f64(), out);
            } else {
                push_datetime(dt, out);
            }
        }
        Data::DateTimeIso(s) => out.push_str(s.strip_suffix("T00:00:00").unwrap_or(s)),
        Data::DurationIso(s) => out.push_str(s),
        Data::Error(e) => return Err(e.to_string()),
    }
    Ok(())
}

/// Rust's shortest round-trip formatting, which already prints integral values without ".0".
fn push_float(f: f64, out: &mut String) {
    if f == 0.0 {
        out.push('0'); // not "-0"
    } else {
        let _ = write!(out, "{f}");
    }
}

/// ISO date, with the time when it is not midnight; a bare time of day for serials below 1.
///
/// The time is computed here, rounded to the millisecond with carry into the date: calamine's
/// own split can yield 1000 ms (e.g. 13:45:29.1000 for 13:45:30).
fn push_datetime(dt: &ExcelDateTime, out: &mut String) {
    const DAY_MS: f64 = 86_400_000.0;
    let value = dt.as_f64();
    if !(0.0..3_000_000.0).contains(&value) {
        // Not a date Excel can show; keep the number.
        return push_float(value, out);
    }
    // ExcelDateTime doesn't expose its epoch, but compares equal to one built with it.
    let is_1904 = *dt == ExcelDateTime::new(value, ExcelDateTimeType::DateTime, true);
    let total_ms = (value * DAY_MS).round();
    let days = (total_ms / DAY_MS).floor();
    let ms_of_day = (total_ms - days * DAY_MS) as u64;
    let (h, mi, s, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    if days == 0.0 && ms_of_day != 0 {
        // A time of day without a date (Excel's "hh:mm" cells).
        let _ = write!(out, "{h:02}:{mi:02}:{s:02}");
    } else {
        let (y, mo, d, ..) =
            ExcelDateTime::new(days, ExcelDateTimeType::DateTime, is_1904).to_ymd_hms_milli();
        let _ = write!(out, "{y:04}-{mo:02}-{d:02}");
        if ms_of_day == 0 {
            return;
        }
        let _ = write!(out, "T{h:02}:{mi:02}:{s:02}");
    }
    if ms != 0 {
        let _ = write!(out, ".{ms:03}");
    }
}

fn push_duration(days: f64, out: &mut String) {
    let total = (days * 86_400.0).round();
    let (sign, total) = if total < 0.0 {
        ("-", -total)
    } else {
        ("", total)
    };
    let total = total as u64;
    let _ = write!(
        out,
        "{sign}{}:{:02}:{:02}",
        total / 3600,
        total / 60 % 60,
        total % 60
    );
}

/// The header names, and the sheet row number (1-based) of the header row.
fn header(path: &Path, sheet: &str, range: &Range<Data>) -> Result<(Vec<String>, u64), FilesError> {
    let (Some((row0, col0)), Some(first)) = (range.start(), range.rows().next()) else {
        return Err(FilesError::Empty {
            path: path.to_path_buf(),
        });
    };
    let header_row = u64::from(row0) + 1;
    let mut names = Vec::with_capacity(first.len());
    for (i, cell) in first.iter().enumerate() {
        let mut name = String::new();
        cell_text(cell, &mut name).map_err(|value| FilesError::CellError {
            path: path.to_path_buf(),
            sheet: sheet.to_string(),
            row: header_row,
            column: column_letter(col0 as usize + i),
            value,
        })?;
        names.push(name);
    }
    check_duplicates(path, &names)?;
    Ok((names, header_row))
}

pub(super) fn read_header(path: &Path, sheet: Option<&str>) -> Result<Vec<String>, FilesError> {
    let (sheet, range) = load(path, sheet)?;
    header(path, &sheet, &range).map(|(names, _)| names)
}

pub(super) fn read_table(
    path: &Path,
    sheet: Option<&str>,
    columns: &[String],
    checked: &[String],
    progress: &dyn Fn(u64),
) -> Result<Table, FilesError> {
    let (sheet, range) = load(path, sheet)?;
    let (names, header_row) = header(path, &sheet, &range)?;
    let indices = resolve_columns(path, &names, columns)?;
    let mut checked_only: Vec<String> = Vec::new();
    for c in checked {
        if !columns.contains(c) && !checked_only.contains(c) {
            checked_only.push(c.clone());
        }
    }
    let checked_indices = resolve_columns(path, &names, &checked_only)?;
    // A row equal to the header row (two exports pasted together) is recognised by its first
    // non-blank header value first.
    let probe = names.iter().position(|n| !n.trim().is_empty());

    // Trailing rows with no value at all are formatting leftovers, not data.
    let data_rows = range
        .rows()
        .skip(1)
        .enumerate()
        .filter(|(_, r)| r.iter().any(|c| !matches!(c, Data::Empty)))
        .map(|(i, _)| i + 1)
        .next_back()
        .unwrap_or(0);

    let mut cells: Vec<Column> = columns
        .iter()
        .map(|_| Column::with_capacity(data_rows, 0))
        .collect();
    let mut origins = Vec::with_capacity(data_rows);
    let mut text = String::new();
    for (i, row) in range.rows().skip(1).take(data_rows).enumerate() {
        let row_number = header_row + 1 + i as u64;
        if probe.is_some_and(|p| cell_is(row.get(p), &names[p])) && is_header_row(row, &names) {
            return Err(FilesError::RepeatedHeader {
                path: path.to_path_buf(),
                line: row_number,
                sheet: Some(sheet.clone()),
            });
        }
        for (&c, column) in checked_indices.iter().zip(&checked_only) {
            text.clear();
            let cell = row.get(c).unwrap_or(&Data::Empty);
            cell_text(cell, &mut text).map_err(|value| FilesError::CellError {
                path: path.to_path_buf(),
                sheet: sheet.clone(),
                row: row_number,
                column: column.clone(),
                value,
            })?;
        }
        for (j, &c) in indices.iter().enumerate() {
            text.clear();
            // Rows of a Range are as wide as the used area, so shorter rows come padded.
            let cell = row.get(c).unwrap_or(&Data::Empty);
            cell_text(cell, &mut text).map_err(|value| FilesError::CellError {
                path: path.to_path_buf(),
                sheet: sheet.clone(),
                row: row_number,
                column: columns[j].clone(),
                value,
            })?;
            cells[j]
                .push(&text)
                .map_err(|_| too_large(path, &columns[j]))?;
        }
        origins.push(row_number);
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    progress(size);
    Table::from_columns(table_name(path), columns.to_vec(), cells, origins).map_err(|source| {
        FilesError::Table {
            path: path.to_path_buf(),
            cause: source,
        }
    })
}

/// Whether `cell` shows as `text` (an absent cell as "").
fn cell_is(cell: Option<&Data>, text: &str) -> bool {
    let mut shown = String::new();
    match cell {
        Some(Data::String(s)) => s == text,
        None | Some(Data::Empty) => text.is_empty(),
        Some(other) => cell_text(other, &mut shown).is_ok() && shown == text,
    }
}

/// Whether every cell of `row` shows as the header's name for its column.
fn is_header_row(row: &[Data], names: &[String]) -> bool {
    names
        .iter()
        .enumerate()
        .all(|(i, name)| cell_is(row.get(i), name))
        && row[names.len().min(row.len())..]
            .iter()
            .all(|c| matches!(c, Data::Empty))
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::CellErrorType;

    fn text(cell: Data) -> String {
        let mut s = String::new();
        cell_text(&cell, &mut s).unwrap();
        s
    }

    #[test]
    fn cells_format_like_a_user_expects() {
        assert_eq!(text(Data::Float(10000.0)), "10000");
        assert_eq!(text(Data::Float(-0.0)), "0");
        assert_eq!(text(Data::Float(0.1 + 0.2)), "0.30000000000000004");
        assert_eq!(text(Data::Float(1234.5)), "1234.5");
        assert_eq!(text(Data::Float(1e20)), "100000000000000000000");
        assert_eq!(text(Data::Int(-42)), "-42");
        assert_eq!(text(Data::Bool(true)), "true");
        assert_eq!(text(Data::Empty), "");
        let date = |v| Data::DateTime(ExcelDateTime::new(v, ExcelDateTimeType::DateTime, false));
        assert_eq!(text(date(45366.0)), "2024-03-15");
        assert_eq!(text(date(45366.5)), "2024-03-15T12:00:00");
        assert_eq!(text(date(0.75)), "18:00:00");
        // 1999-12-31 13:45:30 as Excel stores it (calamine alone gives 13:45:29.1000).
        assert_eq!(text(date(36_525.573_263_888_89)), "1999-12-31T13:45:30");
        assert_eq!(
            text(date(45366.0 + 0.25 + 0.5 / 86_400.0)),
            "2024-03-15T06:00:00.500"
        );
        assert_eq!(text(date(45_366.999_999_999_9)), "2024-03-16");
        let d1904 = Data::DateTime(ExcelDateTime::new(0.0, ExcelDateTimeType::DateTime, true));
        assert_eq!(text(d1904), "1904-01-01");
        let dur = Data::DateTime(ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false));
        assert_eq!(text(dur), "36:00:00");
        assert_eq!(
            text(Data::DateTimeIso("2024-03-15T00:00:00".into())),
            "2024-03-15"
        );
        let mut s = String::new();
        assert_eq!(
            cell_text(&Data::Error(CellErrorType::Div0), &mut s),
            Err("#DIV/0!".to_string())
        );
    }

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }
}
