//! `coupler criteria compare`: several criteria sets ("variants") run on the same data, read
//! once, side by side; with a truth file, each one scored (precision, recall, F1).
//!
//! # Variants
//!
//! The mapping's own criteria are the first variant, `configured`. More come from `[[variants]]`
//! tables in the config and, with `--variants FILE`, from that file (which holds `[[variants]]`
//! only), in that order:
//!
//! ```toml
//! [[variants]]
//! name = "phone-then-email"        # unique; also a folder name under <out>/<MAPPING>/criteria/
//! priority_mode = "cumulative"     # optional; default: the mapping's
//! [[variants.fields]]              # the [[mappings.fields]] form; match defaults to true here
//! local = "Phone No."
//! integration = "telephone1"
//! type = "text"                    # default text
//! priority = 0                     # default 0
//! case_sensitive = false           # default false
//! ```
//!
//! Every variant runs with the mapping's keys, filters and existing couplings (the mapping's
//! couplings CSV, every other mapping's couplings CSV, and the coupling store if one exists — as
//! `couple` does); only the criteria (and optionally the priority mode) change. Both sides are
//! read once, with the columns of every variant; a variant naming a column that does not exist
//! stops the command with an error naming the variant and the column. A Dataverse integration
//! side is read whole (`bulk`), since the variants need different rows.
//!
//! # What is measured
//!
//! Per variant: the outcome counts (as in `job.json`), the records coupled at each priority
//! level, and the matching time (`time_ms`: the engine's run on tables already read; reading is
//! done once and reported separately). With `--truth FILE` (CSV with a header holding
//! `local_id` and `integration_id`, one correct pair per line, the form of `couplings.csv`) each
//! variant is scored by the rules of [`coupler_engine::metrics`]: only records in the results
//! that were not `skipped` count; TP = coupled to a truth partner, FP = coupled to anything else,
//! FN = listed in the truth and not coupled to a truth partner; precision, recall and F1 follow.
//! The wrongly coupled and the missed pairs of each variant are written to
//! `<out>/<MAPPING>/criteria/<variant>/wrong-pairs.csv`:
//!
//! | column | content |
//! |---|---|
//! | `local_id` | the local record |
//! | `coupled_integration_id` | what the variant coupled it to (empty if nothing) |
//! | `true_integration_id` | its partner in the truth (empty if the truth does not list it; several `\|`-separated) |
//! | `kind` | `false_positive` (coupled wrongly) or `false_negative` (its truth pair was missed); a record coupled to the wrong partner has one row of each |
//! | `outcome` | the record's outcome under this variant (`coupled`, `no_match`, `multiple_matches`, …) |
//!
//! The table on stdout ranks the variants by F1 (then precision); `--json` prints the same as a
//! JSON array, one object per variant in run order, also written to
//! `<out>/<MAPPING>/criteria/compare.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use coupler_engine::metrics::{evaluate, Evaluation, ScoredRecord, Truth};
use coupler_engine::{
    couple as run_coupling, Blocking, Comparator, CouplingSpec, ExistingCouplings, Outcome,
    PriorityMode, RunOptions, Table, OUTCOME_NAMES,
};
use coupler_files::{read_couplings, write_atomically, SafeCsvWriter};
use serde::Serialize;

use crate::config::load_variants_file;
use crate::job::{lookup_reports, LookupReport};
use crate::outputs::folder_name;
use crate::plan::{add_columns, file_name, Plan, PlannedMapping};
use crate::report_html::{compare_page, VariantSummary};
use crate::sources::{
    existing_couplings, read_coupling_files, translations, Columns, Prepared, Rows, Sides, Sources,
    Translations,
};
use crate::store;

pub struct CompareArgs {
    pub config: PathBuf,
    pub mapping: String,
    pub variants: Option<PathBuf>,
    pub truth: Option<PathBuf>,
    pub out: PathBuf,
    pub json: bool,
    pub report: Option<PathBuf>,
}

/// The name of the mapping's own criteria set.
pub const CONFIGURED: &str = "configured";

/// The columns of `wrong-pairs.csv`.
pub const WRONG_PAIRS_HEADER: [&str; 5] = [
    "local_id",
    "coupled_integration_id",
    "true_integration_id",
    "kind",
    "outcome",
];

