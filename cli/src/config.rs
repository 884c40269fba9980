//! The configuration file (contract: "Configuration (TOML)"): parsing with unknown keys
//! rejected, validation with messages that name the mapping and the key, and translation into
//! engine specs and file sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use coupler_dataverse::ReadStrategy;
use coupler_engine::sync::{
    ConflictResolution as SyncConflictResolution, FieldMapping, SyncDirection,
};
use coupler_engine::{CouplingSpec, FieldType, MatchCriterion, PriorityMode, SyncSpec};
use coupler_files::{CsvOptions, Encoding, FileSource, SourceFormat};

use crate::match_settings::MatchSettings;
use serde::Deserialize;

/// The whole file. Sections for features of later versions (`store`, `[[variants]]`) are
/// parsed so that one config serves every version, but not used yet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Config {
    #[serde(default)]
    pub mappings: Vec<MappingConfig>,
    /// Path of the coupling store (default: `coupler.db` beside the config).
    pub store: Option<PathBuf>,
    /// The Dataverse connection (contract: "Dataverse").
    pub dataverse: Option<DataverseConfig>,
    /// Criteria variants for `criteria compare` (a later version).
    #[serde(default)]
    pub variants: Vec<toml::Table>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    #[default]
    Bidirectional,
    ToIntegration,
    FromIntegration,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConflictResolution {
    #[default]
    None,
    Send,
    Get,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Collation {
    #[default]
    Exact,
    Dataverse,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PriorityModeConfig {
    #[default]
    Cumulative,
    Independent,
}

/// One `[[mappings]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    pub name: String,
    pub local_caption: Option<String>,
    pub integration_caption: Option<String>,
    #[serde(default)]
    pub priority_mode: PriorityModeConfig,
    #[serde(default)]
    pub collation: Collation,
    /// With `collation = "dataverse"`: the environment's base language (e.g. "en-US", "fi",
    /// "sv", or an LCID such as 1035), which decides accent sensitivity.
    pub collation_language: Option<String>,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub sync_after_coupling: bool,
    #[serde(default)]
    pub update_conflict_resolution: ConflictResolution,
    #[serde(default)]
    pub create_new_if_no_match: bool,
    #[serde(default)]
    pub depends_on: Vec<String>,
    pub local: SourceConfig,
    pub integration: SourceConfig,
    pub couplings: Option<CouplingsConfig>,
    #[serde(default)]
    pub fields: Vec<FieldConfig>,
}

/// `[mappings.local]` / `[mappings.integration]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub csv: Option<PathBuf>,
    pub xlsx: Option<PathBuf>,
    pub sheet: Option<String>,
    pub dataverse: Option<String>,
    pub table: Option<String>,
    pub dataverse_table: Option<String>,
    pub key: Option<String>,
    #[serde(default)]
    pub filter: BTreeMap<String, FilterValue>,
    pub delimiter: Option<String>,
    pub encoding: Option<String>,
    pub has_headers: Option<bool>,
    /// Dataverse sources: `auto` (default), `bulk` or `lookup`.
    pub read_strategy: Option<String>,
}

/// `[dataverse]`: the environment and the application's credential. The secret itself is
/// never in the file: it comes from an environment variable or a file of its own.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct DataverseConfig {
    pub url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub certificate: Option<PathBuf>,
    /// `PS256` (default, `x5t#S256`) or `RS256` (`x5t`).
    pub certificate_algorithm: Option<String>,
    pub authority: Option<String>,
    pub local_currency: Option<String>,
    #[serde(default)]
    pub strict_currency: bool,
    /// Retries of one request after 429/5xx/timeouts (default 8).
    pub max_retries: Option<u32>,
    /// First backoff ceiling in milliseconds after a 5xx/timeout; doubles per retry (default 500).
    pub retry_delay_ms: Option<u64>,
    /// Time limit of one request in seconds (default 120).
    pub timeout_secs: Option<u64>,
    /// Rows per page of a whole-table read (default and maximum 5000).
    pub page_size: Option<u32>,
}

