//! Planning: each `[[mappings]]` table turned into what a run needs — its sources, its match
//! criteria, its synchronization — checked against the config alone ([`Plan::load`]). What the
//! file cannot tell (a Dataverse table's primary key, the options of its choice columns) comes
//! from `sources.rs` as [`IntegrationFacts`]; [`PlannedMapping::spec`] then builds the engine's
//! spec, complete and validated, in one step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use coupler_dataverse::{DataverseSection, ReadStrategy};
use coupler_engine::sync::{
    ConflictResolution as SyncConflictResolution, FieldMapping, SyncDirection,
};
use coupler_engine::{
    ColumnFilter, CouplingSpec, FieldType, FilterExpr, MatchCriterion, OptionMap, PriorityMode,
    SyncSpec, TableFilter, Translation,
};
use coupler_files::{CsvOptions, Encoding, FileSource, SourceFormat};

use crate::config::{
    Collation, ConfigFile, ConflictResolution, Direction, FieldConfig, FilterValue, MappingConfig,
    PriorityModeConfig, SourceConfig, VariantConfig,
};
use crate::match_settings::Resolved;

/// Where the integration side's rows come from.
#[derive(Debug, Clone)]
pub enum IntegrationSource {
    File(FileSource),
    Dataverse(DataverseTable),
}

/// A Dataverse table as an integration source.
#[derive(Debug, Clone)]
pub struct DataverseTable {
    /// The entity set name (`accounts`).
    pub entity_set: String,
    pub strategy: ReadStrategy,
}

/// A mapping as planned from the config: where its data is, its criteria and filters, its
/// synchronization. The engine's spec comes from [`PlannedMapping::spec`], once the
/// integration side's facts are known.
#[derive(Debug, Clone)]
pub struct PlannedMapping {
    /// The mapping's name (BC's integration table mapping name, `CUSTOMER`).
    pub name: String,
    /// The spec as the config gives it; private, because for a Dataverse source its
    /// integration key and some option maps are known only from metadata.
    configured: CouplingSpec,
    pub local: FileSource,
    pub integration: IntegrationSource,
    pub couplings: Option<PathBuf>,
    /// Settings that do nothing in a dry run, or combinations BC only warns about in telemetry.
    pub warnings: Vec<String>,
    /// The first synchronization after coupling (`sync_after_coupling = true`).
    pub sync: Option<SyncSpec>,
    /// BC's "Create New If Unable to Find a Match": the fields a new integration row gets.
    pub create_new: Option<SyncSpec>,
    /// Mappings this one depends on (review order), as configured.
    pub depends_on: Vec<String>,
    /// Every local column a field mapping names, and every integration column one reads (not
    /// constants' targets): a `couple` validates them all as text even when the job does not
    /// use them, so that no unreadable value passes into a later synchronization.
    pub mapped_local: Vec<String>,
    pub mapped_integration: Vec<String>,
    /// The field mappings with a local column, as `(local, integration, type, via)`: what
    /// `profile` looks at.
    pub profiled_fields: Vec<(String, String, FieldType, Option<String>)>,
    /// The mappings whose couplings this one's fields look up through (`via`), without
    /// repeats, in field order.
    pub lookups: Vec<String>,
    /// Each of those mappings' Dataverse table (entity set), when it reads from Dataverse: a
    /// lookup written to Dataverse binds a row of that table.
    pub lookup_tables: BTreeMap<String, String>,
    /// `table_filter` of each side: BC's filter syntax per column, typed by the column's field
    /// mapping (text when no field maps it). Rows outside it are not part of the source.
    pub local_table_filter: Vec<ColumnFilter>,
    pub integration_table_filter: Vec<ColumnFilter>,
}

/// What the sources tell about a mapping beyond its config: a Dataverse table's primary key
/// and the options of its choice columns (read by `sources.rs` from metadata; files tell
/// nothing), and the couplings of the mappings it looks up through (`via`).
#[derive(Debug, Default, Clone)]
pub struct IntegrationFacts {
    pub primary_key: Option<String>,
    /// Choice column → BC caption to choice value (Dataverse's labels).
    pub options: BTreeMap<String, OptionMap>,
    /// Mapping name → its couplings, for the lookups (`via`); a mapping missing here
    /// translates nothing.
    pub translations: BTreeMap<String, Arc<Translation>>,
}

impl PlannedMapping {
    /// The engine's spec, complete and validated: the configured spec with the integration
    /// key and the option maps the config leaves to the source's metadata.
    pub fn spec(&self, facts: &IntegrationFacts) -> Result<CouplingSpec> {
        let spec = self.spec_unchecked(facts)?;
        spec.validate()?;
        Ok(spec)
    }

