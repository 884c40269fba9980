//! What a new user meets first: a fresh `init` config, a Windows path, a typo in a column name,
//! an export with no rows, a short job id. Each must get a message that says what to do.

mod common;

use common::{apply, coupler, demo, ok, text};

/// `validate` on a fresh `init` config names every problem in one run: the unset secret and
/// each placeholder export, not only the first.
#[test]
fn validate_reports_every_problem_of_a_fresh_init_config() {
    let dir = tempfile::tempdir().unwrap();
    ok(&coupler(
        &["init", "--preset", "dataverse", "--out", "coupling.toml"],
        dir.path(),
    ));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args(["validate", "--config", "coupling.toml"])
        .current_dir(dir.path())
        .env_remove("COUPLER_CLIENT_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("COUPLER_CLIENT_SECRET is not set"), "{err}");
    for placeholder in ["salespeople.csv", "customers.csv", "contacts.csv"] {
        assert!(
            err.contains(placeholder),
            "{placeholder} missing from: {err}"
        );
    }
    assert!(err.contains("9 problems"), "{err}");
}

/// `connection test` without the secret fails in BC's words instead of stopping with an error.
#[test]
fn connection_test_without_the_secret_fails_in_bcs_words() {
    let dir = tempfile::tempdir().unwrap();
    ok(&coupler(
        &["init", "--preset", "dataverse", "--out", "coupling.toml"],
        dir.path(),
    ));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args(["connection", "test", "--config", "coupling.toml"])
        .current_dir(dir.path())
        .env_remove("COUPLER_CLIENT_SECRET")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("The connection test has failed. The client secret is not available"),
        "{stdout}"
    );
    assert!(stdout.contains("COUPLER_CLIENT_SECRET"), "{stdout}");
}

/// A Windows path in a double-quoted TOML string: the message says to use single quotes or
/// forward slashes.
#[test]
fn a_windows_path_in_double_quotes_gets_a_hint() {
    let dir = demo();
    let config = dir.path().join("coupling.toml");
    let text_before = std::fs::read_to_string(&config).unwrap();
    let windows = text_before.replacen(
        "csv = \"customers.csv\"",
        "csv = \"C:\\Users\\admin\\customers.csv\"",
        1,
    );
    assert_ne!(windows, text_before, "the demo config names customers.csv");
    std::fs::write(&config, windows).unwrap();
    let out = coupler(&["validate", "--config", "coupling.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("line "), "{err}");
    assert!(err.contains("single quotes"), "{err}");
    assert!(err.contains("forward slashes"), "{err}");
}

/// A column name with a typo gets a did-you-mean, as Dataverse columns do.
#[test]
fn a_mistyped_column_gets_a_suggestion() {
    let dir = demo();
    let config = dir.path().join("coupling.toml");
    let before = std::fs::read_to_string(&config).unwrap();
    let typo = before.replacen("local = \"Phone No.\"", "local = \"Phone Nr.\"", 1);
    assert_ne!(typo, before, "the demo maps Phone No.");
    std::fs::write(&config, typo).unwrap();
    let out = coupler(&["validate", "--config", "coupling.toml"], dir.path());
    let err = text(&out.stderr);
    assert!(
        err.contains("column 'Phone Nr.' not found; did you mean 'Phone No.'?"),
        "{err}"
    );
}

/// An export with a header and no rows is named in a warning, not passed over in silence.
#[test]
fn an_export_with_no_rows_is_warned_about() {
    let dir = demo();
    let path = dir.path().join("customers.csv");
    let header = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(&path, format!("{header}\n")).unwrap();
    let out = coupler(
        &["couple", "--config", "coupling.toml", "--out", "out"],
        dir.path(),
    );
    ok(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("customers.csv has a header and no rows"),
        "{err}"
    );
}

/// `jobs show` with a prefix too short to resolve says how long a prefix must be.
#[test]
fn a_short_job_id_prefix_says_how_long_it_must_be() {
    let dir = demo();
    apply(dir.path(), "out");
    let out = coupler(
        &["jobs", "show", "13c8", "--config", "coupling.toml"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("at least 8 characters"), "{err}");
}

/// A config whose mappings are listed before the mappings they depend on: the run takes them in
/// `depends_on` order; a cycle is a config error naming it, for `couple` as for `review`.
#[test]
fn mappings_run_in_dependency_order_and_a_cycle_is_a_config_error() {
    let dir = demo();
    let config = dir.path().join("coupling.toml");
    let demo_config = std::fs::read_to_string(&config).unwrap();
    let body = demo_config
        .split_once("[[mappings]]")
        .map(|(_, rest)| rest)
        .unwrap();
    let two = |first: &str| {
        format!(
            "[[mappings]]\n{}[[mappings]]\n{}",
            body.replacen(
                "name = \"CUSTOMER\"",
                &format!("name = \"SECOND\"\ndepends_on = [\"FIRST\"]{first}"),
                1
            ),
            body.replacen("name = \"CUSTOMER\"", "name = \"FIRST\"", 1)
        )
    };
    std::fs::write(&config, two("")).unwrap();
    let out = coupler(
        &[
            "couple",
            "--config",
            "coupling.toml",
            "--out",
            "out",
            "--json",
        ],
        dir.path(),
    );
    let jobs: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let order: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["mapping"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["FIRST", "SECOND"]);

    // FIRST depends on SECOND too: a cycle, refused before anything is read.
    let cyclic = two("").replacen(
        "name = \"FIRST\"",
        "name = \"FIRST\"\ndepends_on = [\"SECOND\"]",
        1,
    );
    std::fs::write(&config, cyclic).unwrap();
    let out = coupler(
        &["couple", "--config", "coupling.toml", "--out", "out2"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("the mappings' depends_on form a cycle: SECOND → FIRST → SECOND"),
        "{err}"
    );
    assert!(!dir.path().join("out2").exists());
}
