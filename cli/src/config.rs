//! The configuration file `coupling.toml`: its keys (serde, unknown keys rejected), read once
//! ([`ConfigFile::read`]), and the checks that need the file's text to point at a line and
//! column (mapping names, the store). Turning a mapping into what a run needs is `plan.rs`'s
//! job; the `[dataverse]` section's keys and rules belong to the Dataverse adapter
//! ([`DataverseSection`]). Every key is described in `docs/configuration.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use coupler_dataverse::DataverseSection;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::match_settings::MatchSettings;

/// The whole file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub mappings: Vec<MappingConfig>,
    /// Path of the coupling store (default: `coupler.db` beside the config).
    pub store: Option<PathBuf>,
    /// The Dataverse connection.
    pub dataverse: Option<DataverseSection>,
    /// Criteria variants for `criteria compare`: read strictly only by that command
    /// ([`ConfigFile::variants`]), so that a variant being edited never stops a `couple`.
    #[serde(default, rename = "variants")]
    #[schemars(with = "Vec<VariantConfig>")]
    _variants: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    #[default]
    Bidirectional,
    ToIntegration,
    FromIntegration,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConflictResolution {
    #[default]
    None,
    Send,
    Get,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Collation {
    #[default]
    Exact,
    Dataverse,
}

#[derive(Debug, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PriorityModeConfig {
    #[default]
    Cumulative,
    Independent,
}

/// One `[[mappings]]` table.
#[derive(Debug, Deserialize, JsonSchema)]
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
#[derive(Debug, Deserialize, JsonSchema)]
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
    /// BC's filter syntax per column (`{ Name = "@a*|@b*", Balance = "1000.." }`): the rows a
    /// source holds for coupler, as an integration table mapping's table filter.
    #[serde(default)]
    pub table_filter: BTreeMap<String, String>,
    pub delimiter: Option<String>,
    pub encoding: Option<String>,
    pub has_headers: Option<bool>,
    /// Dataverse sources: `auto` (default), `bulk` or `lookup`.
    pub read_strategy: Option<String>,
}

/// A filter value; numbers and booleans are compared as their text.
#[derive(Debug, Deserialize, JsonSchema, Clone)]
#[serde(untagged, expecting = "expected a text, an integer or a boolean")]
pub enum FilterValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
}

impl FilterValue {
    pub fn as_text(&self) -> String {
        match self {
            FilterValue::Text(s) => s.clone(),
            FilterValue::Integer(i) => i.to_string(),
            FilterValue::Boolean(b) => b.to_string(),
        }
    }
}

/// `[mappings.couplings]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CouplingsConfig {
    pub csv: PathBuf,
}

/// One field table: `[[mappings.fields]]`, and `[[variants.fields]]` (the same keys, so that
/// mapping fields can be pasted into a variant as they are). Where the two differ — `match`
/// defaults to `false` in a mapping and `true` in a variant; a variant's field needs `local`
/// and has no `constant` — the planning says so (`plan.rs`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    pub local: Option<String>,
    pub integration: String,
    #[serde(rename = "type", default = "default_type")]
    pub field_type: String,
    /// Synchronization direction of this field (a variant accepts and ignores it).
    pub direction: Option<Direction>,
    #[serde(rename = "match")]
    pub is_match: Option<bool>,
    #[serde(default)]
    pub priority: u32,
    #[serde(default)]
    pub case_sensitive: bool,
    pub constant: Option<String>,
    /// Beyond BC: normalizers, applied in order to both sides (see `match_settings`).
    #[serde(default)]
    #[schemars(with = "Vec<serde_json::Value>")]
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
    /// A lookup through another mapping's couplings: the local value is a key of that
    /// mapping's local records, the integration column holds ids (`_parentcustomerid_value`).
    pub via: Option<String>,
    /// BC's "Clear Value on Failed Sync" (lookups only): a reference to a record that is not
    /// coupled clears the destination instead of failing the record.
    #[serde(default)]
    pub clear_on_failed_sync: bool,
}

