//! A BC filter ([`FilterExpr`]) pushed down to Dataverse as OData `$filter` text, as far as it
//! translates without losing rows.
//!
//! The caller still evaluates the whole expression locally ([`FilterExpr::matches`]) on the
//! rows Dataverse returns: Dataverse compares text case- (and usually accent-) insensitively
//! and orders it by its collation, BC case-sensitively. So the pushed-down filter only has to
//! **narrow the read without ever dropping a row the local evaluation keeps**; it may keep
//! more. [`push_down`] guarantees that by construction:
//!
//! - a condition is translated only into an OData condition that holds whenever the local one
//!   does (`'man'` → `col eq 'man'`: identical text is equal under any collation), or not at
//!   all (`None`: no restriction);
//! - where the local condition holds for a blank value, `or col eq null` is added, since a
//!   null reads as blank (`<>5` on a number: blank is 0, so nulls pass);
//! - `&` keeps the translated conjuncts and drops the others (dropping a conjunct only
//!   widens); `|` is translated only when every part is (dropping a disjunct would narrow).
//!
//! What translates, by the BC field type the caller evaluates with and the column's
//! [`AttributeKind`]:
//!
//! | BC type / column | translated | not translated |
//! |---|---|---|
//! | text / string | `A` → `eq`; `A*`, `*A`, `*A*`, `A*B` → `startswith`/`endswith`/`contains`; `@` only with ASCII literals | `<>A`, `<`, `>`, intervals (collation order differs), `?`, literals with `[` (a LIKE class in Dataverse) |
//! | integer, decimal / number | `=`, `<>`, `<`, `<=`, `>`, `>=`, intervals | wildcards, literals that are not plain decimals |
//! | boolean / yes-no | `=`, `<>` | intervals |
//! | any text, date / any | `''` → `eq null` (text: `or eq ''`), `<>''` → `ne null` | other date conditions (time zones), code and option fields |
//!
//! One caveat on `@`: the local side lower-cases by Unicode, where U+212A KELVIN SIGN becomes
//! `k` and U+0130 (İ) becomes `i` with a combining dot; if Dataverse's collation does not equate
//! those with `k` and `i`, an `@` condition with `k` or `i` could miss such a value.

use coupler_engine::bc_filter::{Condition, FilterExpr, Piece, Test};
use coupler_engine::FieldType;

use crate::metadata::AttributeKind;
use crate::odata::{equals, string_literal};

/// The `$filter` text that keeps at least every row of `column` that `expr` keeps locally (see
/// the [module docs](self)), or `None` when nothing of it translates (read every row).
///
/// `field_type` is the type the caller evaluates `expr` with ([`FilterExpr::matches`]), `kind`
/// the Dataverse column's.
///
/// ```
/// use coupler_dataverse::filter_pushdown::push_down;
/// use coupler_dataverse::AttributeKind;
/// use coupler_engine::{FieldType, FilterExpr};
///
/// let e = FilterExpr::parse("@con*&<>''|'O''Brien'")?;
/// assert_eq!(
///     push_down("name", &e, FieldType::Text, AttributeKind::Text).as_deref(),
///     Some("((startswith(name,'con')) and (name ne null)) or (name eq 'O''Brien')")
/// );
/// // A case-sensitive "not equal" cannot be pushed down: Dataverse would drop 'MAN' too.
/// let e = FilterExpr::parse("<>man")?;
/// assert_eq!(push_down("name", &e, FieldType::Text, AttributeKind::Text), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn push_down(
    column: &str,
    expr: &FilterExpr,
    field_type: FieldType,
    kind: AttributeKind,
) -> Option<String> {
    match expr {
        FilterExpr::And(parts) => join(
            parts
                .iter()
                .filter_map(|p| push_down(column, p, field_type, kind))
                .collect(),
            "and",
        ),
        FilterExpr::Or(parts) => join(
            parts
                .iter()
                .map(|p| push_down(column, p, field_type, kind))
                .collect::<Option<Vec<_>>>()?,
            "or",
        ),
        FilterExpr::Condition(c) => condition(column, c, field_type, kind),
    }
}

