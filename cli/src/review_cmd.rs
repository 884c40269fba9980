//! `coupler review --config FILE [--json]`: Business Central's **full synchronization review**
//! (docs/semantics.md, "Full synchronization review") for every mapping of a config — how many rows each side has after the
//! mapping's filters, what BC would recommend, in which order BC would start the work, and
//! whether a dependency blocks a mapping. Nothing is matched and nothing is written.
//!
//! # What it prints
//!
//! One line per mapping, in dependency order:
//!
//! ```text
//! Full synchronization review of c.toml: 3 mapping(s), in the order they would start
//!
//!   order  mapping   local rows  integration rows  recommendation                         depends on  status
//!   1      CURRENCY           3                 0  Full Synchronization (to-integration)  –           ready
//!   2      CUSTOMER         329               352  Couple Records                         CURRENCY    after CURRENCY
//!   3      CONTACT            0                 0  No Records Found                       CUSTOMER    nothing to do
//! ```
//!
//! - **local rows / integration rows**: rows of each source that pass the mapping's `filter`
//!   (every `column = value` must hold, compared as exact text — the engine's rule). A
//!   Dataverse source is read in full (`$filter` from the mapping's filter, checked again
//!   locally); a lookup read would only see the rows that can match, so it is never used here.
//! - **recommendation** (BC table 5373 "CRM Full Synch. Review Line"):
//!   - no rows on either side → `No Records Found` (BC: nothing to start);
//!   - rows on both sides → `Couple Records` (BC's docs call it "No synchronization": couple
//!     the records — `coupler couple` — rather than copy them);
//!   - rows on one side only → `Full Synchronization`, copying from the side that has the rows:
//!     `(to-integration)` when only the local (BC) side has rows, `(from-integration)` when
//!     only the integration (Dataverse) side has.
//! - **order**: the mappings sorted so that every mapping comes after the mappings in its
//!   `depends_on` and the mappings its lookups go through (`via`); among mappings free to go,
//!   config order. A dependency cycle is a
//!   configuration error: one line naming the cycle (`CURRENCY → CUSTOMER → CURRENCY`, read
//!   "depends on"), exit code 1, before any source is read.
//! - **status**, first rule that applies:
//!   1. `Dependency not satisfied (D: <its recommendation or status>)` — the rule of the BC
//!      versions that had this recommendation: a mapping is not satisfied when a dependency
//!      other than `SALESPEOPLE` has neither `Full Synchronization` nor `Couple Records`, i.e.
//!      it had `No Records Found` or is itself "Dependency not satisfied" (the check is
//!      recursive). Current BC no longer reports this (see below); coupler reports it as the
//!      spec asks, next to the recommendation, which it does not replace.
//!   2. `nothing to do` — the mapping's own recommendation is `No Records Found`.
//!   3. `after A, B` — current BC's start rule: a mapping starts when each dependency has
//!      finished its job or had `No Records Found`; these are the dependencies with work.
//!   4. `ready` — no dependency has work to do: it starts at once.
//! - Under the table, a note for each mapping whose name BC gives a rule of its own (below).
//!
//! `--json` prints an array, one object per mapping in the same order: `order`, `mapping`,
//! `table_mapping` (`Customer - Account`), `local_source`, `integration_source`, `local_rows`,
//! `integration_rows`, `recommendation`, `copy` (`to-integration` | `from-integration` |
//! null), `depends_on`, `waits_for` (dependencies with work), `dependency_not_satisfied`
//! (bool), `unsatisfied` (`[{mapping, reason}]`), `status`, and `bc_note` where BC has a rule
//! of its own. Exit code 0 whenever the review ran, whatever it recommends; 1 when it could not
//! run (bad config, a dependency cycle, an unreadable source or a missing filter column).
//!
//! # Where the rules come from, and where coupler differs from BC
//!
//! The three-way rule, the dependency order, the cycle error and "Dependency not satisfied" are
//! BC's, as docs/semantics.md describes them. In BC's sources, the older table 5373 has
//! the options `Full Synchronization, Couple Records, No Records Found, Dependency not
//! satisfied` and, before the per-table rules, marks a line "Dependency not satisfied" when a
//! dependency except SALESPEOPLE is neither Full Synchronization nor Couple Records (evaluated
//! recursively); the current table keeps the option only as obsolete and uses dependencies
//! just to order the start (`AreAllParentalJobsFinished`: every dependency's job finished, or
//! its recommendation was No Records Found). BC's default dependencies (CDS Setup Defaults) are
//! what `coupler init --preset dataverse` writes.
//!
//! Deliberate differences: coupler applies the rule of docs/semantics.md to every mapping, with both sides
//! counted after the mapping's filters. BC's current code counts the BC table *without* its
//! table filter, and has per-mapping rules, reported as `bc_note`: SALESPEOPLE is always Full
//! Synchronization; CURRENCY is Full Synchronization only when Dataverse has exactly one
//! currency (the base currency, exchange rate 1), else Couple Records; PAYMENT TERMS, SHIPMENT
//! METHOD and SHIPPING AGENT are No Records Found when BC has none, else Couple Records
//! (Dataverse is not looked at).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use coupler_engine::passing_rows;
use serde::Serialize;

