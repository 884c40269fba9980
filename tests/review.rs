//! End-to-end: `coupler review` (BC's full synchronization review: counts after filters,
//! recommendation, dependency order, "Dependency not satisfied", cycles) and `coupler init`
//! (the `dataverse` preset), with the real binary on small CSVs in temporary folders.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Output};

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status.code(),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs `review --json` and returns the lines.
fn review_json(dir: &Path, config: &str) -> Vec<serde_json::Value> {
    let out = coupler(&["review", "--config", config, "--json"], dir);
    let json: serde_json::Value = serde_json::from_str(&ok(&out)).expect("JSON on stdout");
    json.as_array().expect("an array").clone()
}

fn line<'a>(lines: &'a [serde_json::Value], mapping: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|l| l["mapping"] == mapping)
        .unwrap_or_else(|| panic!("no line for {mapping}: {lines:?}"))
}

fn names(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .map(|l| l["mapping"].as_str().unwrap().to_string())
        .collect()
}

/// A mapping over `<name>-bc.csv` (key `No.`, filter column `Blocked`) and `<name>-dv.csv`
/// (key `id`, filter column `statecode`).
fn mapping(name: &str, depends_on: &[&str], filtered: bool) -> String {
    let deps: Vec<String> = depends_on.iter().map(|d| format!("\"{d}\"")).collect();
    let (local_filter, integration_filter) = if filtered {
        (
            "filter = { Blocked = \"\" }\n",
            "filter = { statecode = \"0\" }\n",
        )
    } else {
        ("", "")
    };
    format!(
        r#"
[[mappings]]
name = "{name}"
depends_on = [{deps}]
[mappings.local]
csv = "{name}-bc.csv"
key = "No."
{local_filter}[mappings.integration]
csv = "{name}-dv.csv"
key = "id"
{integration_filter}[[mappings.fields]]
local = "Name"
integration = "name"
match = true
"#,
        deps = deps.join(", ")
    )
}

/// Writes `<name>-bc.csv` with rows of (Blocked) and `<name>-dv.csv` with rows of (statecode).
fn data(dir: &Path, name: &str, local_blocked: &[&str], integration_states: &[&str]) {
    let mut bc = String::from("No.,Name,Blocked\n");
    for (i, b) in local_blocked.iter().enumerate() {
        bc.push_str(&format!("L{i},Name {i},{b}\n"));
    }
    let mut dv = String::from("id,name,statecode\n");
    for (i, s) in integration_states.iter().enumerate() {
        dv.push_str(&format!("I{i},Name {i},{s}\n"));
    }
    std::fs::write(dir.join(format!("{name}-bc.csv")), bc).unwrap();
    std::fs::write(dir.join(format!("{name}-dv.csv")), dv).unwrap();
}

