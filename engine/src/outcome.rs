//! What a coupling job produced: one outcome per local record, its per-level trace, and BC's job
//! log (counters and error rows), with BC's exact texts.

use crate::mapping::CouplingSpec;

/// The result of one priority level for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelResult<'r> {
    /// Every criterion of the level was blank text/code: no filter, counted as no match.
    Blank,
    /// No integration record satisfied the conditions.
    NoMatch,
    /// No match, because a lookup criterion in force (`via`) holds a key its mapping has not
    /// coupled (the key, canonical): no integration row can meet that condition.
    NotCoupled(&'r str),
    /// Several integration records satisfied the conditions.
    Multiple(u32),
    /// Exactly one, but it is already coupled.
    AlreadyCoupled,
    /// Exactly one, free: coupled.
    Coupled,
}

/// One evaluated level: its priority and its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelTrace<'r> {
    /// The match priority of the level.
    pub priority: u32,
    /// What the level found.
    pub result: LevelResult<'r>,
}

impl LevelResult<'_> {
    /// Writes the result as a trace shows it (`no_match`, `multiple(3)`, …): for `LevelTrace`'s
    /// `Display`, and for rendering rows without formatting machinery for the common results.
    pub fn write_to(self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        out.write_str(match self {
            LevelResult::Blank => "no_match(blank)",
            LevelResult::NoMatch => "no_match",
            LevelResult::NotCoupled(key) => return write!(out, "no_match(not coupled: {key})"),
            LevelResult::Multiple(n) => return write!(out, "multiple({n})"),
            LevelResult::AlreadyCoupled => "already_coupled",
            LevelResult::Coupled => "coupled",
        })
    }
}

impl std::fmt::Display for LevelTrace<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p{}:", self.priority)?;
        self.result.write_to(f)
    }
}

/// Who holds an integration record that a local record matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A coupling that existed before this job (its local id is in [`crate::ExistingCouplings`]).
    Existing,
    /// A local record (row index) coupled earlier in this job.
    ThisJob(u32),
    /// A coupling another job committed while this one ran (found when committing; see
    /// [`crate::CouplingRun::demote_to_already_coupled`]).
    ConcurrentJob,
}

impl Holder {
    /// `existing` or `this_job`, as written in `results.csv`.
    pub fn origin(self) -> &'static str {
        match self {
            Holder::Existing => "existing",
            Holder::ThisJob(_) => "this_job",
            Holder::ConcurrentJob => "concurrent_job",
        }
    }
}

/// The outcome of one local record. `level` is an index into the run's priority list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Coupled to `integration_row` at `level`.
    Coupled { integration_row: u32, level: u16 },
    /// The last evaluated level found nothing (or was all blank).
    NoMatch { level: u16 },
    /// The last evaluated level found `count` records (listed by
    /// [`crate::CouplingRun::candidates`]).
    MultipleMatches { level: u16, count: u32 },
    /// The last evaluated level found one record, already coupled to `holder`.
    AlreadyCoupled {
        level: u16,
        integration_row: u32,
        holder: Holder,
    },
    /// The mapping has no match criteria (BC: M1).
    NoCriteria,
    /// The local record is already coupled; BC filters it out before matching.
    Skipped,
}

impl Outcome {
    /// The outcome's name in `results.csv` and `job.json` (one of [`OUTCOME_NAMES`]).
    ///
    /// ```
    /// use coupler_engine::{Outcome, OUTCOME_NAMES};
    ///
    /// let outcome = Outcome::MultipleMatches { level: 1, count: 3 };
    /// assert_eq!(outcome.name(), "multiple_matches");
    /// assert_eq!(OUTCOME_NAMES[outcome.index()], outcome.name());
    /// assert_eq!(outcome.level(), Some(1));
    /// assert!(outcome.is_failure());
    /// assert!(!Outcome::Skipped.is_failure());
    /// assert_eq!(Outcome::Skipped.level(), None);
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Coupled { .. } => "coupled",
            Outcome::NoMatch { .. } => "no_match",
            Outcome::MultipleMatches { .. } => "multiple_matches",
            Outcome::AlreadyCoupled { .. } => "already_coupled",
            Outcome::NoCriteria => "no_criteria",
            Outcome::Skipped => "skipped",
        }
    }

    /// The outcome's position in [`OUTCOME_NAMES`] (and in [`OutcomeCounts::pairs`]).
    pub fn index(&self) -> usize {
        match self {
            Outcome::Coupled { .. } => 0,
            Outcome::NoMatch { .. } => 1,
            Outcome::MultipleMatches { .. } => 2,
            Outcome::AlreadyCoupled { .. } => 3,
            Outcome::NoCriteria => 4,
            Outcome::Skipped => 5,
        }
    }

    /// Whether the record is one of the job's failures ([`FAILURE_NAMES`]): not coupled
    /// although it took part. BC's `failed` counter counts the first three kinds (`no_match`,
    /// `multiple_matches`, `already_coupled`) in its M2 error row; a mapping without criteria
    /// (`no_criteria`) fails as a whole (M1, `failed` = 1).
    pub fn is_failure(&self) -> bool {
        !matches!(self, Outcome::Coupled { .. } | Outcome::Skipped)
    }

    /// The failure's position in [`FAILURE_NAMES`], if the record failed.
    pub fn failure_index(&self) -> Option<usize> {
        // FAILURE_NAMES are the failures of OUTCOME_NAMES, in the same order, after `coupled`
        // (a test ties them).
        self.is_failure().then(|| self.index() - 1)
    }

    /// The level that decided, or the last level evaluated.
    pub fn level(&self) -> Option<u16> {
        match *self {
            Outcome::Coupled { level, .. }
            | Outcome::NoMatch { level }
            | Outcome::MultipleMatches { level, .. }
            | Outcome::AlreadyCoupled { level, .. } => Some(level),
            Outcome::NoCriteria | Outcome::Skipped => None,
        }
    }
}

