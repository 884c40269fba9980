//! Table and column metadata (`EntityDefinitions`): which table an entity set name means, its
//! primary key, and its columns with their types, so a typo in a config is caught before any
//! job runs, with the closest real names suggested.

use serde::Deserialize;

use crate::error::{DataverseError, Result};
use crate::odata::{encode, string_literal};
use crate::session::Session;

/// A table as the metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// `account`
    pub logical_name: String,
    /// `accounts` (what the Web API URLs use)
    pub entity_set: String,
    /// `accountid`
    pub primary_id: String,
    pub primary_name: Option<String>,
    pub columns: Vec<ColumnInfo>,
}

/// A column as it appears in Web API rows (`name`, or `_parentaccountid_value` for lookups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// Dataverse's `AttributeType` (`String`, `Picklist`, `Lookup`, …).
    pub attribute_type: String,
    pub kind: AttributeKind,
}

/// How a column's values are written as OData literals and normalised when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKind {
    Text,
    Number,
    Boolean,
    /// Record ids and lookups: GUIDs, compared lower-case.
    Guid,
    DateTime,
    /// Anything else (read as text; filtered as a string literal).
    Other,
}

impl AttributeKind {
    pub fn of(attribute_type: &str) -> AttributeKind {
        match attribute_type {
            "String" | "Memo" | "EntityName" => AttributeKind::Text,
            "Integer" | "BigInt" | "Decimal" | "Double" | "Money" | "Picklist" | "State"
            | "Status" => AttributeKind::Number,
            "Boolean" => AttributeKind::Boolean,
            "Uniqueidentifier" | "Lookup" | "Owner" | "Customer" => AttributeKind::Guid,
            "DateTime" => AttributeKind::DateTime,
            _ => AttributeKind::Other,
        }
    }
}

