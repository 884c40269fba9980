//! What a packager or an administrator installs and relies on, checked on the real binary:
//! shell completions, the man page, `--version` with its commit, an `Examples:` section in every
//! `--help` (and the examples themselves running on the demo), and exit code 2 for usage errors.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{coupler, ok, text};

/// The commands that run something, by path; `every_help_shows_examples` also finds them all
/// from the help texts, so that a new command cannot be left out unnoticed.
const LEAVES: &[&str] = &[
    "couple",
    "criteria compare",
    "profile",
    "review",
    "init",
    "validate",
    "connection test",
    "jobs list",
    "jobs show",
    "couplings export",
    "handover",
    "uncouple",
    "generate",
    "completions",
    "man",
    "config schema",
];

/// The top-level commands (a group's name once).
fn top_level() -> BTreeSet<&'static str> {
    LEAVES
        .iter()
        .map(|p| p.split(' ').next().unwrap())
        .collect()
}

fn here() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a program is on PATH.
fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs `program args` with `input` on stdin.
fn run_with_input(program: &str, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

// ---- completions ----

#[test]
fn completions_for_every_shell_name_every_command() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = ok(&coupler(&["completions", shell], here()));
        assert!(script.len() > 1000, "{shell}: {} bytes", script.len());
        for command in top_level() {
            assert!(script.contains(command), "{shell}: no '{command}'");
        }
        // Nested commands, options and closed sets of values are completed too.
        for word in ["compare", "schema", "compare-collation", "dataverse"] {
            assert!(script.contains(word), "{shell}: no '{word}'");
        }
    }
}