use crate::plan::{add_columns, file_name, Plan, PlannedMapping};
use crate::sources::{Columns, Rows, Sources};

/// BC's Full Synch. Review recommendation, from the row counts of both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recommendation {
    NoRecordsFound,
    CoupleRecords,
    /// Copy the rows of the side that has them: `true` = local → integration.
    FullSynchronization {
        to_integration: bool,
    },
}

impl Recommendation {
    fn of(local_rows: u64, integration_rows: u64) -> Recommendation {
        match (local_rows > 0, integration_rows > 0) {
            (false, false) => Recommendation::NoRecordsFound,
            (true, true) => Recommendation::CoupleRecords,
            (local, _) => Recommendation::FullSynchronization {
                to_integration: local,
            },
        }
    }

    /// BC's caption.
    fn name(self) -> &'static str {
        match self {
            Recommendation::NoRecordsFound => "No Records Found",
            Recommendation::CoupleRecords => "Couple Records",
            Recommendation::FullSynchronization { .. } => "Full Synchronization",
        }
    }

    /// The direction of a full synchronization, in the config's words.
    fn copy(self) -> Option<&'static str> {
        match self {
            Recommendation::FullSynchronization { to_integration } => Some(if to_integration {
                "to-integration"
            } else {
                "from-integration"
            }),
            _ => None,
        }
    }

    fn text(self) -> String {
        match self.copy() {
            Some(direction) => format!("{} ({direction})", self.name()),
            None => self.name().to_string(),
        }
    }
}

/// One mapping's line of the review (`--json` prints these).
#[derive(Debug, Serialize)]
struct ReviewLine {
    order: usize,
    mapping: String,
    table_mapping: String,
    local_source: String,
    integration_source: String,
    local_rows: u64,
    integration_rows: u64,
    recommendation: &'static str,
    copy: Option<&'static str>,
    depends_on: Vec<String>,
    waits_for: Vec<String>,
    dependency_not_satisfied: bool,
    unsatisfied: Vec<Unsatisfied>,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    bc_note: Option<&'static str>,
}

/// A dependency that makes a mapping "Dependency not satisfied", and why.
#[derive(Debug, Clone, Serialize)]
struct Unsatisfied {
    mapping: String,
    reason: &'static str,
}

/// The dependency BC's older rule exempts ("except SALESPEOPLE").
const EXEMPT_DEPENDENCY: &str = "SALESPEOPLE";

pub fn run(config: &Path, json: bool) -> Result<()> {
    let plan = Plan::load(config)?;
    let names: Vec<&str> = plan.mappings.iter().map(|m| m.name.as_str()).collect();
    let (depends, order) = (&plan.dependencies, &plan.order);

    let all = plan.select(&[])?;
    let mut sources = Sources::open(&plan, &all)?;
    let mut counts = vec![(0, 0); plan.mappings.len()];
    for &i in order {
        let m = &plan.mappings[i];
        counts[i] = count_rows(m, &mut sources).with_context(|| format!("mapping '{}'", m.name))?;
    }
    let lines = review(&plan.mappings, &names, depends, order, &counts);
    if json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
    } else {
        print_table(&plan, &lines);
    }
    Ok(())
}

