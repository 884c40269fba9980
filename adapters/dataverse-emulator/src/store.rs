//! The in-memory tables: schema ([`TableDef`]), rows keyed by the primary key's SQL Server
//! `uniqueidentifier` sort key (so the default order and "continue after the last key" paging
//! are a B-tree range scan), per-row versions for etags, and an undo log that makes `$batch`
//! change sets atomic. Built-in `organizations` and `transactioncurrencies` tables come from
//! the `[currency]` configuration.

use std::collections::{BTreeMap, HashMap};

use crate::config::{CurrencyDef, EmulatorConfig, KeyConfig, TableConfig};
use crate::error::EmulatorError;
use crate::types::{guid_sort_key, normalize_cell, parse_guid, AttrType};

/// Column added to every table that has Money columns.
pub(crate) const CURRENCY_COLUMN: &str = "_transactioncurrencyid_value";

/// One column.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub ty: AttrType,
    pub precision: Option<u32>,
    pub captions: BTreeMap<String, String>,
}

/// A table's schema.
#[derive(Debug, Clone)]
pub(crate) struct TableDef {
    pub logical_name: String,
    pub entity_set: String,
    pub primary_id: String,
    pub primary_name: Option<String>,
    pub columns: Vec<Column>,
    pub col_index: HashMap<String, usize>,
    pub pk_index: usize,
    pub keys: Vec<KeyConfig>,
    pub metadata_id: String,
}

impl TableDef {
    pub(crate) fn new(
        logical_name: &str,
        entity_set: &str,
        primary_id: &str,
        primary_name: Option<&str>,
        columns: Vec<Column>,
    ) -> TableDef {
        let col_index = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect::<HashMap<_, _>>();
        let pk_index = col_index.get(primary_id).copied().unwrap_or(0);
        TableDef {
            logical_name: logical_name.to_owned(),
            entity_set: entity_set.to_owned(),
            primary_id: primary_id.to_owned(),
            primary_name: primary_name.map(str::to_owned),
            columns,
            col_index,
            pk_index,
            keys: Vec::new(),
            metadata_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// `Microsoft.Dynamics.CRM.<logical name>`, as used in error messages.
    pub(crate) fn type_name(&self) -> String {
        format!("Microsoft.Dynamics.CRM.{}", self.logical_name)
    }

    pub(crate) fn column(&self, name: &str) -> Option<(usize, &Column)> {
        self.col_index.get(name).map(|i| (*i, &self.columns[*i]))
    }

    pub(crate) fn has_money(&self) -> bool {
        self.columns.iter().any(|c| c.ty == AttrType::Money)
    }
}

/// One row: the lower-case primary key, its version (etag) and one cell per column.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: String,
    pub version: u64,
    pub cells: Vec<Option<String>>,
}

/// A table with its rows in primary-key order.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub def: TableDef,
    pub rows: BTreeMap<String, Row>,
}

impl Table {
    pub(crate) fn get(&self, id: &str) -> Option<&Row> {
        self.rows.get(&guid_sort_key(id))
    }
}

/// An undo entry: the row as it was before a write inside a change set.
#[derive(Debug)]
struct Undo {
    table: usize,
    key: String,
    previous: Option<Row>,
}

/// All tables.
#[derive(Debug)]
pub(crate) struct Store {
    pub tables: Vec<Table>,
    by_set: HashMap<String, usize>,
    by_logical: HashMap<String, usize>,
    version: u64,
    undo: Option<Vec<Undo>>,
    pub base_currency_id: String,
    pub organization_id: String,
    pub base_currency: CurrencyDef,
}