/// All outcome names, in the order reports list them ([`Outcome::name`], the keys of
/// `job.json`'s `outcomes` and `by_priority`, the `outcome` column of `results.csv`).
pub const OUTCOME_NAMES: [&str; 6] = [
    "coupled",
    "no_match",
    "multiple_matches",
    "already_coupled",
    "no_criteria",
    "skipped",
];

/// The outcomes that are failures ([`Outcome::is_failure`]), in [`OUTCOME_NAMES`] order.
pub const FAILURE_NAMES: [&str; 4] = [
    "no_match",
    "multiple_matches",
    "already_coupled",
    "no_criteria",
];

/// BC's counters of an Integration Synch. Job ([`Counters`]), in the order `job.json`, the store
/// and the reports list them: the keys of `job.json`'s `counters`.
pub const COUNTER_NAMES: [&str; 8] = [
    "coupled",
    "failed",
    "skipped",
    "inserted",
    "modified",
    "deleted",
    "unchanged",
    "uncoupled",
];

/// One local record's outcome.
///
/// A run lists one per local record that passes the local filter, in processing order
/// ([`crate::CouplingRun::outcomes`]); the run names the records and candidates by id and gives
/// each record's per-level trace.
///
/// ```
/// # use coupler_engine::{couple, Collation, CouplingSpec, ExistingCouplings, FieldType,
/// #     MatchCriterion, PriorityMode, RunOptions, Table};
/// use coupler_engine::{Outcome, RecordOutcome};
///
/// # let spec = CouplingSpec {
/// #     mapping_name: "CUSTOMER".into(),
/// #     local_caption: "Customer".into(),
/// #     integration_caption: "Account".into(),
/// #     integration_source: "accounts.csv".into(),
/// #     local_key: "No.".into(),
/// #     integration_key: "accountid".into(),
/// #     criteria: vec![MatchCriterion::new("Name", "name", FieldType::Text, 0, false)],
/// #     priority_mode: PriorityMode::Cumulative,
/// #     collation: Collation::Exact,
/// #     local_filter: vec![],
/// #     integration_filter: vec![],
/// # };
/// // customers C1 "Contoso", C2 "Fabrikam"; accounts A1 "Contoso" (spec: Name = name).
/// # let customers = Table::from_rows("customers.csv", &["No.", "Name"],
/// #     &[vec!["C1", "Contoso"], vec!["C2", "Fabrikam"]])?;
/// # let accounts = Table::from_rows("accounts.csv", &["accountid", "name"],
/// #     &[vec!["A1", "Contoso"]])?;
/// # let existing = ExistingCouplings::new();
/// let run = couple(&spec, &customers, &accounts, &existing, RunOptions::default())?;
/// let coupled: Vec<(&str, &str)> = run
///     .outcomes()
///     .iter()
///     .filter_map(|record: &RecordOutcome| match record.outcome {
///         Outcome::Coupled { integration_row, .. } => {
///             Some((run.local_id(record), run.integration_id(integration_row)))
///         }
///         _ => None,
///     })
///     .collect();
/// assert_eq!(coupled, [("C1", "A1")]);
/// let second = &run.outcomes()[1];
/// assert_eq!((second.local_row, second.outcome.name()), (1, "no_match"));
/// assert_eq!(run.trace(second).map(|t| t.to_string()).collect::<Vec<_>>(), ["p0:no_match"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordOutcome {
    /// Row of the local table.
    pub local_row: u32,
    /// What happened.
    pub outcome: Outcome,
    pub(crate) trace_start: u32,
    pub(crate) trace_len: u16,
}

