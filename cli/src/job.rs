//! The job document, `job.json`: one mapping's job as `couple` writes it, the store keeps it
//! and `jobs show`, the summary and the HTML report read it back — typed both ways, so that
//! every reader sees the fields the writer wrote. BC's counter and outcome names come from the
//! engine ([`coupler_engine::OUTCOME_NAMES`] and the counters' names).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use coupler_dataverse::HttpCounts;
use coupler_engine::{Collation, Comparator, CouplingRun};
use serde::{Deserialize, Serialize};

use crate::apply::Applied;

/// `job.json`: BC's job summary first (its fields up to `timings_ms`), then what coupler adds.
/// `docs/reference.md` describes every field.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobJson {
    pub job_id: String,
    pub mapping: String,
    #[serde(rename = "type")]
    pub job_type: String,
    pub dry_run: bool,
    pub started_at: String,
    pub finished_at: String,
    pub counters: BTreeMap<String, u64>,
    pub outcomes: BTreeMap<String, u64>,
    pub errors: Vec<ErrorRow>,
    pub local_records: u64,
    pub integration_records: u64,
    pub timings_ms: Timings,
    pub local_records_read: u64,
    pub integration_records_read: u64,
    /// Outcome counts by the priority level that decided (coupled) or was evaluated last.
    pub by_priority: BTreeMap<u32, BTreeMap<String, u64>>,
    pub files: Files,
    pub threads: usize,
    /// Peak resident memory of the process (MB) after each step, where the OS tells (Linux).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peak_memory_mb: BTreeMap<String, u64>,
    /// Dataverse-backed jobs: requests, retries and throttled answers .
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCounts>,
    /// Dataverse-backed jobs: how the integration side was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_read: Option<IntegrationRead>,
    /// BC's name of the table mapping (`Customer - Account`).
    pub table_mapping: String,
    /// What the integration side is called in messages (a file, or the environment URL).
    pub integration_source: String,
    /// With `--apply`: what was committed to the coupling store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<Committed>,
    /// `sync_after_coupling`: the plan, and with `--apply` what was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncReport>,
    /// `create_new_if_no_match` with `--apply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_new: Option<CreateReport>,
    /// `--compare-collation`: records whose outcome differs under the other collation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation_diff: Option<CollationDiff>,
    /// Fuzzy criteria: how the scores of the decided records are distributed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_scores: Option<MatchScores>,
    /// Lookup criteria (`via`): how many values their mapping's couplings could translate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lookups: Vec<LookupReport>,
}

/// One lookup criterion (`via`) of a job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LookupReport {
    /// The local field (`Company No.`).
    pub field: String,
    /// The mapping it translates through (`CUSTOMER`).
    pub via: String,
    /// That mapping's couplings the job could translate through.
    pub couplings: u64,
    /// Local records taking part whose non-blank key no coupling translates.
    pub not_coupled: u64,
}

