//! Comparing one value: BC's rules per field type, turned into comparison keys.
//!
//! BC compares a local value with an integration value by the type of the *local* field
//! (docs/semantics.md#comparing-values). Rather than compare pairs, the engine maps every cell to a
//! **comparison key** once: two cells are equal under a criterion exactly when their keys are
//! equal. That is what lets the coupling run on hash indexes instead of pairwise scans.
//!
//! | type | blank local value | key |
//! |---|---|---|
//! | text | skipped | raw text (case-sensitive) or its Unicode lower-case mapping |
//! | code | skipped (blank after trimming) | local: trimmed and upper-cased first, then as text |
//! | integer, decimal | 0 | canonical decimal (`1.50` → `15e-1`) |
//! | boolean | false | `0` / `1` |
//! | date | the empty date | `YYYY-MM-DD`, or empty |

use std::borrow::Cow;

/// The type of a mapped field, as BC knows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// BC Text: compared as stored, blank skipped.
    #[default]
    Text,
    /// BC Code: stored trimmed and upper-case; blank skipped.
    Code,
    /// Whole numbers, compared numerically.
    Integer,
    /// Decimals, compared numerically and exactly (no floating point).
    Decimal,
    /// `true/false`, `1/0`, `yes/no`.
    Boolean,
    /// Calendar dates (`YYYY-MM-DD`, optionally followed by a time that is ignored).
    Date,
    /// A BC option (its caption) against a Dataverse choice (its integer value), compared
    /// through the criterion's option map.
    Option,
}

impl FieldType {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Code => "code",
            FieldType::Integer => "integer",
            FieldType::Decimal => "decimal",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Option => "option",
        }
    }

    /// Text-like types skip blank local values instead of matching them.
    pub fn is_text_like(self) -> bool {
        matches!(self, FieldType::Text | FieldType::Code)
    }
}

/// How the cells of one integration column are folded into keys. Criteria with the same
/// integration column and the same fold share one dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Fold {
    /// Ordinal equality.
    Exact,
    /// Equality after Unicode lower-case mapping.
    Lower,
    /// Numeric equality.
    Number,
    /// Boolean equality.
    Boolean,
    /// Calendar-date equality.
    Date,
    /// Dataverse's SQL collation: lower-case, trailing spaces ignored, accents folded unless
    /// the language is accent-sensitive.
    Collated { accent_sensitive: bool },
}

impl Fold {
    pub(crate) fn for_criterion(
        field_type: FieldType,
        case_sensitive: bool,
        collation: crate::Collation,
    ) -> Fold {
        match field_type {
            FieldType::Text | FieldType::Code => match collation {
                crate::Collation::Dataverse { accent_sensitive } => {
                    return Fold::Collated { accent_sensitive }
                }
                crate::Collation::Exact => {}
            },
            _ => {}
        }
        match field_type {
            FieldType::Text | FieldType::Code if case_sensitive => Fold::Exact,
            FieldType::Text | FieldType::Code => Fold::Lower,
            FieldType::Integer | FieldType::Decimal | FieldType::Option => Fold::Number,
            FieldType::Boolean => Fold::Boolean,
            FieldType::Date => Fold::Date,
        }
    }
}

/// A cell that cannot be read as its field's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidValue {
    /// The expected type, e.g. `number`.
    pub expected: &'static str,
    /// Why it was rejected.
    pub reason: &'static str,
}

/// The key of an integration cell under `fold`, written into `buf` when it differs from the
/// cell (no allocation per cell once `buf` is warm).
pub(crate) fn integration_key_into<'c>(
    cell: &'c str,
    fold: Fold,
    buf: &'c mut String,
) -> Result<&'c str, InvalidValue> {
    match fold {
        Fold::Exact => Ok(cell),
        Fold::Lower => Ok(lower_into(cell, buf)),
        Fold::Number => {
            let key = canonical_number(cell)?;
            buf.clear();
            buf.push_str(&key);
            Ok(buf.as_str())
        }
        Fold::Boolean => boolean_key(cell),
        Fold::Date => date_key(cell),
        Fold::Collated { accent_sensitive } => Ok(collated_into(cell, accent_sensitive, buf)),
    }
}