    /// The spec before validation: what [`Self::spec`] checks, e.g. for naming the columns it
    /// reads before the options of choice columns are known.
    pub fn spec_unchecked(&self, facts: &IntegrationFacts) -> Result<CouplingSpec> {
        let mut spec = self.configured.clone();
        if spec.integration_key.is_empty() {
            spec.integration_key = facts.primary_key.clone().ok_or_else(|| {
                anyhow!(
                    "mapping '{}': the integration side's key is unknown",
                    self.name
                )
            })?;
        }
        complete_options(&mut spec.criteria, facts);
        complete_lookups(&mut spec.criteria, facts);
        Ok(spec)
    }

    /// The spec with its key resolved and no criteria: for commands that only count the rows
    /// passing the filters.
    pub fn spec_without_criteria(&self, facts: &IntegrationFacts) -> Result<CouplingSpec> {
        let mut spec = self.spec_unchecked(facts)?;
        spec.criteria.clear();
        spec.validate()?;
        Ok(spec)
    }

    /// The spec of a `criteria compare` variant: this mapping's spec (from [`Self::spec`]) with
    /// the variant's criteria and priority mode.
    pub fn variant_spec(
        &self,
        spec: &CouplingSpec,
        variant: &VariantConfig,
        facts: &IntegrationFacts,
    ) -> Result<CouplingSpec> {
        let (mut criteria, priority_mode) = variant_criteria(variant, spec.priority_mode)?;
        complete_options(&mut criteria, facts);
        complete_lookups(&mut criteria, facts);
        let spec = CouplingSpec {
            criteria,
            priority_mode,
            ..spec.clone()
        };
        spec.validate()?;
        Ok(spec)
    }

    /// The configured match criteria (option maps from metadata not yet in).
    pub fn criteria(&self) -> &[MatchCriterion] {
        &self.configured.criteria
    }

    /// The choice columns whose options the config leaves to metadata, among `criteria`.
    pub fn options_from_metadata(criteria: &[MatchCriterion]) -> Vec<String> {
        criteria
            .iter()
            .filter(|c| c.field_type == FieldType::Option && c.options.is_empty())
            .map(|c| c.integration_field.clone())
            .collect()
    }

    /// The key column configured for the integration side (`None`: the table's primary key).
    pub fn configured_integration_key(&self) -> Option<&str> {
        Some(self.configured.integration_key.as_str()).filter(|k| !k.is_empty())
    }

    pub fn local_key(&self) -> &str {
        &self.configured.local_key
    }

    pub fn local_filter(&self) -> &TableFilter {
        &self.configured.local_filter
    }

    pub fn integration_filter(&self) -> &TableFilter {
        &self.configured.integration_filter
    }

    /// How the mapping compares text (its `collation`).
    pub fn collation(&self) -> coupler_engine::Collation {
        self.configured.collation
    }

    /// The Dataverse entity set the mapping reads, if its integration side is Dataverse.
    pub fn dataverse_entity_set(&self) -> Option<&str> {
        match &self.integration {
            IntegrationSource::Dataverse(t) => Some(&t.entity_set),
            IntegrationSource::File(_) => None,
        }
    }

    /// BC's name of the table mapping (`Customer - Account`).
    pub fn friendly_name(&self) -> String {
        self.configured.friendly_name()
    }

    /// Every local column a job reads: the engine's, the table filter's and the
    /// synchronization's.
    pub fn local_columns(&self, spec: &CouplingSpec) -> Vec<String> {
        let mut columns = spec.local_columns();
        add_columns(
            &mut columns,
            self.local_table_filter.iter().map(|f| &f.column),
        );
        self.with_sync_columns(columns, SyncSpec::local_columns)
    }

    /// Every integration column a job reads.
    pub fn integration_columns(&self, spec: &CouplingSpec) -> Vec<String> {
        let mut columns = spec.integration_columns();
        add_columns(
            &mut columns,
            self.integration_table_filter.iter().map(|f| &f.column),
        );
        self.with_sync_columns(columns, SyncSpec::integration_columns)
    }

    fn with_sync_columns(
        &self,
        mut columns: Vec<String>,
        of: fn(&SyncSpec) -> Vec<String>,
    ) -> Vec<String> {
        for spec in self.sync.iter().chain(self.create_new.iter()) {
            add_columns(&mut columns, of(spec));
        }
        columns
    }
}

/// Appends the column names of `more` that `columns` does not hold yet, in order.
pub fn add_columns<S: AsRef<str>>(columns: &mut Vec<String>, more: impl IntoIterator<Item = S>) {
    for c in more {
        let c = c.as_ref();
        if !columns.iter().any(|k| k == c) {
            columns.push(c.to_string());
        }
    }
}

