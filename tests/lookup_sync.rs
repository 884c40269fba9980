//! End-to-end against the Dataverse emulator: the first synchronization after coupling carries
//! a lookup (`via`) both ways — to Dataverse as `<navigation>@odata.bind`, back to BC as the
//! coupled record's key — and a lookup to a record that is not coupled fails its record with
//! BC's text, as BC's `FindNewValueForCoupledRecordPK` does.

use std::collections::BTreeMap;
use std::path::Path;

mod common;
use common::read_csv;

mod world;
use world::*;

const A1: &str = "a1a1a1a1-0000-4000-8000-000000000001";
const A2: &str = "a2a2a2a2-0000-4000-8000-000000000002";
/// An account no customer is coupled to.
const A3: &str = "a3a3a3a3-0000-4000-8000-000000000003";

/// Customers C1 (Contoso) and C2 (Fabrikam) couple by name; C3 (Litware) has no account.
/// Contacts couple by name; their companies in BC and Dataverse disagree in every way:
/// Ann's is C1 but her row points at C2's account; Bob's agree; Cy's C3 is not coupled; Di
/// has none but her row points at C1's account; Eve has none and her row points at A3.
fn setup(dir: &Path) -> dataverse_emulator::RunningEmulator {
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "accounts.csv",
        &format!("accountid,name,statecode\n{A1},Contoso,0\n{A2},Fabrikam,0\n{A3},Northwind,0\n"),
    );
    write(
        "dv_contacts.csv",
        &format!(
            "contactid,fullname,_parentcustomerid_value,statecode\n\
             d1d1d1d1-0000-4000-8000-000000000001,Ann,{A2},0\n\
             d2d2d2d2-0000-4000-8000-000000000002,Bob,{A2},0\n\
             d3d3d3d3-0000-4000-8000-000000000003,Cy,,0\n\
             d4d4d4d4-0000-4000-8000-000000000004,Di,{A1},0\n\
             d5d5d5d5-0000-4000-8000-000000000005,Eve,{A3},0\n"
        ),
    );
    write(
        "customers.csv",
        "No.,Name\nC1,Contoso\nC2,Fabrikam\nC3,Litware\n",
    );
    write(
        "contacts.csv",
        "No.,Name,Company No.\nK1,Ann,C1\nK2,Bob,c2\nK3,Cy,C3\nK4,Di,\nK5,Eve,\n",
    );
    std::fs::copy(
        root().join("fixtures/dataverse/test-app.pem"),
        dir.join("test-app.pem"),
    )
    .unwrap();
    write(
        "emulator.toml",
        &format!(
            r#"
tenant_id = "{TENANT}"
[[clients]]
client_id = "{CLIENT}"
secret = "{SECRET}"
certificate = "test-app.pem"

[[tables]]
logical_name = "account"
entity_set = "accounts"
primary_id = "accountid"
primary_name = "name"
csv = "accounts.csv"
[tables.types]
statecode = "State"

[[tables]]
logical_name = "contact"
entity_set = "contacts"
primary_id = "contactid"
primary_name = "fullname"
csv = "dv_contacts.csv"
[tables.types]
statecode = "State"
[tables.lookups]
_parentcustomerid_value = ["account", "contact"]
"#
        ),
    );
    let config = dataverse_emulator::EmulatorConfig::load(dir.join("emulator.toml")).unwrap();
    dataverse_emulator::start(config).unwrap()
}

/// The config: CUSTOMER, then CONTACT synchronizing its company in `direction`.
fn config(dir: &Path, name: &str, url: &str, direction: &str, store: &str) {
    std::fs::write(
        dir.join(name),
        format!(
            r#"
store = "{store}"

[[mappings]]
name = "CUSTOMER"
[mappings.local]
csv = "customers.csv"
key = "No."
[mappings.integration]
dataverse_table = "accounts"
[[mappings.fields]]
local = "Name"
integration = "name"
match = true

[[mappings]]
name = "CONTACT"
direction = "{direction}"
sync_after_coupling = true
[mappings.local]
csv = "contacts.csv"
key = "No."
[mappings.integration]
dataverse_table = "contacts"
[[mappings.fields]]
local = "Name"
integration = "fullname"
match = true
[[mappings.fields]]
local = "Company No."
integration = "_parentcustomerid_value"
type = "code"
via = "CUSTOMER"

[dataverse]
url = "{url}"
authority = "{url}"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret_env = "COUPLER_E2E_SECRET"
retry_delay_ms = 5
"#
        ),
    )
    .unwrap();
}