/// The fuzzy scores of the records whose deciding level had fuzzy criteria (coupled ones, and
/// the others with a best candidate), by bucket.
#[derive(Debug, Serialize, Deserialize)]
pub struct MatchScores {
    pub scored: u64,
    pub coupled: u64,
    pub min_coupled: Option<f64>,
    pub mean_coupled: Option<f64>,
    /// `[from, to)`, coupled records, other records (1.0 alone: identical after normalizing).
    pub buckets: Vec<ScoreBucket>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ScoreBucket {
    pub from: f64,
    pub to: f64,
    pub coupled: u64,
    pub other: u64,
}

/// Bucket bounds of [`MatchScores`]: coarse below 0.9, where few matches should be.
const SCORE_BOUNDS: [f64; 10] = [0.0, 0.8, 0.85, 0.9, 0.92, 0.94, 0.96, 0.98, 1.0, 1.0 + 1e-9];

/// Each lookup criterion's translation, for `job.json` and the report.
pub fn lookup_reports(run: &CouplingRun<'_>) -> Vec<LookupReport> {
    let spec = run.spec();
    run.untranslated_counts()
        .into_iter()
        .filter_map(|(c, not_coupled)| {
            let criterion = &spec.criteria[c];
            let via = criterion.via.as_ref()?;
            Some(LookupReport {
                field: criterion.local_field.clone(),
                via: via.mapping().to_string(),
                couplings: via.len() as u64,
                not_coupled,
            })
        })
        .collect()
}

/// The distribution of the scores `write_rows` rendered (`(coupled, score)` per scored record),
/// for mappings with fuzzy criteria.
pub fn match_scores(run: &CouplingRun<'_>, scored: &[(bool, f64)]) -> Option<MatchScores> {
    let fuzzy = run
        .spec()
        .criteria
        .iter()
        .any(|c| c.comparator != Comparator::Exact);
    if !fuzzy {
        return None;
    }
    let mut buckets: Vec<ScoreBucket> = SCORE_BOUNDS
        .windows(2)
        .map(|w| ScoreBucket {
            from: w[0],
            to: w[1].min(1.0),
            coupled: 0,
            other: 0,
        })
        .collect();
    let (mut coupled, mut sum, mut min) = (0u64, 0.0, f64::INFINITY);
    for &(is_coupled, score) in scored {
        let b = SCORE_BOUNDS[1..]
            .iter()
            .position(|&to| score < to)
            .unwrap_or(buckets.len() - 1);
        if is_coupled {
            buckets[b].coupled += 1;
            coupled += 1;
            sum += score;
            min = min.min(score);
        } else {
            buckets[b].other += 1;
        }
    }
    Some(MatchScores {
        scored: scored.len() as u64,
        coupled,
        min_coupled: (coupled > 0).then_some(min),
        mean_coupled: (coupled > 0).then(|| sum / coupled as f64),
        buckets,
    })
}

/// What `--compare-collation` found.
#[derive(Debug, Serialize, Deserialize)]
pub struct CollationDiff {
    /// The collation of this job and the one it was compared with.
    pub configured: String,
    pub compared_with: String,
    /// Records whose outcome or coupled id differs.
    pub records: u64,
    pub file: String,
}

pub fn collation_name(c: Collation) -> &'static str {
    match c {
        Collation::Exact => "exact",
        Collation::Dataverse {
            accent_sensitive: false,
        } => "dataverse (case- and accent-insensitive)",
        Collation::Dataverse {
            accent_sensitive: true,
        } => "dataverse (case-insensitive, accent-sensitive)",
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorRow {
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Timings {
    pub read: u64,
    #[serde(rename = "match")]
    pub matching: u64,
    pub write: u64,
    /// The engine's phases (extension), in microseconds.
    pub match_phases_us: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Files {
    pub results: String,
    pub couplings: String,
    pub job: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SyncReport {
    pub plan: String,
    pub pairs: u64,
    pub to_integration_updates: u64,
    pub from_integration_updates: u64,
    pub unchanged: u64,
    pub conflicts: u64,
    pub failed: u64,
    /// With `--apply`: what the server confirmed (this job's writes and any an interrupted run
    /// left pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    /// With `--apply`: the local-side updates, for import into BC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bc_updates: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CreateReport {
    /// Unmatched records this job planned a new Dataverse row for.
    pub planned: u64,
    /// Rows whose create the server confirmed in this run (this job's and resumed ones), each
    /// coupled to the record that asked for it.
    pub created: u64,
    /// Of these, rows an earlier attempt had already made (412 on the repeat).
    pub already_existed: u64,
    /// Creates an earlier, interrupted run had planned, sent in this run.
    pub resumed: u64,
    /// Refused by Dataverse: not created, coupling withdrawn.
    pub failed: u64,
    /// Throttled past the retry budget: still pending (the record stays reserved).
    pub pending: u64,
    /// Records another job coupled between matching and committing: no row planned.
    pub withdrawn: u64,
    pub file: String,
}

/// What a job committed (job.json's `store`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Committed {
    pub path: String,
    /// Couplings stored by this job.
    pub inserted: u64,
    /// Pairs the store already held, stored by another job meanwhile: reported `skipped`.
    pub unchanged: u64,
    /// Pairs another job committed first: reported `already_coupled` (or `skipped`).
    pub conflicts: u64,
}

/// How the integration side was read (for job.json and the summary).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntegrationRead {
    pub source: String,
    pub table: String,
    /// `bulk` or `lookup`.
    pub strategy: String,
    /// Why this strategy (auto's reasoning, or "configured").
    pub reason: String,
    /// The table filter's conditions sent to Dataverse as `$filter` (the whole table filter
    /// is evaluated locally too: Dataverse compares case-insensitively).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pushed_down: Vec<String>,
}

impl JobJson {
    /// A job document as `couple` wrote it (`jobs show`, the report).
    pub fn parse(text: &str, source: &Path) -> Result<JobJson> {
        serde_json::from_str(text)
            .with_context(|| format!("{}: not a job document coupler wrote", source.display()))
    }

    /// The count of a counter (`coupled`, `failed`, …) or outcome, 0 when absent.
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    pub fn outcome(&self, name: &str) -> u64 {
        self.outcomes.get(name).copied().unwrap_or(0)
    }
}