/// A side's `table_filter`: each expression parsed (an error points at the position in it) and
/// checked against the column's type — the type of the field mapping that names the column on
/// that side, text when none does.
fn table_filter(
    side: &str,
    filter: &BTreeMap<String, String>,
    type_of: impl Fn(&str) -> Result<Option<FieldType>>,
) -> Result<Vec<ColumnFilter>> {
    filter
        .iter()
        .map(|(column, text)| {
            let at = || format!("[mappings.{side}] table_filter.\"{column}\" = \"{text}\"");
            let expr = FilterExpr::parse(text).map_err(|e| anyhow!("{}: {e}", at()))?;
            let field_type = type_of(column)?.unwrap_or(FieldType::Text);
            expr.check(field_type)
                .map_err(|e| anyhow!("{}: {e}", at()))?;
            Ok(ColumnFilter {
                column: column.clone(),
                expr,
                field_type,
            })
        })
        .collect()
}

/// Option criteria without a configured map take the source's (BC captions are Dataverse's
/// labels).
fn complete_options(criteria: &mut [MatchCriterion], facts: &IntegrationFacts) {
    for c in criteria {
        if c.field_type == FieldType::Option && c.options.is_empty() {
            if let Some(options) = facts.options.get(&c.integration_field) {
                c.options = options.clone();
            }
        }
    }
}

/// A synchronization spec of a mapping (`sync` or `create_new`) with its lookups translating
/// through the couplings in `facts`.
pub fn sync_with_lookups(spec: &SyncSpec, facts: &IntegrationFacts) -> SyncSpec {
    let mut spec = spec.clone();
    for f in &mut spec.fields {
        facts.complete_lookup(&mut f.via);
    }
    spec
}

/// Lookup criteria take the couplings of the mapping they go through.
fn complete_lookups(criteria: &mut [MatchCriterion], facts: &IntegrationFacts) {
    for c in criteria {
        facts.complete_lookup(&mut c.via);
    }
}

impl IntegrationFacts {
    /// A lookup (`via`, planned with no coupling) takes the couplings of the mapping it goes
    /// through; none known leaves it empty, so every non-blank key is "not coupled".
    fn complete_lookup(&self, via: &mut Option<Arc<Translation>>) {
        if let Some(t) = via
            .as_ref()
            .and_then(|v| self.translations.get(v.mapping()))
        {
            *via = Some(t.clone());
        }
    }
}

impl IntegrationSource {
    /// How messages name the source: the file name, or `Dataverse accounts`.
    pub fn describe(&self) -> String {
        match self {
            IntegrationSource::File(f) => file_name(&f.path),
            IntegrationSource::Dataverse(t) => format!("Dataverse {}", t.entity_set),
        }
    }
}

/// A loaded config, every mapping planned.
#[derive(Debug)]
pub struct Plan {
    pub path: PathBuf,
    pub mappings: Vec<PlannedMapping>,
    pub dataverse: Option<DataverseSection>,
    /// The config file's folder (relative paths are relative to it).
    pub base: PathBuf,
    /// The coupling store: `store = "…"`, or `coupler.db` beside the config.
    pub store: PathBuf,
    /// Each mapping's dependencies (`depends_on`), as positions in `mappings`.
    pub dependencies: Vec<Vec<usize>>,
    /// The mappings in the order a run takes them: each after its dependencies; among those
    /// free to go, config order.
    pub order: Vec<usize>,
    /// The file as read (its `[[variants]]` are parsed on demand).
    file: ConfigFile,
}

