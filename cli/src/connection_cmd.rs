//! `coupler connection test`: BC's "Test Connection" (docs/semantics.md, "Connection test"). Checks, in order:
//! the environment answers and the credentials work (`WhoAmI`), it is not in administration
//! mode, the currencies agree (when `local_currency` is set), and every table and column the
//! mappings name exists. Details go to stderr; the verdict, in BC's words, to stdout.

use std::path::Path;

use anyhow::{anyhow, Result};
use coupler_dataverse::{currencies, currency_verdict, who_am_i, CurrencyVerdict};

use crate::plan::Plan;
use crate::sources::Sources;

pub const SUCCESS: &str = "The connection test was successful. The settings are valid.";

/// Runs the test; `Ok(true)` when it passed. Errors are configuration problems found before
/// any request (they are reported like any other error).
pub fn test(config: &Path) -> Result<bool> {
    let plan = Plan::load(config)?;
    let Some(section) = &plan.dataverse else {
        return Err(anyhow!(
            "{}: no [dataverse] section; see docs/configuration.md#dataverse",
            config.display()
        ));
    };
    eprintln!(
        "coupler: connecting to {} as application {}",
        section.environment(),
        section.client_id
    );
    // A credential that cannot be read (an unset secret) fails the test like any other
    // problem, in BC's words.
    let all = plan.select(&[])?;
    let checked = Sources::open_connection(&plan, &all).and_then(|mut s| run_checks(&plan, &mut s));
    match checked {
        Ok(()) => {
            println!("{SUCCESS}");
            Ok(true)
        }
        Err(e) => {
            let reason = crate::one_line(&e);
            let mut chars = reason.trim_end_matches('.').chars();
            let sentence: String = chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default();
            println!("The connection test has failed. {sentence}.");
            Ok(false)
        }
    }
}

fn run_checks(plan: &Plan, sources: &mut Sources) -> Result<()> {
    let link = sources
        .link()
        .ok_or_else(|| anyhow!("no Dataverse connection is configured"))?;
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
        let Some((_, info)) = sources.dataverse_table(m)? else {
            continue;
        };
        let prepared = sources.prepare(m)?;
        let spec = &prepared.spec;
        eprintln!(
            "  {}: table {} ({}), key {}, {} column(s) found",
            m.name,
            info.entity_set,
            info.logical_name,
            spec.integration_key,
            spec.integration_columns().len()
        );
    }
    Ok(())
}