#[test]
fn each_recommendation_from_the_counts_after_filters() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = [
        mapping("BOTH", &[], true),
        mapping("LOCALONLY", &[], true),
        mapping("DVONLY", &[], true),
        mapping("NONE", &[], true),
        mapping("UNFILTERED", &[], false),
    ]
    .concat();
    std::fs::write(d.join("c.toml"), config).unwrap();
    // BOTH: 2 of 3 customers pass Blocked = "", 1 of 2 accounts passes statecode = "0".
    data(d, "BOTH", &["", "All", ""], &["0", "1"]);
    // LOCALONLY: the only account is inactive — filtered out, so only BC has rows.
    data(d, "LOCALONLY", &["", ""], &["1"]);
    // DVONLY: every customer is blocked (" " with a space is not blank: exact text).
    data(d, "DVONLY", &["Ship", " "], &["0", "0", "0"]);
    // NONE: nothing passes on either side.
    data(d, "NONE", &["Invoice"], &["1", "2"]);
    // UNFILTERED: the same kind of data counts every row without filters.
    data(d, "UNFILTERED", &["All"], &[]);

    let lines = review_json(d, "c.toml");
    assert_eq!(
        names(&lines),
        ["BOTH", "LOCALONLY", "DVONLY", "NONE", "UNFILTERED"]
    );
    let expect = |m: &str, local: u64, integration: u64, rec: &str, copy: Option<&str>| {
        let l = line(&lines, m);
        assert_eq!(l["local_rows"], local, "{m}: {l}");
        assert_eq!(l["integration_rows"], integration, "{m}: {l}");
        assert_eq!(l["recommendation"], rec, "{m}: {l}");
        assert_eq!(l["copy"].as_str(), copy, "{m}: {l}");
    };
    expect("BOTH", 2, 1, "Couple Records", None);
    expect(
        "LOCALONLY",
        2,
        0,
        "Full Synchronization",
        Some("to-integration"),
    );
    expect(
        "DVONLY",
        0,
        3,
        "Full Synchronization",
        Some("from-integration"),
    );
    expect("NONE", 0, 0, "No Records Found", None);
    expect(
        "UNFILTERED",
        1,
        0,
        "Full Synchronization",
        Some("to-integration"),
    );
    assert_eq!(line(&lines, "NONE")["status"], "nothing to do");
    assert_eq!(line(&lines, "BOTH")["status"], "ready");
    assert_eq!(line(&lines, "BOTH")["order"], 1);

    // The table says the same.
    let out = coupler(&["review", "--config", "c.toml"], d);
    let table = ok(&out);
    let row = |m: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(m))
            .unwrap_or_else(|| panic!("no row for {m}:\n{table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(table.contains("local rows"), "{table}");
    assert!(table.contains("integration rows"), "{table}");
    assert!(
        row("BOTH").starts_with("1 BOTH 2 1 Couple Records"),
        "{table}"
    );
    assert!(
        row("LOCALONLY").starts_with("2 LOCALONLY 2 0 Full Synchronization (to-integration)"),
        "{table}"
    );
    assert!(
        row("DVONLY").starts_with("3 DVONLY 0 3 Full Synchronization (from-integration)"),
        "{table}"
    );
    assert!(
        row("NONE").starts_with("4 NONE 0 0 No Records Found – nothing to do"),
        "{table}"
    );
}

#[test]
fn dependency_order_and_dependency_not_satisfied() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Config order is deliberately not the dependency order.
    let config = [
        mapping("CONTACT", &["CUSTOMER", "VENDOR"], false),
        mapping(
            "CUSTOMER",
            &["SALESPEOPLE", "CURRENCY", "PAYMENT TERMS"],
            false,
        ),
        mapping("VENDOR", &["CURRENCY"], false),
        mapping("SALESPEOPLE", &[], false),
        mapping("CURRENCY", &[], false),
        mapping("PAYMENT TERMS", &[], false),
    ]
    .concat();
    std::fs::write(d.join("c.toml"), config).unwrap();
    data(d, "CONTACT", &["", ""], &["0"]); // Couple Records
    data(d, "CUSTOMER", &[""], &["0"]); // Couple Records
    data(d, "VENDOR", &[""], &[]); // Full Synchronization
    data(d, "SALESPEOPLE", &[], &[]); // No Records Found — exempt as a dependency
    data(d, "CURRENCY", &[""], &["0"]); // Couple Records
    data(d, "PAYMENT TERMS", &[], &[]); // No Records Found

    let lines = review_json(d, "c.toml");
    // Every mapping after its dependencies; among free ones, config order.
    assert_eq!(
        names(&lines),
        [
            "SALESPEOPLE",
            "CURRENCY",
            "VENDOR",
            "PAYMENT TERMS",
            "CUSTOMER",
            "CONTACT"
        ]
    );
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["order"], i + 1);
    }
    // CUSTOMER: PAYMENT TERMS had No Records Found → not satisfied; SALESPEOPLE's No Records
    // Found does not count (BC's "except SALESPEOPLE").
    let customer = line(&lines, "CUSTOMER");
    assert_eq!(customer["recommendation"], "Couple Records");
    assert_eq!(customer["dependency_not_satisfied"], true);
    assert_eq!(
        customer["unsatisfied"],
        serde_json::json!([{"mapping": "PAYMENT TERMS", "reason": "No Records Found"}])
    );
    assert_eq!(
        customer["status"],
        "Dependency not satisfied (PAYMENT TERMS: No Records Found)"
    );
    // Current BC's start rule: it waits for the dependencies that have work.
    assert_eq!(customer["waits_for"], serde_json::json!(["CURRENCY"]));
    // CONTACT: recursive — CUSTOMER is itself not satisfied; VENDOR (Full Synchronization) is.
    let contact = line(&lines, "CONTACT");
    assert_eq!(contact["dependency_not_satisfied"], true);
    assert_eq!(
        contact["status"],
        "Dependency not satisfied (CUSTOMER: Dependency not satisfied)"
    );
    // VENDOR: its one dependency has work → it starts after it.
    let vendor = line(&lines, "VENDOR");
    assert_eq!(vendor["dependency_not_satisfied"], false);
    assert_eq!(vendor["status"], "after CURRENCY");
    assert_eq!(vendor["depends_on"], serde_json::json!(["CURRENCY"]));
    assert_eq!(line(&lines, "CURRENCY")["status"], "ready");
    assert_eq!(line(&lines, "SALESPEOPLE")["status"], "nothing to do");
    assert!(line(&lines, "SALESPEOPLE")["bc_note"]
        .as_str()
        .unwrap()
        .contains("always recommends Full Synchronization"));

    // Once PAYMENT TERMS has rows, CUSTOMER and CONTACT are satisfied and simply wait.
    data(d, "PAYMENT TERMS", &[""], &[]);
    let lines = review_json(d, "c.toml");
    let customer = line(&lines, "CUSTOMER");
    assert_eq!(customer["dependency_not_satisfied"], false);
    assert_eq!(customer["status"], "after CURRENCY, PAYMENT TERMS");
    assert_eq!(line(&lines, "CONTACT")["status"], "after CUSTOMER, VENDOR");

    let table = ok(&coupler(&["review", "--config", "c.toml"], d));
    assert!(
        table.contains("CUSTOMER, VENDOR"),
        "dependencies column: {table}"
    );
}