impl Plan {
    /// Reads the config file (once) and plans every mapping.
    pub fn load(path: &Path) -> Result<Plan> {
        let mut file = ConfigFile::read(path)?;
        let config = &file.config;
        if config.mappings.is_empty() {
            bail!(
                "{}: no [[mappings]] defined; see docs/configuration.md",
                path.display()
            );
        }
        let store = file.check_names_and_store()?;
        let mut mappings: Vec<PlannedMapping> = Vec::new();
        for m in &config.mappings {
            let planned = plan_mapping(m, &file.base, config.dataverse.as_ref())
                .with_context(|| format!("{}: mapping '{}'", path.display(), m.name))?;
            mappings.push(planned);
        }
        for m in &config.mappings {
            for d in &m.depends_on {
                if !config.mappings.iter().any(|o| &o.name == d) {
                    bail!(
                        "{}: mapping '{}' depends on '{d}', which the config does not define",
                        path.display(),
                        m.name
                    );
                }
            }
        }
        let tables: BTreeMap<String, String> = mappings
            .iter()
            .filter_map(|m| match &m.integration {
                IntegrationSource::Dataverse(t) => Some((m.name.clone(), t.entity_set.clone())),
                IntegrationSource::File(_) => None,
            })
            .collect();
        for m in &mut mappings {
            m.lookup_tables = m
                .lookups
                .iter()
                .filter_map(|via| Some((via.clone(), tables.get(via)?.clone())))
                .collect();
        }
        for m in &mappings {
            for via in &m.lookups {
                if !config.mappings.iter().any(|o| &o.name == via) {
                    let known: Vec<&str> =
                        config.mappings.iter().map(|o| o.name.as_str()).collect();
                    bail!(
                        "{}: mapping '{}': via = \"{via}\" names no mapping of this config (its mappings: {}); a lookup goes through the couplings of a mapping defined here",
                        path.display(),
                        m.name,
                        known.join(", ")
                    );
                }
            }
        }
        if let Some(d) = &config.dataverse {
            d.check()
                .with_context(|| format!("{}: [dataverse]", path.display()))?;
        } else if let Some(m) = mappings
            .iter()
            .find(|m| matches!(m.integration, IntegrationSource::Dataverse(_)))
        {
            bail!(
                "{}: mapping '{}' reads from Dataverse, but the config has no [dataverse] section (url, tenant_id, client_id and a credential)",
                path.display(),
                m.name
            );
        }
        if let Some(d) = &config.dataverse {
            for (m, c) in mappings.iter().zip(&config.mappings) {
                if let Some(url) = &c.integration.dataverse {
                    if url.trim_end_matches('/') != d.environment() {
                        bail!("{}: mapping '{}': [mappings.integration] dataverse = \"{url}\" differs from [dataverse] url = \"{}\"; one environment per config", path.display(), m.name, d.url);
                    }
                }
            }
        }
        let names: Vec<&str> = mappings.iter().map(|m| m.name.as_str()).collect();
        // A lookup depends on the mapping it goes through: its couplings come first.
        let dependencies: Vec<Vec<usize>> = mappings
            .iter()
            .map(|m| {
                let mut on = m.depends_on.clone();
                add_columns(&mut on, &m.lookups);
                dependency_indices(&names, &on)
            })
            .collect::<Result<_>>()?;
        let order = dependency_order(&names, &dependencies)
            .map_err(|cycle| anyhow!("{}: {cycle}", path.display()))?;
        let dataverse = file.config.dataverse.take();
        Ok(Plan {
            path: path.to_path_buf(),
            mappings,
            dataverse,
            store,
            base: file.base.clone(),
            dependencies,
            order,
            file,
        })
    }

    /// The mappings to run: all, or those named, each name checked; in dependency order (each
    /// after the mappings it depends on; otherwise config order).
    pub fn select(&self, names: &[String]) -> Result<Vec<&PlannedMapping>> {
        for n in names {
            if !self.mappings.iter().any(|m| &m.name == n) {
                let known: Vec<_> = self.mappings.iter().map(|m| m.name.as_str()).collect();
                bail!(
                    "{}: no mapping named '{n}'; the mappings are: {}",
                    self.path.display(),
                    known.join(", ")
                );
            }
        }
        Ok(self
            .order
            .iter()
            .map(|&i| &self.mappings[i])
            .filter(|m| names.is_empty() || names.contains(&m.name))
            .collect())
    }

    /// The config's own `[[variants]]`, read strictly.
    pub fn variants(&self) -> Result<Vec<VariantConfig>> {
        self.file.variants()
    }
}

/// The match criterion of a field table (mapping or variant), its keys beyond BC resolved.
fn criterion(
    f: &FieldConfig,
    local_field: String,
    field_type: FieldType,
    beyond: Resolved,
) -> MatchCriterion {
    MatchCriterion {
        local_field,
        integration_field: f.integration.clone(),
        field_type,
        priority: f.priority,
        case_sensitive: f.case_sensitive,
        normalizers: beyond.normalizers,
        comparator: beyond.comparator,
        options: beyond.options,
        via: f
            .via
            .as_ref()
            .map(|name| Arc::new(Translation::new(name.clone()))),
    }
}

/// What a lookup field (`via = "MAPPING"`) cannot be: a constant, a lookup through its own
/// mapping, or compared by anything but the ids.
fn check_lookup(f: &FieldConfig, via: &str, mapping: &str, field_type: FieldType) -> Result<()> {
    if via == mapping {
        bail!("via = \"{via}\" names this mapping itself; a lookup goes through another mapping's couplings");
    }
    if f.constant.is_some() {
        bail!("via = \"{via}\" translates a local value; a constant has none");
    }
    if !f.normalize.is_empty() || f.compare.is_some() || f.options.is_some() {
        bail!("via = \"{via}\" compares record ids exactly: remove normalize, compare and options");
    }
    if !matches!(field_type, FieldType::Code | FieldType::Text) {
        bail!(
            "via = \"{via}\": the local value is a record key, type \"code\" (or \"text\"), not {}",
            field_type.name()
        );
    }
    Ok(())
}

/// A mapping's field is a match criterion only when it says `match = true`.
fn is_match(f: &FieldConfig) -> bool {
    f.is_match.unwrap_or(false)
}

