//! Writing: create (POST), upsert/update (PATCH with `If-Match` / `If-None-Match`), delete,
//! and single-column clear/set. Bodies are validated against the column types; writes bump the
//! row version (etag). All changes go through [`Store::put_row`] / [`Store::remove_row`] so a
//! `$batch` change set can roll them back.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::keys::{find, RecordKey};
use crate::query::{entity_response, ReadCtx};
use crate::render::Selection;
use crate::response::{ApiError, ApiResponse};
use crate::store::{Store, TableDef, CURRENCY_COLUMN};
use crate::types::{normalize_cell, parse_datetime, parse_guid, AttrType, Family};

/// Conditional headers of a write.
#[derive(Debug, Default, Clone)]
pub(crate) struct Conditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
}

/// Values from a request body, by column index (`None` clears the column).
type Changes = Vec<(usize, Option<String>)>;

/// `POST <set>`.
pub(crate) fn create(
    ctx: &ReadCtx,
    store: &mut Store,
    table: usize,
    body: &[u8],
) -> Result<ApiResponse, ApiError> {
    let selection = Selection::parse(&store.tables[table].def, ctx.options.select.as_deref())?;
    let changes = parse_body(&store.tables[table].def, body)?;
    let def = &store.tables[table].def;
    let pk = def.pk_index;
    let id = match changes.iter().find(|(i, _)| *i == pk) {
        Some((_, Some(id))) => id.clone(),
        _ => uuid::Uuid::new_v4().to_string(),
    };
    if store.tables[table].get(&id).is_some() {
        return Err(duplicate());
    }
    insert_new(store, table, &id, &changes);
    let key = RecordKey::Id(id);
    Ok(write_response(ctx, store, table, &key, &selection, true))
}

/// `PATCH <set>(<key>)`: upsert by default, update-only with `If-Match`, create-only with
/// `If-None-Match: *`.
pub(crate) fn upsert(
    ctx: &ReadCtx,
    store: &mut Store,
    table: usize,
    key: &RecordKey,
    conditions: &Conditions,
    body: &[u8],
) -> Result<ApiResponse, ApiError> {
    let selection = Selection::parse(&store.tables[table].def, ctx.options.select.as_deref())?;
    let changes = parse_body(&store.tables[table].def, body)?;
    let existing = find(&store.tables[table], key, ctx.collation).map(|r| r.id.clone());
    check_conditions(store, table, key, existing.as_deref(), conditions)?;
    let def = &store.tables[table].def;
    match existing {
        Some(id) => {
            // Key fields in the body are dropped on update.
            let key_cols: Vec<usize> = match key {
                RecordKey::Id(_) => vec![def.pk_index],
                RecordKey::Alternate { values, .. } => {
                    let mut cols: Vec<usize> = values.iter().map(|(i, _)| *i).collect();
                    cols.push(def.pk_index);
                    cols
                }
            };
            let changes: Changes = changes
                .into_iter()
                .filter(|(i, _)| !key_cols.contains(i))
                .collect();
            update_existing(store, table, &id, &changes);
            // `OData-EntityId` echoes the key form used in the URL.
            Ok(write_response(ctx, store, table, key, &selection, false))
        }
        None => {
            let (id, changes) = match key {
                RecordKey::Id(id) => {
                    let changes: Changes = changes
                        .into_iter()
                        .filter(|(i, _)| *i != def.pk_index)
                        .collect();
                    (id.clone(), changes)
                }
                RecordKey::Alternate { values, .. } => {
                    let id = match changes.iter().find(|(i, _)| *i == def.pk_index) {
                        Some((_, Some(id))) => id.clone(),
                        _ => uuid::Uuid::new_v4().to_string(),
                    };
                    // Key values from the URL, unless the body has them (the body wins).
                    let mut all = changes.clone();
                    for (index, text) in values {
                        if !changes.iter().any(|(i, _)| i == index) {
                            let column = &def.columns[*index];
                            let value = normalize_cell(column.ty, text, column.precision)
                                .map_err(ApiError::bad_request)?;
                            all.push((*index, value));
                        }
                    }
                    (id, all)
                }
            };
            if store.tables[table].get(&id).is_some() {
                return Err(duplicate());
            }
            insert_new(store, table, &id, &changes);
            Ok(write_response(ctx, store, table, key, &selection, true))
        }
    }
}

/// `DELETE <set>(<key>)`.
pub(crate) fn delete(
    ctx: &ReadCtx,
    store: &mut Store,
    table: usize,
    key: &RecordKey,
    conditions: &Conditions,
) -> Result<ApiResponse, ApiError> {
    let existing = find(&store.tables[table], key, ctx.collation).map(|r| r.id.clone());
    let Some(id) = existing else {
        return Err(key.not_found(&store.tables[table].def));
    };
    if let Some(etag) = conditions.if_match.as_deref().filter(|v| v.trim() != "*") {
        check_etag(store, table, &id, etag)?;
    }
    store.remove_row(table, &id);
    Ok(ApiResponse::empty(204))
}