impl FieldConfig {
    /// The keys beyond BC, for [`MatchSettings::resolve`].
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

fn default_type() -> String {
    "text".into()
}

/// A config file, read once: its path, its folder (relative paths start there), its text
/// (for messages that point at a line, and for `[[variants]]`) and its parsed keys.
#[derive(Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub base: PathBuf,
    pub text: String,
    pub config: Config,
}

impl ConfigFile {
    /// Reads and parses the file; unknown keys are errors naming the key, line and column.
    pub fn read(path: &Path) -> Result<ConfigFile> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            anyhow!(
                "{}: the config file is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
                path.display(),
                e.utf8_error().valid_up_to()
            )
        })?;
        let config: Config = parse_toml(path, &text)?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            base: path.parent().unwrap_or(Path::new("")).to_path_buf(),
            text,
            config,
        })
    }

    /// The `[[variants]]` of this file, read strictly (unknown keys are errors).
    pub fn variants(&self) -> Result<Vec<VariantConfig>> {
        parse_toml::<ConfigVariants>(&self.path, &self.text).map(|f| f.variants)
    }

    /// Checks what needs the text to be located: mapping names and the store. Returns the
    /// store's path.
    pub fn check_names_and_store(&self) -> Result<PathBuf> {
        check_mapping_names(&self.path, &self.text, &self.config.mappings)?;
        checked_store(
            &self.path,
            &self.text,
            &self.base,
            self.config.store.as_deref(),
        )
    }
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
            return anyhow!("{place}: {message}{}", backslash_hint(&message));
        }
        match table_name(text, e.path()) {
            Some(named) => anyhow!("{place}: {key} ({named}): {message}"),
            None => anyhow!("{place}: {key}: {message}"),
        }
    })
}

/// A Windows path in a basic string (`"C:\Users\admin"`) reads `\U` as an escape: say what to
/// write instead.
fn backslash_hint(message: &str) -> &'static str {
    if message.contains("invalid unicode") || message.contains("invalid escape") {
        "; in a \"double-quoted\" TOML string a backslash starts an escape: write Windows paths in single quotes ('C:\\Users\\admin\\customers.csv') or with forward slashes (\"C:/Users/admin/customers.csv\")"
    } else {
        ""
    }
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

// ---- `criteria compare` and `profile` ------------------------------------------------------

/// One `[[variants]]` table of `criteria compare`: a named criteria set. Its `[[variants.fields]]`
/// take the `[[mappings.fields]]` form ([`FieldConfig`]); `match` defaults to `true` there (a
/// field listed in a variant is a criterion unless it says `match = false`), and `direction` is
/// accepted and ignored.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantConfig {
    pub name: String,
    /// Default: the mapping's own.
    pub priority_mode: Option<PriorityModeConfig>,
    #[serde(default)]
    pub fields: Vec<FieldConfig>,
}

impl VariantConfig {
    /// The local and the integration columns of this variant's criteria (fields without
    /// `match = false`).
    pub fn criterion_columns(&self) -> (Vec<String>, Vec<String>) {
        self.fields
            .iter()
            .filter(|f| f.is_match != Some(false))
            .filter_map(|f| Some((f.local.clone()?, f.integration.clone())))
            .filter(|(l, i)| !l.trim().is_empty() && !i.trim().is_empty())
            .unzip()
    }

    /// The choice columns among this variant's fields whose options are left to the source's
    /// metadata (`type = "option"` without `options`).
    pub fn option_columns_from_metadata(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.field_type == "option" && f.options.is_none())
            .map(|f| f.integration.clone())
            .collect()
    }
}

/// The `[[variants]]` of a config file (its other sections are read by [`ConfigFile::read`]).
#[derive(Debug, Deserialize)]
struct ConfigVariants {
    #[serde(default)]
    variants: Vec<VariantConfig>,
}

/// A `--variants FILE`: `[[variants]]` tables and nothing else.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VariantsFile {
    #[serde(default)]
    variants: Vec<VariantConfig>,
}

/// Reads a `--variants FILE`: `[[variants]]` tables and nothing else (any other key is an
/// error naming the key, the line and the column).
pub fn load_variants_file(path: &Path) -> Result<Vec<VariantConfig>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read variants file {}", path.display()))?;
    parse_toml::<VariantsFile>(path, &text).map(|f| f.variants)
}
