//! Reading rows into the engine's [`Table`]: a whole table page by page (`$select` of just the
//! needed columns, the integration filter as `$filter`, `Prefer: odata.maxpagesize` on every
//! page, `@odata.nextLink` followed exactly as given), or — for a small selection of local
//! records — only the rows that can match, with `Microsoft.Dynamics.CRM.In` lookups (what BC
//! does record by record, batched).
//!
//! Values are normalised to what the engine compares: JSON strings as text, GUIDs lower-case,
//! numbers exactly as sent (never through `f64`, so money and decimals keep every digit),
//! booleans `true`/`false`, `null` as blank.

use std::borrow::Cow;
use std::collections::BTreeMap;

use coupler_engine::{CouplingSpec, FieldType, Table};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{DataverseError, Result};
use crate::metadata::{AttributeKind, TableInfo};
use crate::odata::{self, encode, guid_order_key};
use crate::session::Session;

/// How the integration side is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadStrategy {
    /// Lookups when they need fewer requests than reading the whole table.
    #[default]
    Auto,
    /// The whole (filtered) table, page by page.
    Bulk,
    /// Only the rows whose match fields hold a value of the local side (`In` lookups).
    Lookup,
}

/// What the reader needs: which table, which columns, which filter.
#[derive(Debug, Clone)]
pub struct ReadRequest<'a> {
    pub table: &'a TableInfo,
    /// The columns the engine needs (key, filter, criteria), in the order the table gets them.
    pub columns: &'a [String],
    /// `column = value` conditions, all of which must hold (pushed down as `$filter`).
    pub filter: &'a [(String, String)],
    /// More `$filter` conditions, all of which must hold: the translation of a table filter
    /// ([`crate::push_down`]), which only ever widens what the caller keeps.
    pub pushed_filter: &'a [String],
}

/// The distinct local values to look up, per integration column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupPlan {
    pub columns: Vec<(String, Vec<String>)>,
}

impl LookupPlan {
    /// The lookups that fetch every integration row that can match a local record at any
    /// priority level, or `None` when lookups cannot promise that (criteria other than text
    /// or code, or none).
    ///
    /// Why this is complete: a candidate at a level satisfies every condition in force there
    /// ([`CouplingSpec::conditions_per_level`]), and a level without conditions has none. So
    /// for each record it is enough to look up, per level, the value of one criterion in
    /// force — and one criterion covers every level where it stays in force (cumulative mode
    /// keeps the phone of level 0 in force at levels 1 and 2: the phone alone is looked up).
    /// Dataverse compares case- and accent-insensitively, a superset of exact equality; the
    /// engine then compares exactly. `None` when a criterion is not text or code, or compares
    /// beyond BC (normalized, fuzzy): those mappings are read in bulk.
    pub fn for_spec(spec: &CouplingSpec, local: &Table) -> Option<LookupPlan> {
        if spec.criteria.is_empty()
            || spec.criteria.iter().any(|c| {
                !matches!(c.field_type, FieldType::Text | FieldType::Code) || c.is_beyond_bc()
            })
        {
            // Normalized and fuzzy comparisons cannot be pushed down to a server query.
            return None;
        }
        let filter: Vec<(usize, &str)> = spec
            .local_filter
            .iter()
            .map(|(c, v)| Some((local.column_index(c)?, v.as_str())))
            .collect::<Option<_>>()?;
        let columns: Vec<usize> = spec
            .criteria
            .iter()
            .map(|c| local.column_index(&c.local_field))
            .collect::<Option<_>>()?;
        // The criteria to look up, by the record's pattern of blank values (few patterns).
        let mut chosen_by_pattern: std::collections::HashMap<u64, Vec<usize>> =
            std::collections::HashMap::new();
        let mut values: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
        for row in 0..local.len() {
            if filter.iter().any(|&(c, v)| local.cell(row, c) != v) {
                continue;
            }
            // Blank as the engine sees it: empty text, or code that is blank once trimmed.
            let value = |i: usize| -> &str {
                let cell = local.cell(row, columns[i]);
                match spec.criteria[i].field_type {
                    FieldType::Code => cell.trim(),
                    _ => cell,
                }
            };
            let pattern = (0..spec.criteria.len())
                .filter(|&i| value(i).is_empty())
                .fold(0u64, |m, i| m | (1 << i));
            let chosen = chosen_by_pattern.entry(pattern).or_insert_with(|| {
                let mut chosen: Vec<usize> = Vec::new();
                for set in spec
                    .conditions_per_level(&|i| pattern & (1 << i) != 0)
                    .into_iter()
                    .flatten()
                {
                    if !set.iter().any(|c| chosen.contains(c)) {
                        chosen.push(set[0]);
                    }
                }
                chosen
            });
            for &i in chosen.iter() {
                let key = match spec.criteria[i].field_type {
                    FieldType::Code => value(i).to_uppercase(),
                    _ => value(i).to_string(),
                };
                values
                    .entry(&spec.criteria[i].integration_field)
                    .or_default()
                    .insert(key);
            }
        }
        Some(LookupPlan {
            columns: values
                .into_iter()
                .map(|(c, v)| (c.to_string(), v.into_iter().collect()))
                .collect(),
        })
    }

