//! `EntityDefinitions`: tables, their `Attributes` and `Keys`, built per request as small
//! in-memory tables so that `$select` and `$filter` reuse the data-query code. No paging, as in
//! Dataverse. Lookup columns (`_x_value` in row data) are described with their attribute name
//! `x`, as Dataverse's metadata does. Choice columns (Picklist, State, Status) carry their option
//! set — the column's captions — behind a cast to their metadata type with
//! `$expand=OptionSet(…),GlobalOptionSet(…)`.

use std::collections::BTreeMap;

use crate::odata::filter::parse_filter;
use crate::query::ReadCtx;
use crate::render::{render_row, RenderOpts, Selection};
use crate::response::{json_str, push_json_str, ApiError, ApiResponse};
use crate::store::{choice_options, is_choice, Column, Row, Store, TableDef};
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
            let logical = attribute_name(c).to_owned();
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
        ctx.options.reject_expand()?;
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
    if tail.is_empty() {
        ctx.options.reject_expand()?;
        return single(ctx, &entities_def, row, &context, None);
    }
    let (segment, sub) = tail
        .strip_prefix('/')
        .map(split_segment)
        .ok_or_else(|| ApiError::segment_not_found(tail))?;
    let (segment_name, sub_key) = match split_key_at_name(segment) {
        Some((name, key)) => (name, Some(key)),
        None => (segment, None),
    };
    match segment_name {
        "Attributes" => attributes_request(ctx, table, &context, segment, sub_key, sub),
        "Keys" => {
            ctx.options.reject_expand()?;
            if !sub.is_empty() {
                return Err(ApiError::segment_not_found(sub));
            }
            let (def, rows) = keys(table);
            let context = format!("{context}/Keys");
            match sub_key {
                Some(k) => {
                    let row = find_by_key(&def, &rows, k, "LogicalName")
                        .ok_or_else(|| ApiError::segment_not_found(segment))?;
                    single(ctx, &def, row, &format!("{context}({k})"), None)
                }
                None => collection(ctx, &def, &rows, &context, None),
            }
        }
        other => Err(ApiError::segment_not_found(other)),
    }
}

/// `…/Attributes`, `…/Attributes(LogicalName='x')`, either with an optional type cast
/// (`/Microsoft.Dynamics.CRM.PicklistAttributeMetadata`). A cast to an enum type (Picklist,
/// State, Status, Enum) may `$expand` `OptionSet` and `GlobalOptionSet`.
fn attributes_request(
    ctx: &ReadCtx,
    table: &TableDef,
    entity_context: &str,
    segment: &str,
    sub_key: Option<&str>,
    cast: &str,
) -> Result<ApiResponse, ApiError> {
    let (def, rows) = attributes(table);
    let cast_type = match cast {
        "" => None,
        cast => {
            let name = cast
                .strip_prefix("Microsoft.Dynamics.CRM.")
                .filter(|n| !n.contains('/'))
                .ok_or_else(|| ApiError::segment_not_found(cast))?;
            Some(name)
        }
    };
    let expand = Expand::parse(ctx.options.expand.as_deref(), cast_type)?;
    let attribute_type = |row: &Row| row.cells[4].clone().unwrap_or_default();
    match sub_key {
        None => {
            let rows: Vec<Row> = match cast_type {
                None => rows,
                Some(type_name) => rows
                    .into_iter()
                    .filter(|r| cast_matches(type_name, &attribute_type(r)))
                    .collect(),
            };
            let context = match cast {
                "" => format!("{entity_context}/Attributes"),
                cast => format!("{entity_context}/Attributes/{cast}"),
            };
            let extras = |row: &Row| expand.render(table, row);
            collection_with(
                ctx,
                &def,
                &rows,
                &context,
                Some("Attributes"),
                &expand.context(),
                &extras,
            )
        }
        Some(k) => {
            let row = find_by_key(&def, &rows, k, "LogicalName")
                .ok_or_else(|| ApiError::segment_not_found(segment))?;
            let (context, odata_type) = match cast_type {
                None => (
                    format!("{entity_context}/Attributes({k})"),
                    type_of("Attributes", row),
                ),
                Some(type_name) => {
                    // An attribute of another type cannot be cast to this one [I].
                    if !cast_matches(type_name, &attribute_type(row)) {
                        return Err(ApiError::segment_not_found(cast));
                    }
                    (
                        format!(
                            "EntityDefinitions('{}')/Attributes/{cast}",
                            table.logical_name
                        ),
                        None,
                    )
                }
            };
            let extra = expand.render(table, row);
            single_with(
                ctx,
                &def,
                row,
                &context,
                odata_type,
                &expand.context(),
                &extra,
            )
        }
    }
}