impl TableInfo {
    /// The column of that name, if any.
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Checks that every named column exists; the error lists the missing ones with the
    /// closest real names.
    pub fn check_columns(&self, names: &[String]) -> Result<(), String> {
        let mut problems = Vec::new();
        for name in names {
            if self.column(name).is_some() {
                continue;
            }
            let mut text = format!(
                "column '{name}' does not exist in Dataverse table '{}'",
                self.logical_name
            );
            let lookup_form = format!("_{name}_value");
            if self.column(&lookup_form).is_some() {
                text.push_str(&format!(
                    " as a plain column; it is a lookup, read as '{lookup_form}'"
                ));
            } else {
                let close = closest(name, self.columns.iter().map(|c| c.name.as_str()));
                if !close.is_empty() {
                    text.push_str(&format!("; did you mean {}?", quoted_list(&close)));
                }
            }
            problems.push(text);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// Up to three names close to `wanted` (case-insensitive Jaro-Winkler ≥ 0.85, or a
/// case-only difference), best first.
pub fn closest<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let wanted_lower = wanted.to_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .map(|n| (strsim::jaro_winkler(&wanted_lower, &n.to_lowercase()), n))
        .filter(|(score, _)| *score >= 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[derive(Deserialize)]
struct Collection<T> {
    value: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EntityRow {
    logical_name: String,
    #[serde(default)]
    entity_set_name: Option<String>,
    #[serde(default)]
    primary_id_attribute: Option<String>,
    #[serde(default)]
    primary_name_attribute: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeRow {
    logical_name: String,
    #[serde(default)]
    attribute_type: Option<String>,
    #[serde(default)]
    is_valid_for_read: Option<bool>,
}

const ENTITY_COLUMNS: &str = "LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute";

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8], request: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| DataverseError::Decode {
        request: request.to_string(),
        message: e.to_string(),
    })
}

/// The error for a table name Dataverse does not know, with close names from `known`.
fn unknown_table(entity_set: &str, known: &[EntityRow]) -> DataverseError {
    let names = known.iter().filter_map(|r| r.entity_set_name.as_deref());
    let close = closest(entity_set, names);
    let hint = if close.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", quoted_list(&close))
    };
    DataverseError::Table {
        request: "GET EntityDefinitions".into(),
        message: format!("Dataverse has no table with the entity set name '{entity_set}'{hint}"),
    }
}

/// Looks a table up by its entity set name (`accounts`), falling back to its logical name
/// (`account`), and reads its columns. The error for an unknown table suggests close names.
pub fn table_info(session: &Session, entity_set: &str) -> Result<TableInfo> {
    let mut entity = None;
    for property in ["EntitySetName", "LogicalName"] {
        let target = format!(
            "EntityDefinitions?$select={}&$filter={}",
            encode(ENTITY_COLUMNS),
            encode(&format!("{property} eq {}", string_literal(entity_set)))
        );
        let answer = match session.get(&target, None) {
            Ok(answer) => answer,
            // A server that cannot filter metadata on this property: look in the full list.
            Err(DataverseError::Api {
                status: 400 | 501, ..
            }) => break,
            Err(e) => return Err(e),
        };
        let rows: Collection<EntityRow> = decode(&answer.body, "GET EntityDefinitions")?;
        if let Some(row) = rows.value.into_iter().next() {
            entity = Some(row);
            break;
        }
    }
    if entity.is_none() {
        // Every table (one request, no paging on metadata): the match, or suggestions.
        let answer = session.get(
            &format!("EntityDefinitions?$select={}", encode(ENTITY_COLUMNS)),
            None,
        )?;
        let rows: Collection<EntityRow> = decode(&answer.body, "GET EntityDefinitions")?;
        let found = rows.value.iter().position(|r| {
            r.entity_set_name.as_deref() == Some(entity_set) || r.logical_name == entity_set
        });
        match found {
            Some(i) => entity = rows.value.into_iter().nth(i),
            None => return Err(unknown_table(entity_set, &rows.value)),
        }
    }
    let Some(entity) = entity else {
        return Err(unknown_table(entity_set, &[]));
    };
    let request = format!(
        "GET EntityDefinitions(LogicalName='{}')/Attributes",
        entity.logical_name
    );
    let answer = session.get(
        &format!(
            "EntityDefinitions(LogicalName={})/Attributes?$select={}",
            encode(&string_literal(&entity.logical_name)),
            encode("LogicalName,AttributeType,IsValidForRead")
        ),
        None,
    )?;
    let attributes: Collection<AttributeRow> = decode(&answer.body, &request)?;
    let columns = attributes
        .value
        .into_iter()
        .filter(|a| a.is_valid_for_read != Some(false))
        .map(|a| {
            let attribute_type = a.attribute_type.unwrap_or_default();
            let kind = AttributeKind::of(&attribute_type);
            // Lookups appear in rows as `_<name>_value`.
            let name = if matches!(attribute_type.as_str(), "Lookup" | "Owner" | "Customer") {
                format!("_{}_value", a.logical_name)
            } else {
                a.logical_name
            };
            ColumnInfo {
                name,
                attribute_type,
                kind,
            }
        })
        .collect();
    Ok(TableInfo {
        primary_id: entity
            .primary_id_attribute
            .unwrap_or_else(|| format!("{}id", entity.logical_name)),
        entity_set: entity
            .entity_set_name
            .unwrap_or_else(|| entity_set.to_string()),
        logical_name: entity.logical_name,
        primary_name: entity.primary_name_attribute,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TableInfo {
        let col = |n: &str, t: &str| ColumnInfo {
            name: n.into(),
            attribute_type: t.into(),
            kind: AttributeKind::of(t),
        };
        TableInfo {
            logical_name: "account".into(),
            entity_set: "accounts".into(),
            primary_id: "accountid".into(),
            primary_name: Some("name".into()),
            columns: vec![
                col("accountid", "Uniqueidentifier"),
                col("name", "String"),
                col("telephone1", "String"),
                col("emailaddress1", "String"),
                col("_parentaccountid_value", "Lookup"),
            ],
        }
    }

    #[test]
    fn typos_get_suggestions() {
        let t = table();
        assert!(t
            .check_columns(&["name".into(), "telephone1".into()])
            .is_ok());
        let e = t.check_columns(&["telephone".into()]).unwrap_err();
        assert!(e.contains("did you mean 'telephone1'"), "{e}");
        let e = t.check_columns(&["EmailAddress1".into()]).unwrap_err();
        assert!(e.contains("'emailaddress1'"), "{e}");
        let e = t.check_columns(&["parentaccountid".into()]).unwrap_err();
        assert!(e.contains("read as '_parentaccountid_value'"), "{e}");
        let e = t.check_columns(&["zzz".into()]).unwrap_err();
        assert!(!e.contains("did you mean"), "{e}");
    }

    #[test]
    fn kinds() {
        assert_eq!(AttributeKind::of("Picklist"), AttributeKind::Number);
        assert_eq!(AttributeKind::of("Lookup"), AttributeKind::Guid);
        assert_eq!(AttributeKind::of("Memo"), AttributeKind::Text);
        assert_eq!(AttributeKind::of("Virtual"), AttributeKind::Other);
    }
}
