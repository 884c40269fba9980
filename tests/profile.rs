//! End-to-end: `coupler profile` on generated data. Its measures must match a count made here
//! from the CSV files, and its suggestion, run through `criteria compare` against the truth,
//! must beat a naive single-field choice.

mod common;
use common::*;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use coupler_generate::{generate, GenerateOptions};
use serde_json::Value;

fn profile_json(d: &Path) -> Value {
    let out = coupler(
        &[
            "profile",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
            "--json",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

#[test]
fn measures_match_an_independent_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(
        &GenerateOptions {
            records: 3000,
            seed: 21,
        },
        d,
        &|_| {},
    )
    .unwrap();
    let json = profile_json(d);
    let customers: Vec<_> = read_csv(&d.join("customers.csv"))
        .into_iter()
        .filter(|r| r["Blocked"].is_empty())
        .collect();
    let accounts: Vec<_> = read_csv(&d.join("accounts.csv"))
        .into_iter()
        .filter(|r| r["statecode"] == "0")
        .collect();
    assert_eq!(json["local_records"].as_u64(), Some(customers.len() as u64));
    assert_eq!(
        json["integration_records"].as_u64(),
        Some(accounts.len() as u64)
    );
    let fields = json["fields"].as_array().unwrap();
    let names: Vec<&str> = fields
        .iter()
        .map(|f| f["local"].as_str().unwrap())
        .collect();
    // Every mapped field with a local column, matched or not (E-Mail is mapped, not matched).
    assert_eq!(names, ["Phone No.", "Name", "City", "E-Mail"]);
    for f in fields {
        let (l, i) = (
            f["local"].as_str().unwrap(),
            f["integration"].as_str().unwrap(),
        );
        let local: Vec<&str> = customers.iter().map(|r| r[l].as_str()).collect();
        let integration: Vec<&str> = accounts.iter().map(|r| r[i].as_str()).collect();
        let filled: Vec<&str> = local.iter().copied().filter(|v| !v.is_empty()).collect();
        let side = &f["local_side"];
        assert_eq!(
            side["blanks"].as_u64(),
            Some((local.len() - filled.len()) as u64),
            "{l}"
        );
        let distinct: HashSet<&str> = filled.iter().copied().collect();
        assert_eq!(
            side["distinct"].as_u64(),
            Some(distinct.len() as u64),
            "{l}"
        );
        let lower: HashSet<String> = filled.iter().map(|v| v.to_lowercase()).collect();
        assert_eq!(
            side["distinct_ci"].as_u64(),
            Some(lower.len() as u64),
            "{l}"
        );
        let mut counts: HashMap<String, u64> = HashMap::new();
        for v in &filled {
            *counts.entry(v.to_lowercase()).or_default() += 1;
        }
        let largest = counts.values().copied().max().unwrap_or(0);
        if largest > 1 {
            assert_eq!(
                side["largest_group"]["records"].as_u64(),
                Some(largest),
                "{l}"
            );
        }
        let exact: HashSet<&str> = integration
            .iter()
            .copied()
            .filter(|v| !v.is_empty())
            .collect();
        let ci: HashSet<String> = exact.iter().map(|v| v.to_lowercase()).collect();
        let found_exact =
            filled.iter().filter(|v| exact.contains(**v)).count() as f64 / filled.len() as f64;
        let found_ci = filled
            .iter()
            .filter(|v| ci.contains(&v.to_lowercase()))
            .count() as f64
            / filled.len() as f64;
        assert!(
            (f["found_exact"].as_f64().unwrap() - found_exact).abs() < 1e-9,
            "{l}"
        );
        assert!(
            (f["found_ci"].as_f64().unwrap() - found_ci).abs() < 1e-9,
            "{l}"
        );
        assert!(
            f["found_normalized"].as_f64().unwrap() >= found_ci - 1e-12,
            "{l}"
        );
    }
    // The traps the generator plants show up: names differ by case on the Dataverse side,
    // and by surrounding/doubled spaces; phones never by case.
    let by = |n: &str| fields.iter().find(|f| f["local"] == n).unwrap();
    assert!(
        by("Name")["integration_side"]["case_collisions"]["groups"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(by("Name")["found_ci"].as_f64() > by("Name")["found_exact"].as_f64());
    assert_eq!(
        by("Phone No.")["local_side"]["case_collisions"]["groups"].as_u64(),
        Some(0)
    );
    assert!(by("City")["local_side"]["distinct_share"].as_f64().unwrap() < 0.2);
}

#[test]
fn the_suggestion_beats_a_naive_single_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(
        &GenerateOptions {
            records: 4000,
            seed: 9,
        },
        d,
        &|_| {},
    )
    .unwrap();
    let json = profile_json(d);
    let suggestion = &json["suggestion"];
    let criteria = suggestion["criteria"].as_array().unwrap();
    assert!(!criteria.is_empty(), "{json:#}");
    // Level 0 is a highly distinct field; priorities are 0, 1, 2…; each has a reason.
    let first = criteria[0]["local"].as_str().unwrap();
    let field = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["local"] == first)
        .unwrap();
    assert!(field["local_side"]["distinct_share"].as_f64().unwrap() >= 0.9);
    for (n, c) in criteria.iter().enumerate() {
        assert_eq!(c["priority"].as_u64(), Some(n as u64));
        assert!(c["reason"]
            .as_str()
            .unwrap()
            .contains("found on the Dataverse side"));
    }
    // The suggestion as a variant, next to the naive choice: the name alone.
    let mut variants = suggestion["variant_toml"].as_str().unwrap().to_string();
    variants.push_str(
        "\n[[variants]]\nname = \"name-only\"\n[[variants.fields]]\nlocal = \"Name\"\nintegration = \"name\"\n",
    );
    std::fs::write(d.join("variants.toml"), variants).unwrap();
    let out = coupler(
        &[
            "criteria",
            "compare",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
            "--variants",
            "variants.toml",
            "--truth",
            "truth.csv",
            "--out",
            "out",
            "--json",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let compared: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f1 = |name: &str| variant(&compared, name)["f1"].as_f64().unwrap();
    assert!(f1("suggested") > f1("name-only"), "{compared:#}");
}

#[test]
fn human_output_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    generate(
        &GenerateOptions {
            records: 300,
            seed: 2,
        },
        d,
        &|_| {},
    )
    .unwrap();
    let out = coupler(
        &[
            "profile",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
        ],
        d,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for needle in [
        "Phone No. ↔ telephone1 (text)",
        "found on the Dataverse side:",
        "suggested criteria:",
        "→ level 0",
        "[[variants]]\nname = \"suggested\"",
        "[[variants.fields]]",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?}:\n{stdout}");
    }
    let out = coupler(
        &[
            "profile",
            "--config",
            "coupling.toml",
            "--mapping",
            "VENDOR",
        ],
        d,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("no mapping named 'VENDOR'"), "{err}");
    // A mapped column missing from the export is named.
    let config = std::fs::read_to_string(d.join("coupling.toml"))
        .unwrap()
        .replace("local = \"E-Mail\"", "local = \"EMail\"");
    std::fs::write(d.join("bad.toml"), config).unwrap();
    let out = coupler(
        &["profile", "--config", "bad.toml", "--mapping", "CUSTOMER"],
        d,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("'EMail'") && err.contains("customers.csv"),
        "{err}"
    );
}
