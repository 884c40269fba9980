//! OData query text: literals escaped by the column's Dataverse type, `$filter` conditions,
//! `Microsoft.Dynamics.CRM.In` chunks under the condition and URL-length limits, and query
//! option values percent-encoded (RFC 3986) so `+`, `&`, `#`, `%` in data cannot change a query.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::metadata::AttributeKind;

/// Characters left as they are in a query option value: RFC 3986 "unreserved".
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Dataverse rejects queries with more than 500 conditions; each `In` value is counted as
/// one, and a few are kept for the integration filter.
pub const MAX_IN_VALUES: usize = 450;

/// GET URLs may be 32,768 characters; stay well below.
pub const MAX_URL_LEN: usize = 30_000;

/// Percent-encodes a query option value.
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// A string literal: single quotes doubled (`O'Bryan` → `'O''Bryan'`).
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A value that cannot be written as a literal of its column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralError(pub String);

/// The condition `column eq value` for a column of the given kind. A blank value means "no
/// value": `eq null` (for text also the empty string).
pub fn equals(column: &str, kind: AttributeKind, value: &str) -> Result<String, LiteralError> {
    let value = value.trim_matches(|c: char| c == ' ' && kind != AttributeKind::Text);
    if value.is_empty() {
        return Ok(if kind == AttributeKind::Text {
            format!("({column} eq null or {column} eq '')")
        } else {
            format!("{column} eq null")
        });
    }
    let literal = match kind {
        AttributeKind::Text | AttributeKind::Other => string_literal(value),
        AttributeKind::Number => {
            if !is_number(value) {
                return Err(LiteralError(format!(
                    "'{value}' is not a number, but column {column} is numeric"
                )));
            }
            value.to_string()
        }
        AttributeKind::Boolean => match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => "true".into(),
            "false" | "0" | "no" => "false".into(),
            _ => {
                return Err(LiteralError(format!(
                    "'{value}' is not true or false, but column {column} is a yes/no column"
                )))
            }
        },
        AttributeKind::Guid => {
            if !is_guid(value) {
                return Err(LiteralError(format!(
                    "'{value}' is not a GUID, but column {column} holds record ids"
                )));
            }
            value.to_ascii_lowercase()
        }
        AttributeKind::DateTime => {
            if !value
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '-' | ':' | 'T' | 'Z' | '.' | '+'))
            {
                return Err(LiteralError(format!(
                    "'{value}' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)"
                )));
            }
            value.to_string()
        }
    };
    Ok(format!("{column} eq {literal}"))
}

