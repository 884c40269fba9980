//! End-to-end: lookups through couplings (`via`) on generated contacts. The contact's company is
//! its customer's coupled account; namesakes across companies are the rule, so the company is
//! what tells them apart.

mod common;
use common::*;

use std::path::Path;

use serde_json::Value;

/// The generated config with the correct customer couplings as CUSTOMER's couplings file:
/// the contacts' companies translate as well as they can.
fn with_true_customer_couplings(dir: &Path) {
    let config = dir.join("coupling.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("csv = \"couplings.csv\""));
    std::fs::write(
        &config,
        text.replace("csv = \"couplings.csv\"", "csv = \"truth.csv\""),
    )
    .unwrap();
}

const WITHOUT_COMPANY: &str = r#"
[[variants]]
name = "name+email"

[[variants.fields]]
local = "Name"
integration = "fullname"
priority = 0

[[variants.fields]]
local = "E-Mail"
integration = "emailaddress1"
priority = 1
"#;

fn f1(results: &Value, name: &str) -> f64 {
    variant(results, name)["f1"].as_f64().unwrap()
}

#[test]
fn the_company_through_the_customer_couplings_tells_namesakes_apart() {
    let dir = generated(2000, 11);
    with_true_customer_couplings(dir.path());
    std::fs::write(dir.path().join("variants.toml"), WITHOUT_COMPANY).unwrap();
    let out = coupler(
        &[
            "criteria",
            "compare",
            "--config",
            "coupling.toml",
            "--mapping",
            "CONTACT",
            "--truth",
            "contact_truth.csv",
            "--variants",
            "variants.toml",
            "--json",
        ],
        dir.path(),
    );
    let results: Value = serde_json::from_str(&ok(&out)).unwrap();
    let (with, without) = (f1(&results, "configured"), f1(&results, "name+email"));
    assert!(with >= 0.95, "company, name, e-mail: F1 {with}");
    assert!(with - without >= 0.05, "with {with}, without {without}");
    // The configured criteria name their lookup; it failed to translate exactly the keys of
    // customers outside the couplings (blocked, or without an account).
    let configured = &results[0];
    assert_eq!(configured["criteria"][0]["via"], "CUSTOMER");
    let coupled: std::collections::HashSet<String> = read_csv(&dir.path().join("truth.csv"))
        .into_iter()
        .map(|r| r["local_id"].clone())
        .collect();
    let outside = read_csv(&dir.path().join("bc_contacts.csv"))
        .iter()
        .filter(|c| c["Type"] == "Person")
        .filter(|c| !c["Customer No."].is_empty() && !coupled.contains(&c["Customer No."]))
        .count();
    assert!(outside > 0);
    assert_eq!(configured["lookups"][0]["not_coupled"], outside as u64);
}

#[test]
fn a_run_translates_through_couplings_made_earlier_in_it_or_stored() {
    let dir = generated(600, 5);
    let d = dir.path();
    // One run: CUSTOMER first (its dry-run couplings translate CONTACT's companies).
    ok(&coupler(
        &[
            "couple",
            "--config",
            "coupling.toml",
            "--out",
            "one",
            "--report",
            "report.html",
        ],
        d,
    ));
    let one = read_csv(&d.join("one/CONTACT/results.csv"));
    let job: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("one/CONTACT/job.json")).unwrap())
            .unwrap();
    let lookup = &job["lookups"][0];
    assert_eq!(
        (&lookup["field"], &lookup["via"]),
        (&"Customer No.".into(), &"CUSTOMER".into())
    );
    let not_coupled = lookup["not_coupled"].as_u64().unwrap();
    assert!(not_coupled > 0, "some customers stay uncoupled: {job}");
    // Exactly the records whose trace says so, and each names its own customer.
    let contacts = read_csv(&d.join("bc_contacts.csv"));
    let customer_of = |no: &str| {
        contacts
            .iter()
            .find(|c| c["No."] == no)
            .map(|c| c["Customer No."].clone())
            .unwrap()
    };
    let traced: Vec<_> = one
        .iter()
        .filter(|r| r["trace"].contains("not coupled: "))
        .collect();
    assert_eq!(traced.len() as u64, not_coupled);
    // The report shows the lookup and its count.
    let report = std::fs::read_to_string(d.join("report.html")).unwrap();
    let block = &report[report
        .find("Lookups through couplings")
        .expect("lookup block")..];
    let row = &block[..block.find("</tr></tbody>").unwrap()];
    assert!(
        row.contains("Customer No.") && row.contains("CUSTOMER"),
        "{row}"
    );
    assert!(
        row.contains(&format!(">{}<", not_coupled))
            || row.contains(&format!(">{}<", thousands(not_coupled))),
        "{row}"
    );
    for r in &traced {
        assert!(
            r["trace"].contains(&format!("not coupled: {}", customer_of(&r["local_id"]))),
            "{r:?}"
        );
        assert_eq!(r["outcome"], "no_match");
    }

    // CONTACT alone, with no CUSTOMER coupling anywhere: nothing translates, and it says so.
    let config = std::fs::read_to_string(d.join("coupling.toml")).unwrap();
    let without_file = config.replace("[mappings.couplings]", "[mappings.unused]");
    let without_file = without_file.replace("csv = \"couplings.csv\"", "");
    let without_file = without_file.replace("[mappings.unused]", "");
    std::fs::write(d.join("no-couplings.toml"), without_file).unwrap();
    let alone = coupler(
        &[
            "couple",
            "--config",
            "no-couplings.toml",
            "--mapping",
            "CONTACT",
            "--out",
            "alone",
        ],
        d,
    );
    ok(&alone);
    assert!(
        text(&alone.stderr)
            .contains("looks up through CUSTOMER's couplings, and CUSTOMER has none"),
        "{}",
        text(&alone.stderr)
    );

    // CUSTOMER applied into the store, then CONTACT alone: the same outcomes as the one run.
    ok(&coupler(
        &[
            "couple",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
            "--apply",
            "--out",
            "c",
        ],
        d,
    ));
    let later = coupler(
        &[
            "couple",
            "--config",
            "coupling.toml",
            "--mapping",
            "CONTACT",
            "--out",
            "two",
        ],
        d,
    );
    ok(&later);
    assert!(!text(&later.stderr).contains("has none"));
    let two = read_csv(&d.join("two/CONTACT/results.csv"));
    let view =
        |rows: &[std::collections::HashMap<String, String>]| -> Vec<(String, String, String)> {
            rows.iter()
                .map(|r| {
                    (
                        r["local_id"].clone(),
                        r["outcome"].clone(),
                        r["integration_id"].clone(),
                    )
                })
                .collect()
        };
    assert_eq!(view(&one), view(&two));
}

