//! Table and column metadata (`EntityDefinitions`): which table an entity set name means, its
//! primary key, and its columns with their types, so a typo in a config is caught before any
//! job runs, with the closest real names suggested; and the options (value and label) of a
//! choice column, for option fields; and the tables a lookup column points to, with the
//! navigation property that binds each ([`lookup_targets`], [`bind_value`]); and the maximum
//! lengths of the text columns ([`max_lengths`]).

use std::collections::{BTreeMap, BTreeSet};

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

/// The entity a name means: by entity set name (`accounts`), else by logical name
/// (`account`). `Err` holds every table's row (for suggestions) when none matches.
fn find_entity(session: &Session, name: &str) -> Result<Result<EntityRow, Vec<EntityRow>>> {
    for property in ["EntitySetName", "LogicalName"] {
        let target = format!(
            "EntityDefinitions?$select={}&$filter={}",
            encode(ENTITY_COLUMNS),
            encode(&format!("{property} eq {}", string_literal(name)))
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
            return Ok(Ok(row));
        }
    }
    // Every table (one request, no paging on metadata): the match, or suggestions.
    let answer = session.get(
        &format!("EntityDefinitions?$select={}", encode(ENTITY_COLUMNS)),
        None,
    )?;
    let rows: Collection<EntityRow> = decode(&answer.body, "GET EntityDefinitions")?;
    let found = rows
        .value
        .iter()
        .position(|r| r.entity_set_name.as_deref() == Some(name) || r.logical_name == name);
    Ok(match found {
        Some(i) => Ok(rows.value.into_iter().nth(i).expect("position is in range")),
        None => Err(rows.value),
    })
}

/// Looks a table up by its entity set name (`accounts`), falling back to its logical name
/// (`account`), and reads its columns. The error for an unknown table suggests close names.
pub fn table_info(session: &Session, entity_set: &str) -> Result<TableInfo> {
    match find_entity(session, entity_set)? {
        Ok(entity) => read_columns(session, entity, entity_set),
        Err(known) => Err(unknown_table(entity_set, &known)),
    }
}

/// The table's columns (`…/Attributes`), readable ones only, lookups in their `_x_value` form.
fn read_columns(session: &Session, entity: EntityRow, entity_set: &str) -> Result<TableInfo> {
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
            let name = if is_lookup(&attribute_type) {
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

fn is_lookup(attribute_type: &str) -> bool {
    matches!(attribute_type, "Lookup" | "Owner" | "Customer")
}

/// One option of a choice (option set) column: the integer Dataverse stores and its label
/// (the label in the application user's language).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOption {
    pub value: i64,
    pub label: String,
}

/// Why the options of a choice column could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChoiceError {
    /// No table has that logical (or entity set) name.
    #[error(
        "Dataverse has no table with the logical name or entity set name '{table}'{}",
        did_you_mean(suggestions)
    )]
    UnknownTable {
        table: String,
        suggestions: Vec<String>,
    },
    /// The table has no column of that name.
    #[error(
        "column '{column}' does not exist in Dataverse table '{table}'{}",
        did_you_mean(suggestions)
    )]
    UnknownColumn {
        table: String,
        column: String,
        suggestions: Vec<String>,
    },
    /// The column exists but has no option set (`attribute_type` is Dataverse's
    /// `AttributeType`, e.g. `String`).
    #[error("column '{column}' of Dataverse table '{table}' is not a choice (option set) column; it is a {attribute_type} column")]
    NotChoice {
        table: String,
        column: String,
        attribute_type: String,
    },
    /// The request failed (connection, token, throttling, an unexpected answer, …).
    #[error(transparent)]
    Dataverse(#[from] DataverseError),
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", quoted_list(suggestions))
    }
}

