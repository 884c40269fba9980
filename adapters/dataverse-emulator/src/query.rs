//! Reading: collections (filter, order, page, count), single records, single properties and
//! `/$count`. Pages are built by scanning rows in order and rendering only the page.

use std::cmp::Ordering;
use std::ops::Bound;

use crate::collation::Collation;
use crate::config::CurrencyDef;
use crate::odata::filter::{cell_key, parse_filter, Cmp, Filter};
use crate::odata::options::{Prefer, QueryOptions};
use crate::paging::{braced_upper, decode_skiptoken, encode_skiptoken, Cookie, CookieEntry};
use crate::render::{render_row, RenderOpts, Selection, FORMATTED_VALUE};
use crate::response::{push_json_str, ApiError, ApiResponse};
use crate::store::{Row, Table, TableDef};
use crate::types::{guid_sort_key, parse_guid};

/// `@odata.count` and the total-record-count annotation never exceed this.
pub(crate) const COUNT_CAP: usize = 5000;
/// Page size when none is asked for.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 5000;

const TOTAL_COUNT: &str = "Microsoft.Dynamics.CRM.totalrecordcount";
const TOTAL_COUNT_EXCEEDED: &str = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded";

/// What reading needs from the request and the server.
pub(crate) struct ReadCtx<'a> {
    /// `{url}/api/data/v9.2`
    pub api_base: &'a str,
    pub collation: Collation,
    pub page_size_max: usize,
    pub currency: &'a CurrencyDef,
    pub prefer: &'a Prefer,
    pub options: &'a QueryOptions,
}

impl ReadCtx<'_> {
    fn render_opts(&self, etag: bool) -> RenderOpts<'_> {
        RenderOpts {
            etag,
            formatted: self.prefer.wants_annotation(FORMATTED_VALUE),
            currency: self.currency,
            odata_type: None,
        }
    }

    fn filter(&self, def: &TableDef) -> Result<Option<Filter>, ApiError> {
        self.options
            .filter
            .as_deref()
            .map(|text| parse_filter(text, def, &self.options.aliases, self.collation))
            .transpose()
    }

    /// `Preference-Applied` value for the preferences this response honours.
    fn preference_applied(&self, page_size: Option<usize>) -> Option<String> {
        let mut applied = Vec::new();
        if let Some(raw) = &self.prefer.annotations_raw {
            applied.push(format!("odata.include-annotations=\"{raw}\""));
        }
        if let Some(size) = page_size {
            applied.push(format!("odata.maxpagesize={size}"));
        }
        (!applied.is_empty()).then(|| applied.join(","))
    }
}

/// One `$orderby` item.
#[derive(Debug, Clone, Copy)]
struct OrderItem {
    col: usize,
    descending: bool,
}

fn parse_orderby(def: &TableDef, text: Option<&str>) -> Result<Vec<OrderItem>, ApiError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|item| {
            let mut words = item.split_whitespace();
            let name = words.next().unwrap_or("");
            let descending = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Syntax error at position {} in '{text}'.",
                        text.find(other).unwrap_or(0)
                    )))
                }
            };
            if words.next().is_some() {
                return Err(ApiError::bad_request(format!(
                    "Syntax error in $orderby '{text}'."
                )));
            }
            let (col, _) = def
                .column(name)
                .ok_or_else(|| ApiError::unknown_property(&def.type_name(), name))?;
            Ok(OrderItem { col, descending })
        })
        .collect()
}

/// Sort key of a row under `$orderby`: one key per item, then the primary key's sort key.
type SortKey = (Vec<Option<Cmp>>, String);

