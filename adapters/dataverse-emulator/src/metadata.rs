//! `EntityDefinitions`: tables, their `Attributes` and `Keys`, built per request as small
//! in-memory tables so that `$select` and `$filter` reuse the data-query code. No paging, as in
//! Dataverse. Lookup columns (`_x_value` in row data) are described with their attribute name
//! `x`, as Dataverse's metadata does.

use std::collections::BTreeMap;

use crate::odata::filter::parse_filter;
use crate::query::ReadCtx;
use crate::render::{render_row, RenderOpts, Selection};
use crate::response::{push_json_str, ApiError, ApiResponse};
use crate::store::{Column, Row, Store, TableDef};
use crate::types::AttrType;

fn col(name: &str, ty: AttrType) -> Column {
    Column {
        name: name.to_owned(),
        ty,
        precision: None,
        captions: BTreeMap::new(),
    }
}

fn text(value: &str) -> Option<String> {
    Some(value.to_owned())
}

fn flag(value: bool) -> Option<String> {
    Some(value.to_string())
}

/// A derived id: the table's MetadataId with the last group replaced by a counter.
fn derived_id(table_id: &str, n: usize) -> String {
    format!("{}-{n:012x}", &table_id[..23])
}

fn schema_name(logical: &str) -> String {
    let mut chars = logical.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Builds an in-memory table with rows in the given order.
fn dataset(def: TableDef, rows: Vec<Vec<Option<String>>>) -> (TableDef, Vec<Row>) {
    let rows = rows
        .into_iter()
        .map(|cells| Row {
            id: cells[def.pk_index].clone().unwrap_or_default(),
            version: 0,
            cells,
        })
        .collect();
    (def, rows)
}

fn entity_definitions(store: &Store) -> (TableDef, Vec<Row>) {
    let def = TableDef::new(
        "EntityMetadata",
        "EntityDefinitions",
        "MetadataId",
        None,
        vec![
            col("MetadataId", AttrType::Uniqueidentifier),
            col("LogicalName", AttrType::String),
            col("SchemaName", AttrType::String),
            col("EntitySetName", AttrType::String),
            col("LogicalCollectionName", AttrType::String),
            col("PrimaryIdAttribute", AttrType::String),
            col("PrimaryNameAttribute", AttrType::String),
            col("ObjectTypeCode", AttrType::Integer),
            col("IsCustomEntity", AttrType::Boolean),
            col("IsActivity", AttrType::Boolean),
            col("TableType", AttrType::String),
        ],
    );
    let rows = store
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let d = &t.def;
            vec![
                text(&d.metadata_id),
                text(&d.logical_name),
                text(&schema_name(&d.logical_name)),
                text(&d.entity_set),
                text(&d.entity_set),
                text(&d.primary_id),
                d.primary_name.clone(),
                Some((10_000 + i).to_string()),
                flag(false),
                flag(false),
                text("Standard"),
            ]
        })
        .collect();
    dataset(def, rows)
}

fn attributes(table: &TableDef) -> (TableDef, Vec<Row>) {
    let def = TableDef::new(
        "AttributeMetadata",
        "Attributes",
        "MetadataId",
        None,
        vec![
            col("MetadataId", AttrType::Uniqueidentifier),
            col("LogicalName", AttrType::String),
            col("SchemaName", AttrType::String),
            col("EntityLogicalName", AttrType::String),
            col("AttributeType", AttrType::String),
            col("IsPrimaryId", AttrType::Boolean),
            col("IsPrimaryName", AttrType::Boolean),
            col("IsValidForRead", AttrType::Boolean),
            col("IsValidForCreate", AttrType::Boolean),
            col("IsValidForUpdate", AttrType::Boolean),
            col("IsCustomAttribute", AttrType::Boolean),
            col("IsLogical", AttrType::Boolean),
            col("AttributeOf", AttrType::String),
            col("Precision", AttrType::Integer),
            col("MaxLength", AttrType::Integer),
        ],
    );
    let rows = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let logical = match c.ty {
                AttrType::Lookup => c
                    .name
                    .strip_prefix('_')
                    .and_then(|n| n.strip_suffix("_value"))
                    .unwrap_or(&c.name)
                    .to_owned(),
                _ => c.name.clone(),
            };
            let is_pk = i == table.pk_index;
            let precision = match c.ty {
                AttrType::Money | AttrType::Decimal | AttrType::Double => {
                    Some(c.precision.unwrap_or(2).to_string())
                }
                _ => None,
            };
            let max_length = match c.ty {
                AttrType::String => text("4000"),
                AttrType::Memo => text("1048576"),
                _ => None,
            };
            vec![
                text(&derived_id(&table.metadata_id, i + 1)),
                text(&logical),
                text(&schema_name(&logical)),
                text(&table.logical_name),
                text(c.ty.name()),
                flag(is_pk),
                flag(table.primary_name.as_deref() == Some(c.name.as_str())),
                flag(true),
                flag(true),
                flag(!is_pk),
                flag(false),
                flag(false),
                None,
                precision,
                max_length,
            ]
        })
        .collect();
    dataset(def, rows)
}

