//! The CLI's side of a Dataverse connection, used through `sources.rs`: the session opened from
//! `[dataverse]`, table metadata cached per run, and the integration side of a mapping read
//! with the strategy the mapping asks for — or, for `auto`, the one that needs fewer requests.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use coupler_dataverse::{
    choice_options, lookup_targets, max_lengths, read_all, read_lookups, table_info, total_rows,
    DataverseError, DataverseSection, HttpCounts, LookupPlan, LookupTarget, ReadRequest,
    ReadStrategy, Session, TableInfo,
};
use coupler_engine::{CouplingSpec, OptionMap, Table};

use crate::job::IntegrationRead;
use crate::plan::DataverseTable;
use crate::progress;

/// An open session and the metadata read so far.
pub struct DataverseLink {
    pub session: Session,
    pub config: DataverseSection,
    tables: BTreeMap<String, TableInfo>,
    /// Counts already reported in an earlier job of this run.
    reported: HttpCounts,
}

impl DataverseLink {
    /// Opens a session (no request is sent until the first read or check).
    pub fn open(config: &DataverseSection, base: &Path) -> Result<DataverseLink> {
        let settings = config.connection_settings(base)?;
        let session = Session::open(&settings)?;
        Ok(DataverseLink {
            session,
            config: config.clone(),
            tables: BTreeMap::new(),
            reported: HttpCounts::default(),
        })
    }

    /// Requests, retries and throttled answers since the last call: a job's share, including
    /// the token and metadata requests of the checks before it.
    pub fn take_counts(&mut self) -> HttpCounts {
        let now = self.session.counts();
        let share = now.since(self.reported);
        self.reported = now;
        share
    }

    /// The table's metadata (read once per run).
    pub fn table(&mut self, entity_set: &str) -> Result<&TableInfo> {
        if !self.tables.contains_key(entity_set) {
            let info = table_info(&self.session, entity_set)?;
            self.tables.insert(entity_set.to_string(), info);
        }
        Ok(&self.tables[entity_set])
    }

    /// The options of a choice column: BC captions are Dataverse's labels.
    pub fn choice_options(&mut self, entity_set: &str, column: &str) -> Result<OptionMap> {
        let logical_name = self.table(entity_set)?.logical_name.clone();
        let choices =
            choice_options(&self.session, &logical_name, column).map_err(DataverseError::from)?;
        Ok(OptionMap::new(
            choices.into_iter().map(|o| (o.label, o.value)),
        ))
    }

    /// How a lookup column of `entity_set` is written to point at a row of `target_set`: its
    /// navigation property (a polymorphic lookup has one per table it can point to).
    pub fn lookup_target(
        &mut self,
        entity_set: &str,
        column: &str,
        target_set: &str,
    ) -> Result<LookupTarget> {
        let logical_name = self.table(entity_set)?.logical_name.clone();
        let targets = lookup_targets(&self.session, &logical_name, column)?;
        let names: Vec<&str> = targets.iter().map(|t| t.entity_set.as_str()).collect();
        match targets.iter().find(|t| t.entity_set == target_set) {
            Some(t) => Ok(t.clone()),
            None => bail!(
                "lookup column '{column}' of Dataverse table '{logical_name}' cannot point to a row of '{target_set}' (its targets: {})",
                names.join(", ")
            ),
        }
    }

    /// The maximum length of a text column (`MaxLength` of its string metadata), if known.
    pub fn max_length(&mut self, entity_set: &str, column: &str) -> Result<Option<usize>> {
        let logical_name = self.table(entity_set)?.logical_name.clone();
        let lengths = max_lengths(&self.session, &logical_name)?;
        Ok(lengths.get(column).map(|&n| n as usize))
    }

    /// Reads the integration side of a mapping.
    pub fn read(
        &mut self,
        spec: &CouplingSpec,
        source: &DataverseTable,
        columns: &[String],
        local: &Table,
        pushed_filter: &[String],
    ) -> Result<(Table, IntegrationRead)> {
        let info = self.table(&source.entity_set)?.clone();
        // The key may have been resolved from metadata after `columns` was made.
        let mut columns: Vec<String> = columns.iter().filter(|c| !c.is_empty()).cloned().collect();
        if !columns.contains(&spec.integration_key) {
            columns.insert(0, spec.integration_key.clone());
        }
        let request = ReadRequest {
            table: &info,
            columns: &columns,
            filter: &spec.integration_filter,
            pushed_filter,
        };
        let lookup = LookupPlan::for_spec(spec, local);
        let (strategy, reason) = match (source.strategy, &lookup) {
            (ReadStrategy::Bulk, _) => (ReadStrategy::Bulk, "configured".to_string()),
            (ReadStrategy::Lookup, Some(_)) => (ReadStrategy::Lookup, "configured".to_string()),
            (ReadStrategy::Lookup, None) => anyhow::bail!(
                "mapping '{}': read_strategy = \"lookup\" needs match criteria of type text or code only, compared exactly (no normalize, no fuzzy compare); use \"bulk\"",
                spec.mapping_name
            ),
            (ReadStrategy::Auto, None) => (
                ReadStrategy::Bulk,
                "lookups need exact text or code criteria".to_string(),
            ),
            (ReadStrategy::Auto, Some(plan)) => {
                let lookups = plan.requests(self.session.api_base().len() + 200);
                match total_rows(&self.session, &info.logical_name) {
                    Some(rows) => {
                        let page = u64::from(self.config.page_size());
                        let pages = rows.div_ceil(page).max(1);
                        if (lookups as u64) <= pages {
                            (ReadStrategy::Lookup, format!("{lookups} lookup request(s) <= {pages} page(s) of {rows} rows"))
                        } else {
                            (ReadStrategy::Bulk, format!("{pages} page(s) of {rows} rows < {lookups} lookup request(s)"))
                        }
                    }
                    None => (
                        ReadStrategy::Bulk,
                        "the table's size is unknown (RetrieveTotalRecordCount failed)".to_string(),
                    ),
                }
            }
        };
        let bar = progress::fetching(&info.entity_set);
        let report = |rows: u64| bar.set_position(rows);
        let table = match (strategy, &lookup) {
            (ReadStrategy::Lookup, Some(plan)) => {
                read_lookups(&self.session, &request, plan, &report)
            }
            _ => read_all(&self.session, &request, &report),
        }
        .with_context(|| format!("mapping '{}'", spec.mapping_name))?;
        bar.finish_and_clear();
        Ok((
            table,
            IntegrationRead {
                source: "dataverse".into(),
                table: info.entity_set.clone(),
                strategy: if strategy == ReadStrategy::Lookup {
                    "lookup".into()
                } else {
                    "bulk".into()
                },
                reason,
                pushed_down: pushed_filter.to_vec(),
            },
        ))
    }
}