/// Whether an attribute of `AttributeType` `attribute_type` is an instance of the metadata
/// type `type_name` (`PicklistAttributeMetadata`, or a base type).
fn cast_matches(type_name: &str, attribute_type: &str) -> bool {
    type_name == format!("{attribute_type}AttributeMetadata")
        || type_name == "AttributeMetadata"
        || (type_name == "EnumAttributeMetadata"
            && matches!(attribute_type, "Picklist" | "State" | "Status"))
}

/// The navigation properties of an enum attribute.
const OPTION_SET_NAVIGATION: [&str; 2] = ["OptionSet", "GlobalOptionSet"];
/// `OptionSetMetadata` properties the emulator serves (`MetadataId` is always returned).
const OPTION_SET_PROPERTIES: [&str; 5] =
    ["MetadataId", "Name", "IsGlobal", "OptionSetType", "Options"];

/// A parsed `$expand` of `OptionSet` / `GlobalOptionSet`, each with an optional `$select`.
#[derive(Default)]
struct Expand {
    items: Vec<(&'static str, Option<Vec<String>>)>,
}

impl Expand {
    /// Parses `OptionSet($select=Options),GlobalOptionSet($select=Options)`. Only enum
    /// attribute types (a cast to Picklist, State, Status or Enum) have these properties.
    fn parse(text: Option<&str>, cast_type: Option<&str>) -> Result<Expand, ApiError> {
        let Some(text) = text else {
            return Ok(Expand::default());
        };
        let on_type = format!(
            "Microsoft.Dynamics.CRM.{}",
            cast_type.unwrap_or("AttributeMetadata")
        );
        let enum_type = matches!(
            cast_type,
            Some(
                "PicklistAttributeMetadata"
                    | "StateAttributeMetadata"
                    | "StatusAttributeMetadata"
                    | "EnumAttributeMetadata"
            )
        );
        let mut expand = Expand::default();
        for item in split_top_level(text, ',') {
            let item = item.trim();
            let (name, options) = match item.split_once('(') {
                Some((name, rest)) => {
                    let inner = rest.strip_suffix(')').ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Syntax error at position {} in '{text}'.",
                            text.len()
                        ))
                    })?;
                    (name.trim(), Some(inner))
                }
                None => (item, None),
            };
            let Some(&known) = OPTION_SET_NAVIGATION.iter().find(|n| **n == name) else {
                return Err(ApiError::unknown_property(&on_type, name));
            };
            if !enum_type {
                return Err(ApiError::unknown_property(&on_type, name));
            }
            let mut select = None;
            for option in options.map(|o| split_top_level(o, ';')).unwrap_or_default() {
                let option = option.trim();
                if option.is_empty() {
                    continue;
                }
                match option.split_once('=') {
                    Some(("$select", list)) => {
                        let names: Vec<String> =
                            list.split(',').map(|p| p.trim().to_owned()).collect();
                        if let Some(bad) = names
                            .iter()
                            .find(|p| !OPTION_SET_PROPERTIES.contains(&p.as_str()))
                        {
                            return Err(ApiError::unknown_property(
                                "Microsoft.Dynamics.CRM.OptionSetMetadata",
                                bad,
                            ));
                        }
                        select = Some(names);
                    }
                    _ => {
                        return Err(ApiError::new(
                            501,
                            "0x80060888",
                            format!(
                                "The expand option '{option}' is not supported by the Dataverse emulator."
                            ),
                        ))
                    }
                }
            }
            expand.items.push((known, select));
        }
        Ok(expand)
    }

    /// The expanded part of `@odata.context`: `OptionSet(Options),GlobalOptionSet(Options)`.
    fn context(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|(name, select)| format!("{name}({})", select.as_deref().unwrap_or(&[]).join(",")))
            .collect()
    }

    /// `,"OptionSet":{…},"GlobalOptionSet":null` for one attribute row (empty when nothing is
    /// expanded). Every option set is local, so `GlobalOptionSet` is null.
    fn render(&self, table: &TableDef, row: &Row) -> String {
        let mut out = String::new();
        for (name, select) in &self.items {
            out.push(',');
            push_json_str(&mut out, name);
            out.push(':');
            let column = row.cells[1]
                .as_deref()
                .and_then(|logical| attribute_column(table, logical));
            match column {
                Some((index, column)) if *name == "OptionSet" && is_choice(column.ty) => {
                    push_option_set(&mut out, table, index, column, select.as_deref())
                }
                _ => out.push_str("null"),
            }
        }
        out
    }
}