fn keys(table: &TableDef) -> (TableDef, Vec<Row>) {
    let def = TableDef::new(
        "EntityKeyMetadata",
        "Keys",
        "MetadataId",
        None,
        vec![
            col("MetadataId", AttrType::Uniqueidentifier),
            col("LogicalName", AttrType::String),
            col("SchemaName", AttrType::String),
            col("EntityLogicalName", AttrType::String),
            col("KeyAttributes", AttrType::RawJson),
            col("EntityKeyIndexStatus", AttrType::String),
        ],
    );
    let rows = table
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let attributes = serde_json::to_string(&k.attributes).unwrap_or_else(|_| "[]".into());
            vec![
                text(&derived_id(&table.metadata_id, 0x1000 + i)),
                text(&k.logical_name),
                text(&k.logical_name),
                text(&table.logical_name),
                Some(attributes),
                text(&k.status),
            ]
        })
        .collect();
    dataset(def, rows)
}

/// Handles `EntityDefinitions…`; `rest` is the path after `EntityDefinitions`.
pub(crate) fn handle(ctx: &ReadCtx, store: &Store, rest: &str) -> Result<ApiResponse, ApiError> {
    let (entities_def, entity_rows) = entity_definitions(store);
    if rest.is_empty() {
        return collection(ctx, &entities_def, &entity_rows, "EntityDefinitions", None);
    }
    let (key, tail) = split_key(rest).ok_or_else(|| ApiError::segment_not_found(rest))?;
    let row = find_by_key(&entities_def, &entity_rows, key, "LogicalName").ok_or_else(|| {
        ApiError::new(
            404,
            "0x80040217",
            format!("Could not find an entity with name {}", key_value(key)),
        )
    })?;
    let table_index = store
        .index_by_logical(row.cells[1].as_deref().unwrap_or_default())
        .ok_or_else(|| ApiError::segment_not_found(key))?;
    let table = &store.tables[table_index].def;
    let context = format!("EntityDefinitions({key})");
    match tail {
        "" => single(ctx, &entities_def, row, &context, None),
        _ => {
            let (segment, sub) = tail
                .strip_prefix('/')
                .map(|t| t.split_once('/').unwrap_or((t, "")))
                .ok_or_else(|| ApiError::segment_not_found(tail))?;
            let (segment_name, sub_key) = match split_key_at_name(segment) {
                Some((name, key)) => (name, Some(key)),
                None => (segment, None),
            };
            let (def, rows) = match segment_name {
                "Attributes" => attributes(table),
                "Keys" => keys(table),
                other => return Err(ApiError::segment_not_found(other)),
            };
            // Optional cast: Attributes/Microsoft.Dynamics.CRM.MoneyAttributeMetadata.
            let rows = match (segment_name, sub) {
                (_, "") => rows,
                ("Attributes", cast) => {
                    let type_name = cast
                        .strip_prefix("Microsoft.Dynamics.CRM.")
                        .ok_or_else(|| ApiError::segment_not_found(cast))?;
                    rows.into_iter()
                        .filter(|r| {
                            let ty = r.cells[4].as_deref().unwrap_or_default();
                            type_name == format!("{ty}AttributeMetadata")
                                || (type_name == "EnumAttributeMetadata"
                                    && matches!(ty, "Picklist" | "State" | "Status"))
                        })
                        .collect()
                }
                (_, other) => return Err(ApiError::segment_not_found(other)),
            };
            let context = format!("{context}/{segment_name}");
            match sub_key {
                Some(k) => {
                    let row = find_by_key(&def, &rows, k, "LogicalName")
                        .ok_or_else(|| ApiError::segment_not_found(segment))?;
                    single(
                        ctx,
                        &def,
                        row,
                        &format!("{context}({k})"),
                        type_of(segment_name, row),
                    )
                }
                None => collection(ctx, &def, &rows, &context, Some(segment_name)),
            }
        }
    }
}

