//! `coupler init --preset NAME [--out FILE]`: writes a commented starting config.
//!
//! The one preset, `dataverse`, holds Business Central's default Dataverse table mappings as
//! BC creates them when the connection is set up (codeunit 7204 "CDS Setup Defaults", Person
//! ownership model): SALESPEOPLE, CURRENCY, PAYMENT TERMS, SHIPMENT METHOD, SHIPPING AGENT,
//! CUSTOMER, VENDOR and CONTACT, each with
//!
//! - BC's table captions, mapping direction and dependencies (`depends_on`: CUSTOMER and VENDOR
//!   on SALESPEOPLE, CURRENCY, PAYMENT TERMS, SHIPMENT METHOD, SHIPPING AGENT; CONTACT on
//!   CUSTOMER and VENDOR, and on CURRENCY through its lookup; the others on nothing);
//! - BC's default field mappings with their directions, lookups included (`via`: the BC code
//!   translated through the named mapping's couplings into the Dataverse id): `Currency Code` →
//!   `_transactioncurrencyid_value` through CURRENCY on CUSTOMER, VENDOR and CONTACT, and the
//!   contact's company through CUSTOMER (`Customer No.` → `_parentcustomerid_value`, to
//!   Dataverse; BC derives it in code from the company's business relation, so the contact
//!   export needs that column). Commented out, each with the reason: the owner (`Salesperson
//!   Code`/`Purchaser Code` through SALESPEOPLE; BC computes it in code and never clears
//!   it), `Primary Contact No.` (through CONTACT with "Clear Value on Failed Sync"; it would
//!   make CUSTOMER/VENDOR and CONTACT depend on each other, a cycle), the option-set columns
//!   (not synchronized yet) and BC's constants (OwnerIdType := systemuser, ParentCustomerIdType
//!   := account, Contact Type := Person);
//! - BC's default match criteria: `Code ↔ isocurrencycode` for CURRENCY and the code ↔ option
//!   label for the three option mappings; none for CUSTOMER, VENDOR, CONTACT and SALESPEOPLE
//!   (BC flags none — the user must pick, the file says how);
//! - BC's filters where they are equalities (customers/vendors not blocked; accounts active
//!   with relationship type Customer 3 / Vendor 11; contacts of type Person, active; users
//!   enabled, licensed, not integration users), and the others in BC's filter syntax
//!   (`table_filter`: the contact's "Company No." and parent customer not blank); the company
//!   filter, which needs the BC company's id, is left commented out;
//! - sources: `csv = "<table>.csv"` placeholders for the BC side, `dataverse_table = "<entity
//!   set>"` (systemusers, transactioncurrencies, stringmaps for option labels, accounts,
//!   contacts) for the integration side, and a `[dataverse]` section with placeholders; the
//!   secret is named by `client_secret_env`, never written.
//!
//! Without `--out` the preset goes to stdout. An existing `--out` file is never overwritten.
//! An unknown preset is an error that lists the presets.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The presets: name, what it is, the file.
const PRESETS: &[(&str, &str, &str)] = &[(
    "dataverse",
    "Business Central's default Dataverse table mappings and dependencies",
    include_str!("presets/dataverse.toml"),
)];

