//! Renders rows as JSON text directly (no intermediate `serde_json::Value`, so a 5000-row page
//! is one string build and numbers keep their exact digits). Also `$select` resolution and the
//! `FormattedValue` annotation.

use crate::config::CurrencyDef;
use crate::response::{push_json_str, ApiError};
use crate::store::{default_state_captions, Row, TableDef, CURRENCY_COLUMN};
use crate::types::{AttrType, Family};

/// Name of the formatted-value annotation.
pub(crate) const FORMATTED_VALUE: &str = "OData.Community.Display.V1.FormattedValue";

/// The columns a response carries, in order, and the `(…)` part of `@odata.context`.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub cols: Vec<usize>,
    pub context: String,
}

impl Selection {
    /// Resolves `$select` (absent or `*` = every column). The primary key is always added, and
    /// `_transactioncurrencyid_value` whenever a Money column is selected.
    pub(crate) fn parse(def: &TableDef, select: Option<&str>) -> Result<Selection, ApiError> {
        let names: Vec<&str> = match select.map(str::trim) {
            None | Some("*") | Some("") => {
                return Ok(Selection {
                    cols: (0..def.columns.len()).collect(),
                    context: String::new(),
                })
            }
            Some(list) => list.split(',').map(str::trim).collect(),
        };
        let mut cols = Vec::new();
        for name in &names {
            let (index, _) = def
                .column(name)
                .ok_or_else(|| ApiError::unknown_property(&def.type_name(), name))?;
            if !cols.contains(&index) {
                cols.push(index);
            }
        }
        if !cols.contains(&def.pk_index) {
            cols.push(def.pk_index);
        }
        if cols.iter().any(|c| def.columns[*c].ty == AttrType::Money) {
            if let Some((currency, _)) = def.column(CURRENCY_COLUMN) {
                if !cols.contains(&currency) {
                    cols.push(currency);
                }
            }
        }
        Ok(Selection {
            cols,
            context: format!("({})", names.join(",")),
        })
    }
}

/// Per-response rendering switches.
pub(crate) struct RenderOpts<'a> {
    pub etag: bool,
    pub formatted: bool,
    pub currency: &'a CurrencyDef,
    /// An `@odata.type` to put first (metadata rows).
    pub odata_type: Option<&'a str>,
}

/// Appends one row as a JSON object.
pub(crate) fn render_row(
    out: &mut String,
    def: &TableDef,
    row: &Row,
    selection: &Selection,
    opts: &RenderOpts,
) {
    out.push('{');
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
    };
    if let Some(odata_type) = opts.odata_type {
        sep(out);
        out.push_str("\"@odata.type\":");
        push_json_str(out, odata_type);
    }
    if opts.etag {
        sep(out);
        out.push_str("\"@odata.etag\":\"W/\\\"");
        out.push_str(&row.version.to_string());
        out.push_str("\\\"\"");
    }
    for &index in &selection.cols {
        let column = &def.columns[index];
        let cell = row.cells[index].as_deref();
        if opts.formatted {
            if let Some(text) = cell.and_then(|c| formatted_value(column, c, opts.currency)) {
                sep(out);
                push_json_str(out, &format!("{}@{FORMATTED_VALUE}", column.name));
                out.push(':');
                push_json_str(out, &text);
            }
        }
        sep(out);
        push_json_str(out, &column.name);
        out.push(':');
        push_value(out, column.ty, cell);
    }
    out.push('}');
}

/// Appends a cell value as JSON.
pub(crate) fn push_value(out: &mut String, ty: AttrType, cell: Option<&str>) {
    match cell {
        None => out.push_str("null"),
        Some(text) => match ty.family() {
            Family::Number | Family::Bool | Family::Json => out.push_str(text),
            Family::Text | Family::DateTime | Family::Guid => push_json_str(out, text),
        },
    }
}

/// The display text Dataverse would show for a value, if the type has one.
fn formatted_value(
    column: &crate::store::Column,
    text: &str,
    currency: &CurrencyDef,
) -> Option<String> {
    if let Some(caption) = column.captions.get(text) {
        return Some(caption.clone());
    }
    match column.ty {
        AttrType::State => Some(
            default_state_captions()
                .get(text)
                .cloned()
                .unwrap_or_else(|| text.to_owned()),
        ),
        AttrType::Picklist | AttrType::Status => Some(text.to_owned()),
        AttrType::Boolean => Some(if text == "true" { "Yes" } else { "No" }.to_owned()),
        AttrType::Integer | AttrType::BigInt => Some(group_thousands(text)),
        AttrType::Money => {
            let symbol = currency.symbol.as_deref().unwrap_or(&currency.iso);
            Some(format!(
                "{symbol}{}",
                format_fixed(text, currency.precision)
            ))
        }
        AttrType::Decimal | AttrType::Double => Some(text.to_owned()),
        AttrType::DateTime => Some(format_datetime(text)),
        _ => None,
    }
}

/// `1234567.5` → `1,234,567.5`.
fn group_thousands(text: &str) -> String {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Grouped with exactly `precision` fraction digits (padded, or cut without rounding).
fn format_fixed(text: &str, precision: u32) -> String {
    if text.contains(['e', 'E']) {
        return text.to_owned();
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let mut frac: String = frac.chars().take(precision as usize).collect();
    while frac.len() < precision as usize {
        frac.push('0');
    }
    if frac.is_empty() {
        group_thousands(int)
    } else {
        group_thousands(&format!("{int}.{frac}"))
    }
}

/// `2023-04-07T21:59:01Z` → `4/7/2023 9:59 PM`.
fn format_datetime(text: &str) -> String {
    let part = |range: std::ops::Range<usize>| text.get(range).and_then(|s| s.parse::<u32>().ok());
    match (
        part(0..4),
        part(5..7),
        part(8..10),
        part(11..13),
        part(14..16),
    ) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi)) => {
            let (hour12, meridiem) = match h {
                0 => (12, "AM"),
                1..=11 => (h, "AM"),
                12 => (12, "PM"),
                _ => (h - 12, "PM"),
            };
            format!("{mo}/{d}/{y} {hour12}:{mi:02} {meridiem}")
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(group_thousands("1234567.5"), "1,234,567.5");
        assert_eq!(group_thousands("-123"), "-123");
        assert_eq!(format_fixed("20000.0000", 2), "20,000.00");
        assert_eq!(format_fixed("5", 2), "5.00");
        assert_eq!(format_datetime("2023-04-07T21:59:01Z"), "4/7/2023 9:59 PM");
    }
}