fn join(parts: Vec<String>, op: &str) -> Option<String> {
    match parts.len() {
        0 => None,
        1 => parts.into_iter().next(),
        _ => Some(
            parts
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(&format!(" {op} ")),
        ),
    }
}

fn condition(column: &str, c: &Condition, ft: FieldType, kind: AttributeKind) -> Option<String> {
    let blank_test = matches!(ft, FieldType::Text | FieldType::Code | FieldType::Date);
    match &c.test {
        // Blank and not blank: a null reads as blank, and text blank only from null or ''.
        Test::Equal(p) if p.literal() == Some("") && blank_test && ft != FieldType::Code => {
            return equals(column, kind, "").ok()
        }
        Test::NotEqual(p) if p.literal() == Some("") && blank_test => {
            return Some(format!("{column} ne null"))
        }
        _ => {}
    }
    let base = match (ft, kind) {
        (FieldType::Text, AttributeKind::Text) => text(column, c)?,
        (FieldType::Integer | FieldType::Decimal, AttributeKind::Number) => number(column, c)?,
        (FieldType::Boolean, AttributeKind::Boolean) => boolean(column, c)?,
        _ => return None,
    };
    let holds_for_blank = FilterExpr::Condition(c.clone()).matches("", ft);
    Some(if holds_for_blank {
        format!("{base} or {column} eq null")
    } else {
        base
    })
}

/// Text conditions that Dataverse's case-insensitive comparison can only widen.
fn text(column: &str, c: &Condition) -> Option<String> {
    let Test::Equal(p) = &c.test else {
        return None;
    };
    let usable = |t: &str| !t.contains(['[', ']']) && (!c.case_insensitive || t.is_ascii());
    if let Some(lit) = p.literal() {
        return usable(lit).then(|| format!("{column} eq {}", string_literal(lit)));
    }
    // Only '*' wildcards: the texts between them, in order.
    let mut segments: Vec<&str> = vec![""];
    for piece in p.pieces() {
        match piece {
            Piece::Text(t) if usable(t) => *segments.last_mut().expect("one") = t,
            Piece::AnyRun => segments.push(""),
            _ => return None,
        }
    }
    let last = segments.len() - 1;
    let conditions: Vec<String> = segments
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(k, s)| {
            let f = match k {
                0 => "startswith",
                k if k == last => "endswith",
                _ => "contains",
            };
            format!("{f}({column},{})", string_literal(s))
        })
        .collect();
    join(conditions, "and")
}

/// A plain decimal as OData writes it (`''` is 0, as BC reads a blank number).
fn number_literal(s: &str) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return Some("0".into());
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    (digits(int) && digits(frac)).then(|| s.trim_start_matches('+').to_string())
}

fn number(column: &str, c: &Condition) -> Option<String> {
    let cmp = |op: &str, v: &str| Some(format!("{column} {op} {}", number_literal(v)?));
    match &c.test {
        Test::Equal(p) => cmp("eq", p.literal()?),
        Test::NotEqual(p) => cmp("ne", p.literal()?),
        Test::Less(v) => cmp("lt", v),
        Test::LessOrEqual(v) => cmp("le", v),
        Test::Greater(v) => cmp("gt", v),
        Test::GreaterOrEqual(v) => cmp("ge", v),
        Test::Range(lo, hi) => {
            let mut parts = Vec::new();
            if let Some(lo) = lo {
                parts.push(cmp("ge", lo)?);
            }
            if let Some(hi) = hi {
                parts.push(cmp("le", hi)?);
            }
            Some(parts.join(" and "))
        }
    }
}