/// One criteria set to run.
struct Variant {
    name: String,
    spec: CouplingSpec,
}

/// One variant's criterion, as `--json` shows it.
#[derive(Debug, Serialize)]
struct CriterionJson {
    local: String,
    integration: String,
    #[serde(rename = "type")]
    field_type: &'static str,
    priority: u32,
    case_sensitive: bool,
    /// Beyond BC: the normalizers, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    normalize: Vec<String>,
    /// Beyond BC: the fuzzy comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    compare: Option<FuzzyJson>,
    /// Beyond BC: the mapping whose couplings translate this lookup.
    #[serde(skip_serializing_if = "Option::is_none")]
    via: Option<String>,
}

#[derive(Debug, Serialize)]
struct FuzzyJson {
    metric: &'static str,
    threshold: f64,
    tie_margin: f64,
    blocking: String,
}

/// One variant's results (`--json`, `compare.json`).
#[derive(Debug, Serialize)]
struct VariantJson {
    variant: String,
    criteria: Vec<CriterionJson>,
    priority_mode: &'static str,
    outcomes: BTreeMap<String, u64>,
    coupled_by_level: BTreeMap<u32, u64>,
    time_ms: u64,
    true_positives: Option<u64>,
    false_positives: Option<u64>,
    false_negatives: Option<u64>,
    precision: Option<f64>,
    recall: Option<f64>,
    f1: Option<f64>,
    /// False positives by the priority of the level that coupled them.
    #[serde(skip_serializing_if = "Option::is_none")]
    false_positives_by_level: Option<BTreeMap<u32, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wrong_pairs: Option<String>,
    /// Lookup criteria: how many keys their mapping's couplings could not translate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    lookups: Vec<LookupReport>,
}

pub fn compare(args: CompareArgs) -> Result<()> {
    let plan = Plan::load(&args.config)?;
    let m = plan.select(std::slice::from_ref(&args.mapping))?[0];
    // The truth first: a malformed file fails before any work.
    let truth = match &args.truth {
        Some(path) => Some(read_truth(path)?),
        None => None,
    };
    let mut sources = Sources::open(&plan, &[m])?;
    let mut store = store::open_for(&plan, false)?;
    let stored = store::read_couplings(&plan, &mut store)?;
    let files = read_coupling_files(&plan)?;
    let existing = existing_couplings(&m.name, &files, &stored, &[]);
    let mut prepared =
        sources
            .prepare(m)?
            .with_translations(translations(&m.lookups, &files, &stored, &[]))?;
    for w in &m.warnings {
        eprintln!("coupler: warning: {w}");
    }
    let lookups = |names: &[String]| translations(names, &files, &stored, &[]);
    let variants = variants(
        &plan,
        &mut sources,
        &mut prepared,
        args.variants.as_deref(),
        &lookups,
    )?;

    // Read both sides once, with every column any variant needs; the variants need different
    // rows of a Dataverse table, so the whole table is read.
    let columns = Columns::only(
        union(variants.iter().map(|v| v.spec.local_columns())),
        union(variants.iter().map(|v| v.spec.integration_columns())),
    );
    let t0 = Instant::now();
    let Sides {
        local, integration, ..
    } = sources.read_sides(&prepared, &columns, Rows::Whole)?;
    let read_time = t0.elapsed();

    let dir = args.out.join(folder_name(&m.name)).join("criteria");
    let mut results = Vec::with_capacity(variants.len());
    let mut summary_head = None;
    for v in &variants {
        let (json, head) = run_variant(v, &local, &integration, &existing, truth.as_ref(), &dir)?;
        summary_head.get_or_insert(head);
        results.push(json);
    }
    if let Some(truth) = &truth {
        let scored: u64 = results.first().map_or(0, |r| {
            r.true_positives.unwrap_or(0) + r.false_negatives.unwrap_or(0)
        });
        if scored == 0 && truth.pairs() > 0 {
            eprintln!("coupler: warning: none of the {} truth pair(s) belongs to a record of the results (filtered out, skipped, or another table's ids?): recall is 0 for every variant", truth.pairs());
        }
    }

    let mut bytes = serde_json::to_vec_pretty(&results)?;
    bytes.push(b'\n');
    write_atomically(&dir.join("compare.json"), &bytes)?;
    if let Some(report) = &args.report {
        let summaries: Vec<VariantSummary> = results.iter().map(summary_of).collect();
        write_atomically(report, compare_page(&m.name, &summaries).as_bytes())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        let (local_records, candidates) = summary_head.unwrap_or_default();
        print_table(
            m,
            &results,
            local_records,
            candidates,
            read_time,
            args.truth.as_deref().zip(truth.as_ref()),
            &dir,
        );
        if let Some(report) = &args.report {
            println!("  report: {}", report.display());
        }
    }
    Ok(())
}