fn type_of(segment: &str, row: &Row) -> Option<String> {
    (segment == "Attributes").then(|| {
        let ty = row.cells[4].as_deref().unwrap_or("String");
        format!("#Microsoft.Dynamics.CRM.{ty}AttributeMetadata")
    })
}

/// `(LogicalName='x')…` → (`LogicalName='x'`, rest after `)`).
fn split_key(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('(')?;
    let end = inner.find(')')?;
    Some((&inner[..end], &inner[end + 1..]))
}

fn split_key_at_name(segment: &str) -> Option<(&str, &str)> {
    let open = segment.find('(')?;
    let (key, rest) = split_key(&segment[open..])?;
    rest.is_empty().then_some((&segment[..open], key))
}

fn key_value(key: &str) -> String {
    key.split_once('=')
        .map(|(_, v)| v)
        .unwrap_or(key)
        .trim_matches('\'')
        .to_owned()
}

/// Finds a row by `Name='value'` (case-sensitive name, value compared case-insensitively) or a
/// bare MetadataId.
fn find_by_key<'r>(
    def: &TableDef,
    rows: &'r [Row],
    key: &str,
    default_name: &str,
) -> Option<&'r Row> {
    let (name, value) = match key.split_once('=') {
        Some((n, v)) => (n.trim(), v.trim()),
        None => ("MetadataId", key.trim()),
    };
    let name = if name.is_empty() { default_name } else { name };
    let (index, _) = def.column(name)?;
    let value = value.trim_matches('\'').to_ascii_lowercase();
    rows.iter().find(|r| {
        r.cells[index]
            .as_deref()
            .is_some_and(|v| v.to_ascii_lowercase() == value)
    })
}

fn single(
    ctx: &ReadCtx,
    def: &TableDef,
    row: &Row,
    context: &str,
    odata_type: Option<String>,
) -> Result<ApiResponse, ApiError> {
    let selection = Selection::parse(def, ctx.options.select.as_deref())?;
    let mut body = String::from("{\"@odata.context\":");
    push_json_str(
        &mut body,
        &format!(
            "{}/$metadata#{context}{}/$entity",
            ctx.api_base, selection.context
        ),
    );
    body.push(',');
    let mut row_json = String::new();
    let render = RenderOpts {
        etag: false,
        formatted: false,
        currency: ctx.currency,
        odata_type: odata_type.as_deref(),
    };
    render_row(&mut row_json, def, row, &selection, &render);
    body.push_str(&row_json[1..]);
    Ok(ApiResponse::json(200, body))
}

fn collection(
    ctx: &ReadCtx,
    def: &TableDef,
    rows: &[Row],
    context: &str,
    segment: Option<&str>,
) -> Result<ApiResponse, ApiError> {
    let selection = Selection::parse(def, ctx.options.select.as_deref())?;
    let filter = ctx
        .options
        .filter
        .as_deref()
        .map(|f| parse_filter(f, def, &ctx.options.aliases, ctx.collation))
        .transpose()?;
    let mut body = String::from("{\"@odata.context\":");
    push_json_str(
        &mut body,
        &format!("{}/$metadata#{context}{}", ctx.api_base, selection.context),
    );
    body.push_str(",\"value\":[");
    let mut first = true;
    for row in rows {
        if filter.as_ref().is_some_and(|f| !f.matches(&row.cells)) {
            continue;
        }
        if !first {
            body.push(',');
        }
        first = false;
        let odata_type = segment.and_then(|s| type_of(s, row));
        let render = RenderOpts {
            etag: false,
            formatted: false,
            currency: ctx.currency,
            odata_type: odata_type.as_deref(),
        };
        render_row(&mut body, def, row, &selection, &render);
    }
    body.push_str("]}");
    Ok(ApiResponse::json(200, body))
}