#[test]
fn a_dependency_cycle_is_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = [
        mapping("SALESPEOPLE", &[], false),
        mapping("CURRENCY", &["CUSTOMER"], false),
        mapping("CUSTOMER", &["SALESPEOPLE", "CURRENCY"], false),
    ]
    .concat();
    std::fs::write(d.join("c.toml"), config).unwrap();
    // No data files: the cycle is found before any source is read.
    for json in [false, true] {
        let mut args = vec!["review", "--config", "c.toml"];
        if json {
            args.push("--json");
        }
        let out = coupler(&args, d);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "stderr: {err}");
        assert_eq!(
            err,
            "coupler: error: c.toml: the mappings' depends_on form a cycle: CURRENCY → CUSTOMER → CURRENCY; no mapping in it could ever start — remove one of these dependencies\n"
        );
        assert!(out.stdout.is_empty());
    }
    // A mapping that depends on itself.
    std::fs::write(d.join("self.toml"), mapping("ITEM", &["ITEM"], false)).unwrap();
    let out = coupler(&["review", "--config", "self.toml"], d);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("form a cycle: ITEM → ITEM;"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn review_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("c.toml"), mapping("CUSTOMER", &[], true)).unwrap();
    // A missing source.
    let out = coupler(&["review", "--config", "c.toml"], d);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("CUSTOMER-bc.csv"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // A filter column the export does not have.
    std::fs::write(d.join("CUSTOMER-bc.csv"), "No.,Name\nC1,A\n").unwrap();
    std::fs::write(d.join("CUSTOMER-dv.csv"), "id,name,statecode\nI1,A,0\n").unwrap();
    let out = coupler(&["review", "--config", "c.toml"], d);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Blocked"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

// ------------------------------------------------------------------------------------ init

const PRESET_MAPPINGS: [&str; 8] = [
    "SALESPEOPLE",
    "CURRENCY",
    "PAYMENT TERMS",
    "SHIPMENT METHOD",
    "SHIPPING AGENT",
    "CUSTOMER",
    "VENDOR",
    "CONTACT",
];

#[test]
fn init_writes_the_dataverse_preset_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = coupler(&["init", "--preset", "dataverse", "--out", "dv.toml"], d);
    assert!(ok(&out).is_empty(), "the file, not stdout");
    let written = std::fs::read_to_string(d.join("dv.toml")).unwrap();
    for name in PRESET_MAPPINGS {
        assert!(
            written.contains(&format!("name = \"{name}\"")),
            "{name} missing"
        );
    }
    for needle in [
        "[dataverse]",
        "client_secret_env = \"COUPLER_CLIENT_SECRET\"",
        "dataverse_table = \"accounts\"",
        "dataverse_table = \"contacts\"",
        "dataverse_table = \"transactioncurrencies\"",
        "dataverse_table = \"systemusers\"",
        "csv = \"customers.csv\"",
        "depends_on = [\"SALESPEOPLE\", \"CURRENCY\", \"PAYMENT TERMS\", \"SHIPMENT METHOD\", \"SHIPPING AGENT\"]",
        "depends_on = [\"CUSTOMER\", \"VENDOR\"]",
        "filter = { statecode = \"0\", customertypecode = \"3\" }",
        // BC's lookups, translated through couplings.
        "integration = \"_transactioncurrencyid_value\"\ntype = \"code\"\nvia = \"CURRENCY\"\n",
        "integration = \"_parentcustomerid_value\"\ntype = \"code\"\nvia = \"CUSTOMER\"\n",
    ] {
        assert!(written.contains(needle), "missing {needle:?}");
    }
    assert!(!written.contains("client_secret ="), "never a secret");

    // Without --out: the same text on stdout.
    let stdout = ok(&coupler(&["init", "--preset", "dataverse"], d));
    assert_eq!(stdout, written);

    // An existing file is refused and left as it was.
    std::fs::write(d.join("mine.toml"), "# my config\n").unwrap();
    let out = coupler(&["init", "--preset", "dataverse", "--out", "mine.toml"], d);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "coupler: error: mine.toml exists already; coupler init never overwrites a file: choose another --out, or remove it first\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("mine.toml")).unwrap(),
        "# my config\n"
    );
}