/// The key of a value under Dataverse's collation: lower-case, trailing spaces ignored, accents
/// folded unless the language is accent-sensitive.
fn collated(cell: &str, accent_sensitive: bool) -> Cow<'_, str> {
    let lowered = lower(cell.trim_end_matches(' '));
    if accent_sensitive {
        return lowered;
    }
    match fold_accents(&lowered) {
        Cow::Borrowed(_) => lowered,
        Cow::Owned(folded) => Cow::Owned(folded),
    }
}

/// [`collated`], written into `buf` when it differs from the cell.
fn collated_into<'c>(cell: &'c str, accent_sensitive: bool, buf: &'c mut String) -> &'c str {
    match collated(cell, accent_sensitive) {
        Cow::Borrowed(key) => key,
        Cow::Owned(key) => {
            buf.clear();
            buf.push_str(&key);
            buf.as_str()
        }
    }
}

/// The key of a local cell under a criterion, written into `buf` when needed; `None` when the
/// value is blank text/code (BC sets no filter for it).
pub(crate) fn local_key_into<'c>(
    cell: &'c str,
    field_type: FieldType,
    fold: Fold,
    buf: &'c mut String,
) -> Result<Option<&'c str>, InvalidValue> {
    match field_type {
        FieldType::Text if cell.is_empty() => Ok(None),
        FieldType::Code => {
            let trimmed = cell.trim();
            if trimmed.is_empty() {
                return Ok(None);
            }
            let upper = upper(trimmed);
            buf.clear();
            match fold {
                Fold::Lower => buf.push_str(&lower(&upper)),
                Fold::Collated { accent_sensitive } => {
                    buf.push_str(&collated(&upper, accent_sensitive))
                }
                _ => buf.push_str(&upper),
            }
            Ok(Some(buf.as_str()))
        }
        _ => integration_key_into(cell, fold, buf).map(Some),
    }
}

fn lower_into<'c>(s: &'c str, buf: &'c mut String) -> &'c str {
    buf.clear();
    if s.is_ascii() {
        if !s.bytes().any(|b| b.is_ascii_uppercase()) {
            return s;
        }
        buf.push_str(s);
        buf.make_ascii_lowercase();
    } else {
        push_lowercase_unicode(s, buf);
    }
    buf.as_str()
}

/// Appends `str::to_lowercase(s)` to `buf` without allocating: character by character, as std
/// maps each. Only the capital sigma's mapping depends on its neighbours (final sigma); text
/// with one takes std's whole-string mapping.
fn push_lowercase_unicode(s: &str, buf: &mut String) {
    if s.contains('Σ') {
        buf.push_str(&s.to_lowercase());
        return;
    }
    // Runs of ASCII are copied and lower-cased in bulk; only the other characters go through
    // the Unicode tables (most names hold a few, if any).
    let mut rest = s;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        let start = buf.len();
        buf.push_str(&rest[..ascii]);
        buf[start..].make_ascii_lowercase();
        rest = &rest[ascii..];
        if let Some(c) = rest.chars().next() {
            buf.extend(c.to_lowercase());
            rest = &rest[c.len_utf8()..];
        }
    }
}

/// The Unicode lower-case mapping, borrowing when nothing changes (case-insensitive keys).
pub(crate) fn lower(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        };
    }
    let mut lowered = String::with_capacity(s.len());
    push_lowercase_unicode(s, &mut lowered);
    if lowered == s {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(lowered)
    }
}

fn upper(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(s.to_ascii_uppercase())
        } else {
            Cow::Borrowed(s)
        }
    } else {
        Cow::Owned(s.to_uppercase())
    }
}