impl Store {
    /// Loads the configured tables (reading their CSV files) and adds the built-in ones.
    pub(crate) fn from_config(config: &EmulatorConfig) -> Result<Store, EmulatorError> {
        let mut currency_ids = Vec::new();
        for currency in &config.currency.currencies {
            let id = match &currency.id {
                Some(id) => parse_guid(id).ok_or_else(|| {
                    EmulatorError::Config(format!("currency {}: invalid id '{id}'", currency.iso))
                })?,
                None => uuid::Uuid::new_v4().to_string(),
            };
            currency_ids.push(id);
        }
        let base_pos = config
            .currency
            .currencies
            .iter()
            .position(|c| c.iso.eq_ignore_ascii_case(&config.currency.base))
            .ok_or_else(|| {
                EmulatorError::Config(format!(
                    "base currency {} is not listed in [[currency.currencies]]",
                    config.currency.base
                ))
            })?;
        let mut store = Store {
            tables: Vec::new(),
            by_set: HashMap::new(),
            by_logical: HashMap::new(),
            version: 1_000_000,
            undo: None,
            base_currency_id: currency_ids[base_pos].clone(),
            organization_id: uuid::Uuid::new_v4().to_string(),
            base_currency: config.currency.currencies[base_pos].clone(),
        };
        for table in &config.tables {
            let loaded = load_table(config, table, &store.base_currency_id, &mut store.version)?;
            store.add_table(loaded)?;
        }
        if store.index("organizations").is_none() {
            let org = organization_table(&store.organization_id, &store.base_currency_id);
            store.add_table(org)?;
        }
        if store.index("transactioncurrencies").is_none() {
            let currencies = currency_table(&config.currency.currencies, &currency_ids);
            store.add_table(currencies)?;
        }
        let mut version = store.version;
        for table in &mut store.tables {
            for row in table.rows.values_mut() {
                if row.version == 0 {
                    version += 1;
                    row.version = version;
                }
            }
        }
        store.version = version;
        Ok(store)
    }

    fn add_table(&mut self, table: Table) -> Result<(), EmulatorError> {
        if self.by_set.contains_key(&table.def.entity_set)
            || self.by_logical.contains_key(&table.def.logical_name)
        {
            return Err(EmulatorError::Config(format!(
                "table {} / {} is configured twice",
                table.def.logical_name, table.def.entity_set
            )));
        }
        let index = self.tables.len();
        self.by_set.insert(table.def.entity_set.clone(), index);
        self.by_logical
            .insert(table.def.logical_name.clone(), index);
        self.tables.push(table);
        Ok(())
    }

    /// Index of a table by entity set name (case-sensitive, like Dataverse).
    pub(crate) fn index(&self, entity_set: &str) -> Option<usize> {
        self.by_set.get(entity_set).copied()
    }

    /// Index of a table by logical name.
    pub(crate) fn index_by_logical(&self, logical_name: &str) -> Option<usize> {
        self.by_logical.get(logical_name).copied()
    }

    /// A fresh row version (global and increasing, like Dataverse's versionnumber).
    pub(crate) fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// Inserts or replaces a row, recording the previous state while a change set is open.
    pub(crate) fn put_row(&mut self, table: usize, row: Row) {
        let key = guid_sort_key(&row.id);
        let previous = self.tables[table].rows.insert(key.clone(), row);
        if let Some(undo) = &mut self.undo {
            undo.push(Undo {
                table,
                key,
                previous,
            });
        }
    }

    /// Removes a row, recording it while a change set is open.
    pub(crate) fn remove_row(&mut self, table: usize, id: &str) -> Option<Row> {
        let key = guid_sort_key(id);
        let previous = self.tables[table].rows.remove(&key);
        if let Some(undo) = &mut self.undo {
            if previous.is_some() {
                undo.push(Undo {
                    table,
                    key,
                    previous: previous.clone(),
                });
            }
        }
        previous
    }

    /// Starts recording writes so that [`Store::rollback`] can undo them.
    pub(crate) fn begin_changeset(&mut self) {
        self.undo = Some(Vec::new());
    }

    /// Keeps the change set's writes.
    pub(crate) fn commit(&mut self) {
        self.undo = None;
    }

    /// Undoes every write since [`Store::begin_changeset`], newest first.
    pub(crate) fn rollback(&mut self) {
        if let Some(undo) = self.undo.take() {
            for entry in undo.into_iter().rev() {
                let rows = &mut self.tables[entry.table].rows;
                match entry.previous {
                    Some(row) => {
                        rows.insert(entry.key, row);
                    }
                    None => {
                        rows.remove(&entry.key);
                    }
                }
            }
        }
    }

