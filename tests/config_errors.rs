//! End-to-end: config errors name the file, line, column and key (and the mapping or variant
//! the key is in); mapping names must be valid folder names; `store` must name a file; and
//! `--threads` is bounded by the machine's cores.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const CONFIG: &str = r#"[[mappings]]
name = "CUSTOMER"
integration_caption = "Account"
[mappings.local]
csv = "customers.csv"
key = "No."
[mappings.integration]
csv = "accounts.csv"
key = "accountid"
[[mappings.fields]]
local = "Phone No."
integration = "telephone1"
match = true
[[mappings.fields]]
local = "Name"
integration = "name"
match = true
priority = 1
"#;

/// A folder with `c.toml` and two small exports.
fn scenario(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    std::fs::write(
        dir.path().join("customers.csv"),
        "No.,Phone No.,Name\nC1,1,Adatum\nC2,2,Contoso\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("accounts.csv"),
        "accountid,telephone1,name\nA1,1,Adatum\nA2,2,Contoso\n",
    )
    .unwrap();
    dir
}

/// Expects `args` to fail with exit code 1 and one line on stderr; returns that line.
fn one_line_error(args: &[&str], dir: &Path) -> String {
    let out = coupler(args, dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!dir.join("out").exists(), "a failed job writes nothing");
    err.trim_end().to_string()
}

/// `couple` on `config`; the error line.
fn couple_fails(config: &str) -> String {
    let dir = scenario(config);
    one_line_error(
        &["couple", "--config", "c.toml", "--out", "out"],
        dir.path(),
    )
}

#[test]
fn a_type_error_names_the_key_path_and_the_mapping() {
    let config = CONFIG.replace("priority = 1", "priority = \"high\"");
    let err = couple_fails(&config);
    assert_eq!(
        err,
        "coupler: error: c.toml: line 18, column 12: mappings[0].fields[1].priority (mapping 'CUSTOMER'): invalid type: string \"high\", expected u32"
    );

    let config = CONFIG.replace(
        "key = \"accountid\"",
        "key = \"accountid\"\nfilter = { statecode = 1.5 }",
    );
    let err = couple_fails(&config);
    assert_eq!(
        err,
        "coupler: error: c.toml: line 10, column 24: mappings[0].integration.filter.statecode (mapping 'CUSTOMER'): expected a text, an integer or a boolean"
    );
}

#[test]
fn an_unknown_key_names_its_path_and_the_mapping() {
    let config = CONFIG.replace("priority = 1", "priority = 1\ncase_sensitiv = true");
    let err = couple_fails(&config);
    assert!(
        err.starts_with(
            "coupler: error: c.toml: line 19, column 1: mappings[0].fields[1].case_sensitiv (mapping 'CUSTOMER'): unknown field `case_sensitiv`"
        ),
        "{err}"
    );
}

#[test]
fn an_error_in_a_source_table_names_the_mapping_even_if_its_name_comes_later() {
    let config = CONFIG.replace(
        "[[mappings]]\nname = \"CUSTOMER\"\n",
        "[[mappings]]\nintegration_caption2 = 1\nname = \"VENDOR\"\n",
    );
    let err = couple_fails(&config);
    assert!(
        err.starts_with(
            "coupler: error: c.toml: line 2, column 1: mappings[0].integration_caption2 (mapping 'VENDOR'): unknown field `integration_caption2`"
        ),
        "{err}"
    );
}

#[test]
fn a_syntax_error_keeps_its_line_and_column() {
    let config = CONFIG.replace("key = \"No.\"", "key = \"No.");
    let err = couple_fails(&config);
    assert!(
        err.starts_with("coupler: error: c.toml: line 6, column "),
        "{err}"
    );
}

#[test]
fn other_commands_name_the_key_too() {
    let config = CONFIG.replace(
        "match = true\npriority = 1",
        "match = \"yes\"\npriority = 1",
    );
    let dir = scenario(&config);
    for command in [
        &["validate", "--config", "c.toml"][..],
        &["profile", "--config", "c.toml", "--mapping", "CUSTOMER"],
    ] {
        let err = one_line_error(command, dir.path());
        assert!(
            err.contains(
                "c.toml: line 17, column 9: mappings[0].fields[1].match (mapping 'CUSTOMER'): invalid type: string \"yes\", expected a boolean"
            ),
            "{command:?}: {err}"
        );
    }
}

const VARIANTS: &str = r#"[[variants]]
name = "phone only"
[[variants.fields]]
local = "Phone No."
integration = "telephone1"

[[variants]]
name = "by name"
[[variants.fields]]
local = "Name"
integration = "name"
priority = -1
"#;