/// The correct pairs: a CSV with `local_id` and `integration_id` columns (as `couplings.csv`).
fn read_truth(path: &Path) -> Result<Truth> {
    let rows = read_couplings(path).context("--truth")?;
    Ok(Truth::new(rows.into_iter().map(|(l, i, _)| (l, i))))
}

/// The configured criteria, then the config's `[[variants]]`, then `--variants FILE`'s; each
/// variant's columns checked in the sources and its option maps read (Dataverse) before its
/// spec is built.
fn variants(
    plan: &Plan,
    sources: &mut Sources,
    prepared: &mut Prepared<'_>,
    file: Option<&Path>,
    lookups: &dyn Fn(&[String]) -> Translations,
) -> Result<Vec<Variant>> {
    let m = prepared.mapping;
    let mut out = vec![Variant {
        name: CONFIGURED.to_string(),
        spec: prepared.spec.clone(),
    }];
    let mut configs = vec![(plan.path.clone(), plan.variants()?)];
    if let Some(path) = file {
        configs.push((path.to_path_buf(), load_variants_file(path)?));
    }
    for (path, configs) in configs {
        for v in configs {
            let name = v.name.trim().to_string();
            let context = || format!("{}: variant '{name}'", path.display());
            if name.is_empty() {
                bail!("{}: a [[variants]] table has a blank name", path.display());
            }
            if let Some(other) = out
                .iter()
                .find(|o| folder_name(&o.name).to_lowercase() == folder_name(&name).to_lowercase())
            {
                if other.name == CONFIGURED {
                    bail!("{}: the name '{CONFIGURED}' is taken by the mapping's own criteria; rename the variant", context());
                }
                bail!(
                    "{}: the name is used twice (also '{}')",
                    context(),
                    other.name
                );
            }
            let (local, integration) = v.criterion_columns();
            sources
                .check_columns(m, &local, &integration)
                .with_context(context)?;
            let wanted: Vec<String> = v
                .option_columns_from_metadata()
                .into_iter()
                .filter(|c| !prepared.facts.options.contains_key(c))
                .collect();
            let more = sources.choice_options(m, &wanted).with_context(context)?;
            prepared.facts.options.extend(more);
            // A variant may look up through mappings the configured criteria do not.
            let mut wanted = Vec::new();
            for via in v.fields.iter().filter_map(|f| f.via.as_ref()) {
                if !plan.mappings.iter().any(|o| &o.name == via) {
                    bail!(
                        "{}: via = \"{via}\" names no mapping of {}",
                        context(),
                        plan.path.display()
                    );
                }
                if !prepared.facts.translations.contains_key(via) {
                    wanted.push(via.clone());
                }
            }
            prepared.facts.translations.extend(lookups(&wanted));
            let spec = m
                .variant_spec(&prepared.spec, &v, &prepared.facts)
                .with_context(context)?;
            out.push(Variant { name, spec });
        }
    }
    Ok(out)
}