/// A filter value; numbers and booleans are compared as their text.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged, expecting = "expected a text, an integer or a boolean")]
pub enum FilterValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
}

impl FilterValue {
    fn as_text(&self) -> String {
        match self {
            FilterValue::Text(s) => s.clone(),
            FilterValue::Integer(i) => i.to_string(),
            FilterValue::Boolean(b) => b.to_string(),
        }
    }
}

/// `[mappings.couplings]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouplingsConfig {
    pub csv: PathBuf,
}

/// One `[[mappings.fields]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    pub local: Option<String>,
    pub integration: String,
    #[serde(rename = "type", default = "default_type")]
    pub field_type: String,
    pub direction: Option<Direction>,
    #[serde(rename = "match", default)]
    pub is_match: bool,
    #[serde(default)]
    pub priority: u32,
    #[serde(default)]
    pub case_sensitive: bool,
    pub constant: Option<String>,
    /// Beyond BC: normalizers, applied in order to both sides (see `match_settings`).
    #[serde(default)]
    pub normalize: Vec<toml::Value>,
    /// Beyond BC: `exact` (default), `jaro_winkler`, `levenshtein`, `normalized_levenshtein`.
    pub compare: Option<String>,
    pub threshold: Option<f64>,
    pub tie_margin: Option<f64>,
    /// `sorted_neighbourhood` (default), `prefix`, `first_token`.
    pub blocking: Option<String>,
    pub blocking_size: Option<usize>,
    /// `type = "option"`: BC option caption → Dataverse choice value.
    pub options: Option<BTreeMap<String, i64>>,
}

/// `[[mappings.fields]]` and `[[variants.fields]]` declare the same keys beyond BC (serde's
/// `flatten` cannot be combined with `deny_unknown_fields`); one accessor reads them.
macro_rules! impl_match_settings {
    ($($table:ty),*) => {$(
        impl $table {
            pub fn match_settings(&self) -> MatchSettings<'_> {
                MatchSettings {
                    normalize: &self.normalize,
                    compare: self.compare.as_deref(),
                    threshold: self.threshold,
                    tie_margin: self.tie_margin,
                    blocking: self.blocking.as_deref(),
                    blocking_size: self.blocking_size,
                    options: self.options.as_ref(),
                }
            }
        }
    )*};
}

impl_match_settings!(FieldConfig, VariantFieldConfig);

fn default_type() -> String {
    "text".into()
}

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

impl PlannedMapping {
    /// Every local column the job reads: the engine's, and the synchronization's.
    pub fn local_columns(&self) -> Vec<String> {
        self.with_sync_columns(self.spec.local_columns(), SyncSpec::local_columns)
    }

    /// Every integration column the job reads.
    pub fn integration_columns(&self) -> Vec<String> {
        self.with_sync_columns(
            self.spec.integration_columns(),
            SyncSpec::integration_columns,
        )
    }