fn plan_mapping(
    m: &MappingConfig,
    base: &Path,
    dataverse: Option<&DataverseSection>,
) -> Result<PlannedMapping> {
    if m.collation_language.is_some() && m.collation != Collation::Dataverse {
        bail!("collation_language applies only with collation = \"dataverse\"");
    }
    if is_dataverse(&m.local) {
        bail!("[mappings.local]: the local (Business Central) side is read from exports (csv or xlsx); Dataverse is the integration side");
    }
    let local = file_source(&m.local, base, "local")?;
    let integration = if is_dataverse(&m.integration) {
        IntegrationSource::Dataverse(dataverse_table(&m.integration)?)
    } else {
        if m.integration.read_strategy.is_some() {
            bail!("[mappings.integration]: read_strategy applies to Dataverse sources only");
        }
        IntegrationSource::File(file_source(&m.integration, base, "integration")?)
    };
    let local_key = m
        .local
        .key
        .clone()
        .ok_or_else(|| anyhow!("[mappings.local] needs key = \"<id column>\""))?;
    let integration_key = match (&m.integration.key, &integration) {
        (Some(key), _) => key.clone(),
        // Dataverse: the table's primary key, read from metadata when connecting.
        (None, IntegrationSource::Dataverse(_)) => String::new(),
        (None, IntegrationSource::File(_)) => {
            bail!("[mappings.integration] needs key = \"<id column>\"")
        }
    };
    let mut criteria = Vec::new();
    for (i, f) in m.fields.iter().enumerate() {
        let n = i + 1;
        let field_type = parse_type(&f.field_type)
            .with_context(|| format!("field mapping #{n} ({})", f.integration))?;
        let beyond = f
            .match_settings()
            .resolve(is_match(f), field_type == FieldType::Option)
            .with_context(|| format!("field mapping #{n} ({})", f.integration))?;
        if f.constant.is_some() && f.local.is_some() {
            bail!(
                "field mapping #{n} ({}): set either local or constant, not both",
                f.integration
            );
        }
        if let Some(via) = &f.via {
            check_lookup(f, via, &m.name, field_type)
                .with_context(|| format!("field mapping #{n} ({})", f.integration))?;
        } else if f.clear_on_failed_sync {
            bail!(
                "field mapping #{n} ({}): clear_on_failed_sync applies to lookups only (via = \"MAPPING\")",
                f.integration
            );
        }
        if !is_match(f) {
            continue;
        }
        let Some(local_field) = f.local.clone() else {
            bail!(
                "field mapping #{n} ({}): a constant-value field mapping cannot be a match criterion",
                f.integration
            );
        };
        criteria.push(criterion(f, local_field, field_type, beyond));
    }
    let mut warnings = Vec::new();
    let sync_spec = |conflict_resolution| -> Result<SyncSpec> {
        let spec = SyncSpec {
            mapping_name: m.name.clone(),
            local_table_caption: m.local_caption.clone().unwrap_or_else(|| m.name.clone()),
            integration_table_caption: m
                .integration_caption
                .clone()
                .unwrap_or_else(|| "the integration table".into()),
            direction: sync_direction(m.direction),
            conflict_resolution,
            fields: m
                .fields
                .iter()
                .map(|f| {
                    Ok(FieldMapping {
                        local_field: f.local.clone(),
                        constant: f.constant.clone(),
                        integration_field: f.integration.clone(),
                        field_type: parse_type(&f.field_type)?,
                        direction: sync_direction(f.direction.unwrap_or(m.direction)),
                        via: f
                            .via
                            .as_ref()
                            .map(|name| Arc::new(Translation::new(name.clone()))),
                        clear_on_failed_sync: f.clear_on_failed_sync,
                    })
                })
                .collect::<Result<_>>()?,
        };
        spec.validate()?;
        Ok(spec)
    };
    let sync = if m.sync_after_coupling {
        if m.direction == Direction::Bidirectional
            && m.update_conflict_resolution == ConflictResolution::None
        {
            warnings.push(format!("mapping '{}': bidirectional with update_conflict_resolution = \"none\": the first synchronization after coupling will fail every pair whose bidirectional fields differ (BC only logs this in telemetry); choose \"send\" or \"get\"", m.name));
        }
        Some(
            sync_spec(match m.update_conflict_resolution {
                ConflictResolution::None => SyncConflictResolution::None,
                ConflictResolution::Send => SyncConflictResolution::Send,
                ConflictResolution::Get => SyncConflictResolution::Get,
            })
            .context("sync_after_coupling")?,
        )
    } else {
        None
    };
    let create_new = if m.create_new_if_no_match {
        if m.direction == Direction::FromIntegration {
            bail!("create_new_if_no_match needs a mapping that writes to the integration side; direction is \"from-integration\"");
        }
        // A new row gets the local record's values: a one-way copy to the integration side.
        let mut spec = sync_spec(SyncConflictResolution::Send).context("create_new_if_no_match")?;
        spec.direction = SyncDirection::ToIntegration;
        Some(spec)
    } else {
        None
    };
    for f in &m.fields {
        if f.direction
            .is_some_and(|d| d != m.direction && m.direction != Direction::Bidirectional)
        {
            warnings.push(format!("mapping '{}': field mapping {} has direction {:?}, which the mapping's direction {:?} never synchronizes", m.name, f.integration, f.direction.unwrap_or_default(), m.direction));
        }
    }
    // BC's messages name the Dataverse environment URL (M2); a file by its name.
    let (integration_source, default_caption) = match &integration {
        IntegrationSource::File(f) => (file_name(&f.path), file_name(&f.path)),
        IntegrationSource::Dataverse(t) => (
            dataverse
                .map(|d| d.url.trim_end_matches('/').to_string())
                .unwrap_or_else(|| t.entity_set.clone()),
            t.entity_set.clone(),
        ),
    };
    let mut planned = PlannedMapping {
        name: m.name.clone(),
        configured: CouplingSpec {
            mapping_name: m.name.clone(),
            local_caption: m.local_caption.clone().unwrap_or_else(|| m.name.clone()),
            integration_caption: m.integration_caption.clone().unwrap_or(default_caption),
            integration_source,
            local_key,
            integration_key,
            criteria,
            priority_mode: match m.priority_mode {
                PriorityModeConfig::Cumulative => PriorityMode::Cumulative,
                PriorityModeConfig::Independent => PriorityMode::Independent,
            },
            collation: engine_collation(m)?,
            local_filter: filter(&m.local.filter),
            integration_filter: filter(&m.integration.filter),
        },
        local,
        integration,
        couplings: m.couplings.as_ref().map(|c| base.join(&c.csv)),
        warnings,
        sync,
        create_new,
        depends_on: m.depends_on.clone(),
        lookup_tables: BTreeMap::new(),
        lookups: m.fields.iter().fold(Vec::new(), |mut names, f| {
            if let Some(via) = &f.via {
                add_columns(&mut names, [via]);
            }
            names
        }),
        mapped_local: m.fields.iter().filter_map(|f| f.local.clone()).collect(),
        mapped_integration: m
            .fields
            .iter()
            .filter(|f| f.constant.is_none())
            .map(|f| f.integration.clone())
            .collect(),
        local_table_filter: table_filter("local", &m.local.table_filter, |column| {
            let field = m.fields.iter().find(|f| f.local.as_deref() == Some(column));
            field.map(|f| parse_type(&f.field_type)).transpose()
        })?,
        integration_table_filter: table_filter(
            "integration",
            &m.integration.table_filter,
            |column| {
                let field = m.fields.iter().find(|f| f.integration == column);
                field.map(|f| parse_type(&f.field_type)).transpose()
            },
        )?,
        profiled_fields: m
            .fields
            .iter()
            .filter_map(|f| {
                let local = f.local.clone()?;
                let field_type = parse_type(&f.field_type).ok()?;
                Some((local, f.integration.clone(), field_type, f.via.clone()))
            })
            .collect(),
    };
    // The conflict text names the integration table by its caption.
    let caption = planned.configured.integration_caption.clone();
    for s in planned.sync.iter_mut().chain(planned.create_new.iter_mut()) {
        s.integration_table_caption = caption.clone();
    }
    Ok(planned)
}

