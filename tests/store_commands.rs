//! End-to-end: the store commands never act silently on nothing (issue 16, finding 11) — an
//! unknown mapping, ids that are not coupled, `uncouple --all` without `--yes`, and a BC export
//! whose ids BC cannot import.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Output;

/// A copy of the demo with its couplings committed to the store (300 couplings of CUSTOMER).
fn applied_demo() -> tempfile::TempDir {
    let dir = demo();
    apply(dir.path(), "a");
    dir
}

/// Exit 1, nothing on stdout; returns stderr.
fn fails(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "");
    text(&out.stderr)
}

fn has(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} not in: {text}");
    }
}

fn export_lines(dir: &Path, mapping: &str) -> usize {
    let out = coupler(
        &[
            "couplings",
            "export",
            "--config",
            "coupling.toml",
            "--mapping",
            mapping,
        ],
        dir,
    );
    ok(&out).lines().count() - 1
}

fn jobs(dir: &Path) -> String {
    ok(&coupler(
        &["jobs", "list", "--config", "coupling.toml", "--json"],
        dir,
    ))
}

fn uncouple(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["uncouple", "--config", "coupling.toml"];
    all.extend_from_slice(args);
    coupler(&all, dir)
}

#[test]
fn uncouple_of_an_unknown_mapping_fails_and_names_the_known_ones() {
    let dir = applied_demo();
    let d = dir.path();
    let jobs_before = jobs(d);
    for args in [
        &["--mapping", "CUSTOMRE", "--all"][..],
        &["--mapping", "CUSTOMRE", "--local-id", "C00010"][..],
    ] {
        let err = fails(&uncouple(d, args));
        has(
            &err,
            &[
                "no mapping 'CUSTOMRE' in the coupling store",
                "coupler.db or its config",
                "the store's mappings are: CUSTOMER",
                "the config's mappings are: CUSTOMER",
                "did you mean 'CUSTOMER'?",
            ],
        );
    }
    // Nothing removed, no job recorded.
    assert_eq!(export_lines(d, "CUSTOMER"), 300);
    assert_eq!(jobs(d), jobs_before);
    // A name far from every known one gets no suggestion; without --config only the store's
    // mappings are listed.
    let err = fails(&coupler(
        &[
            "uncouple",
            "--store",
            "coupler.db",
            "--mapping",
            "VENDOR",
            "--local-id",
            "V1",
        ],
        d,
    ));
    has(
        &err,
        &["no mapping 'VENDOR'", "the store's mappings are: CUSTOMER"],
    );
    assert!(!err.contains("did you mean"), "{err}");
    assert!(!err.contains("config"), "{err}");
}

#[test]
fn export_of_an_unknown_mapping_fails_and_of_a_known_empty_one_says_so() {
    let dir = applied_demo();
    let d = dir.path();
    let err = fails(&coupler(
        &[
            "couplings",
            "export",
            "--store",
            "coupler.db",
            "--mapping",
            "VENDOR",
        ],
        d,
    ));
    has(
        &err,
        &["no mapping 'VENDOR'", "the store's mappings are: CUSTOMER"],
    );
    let err = fails(&coupler(
        &[
            "couplings",
            "export",
            "--config",
            "coupling.toml",
            "--mapping",
            "customer",
            "--format",
            "bc",
        ],
        d,
    ));
    has(&err, &["no mapping 'customer'", "did you mean 'CUSTOMER'?"]);

    // A mapping of the config that has no couplings yet: the header, and a word on stderr.
    let config = std::fs::read_to_string(d.join("coupling.toml")).unwrap();
    let second = config.replacen("name = \"CUSTOMER\"", "name = \"CUSTOMER2\"", 1);
    std::fs::write(d.join("coupling.toml"), format!("{config}\n{second}")).unwrap();
    let out = coupler(
        &[
            "couplings",
            "export",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER2",
        ],
        d,
    );
    assert_eq!(ok(&out).lines().count(), 1);
    has(
        &text(&out.stderr),
        &["mapping CUSTOMER2 has no couplings in"],
    );
}

#[test]
fn uncoupling_ids_that_are_not_coupled_warns_and_fails_when_none_was() {
    let dir = applied_demo();
    let d = dir.path();
    let jobs_before = jobs(d);
    let err = fails(&uncouple(
        d,
        &[
            "--mapping",
            "CUSTOMER",
            "--local-id",
            "NOPE",
            "--local-id",
            "C99990",
        ],
    ));
    has(
        &err,
        &[
            "warning: NOPE is not coupled in mapping CUSTOMER",
            // C99990 is coupled in couplings.csv, not in the store.
            "warning: C99990 is not coupled in mapping CUSTOMER",
            "none of the given local ids is coupled in mapping CUSTOMER",
        ],
    );
    assert_eq!(jobs(d), jobs_before);
    assert_eq!(export_lines(d, "CUSTOMER"), 300);

    let out = uncouple(
        d,
        &[
            "--mapping",
            "CUSTOMER",
            "--local-id",
            "C00010",
            "--local-id",
            "NOPE",
        ],
    );
    assert!(ok(&out).starts_with("1 coupling(s) of mapping CUSTOMER removed"));
    has(
        &text(&out.stderr),
        &[
            "uncoupled C00010 from",
            "warning: NOPE is not coupled in mapping CUSTOMER",
        ],
    );
    assert_eq!(export_lines(d, "CUSTOMER"), 299);
    // The same id again: not coupled any more.
    let err = fails(&uncouple(
        d,
        &["--mapping", "CUSTOMER", "--local-id", "C00010"],
    ));
    has(
        &err,
        &["warning: C00010 is not coupled in mapping CUSTOMER"],
    );
}