/// Runs one variant; returns its results and (local records, candidates).
fn run_variant(
    v: &Variant,
    local: &Table,
    integration: &Table,
    existing: &ExistingCouplings,
    truth: Option<&Truth>,
    dir: &Path,
) -> Result<(VariantJson, (u64, u64))> {
    let t = Instant::now();
    let run = run_coupling(&v.spec, local, integration, existing, RunOptions::default())
        .with_context(|| format!("variant '{}'", v.name))?;
    let time = t.elapsed();
    let priorities = run.priorities();
    let mut coupled_by_level: BTreeMap<u32, u64> = BTreeMap::new();
    for r in run.outcomes() {
        if let Outcome::Coupled { level, .. } = r.outcome {
            *coupled_by_level
                .entry(priorities[level as usize])
                .or_default() += 1;
        }
    }
    let evaluation: Option<Evaluation> = truth.map(|truth| {
        let records = run.outcomes().iter().map(|r| ScoredRecord {
            local_id: run.local_id(r),
            outcome: r.outcome.name(),
            coupled: match r.outcome {
                Outcome::Coupled {
                    integration_row,
                    level,
                } => Some((
                    run.integration_id(integration_row),
                    priorities[level as usize],
                )),
                _ => None,
            },
        });
        evaluate(records, truth)
    });
    let mut wrong_pairs = None;
    if let Some(e) = &evaluation {
        let path = dir.join(folder_name(&v.name)).join("wrong-pairs.csv");
        let mut w = SafeCsvWriter::new(&path, &WRONG_PAIRS_HEADER, &[true, true, true])?;
        for p in &e.wrong {
            w.write_row([
                p.local_id.as_str(),
                &p.coupled_integration_id,
                &p.true_integration_id,
                p.kind.name(),
                p.outcome,
            ])?;
        }
        w.finish()?;
        wrong_pairs = Some(path.display().to_string());
    }
    let log = run.log();
    let json = VariantJson {
        variant: v.name.clone(),
        criteria: v
            .spec
            .criteria
            .iter()
            .map(|c| CriterionJson {
                local: c.local_field.clone(),
                integration: c.integration_field.clone(),
                field_type: c.field_type.name(),
                priority: c.priority,
                case_sensitive: c.case_sensitive,
                normalize: c.normalizers.iter().map(|n| n.describe()).collect(),
                compare: match c.comparator {
                    Comparator::Exact => None,
                    Comparator::Fuzzy(f) => Some(FuzzyJson {
                        metric: f.metric.name(),
                        threshold: f.threshold,
                        tie_margin: f.tie_margin,
                        blocking: match f.blocking {
                            Blocking::Prefix(n) | Blocking::SortedNeighbourhood(n) => {
                                format!("{} {n}", f.blocking.name())
                            }
                            Blocking::FirstToken => f.blocking.name().to_string(),
                        },
                    }),
                },
                via: c.via.as_ref().map(|t| t.mapping().to_string()),
            })
            .collect(),
        priority_mode: match v.spec.priority_mode {
            PriorityMode::Cumulative => "cumulative",
            PriorityMode::Independent => "independent",
        },
        outcomes: log
            .outcomes
            .pairs()
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect(),
        coupled_by_level,
        time_ms: time.as_millis() as u64,
        true_positives: evaluation.as_ref().map(|e| e.confusion.true_positives),
        false_positives: evaluation.as_ref().map(|e| e.confusion.false_positives),
        false_negatives: evaluation.as_ref().map(|e| e.confusion.false_negatives),
        precision: evaluation.as_ref().map(|e| e.confusion.precision()),
        recall: evaluation.as_ref().map(|e| e.confusion.recall()),
        f1: evaluation.as_ref().map(|e| e.confusion.f1()),
        false_positives_by_level: evaluation.map(|e| e.false_positives_by_level),
        wrong_pairs,
        lookups: lookup_reports(&run),
    };
    Ok((json, (log.local_records, log.integration_records)))
}

fn summary_of(r: &VariantJson) -> VariantSummary {
    VariantSummary {
        name: r.variant.clone(),
        outcomes: r.outcomes.clone(),
        coupled_by_level: r.coupled_by_level.clone(),
        time_ms: r.time_ms,
        true_positives: r.true_positives,
        false_positives: r.false_positives,
        false_negatives: r.false_negatives,
        precision: r.precision,
        recall: r.recall,
        f1: r.f1,
    }
}

/// The criteria of a variant on one line: `p0 Phone No.=telephone1; p1 Name=name (case-sensitive)`;
/// a fuzzy criterion reads `p1 Name~name (jaro_winkler ≥ 0.94, normalized)`.
fn describe(r: &VariantJson) -> String {
    let mut parts: Vec<String> = r
        .criteria
        .iter()
        .map(|c| {
            let sign = if c.compare.is_some() { "~" } else { "=" };
            let mut s = format!("p{} {}{sign}{}", c.priority, c.local, c.integration);
            let mut notes = Vec::new();
            if let Some(f) = &c.compare {
                notes.push(format!("{} ≥ {}", f.metric, f.threshold));
            }
            if !c.normalize.is_empty() {
                notes.push("normalized".to_string());
            }
            if c.field_type != "text" {
                notes.push(c.field_type.to_string());
            }
            if c.case_sensitive && matches!(c.field_type, "text" | "code") {
                notes.push("case-sensitive".to_string());
            }
            if !notes.is_empty() {
                s.push_str(&format!(" ({})", notes.join(", ")));
            }
            s
        })
        .collect();
    if parts.is_empty() {
        parts.push("no match criteria".to_string());
    }
    let mut s = parts.join("; ");
    if r.priority_mode == "independent" {
        s.push_str(" [independent levels]");
    }
    s
}