/// Languages whose Dataverse collation is accent-sensitive (`_CI_AS`); all others are `_CI_AI`
/// (Power Platform admin docs, "language collations").
const ACCENT_SENSITIVE_LANGUAGES: [(&str, &str); 10] = [
    ("fi", "1035"),
    ("sv", "1053"),
    ("ro", "1048"),
    ("hr", "1050"),
    ("sk", "1051"),
    ("th", "1054"),
    ("id", "1057"),
    ("uk", "1058"),
    ("sl", "1060"),
    ("et", "1061"),
];

fn engine_collation(m: &MappingConfig) -> Result<coupler_engine::Collation> {
    if m.collation == Collation::Exact {
        return Ok(coupler_engine::Collation::Exact);
    }
    let accent_sensitive = match m.collation_language.as_deref().map(str::trim) {
        None => false,
        Some(lang) => {
            let primary = lang
                .split(['-', '_'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if primary.is_empty()
                || !(primary.chars().all(|c| c.is_ascii_alphabetic()) && primary.len() <= 3
                    || primary.chars().all(|c| c.is_ascii_digit()))
            {
                bail!("collation_language = \"{lang}\": give a language tag (\"en-US\", \"fi\") or an LCID (1033)");
            }
            ACCENT_SENSITIVE_LANGUAGES
                .iter()
                .any(|(tag, lcid)| *tag == primary || *lcid == primary)
        }
    };
    Ok(coupler_engine::Collation::Dataverse { accent_sensitive })
}

fn sync_direction(d: Direction) -> SyncDirection {
    match d {
        Direction::Bidirectional => SyncDirection::Bidirectional,
        Direction::ToIntegration => SyncDirection::ToIntegration,
        Direction::FromIntegration => SyncDirection::FromIntegration,
    }
}

fn filter(f: &BTreeMap<String, FilterValue>) -> Vec<(String, String)> {
    f.iter().map(|(k, v)| (k.clone(), v.as_text())).collect()
}

/// The file name of a path, as used in messages (`accounts.csv`).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn parse_type(name: &str) -> Result<FieldType> {
    Ok(match name {
        "text" => FieldType::Text,
        "code" => FieldType::Code,
        "integer" => FieldType::Integer,
        "decimal" => FieldType::Decimal,
        "boolean" => FieldType::Boolean,
        "date" => FieldType::Date,
        "option" => FieldType::Option,
        other => bail!(
            "unknown type \"{other}\"; the types are text, code, integer, decimal, boolean, date, option"
        ),
    })
}

fn is_dataverse(s: &SourceConfig) -> bool {
    s.dataverse.is_some() || s.dataverse_table.is_some() || s.table.is_some()
}

/// `dataverse_table = "accounts"`, or the other form `dataverse = URL, table = …`.
fn dataverse_table(s: &SourceConfig) -> Result<DataverseTable> {
    for (key, set) in [
        ("csv", s.csv.is_some()),
        ("xlsx", s.xlsx.is_some()),
        ("sheet", s.sheet.is_some()),
        ("delimiter", s.delimiter.is_some()),
        ("encoding", s.encoding.is_some()),
        ("has_headers", s.has_headers.is_some()),
    ] {
        if set {
            bail!("[mappings.integration]: {key} does not apply to a Dataverse source");
        }
    }
    let entity_set = match (&s.dataverse_table, &s.table) {
        (Some(_), Some(_)) => bail!("[mappings.integration]: set dataverse_table or table, not both"),
        (Some(t), None) | (None, Some(t)) => t.trim().to_string(),
        (None, None) => bail!("[mappings.integration]: name the Dataverse table: dataverse_table = \"accounts\" (its entity set name)"),
    };
    if entity_set.is_empty()
        || !entity_set
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        bail!("[mappings.integration]: dataverse_table = \"{entity_set}\" is not an entity set name (letters, digits and _ only, e.g. \"accounts\")");
    }
    let strategy = match s.read_strategy.as_deref() {
        None | Some("auto") => ReadStrategy::Auto,
        Some("bulk") => ReadStrategy::Bulk,
        Some("lookup") => ReadStrategy::Lookup,
        Some(other) => bail!("[mappings.integration]: unknown read_strategy \"{other}\"; use \"auto\", \"bulk\" or \"lookup\""),
    };
    Ok(DataverseTable {
        entity_set,
        strategy,
    })
}