#[test]
fn lookups_are_checked_when_the_config_is_loaded() {
    let dir = generated(50, 3);
    let d = dir.path();
    let config = std::fs::read_to_string(d.join("coupling.toml")).unwrap();
    for (from, to, expected) in [
        (
            "via = \"CUSTOMER\"",
            "via = \"CUSTOMERS\"",
            "via = \"CUSTOMERS\" names no mapping of this config (its mappings: CUSTOMER, CONTACT)",
        ),
        (
            "via = \"CUSTOMER\"",
            "via = \"CONTACT\"",
            "via = \"CONTACT\" names this mapping itself",
        ),
        (
            "via = \"CUSTOMER\"",
            "via = \"CUSTOMER\"\nnormalize = [\"digits\"]",
            "compares record ids exactly: remove normalize, compare and options",
        ),
        (
            "type = \"code\"\nvia = \"CUSTOMER\"",
            "type = \"integer\"\nvia = \"CUSTOMER\"",
            "the local value is a record key",
        ),
    ] {
        assert!(config.contains(from), "{from}");
        std::fs::write(d.join("bad.toml"), config.replacen(from, to, 1)).unwrap();
        let out = coupler(&["couple", "--config", "bad.toml"], d);
        assert_eq!(out.status.code(), Some(1), "{to}");
        assert!(
            text(&out.stderr).contains(expected),
            "{}",
            text(&out.stderr)
        );
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn profile_compares_a_lookup_on_translated_keys_and_counts_those_not_coupled() {
    let dir = generated(400, 9);
    with_true_customer_couplings(dir.path());
    let out = coupler(
        &[
            "profile",
            "--config",
            "coupling.toml",
            "--mapping",
            "CONTACT",
            "--json",
        ],
        dir.path(),
    );
    let profile: Value = serde_json::from_str(&ok(&out)).unwrap();
    let fields = profile["fields"].as_array().unwrap();
    let company = fields
        .iter()
        .find(|f| f["local"] == "Customer No.")
        .expect("the lookup field");
    assert_eq!(company["via"], "CUSTOMER");
    let not_coupled = company["not_coupled"].as_u64().unwrap();
    assert!(not_coupled > 0, "{company}");
    // Translated keys are found among the Dataverse parents; raw customer numbers never are.
    let found = company["found_exact"].as_f64().unwrap();
    assert!(found > 0.5, "{company}");
    let filled = 1.0 - not_coupled as f64 / company["local_side"]["records"].as_f64().unwrap();
    assert!(
        found <= filled + 1e-9,
        "found {found}, translatable {filled}"
    );
    // The other fields carry no lookup keys.
    assert!(fields
        .iter()
        .filter(|f| f["local"] != "Customer No.")
        .all(|f| f.get("via").is_none()));
    // A suggested criteria set that uses the company keeps its `via`.
    let toml = profile["suggestion"]["variant_toml"].as_str().unwrap();
    if toml.contains("\"Customer No.\"") {
        assert!(toml.contains("via = \"CUSTOMER\""), "{toml}");
    }
}