/// Rows of each side that pass the mapping's filters.
fn count_rows(m: &PlannedMapping, sources: &mut Sources) -> Result<(u64, u64)> {
    // Only the keys and the filter columns are needed; no criterion takes part.
    let prepared = sources.prepare_keys(m)?;
    let spec = &prepared.spec;
    let columns = Columns::only(
        filter_columns(&spec.local_key, &spec.local_filter),
        filter_columns(&spec.integration_key, &spec.integration_filter),
    );
    let sides = sources.read_sides(&prepared, &columns, Rows::Whole)?;
    Ok((
        passing_rows(&sides.local, &spec.local_filter)?.len() as u64,
        passing_rows(&sides.integration, &spec.integration_filter)?.len() as u64,
    ))
}

/// The key (so that a wrong key is reported) and every filtered column, each once.
fn filter_columns(key: &str, filter: &[(String, String)]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    let named = std::iter::once(key).chain(filter.iter().map(|(c, _)| c.as_str()));
    add_columns(&mut columns, named.filter(|c| !c.is_empty()));
    columns
}

/// The review of every mapping, in `order`.
fn review(
    mappings: &[PlannedMapping],
    names: &[&str],
    depends: &[Vec<usize>],
    order: &[usize],
    counts: &[(u64, u64)],
) -> Vec<ReviewLine> {
    let recommendation: Vec<Recommendation> = counts
        .iter()
        .map(|&(l, i)| Recommendation::of(l, i))
        .collect();
    // Filled in `order`, so a dependency's verdict is known before its dependents'.
    let mut not_satisfied = vec![false; mappings.len()];
    let mut lines = Vec::with_capacity(order.len());
    for (position, &i) in order.iter().enumerate() {
        let unsatisfied: Vec<Unsatisfied> = depends[i]
            .iter()
            .filter(|&&d| names[d] != EXEMPT_DEPENDENCY)
            .filter_map(|&d| {
                let reason = if not_satisfied[d] {
                    "Dependency not satisfied"
                } else if recommendation[d] == Recommendation::NoRecordsFound {
                    recommendation[d].name()
                } else {
                    return None;
                };
                Some(Unsatisfied {
                    mapping: names[d].to_string(),
                    reason,
                })
            })
            .collect();
        not_satisfied[i] = !unsatisfied.is_empty();
        let waits_for: Vec<String> = depends[i]
            .iter()
            .filter(|&&d| recommendation[d] != Recommendation::NoRecordsFound)
            .map(|&d| names[d].to_string())
            .collect();
        let status = if !unsatisfied.is_empty() {
            let why: Vec<String> = unsatisfied
                .iter()
                .map(|u| format!("{}: {}", u.mapping, u.reason))
                .collect();
            format!("Dependency not satisfied ({})", why.join("; "))
        } else if recommendation[i] == Recommendation::NoRecordsFound {
            "nothing to do".to_string()
        } else if !waits_for.is_empty() {
            format!("after {}", waits_for.join(", "))
        } else {
            "ready".to_string()
        };
        let m = &mappings[i];
        lines.push(ReviewLine {
            order: position + 1,
            mapping: names[i].to_string(),
            table_mapping: m.friendly_name(),
            local_source: file_name(&m.local.path),
            integration_source: m.integration.describe(),
            local_rows: counts[i].0,
            integration_rows: counts[i].1,
            recommendation: recommendation[i].name(),
            copy: recommendation[i].copy(),
            depends_on: depends[i].iter().map(|&d| names[d].to_string()).collect(),
            waits_for,
            dependency_not_satisfied: !unsatisfied.is_empty(),
            unsatisfied,
            status,
            bc_note: bc_note(names[i]),
        });
    }
    lines
}