#[test]
fn a_variants_file_error_names_the_key_path_and_the_variant() {
    let dir = scenario(CONFIG);
    std::fs::write(dir.path().join("v.toml"), VARIANTS).unwrap();
    let compare = || {
        one_line_error(
            &[
                "criteria",
                "compare",
                "--config",
                "c.toml",
                "--mapping",
                "CUSTOMER",
                "--variants",
                "v.toml",
                "--out",
                "out",
            ],
            dir.path(),
        )
    };
    let err = compare();
    assert_eq!(
        err,
        "coupler: error: v.toml: line 12, column 12: variants[1].fields[0].priority (variant 'by name'): invalid value: integer `-1`, expected u32"
    );

    let unknown = VARIANTS.replace("priority = -1", "treshold = 0.9");
    std::fs::write(dir.path().join("v.toml"), unknown).unwrap();
    let err = compare();
    assert!(
        err.starts_with(
            "coupler: error: v.toml: line 12, column 1: variants[1].fields[0].treshold (variant 'by name'): unknown field `treshold`"
        ),
        "{err}"
    );
}

#[test]
fn a_variant_in_the_config_itself_is_named_too() {
    let config = format!(
        "{CONFIG}\n{}",
        VARIANTS.replace("priority = -1", "match = 1")
    );
    let dir = scenario(&config);
    let err = one_line_error(
        &[
            "criteria",
            "compare",
            "--config",
            "c.toml",
            "--mapping",
            "CUSTOMER",
            "--out",
            "out",
        ],
        dir.path(),
    );
    assert!(
        err.contains(
            "c.toml: line 31, column 9: variants[1].fields[0].match (variant 'by name'): invalid type: integer `1`, expected a boolean"
        ),
        "{err}"
    );
}

/// `name = …` written as a TOML basic string.
fn with_name(name: &str) -> String {
    let escaped: String = name
        .chars()
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            c if c.is_control() => format!("\\u{:04X}", c as u32),
            c => c.to_string(),
        })
        .collect();
    CONFIG.replace("name = \"CUSTOMER\"", &format!("name = \"{escaped}\""))
}

#[test]
fn a_mapping_name_must_be_a_valid_folder_name() {
    for (name, why) in [
        ("", "the name is empty"),
        ("   ", "the name is blank"),
        (".", "the name cannot be '.'"),
        ("..", "the name cannot be '..'"),
        ("CUSTOMER/VENDOR", "contains '/', a path separator"),
        ("CUSTOMER\\VENDOR", "contains '\\', a path separator"),
        ("C:USTOMER", "contains ':', which Windows does not allow"),
        ("CUSTOMER*", "contains '*'"),
        ("CUSTOMER?", "contains '?'"),
        ("\"CUSTOMER\"", "contains '\"'"),
        ("<CUSTOMER>", "contains '<'"),
        ("CUSTOMER|VENDOR", "contains '|'"),
        ("CUSTOMER\tVENDOR", "control character \\t"),
        ("CUSTOMER\nVENDOR", "control character \\n"),
        ("CUSTOMER.", "ends with a dot or a space"),
        ("CUSTOMER ", "ends with a dot or a space"),
        ("CON", "'CON' is a reserved device name on Windows"),
        ("nul.txt", "'nul' is a reserved device name on Windows"),
    ] {
        let err = couple_fails(&with_name(name));
        assert!(
            err.starts_with(
                "coupler: error: c.toml: line 2, column 8: mappings[0].name: mapping '"
            ),
            "{name:?}: {err}"
        );
        assert!(err.contains(why), "{name:?}: missing {why:?} in: {err}");
        assert!(
            err.ends_with("a mapping's name is its output folder's name (coupler-out/<name>)"),
            "{name:?}: {err}"
        );
    }
}