#[test]
fn uncouple_all_needs_yes() {
    let dir = applied_demo();
    let d = dir.path();
    let jobs_before = jobs(d);
    let err = fails(&uncouple(d, &["--mapping", "CUSTOMER", "--all"]));
    has(
        &err,
        &[
            "--all would remove all 300 coupling(s) of mapping CUSTOMER",
            "add --yes to confirm",
        ],
    );
    assert_eq!(export_lines(d, "CUSTOMER"), 300);
    assert_eq!(jobs(d), jobs_before);

    let out = uncouple(d, &["--mapping", "CUSTOMER", "--all", "--yes"]);
    assert!(ok(&out).starts_with("300 coupling(s) of mapping CUSTOMER removed"));
    assert_eq!(export_lines(d, "CUSTOMER"), 0);
    // Nothing left: saying so is an error, and no empty job is recorded.
    let jobs_before = jobs(d);
    let err = fails(&uncouple(d, &["--mapping", "CUSTOMER", "--all", "--yes"]));
    has(
        &err,
        &[
            "mapping CUSTOMER has no couplings in",
            "nothing to uncouple",
        ],
    );
    assert_eq!(jobs(d), jobs_before);
}

fn export_bc(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "couplings",
        "export",
        "--config",
        "coupling.toml",
        "--mapping",
        "CUSTOMER",
        "--format",
        "bc",
    ];
    args.extend_from_slice(extra);
    coupler(&args, dir)
}

#[test]
fn a_bc_export_refuses_local_ids_that_are_not_systemids() {
    let dir = applied_demo();
    let d = dir.path();
    let err = fails(&export_bc(d, &[]));
    has(
        &err,
        &[
            "--format bc: 300 of 300 local id(s) of mapping CUSTOMER are not GUIDs (e.g. 'C00010')",
            "needs the BC record's SystemId (a GUID) as Integration ID",
            "SystemId column",
            "`key` of [mappings.local]",
            "--allow-non-guid",
        ],
    );
    let bc = ok(&export_bc(d, &["--allow-non-guid"]));
    assert_eq!(bc.lines().count(), 301);
    assert_eq!(bc.lines().next(), Some("CRM ID,Integration ID,Table ID"));
}

#[test]
fn a_bc_export_of_systemid_keyed_couplings_writes_canonical_guids() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    for f in ["coupling.toml", "accounts.csv"] {
        std::fs::copy(src.join(f), d.join(f)).unwrap();
    }
    // The customers exported with their SystemId, as BC shows it: upper-case, in braces.
    let systemid = |n: usize| format!("{n:08X}-0000-4000-8000-{n:012X}");
    let customers = std::fs::read_to_string(src.join("customers.csv")).unwrap();
    let mut with_ids = String::new();
    for (n, line) in customers.lines().enumerate() {
        let id = if n == 0 {
            "SystemId".to_string()
        } else {
            format!("{{{}}}", systemid(n))
        };
        with_ids.push_str(&format!("{line},{id}\n"));
    }
    std::fs::write(d.join("customers.csv"), with_ids).unwrap();
    let config = std::fs::read_to_string(d.join("coupling.toml")).unwrap();
    let config = config
        .replacen("key = \"No.\"", "key = \"SystemId\"", 1)
        .replacen("csv = \"couplings.csv\"", "", 1)
        .replacen("[mappings.couplings]", "", 1);
    std::fs::write(d.join("coupling.toml"), config).unwrap();
    apply(d, "a");
    let bc = ok(&export_bc(d, &[]));
    let mut lines = bc.lines();
    assert_eq!(lines.next(), Some("CRM ID,Integration ID,Table ID"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.len() > 250, "{bc}");
    for row in &rows {
        assert_eq!(row.len(), 3, "{row:?}");
        for id in &row[..2] {
            assert_eq!(id.len(), 36, "{row:?}");
            assert_eq!(*id, id.to_lowercase(), "{row:?}");
        }
        assert_eq!(row[2], "18");
    }
    // The first customer's SystemId, written as BC's canonical GUID.
    assert!(
        rows.iter().any(|r| r[1] == systemid(1).to_lowercase()),
        "{bc}"
    );
}