/// BC's counter set of an Integration Synch. Job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub coupled: u64,
    pub failed: u64,
    pub skipped: u64,
    pub inserted: u64,
    pub modified: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub uncoupled: u64,
}

impl Counters {
    /// `(name, count)` pairs in [`COUNTER_NAMES`] order (`job.json`'s `counters`).
    ///
    /// ```
    /// use coupler_engine::{Counters, COUNTER_NAMES};
    ///
    /// let mut counters = Counters { coupled: 300, failed: 27, ..Counters::default() };
    /// assert_eq!(counters.pairs()[..2], [("coupled", 300), ("failed", 27)]);
    /// assert_eq!(counters.pairs().map(|(name, _)| name), COUNTER_NAMES);
    /// // By name, as a job document spells them.
    /// assert_eq!(counters.get("failed"), Some(27));
    /// *counters.get_mut("inserted").unwrap() += 5;
    /// assert_eq!(counters.inserted, 5);
    /// assert_eq!(counters.get("Failed"), None);
    /// ```
    pub fn pairs(&self) -> [(&'static str, u64); 8] {
        [
            ("coupled", self.coupled),
            ("failed", self.failed),
            ("skipped", self.skipped),
            ("inserted", self.inserted),
            ("modified", self.modified),
            ("deleted", self.deleted),
            ("unchanged", self.unchanged),
            ("uncoupled", self.uncoupled),
        ]
    }

    /// The counter of a name in [`COUNTER_NAMES`].
    pub fn get(&self, name: &str) -> Option<u64> {
        self.pairs()
            .into_iter()
            .find_map(|(n, count)| (n == name).then_some(count))
    }

    /// The counter of a name in [`COUNTER_NAMES`], to set or add to.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut u64> {
        Some(match name {
            "coupled" => &mut self.coupled,
            "failed" => &mut self.failed,
            "skipped" => &mut self.skipped,
            "inserted" => &mut self.inserted,
            "modified" => &mut self.modified,
            "deleted" => &mut self.deleted,
            "unchanged" => &mut self.unchanged,
            "uncoupled" => &mut self.uncoupled,
            _ => return None,
        })
    }
}

/// Number of results rows per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    pub coupled: u64,
    pub no_match: u64,
    pub multiple_matches: u64,
    pub already_coupled: u64,
    pub no_criteria: u64,
    pub skipped: u64,
}

impl OutcomeCounts {
    /// The count of `o`'s outcome.
    fn count_of(&mut self, o: &Outcome) -> &mut u64 {
        match o {
            Outcome::Coupled { .. } => &mut self.coupled,
            Outcome::NoMatch { .. } => &mut self.no_match,
            Outcome::MultipleMatches { .. } => &mut self.multiple_matches,
            Outcome::AlreadyCoupled { .. } => &mut self.already_coupled,
            Outcome::NoCriteria => &mut self.no_criteria,
            Outcome::Skipped => &mut self.skipped,
        }
    }

    /// `(name, count)` pairs in [`OUTCOME_NAMES`] order (`job.json`'s `outcomes`).
    ///
    /// ```
    /// use coupler_engine::{OutcomeCounts, OUTCOME_NAMES};
    ///
    /// let mut counts = OutcomeCounts { coupled: 2, no_match: 1, ..OutcomeCounts::default() };
    /// assert_eq!(counts.pairs()[1], ("no_match", 1));
    /// assert_eq!(counts.pairs().map(|(name, _)| name), OUTCOME_NAMES);
    /// assert_eq!(counts.get("coupled"), Some(2));
    /// *counts.get_mut("skipped").unwrap() = 4;
    /// assert_eq!(counts.skipped, 4);
    /// assert_eq!(counts.get("failed"), None);
    /// ```
    pub fn pairs(&self) -> [(&'static str, u64); 6] {
        [
            ("coupled", self.coupled),
            ("no_match", self.no_match),
            ("multiple_matches", self.multiple_matches),
            ("already_coupled", self.already_coupled),
            ("no_criteria", self.no_criteria),
            ("skipped", self.skipped),
        ]
    }

    /// The count of an outcome name in [`OUTCOME_NAMES`].
    pub fn get(&self, name: &str) -> Option<u64> {
        let i = OUTCOME_NAMES.iter().position(|&n| n == name)?;
        Some(self.pairs()[i].1)
    }

    /// The count of an outcome name in [`OUTCOME_NAMES`], to set or add to.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut u64> {
        Some(match name {
            "coupled" => &mut self.coupled,
            "no_match" => &mut self.no_match,
            "multiple_matches" => &mut self.multiple_matches,
            "already_coupled" => &mut self.already_coupled,
            "no_criteria" => &mut self.no_criteria,
            "skipped" => &mut self.skipped,
            _ => return None,
        })
    }
}