#[test]
fn init_rejects_an_unknown_preset() {
    let dir = tempfile::tempdir().unwrap();
    let out = coupler(
        &["init", "--preset", "sales", "--out", "x.toml"],
        dir.path(),
    );
    let err = text(&out.stderr);
    // A usage error (exit code 2): clap rejects the value and lists the presets.
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(
            "error: invalid value 'sales' for '--preset <PRESET>'\n  [possible values: dataverse]\n"
        ),
        "{err}"
    );
    assert!(!dir.path().join("x.toml").exists());
}

/// The preset loads and reviews: written by `init`, its Dataverse tables replaced by small CSV
/// exports (the keys are in the preset), every source filled with a few rows.
#[test]
fn the_preset_reviews_in_bc_order_once_its_sources_are_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&coupler(
        &["init", "--preset", "dataverse", "--out", "preset.toml"],
        d,
    ));
    let preset = std::fs::read_to_string(d.join("preset.toml")).unwrap();
    let mut files = preset.clone();
    for set in [
        "systemusers",
        "transactioncurrencies",
        "stringmaps",
        "accounts",
        "contacts",
    ] {
        files = files.replace(
            &format!("dataverse_table = \"{set}\""),
            &format!("csv = \"dv-{set}.csv\""),
        );
    }
    assert!(!files.contains("dataverse_table"), "every table replaced");
    std::fs::write(d.join("files.toml"), files).unwrap();

    let write = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    // BC side.
    write("salespeople.csv", "Code,Name,E-Mail,Phone No.\n");
    write(
        "currencies.csv",
        "Code,Symbol,Description\nEUR,€,Euro\nGBP,£,Pound\n",
    );
    write("payment-terms.csv", "Code,Description\n14 DAYS,14 days\n");
    write("shipment-methods.csv", "Code,Description\n");
    write("shipping-agents.csv", "Code,Name\nDHL,DHL\n");
    write(
        "customers.csv",
        "No.,Name,Blocked\nC1,Adatum,\nC2,Fabrikam,All\nC3,Contoso,\n",
    );
    write("vendors.csv", "No.,Name,Blocked\nV1,Litware,Payment\n");
    write(
        "contacts.csv",
        "No.,Type,Company No.,Surname\nK1,Person,C1,Smith\nK2,Company,,Adatum\nK3,Person,,Loner\n",
    );
    // Dataverse side (the preset's keys and filter columns).
    write(
        "dv-systemusers.csv",
        "systemuserid,fullname,isdisabled,islicensed,isintegrationuser\n\
         u1,Ann,false,true,false\nu2,Bot,false,true,true\nu3,Old,true,true,false\n",
    );
    write(
        "dv-transactioncurrencies.csv",
        "transactioncurrencyid,isocurrencycode\nt1,USD\n",
    );
    write(
        "dv-stringmaps.csv",
        "stringmapid,objecttypecode,attributename,langid,value\n\
         s1,account,paymenttermscode,1033,Net 30\n\
         s2,account,paymenttermscode,1031,Netto 30\n\
         s3,account,address1_freighttermscode,1033,FOB\n\
         s4,contact,paymenttermscode,1033,Other table\n",
    );
    write(
        "dv-accounts.csv",
        "accountid,name,statecode,customertypecode\n\
         a1,Adatum,0,3\na2,Contoso,0,3\na3,Closed,1,3\na4,Supplier,0,11\n",
    );
    write(
        "dv-contacts.csv",
        "contactid,lastname,statecode,_parentcustomerid_value\nc1,Smith,1,a1\nc2,Orphan,0,\n",
    );

    let lines = review_json(d, "files.toml");
    assert_eq!(
        names(&lines),
        PRESET_MAPPINGS,
        "config order is already a dependency order"
    );
    let expect = |m: &str, local: u64, integration: u64, rec: &str| {
        let l = line(&lines, m);
        assert_eq!(
            (l["local_rows"].as_u64(), l["integration_rows"].as_u64()),
            (Some(local), Some(integration)),
            "{m}: {l}"
        );
        assert_eq!(l["recommendation"], rec, "{m}: {l}");
    };
    expect("SALESPEOPLE", 0, 1, "Full Synchronization"); // only Ann passes the user filter
    expect("CURRENCY", 2, 1, "Couple Records");
    expect("PAYMENT TERMS", 1, 1, "Couple Records"); // English account label only
    expect("SHIPMENT METHOD", 0, 1, "Full Synchronization");
    expect("SHIPPING AGENT", 1, 0, "Full Synchronization"); // no shipping-method labels
    expect("CUSTOMER", 2, 2, "Couple Records"); // not blocked; active relationship-type Customer
    expect("VENDOR", 0, 1, "Full Synchronization"); // the one vendor is blocked
                                                    // Persons of a company (the table filter leaves K3 out); c1 is inactive, c2 has no parent.
    expect("CONTACT", 1, 0, "Full Synchronization");
    assert_eq!(
        line(&lines, "CUSTOMER")["status"],
        "after SALESPEOPLE, CURRENCY, PAYMENT TERMS, SHIPMENT METHOD, SHIPPING AGENT"
    );
    // BC's dependencies, and CURRENCY: CONTACT's "Currency Code" is a lookup through the
    // CURRENCY couplings (`via`), which come first.
    assert_eq!(
        line(&lines, "CONTACT")["status"],
        "after CUSTOMER, VENDOR, CURRENCY"
    );
    assert!(lines.iter().all(|l| l["dependency_not_satisfied"] == false));
    assert_eq!(
        line(&lines, "CUSTOMER")["table_mapping"],
        "Customer - Account"
    );
}