fn compare_keys(order: &[OrderItem], a: &SortKey, b: &SortKey) -> Ordering {
    for (i, item) in order.iter().enumerate() {
        // SQL Server puts nulls first in ascending order.
        let ordering = match (&a.0[i], &b.0[i]) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.compare(y).unwrap_or(Ordering::Equal),
        };
        let ordering = if item.descending {
            ordering.reverse()
        } else {
            ordering
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    a.1.cmp(&b.1)
}

fn row_sort_key(def: &TableDef, order: &[OrderItem], row: &Row, collation: Collation) -> SortKey {
    let values = order
        .iter()
        .map(|item| {
            row.cells[item.col]
                .as_deref()
                .and_then(|text| cell_key(def.columns[item.col].ty, text, collation))
        })
        .collect();
    (values, guid_sort_key(&row.id))
}

/// The position a cookie points after, as a sort key.
fn cookie_sort_key(
    def: &TableDef,
    order: &[OrderItem],
    cookie: &Cookie,
    collation: Collation,
) -> Result<SortKey, ApiError> {
    let invalid = || ApiError::bad_request("The $skiptoken does not match this query.");
    let (pk_name, pk_value) = cookie.last.last().ok_or_else(invalid)?;
    if pk_name != &def.primary_id {
        return Err(invalid());
    }
    let pk = pk_value
        .as_deref()
        .and_then(parse_guid)
        .ok_or_else(invalid)?;
    if cookie.last.len() != order.len() + 1 {
        return Err(invalid());
    }
    let mut values = Vec::new();
    for (item, (name, value)) in order.iter().zip(&cookie.last) {
        let column = &def.columns[item.col];
        if name != &column.name {
            return Err(invalid());
        }
        values.push(
            value
                .as_deref()
                .and_then(|text| cell_key(column.ty, text, collation)),
        );
    }
    Ok((values, guid_sort_key(&pk)))
}

/// `GET <set>`.
pub(crate) fn read_collection(
    ctx: &ReadCtx,
    table: &Table,
    entity_set: &str,
) -> Result<ApiResponse, ApiError> {
    let def = &table.def;
    let selection = Selection::parse(def, ctx.options.select.as_deref())?;
    let filter = ctx.filter(def)?;
    let order = parse_orderby(def, ctx.options.orderby.as_deref())?;
    let count_requested = ctx.options.count_requested()?;
    let top = ctx.options.top_value()?;
    let cookie = ctx
        .options
        .skiptoken
        .as_deref()
        .map(decode_skiptoken)
        .transpose()?;
    let page_cap = ctx.page_size_max.max(1);
    let applied_page_size = ctx.prefer.max_page_size.map(|n| n.min(page_cap));
    let page_size = applied_page_size.unwrap_or(DEFAULT_PAGE_SIZE.min(page_cap));
    // `$top` is ignored when a page size is asked for; otherwise it caps the rows (no nextLink).
    let effective_top = if applied_page_size.is_some() {
        None
    } else {
        top
    };
    let limit = effective_top.map_or(page_size, |t| t.min(page_size));
    let passes = |row: &Row| filter.as_ref().is_none_or(|f| f.matches(&row.cells));

    let mut page: Vec<&Row> = Vec::with_capacity(limit.min(8192) + 1);
    if order.is_empty() {
        let start = match &cookie {
            Some(c) => Bound::Excluded(cookie_sort_key(def, &order, c, ctx.collation)?.1),
            None => Bound::Unbounded,
        };
        for row in table.rows.range((start, Bound::Unbounded)).map(|(_, r)| r) {
            if page.len() > limit {
                break;
            }
            if passes(row) {
                page.push(row);
            }
        }
    } else {
        let mut matching: Vec<(SortKey, &Row)> = table
            .rows
            .values()
            .filter(|row| passes(row))
            .map(|row| (row_sort_key(def, &order, row, ctx.collation), row))
            .collect();
        matching.sort_by(|a, b| compare_keys(&order, &a.0, &b.0));
        let start = match &cookie {
            Some(c) => {
                let after = cookie_sort_key(def, &order, c, ctx.collation)?;
                matching.partition_point(|(key, _)| {
                    compare_keys(&order, key, &after) != Ordering::Greater
                })
            }
            None => 0,
        };
        page.extend(matching[start..].iter().take(limit + 1).map(|(_, r)| *r));
    }
    let more = page.len() > limit;
    page.truncate(limit);

    let mut body = String::with_capacity(64 + page.len() * 256);
    body.push_str("{\"@odata.context\":");
    push_json_str(
        &mut body,
        &format!(
            "{}/$metadata#{entity_set}{}",
            ctx.api_base, selection.context
        ),
    );
    if count_requested || ctx.prefer.wants_annotation(TOTAL_COUNT) {
        let total = if count_requested {
            table
                .rows
                .values()
                .filter(|row| passes(row))
                .take(COUNT_CAP + 1)
                .count()
        } else {
            0
        };
        if count_requested {
            body.push_str(&format!(",\"@odata.count\":{}", total.min(COUNT_CAP)));
        }
        if ctx.prefer.wants_annotation(TOTAL_COUNT) {
            let shown = if count_requested {
                total.min(COUNT_CAP) as i64
            } else {
                -1
            };
            body.push_str(&format!(",\"@{TOTAL_COUNT}\":{shown}"));
        }
        if ctx.prefer.wants_annotation(TOTAL_COUNT_EXCEEDED) {
            body.push_str(&format!(
                ",\"@{TOTAL_COUNT_EXCEEDED}\":{}",
                count_requested && total > COUNT_CAP
            ));
        }
    }
    body.push_str(",\"value\":[");
    let opts = ctx.render_opts(true);
    for (i, row) in page.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        render_row(&mut body, def, row, &selection, &opts);
    }
    body.push(']');
    if more && effective_top.is_none() {
        let next_page = cookie.as_ref().map_or(2, |c| c.page_number + 1);
        let (first, last) = (page[0], page[page.len() - 1]);
        let mut entries: Vec<CookieEntry> = order
            .iter()
            .map(|item| CookieEntry {
                name: &def.columns[item.col].name,
                last: last.cells[item.col].as_deref(),
                first: first.cells[item.col].as_deref(),
            })
            .collect();
        let (last_pk, first_pk) = (braced_upper(&last.id), braced_upper(&first.id));
        entries.push(CookieEntry {
            name: &def.primary_id,
            last: Some(&last_pk),
            first: Some(&first_pk),
        });
        let kept = ctx.options.raw_without_skiptoken();
        let separator = if kept.is_empty() { "" } else { "&" };
        let link = format!(
            "{}/{entity_set}?{kept}{separator}$skiptoken={}",
            ctx.api_base,
            encode_skiptoken(next_page, &entries)
        );
        body.push_str(",\"@odata.nextLink\":");
        push_json_str(&mut body, &link);
    }
    body.push('}');
    let mut response = ApiResponse::json(200, body);
    if let Some(applied) = ctx.preference_applied(applied_page_size) {
        response = response.with_header("Preference-Applied", applied);
    }
    Ok(response)
}