fn print_table(
    m: &PlannedMapping,
    results: &[VariantJson],
    local_records: u64,
    candidates: u64,
    read_time: Duration,
    truth: Option<(&Path, &Truth)>,
    dir: &Path,
) {
    println!(
        "{} ({}) — criteria compare, {} variant(s) on {} local record(s), {} candidate(s) in {}; data read once in {} ms",
        m.name,
        m.friendly_name(),
        results.len(),
        local_records,
        candidates,
        m.integration.describe(),
        read_time.as_millis()
    );
    let w = results
        .iter()
        .map(|r| r.variant.chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    println!();
    println!("  criteria:");
    for r in results {
        println!("    {:<w$}  {}", r.variant, describe(r));
    }
    println!();
    let mut header = format!("  {:<w$}", "variant");
    for name in OUTCOME_NAMES {
        header.push_str(&format!("  {name:>w2$}", w2 = name.len().max(7)));
    }
    header.push_str("  time ms");
    println!("{header}");
    for r in results {
        let mut line = format!("  {:<w$}", r.variant);
        for name in OUTCOME_NAMES {
            let n = r.outcomes.get(name).copied().unwrap_or(0);
            line.push_str(&format!("  {n:>w2$}", w2 = name.len().max(7)));
        }
        line.push_str(&format!("  {:>7}", r.time_ms));
        println!("{line}");
    }
    println!();
    println!("  coupled by priority level:");
    for r in results {
        let levels: Vec<String> = r
            .coupled_by_level
            .iter()
            .map(|(p, n)| format!("p{p} {n}"))
            .collect();
        println!(
            "    {:<w$}  {}",
            r.variant,
            if levels.is_empty() {
                "-".to_string()
            } else {
                levels.join(", ")
            }
        );
    }
    if let Some((path, truth)) = truth {
        println!();
        println!(
            "  against {} ({} pair(s); records filtered out or skipped are not scored), best first:",
            file_name(path),
            truth.pairs()
        );
        println!(
            "  rank  {:<w$}  {:>8}  {:>8}  {:>8}  {:>9}  {:>7}  {:>7}",
            "variant", "TP", "FP", "FN", "precision", "recall", "F1"
        );
        for (rank, r) in ranked(results).into_iter().enumerate() {
            println!(
                "  {:>4}  {:<w$}  {:>8}  {:>8}  {:>8}  {:>9.4}  {:>7.4}  {:>7.4}",
                rank + 1,
                r.variant,
                r.true_positives.unwrap_or(0),
                r.false_positives.unwrap_or(0),
                r.false_negatives.unwrap_or(0),
                r.precision.unwrap_or(0.0),
                r.recall.unwrap_or(0.0),
                r.f1.unwrap_or(0.0)
            );
        }
        println!();
        println!(
            "  wrong pairs: {}",
            dir.join("<variant>").join("wrong-pairs.csv").display()
        );
    }
    println!("  all figures: {}", dir.join("compare.json").display());
    println!();
}

/// Best first: F1, then precision, then run order.
fn ranked(results: &[VariantJson]) -> Vec<&VariantJson> {
    let mut v: Vec<&VariantJson> = results.iter().collect();
    v.sort_by(|a, b| {
        let key = |r: &VariantJson| (r.f1.unwrap_or(0.0), r.precision.unwrap_or(0.0));
        let (ka, kb) = (key(a), key(b));
        kb.0.total_cmp(&ka.0).then(kb.1.total_cmp(&ka.1))
    });
    v
}

/// Every column once, in first-seen order.
fn union(lists: impl Iterator<Item = Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for list in lists {
        add_columns(&mut out, list.iter().filter(|c| !c.is_empty()));
    }
    out
}
