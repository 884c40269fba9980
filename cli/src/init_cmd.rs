//! `coupler init --preset NAME [--out FILE]`: writes a commented starting config.
//!
//! The one preset, `dataverse`, holds Business Central's default Dataverse table mappings as
//! BC creates them when the connection is set up (codeunit 7204 "CDS Setup Defaults", Person
//! ownership model): SALESPEOPLE, CURRENCY, PAYMENT TERMS, SHIPMENT METHOD, SHIPPING AGENT,
//! CUSTOMER, VENDOR and CONTACT, each with
//!
//! - BC's table captions, mapping direction and dependencies (`depends_on`: CUSTOMER and VENDOR
//!   on SALESPEOPLE, CURRENCY, PAYMENT TERMS, SHIPMENT METHOD, SHIPPING AGENT; CONTACT on
//!   CUSTOMER and VENDOR; the others on nothing);
//! - BC's default field mappings with their directions. Lookups (`Currency Code` →
//!   transactioncurrencyid, `Primary Contact No.`, the owner), option-set columns and BC's
//!   constants (OwnerIdType := systemuser, ParentCustomerIdType := account, Contact Type :=
//!   Person) are kept as commented-out entries: BC translates them (a code into the coupled
//!   row's id), coupler copies values as they are;
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
    }

    #[test]
    fn an_unknown_preset_lists_the_presets() {
        let e = run("sales", None).unwrap_err().to_string();
        assert!(e.contains("unknown preset 'sales'"), "{e}");
        assert!(e.contains("the presets are: dataverse"), "{e}");
    }
}
