//! The `Examples:` of every `--help`, kept apart from the argument definitions in `lib.rs` and
//! added to the clap command tree by [`command`]: `coupler --help`, `coupler couple --help`, …
//! and the man page show them.
//!
//! Every example is a real invocation: run from the repository's top folder they work on the
//! demo fixtures (`fixtures/demo/coupling.toml`), and the tests below parse each with the very
//! command tree the binary uses, so an example cannot name an argument that does not exist.

use clap::builder::StyledStr;
use clap::{Command, CommandFactory};

/// One example: what it does (one line), then the command line.
pub(crate) type Example = (&'static str, &'static str);

/// The examples of each command, by its path below `coupler` (`""` is `coupler` itself).
pub(crate) const EXAMPLES: &[(&str, &[Example])] = &[
    (
        "",
        &[
            (
                "Write a starting config with BC's default Dataverse table mappings",
                "coupler init --preset dataverse --out coupling.toml",
            ),
            (
                "Dry run of the demo: match and write the results to coupler-out/, nothing else",
                "coupler couple --config fixtures/demo/coupling.toml",
            ),
            (
                "The same, and commit the couplings to the coupling store",
                "coupler couple --config fixtures/demo/coupling.toml --apply",
            ),
        ],
    ),
    (
        "couple",
        &[
            (
                "Dry run of every mapping: results in coupler-out/CUSTOMER/, nothing else written",
                "coupler couple --config fixtures/demo/coupling.toml",
            ),
            (
                "One mapping, with an HTML report to open in a browser",
                "coupler couple --config fixtures/demo/coupling.toml --mapping CUSTOMER --report report.html",
            ),
            (
                "Commit the couplings to the coupling store (coupler.db beside the config)",
                "coupler couple --config fixtures/demo/coupling.toml --apply",
            ),
        ],
    ),
    (
        "criteria",
        &[(
            "Compare the demo's criteria and variants on the same data",
            "coupler criteria compare --config fixtures/demo/coupling.toml --mapping CUSTOMER",
        )],
    ),
    (
        "criteria compare",
        &[
            (
                "The mapping's criteria and the config's [[variants]], side by side",
                "coupler criteria compare --config fixtures/demo/coupling.toml --mapping CUSTOMER",
            ),
            (
                "Generated noisy data with its truth file: precision, recall and F1 per variant",
                "coupler generate --records 10000 --noise --out gen && coupler criteria compare --config gen/coupling.toml --mapping CUSTOMER --truth gen/truth.csv",
            ),
        ],
    ),
    (
        "profile",
        &[
            (
                "Profile the mapped fields of the demo's CUSTOMER mapping",
                "coupler profile --config fixtures/demo/coupling.toml --mapping CUSTOMER",
            ),
            (
                "The same as JSON",
                "coupler profile --config fixtures/demo/coupling.toml --mapping CUSTOMER --json",
            ),
        ],
    ),
    (
        "review",
        &[
            (
                "BC's synchronization review of every mapping of the demo",
                "coupler review --config fixtures/demo/coupling.toml",
            ),
            (
                "The same as JSON",
                "coupler review --config fixtures/demo/coupling.toml --json",
            ),
        ],
    ),
    (
        "init",
        &[
            (
                "Write BC's default Dataverse mappings to a new file (never overwrites one)",
                "coupler init --preset dataverse --out coupling.toml",
            ),
            (
                "Print them instead",
                "coupler init --preset dataverse",
            ),
        ],
    ),
    (
        "validate",
        &[(
            "Check the demo config, its files and every column it names",
            "coupler validate --config fixtures/demo/coupling.toml",
        )],
    ),
    (
        "connection",
        &[(
            "BC's Test Connection for the [dataverse] section of a config",
            "coupler connection test --config coupling.toml",
        )],
    ),
    (
        "connection test",
        &[
            (
                "Test the [dataverse] section; the secret comes from the variable client_secret_env names",
                "coupler connection test --config coupling.toml",
            ),
            (
                "Against the local Dataverse emulator, started as fixtures/dataverse/coupling.toml says",
                "coupler connection test --config fixtures/dataverse/coupling.toml",
            ),
        ],
    ),
    (
        "jobs",
        &[(
            "The jobs in the demo's coupling store, newest first",
            "coupler jobs list --config fixtures/demo/coupling.toml",
        )],
    ),
    (
        "jobs list",
        &[
            (
                "The jobs in the store of the demo config, newest first",
                "coupler jobs list --config fixtures/demo/coupling.toml",
            ),
            (
                "The jobs in a store file, as JSON",
                "coupler jobs list --store fixtures/demo/coupler.db --json",
            ),
        ],
    ),
    (
        "jobs show",
        &[
            (
                "One job's summary, by the first 8 characters of its id (from `jobs list`)",
                "coupler jobs show 3f2c9a1b --config fixtures/demo/coupling.toml",
            ),
            (
                "Its results as CSV",
                "coupler jobs show 3f2c9a1b --config fixtures/demo/coupling.toml --results > results.csv",
            ),
        ],
    ),
    (
        "couplings",
        &[(
            "The CUSTOMER couplings of the demo's store as CSV",
            "coupler couplings export --config fixtures/demo/coupling.toml --mapping CUSTOMER",
        )],
    ),
    (
        "couplings export",
        &[
            (
                "The CUSTOMER couplings as CSV",
                "coupler couplings export --config fixtures/demo/coupling.toml --mapping CUSTOMER > couplings.csv",
            ),
            (
                "As BC's CRM Integration Records, to import in BC (ids must be GUIDs)",
                "coupler couplings export --config coupling.toml --mapping CUSTOMER --format bc > crm-integration-records.csv",
            ),
        ],
    ),
    (
        "handover",
        &[
            (
                "Plan the handover of the CUSTOMER couplings through accountnumber, and prove it with BC's coupling",
                "coupler handover --config fixtures/demo/coupling.toml --mapping CUSTOMER --column accountnumber",
            ),
            (
                "The same as JSON, planning to blank the rows outside the couplings that hold a BC key",
                "coupler handover --config fixtures/demo/coupling.toml --mapping CUSTOMER --column accountnumber --clear-collisions --json",
            ),
            (
                "Write the stamps to Dataverse and verify against what it holds",
                "coupler handover --config coupling.toml --mapping CUSTOMER --column accountnumber --apply --clear-collisions",
            ),
        ],
    ),
    (
        "uncouple",
        &[
            (
                "Uncouple two customers",
                "coupler uncouple --config fixtures/demo/coupling.toml --mapping CUSTOMER --local-id C00130 --local-id C00180",
            ),
            (
                "Uncouple every customer of the mapping",
                "coupler uncouple --config fixtures/demo/coupling.toml --mapping CUSTOMER --all --yes",
            ),
        ],
    ),
    (
        "generate",
        &[
            (
                "10 000 customers and accounts, then couple them",
                "coupler generate --records 10000 --out gen && coupler couple --config gen/coupling.toml --out gen/out",
            ),
            (
                "Hand-typed CRM data (typos, reformatted phones), another seed",
                "coupler generate --records 10000 --noise --seed 7 --out gen-noisy",
            ),
        ],
    ),
    (
        "completions",
        &[
            (
                "bash: completions for the current user (bash-completion loads them on demand)",
                "coupler completions bash > ~/.local/share/bash-completion/completions/coupler",
            ),
            (
                "zsh: a file _coupler in a folder of $fpath",
                "coupler completions zsh > ~/.zfunc/_coupler",
            ),
            (
                "PowerShell: for this session (add the line to $PROFILE to keep it)",
                "coupler completions powershell | Out-String | Invoke-Expression",
            ),
        ],
    ),
    (
        "man",
        &[
            (
                "Read the manual page",
                "coupler man | man -l -",
            ),
            (
                "Install it for every user",
                "coupler man | sudo tee /usr/local/share/man/man1/coupler.1 > /dev/null",
            ),
        ],
    ),
    (
        "config",
        &[(
            "Write the JSON Schema of the config file",
            "coupler config schema > coupling.schema.json",
        )],
    ),
    (
        "config schema",
        &[(
            "Write the schema beside the config, for a TOML editor (see above)",
            "coupler config schema > coupling.schema.json",
        )],
    ),
];