fn file_source(s: &SourceConfig, base: &Path, side: &str) -> Result<FileSource> {
    if s.read_strategy.is_some() {
        bail!("[mappings.{side}]: read_strategy applies to Dataverse sources only");
    }
    let csv_only = |key: &str, set: bool| -> Result<()> {
        if set {
            bail!("[mappings.{side}]: {key} applies to csv sources only");
        }
        Ok(())
    };
    match (&s.csv, &s.xlsx) {
        (Some(_), Some(_)) => bail!("[mappings.{side}]: set csv or xlsx, not both"),
        (None, None) => {
            bail!("[mappings.{side}]: no source; set csv = \"file.csv\" or xlsx = \"file.xlsx\"")
        }
        (Some(path), None) => {
            if s.sheet.is_some() {
                bail!("[mappings.{side}]: sheet applies to xlsx sources only");
            }
            let delimiter = match s.delimiter.as_deref() {
                None => None,
                Some("tab") | Some("\t") => Some(b'\t'),
                // Control characters (a NUL, CR, LF) and the quote cannot separate values.
                Some(d)
                    if d.len() == 1
                        && d.is_ascii()
                        && !d.as_bytes()[0].is_ascii_control()
                        && d != "\"" =>
                {
                    Some(d.as_bytes()[0])
                }
                Some(d) => bail!(
                    "[mappings.{side}]: delimiter must be one printable character other than the quote (or \"tab\"), not {d:?}"
                ),
            };
            let encoding = match s.encoding.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("utf-8") | Some("utf8") => Encoding::Utf8,
                Some("windows-1252") | Some("cp1252") => Encoding::Windows1252,
                Some(other) => bail!("[mappings.{side}]: unknown encoding \"{other}\"; use \"utf-8\" or \"windows-1252\""),
            };
            Ok(FileSource {
                path: base.join(path),
                format: SourceFormat::Csv(CsvOptions {
                    delimiter,
                    encoding,
                    has_headers: s.has_headers.unwrap_or(true),
                }),
            })
        }
        (None, Some(path)) => {
            csv_only("delimiter", s.delimiter.is_some())?;
            csv_only("encoding", s.encoding.is_some())?;
            csv_only("has_headers", s.has_headers.is_some())?;
            Ok(FileSource {
                path: base.join(path),
                format: SourceFormat::Xlsx {
                    sheet: s.sheet.clone(),
                },
            })
        }
    }
}

