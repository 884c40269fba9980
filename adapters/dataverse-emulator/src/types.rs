//! Attribute types and their cell values. Cells are stored as canonical text (numbers keep
//! their digits, never going through `f64`); this module validates and normalizes that text,
//! compares numbers exactly ([`Dec`]) and handles the UTC date-time format Dataverse emits.

use std::cmp::Ordering;

use serde::Deserialize;

/// Dataverse attribute types served by the emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AttrType {
    /// Single line of text.
    String,
    /// Multiple lines of text.
    Memo,
    /// Whole number (32-bit).
    Integer,
    /// Big integer (64-bit).
    BigInt,
    /// Decimal number.
    Decimal,
    /// Floating point number.
    Double,
    /// Currency; rows also carry `_transactioncurrencyid_value`.
    Money,
    /// Two options.
    Boolean,
    /// Date and time (UTC).
    DateTime,
    /// GUID.
    Uniqueidentifier,
    /// Lookup, read as `_x_value`.
    Lookup,
    /// Choice.
    Picklist,
    /// Status (statecode).
    State,
    /// Status reason (statuscode).
    Status,
    /// Internal: a JSON value served as-is (metadata only; cannot be configured).
    #[doc(hidden)]
    #[serde(skip_deserializing)]
    RawJson,
}

/// How values of a type are compared and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Text,
    Number,
    Bool,
    DateTime,
    Guid,
    Json,
}

impl AttrType {
    pub(crate) fn family(self) -> Family {
        match self {
            AttrType::String | AttrType::Memo => Family::Text,
            AttrType::Integer
            | AttrType::BigInt
            | AttrType::Decimal
            | AttrType::Double
            | AttrType::Money
            | AttrType::Picklist
            | AttrType::State
            | AttrType::Status => Family::Number,
            AttrType::Boolean => Family::Bool,
            AttrType::DateTime => Family::DateTime,
            AttrType::Uniqueidentifier | AttrType::Lookup => Family::Guid,
            AttrType::RawJson => Family::Json,
        }
    }

    /// The `AttributeType` value in metadata.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AttrType::String => "String",
            AttrType::Memo => "Memo",
            AttrType::Integer => "Integer",
            AttrType::BigInt => "BigInt",
            AttrType::Decimal => "Decimal",
            AttrType::Double => "Double",
            AttrType::Money => "Money",
            AttrType::Boolean => "Boolean",
            AttrType::DateTime => "DateTime",
            AttrType::Uniqueidentifier => "Uniqueidentifier",
            AttrType::Lookup => "Lookup",
            AttrType::Picklist => "Picklist",
            AttrType::State => "State",
            AttrType::Status => "Status",
            AttrType::RawJson => "Virtual",
        }
    }

    /// The EDM type name used in OData error messages.
    pub(crate) fn edm(self) -> &'static str {
        match self {
            AttrType::String | AttrType::Memo => "Edm.String",
            AttrType::Integer | AttrType::Picklist | AttrType::State | AttrType::Status => {
                "Edm.Int32"
            }
            AttrType::BigInt => "Edm.Int64",
            AttrType::Decimal | AttrType::Money => "Edm.Decimal",
            AttrType::Double => "Edm.Double",
            AttrType::Boolean => "Edm.Boolean",
            AttrType::DateTime => "Edm.DateTimeOffset",
            AttrType::Uniqueidentifier | AttrType::Lookup => "Edm.Guid",
            AttrType::RawJson => "Edm.Untyped",
        }
    }

    /// Integer range of whole-number types.
    fn int_range(self) -> Option<(i64, i64)> {
        match self {
            AttrType::Integer | AttrType::Picklist | AttrType::State | AttrType::Status => {
                Some((i32::MIN as i64, i32::MAX as i64))
            }
            AttrType::BigInt => Some((i64::MIN, i64::MAX)),
            _ => None,
        }
    }
}

/// Validates and normalizes cell text for a type. Empty text is null. `precision` pads the
/// fraction of Money/Decimal values with zeros.
pub(crate) fn normalize_cell(
    ty: AttrType,
    text: &str,
    precision: Option<u32>,
) -> Result<Option<String>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let value = match ty.family() {
        Family::Text | Family::Json => text.to_owned(),
        Family::Number => {
            let number = normalize_number(text.trim())
                .ok_or_else(|| format!("'{text}' is not a valid {}", ty.name()))?;
            if let Some((min, max)) = ty.int_range() {
                let n: i64 = number
                    .parse()
                    .map_err(|_| format!("'{text}' is not a valid {}", ty.name()))?;
                if n < min || n > max {
                    return Err(format!("'{text}' is out of range for {}", ty.name()));
                }
                n.to_string()
            } else {
                match precision {
                    Some(p) if !number.contains(['e', 'E']) => pad_fraction(&number, p),
                    _ => number,
                }
            }
        }
        Family::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => "true".to_owned(),
            "false" | "0" => "false".to_owned(),
            _ => return Err(format!("'{text}' is not a valid Boolean")),
        },
        Family::DateTime => parse_datetime(text.trim())
            .ok_or_else(|| format!("'{text}' is not a valid DateTime"))?,
        Family::Guid => {
            parse_guid(text.trim()).ok_or_else(|| format!("'{text}' is not a valid GUID"))?
        }
    };
    Ok(Some(value))
}

fn pad_fraction(number: &str, precision: u32) -> String {
    let fraction_len = number.split_once('.').map(|(_, f)| f.len()).unwrap_or(0);
    let missing = (precision as usize).saturating_sub(fraction_len);
    if missing == 0 {
        return number.to_owned();
    }
    let mut out = number.to_owned();
    if fraction_len == 0 {
        out.push('.');
    }
    out.extend(std::iter::repeat_n('0', missing));
    out
}