/// `DELETE <set>(<key>)/<column>` (value `None`) or `PUT <set>(<key>)/<column>` with
/// `{"value": …}`.
pub(crate) fn set_column(
    ctx: &ReadCtx,
    store: &mut Store,
    table: usize,
    key: &RecordKey,
    column: &str,
    put_body: Option<&[u8]>,
) -> Result<ApiResponse, ApiError> {
    let def = &store.tables[table].def;
    let (index, col) = def
        .column(column)
        .ok_or_else(|| ApiError::unknown_property(&def.type_name(), column))?;
    if index == def.pk_index || col.ty == AttrType::Lookup {
        return Err(ApiError::bad_request(format!(
            "The property '{column}' cannot be changed this way."
        )));
    }
    let value = match put_body {
        None => None,
        Some(body) => {
            let parsed: BTreeMap<String, Box<RawValue>> = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("Invalid JSON. {e}")))?;
            let raw = parsed.get("value").ok_or_else(|| {
                ApiError::bad_request("The request body must be an object with a 'value' property.")
            })?;
            convert_value(def, index, raw.get())?
        }
    };
    let Some(id) = find(&store.tables[table], key, ctx.collation).map(|r| r.id.clone()) else {
        return Err(key.not_found(def));
    };
    update_existing(store, table, &id, &[(index, value)]);
    Ok(ApiResponse::empty(204))
}

fn duplicate() -> ApiError {
    ApiError::new(
        412,
        "0x80040237",
        "A record with matching key values already exists.",
    )
}

fn check_conditions(
    store: &Store,
    table: usize,
    key: &RecordKey,
    existing: Option<&str>,
    conditions: &Conditions,
) -> Result<(), ApiError> {
    let def = &store.tables[table].def;
    if let Some(if_match) = conditions.if_match.as_deref().map(str::trim) {
        let Some(id) = existing else {
            return Err(key.not_found(def));
        };
        if if_match != "*" {
            check_etag(store, table, id, if_match)?;
        }
    }
    if let Some(if_none_match) = conditions.if_none_match.as_deref().map(str::trim) {
        // `If-None-Match: null` is the caching header every request carries: no condition.
        if if_none_match == "*" && existing.is_some() {
            return Err(duplicate());
        }
    }
    Ok(())
}

fn check_etag(store: &Store, table: usize, id: &str, etag: &str) -> Result<(), ApiError> {
    let current = store.tables[table].get(id).map(|r| r.version).unwrap_or(0);
    let given = etag
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
        .ok();
    if given != Some(current) {
        return Err(ApiError::new(
            412,
            "0x80060882",
            "The version of the existing record doesn't match the RowVersion property provided.",
        ));
    }
    Ok(())
}

fn insert_new(store: &mut Store, table: usize, id: &str, changes: &[(usize, Option<String>)]) {
    let mut row = store.blank_row(table, id);
    for (index, value) in changes {
        if *index != store.tables[table].def.pk_index {
            row.cells[*index] = value.clone();
        }
    }
    apply_state_status(&store.tables[table].def, &mut row.cells, changes);
    row.version = store.next_version();
    store.put_row(table, row);
}

fn update_existing(store: &mut Store, table: usize, id: &str, changes: &[(usize, Option<String>)]) {
    let Some(mut row) = store.tables[table].get(id).cloned() else {
        return;
    };
    for (index, value) in changes {
        row.cells[*index] = value.clone();
    }
    apply_state_status(&store.tables[table].def, &mut row.cells, changes);
    row.version = store.next_version();
    store.put_row(table, row);
}

/// Setting `statecode` without `statuscode` sets the default status of the state (state + 1),
/// as Dataverse does for the standard tables.
fn apply_state_status(
    def: &TableDef,
    cells: &mut [Option<String>],
    changes: &[(usize, Option<String>)],
) {
    let state = def.columns.iter().position(|c| c.ty == AttrType::State);
    let status = def.columns.iter().position(|c| c.ty == AttrType::Status);
    if let (Some(state), Some(status)) = (state, status) {
        let state_set = changes.iter().find(|(i, _)| *i == state);
        let status_set = changes.iter().any(|(i, _)| *i == status);
        if let (Some((_, Some(value))), false) = (state_set, status_set) {
            if let Ok(n) = value.parse::<i64>() {
                cells[status] = Some((n + 1).to_string());
            }
        }
    }
}