    /// A new empty row for a table: every cell null except the key and the currency.
    pub(crate) fn blank_row(&self, table: usize, id: &str) -> Row {
        let def = &self.tables[table].def;
        let mut cells = vec![None; def.columns.len()];
        cells[def.pk_index] = Some(id.to_owned());
        if def.has_money() {
            if let Some((i, _)) = def.column(CURRENCY_COLUMN) {
                cells[i] = Some(self.base_currency_id.clone());
            }
        }
        Row {
            id: id.to_owned(),
            version: 0,
            cells,
        }
    }
}

fn column(name: &str, ty: AttrType) -> Column {
    Column {
        name: name.to_owned(),
        ty,
        precision: None,
        captions: BTreeMap::new(),
    }
}

/// Builds a table's schema from its configuration and CSV header.
fn table_def(config: &TableConfig, header: &[String]) -> Result<TableDef, EmulatorError> {
    let err = |message: String| EmulatorError::Table {
        table: config.logical_name.clone(),
        message,
    };
    let mut names: Vec<String> = Vec::new();
    if !header.iter().any(|h| h == &config.primary_id) {
        names.push(config.primary_id.clone());
    }
    for name in header {
        if names.contains(name) {
            return Err(err(format!(
                "column {name} appears twice in the CSV header"
            )));
        }
        names.push(name.clone());
    }
    for name in config.types.keys() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let mut columns = Vec::new();
    for name in &names {
        if name.is_empty() {
            return Err(err("the CSV header has an empty column name".to_owned()));
        }
        let ty = if name == &config.primary_id {
            match config.types.get(name) {
                None | Some(AttrType::Uniqueidentifier) => AttrType::Uniqueidentifier,
                Some(other) => {
                    return Err(err(format!(
                        "primary id {name} must be Uniqueidentifier, not {}",
                        other.name()
                    )))
                }
            }
        } else {
            config.types.get(name).copied().unwrap_or(AttrType::String)
        };
        if ty == AttrType::Lookup && !(name.starts_with('_') && name.ends_with("_value")) {
            return Err(err(format!(
                "lookup column {name} must be named _<attribute>_value"
            )));
        }
        let mut col = column(name, ty);
        col.precision = config.precision.get(name).copied();
        col.captions = match config.captions.get(name) {
            Some(captions) => {
                if is_choice(ty) {
                    if let Some(bad) = captions.keys().find(|k| option_value(k).is_none()) {
                        return Err(err(format!(
                            "captions of choice column {name}: '{bad}' is not an option value (a whole number)"
                        )));
                    }
                }
                captions.clone()
            }
            None => default_captions(&config.logical_name, name, ty),
        };
        columns.push(col);
    }
    if columns.iter().any(|c| c.ty == AttrType::Money)
        && !names.iter().any(|n| n == CURRENCY_COLUMN)
    {
        columns.push(column(CURRENCY_COLUMN, AttrType::Lookup));
    }
    if let Some(name) = &config.primary_name {
        if !columns.iter().any(|c| &c.name == name) {
            return Err(err(format!("primary name column {name} is not a column")));
        }
    }
    let mut def = TableDef::new(
        &config.logical_name,
        &config.entity_set,
        &config.primary_id,
        config.primary_name.as_deref(),
        columns,
    );
    for key in &config.keys {
        for attribute in &key.attributes {
            if def.column(attribute).is_none() {
                return Err(err(format!(
                    "key {} names unknown column {attribute}",
                    key.logical_name
                )));
            }
        }
    }
    def.keys = config.keys.clone();
    Ok(def)
}