pub fn run(preset: &str, out: Option<&Path>) -> Result<()> {
    let Some(&(name, about, text)) = PRESETS.iter().find(|(n, _, _)| *n == preset) else {
        let known: Vec<String> = PRESETS
            .iter()
            .map(|(n, about, _)| format!("{n} ({about})"))
            .collect();
        bail!(
            "unknown preset '{preset}'; the presets are: {}",
            known.join(", ")
        );
    };
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
        Some(path) => {
            // create_new: refuses an existing file even if it appears after a check.
            let mut file = match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                    "{} exists already; coupler init never overwrites a file: choose another --out, or remove it first",
                    path.display()
                ),
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            };
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "coupler: wrote {} (preset '{name}': {about}). Fill in [dataverse] and the csv placeholders, pick match criteria, then run `coupler validate --config {}`.",
                path.display(),
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{IntegrationSource, Plan};
    use coupler_engine::sync::SyncDirection;
    use coupler_engine::FieldType;

    /// The preset as written must load as a config: every key known, every rule met.
    #[test]
    fn the_dataverse_preset_loads() {
        let dir = std::env::temp_dir().join(format!("coupler-init-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("preset.toml");
        std::fs::write(&path, PRESETS[0].2).unwrap();
        let plan = Plan::load(&path);
        std::fs::remove_dir_all(&dir).ok();
        let plan = plan.unwrap();
        let names: Vec<&str> = plan.mappings.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "SALESPEOPLE",
                "CURRENCY",
                "PAYMENT TERMS",
                "SHIPMENT METHOD",
                "SHIPPING AGENT",
                "CUSTOMER",
                "VENDOR",
                "CONTACT"
            ]
        );
        let m = |n: &str| plan.mappings.iter().find(|m| m.name == n).unwrap();
        assert_eq!(
            m("CUSTOMER").depends_on,
            [
                "SALESPEOPLE",
                "CURRENCY",
                "PAYMENT TERMS",
                "SHIPMENT METHOD",
                "SHIPPING AGENT"
            ]
        );
        assert_eq!(m("VENDOR").depends_on, m("CUSTOMER").depends_on);
        assert_eq!(m("CONTACT").depends_on, ["CUSTOMER", "VENDOR"]);
        let currency = m("CURRENCY").criteria();
        assert_eq!(currency.len(), 1);
        assert_eq!(
            (
                currency[0].local_field.as_str(),
                currency[0].integration_field.as_str()
            ),
            ("Code", "isocurrencycode")
        );
        assert!(m("CUSTOMER").criteria().is_empty(), "BC flags none");
        assert_eq!(
            *m("CUSTOMER").integration_filter(),
            [
                ("customertypecode".to_string(), "3".to_string()),
                ("statecode".to_string(), "0".to_string())
            ]
        );
        assert!(m("CURRENCY").sync.is_some());
        match &m("CONTACT").integration {
            IntegrationSource::Dataverse(t) => assert_eq!(t.entity_set, "contacts"),
            other => panic!("{other:?}"),
        }
        let dv = plan.dataverse.as_ref().unwrap();
        assert_eq!(
            dv.client_secret_env.as_deref(),
            Some("COUPLER_CLIENT_SECRET")
        );

        // BC's lookups that are active: the field, the Dataverse lookup column, the mapping
        // whose couplings translate it. No lookup is a match criterion (BC flags none).
        let lookups = |n: &str| -> Vec<(&str, &str, FieldType, &str)> {
            m(n).profiled_fields
                .iter()
                .filter_map(|(l, i, t, via)| Some((l.as_str(), i.as_str(), *t, via.as_deref()?)))
                .collect()
        };
        let currency = (
            "Currency Code",
            "_transactioncurrencyid_value",
            FieldType::Code,
            "CURRENCY",
        );
        assert_eq!(lookups("CUSTOMER"), [currency]);
        assert_eq!(lookups("VENDOR"), [currency]);
        assert_eq!(
            lookups("CONTACT"),
            [
                currency,
                (
                    "Customer No.",
                    "_parentcustomerid_value",
                    FieldType::Code,
                    "CUSTOMER"
                )
            ]
        );
        for n in ["SALESPEOPLE", "CURRENCY", "PAYMENT TERMS"] {
            assert!(lookups(n).is_empty(), "{n}");
        }
        assert_eq!(m("CONTACT").lookups, ["CURRENCY", "CUSTOMER"]);
        assert!(m("CONTACT").criteria().is_empty(), "BC flags none");
        // The owner and the primary contact stay commented out.
        for n in ["CUSTOMER", "VENDOR", "CONTACT"] {
            for column in ["_ownerid_value", "_primarycontactid_value", "owneridtype"] {
                assert!(
                    !m(n).profiled_fields.iter().any(|f| f.1 == column)
                        && !m(n).mapped_integration.iter().any(|c| c == column),
                    "{n}: {column}"
                );
            }
        }
        // A lookup runs after the mapping it names: CONTACT also waits for CURRENCY, and the
        // run order is still the config's (BC's) order.
        let index = |n: &str| plan.mappings.iter().position(|m| m.name == n).unwrap();
        let waits_for: Vec<&str> = plan.dependencies[index("CONTACT")]
            .iter()
            .map(|&i| plan.mappings[i].name.as_str())
            .collect();
        assert_eq!(waits_for, ["CUSTOMER", "VENDOR", "CURRENCY"]);
        assert_eq!(plan.order, (0..plan.mappings.len()).collect::<Vec<_>>());
    }

    /// Writes `text` as a config and loads it.
    fn load(text: &str) -> anyhow::Result<Plan> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("coupler-init-variant-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("preset.toml");
        std::fs::write(&path, text).unwrap();
        let plan = Plan::load(&path);
        std::fs::remove_dir_all(&dir).ok();
        plan
    }

    /// `text` with the first commented-out field mapping that names `integration` uncommented.
    fn uncomment(text: &str, integration: &str) -> String {
        let at = text
            .find(&format!("# integration = \"{integration}\""))
            .unwrap_or_else(|| panic!("no commented {integration}"));
        let start = text[..at].rfind("# [[mappings.fields]]").unwrap();
        let end = at + text[at..].find("\n\n").unwrap();
        let block: String = text[start..end]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        format!("{}{block}{}", &text[..start], &text[end..])
    }

    /// The commented-out primary contact is what the preset says: BC's lookup through CONTACT
    /// with "Clear Value on Failed Sync", refused here because CUSTOMER and CONTACT would each
    /// wait for the other.
    #[test]
    fn the_primary_contact_lookup_would_be_a_dependency_cycle() {
        let text = uncomment(PRESETS[0].2, "_primarycontactid_value");
        assert!(text.contains("\nvia = \"CONTACT\"\nclear_on_failed_sync = true\n"));
        let e = format!("{:#}", load(&text).unwrap_err());
        assert!(e.contains("form a cycle"), "{e}");
        assert!(e.contains("CUSTOMER") && e.contains("CONTACT"), "{e}");
    }

    /// The commented-out owner is a well-formed lookup through SALESPEOPLE, to Dataverse only.
    #[test]
    fn the_owner_entry_is_a_lookup_through_salespeople() {
        let text = uncomment(PRESETS[0].2, "_ownerid_value");
        let plan = load(&text).unwrap();
        let customer = plan.mappings.iter().find(|m| m.name == "CUSTOMER").unwrap();
        assert!(customer.profiled_fields.contains(&(
            "Salesperson Code".to_string(),
            "_ownerid_value".to_string(),
            FieldType::Code,
            Some("SALESPEOPLE".to_string())
        )));
        assert_eq!(customer.lookups, ["SALESPEOPLE", "CURRENCY"]);
    }

    /// With the first synchronization switched on for CUSTOMER, VENDOR and CONTACT, the preset
    /// still plans: the active lookups are synchronized fields (no option field, no
    /// destination written twice), in BC's directions.
    #[test]
    fn the_preset_plans_a_synchronization_with_its_lookups() {
        let text = PRESETS[0]
            .2
            .replace(
                "direction = \"bidirectional\"\n",
                "direction = \"bidirectional\"\nsync_after_coupling = true\nupdate_conflict_resolution = \"send\"\n",
            );
        let plan = load(&text).unwrap();
        let sync = |n: &str| {
            plan.mappings
                .iter()
                .find(|m| m.name == n)
                .and_then(|m| m.sync.as_ref())
                .unwrap_or_else(|| panic!("{n}: no sync"))
        };
        let lookup = |n: &str, column: &str| {
            let f = sync(n)
                .fields
                .iter()
                .find(|f| f.integration_field == column)
                .unwrap_or_else(|| panic!("{n}: {column}"));
            (
                f.local_field.clone().unwrap(),
                f.via.as_ref().map(|t| t.mapping().to_string()),
                f.direction,
                f.clear_on_failed_sync,
            )
        };
        for n in ["CUSTOMER", "VENDOR", "CONTACT"] {
            assert_eq!(
                lookup(n, "_transactioncurrencyid_value"),
                (
                    "Currency Code".to_string(),
                    Some("CURRENCY".to_string()),
                    SyncDirection::Bidirectional,
                    false
                ),
                "{n}"
            );
        }
        assert_eq!(
            lookup("CONTACT", "_parentcustomerid_value"),
            (
                "Customer No.".to_string(),
                Some("CUSTOMER".to_string()),
                SyncDirection::ToIntegration,
                false
            )
        );
    }

    #[test]
    fn an_unknown_preset_lists_the_presets() {
        let e = run("sales", None).unwrap_err().to_string();
        assert!(e.contains("unknown preset 'sales'"), "{e}");
        assert!(e.contains("the presets are: dataverse"), "{e}");
    }
}
