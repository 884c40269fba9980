//! End-to-end: one id, however it is spelled (issue 16, finding 13) — GUIDs in BC's spelling
//! (`{UPPER}`) and Dataverse's (lower-case), BC codes in any case with spaces around — in the
//! exports, `couplings.csv`, the store and `uncouple --local-id`; outputs in one canonical form.

mod common;
use common::*;

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

fn couple(dir: &Path, out: &str, apply: bool) -> Output {
    let mut args = vec!["couple", "--config", "coupling.toml", "--out", out];
    if apply {
        args.push("--apply");
    }
    coupler(&args, dir)
}

/// `results.csv` of a run, by local id.
fn results(dir: &Path, out: &str) -> HashMap<String, HashMap<String, String>> {
    read_csv(&dir.join(out).join("CUSTOMER/results.csv"))
        .into_iter()
        .map(|r| (r["local_id"].clone(), r))
        .collect()
}

/// BC's spelling of a GUID: upper-case, in braces.
fn bc(guid: &str) -> String {
    format!("{{{}}}", guid.to_uppercase())
}

/// Replaces the first occurrence of `from` in a file (which must contain it).
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn append(path: &Path, lines: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(lines);
    std::fs::write(path, text).unwrap();
}

/// The account each customer is coupled to in a dry run of the demo as shipped.
fn demo_couplings(dir: &Path) -> HashMap<String, String> {
    ok(&couple(dir, "baseline", false));
    results(dir, "baseline")
        .into_values()
        .filter(|r| r["outcome"] == "coupled")
        .map(|r| (r["local_id"].clone(), r["integration_id"].clone()))
        .collect()
}

#[test]
fn a_coupling_in_bc_spelling_holds_its_account_and_its_customer() {
    let dir = demo();
    let d = dir.path();
    let coupled = demo_couplings(d);
    let (a10, a20) = (&coupled["C00010"], &coupled["C00020"]);
    // C99991 (deleted in BC) holds C00010's account, as BC exports a CRM ID; C00020 is coupled
    // already, written in lower case with a space, to its account in BC's spelling.
    append(
        &d.join("couplings.csv"),
        &format!("C99991,{}\nc00020 ,{}\n", bc(a10), bc(a20)),
    );
    ok(&couple(d, "out", false));
    let r = results(d, "out");
    let c10 = &r["C00010"];
    assert_eq!(c10["outcome"], "already_coupled", "{c10:?}");
    assert_eq!(c10["candidates"], *a10);
    assert_eq!(c10["coupled_to"], "C99991");
    assert_eq!(c10["holder_origin"], "existing");
    let c20 = &r["C00020"];
    assert_eq!(c20["outcome"], "skipped", "{c20:?}");
    assert_eq!(
        c20["message"],
        format!("C00020 is already coupled to {a20}; match-based coupling skips coupled records.")
    );
    let couplings = std::fs::read_to_string(d.join("out/CUSTOMER/couplings.csv")).unwrap();
    assert!(!couplings.contains(a10.as_str()), "{couplings}");
    assert!(!couplings.contains(a20.as_str()), "{couplings}");
}

#[test]
fn local_ids_differing_in_case_or_spaces_are_a_duplicate_id() {
    let dir = demo();
    let d = dir.path();
    let customers = d.join("customers.csv");
    let lines = std::fs::read_to_string(&customers).unwrap().lines().count();
    append(
        &customers,
        "CUST-0042,Northwind Traders,,,,,,,,,\n\
         cust-0042,Northwind Traders,,,,,,,,,\n\
         CUST-0042 ,Northwind Traders,,,,,,,,,\n",
    );
    let out = couple(d, "out", false);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let (first, second) = (lines + 1, lines + 2);
    for part in [
        "customers.csv".to_string(),
        format!("line {second}: duplicate id 'cust-0042'"),
        format!("first seen on line {first} as 'CUST-0042'"),
    ] {
        assert!(err.contains(&part), "{part:?} not in {err}");
    }
    assert!(!d.join("out/CUSTOMER/results.csv").exists());
}

#[test]
fn guids_differing_in_case_are_a_duplicate_id() {
    let dir = demo();
    let d = dir.path();
    let accounts = d.join("accounts.csv");
    let text_before = std::fs::read_to_string(&accounts).unwrap();
    let second = text_before.lines().nth(1).unwrap();
    let (id, rest) = second.split_once(',').unwrap();
    let lines = text_before.lines().count();
    append(&accounts, &format!("{},{rest}\n", id.to_uppercase()));
    let out = couple(d, "out", false);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "accounts.csv line {}: duplicate id '{}' (first seen on line 2 as '{id}'",
            lines + 1,
            id.to_uppercase()
        )),
        "{err}"
    );
}

#[test]
fn outputs_the_store_and_uncouple_use_one_spelling() {
    let dir = demo();
    let d = dir.path();
    let coupled = demo_couplings(d);
    let a10 = &coupled["C00010"];
    // The customer's number in lower case with a trailing space, its account in BC's spelling.
    edit(&d.join("customers.csv"), "\nC00010,", "\nc00010 ,");
    edit(&d.join("accounts.csv"), a10, &bc(a10));
    ok(&couple(d, "a", true));
    let r = results(d, "a");
    assert_eq!(r["C00010"]["outcome"], "coupled");
    assert_eq!(r["C00010"]["integration_id"], *a10);
    let couplings = std::fs::read_to_string(d.join("a/CUSTOMER/couplings.csv")).unwrap();
    assert!(
        couplings.contains(&format!("\nC00010,{a10},0\n")),
        "{couplings}"
    );
    let export = ok(&coupler(
        &[
            "couplings",
            "export",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
        ],
        d,
    ));
    assert!(export.contains(&format!("\nC00010,{a10},")), "{export}");

    // A rerun finds the stored coupling under the exports' spellings: skipped.
    ok(&couple(d, "b", false));
    assert_eq!(results(d, "b")["C00010"]["outcome"], "skipped");

    // uncouple takes the id in any spelling.
    let out = coupler(
        &[
            "uncouple",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
            "--local-id",
            " c00010",
        ],
        d,
    );
    assert!(
        ok(&out).starts_with("1 coupling(s) of mapping CUSTOMER removed"),
        "{}",
        text(&out.stderr)
    );
    let export = ok(&coupler(
        &[
            "couplings",
            "export",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
        ],
        d,
    ));
    assert!(!export.contains("C00010"), "{export}");
    assert!(!export.contains(a10.as_str()), "{export}");
}
