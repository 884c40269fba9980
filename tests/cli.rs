//! End-to-end: the real `coupler` binary on the demo fixtures and on bad inputs. Every failure
//! must be a one-line error naming the file / line / column, exit code 1, and never a panic.

mod common;
use common::*;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `couple` and expects the job to fail with a message containing every `needles`.
fn fails_with(dir: &Path, needles: &[&str]) -> String {
    let out = coupler(&["couple", "--config", "c.toml", "--out", "out"], dir);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in: {err}");
    }
    assert!(!dir.join("out").exists(), "a failed job writes nothing");
    err
}

const CONFIG: &str = r#"
[[mappings]]
name = "CUSTOMER"
local_caption = "Customer"
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
"#;

fn scenario(config: &str, customers: &[u8], accounts: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    std::fs::write(dir.path().join("customers.csv"), customers).unwrap();
    std::fs::write(dir.path().join("accounts.csv"), accounts).unwrap();
    dir
}

#[test]
fn demo_dry_run_matches_the_checked_in_expected_results() {
    let dir = tempfile::tempdir().unwrap();
    let config = root().join("fixtures/demo/coupling.toml");
    let out = coupler(
        &[
            "couple",
            "--config",
            config.to_str().unwrap(),
            "--out",
            "out",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = std::fs::read_to_string(dir.path().join("out/CUSTOMER/results.csv")).unwrap();
    let want = std::fs::read_to_string(root().join("fixtures/demo/expected/CUSTOMER/results.csv"))
        .unwrap();
    assert!(
        got == want,
        "results.csv differs from fixtures/demo/expected"
    );

    // job.json agrees with the expected summary and with results.csv.
    let job: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out/CUSTOMER/job.json")).unwrap())
            .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/demo/expected/CUSTOMER/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(job["counters"]["coupled"], summary["coupled"]);
    assert_eq!(job["counters"]["failed"], summary["failed"]);
    assert_eq!(job["outcomes"], summary["outcomes"]);
    let errors: Vec<&str> = job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    let expected_errors: Vec<&str> = summary["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors, expected_errors);
    assert_eq!(job["dry_run"], true);
    assert_eq!(job["type"], "coupling");
    assert_eq!(job["mapping"], "CUSTOMER");

    // couplings.csv lists exactly the coupled rows of results.csv.
    let mut coupled = csv::Reader::from_path(dir.path().join("out/CUSTOMER/results.csv")).unwrap();
    let from_results: Vec<(String, String, String)> = coupled
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[1] == "coupled")
        .map(|r| (r[0].to_string(), r[2].to_string(), r[3].to_string()))
        .collect();
    let mut couplings =
        csv::Reader::from_path(dir.path().join("out/CUSTOMER/couplings.csv")).unwrap();
    assert_eq!(
        couplings.headers().unwrap(),
        vec!["local_id", "integration_id", "priority"]
    );
    let listed: Vec<(String, String, String)> = couplings
        .records()
        .map(|r| r.unwrap())
        .map(|r| (r[0].to_string(), r[1].to_string(), r[2].to_string()))
        .collect();
    assert_eq!(listed, from_results);
    assert_eq!(
        listed.len() as u64,
        job["counters"]["coupled"].as_u64().unwrap()
    );

    // The human summary names the counts and the files.
    let stdout = text(&out.stdout);
    assert!(stdout.contains("coupled"), "{stdout}");
    assert!(stdout.contains("results.csv"), "{stdout}");
    assert!(stdout.contains("Failed to couple"), "{stdout}");
}

#[test]
fn json_output_is_an_array_of_job_objects_and_reruns_replace_files() {
    let dir = scenario(
        CONFIG,
        b"No.,Phone No.\nC1,1\nC2,2\n",
        b"accountid,telephone1\nA1,1\n",
    );
    for _ in 0..2 {
        let out = coupler(
            &["couple", "--config", "c.toml", "--out", "out", "--json"],
            dir.path(),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(jobs.as_array().unwrap().len(), 1);
        assert_eq!(jobs[0]["counters"]["coupled"], 1);
        assert_eq!(jobs[0]["counters"]["failed"], 1);
        assert_eq!(
            jobs[0]["errors"][0]["message"],
            "Failed to couple 1 record(s), because no unique uncoupled matching entity was found in accounts.csv with the specified matching criteria."
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("out/CUSTOMER"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !["results.csv", "couplings.csv", "job.json"].contains(&n.as_str()))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn mapping_without_criteria_fails_once_with_m1() {
    let config = CONFIG.replace("match = true", "match = false");
    let dir = scenario(
        &config,
        b"No.,Phone No.\nC1,1\nC2,2\n",
        b"accountid,telephone1\nA1,1\n",
    );
    let out = coupler(
        &["couple", "--config", "c.toml", "--out", "out", "--json"],
        dir.path(),
    );
    assert!(out.status.success());
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jobs[0]["counters"]["failed"], 1);
    assert_eq!(jobs[0]["outcomes"]["no_criteria"], 2);
    assert_eq!(
        jobs[0]["errors"][0]["message"],
        "You must specify which fields on the table mapping 'Customer - Account' should be used for match-based coupling."
    );
}

#[test]
fn semicolon_and_windows_1252_sources_read_like_csv() {
    let config = CONFIG
        .replace(
            "csv = \"customers.csv\"",
            "csv = \"customers.csv\"\nencoding = \"windows-1252\"",
        )
        .replace("integration = \"telephone1\"", "integration = \"name\"")
        .replace("local = \"Phone No.\"", "local = \"Name\"");
    // "Müller" in windows-1252, semicolon-delimited, with a quoted field holding the delimiter.
    let customers = b"No.;Name\r\nC1;M\xfcller\r\nC2;\"A;B\"\r\n";
    let dir = scenario(
        &config,
        customers,
        "accountid,name\nA1,MÜLLER\nA2,a;b\n".as_bytes(),
    );
    let out = coupler(
        &["couple", "--config", "c.toml", "--out", "out", "--json"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jobs[0]["counters"]["coupled"], 2);
}

#[test]
fn validate_checks_without_matching() {
    let dir = scenario(
        CONFIG,
        b"No.,Phone No.\nC1,1\n",
        b"accountid,telephone1\nA1,1\n",
    );
    let out = coupler(&["validate", "--config", "c.toml"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("valid"));
    assert!(!dir.path().join("out").exists());
    let bad = CONFIG.replace("\"telephone1\"", "\"telephone\"");
    std::fs::write(dir.path().join("c.toml"), bad).unwrap();
    let out = coupler(&["validate", "--config", "c.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("telephone1"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn missing_source_file_is_named() {
    let dir = scenario(
        CONFIG,
        b"No.,Phone No.\nC1,1\n",
        b"accountid,telephone1\nA1,1\n",
    );
    std::fs::remove_file(dir.path().join("accounts.csv")).unwrap();
    fails_with(dir.path(), &["accounts.csv"]);
}

#[test]
fn missing_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    fails_with(dir.path(), &["c.toml"]);
}

#[test]
fn missing_column_lists_the_columns_that_exist() {
    let dir = scenario(
        CONFIG,
        b"No.,Phone\nC1,1\n",
        b"accountid,telephone1\nA1,1\n",
    );
    fails_with(dir.path(), &["customers.csv", "'Phone No.'", "No., Phone"]);
}

#[test]
fn ragged_row_names_the_line() {
    let dir = scenario(
        CONFIG,
        b"No.,Phone No.\nC1,1\nC2,2,extra\n",
        b"accountid,telephone1\nA1,1\n",
    );
    fails_with(dir.path(), &["customers.csv", "line 3"]);
}

#[test]
fn invalid_utf8_names_the_line_and_suggests_windows_1252() {
    let dir = scenario(
        CONFIG,
        b"No.,Phone No.\nC1,1\nC2,\xff2\n",
        b"accountid,telephone1\nA1,1\n",
    );
    fails_with(
        dir.path(),
        &["customers.csv", "line 3", "Phone No.", "windows-1252"],
    );
}

#[test]
fn duplicate_local_ids_are_rejected() {
    let dir = scenario(
        CONFIG,
        b"No.,Phone No.\nC1,1\nC1,2\n",
        b"accountid,telephone1\nA1,1\n",
    );
    fails_with(
        dir.path(),
        &["customers.csv", "line 3", "duplicate id 'C1'", "line 2"],
    );
}

#[test]
fn duplicate_header_names_are_rejected() {
    let dir = scenario(
        CONFIG,
        b"No.,Phone No.,No.\nC1,1,x\n",
        b"accountid,telephone1\nA1,1\n",
    );
    fails_with(dir.path(), &["customers.csv", "No."]);
}

#[test]
fn unknown_config_key_is_named() {
    let config = CONFIG.replace("match = true", "match = true\ncase_sensitiv = true");
    let dir = scenario(
        &config,
        b"No.,Phone No.\nC1,1\n",
        b"accountid,telephone1\nA1,1\n",
    );
    fails_with(dir.path(), &["c.toml", "case_sensitiv"]);
}

#[test]
fn empty_file_is_rejected() {
    let dir = scenario(CONFIG, b"", b"accountid,telephone1\nA1,1\n");
    fails_with(dir.path(), &["customers.csv", "empty"]);
}

#[test]
fn invalid_typed_value_names_line_and_column() {
    let config = CONFIG.replace("match = true", "match = true\ntype = \"decimal\"");
    let dir = scenario(
        &config,
        b"No.,Phone No.\nC1,1\n",
        b"accountid,telephone1\nA1,1\nA2,x\n",
    );
    fails_with(dir.path(), &["accounts.csv line 3", "telephone1", "'x'"]);
}

#[test]
fn unknown_mapping_and_bad_usage() {
    let dir = scenario(
        CONFIG,
        b"No.,Phone No.\nC1,1\n",
        b"accountid,telephone1\nA1,1\n",
    );
    let out = coupler(
        &["couple", "--config", "c.toml", "--mapping", "VENDOR"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("CUSTOMER"));
    let out = coupler(&["couple"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn formula_like_values_are_escaped_except_in_id_columns() {
    let config = CONFIG
        .replace("\"Phone No.\"", "\"Name\"")
        .replace("\"telephone1\"", "\"name\"");
    let dir = scenario(
        &config,
        b"No.,Name\n=C1,=SUM(A1)\n+C2,@x\n",
        b"accountid,name\n-A1,=sum(a1)\n",
    );
    let out = coupler(
        &["couple", "--config", "c.toml", "--out", "out"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut r = csv::Reader::from_path(dir.path().join("out/CUSTOMER/results.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(&rows[0][0], "=C1");
    assert_eq!(&rows[0][2], "-A1");
    assert_eq!(&rows[1][0], "+C2");
    assert!(rows[1][8].starts_with("No matching entity was found for +C2"));
    let mut c = csv::Reader::from_path(dir.path().join("out/CUSTOMER/couplings.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = c.records().map(|r| r.unwrap()).collect();
    assert_eq!((&rows[0][0], &rows[0][1]), ("=C1", "-A1"));
}

#[test]
fn xlsx_local_source_with_a_named_sheet() {
    let dir = scenario(
        &CONFIG.replace(
            "csv = \"customers.csv\"",
            "xlsx = \"customers.xlsx\"\nsheet = \"Customers\"",
        ),
        b"",
        b"accountid,telephone1\nA1,4255550101\nA2,2\n",
    );
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet().set_name("Notes").unwrap();
    let sheet = book.add_worksheet().set_name("Customers").unwrap();
    sheet.write_string(0, 0, "No.").unwrap();
    sheet.write_string(0, 1, "Phone No.").unwrap();
    sheet.write_string(1, 0, "C1").unwrap();
    // Excel keeps phones typed as numbers as floats; they must read as "4255550101".
    sheet.write_number(1, 1, 4255550101.0).unwrap();
    sheet.write_string(2, 0, "C2").unwrap();
    sheet.write_string(2, 1, "3").unwrap();
    book.save(dir.path().join("customers.xlsx")).unwrap();
    let out = coupler(
        &["couple", "--config", "c.toml", "--out", "out"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let results = std::fs::read_to_string(dir.path().join("out/CUSTOMER/results.csv")).unwrap();
    let mut lines = results.lines().skip(1);
    assert!(lines.next().unwrap().starts_with("C1,coupled,A1,0,1,"));
    assert!(lines.next().unwrap().starts_with("C2,no_match,,0,0,"));

    let bad = CONFIG.replace(
        "csv = \"customers.csv\"",
        "xlsx = \"customers.xlsx\"\nsheet = \"Kunden\"",
    );
    std::fs::write(dir.path().join("c.toml"), bad).unwrap();
    std::fs::remove_dir_all(dir.path().join("out")).unwrap();
    fails_with(
        dir.path(),
        &["customers.xlsx", "Kunden", "Notes, Customers"],
    );
}

#[test]
fn an_unclosed_quote_does_not_swallow_the_rest_of_the_file() {
    let dir = scenario(
        CONFIG,
        b"No.,Phone No.\nC1,1\nC2,\"2\nC3,3\nC4,4\n",
        b"accountid,telephone1\nA1,1\n",
    );
    fails_with(
        dir.path(),
        &["customers.csv", "line 3: malformed CSV", "never closed"],
    );
}

#[test]
fn invalid_bytes_in_a_mapped_column_that_is_not_a_criterion_are_refused() {
    // A windows-1252 export read as UTF-8: `Müller` in Name, a mapped field that no criterion
    // uses — its value would be synchronized later.
    let config = format!("{CONFIG}[[mappings.fields]]\nlocal = \"Name\"\nintegration = \"name\"\n");
    let dir = scenario(
        &config,
        b"No.,Phone No.,Name\nC1,1,Adatum\nC2,2,M\xfcller GmbH\n",
        b"accountid,telephone1,name\nA1,1,Adatum\n",
    );
    fails_with(
        dir.path(),
        &[
            "customers.csv",
            "line 3, column 'Name'",
            "invalid UTF-8",
            "windows-1252",
        ],
    );
}

#[test]
fn missing_couplings_file_is_named_once() {
    let config = format!("{CONFIG}\n[mappings.couplings]\ncsv = \"couplings.csv\"\n");
    let dir = scenario(
        &config,
        b"No.,Phone No.\nC1,1\n",
        b"accountid,telephone1\nA1,1\n",
    );
    let err = fails_with(dir.path(), &["couplings.csv"]);
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

#[test]
fn dataverse_collation_and_its_preview() {
    let config = CONFIG.replace(
        "local = \"Phone No.\"\nintegration = \"telephone1\"\nmatch = true",
        "local = \"Name\"\nintegration = \"name\"\nmatch = true\ncase_sensitive = true",
    );
    let dir = scenario(
        &config,
        b"No.,Name,Phone No.\nC1,Cafe Ltd,1\nC2,Adatum ,2\nC3,Fabrikam,3\n",
        b"accountid,name,telephone1\nA1,CAF\xc3\x89 LTD,1\nA2,Adatum,2\nA3,Fabrikam,3\n",
    );
    // Exact (BC's own comparison), previewing Dataverse's: C1 and C2 couple only there.
    let out = coupler(
        &[
            "couple",
            "--config",
            "c.toml",
            "--out",
            "o",
            "--json",
            "--compare-collation",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jobs[0]["outcomes"]["coupled"], 1);
    assert_eq!(jobs[0]["collation_diff"]["records"], 2);
    let diff = std::fs::read_to_string(dir.path().join("o/CUSTOMER/collation-diff.csv")).unwrap();
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(
        lines[0],
        "local_id,outcome,integration_id,trace,other_outcome,other_integration_id,other_trace"
    );
    assert!(
        lines[1].starts_with("C1,no_match,,p0:no_match,coupled,A1,"),
        "{diff}"
    );
    assert!(
        lines[2].starts_with("C2,no_match,,p0:no_match,coupled,A2,"),
        "{diff}"
    );
    // collation = "dataverse" in the config: both couple; Finnish (_CI_AS) keeps the accent.
    let dv = config.replace(
        "name = \"CUSTOMER\"",
        "name = \"CUSTOMER\"\ncollation = \"dataverse\"",
    );
    std::fs::write(dir.path().join("c.toml"), &dv).unwrap();
    let out = coupler(
        &["couple", "--config", "c.toml", "--out", "o", "--json"],
        dir.path(),
    );
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jobs[0]["outcomes"]["coupled"], 3);
    let fi = dv.replace(
        "collation = \"dataverse\"",
        "collation = \"dataverse\"\ncollation_language = \"fi-FI\"",
    );
    std::fs::write(dir.path().join("c.toml"), &fi).unwrap();
    let out = coupler(
        &["couple", "--config", "c.toml", "--out", "o", "--json"],
        dir.path(),
    );
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jobs[0]["outcomes"]["coupled"], 2);
    // A language setting without the Dataverse collation is a configuration error.
    let bad = config.replace(
        "name = \"CUSTOMER\"",
        "name = \"CUSTOMER\"\ncollation_language = \"fi\"",
    );
    std::fs::write(dir.path().join("c.toml"), &bad).unwrap();
    fails_with(
        dir.path(),
        &["collation_language applies only with collation = \"dataverse\""],
    );
}

/// A local table filter in BC's syntax: only the customers inside it take part, and each of
/// them gets its results row — checked against the export itself.
#[test]
fn a_local_table_filter_keeps_exactly_the_rows_inside_it() {
    let dir = common::demo();
    let config = dir.path().join("coupling.toml");
    let before = std::fs::read_to_string(&config).unwrap();
    let with_filter = before.replacen(
        "filter = { Blocked = \"\" }",
        "filter = { Blocked = \"\" }\ntable_filter = { Name = \"A*|@b*\" }",
        1,
    );
    assert_ne!(with_filter, before);
    std::fs::write(&config, with_filter).unwrap();
    common::ok(&common::coupler(
        &["couple", "--config", "coupling.toml", "--out", "out"],
        dir.path(),
    ));
    let inside: std::collections::BTreeSet<String> =
        common::read_csv(&dir.path().join("customers.csv"))
            .into_iter()
            .filter(|r| r["Blocked"].is_empty())
            .filter(|r| {
                let name = &r["Name"];
                name.starts_with('A') || name.to_lowercase().starts_with('b')
            })
            .map(|r| r["No."].clone())
            .collect();
    let results: std::collections::BTreeSet<String> =
        common::read_csv(&dir.path().join("out/CUSTOMER/results.csv"))
            .into_iter()
            .map(|r| r["local_id"].clone())
            .collect();
    assert!(!inside.is_empty());
    assert_eq!(results, inside);
}