/// A variant's match criteria (fields with `match = false` left out) and priority mode. A
/// variant's field is a criterion unless it says `match = false`, and names both columns.
fn variant_criteria(
    variant: &VariantConfig,
    default_mode: PriorityMode,
) -> Result<(Vec<MatchCriterion>, PriorityMode)> {
    let mut criteria = Vec::new();
    for (i, f) in variant.fields.iter().enumerate() {
        let n = i + 1;
        let is_match = f.is_match.unwrap_or(true);
        let field_type =
            parse_type(&f.field_type).with_context(|| format!("field #{n} ({})", f.integration))?;
        let beyond = f
            .match_settings()
            .resolve(is_match, field_type == FieldType::Option)
            .with_context(|| format!("field #{n} ({})", f.integration))?;
        if f.constant.is_some() {
            bail!(
                "field #{n} ({}): constant does not apply to a variant's field (a variant only matches)",
                f.integration
            );
        }
        let local = f.local.as_deref().unwrap_or("");
        if local.trim().is_empty() || f.integration.trim().is_empty() {
            bail!("field #{n}: local and integration must name columns");
        }
        if let Some(via) = &f.via {
            check_lookup(f, via, "", field_type)
                .with_context(|| format!("field #{n} ({})", f.integration))?;
        }
        if is_match {
            criteria.push(criterion(f, local.to_string(), field_type, beyond));
        }
    }
    if criteria.is_empty() {
        bail!("no match criteria; add [[variants.fields]] tables (local, integration, priority, case_sensitive)");
    }
    let mode = match variant.priority_mode {
        None => default_mode,
        Some(PriorityModeConfig::Cumulative) => PriorityMode::Cumulative,
        Some(PriorityModeConfig::Independent) => PriorityMode::Independent,
    };
    Ok((criteria, mode))
}

/// Positions of a mapping's dependencies (each once, in the order given).
fn dependency_indices(names: &[&str], depends_on: &[String]) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for d in depends_on {
        let i = names
            .iter()
            .position(|n| n == d)
            .ok_or_else(|| anyhow!("depends_on names '{d}', which the config does not define"))?;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(out)
}

/// The mappings in an order where each comes after its dependencies; among the mappings free to
/// go, the first in config order. A cycle is an error naming it, read "depends on".
fn dependency_order(names: &[&str], depends: &[Vec<usize>]) -> Result<Vec<usize>, String> {
    let n = names.len();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n).find(|&i| !placed[i] && depends[i].iter().all(|&d| placed[d]));
        match next {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => return Err(cycle_message(names, depends, &placed)),
        }
    }
    Ok(order)
}

/// Every unplaced mapping has an unplaced dependency, so following them from the first one
/// must come back to a mapping already on the path: that loop is the cycle.
fn cycle_message(names: &[&str], depends: &[Vec<usize>], placed: &[bool]) -> String {
    let start = (0..names.len())
        .find(|&i| !placed[i])
        .expect("a cycle leaves a mapping unplaced");
    let mut path = vec![start];
    let mut current = start;
    loop {
        current = *depends[current]
            .iter()
            .find(|&&d| !placed[d])
            .expect("an unplaced mapping waits for an unplaced dependency");
        if let Some(at) = path.iter().position(|&p| p == current) {
            let mut cycle: Vec<&str> = path[at..].iter().map(|&i| names[i]).collect();
            cycle.push(names[current]);
            return format!(
                "the mappings' depends_on form a cycle: {}; no mapping in it could ever start — remove one of these dependencies",
                cycle.join(" → ")
            );
        }
        path.push(current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_topological_and_stable() {
        // C depends on A; A depends on B: B, A, C — and D (free) keeps its place among equals.
        let names = ["A", "B", "C", "D"];
        let depends = vec![vec![1], vec![], vec![0], vec![]];
        assert_eq!(
            dependency_order(&names, &depends).unwrap(),
            vec![1, 0, 2, 3]
        );
    }

    #[test]
    fn a_cycle_is_named_from_its_first_mapping() {
        let names = ["X", "CURRENCY", "CUSTOMER"];
        let depends = vec![vec![1], vec![2], vec![1]];
        let e = dependency_order(&names, &depends).unwrap_err();
        assert!(e.contains("cycle: CURRENCY → CUSTOMER → CURRENCY;"), "{e}");
        let e = dependency_order(&["A"], &[vec![0]]).unwrap_err();
        assert!(e.contains("cycle: A → A;"), "{e}");
    }
}