/// The command tree of `coupler`: the derived one, with the examples of [`EXAMPLES`].
pub(crate) fn command() -> Command {
    let mut cmd = crate::Cli::command();
    for (path, examples) in EXAMPLES {
        let path: Vec<&str> = path.split_whitespace().collect();
        cmd = at(cmd, &path, &|c| c.after_help(render(examples)));
    }
    cmd
}

/// Applies `f` to the subcommand at `path`; panics on a path that names no command (the tests
/// catch that).
fn at(cmd: Command, path: &[&str], f: &dyn Fn(Command) -> Command) -> Command {
    match path.split_first() {
        None => f(cmd),
        Some((first, rest)) => cmd.mut_subcommand(*first, |sub| at(sub, rest, f)),
    }
}

/// `Examples:`, styled like clap's own headings (`Usage:`, `Options:`), then each example as a
/// `# what` comment line over its command line.
fn render(examples: &[Example]) -> StyledStr {
    let heading = clap::builder::styling::Style::new().bold().underline();
    let mut text = format!("{heading}Examples:{heading:#}\n");
    for (i, (what, line)) in examples.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(&format!("  # {what}\n  {line}\n"));
    }
    StyledStr::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `coupler …` invocations in an example line: split at `&&`, up to a `|` or `>`, with
    /// leading `NAME=value` settings dropped.
    fn invocations(line: &str) -> Vec<Vec<&str>> {
        line.split("&&")
            .map(|part| {
                part.split(['|', '>'])
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .skip_while(|w| w.contains('='))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_tree_is_consistent() {
        command().debug_assert();
    }

    /// Every example parses with the binary's own command tree.
    #[test]
    fn every_example_parses() {
        for (path, examples) in EXAMPLES {
            assert!(!examples.is_empty(), "{path:?} has no examples");
            for (what, line) in examples.iter() {
                assert!(!what.is_empty() && !what.contains('\n'), "{line}");
                for args in invocations(line) {
                    assert_eq!(args.first(), Some(&"coupler"), "{line}");
                    if let Err(e) = command().try_get_matches_from(&args) {
                        panic!("example of {path:?} does not parse: {line}\n{e}");
                    }
                }
                // The example runs its own command (a group's runs one of its subcommands).
                let words: Vec<&str> = path.split_whitespace().collect();
                assert!(
                    invocations(line)
                        .iter()
                        .any(|args| args.get(1..=words.len()) == Some(&words[..])),
                    "example of {path:?} runs another command: {line}"
                );
            }
        }
    }

    /// Every command has examples, groups included (`help` is clap's own).
    #[test]
    fn every_command_has_examples() {
        fn walk(cmd: &Command, path: &mut Vec<String>, missing: &mut Vec<String>) {
            if cmd.get_after_help().is_none() {
                missing.push(path.join(" "));
            }
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                path.push(sub.get_name().to_owned());
                walk(sub, path, missing);
                path.pop();
            }
        }
        let mut missing = Vec::new();
        walk(&command(), &mut Vec::new(), &mut missing);
        assert!(missing.is_empty(), "commands without examples: {missing:?}");
    }
}
