//! `coupler config schema`: the JSON Schema of the config file, printed to stdout, for TOML
//! editors that complete keys and check values against a schema (VS Code's Even Better TOML and
//! other Taplo-based editors: a first line `#:schema ./coupling.schema.json` in the config).
//!
//! The schema is derived from the config types themselves with `schemars` (1.x: it reads the
//! serde attributes the config types already carry, `rename`, `default`, `untagged`,
//! `deny_unknown_fields`, and turns doc comments into descriptions), in JSON Schema draft 7,
//! the draft that editors and schema catalogues support most widely.

use anyhow::Result;

/// The JSON Schema of `coupling.toml`, from the config types (`config.rs`, and the Dataverse
/// adapter's `[dataverse]` section).
pub(crate) fn config_schema() -> Result<serde_json::Value> {
    Ok(schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<crate::config::Config>()
        .to_value())
}

/// Prints the schema, pretty-printed, to stdout.
pub fn run() -> Result<()> {
    let schema = config_schema()?;
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
