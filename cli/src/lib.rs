//! `coupler`: the command line. Thin glue: parse arguments, load the config, wire file sources
//! into the engine and its outcomes into files and a summary. Errors are printed as one line
//! naming the file, line and column where possible; exit code 1 means the job could not run,
//! 2 a usage error.
//!
//! This crate is a library with one entry point, [`main`]; the `coupler` binary itself is the
//! workspace root package's `src/main.rs`, so that the end-to-end tests in `tests/` can run the
//! real executable (`CARGO_BIN_EXE_coupler` exists only for a package's own binaries).
//!
//! What gets installed beside the binary comes from the same command tree: `coupler completions
//! SHELL` (clap_complete) and `coupler man` (clap_mangen), clap's own generators and the usual
//! ones for clap command lines (ripgrep, bat and fd ship theirs that way); `coupler config
//! schema` derives the config file's JSON Schema with schemars. `--version` names the commit
//! (`build.rs`), and every `--help` ends with examples (`help.rs`).

mod apply;
mod choices;
mod config;
mod connection_cmd;
mod couple_cmd;
mod criteria_cmd;
mod dataverse_link;
#[doc(hidden)]
pub mod failpoints;
mod generate;
mod handover_cmd;
mod help;
mod init_cmd;
mod install_cmd;
mod job;
mod match_settings;
mod outputs;
mod plan;
mod profile_cmd;
mod progress;
mod report_html;
mod review_cmd;
mod schema_cmd;
mod sources;
mod store;
mod store_cmd;
mod summary;
mod sync_step;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{FromArgMatches, Parser, Subcommand};

use crate::choices::{ExportFormat, Preset};

/// `coupler --version` / `-V`: the version and the commit it was built from, e.g.
/// `0.1.0 (commit 36d0e60, 2026-12-07)`, or `0.1.0` alone without git (see `build.rs`).
pub(crate) const VERSION: &str = env!("COUPLER_VERSION");