/// Splits on `separator` outside parentheses and quotes.
fn split_top_level(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0usize, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            c if c == separator && depth == 0 && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The attribute name of a column: `x` for a lookup read as `_x_value`.
fn attribute_name(column: &Column) -> &str {
    match column.ty {
        AttrType::Lookup => column
            .name
            .strip_prefix('_')
            .and_then(|n| n.strip_suffix("_value"))
            .unwrap_or(&column.name),
        _ => &column.name,
    }
}

/// The column an attribute's logical name describes, with its index.
fn attribute_column<'t>(table: &'t TableDef, logical: &str) -> Option<(usize, &'t Column)> {
    table
        .columns
        .iter()
        .enumerate()
        .find(|(_, c)| attribute_name(c) == logical)
}

/// An `OptionSetMetadata` object: the column's options (its captions) with labels in 1033.
fn push_option_set(
    out: &mut String,
    table: &TableDef,
    index: usize,
    column: &Column,
    select: Option<&[String]>,
) {
    let wanted = |p: &str| p == "MetadataId" || select.is_none_or(|s| s.iter().any(|n| n == p));
    let option_set_type = match column.ty {
        AttrType::State => "State",
        AttrType::Status => "Status",
        _ => "Picklist",
    };
    let mut fields = Vec::new();
    if wanted("MetadataId") {
        fields.push(format!(
            "\"MetadataId\":{}",
            json_str(&derived_id(&table.metadata_id, 0x2000 + index))
        ));
    }
    if wanted("Name") {
        fields.push(format!(
            "\"Name\":{}",
            json_str(&format!("{}_{}", table.logical_name, column.name))
        ));
    }
    if wanted("IsGlobal") {
        fields.push("\"IsGlobal\":false".to_owned());
    }
    if wanted("OptionSetType") {
        fields.push(format!("\"OptionSetType\":{}", json_str(option_set_type)));
    }
    if wanted("Options") {
        let options: Vec<String> = choice_options(column)
            .iter()
            .enumerate()
            .map(|(k, (value, label))| {
                let label_id = derived_id(&table.metadata_id, 0x10_0000 + index * 0x1000 + k);
                let localized = format!(
                    "{{\"Label\":{},\"LanguageCode\":1033,\"IsManaged\":true,\"MetadataId\":{},\"HasChanged\":null}}",
                    json_str(label),
                    json_str(&label_id)
                );
                format!(
                    "{{\"Value\":{value},\"Color\":null,\"IsManaged\":true,\"ExternalValue\":null,\"ParentValues\":[],\"Tag\":null,\"IsHidden\":false,\"MetadataId\":null,\"HasChanged\":null,\"Label\":{{\"LocalizedLabels\":[{localized}],\"UserLocalizedLabel\":{localized}}},\"Description\":{{\"LocalizedLabels\":[],\"UserLocalizedLabel\":null}}}}"
                )
            })
            .collect();
        fields.push(format!("\"Options\":[{}]", options.join(",")));
    }
    out.push('{');
    out.push_str(&fields.join(","));
    out.push('}');
}

fn type_of(segment: &str, row: &Row) -> Option<String> {
    (segment == "Attributes").then(|| {
        let ty = row.cells[4].as_deref().unwrap_or("String");
        format!("#Microsoft.Dynamics.CRM.{ty}AttributeMetadata")
    })
}

/// `(LogicalName='x')…` → (`LogicalName='x'`, rest after `)`); a `)` inside quotes is data.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix('(')?;
    let mut quoted = false;
    for (i, c) in inner.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ')' if !quoted => return Some((&inner[..i], &inner[i + 1..])),
            _ => {}
        }
    }
    None
}

