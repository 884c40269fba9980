//! [`Controls`]: the thread-safe handle tests and the binary use to flip switches (admin mode,
//! collation, token lifetime, service protection), inject faults, read statistics and the
//! request log, and set up table rows while the emulator serves.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::collation::Collation;
use crate::error::EmulatorError;
use crate::faults::{Fault, FaultWhen};
use crate::state::{lock, Shared};
use crate::throttle::ServiceProtection;
use crate::types::{AttrType, Family};
use crate::write::setup_value;

/// Counters since start (or the last [`Controls::reset_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Web API (`/api/data/…`) requests received; a `$batch` counts once. Also the number of
    /// the latest request, which [`FaultWhen::RequestNumber`] refers to.
    pub requests: u64,
    /// Parts processed inside `$batch` requests.
    pub batch_parts: u64,
    /// Token endpoint requests received.
    pub token_requests: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Responses by HTTP status (Web API and token requests; batch parts not included).
    pub by_status: BTreeMap<u16, u64>,
    /// 429 answers (service protection or injected), batch parts included.
    pub throttled: u64,
    /// Injected faults applied (delays included), batch parts and token requests included.
    pub faults_injected: u64,
}

/// What kind of request a log entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A Web API request (`/api/data/…`).
    WebApi,
    /// One part of a `$batch`.
    BatchPart,
    /// A token request.
    Token,
    /// Anything else (answered 404).
    Other,
}

/// One logged request. Secrets and tokens are never recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Kind of request.
    pub kind: RequestKind,
    /// HTTP method.
    pub method: String,
    /// Path and query exactly as received (for batch parts: the part's URL).
    pub path_and_query: String,
    /// Every `Prefer` header value.
    pub prefer: Vec<String>,
    /// `If-Match`.
    pub if_match: Option<String>,
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
    /// Whether an `Authorization` header was present.
    pub authorization_present: bool,
    /// `OData-Version`.
    pub odata_version: Option<String>,
    /// `OData-MaxVersion`.
    pub odata_max_version: Option<String>,
    /// `Accept`.
    pub accept: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// Status sent (200 for a dropped connection, whose body was cut).
    pub status: u16,
}

/// Switches, fault injection, statistics and test setup of a running emulator.
#[derive(Debug, Clone)]
pub struct Controls {
    pub(crate) shared: Arc<Shared>,
}

impl Controls {
    /// The environment URL, e.g. `http://127.0.0.1:8181`.
    pub fn url(&self) -> String {
        self.shared.url.clone()
    }

    /// Turns administration mode on or off.
    pub fn set_admin_mode(&self, on: bool) {
        lock(&self.shared.settings).admin_mode = on;
    }

    /// Changes the string collation (`CI_AI` / `CI_AS`).
    pub fn set_collation(&self, collation: Collation) {
        lock(&self.shared.settings).collation = collation;
    }

    /// Lifetime (`expires_in`) of tokens issued from now on.
    pub fn set_token_lifetime(&self, secs: u64) {
        lock(&self.shared.settings).token_lifetime_secs = secs;
    }

    /// Makes every token issued so far invalid (the next Web API call gets 401).
    pub fn expire_all_tokens(&self) {
        lock(&self.shared.tokens).expire_all();
    }

    /// Enables service-protection limits (windows start empty).
    pub fn set_service_protection(&self, limits: ServiceProtection) {
        lock(&self.shared.settings).service_protection = Some(limits);
        lock(&self.shared.throttle).reset();
    }

    /// Disables service-protection limits.
    pub fn disable_service_protection(&self) {
        lock(&self.shared.settings).service_protection = None;
    }

    /// Injects a fault into Web API requests (not the token endpoint).
    pub fn inject(&self, fault: Fault, when: FaultWhen) {
        lock(&self.shared.faults).api.add(fault, when);
    }

    /// Injects a fault into `$batch` parts; parts are numbered from 1 across all batches.
    /// A dropped connection aborts the whole batch response.
    pub fn inject_batch_part(&self, fault: Fault, when: FaultWhen) {
        lock(&self.shared.faults).batch_parts.add(fault, when);
    }

    /// Injects a fault into token requests (numbered from 1).
    pub fn inject_token_fault(&self, fault: Fault, when: FaultWhen) {
        lock(&self.shared.faults).token.add(fault, when);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        let mut faults = lock(&self.shared.faults);
        faults.api.clear();
        faults.batch_parts.clear();
        faults.token.clear();
    }

    /// Logs one line per request to stderr (method, path, status, ms).
    pub fn set_log_to_stderr(&self, on: bool) {
        lock(&self.shared.settings).log_to_stderr = on;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// Every request received since start or the last reset.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }

    /// Clears counters (request numbering restarts at 1), the request log and the
    /// service-protection windows.
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = Stats::default();
        lock(&self.shared.log).clear();
        lock(&self.shared.throttle).reset();
    }

