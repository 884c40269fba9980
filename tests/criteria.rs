//! End-to-end: `coupler criteria compare` on generated data with its truth file. The ranking
//! must put a good criteria set above poor ones, and every variant's counts must agree with an
//! independent computation: the same criteria run through `coupler couple`, its results.csv
//! scored against truth.csv with plain set logic.

mod common;
use common::*;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A `[[variants]]` table (or `[[mappings.fields]]` list) from `(local, integration, priority,
/// case_sensitive)`.
fn fields_toml(table: &str, fields: &[(&str, &str, u32, bool)]) -> String {
    fields
        .iter()
        .map(|(l, i, p, cs)| {
            format!(
                "\n[[{table}]]\nlocal = \"{l}\"\nintegration = \"{i}\"\ntype = \"text\"\nmatch = true\npriority = {p}\ncase_sensitive = {cs}\n"
            )
        })
        .collect()
}

fn variant_toml(name: &str, fields: &[(&str, &str, u32, bool)]) -> String {
    format!(
        "[[variants]]\nname = \"{name}\"\n{}\n",
        fields_toml("variants.fields", fields)
    )
}

/// The generated config with its `[[mappings.fields]]` replaced by `fields`.
fn config_with(dir: &Path, fields: &[(&str, &str, u32, bool)]) -> String {
    let generated = std::fs::read_to_string(dir.join("coupling.toml")).unwrap();
    let head = &generated[..generated.find("[[mappings.fields]]").unwrap()];
    format!("{head}{}", fields_toml("mappings.fields", fields))
}