#[test]
fn a_valid_mapping_name_is_the_output_folder_as_it_is() {
    let name = "Customer - Account (Ä.1)";
    let dir = scenario(&with_name(name));
    let out = coupler(
        &["couple", "--config", "c.toml", "--out", "out"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir
        .path()
        .join("out")
        .join(name)
        .join("results.csv")
        .is_file());
}

/// `CONFIG` with a second mapping called `name`.
fn with_second_mapping(name: &str) -> String {
    let second = CONFIG.replace("name = \"CUSTOMER\"", &format!("name = \"{name}\""));
    format!("{CONFIG}\n{second}")
}

#[test]
fn mapping_names_equal_ignoring_case_are_rejected() {
    let err = couple_fails(&with_second_mapping("Customer"));
    assert_eq!(
        err,
        "coupler: error: c.toml: line 21, column 8: mappings[1].name: mapping 'Customer' and mapping 'CUSTOMER' (mappings[0]) differ only in case; they would share one output folder on Windows and macOS"
    );
    let err = couple_fails(&with_second_mapping("CUSTOMER"));
    assert_eq!(
        err,
        "coupler: error: c.toml: line 21, column 8: mappings[1].name: mapping name 'CUSTOMER' is used twice (also mappings[0])"
    );
}

#[test]
fn a_store_that_is_a_folder_or_empty_is_named() {
    let config = format!("store = \"db\"\n{CONFIG}");
    let dir = scenario(&config);
    std::fs::create_dir(dir.path().join("db")).unwrap();
    let expected = format!(
        "coupler: error: c.toml: line 1, column 9: store = \"db\" is a folder; name a file, e.g. \"{}\"",
        Path::new("db").join("coupler.db").display()
    );
    for apply in [false, true] {
        let mut args = vec!["couple", "--config", "c.toml", "--out", "out"];
        if apply {
            args.push("--apply");
        }
        assert_eq!(one_line_error(&args, dir.path()), expected);
    }
    assert_eq!(
        one_line_error(&["jobs", "list", "--config", "c.toml"], dir.path()),
        expected
    );

    let err = couple_fails(&format!("store = \"\"\n{CONFIG}"));
    assert!(
        err.starts_with("coupler: error: c.toml: line 1, column 9: store is empty"),
        "{err}"
    );
}

/// Runs `coupler` in `cwd`; panics (after killing it) if it has not finished within `limit`.
fn coupler_within(args: &[&str], cwd: &Path, limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run coupler");
    // Both pipes are read to their end on threads: the end of both is the end of the process.
    let (done, finished) = mpsc::channel();
    let read = |mut pipe: Box<dyn std::io::Read + Send>, done: mpsc::Sender<()>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            let _ = done.send(());
            bytes
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()), done.clone());
    let stderr = read(Box::new(child.stderr.take().unwrap()), done);
    for _ in 0..2 {
        if finished.recv_timeout(limit).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("coupler {args:?} did not finish within {limit:?}");
        }
    }
    Output {
        status: child.wait().unwrap(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

#[test]
fn more_threads_than_cores_are_clamped_with_a_warning_and_change_no_result() {
    let dir = tempfile::tempdir().unwrap();
    let config = root().join("fixtures/demo/coupling.toml");
    let config = config.to_str().unwrap();
    let limit = Duration::from_secs(120);
    let default = coupler_within(
        &["couple", "--config", config, "--out", "default"],
        dir.path(),
        limit,
    );
    assert!(default.status.success(), "{}", text(&default.stderr));
    let many = coupler_within(
        &[
            "couple",
            "--config",
            config,
            "--out",
            "many",
            "--threads",
            "10000",
            "--json",
        ],
        dir.path(),
        limit,
    );
    let err = text(&many.stderr);
    assert!(many.status.success(), "{err}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let s = if cores == 1 { "" } else { "s" };
    assert!(
        err.contains(&format!(
            "coupler: warning: --threads 10000 is more than this machine's {cores} core{s}; using {cores}\n"
        )),
        "{err}"
    );
    let jobs: serde_json::Value = serde_json::from_slice(&many.stdout).unwrap();
    assert_eq!(jobs[0]["threads"], cores);
    for file in ["results.csv", "couplings.csv"] {
        let a = std::fs::read(dir.path().join("default/CUSTOMER").join(file)).unwrap();
        let b = std::fs::read(dir.path().join("many/CUSTOMER").join(file)).unwrap();
        assert!(a == b, "{file} differs with --threads 10000");
    }
}

#[test]
fn zero_threads_is_a_usage_error() {
    let dir = scenario(CONFIG);
    let out = coupler(
        &["couple", "--config", "c.toml", "--threads", "0"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--threads"));
    assert!(!dir.path().join("coupler-out").exists());
}

#[test]
fn an_empty_certificate_or_secret_file_setting_is_named() {
    for key in ["certificate", "client_secret_file"] {
        let config = format!(
            "{CONFIG}\n[dataverse]\nurl = \"https://contoso.crm.dynamics.com\"\ntenant_id = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n{key} = \"\"\n"
        );
        let err = couple_fails(&config);
        assert!(err.contains(&format!("{key} is empty")), "{err}");
        assert!(!err.contains("folder"), "{err}");
    }
}

#[test]
fn a_delimiter_that_cannot_separate_values_is_refused() {
    // Found by the csv_tokenizer fuzz target: a NUL delimiter made every file "binary".
    for d in ["\\u0000", "\\n", "\\r", "\\\"", "ab"] {
        let config = CONFIG.replacen(
            "csv = \"customers.csv\"",
            &format!("csv = \"customers.csv\"\ndelimiter = \"{d}\""),
            1,
        );
        let err = couple_fails(&config);
        assert!(
            err.contains("delimiter must be one printable character"),
            "{d}: {err}"
        );
    }
}