    /// Requests the lookups need (one page each, at least).
    pub fn requests(&self, fixed_url_len: usize) -> usize {
        self.columns
            .iter()
            .map(|(column, values)| {
                let refs: Vec<&str> = values.iter().map(String::as_str).collect();
                odata::in_chunks(column, &refs, fixed_url_len).len()
            })
            .sum()
    }
}

/// One page of rows.
#[derive(Deserialize)]
struct Page<'a> {
    #[serde(borrow)]
    value: Vec<BTreeMap<Cow<'a, str>, &'a RawValue>>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

/// The `$select`/`$filter` query of a read, and how each selected column is normalised.
struct Query {
    select: Vec<String>,
    kinds: Vec<AttributeKind>,
    base_filter: Option<String>,
    entity_set: String,
}

impl Query {
    fn new(request: &ReadRequest<'_>, with_primary_id: bool) -> Result<Query> {
        let table = request.table;
        let mut select: Vec<String> = request.columns.to_vec();
        if with_primary_id && !select.contains(&table.primary_id) {
            select.push(table.primary_id.clone());
        }
        let kind = |c: &str| table.column(c).map_or(AttributeKind::Other, |i| i.kind);
        let kinds = select.iter().map(|c| kind(c)).collect();
        let mut conditions = Vec::new();
        for (column, value) in request.filter {
            conditions.push(odata::equals(column, kind(column), value).map_err(|e| {
                DataverseError::Table {
                    request: format!("filter on {}", table.entity_set),
                    message: e.0,
                }
            })?);
        }
        conditions.extend(request.pushed_filter.iter().cloned());
        Ok(Query {
            select,
            kinds,
            base_filter: odata::all_of(&conditions),
            entity_set: table.entity_set.clone(),
        })
    }

    /// `accounts?$select=…&$filter=…` with the extra condition `and`-ed to the filter.
    fn target(&self, extra: Option<&str>) -> String {
        let mut target = format!(
            "{}?$select={}",
            self.entity_set,
            encode(&self.select.join(","))
        );
        let filter = match (&self.base_filter, extra) {
            (Some(base), Some(extra)) => Some(format!("({base}) and ({extra})")),
            (Some(base), None) => Some(base.clone()),
            (None, Some(extra)) => Some(extra.to_string()),
            (None, None) => None,
        };
        if let Some(f) = filter {
            target.push_str("&$filter=");
            target.push_str(&encode(&f));
        }
        target
    }

