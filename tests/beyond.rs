//! End-to-end: criteria beyond BC through the `coupler` binary — normalizers and fuzzy
//! comparison in results.csv, job.json and the report; their configuration errors; and the
//! promise of the feature, measured with `criteria compare` on noisy generated data.

mod common;
use common::*;

use std::path::Path;

use coupler_generate::{generate_with_noise, GenerateOptions, Noise};
use serde_json::Value;

fn demo_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    for f in [
        "customers.csv",
        "accounts.csv",
        "couplings.csv",
        "coupling.toml",
    ] {
        std::fs::copy(demo.join(f), dir.path().join(f)).unwrap();
    }
    dir
}

/// The demo config with extra keys on the phone (`[[mappings.fields]]` #1) and name (#3).
fn write_config(dir: &Path, phone_extra: &str, name_extra: &str) {
    let text = std::fs::read_to_string(dir.join("coupling.toml")).unwrap();
    let phone = "integration = \"telephone1\"\ntype = \"text\"\nmatch = true\npriority = 0\n";
    let name = "integration = \"name\"\ntype = \"text\"\nmatch = true\npriority = 1\n";
    assert!(
        text.contains(phone) && text.contains(name),
        "demo config changed"
    );
    let text = text
        .replace(phone, &format!("{phone}{phone_extra}\n"))
        .replace(name, &format!("{name}{name_extra}\n"));
    std::fs::write(dir.join("fuzzy.toml"), text).unwrap();
}

#[test]
fn normalized_and_fuzzy_criteria_report_scores_and_compared_values() {
    let dir = demo_copy();
    write_config(
        dir.path(),
        "normalize = [\"digits\"]",
        "normalize = [\"legal_form\", \"remove_punctuation\", \"collapse_whitespace\", \"strip_accents\"]\ncompare = \"jaro_winkler\"\nthreshold = 0.9",
    );
    let out = coupler(
        &[
            "couple",
            "--config",
            "fuzzy.toml",
            "--out",
            "out",
            "--report",
            "report.html",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .contains("record(s) coupled at a level with fuzzy criteria; scores: lowest"),
        "{}",
        text(&out.stdout)
    );
    let results = read_csv(&dir.path().join("out/CUSTOMER/results.csv"));
    let header = std::fs::read_to_string(dir.path().join("out/CUSTOMER/results.csv")).unwrap();
    assert!(header
        .lines()
        .next()
        .unwrap()
        .ends_with(",holder_origin,score,matched_values"));
    // Level 0 compares the phone's digits: the compared value is shown, no score.
    let by_phone = results
        .iter()
        .find(|r| r["priority"] == "0" && r["outcome"] == "coupled")
        .unwrap();
    let digits = by_phone["matched_values"]
        .strip_prefix("Phone No.: ")
        .unwrap();
    assert!(
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        "{by_phone:?}"
    );
    assert_eq!(by_phone["score"], "");
    // Level 1 records decided by the fuzzy name carry their score and both compared names.
    let fuzzy: Vec<_> = results
        .iter()
        .filter(|r| r["priority"] == "1" && r["outcome"] == "coupled")
        .collect();
    assert!(!fuzzy.is_empty());
    for r in &fuzzy {
        let score: f64 = r["score"].parse().unwrap();
        assert!((0.9..=1.0).contains(&score), "{r:?}");
        assert!(r["matched_values"].contains(" ≈ "), "{r:?}");
    }
    let job: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/CUSTOMER/job.json")).unwrap(),
    )
    .unwrap();
    let scores = &job["match_scores"];
    let scored_coupled = results
        .iter()
        .filter(|r| r["outcome"] == "coupled" && !r["score"].is_empty())
        .count() as u64;
    assert_eq!(scores["coupled"].as_u64(), Some(scored_coupled));
    let in_buckets: u64 = scores["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["coupled"].as_u64().unwrap())
        .sum();
    assert_eq!(in_buckets, scored_coupled);
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("Fuzzy match scores"));

    // The BC-exact config keeps BC's columns only.
    let out = coupler(
        &["couple", "--config", "coupling.toml", "--out", "exact"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exact = std::fs::read_to_string(dir.path().join("exact/CUSTOMER/results.csv")).unwrap();
    assert!(exact
        .lines()
        .next()
        .unwrap()
        .ends_with(",message,holder_origin"));
}

#[test]
fn settings_beyond_bc_fail_with_the_field_and_the_reason() {
    let dir = demo_copy();
    for (phone_extra, name_extra, message) in [
        (
            "normalize = [\"digits\", \"lowr\"]",
            "",
            "field mapping #1 (telephone1): normalize[1]: unknown normalizer \"lowr\"; the normalizers are trim, ",
        ),
        (
            "",
            "threshold = 0.9",
            "field mapping #3 (name): threshold applies to fuzzy comparison only",
        ),
        (
            "",
            "compare = \"jaro_winkler\"\nthreshold = 1.5",
            "match field 'Name': threshold 1.5 of jaro_winkler must lie between 0 and 1",
        ),
        (
            "",
            "normalize = [{ regex = \"(\" }]",
            "field mapping #3 (name): normalize[0]: invalid regex \"(\"",
        ),
        (
            "# option",
            "",
            "match field 'Phone No.': an option field needs its option map",
        ),
    ] {
        write_config(dir.path(), phone_extra, name_extra);
        if phone_extra == "# option" {
            let path = dir.path().join("fuzzy.toml");
            let text = std::fs::read_to_string(&path).unwrap().replace(
                "integration = \"telephone1\"\ntype = \"text\"",
                "integration = \"telephone1\"\ntype = \"option\"",
            );
            std::fs::write(path, text).unwrap();
        }
        let out = coupler(&["couple", "--config", "fuzzy.toml", "--out", "out"], dir.path());
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains(message), "{message}\n{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// The feature's promise: on hand-typed (noisy) data, normalizers and a fuzzy name raise the
/// recall far above BC's exact criteria while precision stays at 0.99 or more.
#[test]
fn fuzzy_criteria_raise_recall_at_high_precision_on_noisy_data() {
    let dir = tempfile::tempdir().unwrap();
    let options = GenerateOptions {
        records: 4000,
        seed: 5,
    };
    generate_with_noise(&options, Noise::High, dir.path(), &|_| {}).unwrap();
    std::fs::write(
        dir.path().join("variants.toml"),
        r#"
[[variants]]
name = "fuzzy"
priority_mode = "independent"
[[variants.fields]]
local = "Phone No."
integration = "telephone1"
priority = 0
normalize = ["digits"]
[[variants.fields]]
local = "Name"
integration = "name"
priority = 1
normalize = ["legal_form", "remove_punctuation", "collapse_whitespace", "strip_accents"]
compare = "jaro_winkler"
[[variants.fields]]
local = "City"
integration = "address1_city"
priority = 1
"#,
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
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let variant = |name: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|v| v["variant"] == name)
            .unwrap()
            .clone()
    };
    let (exact, fuzzy) = (variant("configured"), variant("fuzzy"));
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap();
    assert!(f(&exact, "recall") < 0.6, "{exact}");
    assert!(f(&fuzzy, "recall") > f(&exact, "recall") + 0.3, "{fuzzy}");
    assert!(f(&fuzzy, "precision") >= 0.99, "{fuzzy}");
    assert_eq!(fuzzy["criteria"][1]["compare"]["metric"], "jaro_winkler");
    assert_eq!(fuzzy["criteria"][0]["normalize"][0], "digits");
}