// -------------------------------------------------------------------------------- Dataverse

/// The integration side read from Dataverse (the local emulator): counted after the filter,
/// and read in full even when the mapping asks for lookups (which would only fetch the rows
/// that can match).
#[test]
fn review_counts_a_dataverse_table_in_full() {
    use dataverse_emulator::EmulatorConfig;
    const SECRET: &str = "review-test-secret";
    const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
    const TENANT: &str = "contoso.onmicrosoft.com";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let guid = |n: u32| format!("00000000-0000-0000-0000-{n:012}");
    let mut accounts = String::from("accountid,name,statecode\n");
    for (n, (name, state)) in [
        ("Adatum", 0),
        ("Contoso", 0),
        ("Closed", 1),
        ("Fabrikam", 0),
    ]
    .iter()
    .enumerate()
    {
        accounts.push_str(&format!("{},{name},{state}\n", guid(n as u32 + 1)));
    }
    std::fs::write(d.join("accounts.csv"), accounts).unwrap();
    std::fs::write(
        d.join("emulator.toml"),
        format!(
            r#"
tenant_id = "{TENANT}"
[[clients]]
client_id = "{CLIENT}"
secret = "{SECRET}"
[currency]
base = "USD"
[[currency.currencies]]
iso = "USD"
name = "US Dollar"
[[tables]]
logical_name = "account"
entity_set = "accounts"
primary_id = "accountid"
primary_name = "name"
csv = "accounts.csv"
[tables.types]
statecode = "State"
"#
        ),
    )
    .unwrap();
    let emulator =
        dataverse_emulator::start(EmulatorConfig::load(d.join("emulator.toml")).unwrap()).unwrap();
    let url = emulator.url();
    std::fs::write(d.join("customers.csv"), "No.,Name\nC1,Adatum\n").unwrap();
    std::fs::write(
        d.join("c.toml"),
        format!(
            r#"
[dataverse]
url = "{url}"
authority = "{url}"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret_env = "COUPLER_REVIEW_SECRET"
retry_delay_ms = 5

[[mappings]]
name = "CUSTOMER"
[mappings.local]
csv = "customers.csv"
key = "No."
[mappings.integration]
dataverse_table = "accounts"
filter = {{ statecode = 0 }}
read_strategy = "lookup"
[[mappings.fields]]
local = "Name"
integration = "name"
match = true
"#
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args(["review", "--config", "c.toml", "--json"])
        .current_dir(d)
        .env("COUPLER_REVIEW_SECRET", SECRET)
        .output()
        .unwrap();
    let lines: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let l = &lines[0];
    assert_eq!(l["local_rows"], 1, "{l}");
    assert_eq!(
        l["integration_rows"], 3,
        "3 active accounts, not the 1 a lookup finds: {l}"
    );
    assert_eq!(l["recommendation"], "Couple Records");
    assert_eq!(l["integration_source"], "Dataverse accounts");
}