/// `Attributes(LogicalName='a/b')/Cast` → (`Attributes(LogicalName='a/b')`, `Cast`): the first
/// `/` outside quotes.
fn split_segment(text: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '/' if !quoted => return (&text[..i], &text[i + 1..]),
            _ => {}
        }
    }
    (text, "")
}

fn split_key_at_name(segment: &str) -> Option<(&str, &str)> {
    let open = segment.find('(')?;
    let (key, rest) = split_key(&segment[open..])?;
    rest.is_empty().then_some((&segment[..open], key))
}

/// The value of `Name='value'` (or a bare value): quotes removed, `''` read as `'`.
fn key_value(key: &str) -> String {
    let value = key.split_once('=').map(|(_, v)| v).unwrap_or(key).trim();
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => value.to_owned(),
    }
}

/// Finds a row by `Name='value'` (case-sensitive name, value compared case-insensitively) or a
/// bare MetadataId.
fn find_by_key<'r>(
    def: &TableDef,
    rows: &'r [Row],
    key: &str,
    default_name: &str,
) -> Option<&'r Row> {
    let name = match key.split_once('=') {
        Some((n, _)) => n.trim(),
        None => "MetadataId",
    };
    let name = if name.is_empty() { default_name } else { name };
    let (index, _) = def.column(name)?;
    let value = key_value(key).to_lowercase();
    rows.iter().find(|r| {
        r.cells[index]
            .as_deref()
            .is_some_and(|v| v.to_lowercase() == value)
    })
}

fn single(
    ctx: &ReadCtx,
    def: &TableDef,
    row: &Row,
    context: &str,
    odata_type: Option<String>,
) -> Result<ApiResponse, ApiError> {
    single_with(ctx, def, row, context, odata_type, &[], "")
}

/// One metadata object; `expanded` is the `OptionSet(…)` part of the context and `extra` the
/// expanded properties' JSON (`,"OptionSet":{…}`), appended after the selected properties.
fn single_with(
    ctx: &ReadCtx,
    def: &TableDef,
    row: &Row,
    context: &str,
    odata_type: Option<String>,
    expanded: &[String],
    extra: &str,
) -> Result<ApiResponse, ApiError> {
    let selection = Selection::parse(def, ctx.options.select.as_deref())?;
    let mut body = String::from("{\"@odata.context\":");
    push_json_str(
        &mut body,
        &format!(
            "{}/$metadata#{context}{}/$entity",
            ctx.api_base,
            context_suffix(&selection.context, expanded)
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
    row_json.pop();
    body.push_str(&row_json[1..]);
    body.push_str(extra);
    body.push('}');
    Ok(ApiResponse::json(200, body))
}

/// `(LogicalName,OptionSet(Options))`: the selected and the expanded properties.
fn context_suffix(selection: &str, expanded: &[String]) -> String {
    if expanded.is_empty() {
        return selection.to_owned();
    }
    let selected = selection
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .filter(|s| !s.is_empty());
    let parts: Vec<&str> = selected
        .into_iter()
        .chain(expanded.iter().map(String::as_str))
        .collect();
    format!("({})", parts.join(","))
}

fn collection(
    ctx: &ReadCtx,
    def: &TableDef,
    rows: &[Row],
    context: &str,
    segment: Option<&str>,
) -> Result<ApiResponse, ApiError> {
    collection_with(ctx, def, rows, context, segment, &[], &|_| String::new())
}

/// A metadata collection; `extras` gives each row's expanded properties (see [`single_with`]).
fn collection_with(
    ctx: &ReadCtx,
    def: &TableDef,
    rows: &[Row],
    context: &str,
    segment: Option<&str>,
    expanded: &[String],
    extras: &dyn Fn(&Row) -> String,
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
        &format!(
            "{}/$metadata#{context}{}",
            ctx.api_base,
            context_suffix(&selection.context, expanded)
        ),
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
        let extra = extras(row);
        if !extra.is_empty() {
            body.pop();
            body.push_str(&extra);
            body.push('}');
        }
    }
    body.push_str("]}");
    Ok(ApiResponse::json(200, body))
}