/// Turns decimal text (`+5`, `.5`, `007`, `1e3`) into JSON number text, keeping fraction digits.
pub(crate) fn normalize_number(text: &str) -> Option<String> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (rest, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 1);
    if negative {
        out.push('-');
    }
    let int = int.trim_start_matches('0');
    out.push_str(if int.is_empty() { "0" } else { int });
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if let Some(exp) = exponent {
        let (sign, exp_digits) = match exp.as_bytes().first() {
            Some(b'-') => ("-", &exp[1..]),
            Some(b'+') => ("", &exp[1..]),
            _ => ("", exp),
        };
        if exp_digits.is_empty() || !digits(exp_digits) {
            return None;
        }
        out.push('e');
        out.push_str(sign);
        out.push_str(exp_digits);
    }
    if out == "-0" {
        return Some("0".to_owned());
    }
    Some(out)
}

/// An exact decimal: `0.d1d2d3… × 10^exp`, without leading or trailing zero digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dec {
    negative: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Dec {
    /// Parses JSON-like number text (sign, digits, fraction, exponent).
    pub(crate) fn parse(text: &str) -> Option<Dec> {
        let normalized = normalize_number(text.trim())?;
        let (negative, rest) = match normalized.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, normalized.as_str()),
        };
        let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        let leading = all.iter().take_while(|d| **d == 0).count();
        let mut digits = all[leading..].to_vec();
        while digits.last() == Some(&0) {
            digits.pop();
        }
        let exp = int.len() as i64 - leading as i64 + exponent;
        Some(Dec {
            negative: negative && !digits.is_empty(),
            digits,
            exp,
        })
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }
}

impl Ord for Dec {
    fn cmp(&self, other: &Self) -> Ordering {
        let sign = |d: &Dec| {
            if d.is_zero() {
                0
            } else if d.negative {
                -1
            } else {
                1
            }
        };
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        let magnitude = self
            .exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits));
        if a < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Lower-cases and validates a GUID (`8-4-4-4-12` hex digits, optionally in braces).
pub(crate) fn parse_guid(text: &str) -> Option<String> {
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    if is_guid(inner) {
        Some(inner.to_ascii_lowercase())
    } else {
        None
    }
}

/// True for exactly `8-4-4-4-12` hex digits.
pub(crate) fn is_guid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Sort key of a GUID in SQL Server `uniqueidentifier` order (an approximation): the groups of
/// `aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee` compared as the tuple (e, d, c, b, a). The groups have
/// fixed widths, so concatenating them gives a string with the same order.
pub(crate) fn guid_sort_key(guid: &str) -> String {
    let g = guid.to_ascii_lowercase();
    if !is_guid(&g) {
        return g;
    }
    format!(
        "{}{}{}{}{}",
        &g[24..36],
        &g[19..23],
        &g[14..18],
        &g[9..13],
        &g[0..8]
    )
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]` (also with a space instead of
/// `T`) into canonical UTC text `YYYY-MM-DDTHH:MM:SSZ`. Fractional seconds are dropped.
pub(crate) fn parse_datetime(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let num = |s: usize, n: usize| -> Option<i64> {
        let part = text.get(s..s + n)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (mut hour, mut minute, mut second, mut offset_minutes) = (0, 0, 0, 0i64);
    let mut i = 10;
    if i < b.len() {
        if b[i] != b'T' && b[i] != b't' && b[i] != b' ' {
            return None;
        }
        hour = num(i + 1, 2)?;
        if b.get(i + 3) != Some(&b':') {
            return None;
        }
        minute = num(i + 4, 2)?;
        i += 6;
        if b.get(i) == Some(&b':') {
            second = num(i + 1, 2)?;
            i += 3;
            if b.get(i) == Some(&b'.') {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        match b.get(i) {
            None => {}
            Some(b'Z') | Some(b'z') if i + 1 == b.len() => {}
            Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
                let minutes = num(i + 1, 2)? * 60 + num(i + 4, 2)?;
                offset_minutes = if *sign == b'+' { minutes } else { -minutes };
            }
            _ => return None,
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    Some(format_utc(seconds))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format_utc(seconds: i64) -> String {
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Seconds since the epoch, now.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalize_without_losing_digits() {
        assert_eq!(normalize_number("20000.0000").unwrap(), "20000.0000");
        assert_eq!(normalize_number("+007").unwrap(), "7");
        assert_eq!(normalize_number(".5").unwrap(), "0.5");
        assert_eq!(normalize_number("-1.5e3").unwrap(), "-1.5e3");
        assert!(normalize_number("1.2.3").is_none());
        assert!(normalize_number("abc").is_none());
        assert!(normalize_number("").is_none());
        assert!(normalize_number(".").is_none());
    }

    #[test]
    fn decimals_compare_exactly() {
        let d = |s| Dec::parse(s).unwrap();
        assert!(d("0.1") < d("0.10000000000000001"));
        assert_eq!(d("1.50").cmp(&d("1.5")), Ordering::Equal);
        assert!(d("-2") < d("-1.5"));
        assert!(d("0") > d("-0.001"));
        assert!(d("1e3") == d("1000"));
        assert!(d("99") < d("100"));
    }

    #[test]
    fn datetimes_become_utc() {
        assert_eq!(
            parse_datetime("2023-04-07").unwrap(),
            "2023-04-07T00:00:00Z"
        );
        assert_eq!(
            parse_datetime("2023-04-07T21:59:01.123+02:00").unwrap(),
            "2023-04-07T19:59:01Z"
        );
        assert!(parse_datetime("2023-02-30").is_none());
    }

    #[test]
    fn guid_order_key() {
        assert_eq!(
            guid_sort_key("AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"),
            "eeeeeeeeeeeeddddccccbbbbaaaaaaaa"
        );
    }
}
