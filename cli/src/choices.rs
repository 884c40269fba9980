//! The closed sets of values that arguments take, as clap `ValueEnum`s: clap rejects any other
//! value as a usage error (exit code 2) whose message lists the possible values, and `--help`
//! lists them with what each means. The doc comment of a variant is its help text.

use clap::ValueEnum;

/// `init --preset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Preset {
    /// Business Central's default Dataverse table mappings and dependencies
    Dataverse,
}

impl Preset {
    /// The name `init_cmd` knows the preset by (the same as on the command line).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Preset::Dataverse => "dataverse",
        }
    }
}

/// `couplings export --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// coupler's columns: local_id,integration_id,mapping,local_table,integration_table,job_id,created_at
    Csv,
    /// BC's CRM Integration Record columns (CRM ID,Integration ID,Table ID), for BC's import
    Bc,
}

impl ExportFormat {
    /// The name `store_cmd` knows the format by (the same as on the command line).
    pub(crate) fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Bc => "bc",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name()` is the value clap accepts, for every variant.
    #[test]
    fn names_are_the_command_line_values() {
        for p in Preset::value_variants() {
            assert_eq!(p.to_possible_value().unwrap().get_name(), p.name());
        }
        for f in ExportFormat::value_variants() {
            assert_eq!(f.to_possible_value().unwrap().get_name(), f.name());
        }
    }
}