/// Canonical form of a decimal number: `[-]digits e exponent` with no leading or trailing
/// zeros in the digits, so that `1.5`, `1.50`, `01.5` and `15e-1` share one key. Blank is 0.
pub(crate) fn canonical_number(cell: &str) -> Result<String, InvalidValue> {
    const BAD: InvalidValue = InvalidValue {
        expected: "number",
        reason: "expected digits with an optional sign, '.' decimal point and exponent",
    };
    let s = cell.trim();
    if s.is_empty() {
        return Ok("0".to_string());
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes[0] {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut digits = String::new();
    let mut exponent: i64 = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => {
                seen_digit = true;
                if !(digits.is_empty() && bytes[i] == b'0') {
                    digits.push(bytes[i] as char);
                }
                if seen_point {
                    exponent -= 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            b'e' | b'E' => break,
            _ => return Err(BAD),
        }
        i += 1;
    }
    if !seen_digit {
        return Err(BAD);
    }
    if i < bytes.len() {
        // Exponent part.
        let rest = &s[i + 1..];
        let e: i64 = rest
            .parse()
            .ok()
            .filter(|e: &i64| e.abs() < 1_000_000)
            .ok_or(BAD)?;
        if rest.starts_with('+') && rest.len() == 1 {
            return Err(BAD);
        }
        exponent += e;
    }
    if digits.is_empty() {
        return Ok("0".to_string());
    }
    while digits.ends_with('0') {
        digits.pop();
        exponent += 1;
    }
    Ok(format!(
        "{}{}e{}",
        if negative { "-" } else { "" },
        digits,
        exponent
    ))
}

pub(crate) fn boolean_key(cell: &str) -> Result<&'static str, InvalidValue> {
    let s = cell.trim();
    let is = |w: &str| s.eq_ignore_ascii_case(w);
    if s.is_empty() || is("false") || is("0") || is("no") {
        Ok("0")
    } else if is("true") || is("1") || is("yes") {
        Ok("1")
    } else {
        Err(InvalidValue {
            expected: "boolean",
            reason: "expected true/false, 1/0 or yes/no",
        })
    }
}

/// `YYYY-MM-DD` of a date cell (a time after `T` or a space is ignored); blank is the empty date.
pub(crate) fn date_key(cell: &str) -> Result<&str, InvalidValue> {
    const BAD: InvalidValue = InvalidValue {
        expected: "date",
        reason: "expected YYYY-MM-DD, optionally followed by a time",
    };
    let s = cell.trim();
    if s.is_empty() {
        return Ok("");
    }
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(BAD);
    }
    if b.len() > 10 && b[10] != b'T' && b[10] != b' ' {
        return Err(BAD);
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = match (num(0..4), num(5..7), num(8..10)) {
        (Some(y), Some(m), Some(d)) => (y, m, d),
        _ => return Err(BAD),
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(BAD),
    };
    if d == 0 || d > days || y == 0 {
        return Err(BAD);
    }
    Ok(&s[..10])
}

impl std::fmt::Display for InvalidValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a valid {}: {}", self.expected, self.reason)
    }
}