    /// Reads every page of `target`, handing each row's cells (in `select` order) to `row`.
    fn pages(
        &self,
        session: &Session,
        target: String,
        row: &mut dyn FnMut(Vec<Cow<'_, str>>) -> Result<()>,
    ) -> Result<()> {
        let prefer = format!("odata.maxpagesize={}", session.page_size());
        let mut next = Some(target);
        while let Some(target) = next.take() {
            let answer = session.get(&target, Some(&prefer))?;
            let request = format!("GET {}", short(&target));
            let page: Page<'_> =
                serde_json::from_slice(&answer.body).map_err(|e| DataverseError::Decode {
                    request: request.clone(),
                    message: format!("not a page of rows: {e}"),
                })?;
            for values in &page.value {
                let mut cells = Vec::with_capacity(self.select.len());
                for (column, kind) in self.select.iter().zip(&self.kinds) {
                    let raw = values.get(column.as_str()).copied();
                    cells.push(cell_text(raw, *kind).map_err(|message| {
                        DataverseError::Decode {
                            request: request.clone(),
                            message: format!("column {column}: {message}"),
                        }
                    })?);
                }
                row(cells)?;
            }
            next = page.next_link;
        }
        Ok(())
    }
}

fn short(target: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(target).decode_utf8_lossy();
    decoded.chars().take(200).collect()
}

/// A JSON value as the engine's cell text.
fn cell_text(raw: Option<&RawValue>, kind: AttributeKind) -> Result<Cow<'_, str>, String> {
    let Some(raw) = raw else {
        return Ok(Cow::Borrowed(""));
    };
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => {
            let s: Cow<'_, str> = serde_json::from_str(text).map_err(|e| e.to_string())?;
            Ok(
                if kind == AttributeKind::Guid && s.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(s.to_ascii_lowercase())
                } else {
                    s
                },
            )
        }
        Some(b'n') if text == "null" => Ok(Cow::Borrowed("")),
        Some(b't') if text == "true" => Ok(Cow::Borrowed("true")),
        Some(b'f') if text == "false" => Ok(Cow::Borrowed("false")),
        Some(b'-' | b'0'..=b'9') => Ok(Cow::Borrowed(text)),
        _ => Err(format!(
            "unexpected value {}",
            text.chars().take(40).collect::<String>()
        )),
    }
}

fn table_error(request: &ReadRequest<'_>, e: impl std::fmt::Display) -> DataverseError {
    DataverseError::Table {
        request: format!("reading {}", request.table.entity_set),
        message: e.to_string(),
    }
}

/// Reads the whole (filtered) table. `progress` gets the number of rows read so far.
pub fn read_all(
    session: &Session,
    request: &ReadRequest<'_>,
    progress: &dyn Fn(u64),
) -> Result<Table> {
    let query = Query::new(request, false)?;
    let mut table = Table::new(request.table.entity_set.clone(), request.columns.to_vec())
        .map_err(|e| table_error(request, e))?;
    let mut rows = 0u64;
    query.pages(session, query.target(None), &mut |cells| {
        rows += 1;
        table
            .push_row(rows, cells.iter().map(|c| c.as_ref()))
            .map_err(|e| table_error(request, e))?;
        if rows.is_multiple_of(5000) {
            progress(rows);
        }
        Ok(())
    })?;
    progress(rows);
    Ok(table)
}

/// Reads only the rows the lookups find, deduplicated, in Dataverse's default (primary key)
/// order, so the table is the matching part of what [`read_all`] would return, in the same
/// order.
pub fn read_lookups(
    session: &Session,
    request: &ReadRequest<'_>,
    plan: &LookupPlan,
    progress: &dyn Fn(u64),
) -> Result<Table> {
    let query = Query::new(request, true)?;
    let primary = query
        .select
        .iter()
        .position(|c| c == &request.table.primary_id)
        .expect("the query selects the primary id");
    let width = request.columns.len();
    let mut found: BTreeMap<(u8, [String; 5]), Vec<String>> = BTreeMap::new();
    let fixed = session.api_base().len() + query.target(None).len() + 64;
    for (column, values) in &plan.columns {
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        for chunk in odata::in_chunks(column, &refs, fixed) {
            query.pages(session, query.target(Some(&chunk)), &mut |cells| {
                let key = guid_order_key(&cells[primary]);
                found
                    .entry(key)
                    .or_insert_with(|| cells[..width].iter().map(|c| c.to_string()).collect());
                Ok(())
            })?;
            progress(found.len() as u64);
        }
    }
    let mut table = Table::new(request.table.entity_set.clone(), request.columns.to_vec())
        .map_err(|e| table_error(request, e))?;
    for (n, cells) in found.values().enumerate() {
        table
            .push_row(n as u64 + 1, cells.iter().map(String::as_str))
            .map_err(|e| table_error(request, e))?;
    }
    Ok(table)
}