/// 204 with `OData-EntityId`, or 201/200 with the record when `return=representation`.
fn write_response(
    ctx: &ReadCtx,
    store: &Store,
    table: usize,
    key: &RecordKey,
    selection: &Selection,
    created: bool,
) -> ApiResponse {
    let t = &store.tables[table];
    let row = find(t, key, ctx.collation).or_else(|| match key {
        RecordKey::Id(id) => t.get(id),
        RecordKey::Alternate { .. } => None,
    });
    let entity_id = format!("{}/{}({})", ctx.api_base, t.def.entity_set, key.url_form());
    match row {
        Some(row) if ctx.prefer.return_representation => {
            let status = if created { 201 } else { 200 };
            entity_response(ctx, t, &t.def.entity_set, row, selection, status)
                .with_header("OData-EntityId", entity_id)
                .with_header("Preference-Applied", "return=representation")
        }
        _ => ApiResponse::empty(204).with_header("OData-EntityId", entity_id),
    }
}

/// Parses and validates a JSON object body against the table's columns.
pub(crate) fn parse_body(def: &TableDef, body: &[u8]) -> Result<Changes, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("The request body is not valid UTF-8."))?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let object: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON. {e}")))?;
    let mut changes = Vec::new();
    for (name, raw) in &object {
        if let Some(navigation) = name.strip_suffix("@odata.bind") {
            changes.push(bind_lookup(def, navigation, raw.get())?);
            continue;
        }
        if name.starts_with('@') || name.contains('@') {
            continue; // annotations such as @odata.type or @odata.etag
        }
        let (index, column) = def.column(name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "The property '{name}' does not exist on type '{}'. Make sure to only use property names that are defined by the type.",
                def.type_name()
            ))
        })?;
        if column.ty == AttrType::Lookup {
            return Err(ApiError::bad_request(format!(
                "Invalid property '{name}' was found in entity '{}'.",
                def.type_name()
            )));
        }
        changes.push((index, convert_value(def, index, raw.get())?));
    }
    Ok(changes)
}

/// `"<navigation>@odata.bind": "accounts(<guid>)"` sets `_<navigation>_value`.
fn bind_lookup(
    def: &TableDef,
    navigation: &str,
    raw: &str,
) -> Result<(usize, Option<String>), ApiError> {
    let column = format!("_{}_value", navigation.to_ascii_lowercase());
    let (index, _) = def
        .column(&column)
        .filter(|(_, c)| c.ty == AttrType::Lookup)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "An undeclared property '{navigation}' which only has property annotations in the payload but no property value was found in the payload."
            ))
        })?;
    if raw.trim() == "null" {
        return Ok((index, None));
    }
    let reference: String = serde_json::from_str(raw)
        .map_err(|_| ApiError::bad_request(format!("Invalid @odata.bind value {raw}.")))?;
    let id = reference
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .and_then(parse_guid)
        .ok_or_else(|| {
            ApiError::bad_request(format!("Invalid @odata.bind value '{reference}'."))
        })?;
    Ok((index, Some(id)))
}

/// Converts one JSON value to cell text for a column, or a Dataverse-like payload error.
fn convert_value(def: &TableDef, index: usize, raw: &str) -> Result<Option<String>, ApiError> {
    let column = &def.columns[index];
    let raw = raw.trim();
    if raw == "null" {
        return Ok(None);
    }
    let payload_error = || {
        ApiError::new(
            400,
            "0x80048d19",
            format!(
                "Error identified in Payload provided by the user for Entity :'{}', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ----> InnerException : Microsoft.OData.ODataException: Cannot convert the literal '{}' to the expected type '{}'.",
                def.entity_set,
                raw.trim_matches('"'),
                column.ty.edm()
            ),
        )
    };
    let as_string = || serde_json::from_str::<String>(raw).ok();
    let value = match column.ty.family() {
        Family::Text => as_string().ok_or_else(payload_error)?,
        Family::Number => {
            if raw.starts_with('"') {
                return Err(payload_error());
            }
            normalize_cell(column.ty, raw, column.precision)
                .map_err(|_| payload_error())?
                .unwrap_or_default()
        }
        Family::Bool => match raw {
            "true" | "false" => raw.to_owned(),
            _ => return Err(payload_error()),
        },
        Family::DateTime => as_string()
            .and_then(|s| parse_datetime(&s))
            .ok_or_else(payload_error)?,
        Family::Guid => as_string()
            .and_then(|s| parse_guid(&s))
            .ok_or_else(payload_error)?,
        Family::Json => return Err(payload_error()),
    };
    // Dataverse stores an empty string as null.
    Ok(if value.is_empty() { None } else { Some(value) })
}

/// Converts a test-setup JSON value (numbers may also be given as strings) to cell text.
pub(crate) fn setup_value(
    def: &TableDef,
    index: usize,
    value: &serde_json::Value,
) -> Result<Option<String>, String> {
    let column = &def.columns[index];
    let text = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    if column.name == CURRENCY_COLUMN || column.ty.family() != Family::Text {
        normalize_cell(column.ty, &text, column.precision)
    } else {
        Ok(if text.is_empty() { None } else { Some(text) })
    }
}
