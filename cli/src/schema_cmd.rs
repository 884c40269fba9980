//! `coupler config schema`: the JSON Schema of the config file, printed to stdout, for TOML
//! editors that complete keys and check values against a schema (VS Code's Even Better TOML and
//! other Taplo-based editors: a first line `#:schema ./coupler.schema.json` in the config).
//!
//! The schema is derived from the config types themselves with `schemars` (1.x: it reads the
//! serde attributes the config types already carry, `rename`, `default`, `untagged`,
//! `deny_unknown_fields`, and turns doc comments into descriptions), in JSON Schema draft 7,
//! the draft that editors and schema catalogues support most widely.

use anyhow::Result;

/// The JSON Schema of `coupling.toml`.
///
/// The one place that names the config type. Until `crate::config::Config` derives
/// `schemars::JsonSchema` this is an error; then its body becomes the one line
///
/// ```text
/// Ok(schemars::generate::SchemaSettings::draft07().into_generator().into_root_schema_for::<crate::config::Config>().to_value())
/// ```
///
/// What `config.rs` needs for it (checked with schemars 1.2: the schema accepts the demo, the
/// Dataverse fixture and the `init` preset, and rejects a misspelt key): `schemars::JsonSchema`
/// added to the derives of `Config`, `MappingConfig`, `SourceConfig`, `DataverseConfig`,
/// `CouplingsConfig`, `FieldConfig`, `FilterValue`, `Direction`, `ConflictResolution`,
/// `Collation`, `PriorityModeConfig`, `VariantConfig` and `VariantFieldConfig`; and, since the
/// `toml` types have no schema, `#[schemars(with = "Vec<VariantConfig>")]` on `Config::variants`
/// (a `Vec<toml::Table>` read as variants later) and `#[schemars(with = "Vec<serde_json::Value>")]`
/// on the `normalize` field of `FieldConfig` and of `VariantFieldConfig`.
pub(crate) fn config_schema() -> Result<serde_json::Value> {
    anyhow::bail!("the config schema is not yet available in this version of coupler")
}

/// Prints the schema, pretty-printed, to stdout.
pub fn run() -> Result<()> {
    let schema = config_schema()?;
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
