//! The CLI's side of a Dataverse connection: settings from `[dataverse]` (the secret from the
//! environment or a file), table metadata cached per run, and the integration side of a
//! mapping read with the strategy the mapping asks for — or, for `auto`, the one that needs
//! fewer requests.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use coupler_dataverse::{
    choice_options, read_all, read_lookups, settings::DEFAULT_AUTHORITY, table_info, total_rows,
    AssertionAlgorithm, Certificate, ConnectionSettings, Credential, DataverseError, HttpCounts,
    LookupPlan, ReadRequest, ReadStrategy, RetryPolicy, Secret, Session, TableInfo,
};
use coupler_engine::{CouplingSpec, FieldType, OptionMap, Table};
use serde::Serialize;

use crate::config::{DataverseConfig, DataverseTable};
use crate::progress;

/// An open session and the metadata read so far.
pub struct DataverseLink {
    pub session: Session,
    pub config: DataverseConfig,
    tables: BTreeMap<String, TableInfo>,
    /// Counts already reported in an earlier job of this run.
    reported: HttpCounts,
}

/// How the integration side was read (for job.json and the summary).
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationRead {
    pub source: &'static str,
    pub table: String,
    /// `bulk` or `lookup`.
    pub strategy: &'static str,
    /// Why this strategy (auto's reasoning, or "configured").
    pub reason: String,
}

impl DataverseLink {
    /// Opens a session (no request is sent until the first read or check).
    pub fn open(config: &DataverseConfig, base: &Path) -> Result<DataverseLink> {
        let settings = settings(config, base)?;
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

    /// Resolves the key (the primary id unless configured) and checks every column the
    /// mapping reads exists.
    pub fn prepare(
        &mut self,
        spec: &mut CouplingSpec,
        source: &DataverseTable,
        more_columns: &[String],
    ) -> Result<()> {
        let info = self.table(&source.entity_set)?;
        if spec.integration_key.is_empty() {
            spec.integration_key = info.primary_id.clone();
        }
        let mut columns = spec.integration_columns();
        for c in more_columns {
            if !c.is_empty() && !columns.contains(c) {
                columns.push(c.clone());
            }
        }
        info.check_columns(&columns)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("mapping '{}'", spec.mapping_name))?;
        // Option fields without a configured map: BC captions are Dataverse's labels.
        let logical_name = info.logical_name.clone();
        for c in &mut spec.criteria {
            if c.field_type == FieldType::Option && c.options.is_empty() {
                let choices = choice_options(&self.session, &logical_name, &c.integration_field)
                    .map_err(DataverseError::from)
                    .with_context(|| {
                        format!(
                            "mapping '{}': option map of '{}'",
                            spec.mapping_name, c.integration_field
                        )
                    })?;
                c.options = OptionMap::new(choices.into_iter().map(|o| (o.label, o.value)));
            }
        }
        Ok(())
    }

    /// Reads the integration side of a mapping.
    pub fn read(
        &mut self,
        spec: &CouplingSpec,
        source: &DataverseTable,
        columns: &[String],
        local: &Table,
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
                        let page = u64::from(self.config.page_size.unwrap_or(5000));
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
                source: "dataverse",
                table: info.entity_set.clone(),
                strategy: if strategy == ReadStrategy::Lookup {
                    "lookup"
                } else {
                    "bulk"
                },
                reason,
            },
        ))
    }
}

/// Connection settings from `[dataverse]`: the secret is read now, from the environment
/// variable or file the config names.
pub fn settings(config: &DataverseConfig, base: &Path) -> Result<ConnectionSettings> {
    let credential = if let Some(var) = &config.client_secret_env {
        Credential::Secret(Secret::from_env(var)?)
    } else if let Some(path) = &config.client_secret_file {
        Credential::Secret(Secret::from_file(&base.join(path))?)
    } else if let Some(path) = &config.certificate {
        let algorithm = match config.certificate_algorithm.as_deref() {
            Some("RS256") => AssertionAlgorithm::Rs256,
            _ => AssertionAlgorithm::Ps256,
        };
        Credential::Certificate(Box::new(Certificate::from_pem_file(
            &base.join(path),
            algorithm,
        )?))
    } else {
        anyhow::bail!(
            "[dataverse]: no credential (client_secret_env, client_secret_file or certificate)"
        );
    };
    let mut settings = ConnectionSettings::new(
        config.url.clone(),
        config.tenant_id.clone(),
        config.client_id.clone(),
        credential,
    );
    settings.authority = config
        .authority
        .clone()
        .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
    settings.retry = RetryPolicy {
        max_retries: config
            .max_retries
            .unwrap_or(RetryPolicy::default().max_retries),
        base_delay: config
            .retry_delay_ms
            .map(Duration::from_millis)
            .unwrap_or(RetryPolicy::default().base_delay),
        ..RetryPolicy::default()
    };
    if let Some(s) = config.timeout_secs {
        settings.timeout = Duration::from_secs(s);
    }
    if let Some(p) = config.page_size {
        settings.page_size = p;
    }
    Ok(settings)
}