fn load_table(
    config: &EmulatorConfig,
    table: &TableConfig,
    base_currency_id: &str,
    version: &mut u64,
) -> Result<Table, EmulatorError> {
    let err = |message: String| EmulatorError::Table {
        table: table.logical_name.clone(),
        message,
    };
    let (header, records) = match &table.csv {
        Some(path) => read_csv(&config.resolve(path))?,
        None => (Vec::new(), Vec::new()),
    };
    let def = table_def(table, &header)?;
    // Where each CSV column lands in the row.
    let positions: Vec<usize> = header.iter().map(|h| def.col_index[h]).collect();
    let mut rows = BTreeMap::new();
    for (line, record) in records.iter().enumerate() {
        let mut cells = vec![None; def.columns.len()];
        for (value, &pos) in record.iter().zip(&positions) {
            let col = &def.columns[pos];
            cells[pos] = normalize_cell(col.ty, value, col.precision)
                .map_err(|m| err(format!("CSV row {}: column {}: {m}", line + 2, col.name)))?;
        }
        let id = match &cells[def.pk_index] {
            Some(id) => id.clone(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        cells[def.pk_index] = Some(id.clone());
        if let Some((i, _)) = def.column(CURRENCY_COLUMN) {
            if def.has_money() && cells[i].is_none() {
                cells[i] = Some(base_currency_id.to_owned());
            }
        }
        *version += 1;
        let row = Row {
            id: id.clone(),
            version: *version,
            cells,
        };
        if rows.insert(guid_sort_key(&id), row).is_some() {
            return Err(err(format!(
                "CSV row {}: duplicate primary key {id}",
                line + 2
            )));
        }
    }
    Ok(Table { def, rows })
}

/// Reads a UTF-8 CSV (a BOM is skipped) into its header and records.
fn read_csv(path: &std::path::Path) -> Result<(Vec<String>, Vec<Vec<String>>), EmulatorError> {
    let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::Io {
        path: path.to_owned(),
        source,
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let csv_err = |e: csv::Error| EmulatorError::Table {
        table: path.display().to_string(),
        message: e.to_string(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let mut records = Vec::new();
    for record in reader.records() {
        records.push(record.map_err(csv_err)?.iter().map(str::to_owned).collect());
    }
    Ok((header, records))
}

fn organization_table(organization_id: &str, base_currency_id: &str) -> Table {
    let def = TableDef::new(
        "organization",
        "organizations",
        "organizationid",
        Some("name"),
        vec![
            column("organizationid", AttrType::Uniqueidentifier),
            column("name", AttrType::String),
            column("_basecurrencyid_value", AttrType::Lookup),
            column("languagecode", AttrType::Integer),
        ],
    );
    let row = Row {
        id: organization_id.to_owned(),
        version: 0,
        cells: vec![
            Some(organization_id.to_owned()),
            Some("Coupler Emulator".to_owned()),
            Some(base_currency_id.to_owned()),
            Some("1033".to_owned()),
        ],
    };
    let mut rows = BTreeMap::new();
    rows.insert(guid_sort_key(organization_id), row);
    Table { def, rows }
}

fn currency_table(currencies: &[CurrencyDef], ids: &[String]) -> Table {
    let mut state = column("statecode", AttrType::State);
    state.captions = default_state_captions();
    let mut def = TableDef::new(
        "transactioncurrency",
        "transactioncurrencies",
        "transactioncurrencyid",
        Some("currencyname"),
        vec![
            column("transactioncurrencyid", AttrType::Uniqueidentifier),
            column("isocurrencycode", AttrType::String),
            column("currencyname", AttrType::String),
            column("currencysymbol", AttrType::String),
            column("currencyprecision", AttrType::Integer),
            column("exchangerate", AttrType::Decimal),
            state,
        ],
    );
    def.keys = Vec::new();
    let mut rows = BTreeMap::new();
    for (currency, id) in currencies.iter().zip(ids) {
        let row = Row {
            id: id.clone(),
            version: 0,
            cells: vec![
                Some(id.clone()),
                Some(currency.iso.clone()),
                Some(currency.name.clone()),
                Some(
                    currency
                        .symbol
                        .clone()
                        .unwrap_or_else(|| currency.iso.clone()),
                ),
                Some(currency.precision.to_string()),
                crate::types::normalize_number(&currency.exchange_rate)
                    .or_else(|| Some("1.0".to_owned())),
                Some("0".to_owned()),
            ],
        };
        rows.insert(guid_sort_key(id), row);
    }
    Table { def, rows }
}

/// Captions Dataverse shows for `statecode` when none are configured.
pub(crate) fn default_state_captions() -> BTreeMap<String, String> {
    captions_of(STATE_OPTIONS)
}

/// Whether a column of this type is a choice column (has an option set).
pub(crate) fn is_choice(ty: AttrType) -> bool {
    matches!(ty, AttrType::Picklist | AttrType::State | AttrType::Status)
}

/// A caption key read as an option value (Dataverse option values are `Edm.Int32`).
pub(crate) fn option_value(key: &str) -> Option<i32> {
    key.trim().parse().ok()
}

/// The option set of a choice column: its captions with whole-number keys, by value.
pub(crate) fn choice_options(column: &Column) -> Vec<(i32, &str)> {
    let mut options: Vec<(i32, &str)> = column
        .captions
        .iter()
        .filter_map(|(k, label)| option_value(k).map(|v| (v, label.as_str())))
        .collect();
    options.sort_by_key(|(value, _)| *value);
    options
}

const STATE_OPTIONS: &[(i32, &str)] = &[(0, "Active"), (1, "Inactive")];
const STATUS_OPTIONS: &[(i32, &str)] = &[(1, "Active"), (2, "Inactive")];

/// `account.customertypecode` ("Relationship Type") as Dataverse ships it.
const ACCOUNT_CUSTOMER_TYPES: &[(i32, &str)] = &[
    (1, "Competitor"),
    (2, "Consultant"),
    (3, "Customer"),
    (4, "Investor"),
    (5, "Partner"),
    (6, "Influencer"),
    (7, "Press"),
    (8, "Prospect"),
    (9, "Reseller"),
    (10, "Supplier"),
    (11, "Vendor"),
    (12, "Other"),
];

/// `account.industrycode` ("Industry") as Dataverse ships it.
const ACCOUNT_INDUSTRIES: &[(i32, &str)] = &[
    (1, "Accounting"),
    (2, "Agriculture and Non-petrol Natural Resource Extraction"),
    (3, "Broadcasting Printing and Publishing"),
    (4, "Brokers"),
    (5, "Building Supply Retail"),
    (6, "Business Services"),
    (7, "Consulting"),
    (8, "Consumer Services"),
    (9, "Design, Direction and Creative Management"),
    (10, "Distributors, Dispatchers and Processors"),
    (11, "Doctor's Offices and Clinics"),
    (12, "Durable Manufacturing"),
    (13, "Eating and Drinking Places"),
    (14, "Entertainment Retail"),
    (15, "Equipment Rental and Leasing"),
    (16, "Financial"),
    (17, "Food and Tobacco Processing"),
    (18, "Inbound Capital Intensive Processing"),
    (19, "Inbound Repair and Services"),
    (20, "Insurance"),
    (21, "Legal Services"),
    (22, "Non-Durable Merchandise Retail"),
    (23, "Outbound Consumer Service"),
    (24, "Petrochemical Extraction and Distribution"),
    (25, "Service Retail"),
    (26, "SIG Affiliations"),
    (27, "Social Services"),
    (28, "Special Outbound Trade Contractors"),
    (29, "Specialty Realty"),
    (30, "Transportation"),
    (31, "Utility Creation and Distribution"),
    (32, "Vehicle Retail"),
    (33, "Wholesale"),
];

fn captions_of(options: &[(i32, &str)]) -> BTreeMap<String, String> {
    options
        .iter()
        .map(|(value, label)| (value.to_string(), (*label).to_owned()))
        .collect()
}

/// The captions (for a choice column: the option set) a column has when the configuration
/// gives none: Dataverse's own options for `account.customertypecode` and
/// `account.industrycode`, Active/Inactive for every State and Status column, nothing else.
pub(crate) fn default_captions(
    table: &str,
    column: &str,
    ty: AttrType,
) -> BTreeMap<String, String> {
    let options = match (table, column, ty) {
        ("account", "customertypecode", AttrType::Picklist) => ACCOUNT_CUSTOMER_TYPES,
        ("account", "industrycode", AttrType::Picklist) => ACCOUNT_INDUSTRIES,
        (_, _, AttrType::State) => STATE_OPTIONS,
        (_, _, AttrType::Status) => STATUS_OPTIONS,
        _ => &[],
    };
    captions_of(options)
}