/// Folds the accented Latin letters of U+00C0–U+017F to their base letters and drops
/// combining marks (U+0300–U+036F); case is kept.
pub fn fold_accents(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || !s.chars().any(|c| fold_char(c).is_some()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match fold_char(c) {
            Some(folded) => out.push_str(folded),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// What a character folds to (`""` for a combining mark), or `None` to keep it.
fn fold_char(c: char) -> Option<&'static str> {
    let code = c as u32;
    let folded = match code {
        0xC0..=0xFF => LATIN_1[(code - 0xC0) as usize],
        0x100..=0x17F => LATIN_EXTENDED_A[(code - 0x100) as usize],
        0x300..=0x36F => return Some(""),
        _ => return None,
    };
    (!folded.is_empty()).then_some(folded)
}

/// U+00C0–U+00FF; `""` keeps the character (× ÷).
#[rustfmt::skip]
const LATIN_1: [&str; 64] = [
    "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I",
    "D", "N", "O", "O", "O", "O", "O", "", "O", "U", "U", "U", "U", "Y", "TH", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "y",
];

/// U+0100–U+017F.
#[rustfmt::skip]
const LATIN_EXTENDED_A: [&str; 128] = [
    "A", "a", "A", "a", "A", "a", "C", "c", "C", "c", "C", "c", "C", "c", "D", "d",
    "D", "d", "E", "e", "E", "e", "E", "e", "E", "e", "E", "e", "G", "g", "G", "g",
    "G", "g", "G", "g", "H", "h", "H", "h", "I", "i", "I", "i", "I", "i", "I", "i",
    "I", "i", "IJ", "ij", "J", "j", "K", "k", "k", "L", "l", "L", "l", "L", "l", "L",
    "l", "L", "l", "N", "n", "N", "n", "N", "n", "n", "N", "n", "O", "o", "O", "o",
    "O", "o", "OE", "oe", "R", "r", "R", "r", "R", "r", "S", "s", "S", "s", "S", "s",
    "S", "s", "T", "t", "T", "t", "T", "t", "U", "u", "U", "u", "U", "u", "U", "u",
    "U", "u", "U", "u", "W", "w", "Y", "y", "Y", "Z", "z", "Z", "z", "Z", "z", "s",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The allocation-free lower-casing is std's, final sigma included.
        #[test]
        fn lower_case_mapping_is_std(s in "(\\PC|Σ|ς|İ|ẞ| |[A-Za-z])*") {
            let mut buf = String::new();
            prop_assert_eq!(lower_into(&s, &mut buf), s.to_lowercase());
            prop_assert_eq!(lower(&s), s.to_lowercase());
        }
    }

    fn key(cell: &str, t: FieldType, cs: bool) -> Option<String> {
        let mut buf = String::new();
        local_key_into(
            cell,
            t,
            Fold::for_criterion(t, cs, crate::Collation::Exact),
            &mut buf,
        )
        .unwrap()
        .map(str::to_string)
    }

    #[test]
    fn text_blank_is_skipped_but_spaces_are_a_value() {
        assert_eq!(key("", FieldType::Text, false), None);
        assert_eq!(key(" ", FieldType::Text, false).as_deref(), Some(" "));
        assert_ne!(
            key("Adatum ", FieldType::Text, false),
            key("Adatum", FieldType::Text, false)
        );
    }

    #[test]
    fn text_case_rules() {
        assert_eq!(
            key("ÄDATUM", FieldType::Text, false).as_deref(),
            Some("ädatum")
        );
        assert_eq!(
            key("Adatum", FieldType::Text, true).as_deref(),
            Some("Adatum")
        );
        // No accent folding in BC-exact mode.
        assert_ne!(
            key("Müller", FieldType::Text, false),
            key("Muller", FieldType::Text, false)
        );
    }

    #[test]
    fn code_is_trimmed_and_upper_cased_on_the_local_side() {
        assert_eq!(key("  ", FieldType::Code, false), None);
        assert_eq!(key(" usd ", FieldType::Code, true).as_deref(), Some("USD"));
        assert_eq!(key(" usd ", FieldType::Code, false).as_deref(), Some("usd"));
        // The integration side is not trimmed.
        let mut buf = String::new();
        assert_eq!(
            integration_key_into(" USD", Fold::Exact, &mut buf).unwrap(),
            " USD"
        );
        assert_eq!(
            integration_key_into(" USD", Fold::Lower, &mut buf).unwrap(),
            " usd"
        );
    }

    #[test]
    fn numbers_compare_by_value() {
        let k = |s| canonical_number(s).unwrap();
        assert_eq!(k("1.5"), k("1.50"));
        assert_eq!(k("01.5"), k("1.5"));
        assert_eq!(k("15e-1"), k("1.5"));
        assert_eq!(k(".5"), k("0.5"));
        assert_eq!(k("5."), k("5"));
        assert_eq!(k(""), k("0"));
        assert_eq!(k("-0.0"), k("0"));
        assert_eq!(k("+7"), k("7"));
        assert_eq!(k(" 100 "), k("1e2"));
        assert_ne!(k("-1"), k("1"));
        assert_ne!(k("10"), k("1"));
        for bad in [
            "1,5", "abc", "1.2.3", "-", ".", "1e", "e5", "1 000", "nan", "inf",
        ] {
            assert!(canonical_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn booleans() {
        for (s, k) in [
            ("", "0"),
            ("No", "0"),
            ("0", "0"),
            ("FALSE", "0"),
            ("yes", "1"),
            ("1", "1"),
            ("True", "1"),
        ] {
            assert_eq!(boolean_key(s).unwrap(), k, "{s}");
        }
        assert!(boolean_key("maybe").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(date_key("2024-02-29").unwrap(), "2024-02-29");
        assert_eq!(date_key("2024-02-29T10:00:00Z").unwrap(), "2024-02-29");
        assert_eq!(date_key("2024-02-29 10:00").unwrap(), "2024-02-29");
        assert_eq!(date_key("").unwrap(), "");
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "24-01-01",
            "01/02/2024",
            "2024-01-01x",
            "2024-1-01",
        ] {
            assert!(date_key(bad).is_err(), "{bad}");
        }
    }
}