    fn with_sync_columns(
        &self,
        mut columns: Vec<String>,
        of: fn(&SyncSpec) -> Vec<String>,
    ) -> Vec<String> {
        for spec in self.sync.iter().chain(self.create_new.iter()) {
            for c in of(spec) {
                if !columns.contains(&c) {
                    columns.push(c);
                }
            }
        }
        columns
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

/// A mapping ready to run: engine spec, where its data is, which couplings exist.
#[derive(Debug, Clone)]
pub struct PlannedMapping {
    /// The engine's spec. For a Dataverse source without `key`, `integration_key` is empty
    /// until the table's primary key is read from metadata.
    pub spec: CouplingSpec,
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
}

/// A loaded, validated config.
#[derive(Debug)]
pub struct Plan {
    pub path: PathBuf,
    pub mappings: Vec<PlannedMapping>,
    pub dataverse: Option<DataverseConfig>,
    /// The config file's folder (relative paths are relative to it).
    pub base: PathBuf,
    /// The coupling store: `store = "…"`, or `coupler.db` beside the config.
    pub store: PathBuf,
}

impl Plan {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let config: Config = parse_toml(path, &text)?;
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if config.mappings.is_empty() {
            bail!(
                "{}: no [[mappings]] defined; see the config reference in docs/configuration.md",
                path.display()
            );
        }
        check_mapping_names(path, &text, &config.mappings)?;
        let store = checked_store(path, &text, &base, config.store.as_deref())?;
        let mut mappings: Vec<PlannedMapping> = Vec::new();
        for m in &config.mappings {
            let planned = plan_mapping(m, &base, config.dataverse.as_ref())
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
        if let Some(d) = &config.dataverse {
            check_dataverse(d).with_context(|| format!("{}: [dataverse]", path.display()))?;
        } else if let Some(m) = mappings
            .iter()
            .find(|m| matches!(m.integration, IntegrationSource::Dataverse(_)))
        {
            bail!(
                "{}: mapping '{}' reads from Dataverse, but the config has no [dataverse] section (url, tenant_id, client_id and a credential)",
                path.display(),
                m.spec.mapping_name
            );
        }
        if let Some(d) = &config.dataverse {
            for (m, c) in mappings.iter().zip(&config.mappings) {
                if let Some(url) = &c.integration.dataverse {
                    if url.trim_end_matches('/') != d.url.trim_end_matches('/') {
                        bail!("{}: mapping '{}': [mappings.integration] dataverse = \"{url}\" differs from [dataverse] url = \"{}\"; one environment per config", path.display(), m.spec.mapping_name, d.url);
                    }
                }
            }
        }
        Ok(Plan {
            path: path.to_path_buf(),
            mappings,
            dataverse: config.dataverse,
            store,
            base,
        })
    }

    /// The mappings to run: all, or those named (in config order), each name checked.
    pub fn select(&self, names: &[String]) -> Result<Vec<&PlannedMapping>> {
        for n in names {
            if !self.mappings.iter().any(|m| &m.spec.mapping_name == n) {
                let known: Vec<_> = self
                    .mappings
                    .iter()
                    .map(|m| m.spec.mapping_name.as_str())
                    .collect();
                bail!(
                    "{}: no mapping named '{n}'; the mappings are: {}",
                    self.path.display(),
                    known.join(", ")
                );
            }
        }
        Ok(self
            .mappings
            .iter()
            .filter(|m| names.is_empty() || names.contains(&m.spec.mapping_name))
            .collect())
    }
}

fn plan_mapping(
    m: &MappingConfig,
    base: &Path,
    dataverse: Option<&DataverseConfig>,
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
            .resolve(f.is_match, field_type == FieldType::Option)
            .with_context(|| format!("field mapping #{n} ({})", f.integration))?;
        if f.constant.is_some() && f.local.is_some() {
            bail!(
                "field mapping #{n} ({}): set either local or constant, not both",
                f.integration
            );
        }
        if !f.is_match {
            continue;
        }
        let Some(local_field) = f.local.clone() else {
            bail!(
                "field mapping #{n} ({}): a constant-value field mapping cannot be a match criterion",
                f.integration
            );
        };
        criteria.push(MatchCriterion {
            local_field,
            integration_field: f.integration.clone(),
            field_type,
            priority: f.priority,
            case_sensitive: f.case_sensitive,
            normalizers: beyond.normalizers,
            comparator: beyond.comparator,
            options: beyond.options,
        });
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
        spec: CouplingSpec {
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
        mapped_local: m.fields.iter().filter_map(|f| f.local.clone()).collect(),
        mapped_integration: m
            .fields
            .iter()
            .filter(|f| f.constant.is_none())
            .map(|f| f.integration.clone())
            .collect(),
    };
    // The conflict text names the integration table by its caption.
    let caption = planned.spec.integration_caption.clone();
    for s in planned.sync.iter_mut().chain(planned.create_new.iter_mut()) {
        s.integration_table_caption = caption.clone();
    }
    Ok(planned)
}

/// Parses a TOML file into `T`. An error is one line naming the file, the line and column, the
/// key (`mappings[0].fields[2].priority`) and, inside a `[[mappings]]` or `[[variants]]` table,
/// that table's name.
fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
        let message = e.inner().message().trim_end().replace('\n', " ");
        let place = located(path, text, e.inner().span());
        let key = e.path().to_string();
        if key == "." {
            // A syntax error, or one about the file as a whole: no key to name.
            return anyhow!("{place}: {message}");
        }
        match table_name(text, e.path()) {
            Some(named) => anyhow!("{place}: {key} ({named}): {message}"),
            None => anyhow!("{place}: {key}: {message}"),
        }
    })
}