/// The job log BC would write (counters and error rows), plus outcome counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobLog {
    /// BC's counters (parity).
    pub counters: Counters,
    /// Results rows per outcome.
    pub outcomes: OutcomeCounts,
    /// Results rows per outcome, by the level that decided them (index into the run's
    /// priorities); skipped and no-criteria records have no level.
    pub by_level: Vec<OutcomeCounts>,
    /// Error rows, BC's exact texts (M1 or M2).
    pub errors: Vec<String>,
    /// Local records that passed the local filter (= results rows).
    pub local_records: u64,
    /// Integration records that passed the integration filter (= candidates).
    pub integration_records: u64,
    /// Rows read from the local source, before the filter.
    pub local_records_read: u64,
    /// Rows read from the integration source, before the filter.
    pub integration_records_read: u64,
}

impl JobLog {
    /// Counts a record's outcome, in all and at its level.
    pub(crate) fn count(&mut self, o: &Outcome) {
        *self.outcomes.count_of(o) += 1;
        if let Some(level) = o.level() {
            *self.by_level[level as usize].count_of(o) += 1;
        }
    }

    /// Takes back [`JobLog::count`] of an outcome a record no longer has.
    pub(crate) fn uncount(&mut self, o: &Outcome) {
        *self.outcomes.count_of(o) -= 1;
        if let Some(level) = o.level() {
            *self.by_level[level as usize].count_of(o) -= 1;
        }
    }
}

/// M1: no criteria.
pub fn no_criteria_message(spec: &CouplingSpec) -> String {
    format!(
        "You must specify which fields on the table mapping '{}' should be used for match-based coupling.",
        spec.friendly_name()
    )
}

/// M2: the aggregated failure row.
pub fn unmatched_message(spec: &CouplingSpec, count: u64) -> String {
    format!(
        "Failed to couple {count} record(s), because no unique uncoupled matching entity was found in {} with the specified matching criteria.",
        spec.integration_source
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One outcome of each kind, in [`OUTCOME_NAMES`] order.
    const ALL: [Outcome; 6] = [
        Outcome::Coupled {
            integration_row: 0,
            level: 0,
        },
        Outcome::NoMatch { level: 0 },
        Outcome::MultipleMatches { level: 0, count: 2 },
        Outcome::AlreadyCoupled {
            level: 0,
            integration_row: 0,
            holder: Holder::Existing,
        },
        Outcome::NoCriteria,
        Outcome::Skipped,
    ];

    #[test]
    fn the_names_are_defined_once() {
        for (i, outcome) in ALL.iter().enumerate() {
            assert_eq!(outcome.index(), i);
            assert_eq!(outcome.name(), OUTCOME_NAMES[i]);
        }
        let failures: Vec<&str> = ALL
            .iter()
            .filter(|o| o.is_failure())
            .map(Outcome::name)
            .collect();
        assert_eq!(failures, FAILURE_NAMES);
        for outcome in &ALL {
            let position = FAILURE_NAMES.iter().position(|n| *n == outcome.name());
            assert_eq!(outcome.failure_index(), position, "{}", outcome.name());
        }

        let mut counts = OutcomeCounts::default();
        for (i, name) in OUTCOME_NAMES.into_iter().enumerate() {
            *counts.get_mut(name).unwrap() = i as u64 + 1;
        }
        for (i, outcome) in ALL.iter().enumerate() {
            assert_eq!(*counts.count_of(outcome), i as u64 + 1);
        }
        let pairs = counts.pairs();
        for (i, name) in OUTCOME_NAMES.into_iter().enumerate() {
            assert_eq!(pairs[i], (name, i as u64 + 1));
            assert_eq!(counts.get(name), Some(i as u64 + 1));
        }

        let mut counters = Counters::default();
        for (i, name) in COUNTER_NAMES.into_iter().enumerate() {
            *counters.get_mut(name).unwrap() = i as u64 + 1;
        }
        assert_eq!(
            counters,
            Counters {
                coupled: 1,
                failed: 2,
                skipped: 3,
                inserted: 4,
                modified: 5,
                deleted: 6,
                unchanged: 7,
                uncoupled: 8,
            }
        );
        for (i, name) in COUNTER_NAMES.into_iter().enumerate() {
            assert_eq!(counters.pairs()[i], (name, i as u64 + 1));
            assert_eq!(counters.get(name), Some(i as u64 + 1));
        }
        assert_eq!((counters.get("x"), counts.get("x")), (None, None));
    }
}