/// BC's own recommendation rule for the mappings it treats specially.
fn bc_note(mapping: &str) -> Option<&'static str> {
    match mapping {
        "SALESPEOPLE" => Some("BC itself always recommends Full Synchronization for SALESPEOPLE (users are copied from Dataverse)"),
        "CURRENCY" => Some("BC itself recommends Full Synchronization for CURRENCY only when Dataverse has exactly one currency (the base currency, exchange rate 1), otherwise Couple Records"),
        "PAYMENT TERMS" | "SHIPMENT METHOD" | "SHIPPING AGENT" => Some("BC itself looks only at the BC side of this option mapping: No Records Found when BC has none, otherwise Couple Records"),
        _ => None,
    }
}

fn print_table(plan: &Plan, lines: &[ReviewLine]) {
    println!(
        "Full synchronization review of {}: {} mapping(s), in the order they would start",
        file_name(&plan.path),
        lines.len()
    );
    println!();
    let header = [
        "order",
        "mapping",
        "local rows",
        "integration rows",
        "recommendation",
        "depends on",
        "status",
    ];
    let rows: Vec<[String; 7]> = lines
        .iter()
        .map(|l| {
            let recommendation = match l.copy {
                Some(c) => format!("{} ({c})", l.recommendation),
                None => l.recommendation.to_string(),
            };
            [
                l.order.to_string(),
                l.mapping.clone(),
                l.local_rows.to_string(),
                l.integration_rows.to_string(),
                recommendation,
                if l.depends_on.is_empty() {
                    "–".to_string()
                } else {
                    l.depends_on.join(", ")
                },
                l.status.clone(),
            ]
        })
        .collect();
    let width = |c: usize| {
        rows.iter()
            .map(|r| r[c].chars().count())
            .chain(std::iter::once(header[c].chars().count()))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let render = |cells: &[&str]| {
        let mut line = String::from(" ");
        for (c, cell) in cells.iter().enumerate() {
            let pad = widths[c].saturating_sub(cell.chars().count());
            line.push(' ');
            // Counts are right-aligned, text left-aligned; the last column is not padded.
            if c == 2 || c == 3 {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else if c + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
            line.push(' ');
        }
        line.trim_end().to_string()
    };
    println!("{}", render(&header));
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        println!("{}", render(&cells));
    }
    let used: BTreeSet<String> = lines
        .iter()
        .map(|l| match l.copy {
            Some(c) => format!("{} ({c})", l.recommendation),
            None => l.recommendation.to_string(),
        })
        .collect();
    let legend = [
        (
            Recommendation::CoupleRecords,
            "both sides have rows: couple them (coupler couple), don't copy them",
        ),
        (
            Recommendation::FullSynchronization {
                to_integration: true,
            },
            "only the local side has rows: copy them to the integration side",
        ),
        (
            Recommendation::FullSynchronization {
                to_integration: false,
            },
            "only the integration side has rows: copy them to the local side",
        ),
        (
            Recommendation::NoRecordsFound,
            "neither side has rows: nothing to start",
        ),
    ];
    let explained: Vec<_> = legend
        .iter()
        .filter(|(r, _)| used.contains(&r.text()))
        .collect();
    if !explained.is_empty() {
        println!();
        for (r, text) in explained {
            println!("  {} — {text}.", r.text());
        }
    }
    if lines.iter().any(|l| l.dependency_not_satisfied) {
        println!("  Dependency not satisfied — a dependency (other than SALESPEOPLE) has neither Full Synchronization nor Couple Records (the rule of older BC versions; current BC starts the mapping anyway once its dependencies are done).");
    }
    let notes: Vec<&ReviewLine> = lines.iter().filter(|l| l.bc_note.is_some()).collect();
    if !notes.is_empty() {
        println!();
        println!("  Counted after each mapping's filters for every mapping. Where BC has a rule of its own:");
        for l in notes {
            println!("    {}: {}.", l.mapping, l.bc_note.unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommendation_follows_the_three_way_rule() {
        assert_eq!(Recommendation::of(0, 0), Recommendation::NoRecordsFound);
        assert_eq!(Recommendation::of(3, 1), Recommendation::CoupleRecords);
        assert_eq!(
            Recommendation::of(2, 0).text(),
            "Full Synchronization (to-integration)"
        );
        assert_eq!(
            Recommendation::of(0, 2).text(),
            "Full Synchronization (from-integration)"
        );
    }
}