/// bash accepts the script, and it completes commands and the values of closed sets.
#[test]
fn bash_completion_works() {
    if !have("bash") {
        eprintln!("bash is not installed: bash completion not checked");
        return;
    }
    let script = ok(&coupler(&["completions", "bash"], here()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("coupler.bash");
    std::fs::write(&file, &script).unwrap();
    let out = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(out.status.success(), "bash -n: {}", text(&out.stderr));

    // What bash-completion does on Tab: the function registered for `coupler`, called with the
    // words so far.
    let complete = |words: &[&str]| -> String {
        let cword = words.len() - 1;
        let program = format!(
            "source {file}\n\
             spec=$(complete -p coupler) || exit 3\n\
             fn=${{spec##*-F }}; fn=${{fn%% *}}\n\
             COMP_WORDS=({words}); COMP_CWORD={cword}\n\
             \"$fn\" coupler \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
             echo \"${{COMPREPLY[*]}}\"",
            file = file.display(),
            words = words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(program)
            .output()
            .unwrap();
        assert!(out.status.success(), "{words:?}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    assert_eq!(complete(&["coupler", "cou"]), "couple couplings");
    assert_eq!(complete(&["coupler", "init", "--preset", ""]), "dataverse");
    assert_eq!(
        complete(&["coupler", "couplings", "export", "--format", ""]),
        "csv bc"
    );
    assert_eq!(complete(&["coupler", "config", "sch"]), "schema");
}

/// zsh and fish, where installed, accept their scripts.
#[test]
fn zsh_and_fish_accept_their_scripts() {
    for shell in ["zsh", "fish"] {
        if !have(shell) {
            eprintln!("{shell} is not installed: its script's syntax is not checked");
            continue;
        }
        let script = ok(&coupler(&["completions", shell], here()));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("coupler");
        std::fs::write(&file, &script).unwrap();
        let out = Command::new(shell).arg("-n").arg(&file).output().unwrap();
        assert!(out.status.success(), "{shell} -n: {}", text(&out.stderr));
    }
}

// ---- the man page ----

#[test]
fn the_man_page_documents_every_command() {
    let page = ok(&coupler(&["man"], here()));
    assert!(page.is_ascii(), "non-ASCII text in the page");
    let th = page
        .lines()
        .find(|l| l.starts_with(".TH "))
        .expect("a .TH line");
    assert!(th.starts_with(".TH COUPLER 1 "), "{th}");
    assert!(
        th.contains(&format!("\"coupler {}", env!("CARGO_PKG_VERSION"))),
        "{th}"
    );
    // The date is the commit's, or "" (an empty field would shift the ones after it).
    let date = th.split(' ').nth(3).unwrap();
    assert!(
        date == "\"\"" || (date.len() == 10 && date.chars().filter(|c| *c == '-').count() == 2),
        "{th}"
    );
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "EXAMPLES",
        "\"EXIT STATUS\"",
        "VERSION",
    ] {
        assert!(
            page.lines().any(|l| l == format!(".SH {section}")),
            "no section {section}"
        );
    }
    assert!(page.contains("coupler \\- Match\\-based coupling"));
    for leaf in LEAVES {
        let heading = format!(".SS \"coupler {leaf}\"");
        assert!(page.contains(&heading), "no {heading}");
    }
    // Options and examples of a command, and the exit codes.
    assert!(page.contains("\\fB\\-\\-compare\\-collation\\fR"));
    assert!(page.contains(
        "coupler couple \\-\\-config fixtures/demo/coupling.toml \\-\\-mapping CUSTOMER"
    ));
    assert!(page.contains("A usage error"));
    assert_eq!(page.matches("\\fBExamples:\\fR").count(), LEAVES.len());
}

/// groff formats the page without a warning (-ww: all of them), and man shows it.
#[test]
fn the_man_page_is_valid_roff() {
    let page = ok(&coupler(&["man"], here()));
    if have("groff") {
        let out = run_with_input("groff", &["-man", "-Tutf8", "-ww", "-z"], &page);
        assert!(out.status.success(), "groff failed");
        assert_eq!(text(&out.stderr), "", "groff warnings");
        // grotty's plain text: no SGR sequences (-c), no overstriking (-bou).
        let out = run_with_input("groff", &["-man", "-Tutf8", "-ww", "-P-cbou"], &page);
        let shown = text(&out.stdout);
        assert!(shown.contains("EXIT STATUS"), "{shown}");
    } else {
        eprintln!("groff is not installed: the page is not formatted");
    }
    if have("man") {
        let out = Command::new("sh")
            .args(["-c", "MANWIDTH=100 man -l - 2>&1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(page.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        let shown = without_overstrike(&text(&out.stdout));
        assert!(out.status.success(), "{shown}");
        assert!(shown.contains("coupler criteria compare"), "{shown}");
        assert!(!shown.contains("warning"), "{shown}");
    }
}

/// Text as a terminal shows it: `X\x08X` (bold) and `_\x08X` (underlined) as `X`.
fn without_overstrike(s: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x08' {
            out.pop();
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

// ---- --version ----

/// `--version` and `-V`: the version from Cargo.toml and, in a git checkout, the commit it was
/// built from (the test binary is built from the same tree).
#[test]
fn version_names_the_commit() {
    let long = ok(&coupler(&["--version"], here()));
    assert_eq!(ok(&coupler(&["-V"], here())), long);
    let prefix = format!("coupler {}", env!("CARGO_PKG_VERSION"));
    assert!(long.starts_with(&prefix), "{long}");

    let overridden = std::env::var("COUPLER_BUILD_COMMIT")
        .ok()
        .or(option_env!("COUPLER_BUILD_COMMIT").map(String::from));
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(here())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| text(&out.stdout).trim().to_owned())
    };
    match overridden {
        Some(commit) if commit.trim().is_empty() => assert_eq!(long, format!("{prefix}\n")),
        Some(commit) => assert!(
            long.contains(&format!("(commit {}", commit.trim())),
            "{long}"
        ),
        None => match git(&["rev-parse", "--short", "HEAD"]) {
            Some(hash) => {
                let date = git(&["log", "-1", "--format=%cd", "--date=short", "HEAD"]).unwrap();
                assert_eq!(long, format!("{prefix} (commit {hash}, {date})\n"));
            }
            None => assert_eq!(long, format!("{prefix}\n")),
        },
    }
}

// ---- Examples: in every --help ----

/// The subcommands listed in a help text's `Commands:` section (clap's `help` left out).
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(String::from)
        .collect()
}

/// Every command's `--help` (and `-h`) ends with examples of that command; walked from
/// `coupler --help` down, so a new command is checked too.
#[test]
fn every_help_shows_examples() {
    let mut leaves = BTreeSet::new();
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = todo.pop() {
        for flag in ["--help", "-h"] {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.push(flag);
            let help = ok(&coupler(&args, here()));
            let examples = help
                .split("\nExamples:\n")
                .nth(1)
                .unwrap_or_else(|| panic!("coupler {args:?}: no Examples:\n{help}"));
            let invocation = format!("coupler {}", path.join(" "));
            assert!(
                examples.lines().any(|l| l.starts_with("  # "))
                    && examples.contains(invocation.trim_end()),
                "coupler {args:?}: examples do not show it:\n{examples}"
            );
        }
        let help = ok(&coupler(
            &path
                .iter()
                .map(String::as_str)
                .chain(["--help"])
                .collect::<Vec<_>>(),
            here(),
        ));
        let subs = listed_commands(&help);
        if subs.is_empty() {
            leaves.insert(path.join(" "));
        }
        for sub in subs {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
    }
    let expected: BTreeSet<String> = LEAVES.iter().map(|s| s.to_string()).collect();
    assert_eq!(leaves, expected);
}

/// Every argument has a help text: no option line in any `--help` stands alone.
#[test]
fn every_argument_has_a_help_text() {
    for leaf in LEAVES {
        let mut args: Vec<&str> = leaf.split(' ').collect();
        args.push("-h");
        let help = ok(&coupler(&args, here()));
        let sections = ["\nOptions:\n", "\nArguments:\n"].map(|heading| {
            help.split(heading)
                .nth(1)
                .map(|rest| rest.split("\n\n").next().unwrap())
                .unwrap_or("")
        });
        for line in sections.iter().flat_map(|s| s.lines()) {
            // `  -x, --long <V>  help` or `      --long  help`: two spaces before the help.
            let body = line.trim_start();
            assert!(
                body.split("  ").filter(|s| !s.is_empty()).count() >= 2,
                "coupler {leaf}: no help for '{body}'"
            );
        }
    }
}

/// The examples run: every one that works on the demo, in a copy of it laid out as in the
/// repository (fixtures/demo/), in the order the help texts show them. Left out: those that
/// need Dataverse (`connection test`; tests/dataverse.rs runs it against the emulator), a store
/// of GUIDs (`--format bc`), a pipe, a file outside the folder (`~/…`, `/usr/…`), and
/// `config schema` (tested below).
#[test]
fn the_examples_run_on_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let demo = d.join("fixtures/demo");
    std::fs::create_dir_all(&demo).unwrap();
    for f in [
        "coupling.toml",
        "customers.csv",
        "accounts.csv",
        "couplings.csv",
    ] {
        std::fs::copy(here().join("fixtures/demo").join(f), demo.join(f)).unwrap();
    }

    let mut lines: Vec<String> = Vec::new();
    for path in std::iter::once("").chain(LEAVES.iter().copied()) {
        let mut args: Vec<&str> = path.split_whitespace().collect();
        args.push("--help");
        let help = ok(&coupler(&args, here()));
        let examples = help.split("\nExamples:\n").nth(1).unwrap();
        for line in examples.lines().map(str::trim) {
            if line.starts_with("coupler ") && !lines.iter().any(|l| l == line) {
                lines.push(line.to_owned());
            }
        }
    }
    let mut ran = 0;
    let mut job_id: Option<String> = None;
    for line in &lines {
        if line.starts_with("coupler connection")
            || line.contains("--format bc")
            // Writes to Dataverse: the demo reads its accounts from a file.
            || (line.starts_with("coupler handover") && line.contains("--apply"))
            || line.contains('|')
            || line.contains('~')
        {
            continue;
        }
        for part in line.split("&&") {
            let (command, stdout_to) = match part.split_once('>') {
                Some((c, file)) => (c, Some(file.trim())),
                None => (part, None),
            };
            let mut args: Vec<String> = command.split_whitespace().map(String::from).collect();
            assert_eq!(args.remove(0), "coupler", "{line}");
            // `jobs show` names a job id of the reader's store; here the demo's first job.
            if args[..2] == ["jobs", "show"] {
                args[2] = job_id.clone().expect("a job ran before jobs show")[..8].to_owned();
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = coupler(&args, d);
            assert!(
                out.status.success(),
                "example failed: {line}\n{}",
                text(&out.stderr)
            );
            if let Some(file) = stdout_to {
                std::fs::write(d.join(file), &out.stdout).unwrap();
            }
            if job_id.is_none() && args.contains(&"--apply") {
                let jobs = ok(&coupler(
                    &[
                        "jobs",
                        "list",
                        "--store",
                        "fixtures/demo/coupler.db",
                        "--json",
                    ],
                    d,
                ));
                let jobs: serde_json::Value = serde_json::from_str(&jobs).unwrap();
                job_id = Some(jobs[0]["job_id"].as_str().unwrap().to_owned());
            }
            ran += 1;
        }
    }
    assert!(ran >= 15, "only {ran} examples ran");
    assert!(d.join("report.html").exists());
    assert!(d.join("results.csv").exists());
}

// ---- usage errors: exit code 2 ----

/// A usage error: exit code 2, clap's message naming `expected` on stderr, nothing on stdout.
fn usage_error(args: &[&str], expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = coupler(args, dir.path());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(expected), "{args:?}: {err}");
    assert_eq!(text(&out.stdout), "", "{args:?}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "{args:?} wrote a file"
    );
}

#[test]
fn closed_sets_of_values_are_usage_errors() {
    usage_error(
        &["init", "--preset", "foo", "--out", "x.toml"],
        "invalid value 'foo' for '--preset <PRESET>'\n  [possible values: dataverse]",
    );
    usage_error(
        &[
            "couplings",
            "export",
            "--store",
            "s.db",
            "--mapping",
            "CUSTOMER",
            "--format",
            "xml",
        ],
        "invalid value 'xml' for '--format <FORMAT>'\n  [possible values: csv, bc]",
    );
    usage_error(
        &["completions", "tcsh"],
        "[possible values: bash, elvish, fish, powershell, zsh]",
    );
}

#[test]
fn missing_or_conflicting_arguments_are_usage_errors() {
    usage_error(&["completions"], "<SHELL>");
    usage_error(&["config"], "Usage: coupler config <COMMAND>");
    usage_error(&["jobs", "list"], "<--config <CONFIG>|--store <STORE>>");
    usage_error(
        &["jobs", "list", "--config", "c.toml", "--store", "s.db"],
        "cannot be used with",
    );
    usage_error(
        &["uncouple", "--store", "s.db", "--mapping", "CUSTOMER"],
        "<--local-id <ID>|--all>",
    );
    usage_error(
        &[
            "uncouple",
            "--store",
            "s.db",
            "--mapping",
            "CUSTOMER",
            "--all",
            "--local-id",
            "C1",
        ],
        "cannot be used with",
    );
    usage_error(
        &[
            "uncouple",
            "--store",
            "s.db",
            "--mapping",
            "CUSTOMER",
            "--yes",
            "--local-id",
            "C1",
        ],
        "cannot be used with",
    );
}

// ---- config schema ----

/// `config schema`: the JSON Schema of the config (tests/schema.rs checks it against the
/// shipped configs and the configuration reference).
#[test]
fn config_schema_prints_the_schema() {
    let out = coupler(&["config", "schema"], here());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["additionalProperties"], false);
    for key in ["mappings", "store", "dataverse", "variants"] {
        assert!(schema["properties"][key].is_object(), "no {key}: {schema}");
    }
    // A [[mappings]] table: its keys, the required ones, and no others.
    let mapping = &schema["definitions"]["MappingConfig"];
    assert_eq!(mapping["additionalProperties"], false, "{mapping}");
    for key in ["name", "local", "integration", "fields", "collation"] {
        assert!(
            mapping["properties"][key].is_object(),
            "no {key}: {mapping}"
        );
    }
    let required = mapping["required"].as_array().unwrap();
    assert!(required.contains(&"name".into()), "{mapping}");
}
