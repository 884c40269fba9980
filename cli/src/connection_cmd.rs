//! `coupler connection test`: BC's "Test Connection" (semantics spec §6). Checks, in order:
//! the environment answers and the credentials work (`WhoAmI`), it is not in administration
//! mode, the currencies agree (when `local_currency` is set), and every table and column the
//! mappings name exists. Details go to stderr; the verdict, in BC's words, to stdout.

use std::path::Path;

use anyhow::{anyhow, Result};
use coupler_dataverse::{currencies, currency_verdict, who_am_i, CurrencyVerdict};

use crate::config::{IntegrationSource, Plan};
use crate::dataverse_link::DataverseLink;

pub const SUCCESS: &str = "The connection test was successful. The settings are valid.";

/// Runs the test; `Ok(true)` when it passed. Errors are configuration problems found before
/// any request (they are reported like any other error).
pub fn test(config: &Path) -> Result<bool> {
    let plan = Plan::load(config)?;
    let Some(settings) = &plan.dataverse else {
        return Err(anyhow!(
            "{}: no [dataverse] section; see [dataverse] in docs/configuration.md",
            config.display()
        ));
    };
    let mut link = DataverseLink::open(settings, &plan.base)?;
    match run_checks(&plan, &mut link) {
        Ok(()) => {
            println!("{SUCCESS}");
            Ok(true)
        }
        Err(e) => {
            let reason = crate::one_line(&e);
            println!(
                "The connection test has failed. {}.",
                reason.trim_end_matches('.')
            );
            Ok(false)
        }
    }
}

fn run_checks(plan: &Plan, link: &mut DataverseLink) -> Result<()> {
    eprintln!(
        "coupler: connecting to {} as application {}",
        link.session.environment_url(),
        link.config.client_id
    );
    let who = who_am_i(&link.session)?;
    eprintln!(
        "  WhoAmI: user {}, business unit {}, organization {}{}",
        who.user_id,
        who.business_unit_id,
        who.organization_id,
        who.dop_hint
            .map(|d| format!(" (recommended parallelism {d})"))
            .unwrap_or_default()
    );
    eprintln!("  administration mode: off (or the application user is an administrator)");
    if let Some(lcy) = link.config.local_currency.clone() {
        let found = currencies(&link.session)?;
        match currency_verdict(&found, &lcy, link.config.strict_currency) {
            CurrencyVerdict::Valid { notes } => {
                eprintln!(
                    "  currency: local {lcy}; Dataverse base {}{}",
                    found.base,
                    if link.config.strict_currency {
                        " (strict rule: equal)"
                    } else {
                        ""
                    }
                );
                for n in notes {
                    eprintln!("    note: {n}");
                }
            }
            CurrencyVerdict::Invalid(reason) => return Err(anyhow!(reason)),
        }
    } else {
        eprintln!("  currency: not checked (set local_currency in [dataverse])");
    }
    for m in &plan.mappings {
        if let IntegrationSource::Dataverse(table) = &m.integration {
            let mut spec = m.spec.clone();
            link.prepare(&mut spec, table, &m.integration_columns())?;
            let info = link.table(&table.entity_set)?;
            eprintln!(
                "  {}: table {} ({}), key {}, {} column(s) found",
                spec.mapping_name,
                info.entity_set,
                info.logical_name,
                spec.integration_key,
                spec.integration_columns().len()
            );
        }
    }
    Ok(())
}