/// `GET <set>(<key>)`.
pub(crate) fn read_record(
    ctx: &ReadCtx,
    table: &Table,
    entity_set: &str,
    row: &Row,
    if_none_match: Option<&str>,
) -> Result<ApiResponse, ApiError> {
    let selection = Selection::parse(&table.def, ctx.options.select.as_deref())?;
    if ctx.options.filter.is_some() || ctx.options.orderby.is_some() || ctx.options.top.is_some() {
        return Err(ApiError::bad_request(
            "Query options $filter, $orderby and $top are not allowed when reading a single record.",
        ));
    }
    let etag = format!("W/\"{}\"", row.version);
    if if_none_match.is_some_and(|v| v.trim() == etag) {
        return Ok(ApiResponse::empty(304).with_header("ETag", etag));
    }
    Ok(entity_response(
        ctx, table, entity_set, row, &selection, 200,
    ))
}

/// A single record as a response body (`…/$entity` context) with its `ETag`.
pub(crate) fn entity_response(
    ctx: &ReadCtx,
    table: &Table,
    entity_set: &str,
    row: &Row,
    selection: &Selection,
    status: u16,
) -> ApiResponse {
    let mut body = String::from("{\"@odata.context\":");
    push_json_str(
        &mut body,
        &format!(
            "{}/$metadata#{entity_set}{}/$entity",
            ctx.api_base, selection.context
        ),
    );
    body.push(',');
    let mut row_json = String::new();
    render_row(
        &mut row_json,
        &table.def,
        row,
        selection,
        &ctx.render_opts(true),
    );
    body.push_str(&row_json[1..]);
    let mut response =
        ApiResponse::json(status, body).with_header("ETag", format!("W/\"{}\"", row.version));
    if let Some(applied) = ctx.preference_applied(None) {
        response = response.with_header("Preference-Applied", applied);
    }
    response
}

/// `GET <set>(<key>)/<column>`: the value, or 204 when it is null.
pub(crate) fn read_property(
    ctx: &ReadCtx,
    table: &Table,
    entity_set: &str,
    row: &Row,
    column: &str,
) -> Result<ApiResponse, ApiError> {
    let (index, col) = table
        .def
        .column(column)
        .ok_or_else(|| ApiError::unknown_property(&table.def.type_name(), column))?;
    let Some(value) = row.cells[index].as_deref() else {
        return Ok(ApiResponse::empty(204));
    };
    let mut body = String::from("{\"@odata.context\":");
    push_json_str(
        &mut body,
        &format!(
            "{}/$metadata#{entity_set}({})/{column}",
            ctx.api_base, row.id
        ),
    );
    body.push_str(",\"value\":");
    crate::render::push_value(&mut body, col.ty, Some(value));
    body.push('}');
    Ok(ApiResponse::json(200, body))
}

/// `GET <set>/$count`: the number of (filtered) rows as text/plain, capped at 5000.
pub(crate) fn count_rows(ctx: &ReadCtx, table: &Table) -> Result<ApiResponse, ApiError> {
    let filter = ctx.filter(&table.def)?;
    let count = table
        .rows
        .values()
        .filter(|row| filter.as_ref().is_none_or(|f| f.matches(&row.cells)))
        .take(COUNT_CAP)
        .count();
    Ok(ApiResponse::text(200, count.to_string()))
}