/// `(local_id, direction, old, new, status, message)` of the plan's company rows.
fn company_rows(dir: &Path, out: &str) -> Vec<[String; 6]> {
    read_csv(&dir.join(out).join("CONTACT/sync-plan.csv"))
        .into_iter()
        .filter(|r| r["field"] == "Company No." || r["field"] == "_parentcustomerid_value")
        .map(|r| {
            [
                "local_id",
                "direction",
                "old_value",
                "new_value",
                "status",
                "message",
            ]
            .map(|k| r[k].clone())
        })
        .collect()
}

fn row(cells: [&str; 6]) -> [String; 6] {
    cells.map(str::to_string)
}

fn must_be_coupled(field: &str, value: &str) -> String {
    format!("The data could not be updated because of the following error: {field} {value} must be coupled to a Dataverse record.")
}

#[test]
fn a_lookup_goes_to_dataverse_as_a_bind_and_comes_back_to_bc_as_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let emulator = setup(d);
    let url = emulator.url();

    // Towards BC (a dry run plans it): each account id becomes its customer's No.
    config(d, "from.toml", &url, "from-integration", "from.db");
    let out = coupler(
        &["couple", "--config", "from.toml", "--out", "from"],
        d,
        SECRET,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        company_rows(d, "from"),
        [
            row(["K1", "from-integration", "C1", "C2", "update", ""]),
            row(["K2", "from-integration", "c2", "C2", "unchanged", ""]),
            row(["K3", "from-integration", "C3", "", "update", ""]),
            row(["K4", "from-integration", "", "C1", "update", ""]),
            row([
                "K5",
                "from-integration",
                "",
                A3,
                "failed",
                &must_be_coupled("_parentcustomerid_value", A3),
            ]),
        ]
    );

    // Towards Dataverse, applied: binds to the coupled accounts; a blank key clears the
    // lookup; C3, coupled to nothing, fails Cy's record and nothing of it is written.
    config(d, "to.toml", &url, "to-integration", "to.db");
    let out = coupler(
        &["couple", "--config", "to.toml", "--out", "to", "--apply"],
        d,
        SECRET,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        company_rows(d, "to"),
        [
            row(["K1", "to-integration", A2, A1, "update", ""]),
            row(["K2", "to-integration", A2, A2, "unchanged", ""]),
            row([
                "K3",
                "to-integration",
                "",
                "C3",
                "failed",
                &must_be_coupled("Company No.", "C3"),
            ]),
            row(["K4", "to-integration", A1, "", "update", ""]),
            row(["K5", "to-integration", A3, "", "update", ""]),
        ]
    );
    let parents: BTreeMap<String, Option<String>> = emulator
        .controls()
        .table_cells("contacts")
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r["fullname"].clone().unwrap(),
                r["_parentcustomerid_value"].clone(),
            )
        })
        .collect();
    let expected: BTreeMap<String, Option<String>> = [
        ("Ann", Some(A1)),
        ("Bob", Some(A2)),
        ("Cy", None),
        ("Di", None),
        ("Eve", None),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_string(), p.map(str::to_string)))
    .collect();
    assert_eq!(parents, expected);
    // The writes bound the polymorphic lookup through its account navigation property.
    let job: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("to/CONTACT/job.json")).unwrap())
            .unwrap();
    assert_eq!(job["sync"]["applied"]["done"], 3, "{}", job["sync"]);

    // A second run finds nothing left to write.
    let again = coupler(
        &["couple", "--config", "to.toml", "--out", "again", "--apply"],
        d,
        SECRET,
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    let job: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("again/CONTACT/job.json")).unwrap())
            .unwrap();
    assert_eq!(job["outcomes"]["skipped"], 5, "{job}");
}