#[derive(Parser)]
#[command(
    name = "coupler",
    version = VERSION,
    about = "Match-based coupling of Business Central and Dataverse records, BC-exact, in seconds",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Couple records: read both sides, match with BC's rules, write results (a dry run unless --apply).
    Couple {
        /// The coupling config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Run only this mapping (repeatable); default: every mapping in the config.
        #[arg(long = "mapping", value_name = "NAME")]
        mappings: Vec<String>,
        /// Output folder; one sub-folder per mapping.
        #[arg(long, default_value = "coupler-out")]
        out: PathBuf,
        /// Commit the couplings to the coupling store (`store` in the config, or coupler.db
        /// beside it). Without it nothing is written anywhere but --out.
        #[arg(long)]
        apply: bool,
        /// Print the job.json of every mapping as one JSON array instead of the summary.
        #[arg(long)]
        json: bool,
        /// Worker threads (default: all cores; at most the number of cores).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        threads: Option<u64>,
        /// Also write a self-contained HTML report (viewable offline).
        #[arg(long, value_name = "FILE.html")]
        report: Option<PathBuf>,
        /// Also match under the other collation (exact vs Dataverse's) and list the records
        /// whose outcome differs (collation-diff.csv): a preview of what BC does in production.
        #[arg(long)]
        compare_collation: bool,
    },
    /// Benchmark match criteria: run several criteria sets on the same data, side by side.
    Criteria {
        #[command(subcommand)]
        action: CriteriaAction,
    },
    /// Profile the mapped fields of both sides and suggest a criteria set.
    Profile {
        /// The coupling config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The mapping to profile.
        #[arg(long)]
        mapping: String,
        /// JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// BC's full synchronization review of every mapping: counts, recommendation, order.
    Review {
        /// The coupling config (TOML).
        #[arg(long)]
        config: PathBuf,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write a commented starting config.
    Init {
        /// The preset to start from.
        #[arg(long, value_enum)]
        preset: Preset,
        /// Where to write it (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a config: keys, sources, columns. Nothing is matched.
    Validate {
        /// The coupling config (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Check the Dataverse connection: credentials, administration mode, currency, tables and
    /// columns (BC's "Test Connection").
    Connection {
        #[command(subcommand)]
        action: ConnectionAction,
    },
    /// The jobs recorded in the coupling store.
    Jobs {
        #[command(subcommand)]
        action: JobsAction,
    },
    /// The couplings in the coupling store.
    Couplings {
        #[command(subcommand)]
        action: CouplingsAction,
    },
    /// Remove couplings from the coupling store (BC: Uncouple).
    #[command(group(clap::ArgGroup::new("which").required(true).args(["local_ids", "all"])))]
    Uncouple {
        #[command(flatten)]
        location: StoreArgs,
        /// The mapping whose couplings are removed.
        #[arg(long)]
        mapping: String,
        /// A local record id to uncouple (repeatable).
        #[arg(long = "local-id", value_name = "ID")]
        local_ids: Vec<String>,
        /// Uncouple every record of the mapping.
        #[arg(long)]
        all: bool,
        /// Confirms --all (which removes every coupling of the mapping).
        #[arg(long, requires = "all", conflicts_with = "local_ids")]
        yes: bool,
    },
    /// Hand a mapping's couplings over to BC: write each coupled row's BC key into a column, so
    /// that BC's own match-based coupling on that one field reproduces them — verified before
    /// and after.
    Handover(handover_cmd::HandoverArgs),
    /// Write realistic BC customer / Dataverse account exports with a known truth file and a
    /// ready config, for trying coupler and for benchmarks.
    Generate {
        /// Number of BC customers (the Dataverse side gets about as many accounts).
        #[arg(long)]
        records: usize,
        /// Random seed: the same records and seed give byte-identical files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder (created if needed; files in it are replaced).
        #[arg(long)]
        out: PathBuf,
        /// Noisy data, as typed by hand into a CRM (for trying normalizers and fuzzy matching).
        ///
        /// The same companies, ids and truth, but on the Dataverse side typos in 15 % of the
        /// names (mostly after the first two letters), punctuation and spacing drift in 10 %,
        /// legal forms respelled or dropped in 25 % of those that have one, accents dropped in
        /// 10 % of those that have them, phones in another format 30 % and blank 10 %, e-mails
        /// in another case 10 % and blank more often; a little of it on the BC side.
        #[arg(long)]
        noise: bool,
    },
    /// Print the shell completion script (bash, zsh, fish, PowerShell, elvish) to stdout.
    Completions {
        /// The shell to complete coupler's commands and options in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout: every command, its options and examples.
    Man,
    /// The config file's JSON Schema, for editors that complete and check it.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the JSON Schema of the config file, for TOML editors that complete and check it.
    ///
    /// Editors based on Taplo (such as VS Code's Even Better TOML) use it when the config's first
    /// line names it: `#:schema ./coupling.schema.json`.
    Schema,
}

#[derive(Subcommand)]
enum CriteriaAction {
    /// Run the mapping's criteria and every variant on data read once; compare them.
    Compare {
        /// The coupling config (TOML); variants are its [[variants]] tables.
        #[arg(long)]
        config: PathBuf,
        /// The mapping whose data and filters are used.
        #[arg(long)]
        mapping: String,
        /// More [[variants]] from another TOML file.
        #[arg(long)]
        variants: Option<PathBuf>,
        /// Correct pairs (CSV local_id,integration_id): precision, recall, F1.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Where the per-variant files go (wrongly coupled pairs).
        #[arg(long, default_value = "coupler-out")]
        out: PathBuf,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write a self-contained HTML report.
        #[arg(long, value_name = "FILE.html")]
        report: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConnectionAction {
    /// Run the checks; prints BC's success or failure text; exit code 1 on failure.
    Test {
        /// The coupling config (TOML) with a [dataverse] section.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Where the coupling store is: one of the two is required.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct StoreArgs {
    /// The coupling config: its `store`, or coupler.db beside it.
    #[arg(long, conflicts_with = "store")]
    config: Option<PathBuf>,
    /// The store file itself.
    #[arg(long)]
    store: Option<PathBuf>,
}

impl StoreArgs {
    fn location(self) -> store_cmd::StoreLocation {
        store_cmd::StoreLocation::new(self.config, self.store)
    }
}

#[derive(Subcommand)]
enum JobsAction {
    /// Every job, newest first.
    List {
        #[command(flatten)]
        location: StoreArgs,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One job's summary (as `couple` printed it), its job.json, or its results.
    Show {
        /// The job id (or a unique prefix of at least 8 characters).
        job_id: String,
        #[command(flatten)]
        location: StoreArgs,
        /// Print the stored job.json.
        #[arg(long, conflicts_with = "results")]
        json: bool,
        /// Print the job's results.csv.
        #[arg(long)]
        results: bool,
    },
}

#[derive(Subcommand)]
enum CouplingsAction {
    /// The couplings of a mapping as CSV on stdout.
    Export {
        #[command(flatten)]
        location: StoreArgs,
        /// The mapping whose couplings are exported (its name in the config, e.g. CUSTOMER).
        #[arg(long)]
        mapping: String,
        /// The columns written.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        /// BC's table number for --format bc when the local table is not a standard one.
        #[arg(long)]
        table_id: Option<u32>,
        /// With --format bc: write ids that are not GUIDs (BC's import needs SystemIds).
        #[arg(long)]
        allow_non_guid: bool,
    },
}

/// Rust ignores SIGPIPE, so writing to a closed pipe (`coupler jobs show … | head`) would
/// fail every print; the default action ends the process quietly, as Unix tools do.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// An error and its causes as one line, leaving out a cause whose text the message already
/// holds (many error types print their cause inside their own message).
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if line.contains(text.as_str()) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    restore_sigpipe();
    #[cfg(feature = "failpoints")]
    let _crash_points = fail::FailScenario::setup();
    // The derived command tree with the examples of every --help (help.rs).
    let matches = help::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Couple {
            config,
            mappings,
            out,
            apply,
            json,
            threads,
            report,
            compare_collation,
        } => couple_cmd::couple(couple_cmd::CoupleArgs {
            config,
            mappings,
            out,
            apply,
            json,
            threads: threads.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            report,
            compare_collation,
        }),
        Command::Criteria {
            action:
                CriteriaAction::Compare {
                    config,
                    mapping,
                    variants,
                    truth,
                    out,
                    json,
                    report,
                },
        } => criteria_cmd::compare(criteria_cmd::CompareArgs {
            config,
            mapping,
            variants,
            truth,
            out,
            json,
            report,
        }),
        Command::Profile {
            config,
            mapping,
            json,
        } => profile_cmd::run(&config, &mapping, json),
        Command::Review { config, json } => review_cmd::run(&config, json),
        Command::Init { preset, out } => init_cmd::run(preset.name(), out.as_deref()),
        Command::Validate { config } => couple_cmd::validate(&config),
        Command::Generate {
            records,
            seed,
            out,
            noise,
        } => generate::run(records, seed, noise, &out),
        Command::Jobs {
            action: JobsAction::List { location, json },
        } => store_cmd::jobs_list(&location.location(), json),
        Command::Jobs {
            action:
                JobsAction::Show {
                    job_id,
                    location,
                    json,
                    results,
                },
        } => store_cmd::jobs_show(&location.location(), &job_id, json, results),
        Command::Couplings {
            action:
                CouplingsAction::Export {
                    location,
                    mapping,
                    format,
                    table_id,
                    allow_non_guid,
                },
        } => store_cmd::couplings_export_with(
            &location.location(),
            &store_cmd::ExportArgs {
                mapping,
                format: format.name().to_owned(),
                table_id,
                allow_non_guid,
            },
        ),
        Command::Uncouple {
            location,
            mapping,
            local_ids,
            all,
            yes,
        } => store_cmd::uncouple_with(
            &location.location(),
            &store_cmd::UncoupleArgs {
                mapping,
                local_ids,
                all,
                yes,
            },
        ),
        Command::Handover(args) => handover_cmd::handover(args),
        Command::Completions { shell } => install_cmd::completions(shell),
        Command::Man => install_cmd::man(),
        Command::Config {
            action: ConfigAction::Schema,
        } => schema_cmd::run(),
        Command::Connection {
            action: ConnectionAction::Test { config },
        } => match connection_cmd::test(&config) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coupler: error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// Entry points for the cargo-fuzz target `config` in `fuzz/`: the config loader as the
/// commands call it. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::config::load_variants_file;
    pub use crate::plan::{IntegrationFacts, Plan};

    /// An error as the command line prints it.
    pub fn error_line(e: &anyhow::Error) -> String {
        crate::one_line(e)
    }
}