/// Rows in the table per Dataverse's `RetrieveTotalRecordCount` (a snapshot up to a day old),
/// or `None` when the server does not say.
pub fn total_rows(session: &Session, logical_name: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "EntityRecordCountCollection")]
        collection: Counts,
    }
    #[derive(Deserialize)]
    struct Counts {
        #[serde(rename = "Keys")]
        keys: Vec<String>,
        #[serde(rename = "Values")]
        values: Vec<serde_json::Value>,
    }
    let target = format!(
        "RetrieveTotalRecordCount(EntityNames={})",
        encode(&format!("['{}']", logical_name.replace('\'', "''")))
    );
    let answer = session.get(&target, None).ok()?;
    let parsed: Answer = serde_json::from_slice(&answer.body).ok()?;
    let i = parsed
        .collection
        .keys
        .iter()
        .position(|k| k == logical_name)?;
    parsed.collection.values.get(i)?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn values_are_normalised_exactly() {
        let r = raw(r#""A\"b""#);
        assert_eq!(cell_text(Some(&r), AttributeKind::Text).unwrap(), "A\"b");
        let r = raw(r#""7EB6-X""#);
        assert_eq!(cell_text(Some(&r), AttributeKind::Guid).unwrap(), "7eb6-x");
        assert_eq!(cell_text(Some(&r), AttributeKind::Text).unwrap(), "7EB6-X");
        let r = raw("20000.0000");
        assert_eq!(
            cell_text(Some(&r), AttributeKind::Number).unwrap(),
            "20000.0000"
        );
        let r = raw("12345678901234567890.123456789");
        assert_eq!(
            cell_text(Some(&r), AttributeKind::Number).unwrap(),
            "12345678901234567890.123456789"
        );
        assert_eq!(
            cell_text(Some(&raw("null")), AttributeKind::Text).unwrap(),
            ""
        );
        assert_eq!(cell_text(None, AttributeKind::Text).unwrap(), "");
        assert_eq!(
            cell_text(Some(&raw("true")), AttributeKind::Boolean).unwrap(),
            "true"
        );
        assert!(cell_text(Some(&raw("{}")), AttributeKind::Text).is_err());
    }

    #[test]
    fn lookup_plans_cover_text_criteria_only() {
        use coupler_engine::{MatchCriterion, PriorityMode};
        let local = Table::from_rows(
            "customers.csv",
            &["No.", "Name", "Phone", "Blocked"],
            &[
                vec!["C1", "Adatum", "", ""],
                vec!["C2", "adatum", "555", ""],
                vec!["C3", "Fabrikam", "556", "Yes"],
                vec!["C4", "  ", "555", ""],
            ],
        )
        .unwrap();
        let criterion = |local: &str, integration: &str, priority, field_type| MatchCriterion {
            local_field: local.into(),
            integration_field: integration.into(),
            field_type,
            priority,
            case_sensitive: false,
            ..MatchCriterion::default()
        };
        let mut spec = CouplingSpec {
            mapping_name: "CUSTOMER".into(),
            local_caption: "Customer".into(),
            integration_caption: "Account".into(),
            integration_source: "accounts".into(),
            local_key: "No.".into(),
            integration_key: "accountid".into(),
            criteria: vec![
                criterion("Phone", "telephone1", 0, FieldType::Text),
                criterion("Name", "name", 1, FieldType::Text),
            ],
            priority_mode: PriorityMode::Cumulative,
            collation: coupler_engine::Collation::Exact,
            local_filter: vec![("Blocked".into(), String::new())],
            integration_filter: vec![],
        };
        let plan = LookupPlan::for_spec(&spec, &local).unwrap();
        // C1 has no phone: its name; C2 and C4: their phone covers both levels; C3 is
        // filtered out.
        assert_eq!(
            plan.columns,
            vec![
                ("name".to_string(), vec!["Adatum".to_string()]),
                ("telephone1".to_string(), vec!["555".to_string()]),
            ]
        );
        assert_eq!(plan.requests(100), 2);
        // Independent mode: each level on its own, so names too (spaces are a value).
        spec.priority_mode = PriorityMode::Independent;
        let plan = LookupPlan::for_spec(&spec, &local).unwrap();
        assert_eq!(
            plan.columns[0],
            (
                "name".to_string(),
                vec!["  ".to_string(), "Adatum".to_string(), "adatum".to_string()]
            )
        );
        spec.priority_mode = PriorityMode::Cumulative;
        spec.criteria[0].field_type = FieldType::Integer;
        assert!(LookupPlan::for_spec(&spec, &local).is_none());
        spec.criteria.clear();
        assert!(LookupPlan::for_spec(&spec, &local).is_none());
    }
}