fn is_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    !(int.is_empty() && frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `8-4-4-4-12` hex digits.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The conditions joined with `and`, or `None` when there are none.
pub fn all_of(conditions: &[String]) -> Option<String> {
    match conditions.len() {
        0 => None,
        1 => Some(conditions[0].clone()),
        _ => Some(
            conditions
                .iter()
                .map(|c| format!("({c})"))
                .collect::<Vec<_>>()
                .join(" and "),
        ),
    }
}

/// `Microsoft.Dynamics.CRM.In(PropertyName='col',PropertyValues=["a","b"])`: the values as a
/// JSON array (double quotes, so a `'` needs no doubling).
pub fn in_condition(column: &str, values: &[&str]) -> String {
    let list = serde_json::to_string(values).unwrap_or_else(|_| "[]".into());
    format!(
        "Microsoft.Dynamics.CRM.In(PropertyName={},PropertyValues={list})",
        string_literal(column)
    )
}

/// Splits `values` into `In` conditions that each keep the encoded query within
/// [`MAX_URL_LEN`] (given the length of the rest of the URL) and [`MAX_IN_VALUES`].
pub fn in_chunks(column: &str, values: &[&str], fixed_url_len: usize) -> Vec<String> {
    let budget = MAX_URL_LEN.saturating_sub(fixed_url_len).max(1000);
    let empty = encode(&in_condition(column, &[])).len();
    let mut chunks = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut current_len = empty;
    for &v in values {
        // One value costs its encoded JSON string plus a comma.
        let cost = encode(&serde_json::to_string(v).unwrap_or_default()).len() + 3;
        if !current.is_empty() && (current.len() >= MAX_IN_VALUES || current_len + cost > budget) {
            chunks.push(in_condition(column, &current));
            current.clear();
            current_len = empty;
        }
        current.push(v);
        current_len += cost;
    }
    if !current.is_empty() {
        chunks.push(in_condition(column, &current));
    }
    chunks
}

/// The order Dataverse returns rows in without `$orderby`: by primary key, as SQL Server
/// orders `uniqueidentifier` values — the last group first. For `aaaaaaaa-bbbb-cccc-dddd-
/// eeeeeeeeeeee` the key is (e, d, c, b, a) compared as text. Non-GUIDs sort after GUIDs, as
/// text.
pub fn guid_order_key(id: &str) -> (u8, [String; 5]) {
    if is_guid(id) {
        let lower = id.to_ascii_lowercase();
        let g: Vec<&str> = lower.split('-').collect();
        (
            0,
            [
                g[4].to_string(),
                g[3].to_string(),
                g[2].to_string(),
                g[1].to_string(),
                g[0].to_string(),
            ],
        )
    } else {
        (
            1,
            [
                id.to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped_and_encoded() {
        assert_eq!(string_literal("O'Bryan"), "'O''Bryan'");
        assert_eq!(
            equals("name", AttributeKind::Text, "O'Bryan").unwrap(),
            "name eq 'O''Bryan'"
        );
        assert_eq!(encode("a+b&c=d #%/?"), "a%2Bb%26c%3Dd%20%23%25%2F%3F");
        assert_eq!(encode("Müller"), "M%C3%BCller");
        assert_eq!(encode("a-b.c_d~e"), "a-b.c_d~e");
    }

    #[test]
    fn typed_conditions() {
        assert_eq!(
            equals("statecode", AttributeKind::Number, "0").unwrap(),
            "statecode eq 0"
        );
        assert!(equals("statecode", AttributeKind::Number, "0 or 1 eq 1").is_err());
        assert_eq!(
            equals("x", AttributeKind::Boolean, "Yes").unwrap(),
            "x eq true"
        );
        assert!(equals("x", AttributeKind::Boolean, "maybe").is_err());
        assert_eq!(
            equals(
                "_p_value",
                AttributeKind::Guid,
                "7EB682F1-0000-0000-0000-000000000001"
            )
            .unwrap(),
            "_p_value eq 7eb682f1-0000-0000-0000-000000000001"
        );
        assert!(equals("_p_value", AttributeKind::Guid, "x') or true").is_err());
        assert_eq!(
            equals("name", AttributeKind::Text, "").unwrap(),
            "(name eq null or name eq '')"
        );
        assert_eq!(equals("n", AttributeKind::Number, "").unwrap(), "n eq null");
        assert!(equals("d", AttributeKind::DateTime, "2024-01-05').x").is_err());
    }

    #[test]
    fn in_conditions_use_json_strings() {
        assert_eq!(
            in_condition("name", &["O'Brian", "a\"b"]),
            r#"Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=["O'Brian","a\"b"])"#
        );
    }

    #[test]
    fn chunks_respect_both_limits() {
        let values: Vec<String> = (0..2000).map(|i| format!("value {i}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let chunks = in_chunks("name", &refs, 200);
        let total: usize = chunks.iter().map(|c| c.matches("\"value ").count()).sum();
        assert_eq!(total, 2000);
        for c in &chunks {
            assert!(c.matches("\"value ").count() <= MAX_IN_VALUES);
            assert!(encode(c).len() + 200 <= MAX_URL_LEN);
        }
        // Long values: the URL length decides.
        let long: Vec<String> = (0..300).map(|i| format!("{i:0>400}")).collect();
        let refs: Vec<&str> = long.iter().map(String::as_str).collect();
        let chunks = in_chunks("name", &refs, 200);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(encode(c).len() + 200 <= MAX_URL_LEN, "{}", encode(c).len());
        }
    }

    #[test]
    fn guid_order_is_sql_server_order() {
        let mut ids = [
            "00000000-0000-0000-0000-000000000002",
            "ffffffff-0000-0000-0000-000000000001",
            "00000000-0000-0000-0001-000000000001",
            "not-a-guid",
        ];
        ids.sort_by_key(|id| guid_order_key(id));
        assert_eq!(
            ids,
            [
                "ffffffff-0000-0000-0000-000000000001",
                "00000000-0000-0000-0001-000000000001",
                "00000000-0000-0000-0000-000000000002",
                "not-a-guid"
            ]
        );
    }
}