fn boolean(column: &str, c: &Condition) -> Option<String> {
    let literal = |v: &str| match v.trim().to_ascii_lowercase().as_str() {
        "" | "no" | "false" | "0" => Some("false"),
        "yes" | "true" | "1" => Some("true"),
        _ => None,
    };
    match &c.test {
        Test::Equal(p) => Some(format!("{column} eq {}", literal(p.literal()?)?)),
        Test::NotEqual(p) => Some(format!("{column} ne {}", literal(p.literal()?)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttributeKind as K;
    use FieldType as F;

    #[test]
    fn translations() {
        #[rustfmt::skip]
        let rows: &[(&str, F, K, Option<&str>)] = &[
            // Text: equality and '*' patterns; '@' with ASCII literals.
            ("Contoso", F::Text, K::Text, Some("c eq 'Contoso'")),
            ("'O''Brien'", F::Text, K::Text, Some("c eq 'O''Brien'")),
            ("Co*", F::Text, K::Text, Some("startswith(c,'Co')")),
            ("*Co", F::Text, K::Text, Some("endswith(c,'Co')")),
            ("*Co*", F::Text, K::Text, Some("contains(c,'Co')")),
            ("A*B*C", F::Text, K::Text,
                Some("(startswith(c,'A')) and (contains(c,'B')) and (endswith(c,'C'))")),
            ("@man*", F::Text, K::Text, Some("startswith(c,'man')")),
            ("@Müller", F::Text, K::Text, None),
            ("Müller", F::Text, K::Text, Some("c eq 'Müller'")),
            ("*", F::Text, K::Text, None),
            ("Hans?n", F::Text, K::Text, None),
            ("*[x]*", F::Text, K::Text, None),
            ("<>man", F::Text, K::Text, None),
            ("<>A*", F::Text, K::Text, None),
            ("A..C", F::Text, K::Text, None),
            (">A", F::Text, K::Text, None),
            // Blank and not blank.
            ("''", F::Text, K::Text, Some("(c eq null or c eq '')")),
            ("<>''", F::Text, K::Text, Some("c ne null")),
            ("''", F::Text, K::Guid, Some("c eq null")),
            ("''", F::Date, K::DateTime, Some("c eq null")),
            ("<>''", F::Date, K::DateTime, Some("c ne null")),
            ("<>''", F::Code, K::Text, Some("c ne null")),
            ("''", F::Code, K::Text, None),
            ("C1", F::Code, K::Text, None),
            ("2024-01-01..", F::Date, K::DateTime, None),
            // Numbers: every comparison; blank is 0, so nulls pass where 0 does.
            ("1200|1300", F::Integer, K::Number, Some("(c eq 1200) or (c eq 1300)")),
            ("1100..2100", F::Integer, K::Number, Some("c ge 1100 and c le 2100")),
            (">200&<1200", F::Decimal, K::Number, Some("(c gt 200) and (c lt 1200 or c eq null)")),
            ("..2500", F::Integer, K::Number, Some("c le 2500 or c eq null")),
            ("-5..", F::Integer, K::Number, Some("c ge -5 or c eq null")),
            ("<>0", F::Integer, K::Number, Some("c ne 0")),
            ("<>5", F::Integer, K::Number, Some("c ne 5 or c eq null")),
            ("0", F::Decimal, K::Number, Some("c eq 0 or c eq null")),
            ("''", F::Decimal, K::Number, Some("c eq 0 or c eq null")),
            ("+1.50", F::Decimal, K::Number, Some("c eq 1.50")),
            ("1e3", F::Decimal, K::Number, None),
            ("1*", F::Integer, K::Number, None),
            ("Open", F::Option, K::Number, None),
            // Booleans: blank is No.
            ("Yes", F::Boolean, K::Boolean, Some("c eq true")),
            ("No", F::Boolean, K::Boolean, Some("c eq false or c eq null")),
            ("<>Yes", F::Boolean, K::Boolean, Some("c ne true or c eq null")),
            ("Maybe", F::Boolean, K::Boolean, None),
            // '&' keeps what translates; '|' needs every part.
            ("Co*&<>Contoso", F::Text, K::Text, Some("startswith(c,'Co')")),
            ("<>a&<>b", F::Text, K::Text, None),
            ("Co*|<>Contoso", F::Text, K::Text, None),
            ("(A*|B*)&(<>Ax|C)", F::Text, K::Text,
                Some("(startswith(c,'A')) or (startswith(c,'B'))")),
            ("(A|Hans?n)&B*", F::Text, K::Text, Some("startswith(c,'B')")),
            // Mismatched kinds: nothing.
            ("5", F::Integer, K::Text, None),
            ("x", F::Text, K::Number, None),
        ];
        for &(expr, ft, kind, expected) in rows {
            let e = FilterExpr::parse(expr).unwrap();
            assert_eq!(
                push_down("c", &e, ft, kind).as_deref(),
                expected,
                "{expr:?}"
            );
        }
    }
}