/// TP, FP, FN of a `couple` run, from its results.csv and truth.csv, with set logic.
fn independent_counts(results: &Path, truth: &Path) -> (u64, u64, u64, BTreeMap<String, u64>) {
    let truth: HashSet<(String, String)> = read_csv(truth)
        .into_iter()
        .map(|r| (r["local_id"].clone(), r["integration_id"].clone()))
        .collect();
    let rows = read_csv(results);
    let mut outcomes = BTreeMap::new();
    for r in &rows {
        *outcomes.entry(r["outcome"].clone()).or_insert(0u64) += 1;
    }
    let scored: HashSet<&str> = rows
        .iter()
        .filter(|r| r["outcome"] != "skipped")
        .map(|r| r["local_id"].as_str())
        .collect();
    let coupled: HashSet<(String, String)> = rows
        .iter()
        .filter(|r| r["outcome"] == "coupled")
        .map(|r| (r["local_id"].clone(), r["integration_id"].clone()))
        .collect();
    let tp = coupled.intersection(&truth).count() as u64;
    let fp = coupled.difference(&truth).count() as u64;
    let fn_ = truth
        .iter()
        .filter(|(l, _)| scored.contains(l.as_str()))
        .filter(|p| !coupled.contains(*p))
        .count() as u64;
    (tp, fp, fn_, outcomes)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

const CONFIGURED: &[(&str, &str, u32, bool)] = &[
    ("Phone No.", "telephone1", 0, false),
    ("Name", "name", 1, false),
    ("City", "address1_city", 2, false),
];
const NAME_ONLY_CS: &[(&str, &str, u32, bool)] = &[("Name", "name", 0, true)];
const CITY_ONLY: &[(&str, &str, u32, bool)] = &[("City", "address1_city", 0, false)];

#[test]
fn ranks_good_criteria_first_and_agrees_with_an_independent_count() {
    let dir = generated(4000, 7);
    let d = dir.path();
    std::fs::write(
        d.join("variants.toml"),
        variant_toml("name-only-cs", NAME_ONLY_CS) + &variant_toml("city-only", CITY_ONLY),
    )
    .unwrap();
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
            "--report",
            "compare.html",
        ],
        d,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let variants = json.as_array().unwrap();
    let names: Vec<&str> = variants
        .iter()
        .map(|v| v["variant"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["configured", "name-only-cs", "city-only"]);
    let by_name: HashMap<&str, &Value> = names.iter().copied().zip(variants).collect();

    // The good set ranks first; city alone couples nothing right.
    let f1 = |n: &str| f(&by_name[n]["f1"]);
    assert!(f1("configured") > f1("name-only-cs") + 0.01, "{json:#}");
    assert!(f1("name-only-cs") > f1("city-only"), "{json:#}");
    assert!(f(&by_name["configured"]["recall"]) > f(&by_name["name-only-cs"]["recall"]));
    assert!(f(&by_name["configured"]["precision"]) > 0.95);

    // Each variant's counts equal the same criteria run through `couple` and scored with sets.
    for (name, fields) in [
        ("configured", CONFIGURED),
        ("name-only-cs", NAME_ONLY_CS),
        ("city-only", CITY_ONLY),
    ] {
        let config = format!("{name}.toml");
        std::fs::write(d.join(&config), config_with(d, fields)).unwrap();
        let run = coupler(
            &[
                "couple",
                "--config",
                &config,
                "--out",
                &format!("couple-{name}"),
            ],
            d,
        );
        assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
        let (tp, fp, fn_, outcomes) = independent_counts(
            &d.join(format!("couple-{name}/CUSTOMER/results.csv")),
            &d.join("truth.csv"),
        );
        let v = by_name[name];
        assert_eq!(v["true_positives"].as_u64(), Some(tp), "{name}");
        assert_eq!(v["false_positives"].as_u64(), Some(fp), "{name}");
        assert_eq!(v["false_negatives"].as_u64(), Some(fn_), "{name}");
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / (tp + fn_).max(1) as f64;
        assert!((f(&v["precision"]) - precision).abs() < 1e-9, "{name}");
        assert!((f(&v["recall"]) - recall).abs() < 1e-9, "{name}");
        if precision + recall > 0.0 {
            let f1 = 2.0 * precision * recall / (precision + recall);
            assert!((f(&v["f1"]) - f1).abs() < 1e-9, "{name}");
        }
        for (outcome, n) in &outcomes {
            assert_eq!(
                v["outcomes"][outcome].as_u64(),
                Some(*n),
                "{name} {outcome}"
            );
        }
        // wrong-pairs.csv: one row per FP and per FN.
        let wrong = read_csv(&d.join(format!("out/CUSTOMER/criteria/{name}/wrong-pairs.csv")));
        let fps = wrong
            .iter()
            .filter(|r| r["kind"] == "false_positive")
            .count() as u64;
        let fns = wrong
            .iter()
            .filter(|r| r["kind"] == "false_negative")
            .count() as u64;
        assert_eq!((fps, fns), (fp, fn_), "{name}");
        // Coupled by level adds up to the coupled outcome.
        let by_level: u64 = v["coupled_by_level"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(by_level, v["outcomes"]["coupled"].as_u64().unwrap());
    }
    // The levels of the configured set: the phone decides most.
    let levels = by_name["configured"]["coupled_by_level"]
        .as_object()
        .unwrap();
    assert!(levels["0"].as_u64().unwrap() > levels["1"].as_u64().unwrap());
    assert!(d.join("out/CUSTOMER/criteria/compare.json").exists());
    assert!(d.join("compare.html").exists());
}

#[test]
fn human_table_without_truth() {
    let dir = generated(500, 3);
    let d = dir.path();
    let mut config = std::fs::read_to_string(d.join("coupling.toml")).unwrap();
    config.push_str(&variant_toml(
        "phone-only",
        &[("Phone No.", "telephone1", 0, false)],
    ));
    std::fs::write(d.join("coupling.toml"), config).unwrap();
    let out = coupler(
        &[
            "criteria",
            "compare",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
            "--out",
            "out",
        ],
        d,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for needle in [
        "criteria compare, 2 variant(s)",
        "configured",
        "phone-only",
        "p0 Phone No.=telephone1; p1 Name=name; p2 City=address1_city",
        "multiple_matches",
        "coupled by priority level:",
        "time ms",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?}:\n{stdout}");
    }
    assert!(
        !stdout.contains("precision"),
        "no truth, no scores:\n{stdout}"
    );
    assert!(!d
        .join("out/CUSTOMER/criteria/configured/wrong-pairs.csv")
        .exists());
}

/// Runs `criteria compare` and expects exit 1 with one line on stderr holding every needle.
fn fails_with(d: &Path, extra: &[&str], needles: &[&str]) {
    let mut args = vec![
        "criteria",
        "compare",
        "--config",
        "coupling.toml",
        "--mapping",
        "CUSTOMER",
        "--out",
        "out",
    ];
    args.extend_from_slice(extra);
    let out = coupler(&args, d);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in: {err}");
    }
}

#[test]
fn errors_are_one_line() {
    let dir = generated(200, 5);
    let d = dir.path();
    let p = |name: &str| -> PathBuf { d.join(name) };

    // Unknown mapping.
    let out = coupler(
        &[
            "criteria",
            "compare",
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
    assert!(
        err.contains("no mapping named 'VENDOR'") && err.contains("CUSTOMER"),
        "{err}"
    );

    // Unknown key in a variant (variants file), in a variant field, and at the file's top.
    std::fs::write(
        p("v1.toml"),
        "[[variants]]\nname = \"x\"\nweight = 3\n[[variants.fields]]\nlocal = \"Name\"\nintegration = \"name\"\n",
    )
    .unwrap();
    fails_with(
        d,
        &["--variants", "v1.toml"],
        &["v1.toml", "line 3", "weight"],
    );
    std::fs::write(
        p("v2.toml"),
        "[[variants]]\nname = \"x\"\n[[variants.fields]]\nlocal = \"Name\"\nintegration = \"name\"\ncase_sensitiv = true\n",
    )
    .unwrap();
    fails_with(
        d,
        &["--variants", "v2.toml"],
        &["v2.toml", "line 6", "case_sensitiv"],
    );
    std::fs::write(p("v3.toml"), "[[mappings]]\nname = \"x\"\n").unwrap();
    fails_with(d, &["--variants", "v3.toml"], &["v3.toml", "mappings"]);

    // Unknown key in a variant of the config itself.
    let config = std::fs::read_to_string(p("coupling.toml")).unwrap();
    std::fs::write(
        p("bad.toml"),
        format!("{config}\n[[variants]]\nname = \"x\"\nfilds = []\n"),
    )
    .unwrap();
    let out = coupler(
        &[
            "criteria",
            "compare",
            "--config",
            "bad.toml",
            "--mapping",
            "CUSTOMER",
        ],
        d,
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("filds") && err.contains("bad.toml"), "{err}");

    // A variant naming a column that does not exist, on either side.
    std::fs::write(
        p("v4.toml"),
        variant_toml("typo", &[("Nmae", "name", 0, false)]),
    )
    .unwrap();
    fails_with(
        d,
        &["--variants", "v4.toml"],
        &["variant 'typo'", "'Nmae'", "customers.csv"],
    );
    std::fs::write(
        p("v5.toml"),
        variant_toml("typo2", &[("Name", "fullname", 0, false)]),
    )
    .unwrap();
    fails_with(
        d,
        &["--variants", "v5.toml"],
        &["variant 'typo2'", "'fullname'", "accounts.csv"],
    );

    // Two variants with one name; the reserved name.
    std::fs::write(
        p("v6.toml"),
        variant_toml("a", &[("Name", "name", 0, false)])
            + &variant_toml("a", &[("City", "address1_city", 0, false)]),
    )
    .unwrap();
    fails_with(
        d,
        &["--variants", "v6.toml"],
        &["variant 'a'", "used twice"],
    );
    std::fs::write(
        p("v7.toml"),
        variant_toml("configured", &[("Name", "name", 0, false)]),
    )
    .unwrap();
    fails_with(d, &["--variants", "v7.toml"], &["'configured'"]);

    // Malformed truth files: the line is named.
    std::fs::write(
        p("t1.csv"),
        "local_id,integration_id\nC000001,abc\nC000002,\n",
    )
    .unwrap();
    fails_with(
        d,
        &["--truth", "t1.csv"],
        &["t1.csv", "line 3", "integration_id"],
    );
    std::fs::write(p("t2.csv"), "local_id,integration_id\nC000001,abc,extra\n").unwrap();
    fails_with(d, &["--truth", "t2.csv"], &["t2.csv", "line 2"]);
    std::fs::write(p("t3.csv"), "customer,account\nC000001,abc\n").unwrap();
    fails_with(d, &["--truth", "t3.csv"], &["t3.csv", "local_id"]);
    fails_with(d, &["--truth", "missing.csv"], &["missing.csv"]);
    assert!(!p("out").exists(), "failures write nothing");
}