impl From<ChoiceError> for DataverseError {
    /// The unknown-name and not-a-choice cases become [`DataverseError::Table`] (as an unknown
    /// table does in [`table_info`]), so `?` works where a `DataverseError` is returned.
    fn from(e: ChoiceError) -> DataverseError {
        let request = match &e {
            ChoiceError::Dataverse(_) => String::new(),
            ChoiceError::UnknownTable { .. } => "GET EntityDefinitions".to_string(),
            ChoiceError::UnknownColumn { table, .. } => {
                format!("GET EntityDefinitions(LogicalName='{table}')/Attributes")
            }
            ChoiceError::NotChoice { table, column, .. } => format!(
                "GET EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='{column}')"
            ),
        };
        match e {
            ChoiceError::Dataverse(inner) => inner,
            other => DataverseError::Table {
                request,
                message: other.to_string(),
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChoiceAttributeRow {
    #[serde(default)]
    option_set: Option<OptionSetRow>,
    #[serde(default)]
    global_option_set: Option<OptionSetRow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OptionSetRow {
    #[serde(default)]
    options: Option<Vec<OptionRow>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OptionRow {
    #[serde(default)]
    value: Option<i64>,
    #[serde(default)]
    label: Option<LabelRow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LabelRow {
    #[serde(default)]
    user_localized_label: Option<LocalizedLabelRow>,
    #[serde(default)]
    localized_labels: Option<Vec<LocalizedLabelRow>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LocalizedLabelRow {
    #[serde(default)]
    label: Option<String>,
}

/// The metadata type whose `OptionSet` an attribute type has.
fn enum_metadata_type(attribute_type: &str) -> Option<&'static str> {
    match attribute_type {
        "Picklist" => Some("PicklistAttributeMetadata"),
        "State" => Some("StateAttributeMetadata"),
        "Status" => Some("StatusAttributeMetadata"),
        _ => None,
    }
}

/// The options in an attribute answer: `OptionSet`, or `GlobalOptionSet` when `OptionSet` is
/// null; each label is `UserLocalizedLabel`, else the first `LocalizedLabels` entry. `None`
/// when the answer has neither option set.
fn parse_options(body: &[u8], request: &str) -> Result<Option<Vec<ChoiceOption>>> {
    let row: ChoiceAttributeRow = decode(body, request)?;
    let options = [row.option_set, row.global_option_set]
        .into_iter()
        .flatten()
        .find_map(|set| set.options);
    Ok(options.map(|options| {
        options
            .into_iter()
            .filter_map(|o| {
                let label = o
                    .label
                    .and_then(|l| {
                        l.user_localized_label
                            .and_then(|u| u.label)
                            .or_else(|| l.localized_labels?.into_iter().find_map(|x| x.label))
                    })
                    .unwrap_or_default();
                o.value.map(|value| ChoiceOption { value, label })
            })
            .collect()
    }))
}

/// `GET …/Attributes(LogicalName='column')/Microsoft.Dynamics.CRM.<cast>` with the option sets
/// expanded. `Ok(None)`: answered, but without an option set.
fn fetch_options(
    session: &Session,
    table: &str,
    column: &str,
    cast: &str,
) -> Result<Option<Vec<ChoiceOption>>> {
    let target = format!(
        "EntityDefinitions(LogicalName={})/Attributes(LogicalName={})/Microsoft.Dynamics.CRM.{cast}?$select=LogicalName&$expand={}",
        encode(&string_literal(table)),
        encode(&string_literal(column)),
        encode("OptionSet($select=Options),GlobalOptionSet($select=Options)")
    );
    let request = format!(
        "GET EntityDefinitions(LogicalName='{table}')/Attributes(LogicalName='{column}')/Microsoft.Dynamics.CRM.{cast}"
    );
    let answer = session.get(&target, None)?;
    parse_options(&answer.body, &request)
}

/// The options (value and label, in Dataverse's order) of the choice column `column` of the
/// table `table` (its logical name, `account`; an entity set name such as `accounts` also
/// works, at the cost of a few more requests).
///
/// One request for a choice (Picklist) column: `…/Attributes(LogicalName='…')/
/// Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet(…),
/// GlobalOptionSet(…)`. When Dataverse refuses it (404 or 400, as for a column of another
/// type), the table's metadata says why: an unknown table or column (with close names
/// suggested), a column that is not a choice column, or a State / Status column, whose options
/// are then read through its own metadata type.
pub fn choice_options(
    session: &Session,
    table: &str,
    column: &str,
) -> Result<Vec<ChoiceOption>, ChoiceError> {
    let first_error = match fetch_options(session, table, column, "PicklistAttributeMetadata") {
        Ok(Some(options)) => return Ok(options),
        Ok(None) => None,
        Err(
            e @ DataverseError::Api {
                status: 400 | 404, ..
            },
        ) => Some(e),
        Err(e) => return Err(e.into()),
    };
    // Why not: what the table's metadata says about the names.
    let info = match find_entity(session, table)? {
        Ok(entity) => read_columns(session, entity, table)?,
        Err(known) => {
            let names: BTreeSet<&str> = known
                .iter()
                .flat_map(|r| [Some(r.logical_name.as_str()), r.entity_set_name.as_deref()])
                .flatten()
                .collect();
            return Err(ChoiceError::UnknownTable {
                table: table.to_string(),
                suggestions: closest(table, names.into_iter()),
            });
        }
    };
    let lookup_form = format!("_{column}_value");
    let Some(found) = info
        .columns
        .iter()
        .find(|c| c.name == column || (c.name == lookup_form && is_lookup(&c.attribute_type)))
    else {
        return Err(ChoiceError::UnknownColumn {
            suggestions: closest(column, info.columns.iter().map(|c| c.name.as_str())),
            table: info.logical_name,
            column: column.to_string(),
        });
    };
    let Some(cast) = enum_metadata_type(&found.attribute_type) else {
        return Err(ChoiceError::NotChoice {
            table: info.logical_name.clone(),
            column: column.to_string(),
            attribute_type: found.attribute_type.clone(),
        });
    };
    let no_option_set = |request: String| {
        ChoiceError::Dataverse(DataverseError::Decode {
            request,
            message: "the answer carries neither OptionSet nor GlobalOptionSet".into(),
        })
    };
    let request = format!(
        "GET EntityDefinitions(LogicalName='{}')/Attributes(LogicalName='{column}')/Microsoft.Dynamics.CRM.{cast}",
        info.logical_name
    );
    if cast == "PicklistAttributeMetadata" && info.logical_name == table {
        // The same request again would be answered the same way.
        return Err(match first_error {
            Some(e) => e.into(),
            None => no_option_set(request),
        });
    }
    // A State or Status column, or a table named by its entity set name.
    fetch_options(session, &info.logical_name, column, cast)?.ok_or_else(|| no_option_set(request))
}

/// One table a lookup column can point to, and how a write binds a row of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupTarget {
    /// The target table's logical name (`account`).
    pub table: String,
    /// Its entity set name (`accounts`), for the bound reference ([`bind_value`]).
    pub entity_set: String,
    /// The single-valued navigation property a write names (`parentcustomerid_account`, written
    /// `"parentcustomerid_account@odata.bind": "/accounts(…)"`).
    pub navigation: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RelationshipRow {
    #[serde(default)]
    referencing_attribute: Option<String>,
    #[serde(default)]
    referenced_entity: Option<String>,
    #[serde(default)]
    referencing_entity_navigation_property_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EntitySetRow {
    #[serde(default)]
    entity_set_name: Option<String>,
}

/// The attribute's logical name of a column given as `_x_value` or `x`.
fn lookup_attribute(column: &str) -> &str {
    column
        .strip_prefix('_')
        .and_then(|c| c.strip_suffix("_value"))
        .unwrap_or(column)
}

/// The targets of the lookup column `column` (`_parentcustomerid_value` or `parentcustomerid`)
/// of the table `table` (its logical name, `contact`): one per table it can point to — two
/// for a polymorphic customer lookup (`account` through `parentcustomerid_account`, `contact`
/// through `parentcustomerid_contact`), one for a single-target lookup
/// (`transactioncurrency` through `transactioncurrencyid`). Sorted by table name.
///
/// Reads `EntityDefinitions(LogicalName='…')/ManyToOneRelationships` (the relationships whose
/// `ReferencingAttribute` is the column) and each target's `EntitySetName`. A column that does
/// not exist, is not a lookup, or has no relationship is a [`DataverseError::Table`] naming the
/// request; an unknown table likewise, with close names suggested.
pub fn lookup_targets(session: &Session, table: &str, column: &str) -> Result<Vec<LookupTarget>> {
    let attribute = lookup_attribute(column);
    let request = format!("GET EntityDefinitions(LogicalName='{table}')/ManyToOneRelationships");
    let target = format!(
        "EntityDefinitions(LogicalName={})/ManyToOneRelationships?$select={}",
        encode(&string_literal(table)),
        encode("ReferencingAttribute,ReferencedEntity,ReferencingEntityNavigationPropertyName")
    );
    let answer = get_of_table(session, table, &target, &request)?;
    let rows: Collection<RelationshipRow> = decode(&answer.body, &request)?;
    let mut targets = Vec::new();
    for row in rows.value {
        let matches = row
            .referencing_attribute
            .as_deref()
            .is_some_and(|a| a.eq_ignore_ascii_case(attribute));
        if !matches {
            continue;
        }
        let (Some(referenced), Some(navigation)) = (
            row.referenced_entity,
            row.referencing_entity_navigation_property_name,
        ) else {
            return Err(DataverseError::Decode {
                request,
                message: format!(
                    "a relationship of '{attribute}' lacks ReferencedEntity or ReferencingEntityNavigationPropertyName"
                ),
            });
        };
        targets.push((referenced, navigation));
    }
    if targets.is_empty() {
        return Err(not_a_lookup(session, table, column, attribute, request));
    }
    targets.sort();
    targets
        .into_iter()
        .map(|(table, navigation)| {
            Ok(LookupTarget {
                entity_set: entity_set_of(session, &table)?,
                table,
                navigation,
            })
        })
        .collect()
}

/// `GET target` about the table `table` (a logical name): a 404 means no table has that
/// logical name, and the error says which table was meant ([`not_a_logical_name`]).
fn get_of_table(
    session: &Session,
    table: &str,
    target: &str,
    request: &str,
) -> Result<crate::session::Answer> {
    session.get(target, None).map_err(|e| match e {
        DataverseError::Api { status: 404, .. } => {
            not_a_logical_name(session, table, request.to_string())
        }
        e => e,
    })
}

/// The error for a `EntityDefinitions(LogicalName='…')` request answered 404: `table` is an
/// entity set name (the error gives the logical name), or no table's name (with close names).
fn not_a_logical_name(session: &Session, table: &str, request: String) -> DataverseError {
    match find_entity(session, table) {
        Err(e) => e,
        Ok(Ok(entity)) => DataverseError::Table {
            request,
            message: format!(
                "'{table}' is not a table's logical name; the table's logical name is '{}'",
                entity.logical_name
            ),
        },
        Ok(Err(known)) => {
            let names: BTreeSet<&str> = known.iter().map(|r| r.logical_name.as_str()).collect();
            DataverseError::Table {
                request: "GET EntityDefinitions".into(),
                message: format!(
                    "Dataverse has no table with the logical name '{table}'{}",
                    did_you_mean(&closest(table, names.into_iter()))
                ),
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MaxLengthRow {
    logical_name: String,
    #[serde(default)]
    max_length: Option<i64>,
}

/// The metadata types that have `MaxLength`: single and multiple lines of text.
const TEXT_METADATA_TYPES: [&str; 2] = ["StringAttributeMetadata", "MemoAttributeMetadata"];

/// The maximum length (`MaxLength`, in characters) of every text column of the table `table`
/// (its logical name, `account`), by column logical name: the String (single line of text)
/// and the Memo (multiple lines of text) columns. Other columns are absent.
///
/// Two requests, as `MaxLength` exists only on those two metadata types:
/// `EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata?$select=LogicalName,MaxLength`
/// and the same with `MemoAttributeMetadata`. An unknown table is a [`DataverseError::Table`]
/// (with close names, or the logical name when `table` is an entity set name); an answer
/// without a usable `MaxLength` (missing, null, negative or too large) is a
/// [`DataverseError::Decode`] naming the request and the column.
pub fn max_lengths(session: &Session, table: &str) -> Result<BTreeMap<String, u32>> {
    let mut lengths = BTreeMap::new();
    for type_name in TEXT_METADATA_TYPES {
        let path = format!(
            "EntityDefinitions(LogicalName={})/Attributes/Microsoft.Dynamics.CRM.{type_name}",
            encode(&string_literal(table))
        );
        let request = format!(
            "GET EntityDefinitions(LogicalName='{table}')/Attributes/Microsoft.Dynamics.CRM.{type_name}"
        );
        let target = format!("{path}?$select={}", encode("LogicalName,MaxLength"));
        let answer = get_of_table(session, table, &target, &request)?;
        lengths.extend(parse_max_lengths(&answer.body, &request)?);
    }
    Ok(lengths)
}

/// (LogicalName, MaxLength) of each attribute of a String or Memo cast's answer.
fn parse_max_lengths(body: &[u8], request: &str) -> Result<Vec<(String, u32)>> {
    let rows: Collection<MaxLengthRow> = decode(body, request)?;
    rows.value
        .into_iter()
        .map(
            |row| match row.max_length.and_then(|n| u32::try_from(n).ok()) {
                Some(length) => Ok((row.logical_name, length)),
                None => Err(DataverseError::Decode {
                    request: request.to_string(),
                    message: format!(
                        "column '{}' has no usable MaxLength ({})",
                        row.logical_name,
                        row.max_length
                            .map_or_else(|| "none".to_string(), |n| n.to_string())
                    ),
                }),
            },
        )
        .collect()
}

/// Why a column has no many-to-one relationship: it does not exist (with close names), it is
/// not a lookup, or it is a lookup the metadata gives no relationship for.
fn not_a_lookup(
    session: &Session,
    table: &str,
    column: &str,
    attribute: &str,
    request: String,
) -> DataverseError {
    let entity = EntityRow {
        logical_name: table.to_string(),
        entity_set_name: None,
        primary_id_attribute: None,
        primary_name_attribute: None,
    };
    let info = match read_columns(session, entity, table) {
        Ok(info) => info,
        Err(e) => return e,
    };
    let lookup_form = format!("_{attribute}_value");
    let found = info
        .columns
        .iter()
        .find(|c| c.name == lookup_form || c.name == attribute);
    let message = match found {
        None => format!(
            "column '{column}' does not exist in Dataverse table '{table}'{}",
            did_you_mean(&closest(
                column,
                info.columns.iter().map(|c| c.name.as_str())
            ))
        ),
        Some(c) if !is_lookup(&c.attribute_type) => format!(
            "column '{column}' of Dataverse table '{table}' is not a lookup column; it is a {} column",
            c.attribute_type
        ),
        Some(_) => format!(
            "lookup column '{column}' of Dataverse table '{table}' has no many-to-one relationship in the metadata, so no table it points to is known"
        ),
    };
    DataverseError::Table { request, message }
}

/// The entity set name of the table with this logical name.
fn entity_set_of(session: &Session, logical_name: &str) -> Result<String> {
    let request = format!("GET EntityDefinitions(LogicalName='{logical_name}')");
    let answer = session.get(
        &format!(
            "EntityDefinitions(LogicalName={})?$select={}",
            encode(&string_literal(logical_name)),
            encode("LogicalName,EntitySetName")
        ),
        None,
    )?;
    let row: EntitySetRow = decode(&answer.body, &request)?;
    row.entity_set_name
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DataverseError::Decode {
            request,
            message: "the answer has no EntitySetName".into(),
        })
}

/// The value of an `@odata.bind` that points a lookup at a row: `/accounts(<guid>)` (the id
/// lower-case). The entity set must be `[A-Za-z0-9_]+` and the id a GUID, as for writes.
pub fn bind_value(entity_set: &str, id: &str) -> Result<String> {
    match crate::write::name_problem(entity_set, id) {
        None => Ok(format!("/{entity_set}({})", id.to_ascii_lowercase())),
        Some(problem) => Err(DataverseError::Table {
            request: format!("bind {entity_set}({id})"),
            message: problem,
        }),
    }
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
    fn options_from_the_option_set_or_the_global_one() {
        // Dataverse's documented answer shape (trimmed).
        let body = br#"{
          "@odata.context": "x/$metadata#EntityDefinitions('account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata(LogicalName,OptionSet(Options),GlobalOptionSet(Options))/$entity",
          "MetadataId": "118771ca-6fb9-4f60-8fd4-99b6124b63ad",
          "LogicalName": "accountcategorycode",
          "OptionSet": {"MetadataId": "b994cdd8-5ce9-4ab9-bdd3-8888ebdb0407", "Options": [
            {"Value": 1, "Color": null, "IsManaged": true, "ExternalValue": null, "ParentValues": [],
             "Label": {"LocalizedLabels": [{"Label": "Preferred Customer", "LanguageCode": 1033}],
                       "UserLocalizedLabel": {"Label": "Preferred Customer", "LanguageCode": 1033}},
             "Description": {"LocalizedLabels": [], "UserLocalizedLabel": null}},
            {"Value": 2, "Label": {"LocalizedLabels": [{"Label": "Standard", "LanguageCode": 1033}],
                                   "UserLocalizedLabel": {"Label": "Standard", "LanguageCode": 1033}}}
          ]},
          "GlobalOptionSet": null
        }"#;
        let options = parse_options(body, "GET x").unwrap().unwrap();
        assert_eq!(
            options,
            [
                ChoiceOption {
                    value: 1,
                    label: "Preferred Customer".into()
                },
                ChoiceOption {
                    value: 2,
                    label: "Standard".into()
                }
            ]
        );
        // OptionSet null: the global option set; no user label: the first localized one.
        let body = br#"{"LogicalName": "x", "OptionSet": null, "GlobalOptionSet": {"Options": [
            {"Value": 7, "Label": {"UserLocalizedLabel": null,
                                   "LocalizedLabels": [{"Label": "Sieben", "LanguageCode": 1031}, {"Label": "Seven", "LanguageCode": 1033}]}},
            {"Value": 8, "Label": {"UserLocalizedLabel": null, "LocalizedLabels": []}}
        ]}}"#;
        let options = parse_options(body, "GET x").unwrap().unwrap();
        assert_eq!(options[0].value, 7);
        assert_eq!(options[0].label, "Sieben");
        assert_eq!(options[1].label, "");
        // Neither: not an option-set answer.
        assert!(parse_options(br#"{"LogicalName": "name"}"#, "GET x")
            .unwrap()
            .is_none());
        assert!(matches!(
            parse_options(b"<html>", "GET x"),
            Err(DataverseError::Decode { .. })
        ));
    }

    #[test]
    fn choice_errors_name_table_and_column() {
        let e = ChoiceError::NotChoice {
            table: "account".into(),
            column: "name".into(),
            attribute_type: "String".into(),
        };
        assert_eq!(
            e.to_string(),
            "column 'name' of Dataverse table 'account' is not a choice (option set) column; it is a String column"
        );
        let e: DataverseError = e.into();
        assert!(matches!(e, DataverseError::Table { .. }));
        assert!(
            e.to_string().contains("Attributes(LogicalName='name')"),
            "{e}"
        );
        let e = ChoiceError::UnknownColumn {
            table: "account".into(),
            column: "industry".into(),
            suggestions: vec!["industrycode".into()],
        };
        assert_eq!(
            e.to_string(),
            "column 'industry' does not exist in Dataverse table 'account'; did you mean 'industrycode'?"
        );
        let e = ChoiceError::UnknownTable {
            table: "zzz".into(),
            suggestions: vec![],
        };
        assert!(!e.to_string().contains("did you mean"));
        assert_eq!(
            enum_metadata_type("Status"),
            Some("StatusAttributeMetadata")
        );
        assert_eq!(enum_metadata_type("Boolean"), None);
    }

    #[test]
    fn max_lengths_are_decoded_or_refused_naming_the_column() {
        let request = "GET …/Microsoft.Dynamics.CRM.StringAttributeMetadata";
        let body = br#"{"value":[{"LogicalName":"name","MaxLength":160,"MetadataId":"x"},{"LogicalName":"accountnumber","MaxLength":20}]}"#;
        assert_eq!(
            parse_max_lengths(body, request).unwrap(),
            [("name".to_string(), 160), ("accountnumber".to_string(), 20)]
        );
        for (body, shown) in [
            (&br#"{"value":[{"LogicalName":"name"}]}"#[..], "none"),
            (
                br#"{"value":[{"LogicalName":"name","MaxLength":null}]}"#,
                "none",
            ),
            (
                br#"{"value":[{"LogicalName":"name","MaxLength":-1}]}"#,
                "-1",
            ),
        ] {
            match parse_max_lengths(body, request) {
                Err(DataverseError::Decode {
                    request: r,
                    message,
                }) => {
                    assert_eq!(r, request);
                    assert_eq!(
                        message,
                        format!("column 'name' has no usable MaxLength ({shown})")
                    );
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            parse_max_lengths(b"{}", request),
            Err(DataverseError::Decode { .. })
        ));
    }

    #[test]
    fn bind_values() {
        assert_eq!(
            bind_value("accounts", "CE9EAAEF-F718-ED11-B83E-00224837179F").unwrap(),
            "/accounts(ce9eaaef-f718-ed11-b83e-00224837179f)"
        );
        let e = bind_value("accounts", "42").unwrap_err();
        assert!(matches!(e, DataverseError::Table { .. }));
        assert!(e.to_string().contains("'42' is not a GUID"), "{e}");
        let e = bind_value("accounts?x", "ce9eaaef-f718-ed11-b83e-00224837179f").unwrap_err();
        assert!(e.to_string().contains("not an entity set name"), "{e}");
        assert!(bind_value("", "ce9eaaef-f718-ed11-b83e-00224837179f").is_err());
    }

    #[test]
    fn lookup_attribute_names() {
        assert_eq!(
            lookup_attribute("_parentcustomerid_value"),
            "parentcustomerid"
        );
        assert_eq!(lookup_attribute("parentcustomerid"), "parentcustomerid");
        assert_eq!(lookup_attribute("_x"), "_x");
    }

    #[test]
    fn kinds() {
        assert_eq!(AttributeKind::of("Picklist"), AttributeKind::Number);
        assert_eq!(AttributeKind::of("Lookup"), AttributeKind::Guid);
        assert_eq!(AttributeKind::of("Memo"), AttributeKind::Text);
        assert_eq!(AttributeKind::of("Virtual"), AttributeKind::Other);
    }
}