/// `mapping 'CUSTOMER'` when `key` lies inside `mappings[i]` whose `name` is a string (likewise
/// `variant '…'` for `variants[i]`).
fn table_name(text: &str, key: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut segments = key.iter();
    let (Some(Segment::Map { key: array }), Some(Segment::Seq { index })) =
        (segments.next(), segments.next())
    else {
        return None;
    };
    let kind = match array.as_str() {
        "mappings" => "mapping",
        "variants" => "variant",
        _ => return None,
    };
    let document: toml::Table = toml::from_str(text).ok()?;
    let name = document.get(array)?.get(*index)?.get("name")?.as_str()?;
    Some(format!("{kind} '{}'", shown(name)))
}

/// `file: line L, column C` for a byte span of `text` (the column counts characters), or just
/// the file.
fn located(path: &Path, text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return path.display().to_string();
    };
    let mut start = span.start.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    format!("{}: line {line}, column {column}", path.display())
}

/// A name as messages show it: control characters escaped, so the message stays one line.
fn shown(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Where the values [`Plan::load`] checks after parsing are written (for messages).
#[derive(Debug, Deserialize)]
struct Spans {
    #[serde(default)]
    mappings: Vec<MappingSpans>,
    store: Option<toml::Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
struct MappingSpans {
    name: Option<toml::Spanned<toml::Value>>,
}

impl Spans {
    fn of(text: &str) -> Option<Spans> {
        toml::from_str(text).ok()
    }

    fn mapping_name(text: &str, index: usize) -> Option<std::ops::Range<usize>> {
        let spans = Spans::of(text)?;
        Some(spans.mappings.get(index)?.name.as_ref()?.span())
    }
}

/// Windows' reserved device names: no file or folder may be called so, with any extension.
const RESERVED_NAMES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Why `name` cannot name a mapping, if it cannot: the name is the mapping's output folder
/// (`coupler-out/<name>`), so it must be one valid folder name on Windows, macOS and Linux.
fn mapping_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the name is empty".into());
    }
    if name.trim().is_empty() {
        return Some("the name is blank".into());
    }
    if name == "." || name == ".." {
        return Some(format!("the name cannot be '{name}'"));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\')) {
        return Some(format!("the name contains '{c}', a path separator"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|'))
    {
        return Some(format!(
            "the name contains '{c}', which Windows does not allow in a folder name"
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Some(format!(
            "the name contains the control character {}",
            c.escape_default()
        ));
    }
    if name.ends_with(['.', ' ']) {
        return Some(
            "the name ends with a dot or a space, which Windows drops from folder names".into(),
        );
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    if RESERVED_NAMES.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        return Some(format!(
            "'{stem}' is a reserved device name on Windows, not a valid folder name"
        ));
    }
    None
}

/// Every mapping name is a valid folder name, and no two are equal ignoring case (they would
/// share an output folder on Windows and macOS).
fn check_mapping_names(path: &Path, text: &str, mappings: &[MappingConfig]) -> Result<()> {
    let at = |index: usize| located(path, text, Spans::mapping_name(text, index));
    for (i, m) in mappings.iter().enumerate() {
        if let Some(problem) = mapping_name_problem(&m.name) {
            bail!(
                "{}: mappings[{i}].name: mapping '{}': {problem}; a mapping's name is its output folder's name (coupler-out/<name>)",
                at(i),
                shown(&m.name)
            );
        }
        let earlier = mappings[..i]
            .iter()
            .position(|o| o.name.to_lowercase() == m.name.to_lowercase());
        if let Some(j) = earlier {
            let other = &mappings[j].name;
            if *other == m.name {
                bail!(
                    "{}: mappings[{i}].name: mapping name '{}' is used twice (also mappings[{j}])",
                    at(i),
                    m.name
                );
            }
            bail!(
                "{}: mappings[{i}].name: mapping '{}' and mapping '{other}' (mappings[{j}]) differ only in case; they would share one output folder on Windows and macOS",
                at(i),
                m.name
            );
        }
    }
    Ok(())
}

/// The coupling store's file: `store = "…"` (relative to the config's folder), or `coupler.db`
/// beside the config. A blank value, or one naming a folder, is an error.
fn checked_store(path: &Path, text: &str, base: &Path, store: Option<&Path>) -> Result<PathBuf> {
    let Some(store) = store else {
        return Ok(base.join("coupler.db"));
    };
    let at = || {
        let span = Spans::of(text).and_then(|s| s.store.map(|v| v.span()));
        located(path, text, span)
    };
    let written = store.to_string_lossy();
    if written.trim().is_empty() {
        bail!(
            "{}: store is empty; name the coupling store's file, e.g. store = \"coupler.db\", or leave store out (coupler.db beside the config)",
            at()
        );
    }
    let resolved = base.join(store);
    if resolved.is_dir() || written.ends_with(['/', '\\']) {
        bail!(
            "{}: store = \"{}\" is a folder; name a file, e.g. \"{}\"",
            at(),
            written,
            store.join("coupler.db").display()
        );
    }
    Ok(resolved)
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

/// `dataverse_table = "accounts"`, or the contract's other form `dataverse = URL, table = …`.
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

/// `[dataverse]` rules that need no network: one credential, known algorithm, sane limits.
fn check_dataverse(d: &DataverseConfig) -> Result<()> {
    coupler_dataverse::settings::checked_url(&d.url, "url")?;
    if let Some(a) = &d.authority {
        coupler_dataverse::settings::checked_url(a, "authority")?;
    }
    let credentials = [
        d.client_secret_env.is_some(),
        d.client_secret_file.is_some(),
        d.certificate.is_some(),
    ]
    .iter()
    .filter(|set| **set)
    .count();
    if credentials != 1 {
        bail!("set exactly one credential: client_secret_env = \"VARIABLE\" (the secret is read from that environment variable), client_secret_file = \"path\", or certificate = \"app.pem\"; secrets never go in the config itself");
    }
    for (key, path) in [
        ("certificate", &d.certificate),
        ("client_secret_file", &d.client_secret_file),
    ] {
        if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            bail!("[dataverse] {key} is empty; name the file, e.g. {key} = \"app.pem\"");
        }
    }
    if let Some(alg) = &d.certificate_algorithm {
        if d.certificate.is_none() {
            bail!("certificate_algorithm applies only with certificate");
        }
        if !matches!(alg.as_str(), "PS256" | "RS256") {
            bail!("certificate_algorithm = \"{alg}\"; use \"PS256\" (default) or \"RS256\"");
        }
    }
    if let Some(p) = d.page_size {
        if p == 0 || p > coupler_dataverse::settings::MAX_PAGE_SIZE {
            bail!("page_size = {p}; Dataverse serves 1 to 5000 rows per page");
        }
    }
    if d.timeout_secs == Some(0) {
        bail!("timeout_secs must be at least 1");
    }
    Ok(())
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

// ---- `criteria compare` and `profile` ------------------------------------------------------

/// One `[[variants]]` table of `criteria compare`: a named criteria set. Its `[[variants.fields]]`
/// take the `[[mappings.fields]]` form; `match` defaults to `true` there (a field listed in a
/// variant is a criterion unless it says `match = false`), and `direction` is accepted and
/// ignored (so mapping fields can be pasted as they are).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    pub name: String,
    /// Default: the mapping's own.
    pub priority_mode: Option<PriorityModeConfig>,
    #[serde(default)]
    pub fields: Vec<VariantFieldConfig>,
}

/// One `[[variants.fields]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFieldConfig {
    pub local: String,
    pub integration: String,
    #[serde(rename = "type", default = "default_type")]
    pub field_type: String,
    #[serde(rename = "match", default = "default_true")]
    pub is_match: bool,
    #[serde(default)]
    pub priority: u32,
    #[serde(default)]
    pub case_sensitive: bool,
    #[allow(dead_code)]
    pub direction: Option<Direction>,
    /// Beyond BC: normalizers, applied in order to both sides (see `match_settings`).
    #[serde(default)]
    pub normalize: Vec<toml::Value>,
    /// Beyond BC: `exact` (default), `jaro_winkler`, `levenshtein`, `normalized_levenshtein`.
    pub compare: Option<String>,
    pub threshold: Option<f64>,
    pub tie_margin: Option<f64>,
    /// `sorted_neighbourhood` (default), `prefix`, `first_token`.
    pub blocking: Option<String>,
    pub blocking_size: Option<usize>,
    /// `type = "option"`: BC option caption → Dataverse choice value.
    pub options: Option<BTreeMap<String, i64>>,
}

fn default_true() -> bool {
    true
}

/// The `[[variants]]` of a config file (its other sections are read by [`Plan::load`]).
#[derive(Debug, Deserialize)]
struct ConfigVariants {
    #[serde(default)]
    variants: Vec<VariantConfig>,
}

/// A `--variants FILE`: `[[variants]]` tables and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantsFile {
    #[serde(default)]
    variants: Vec<VariantConfig>,
}

/// Reads the `[[variants]]` of a file: a config (`only_variants = false`; its other sections
/// are left to [`Plan::load`]) or a variants file (`true`: any other key is an error). Unknown
/// keys are errors naming the key, the line and the column.
pub fn load_variants(path: &Path, only_variants: bool) -> Result<Vec<VariantConfig>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read variants file {}", path.display()))?;
    if only_variants {
        parse_toml::<VariantsFile>(path, &text).map(|f| f.variants)
    } else {
        parse_toml::<ConfigVariants>(path, &text).map(|f| f.variants)
    }
}

impl VariantConfig {
    /// The variant's match criteria (fields with `match = false` left out) and priority mode.
    pub fn criteria(
        &self,
        default_mode: PriorityMode,
    ) -> Result<(Vec<MatchCriterion>, PriorityMode)> {
        let mut criteria = Vec::new();
        for (i, f) in self.fields.iter().enumerate() {
            let field_type = parse_type(&f.field_type)
                .with_context(|| format!("field #{} ({})", i + 1, f.integration))?;
            let beyond = f
                .match_settings()
                .resolve(f.is_match, field_type == FieldType::Option)
                .with_context(|| format!("field #{} ({})", i + 1, f.integration))?;
            if f.local.trim().is_empty() || f.integration.trim().is_empty() {
                bail!("field #{}: local and integration must name columns", i + 1);
            }
            if f.is_match {
                criteria.push(MatchCriterion {
                    local_field: f.local.clone(),
                    integration_field: f.integration.clone(),
                    field_type,
                    priority: f.priority,
                    case_sensitive: f.case_sensitive,
                    normalizers: beyond.normalizers,
                    comparator: beyond.comparator,
                    options: beyond.options,
                });
            }
        }
        if criteria.is_empty() {
            bail!("no match criteria; add [[variants.fields]] tables (local, integration, priority, case_sensitive)");
        }
        let mode = match self.priority_mode {
            None => default_mode,
            Some(PriorityModeConfig::Cumulative) => PriorityMode::Cumulative,
            Some(PriorityModeConfig::Independent) => PriorityMode::Independent,
        };
        Ok((criteria, mode))
    }
}

/// A mapping's `[[mappings.fields]]` with a local column, as `(local, integration, type)`: the
/// fields `profile` looks at. The config must have passed [`Plan::load`].
pub fn mapped_fields(path: &Path, mapping: &str) -> Result<Vec<(String, String, FieldType)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    let config: Config = parse_toml(path, &text)?;
    let m = config
        .mappings
        .into_iter()
        .find(|m| m.name == mapping)
        .ok_or_else(|| anyhow!("{}: no mapping named '{mapping}'", path.display()))?;
    let mut out = Vec::new();
    for f in m.fields {
        if let Some(local) = f.local {
            let t = parse_type(&f.field_type)?;
            out.push((local, f.integration, t));
        }
    }
    Ok(out)
}
