//! The configuration file (contract: "Configuration (TOML)"): parsing with unknown keys
//! rejected, validation with messages that name the mapping and the key, and translation into
//! engine specs and file sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use coupler_engine::{CouplingSpec, FieldType, MatchCriterion, PriorityMode};
use coupler_files::{CsvOptions, Encoding, FileSource, SourceFormat};
use serde::Deserialize;

/// The whole file. Sections for features of later versions (`store`, `[dataverse]`,
/// `[[variants]]`) are parsed so that one config serves every version, but not used yet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Config {
    #[serde(default)]
    pub mappings: Vec<MappingConfig>,
    /// Path of the coupling store (used by `--apply`; a later version).
    pub store: Option<PathBuf>,
    /// Dataverse connection (a later version); accepted so configs can be shared.
    pub dataverse: Option<toml::Table>,
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
}

/// A filter value; numbers and booleans are compared as their text.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
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
}

fn default_type() -> String {
    "text".into()
}

/// A mapping ready to run: engine spec, where its data is, which couplings exist.
#[derive(Debug, Clone)]
pub struct PlannedMapping {
    pub spec: CouplingSpec,
    pub local: FileSource,
    pub integration: FileSource,
    pub couplings: Option<PathBuf>,
    /// Settings that do nothing in a dry run, or combinations BC only warns about in telemetry.
    pub warnings: Vec<String>,
}

/// A loaded, validated config.
#[derive(Debug)]
pub struct Plan {
    pub path: PathBuf,
    pub mappings: Vec<PlannedMapping>,
}

impl Plan {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let config: Config = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if config.mappings.is_empty() {
            bail!(
                "{}: no [[mappings]] defined; see the config reference in README.md",
                path.display()
            );
        }
        let mut mappings: Vec<PlannedMapping> = Vec::new();
        for m in &config.mappings {
            let planned = plan_mapping(m, &base)
                .with_context(|| format!("{}: mapping '{}'", path.display(), m.name))?;
            if mappings.iter().any(|p| p.spec.mapping_name == m.name) {
                bail!(
                    "{}: mapping name '{}' is used twice",
                    path.display(),
                    m.name
                );
            }
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
        Ok(Plan {
            path: path.to_path_buf(),
            mappings,
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

fn plan_mapping(m: &MappingConfig, base: &Path) -> Result<PlannedMapping> {
    if m.name.trim().is_empty() {
        bail!("the mapping name is blank");
    }
    if m.collation == Collation::Dataverse {
        bail!("collation = \"dataverse\" is not available in this version; use \"exact\" (BC's own comparison)");
    }
    let local = file_source(&m.local, base, "local")?;
    let integration = file_source(&m.integration, base, "integration")?;
    let local_key = m
        .local
        .key
        .clone()
        .ok_or_else(|| anyhow!("[mappings.local] needs key = \"<id column>\""))?;
    let integration_key = m
        .integration
        .key
        .clone()
        .ok_or_else(|| anyhow!("[mappings.integration] needs key = \"<id column>\""))?;
    let mut criteria = Vec::new();
    for (i, f) in m.fields.iter().enumerate() {
        let n = i + 1;
        let field_type = parse_type(&f.field_type)
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
        });
    }
    let mut warnings = Vec::new();
    if m.sync_after_coupling {
        warnings.push(format!("mapping '{}': sync_after_coupling = true has no effect in a dry run; synchronization needs --apply (a later version)", m.name));
        if m.direction == Direction::Bidirectional
            && m.update_conflict_resolution == ConflictResolution::None
        {
            warnings.push(format!("mapping '{}': bidirectional with update_conflict_resolution = \"none\": the first synchronization after coupling will fail every pair whose bidirectional fields differ (BC only logs this in telemetry); choose \"send\" or \"get\"", m.name));
        }
    }
    if m.create_new_if_no_match {
        warnings.push(format!("mapping '{}': create_new_if_no_match = true has no effect in a dry run; unmatched records are reported as failed", m.name));
    }
    for f in &m.fields {
        if f.direction
            .is_some_and(|d| d != m.direction && m.direction != Direction::Bidirectional)
        {
            warnings.push(format!("mapping '{}': field mapping {} has direction {:?}, which the mapping's direction {:?} never synchronizes", m.name, f.integration, f.direction.unwrap_or_default(), m.direction));
        }
    }
    let integration_source = file_name(&integration.path);
    Ok(PlannedMapping {
        spec: CouplingSpec {
            mapping_name: m.name.clone(),
            local_caption: m.local_caption.clone().unwrap_or_else(|| m.name.clone()),
            integration_caption: m
                .integration_caption
                .clone()
                .unwrap_or_else(|| integration_source.clone()),
            integration_source,
            local_key,
            integration_key,
            criteria,
            priority_mode: match m.priority_mode {
                PriorityModeConfig::Cumulative => PriorityMode::Cumulative,
                PriorityModeConfig::Independent => PriorityMode::Independent,
            },
            local_filter: filter(&m.local.filter),
            integration_filter: filter(&m.integration.filter),
        },
        local,
        integration,
        couplings: m.couplings.as_ref().map(|c| base.join(&c.csv)),
        warnings,
    })
}

/// A TOML error as one line: `file line L, column C: message`.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> anyhow::Error {
    let message = e.message().trim_end().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            anyhow!("{} line {line}, column {column}: {message}", path.display())
        }
        None => anyhow!("{}: {message}", path.display()),
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
        "option" => bail!(
            "type \"option\" is not available in this version; map the option's caption as text"
        ),
        other => bail!(
            "unknown type \"{other}\"; the types are text, code, integer, decimal, boolean, date"
        ),
    })
}

fn file_source(s: &SourceConfig, base: &Path, side: &str) -> Result<FileSource> {
    if s.dataverse.is_some() || s.dataverse_table.is_some() || s.table.is_some() {
        bail!("[mappings.{side}]: Dataverse sources are not available in this version; export the table to CSV or Excel and use csv = \"...\" or xlsx = \"...\"");
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
                Some(d) if d.len() == 1 && d.is_ascii() => Some(d.as_bytes()[0]),
                Some(d) => bail!(
                    "[mappings.{side}]: delimiter must be one character (or \"tab\"), not \"{d}\""
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
