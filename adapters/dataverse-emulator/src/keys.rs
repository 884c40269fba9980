//! Record addressing in URLs: `accounts(<guid>)`, `accounts(accountid=<guid>)` and alternate
//! keys such as `accounts(accountnumber='A1')` or `contacts(firstname='Joe',emailaddress1='j@x')`.

use crate::collation::Collation;
use crate::odata::filter::{cell_key, value_key};
use crate::response::ApiError;
use crate::store::{Row, Table, TableDef};
use crate::types::parse_guid;

/// How a URL names a record.
#[derive(Debug, Clone)]
pub(crate) enum RecordKey {
    /// The primary key (lower case).
    Id(String),
    /// An alternate key: `(column index, value text)` pairs, and the key text as written.
    Alternate {
        values: Vec<(usize, String)>,
        text: String,
    },
}

impl RecordKey {
    /// The key as it appears between parentheses in `OData-EntityId`.
    pub(crate) fn url_form(&self) -> String {
        match self {
            RecordKey::Id(id) => id.clone(),
            RecordKey::Alternate { text, .. } => text.clone(),
        }
    }

    /// The message for a missing record.
    pub(crate) fn not_found(&self, def: &TableDef) -> ApiError {
        match self {
            RecordKey::Id(id) => ApiError::record_not_found(&def.logical_name, id),
            RecordKey::Alternate { .. } => ApiError::new(
                404,
                "0x80040217",
                format!(
                    "A record with the specified key values does not exist in {} entity",
                    def.logical_name
                ),
            ),
        }
    }
}

/// Characters Dataverse cannot take in an alternate key value in a URL.
const FORBIDDEN_KEY_CHARS: [char; 9] = ['/', '<', '>', '*', '%', '&', ':', '\\', '?'];

/// Parses the text between the parentheses of `<set>(…)`.
pub(crate) fn parse_key(def: &TableDef, text: &str) -> Result<RecordKey, ApiError> {
    let invalid_key = || {
        ApiError::bad_request(format!(
            "The key in the request URI is not valid for resource '{0}'. Ensure that the names and number of key properties match the declared or alternate key properties for the resource '{0}'.",
            def.type_name()
        ))
    };
    let parts = split_key_parts(text).ok_or_else(|| bad_key_syntax(text))?;
    if let [(None, value)] = parts.as_slice() {
        return parse_guid(value)
            .map(RecordKey::Id)
            .ok_or_else(|| bad_key_syntax(text));
    }
    let mut values = Vec::new();
    for (name, value) in &parts {
        let Some(name) = name else {
            return Err(bad_key_syntax(text));
        };
        if name == &def.primary_id && parts.len() == 1 {
            return parse_guid(value)
                .map(RecordKey::Id)
                .ok_or_else(|| bad_key_syntax(text));
        }
        let (index, _) = def.column(name).ok_or_else(invalid_key)?;
        if value.contains(FORBIDDEN_KEY_CHARS) || value.contains('+') {
            return Err(ApiError::bad_request(format!(
                "The key value '{value}' contains a character that cannot be used in a key in the URL."
            )));
        }
        values.push((index, value.clone()));
    }
    let names: Vec<&str> = values
        .iter()
        .map(|(i, _)| def.columns[*i].name.as_str())
        .collect();
    let declared = def.keys.iter().any(|key| {
        key.status.eq_ignore_ascii_case("Active")
            && key.attributes.len() == names.len()
            && key.attributes.iter().all(|a| names.contains(&a.as_str()))
    });
    if !declared {
        return Err(invalid_key());
    }
    Ok(RecordKey::Alternate {
        values,
        text: text.to_owned(),
    })
}

fn bad_key_syntax(text: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Bad Request - Error in query syntax. The key '{text}' is not valid."
    ))
}

/// Splits `a='x',b=2` into `(Some("a"), "x")`, … (quotes removed, `''` unescaped).
fn split_key_parts(text: &str) -> Option<Vec<(Option<String>, String)>> {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut i = 0;
    loop {
        let start = i;
        while i < chars.len() && chars[i] != '=' && chars[i] != ',' && chars[i] != '\'' {
            i += 1;
        }
        let mut name = None;
        if i < chars.len() && chars[i] == '=' {
            name = Some(chars[start..i].iter().collect::<String>().trim().to_owned());
            i += 1;
        } else {
            i = start;
        }
        let value = if chars.get(i) == Some(&'\'') {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return None,
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        value.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
            value
        } else {
            let start = i;
            while i < chars.len() && chars[i] != ',' {
                i += 1;
            }
            chars[start..i].iter().collect::<String>().trim().to_owned()
        };
        parts.push((name, value));
        match chars.get(i) {
            None => return Some(parts),
            Some(',') => i += 1,
            Some(_) => return None,
        }
    }
}

/// Finds the record a key names.
pub(crate) fn find<'t>(table: &'t Table, key: &RecordKey, collation: Collation) -> Option<&'t Row> {
    match key {
        RecordKey::Id(id) => table.get(id),
        RecordKey::Alternate { values, .. } => {
            let wanted: Vec<_> = values
                .iter()
                .map(|(i, text)| (*i, value_key(table.def.columns[*i].ty, text, collation)))
                .collect();
            table.rows.values().find(|row| {
                wanted.iter().all(|(i, want)| {
                    let have = row.cells[*i]
                        .as_deref()
                        .and_then(|t| cell_key(table.def.columns[*i].ty, t, collation));
                    want.is_some() && have == *want
                })
            })
        }
    }
}