    /// The organization's base currency id (`_basecurrencyid_value`).
    pub fn base_currency_id(&self) -> String {
        self.shared.read_store().base_currency_id.clone()
    }

    /// The current rows of a table as JSON objects (numbers parsed by serde_json; use
    /// [`Controls::table_cells`] for exact text) plus `@odata.etag`.
    pub fn table_rows(&self, entity_set: &str) -> Result<Vec<Map<String, Value>>, EmulatorError> {
        let store = self.shared.read_store();
        let index = store
            .index(entity_set)
            .ok_or_else(|| EmulatorError::UnknownEntitySet(entity_set.to_owned()))?;
        let table = &store.tables[index];
        Ok(table
            .rows
            .values()
            .map(|row| {
                let mut map = Map::new();
                map.insert(
                    "@odata.etag".to_owned(),
                    Value::String(format!("W/\"{}\"", row.version)),
                );
                for (column, cell) in table.def.columns.iter().zip(&row.cells) {
                    let value = match (cell, column.ty.family()) {
                        (None, _) => Value::Null,
                        (Some(t), Family::Number | Family::Bool | Family::Json) => {
                            serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.clone()))
                        }
                        (Some(t), _) => Value::String(t.clone()),
                    };
                    map.insert(column.name.clone(), value);
                }
                map
            })
            .collect())
    }

    /// The current rows of a table as exact cell text (`None` = null), in primary-key order.
    pub fn table_cells(
        &self,
        entity_set: &str,
    ) -> Result<Vec<BTreeMap<String, Option<String>>>, EmulatorError> {
        let store = self.shared.read_store();
        let index = store
            .index(entity_set)
            .ok_or_else(|| EmulatorError::UnknownEntitySet(entity_set.to_owned()))?;
        let table = &store.tables[index];
        Ok(table
            .rows
            .values()
            .map(|row| {
                table
                    .def
                    .columns
                    .iter()
                    .zip(&row.cells)
                    .map(|(c, v)| (c.name.clone(), v.clone()))
                    .collect()
            })
            .collect())
    }

    /// Inserts (or replaces, by primary key) rows. Values may be JSON numbers/booleans or
    /// strings; a missing primary key gets a new GUID. Returns the rows' ids.
    pub fn insert_rows(
        &self,
        entity_set: &str,
        rows: Vec<Map<String, Value>>,
    ) -> Result<Vec<String>, EmulatorError> {
        self.store_rows(entity_set, rows, false)
    }

    /// Replaces all rows of a table.
    pub fn set_rows(
        &self,
        entity_set: &str,
        rows: Vec<Map<String, Value>>,
    ) -> Result<Vec<String>, EmulatorError> {
        self.store_rows(entity_set, rows, true)
    }

    fn store_rows(
        &self,
        entity_set: &str,
        rows: Vec<Map<String, Value>>,
        replace_all: bool,
    ) -> Result<Vec<String>, EmulatorError> {
        let mut store = self.shared.write_store();
        let index = store
            .index(entity_set)
            .ok_or_else(|| EmulatorError::UnknownEntitySet(entity_set.to_owned()))?;
        let def = store.tables[index].def.clone();
        let invalid = |message: String| EmulatorError::InvalidRow {
            table: def.logical_name.clone(),
            message,
        };
        // Validate everything first so a bad row changes nothing.
        let mut prepared = Vec::with_capacity(rows.len());
        for map in &rows {
            let mut cells = vec![None; def.columns.len()];
            for (name, value) in map {
                let (i, _) = def
                    .column(name)
                    .ok_or_else(|| invalid(format!("unknown column {name}")))?;
                cells[i] =
                    setup_value(&def, i, value).map_err(|m| invalid(format!("{name}: {m}")))?;
            }
            let id = cells[def.pk_index]
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            cells[def.pk_index] = Some(id.clone());
            prepared.push((id, cells));
        }
        if replace_all {
            store.tables[index].rows.clear();
        }
        let mut ids = Vec::with_capacity(prepared.len());
        for (id, cells) in prepared {
            let mut row = store.blank_row(index, &id);
            for (i, cell) in cells.into_iter().enumerate() {
                let keep_currency = cell.is_none()
                    && def.columns[i].ty == AttrType::Lookup
                    && row.cells[i].is_some();
                if !keep_currency {
                    row.cells[i] = cell;
                }
            }
            row.version = store.next_version();
            store.put_row(index, row);
            ids.push(id);
        }
        Ok(ids)
    }
}
