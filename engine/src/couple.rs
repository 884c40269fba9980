//! The coupling algorithm (docs/semantics.md#bcs-match-based-coupling), on dictionary codes and indexes.
//!
//! BC asks the server once per local record per priority level. The engine instead:
//!
//! 1. **encodes** every compared cell once: one `Dictionary` per (integration column,
//!    comparison rule) gives each distinct key a dense code; each local value is looked up in it
//!    (a value no candidate has can match nothing);
//! 2. works out, per record and level, which criteria are **in force** (cumulative filters,
//!    blank text skipped, a later condition on the same integration field replacing the earlier
//!    one) — a bit set over the criteria;
//! 3. **probes** every record at every level in parallel: the candidates that BC's filtered
//!    query would return are the members of the smallest single-criterion group (a counting-sort
//!    index per dictionary) that also carry the record's codes for the other criteria in force;
//!    when every group is large (low-cardinality columns) a tuple index over the whole set of
//!    criteria answers instead;
//! 4. **resolves** sequentially, in processing order: the first level that finds exactly one
//!    candidate not yet taken couples it. Only this step depends on earlier records; it is
//!    O(records × levels), and the result is the sequential algorithm's for any thread count.
//!
//! Criteria beyond BC (opt-in) fit into the same steps: a normalized or option-mapped criterion
//! is compared on values derived once before encoding (`derive.rs`); a fuzzy criterion
//! ([`crate::fuzzy`]) has no dictionary — at a level it scores the candidates the level's exact
//! criteria found (or, without any, the record's block), keeps those reaching its threshold and
//! makes the level find the best one, or several when the runner-up is within the tie margin.
//!
//! The steps live in this module's files: `encoding.rs` (dictionaries and local codes: step 1),
//! `matcher.rs` (the compiled criteria, levels in force and probes: steps 2 and 3),
//! `resolve.rs` (first come, first served, and BC's counters: step 4) and `id_checks.rs` (ids
//! checked unique and found by id, before step 1). This file runs them in order ([`couple`])
//! and answers questions about the finished run ([`CouplingRun`]); the row filters are
//! [`crate::filter`]'s, the errors [`crate::error`]'s.

mod encoding;
mod id_checks;
mod matcher;
mod resolve;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::derive::{derive, Derivation, UNTRANSLATED};
use crate::error::column;
use crate::filter::filtered_rows;
use crate::fuzzy::{Blocks, Comparator, Fuzzy};
use crate::ids::IdSide;
use crate::index::Groups;
use crate::mapping::{CouplingSpec, ExistingCouplings};
use crate::outcome::{
    Holder, JobLog, LevelResult, LevelTrace, Outcome, OutcomeCounts, RecordOutcome,
};
use crate::table::{Column, Table};
use crate::value::{FieldType, Fold};

use encoding::{build_dictionaries, membership, prepare_local_codes, ValueSource};
use id_checks::{check_ids, coupled_locals, existing_taken};
use matcher::{criteria_of, CompiledCriterion, FuzzyCriterion, Matcher, Probe, Scratch};
use resolve::unpack_result;

/// Kept at this path too: the error type was defined here first.
pub use crate::error::EngineError;

/// At most this many criteria per mapping (criteria in force are a 64-bit set).
pub const MAX_CRITERIA: usize = 64;

/// How the job runs; the result never depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Encode, index and probe on rayon's current thread pool.
    pub parallel: bool,
    /// A multi-criterion probe scans the smallest single-criterion group when it holds at most
    /// this many candidates, and uses a tuple index otherwise (tests set 0 to force indexes).
    pub scan_limit: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            parallel: true,
            scan_limit: 256,
        }
    }
}

/// A finished coupling job: outcomes in processing order, the job log, and what is needed to
/// render each record (ids, candidates, messages).
pub struct CouplingRun<'a> {
    spec: &'a CouplingSpec,
    local: &'a Table,
    existing: &'a ExistingCouplings,
    /// The local ids by row, in canonical form ([`crate::ids`]).
    local_ids: Cow<'a, Column>,
    /// The integration ids by row, in canonical form.
    integration_ids: Cow<'a, Column>,
    priorities: Vec<u32>,
    matcher: Matcher<'a>,
    /// The lookup criteria (`via`), as a bit set over the criteria.
    via_bits: u64,
    /// Codes of every (record, criterion), record-major, by position in `outcomes`.
    local_codes: Vec<u32>,
    outcomes: Vec<RecordOutcome>,
    /// Level results of every record, packed (see [`pack_result`]); a record's trace always
    /// starts at level 0, so the priorities need not be stored.
    traces: Vec<u32>,
    log: JobLog,
    phases: Vec<(&'static str, Duration)>,
    /// Holders of integration rows another job coupled first (integration row → local id).
    late_holders: HashMap<u32, String>,
    /// Local rows another job coupled first (local row → integration id).
    late_couplings: HashMap<u32, String>,
}

/// What one record's deciding level compared ([`CouplingRun::match_detail`]).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchDetail<'r> {
    /// The fuzzy score of the candidate (mean similarity of the level's fuzzy criteria).
    pub score: Option<f64>,
    /// One entry per criterion in force, in declaration order.
    pub values: Vec<MatchedValue<'r>>,
}

/// One criterion's compared values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchedValue<'r> {
    /// The local field (as configured).
    pub field: &'r str,
    /// The local value compared (after normalizers and folding).
    pub local: &'r str,
    /// For a fuzzy criterion: the candidate's value compared.
    pub integration: Option<&'r str>,
    /// For a fuzzy criterion: the similarity of the two values.
    pub score: Option<f64>,
}

/// Wall time of each phase, for `job.json` and benchmarks (where does the time go).
struct PhaseClock {
    last: Instant,
    phases: Vec<(&'static str, Duration)>,
}

impl PhaseClock {
    fn new() -> Self {
        PhaseClock {
            last: Instant::now(),
            phases: Vec::new(),
        }
    }

    fn lap(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.phases.push((phase, now - self.last));
        self.last = now;
    }
}

/// Runs match-based coupling for one mapping.
///
/// `local` and `integration` must hold the columns the spec names
/// ([`CouplingSpec::local_columns`], [`CouplingSpec::integration_columns`]); rows are processed
/// in `local`'s order. Fails before matching anything on a missing column, a blank or repeated
/// id, a value that does not read as its field's type, or a spec [`CouplingSpec::validate`]
/// refuses ([`EngineError`]).
///
/// First come, first served: a record couples the single free candidate its first decisive
/// level finds; a later record finding the same candidate finds it already coupled.
///
/// ```
/// use coupler_engine::{
///     couple, Collation, CouplingSpec, ExistingCouplings, FieldType, Holder, MatchCriterion,
///     Outcome, PriorityMode, RunOptions, Table,
/// };
///
/// let customers = Table::from_rows(
///     "customers.csv",
///     &["No.", "Name"],
///     &[
///         vec!["C1", "Contoso"],
///         vec!["C2", "Fabrikam"],
///         vec!["C3", "contoso"],
///         vec!["C4", ""],
///         vec!["C5", "Litware"],
///     ],
/// )?;
/// let accounts = Table::from_rows(
///     "accounts.csv",
///     &["accountid", "name"],
///     &[
///         vec!["A1", "Contoso"],
///         vec!["A2", "Fabrikam"],
///         vec!["A3", "Fabrikam"],
///         vec!["A4", "Litware"],
///     ],
/// )?;
/// let spec = CouplingSpec {
///     mapping_name: "CUSTOMER".into(),
///     local_caption: "Customer".into(),
///     integration_caption: "Account".into(),
///     integration_source: "accounts.csv".into(),
///     local_key: "No.".into(),
///     integration_key: "accountid".into(),
///     criteria: vec![MatchCriterion::new("Name", "name", FieldType::Text, 0, false)],
///     priority_mode: PriorityMode::Cumulative,
///     collation: Collation::Exact,
///     local_filter: vec![],
///     integration_filter: vec![],
/// };
/// // C5 was coupled to A4 before this job: it is skipped.
/// let mut existing = ExistingCouplings::new();
/// existing.add_own("C5", "A4");
/// let run = couple(&spec, &customers, &accounts, &existing, RunOptions::default())?;
///
/// let outcomes: Vec<Outcome> = run.outcomes().iter().map(|r| r.outcome).collect();
/// assert_eq!(
///     outcomes,
///     [
///         Outcome::Coupled { integration_row: 0, level: 0 },
///         Outcome::MultipleMatches { level: 0, count: 2 },
///         // C1, processed first, took A1.
///         Outcome::AlreadyCoupled { level: 0, integration_row: 0, holder: Holder::ThisJob(0) },
///         // A blank name sets no condition.
///         Outcome::NoMatch { level: 0 },
///         Outcome::Skipped,
///     ]
/// );
/// assert_eq!(run.candidates(1, 10), ["A2", "A3"]);
/// assert_eq!(run.holder_id(0, Holder::ThisJob(0)), "C1");
/// assert_eq!(run.existing_coupling(&run.outcomes()[4]), Some("A4"));
/// let counts = run.log().outcomes;
/// assert_eq!((counts.coupled, counts.already_coupled, counts.skipped), (1, 1, 1));
/// assert_eq!(run.log().counters.failed, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn couple<'a>(
    spec: &'a CouplingSpec,
    local: &'a Table,
    integration: &'a Table,
    existing: &'a ExistingCouplings,
    options: RunOptions,
) -> Result<CouplingRun<'a>, EngineError> {
    spec.validate()?;
    let mut clock = PhaseClock::new();
    let local_key = column(local, &spec.local_key)?;
    let integration_key = column(integration, &spec.integration_key)?;
    let (local_ids, integration_ids) = join(
        options,
        || check_ids(local, local_key, IdSide::Local, options),
        || check_ids(integration, integration_key, IdSide::Integration, options),
    );
    let (local_ids, integration_ids) = (local_ids?, integration_ids?);
    clock.lap("check ids");
    let (local_side, integration_side) = join(
        options,
        || -> Result<_, EngineError> {
            let rows = filtered_rows(local, &spec.local_filter, options)?;
            Ok((rows, coupled_locals(&local_ids, existing)))
        },
        || -> Result<_, EngineError> {
            let rows = filtered_rows(integration, &spec.integration_filter, options)?;
            let taken = existing_taken(&integration_ids, &rows, existing);
            Ok((rows, taken))
        },
    );
    let ((local_rows, skipped), (candidates, taken_before)) = (local_side?, integration_side?);
    // The sorted ids are large; free them before the dictionaries are built (the canonical
    // ids stay: outcomes name records by them).
    let (local_ids, integration_ids) = (local_ids.into_ids(), integration_ids.into_ids());
    clock.lap("filter");

    // Criteria beyond BC compare derived values (normalized, folded, option-mapped).
    let mut columns = Vec::with_capacity(spec.criteria.len());
    for c in &spec.criteria {
        columns.push((
            column(local, &c.local_field)?,
            column(integration, &c.integration_field)?,
            Fold::for_criterion(c.field_type, c.case_sensitive, spec.collation),
        ));
    }
    let mut derivation = if spec.criteria.iter().any(|c| c.is_beyond_bc()) {
        let derivation = derive(
            spec,
            local,
            integration,
            &columns,
            &membership(local.len(), &local_rows),
            &membership(integration.len(), &candidates),
            options.parallel,
        )?;
        clock.lap("derive values");
        derivation
    } else {
        Derivation {
            local_of: vec![None; spec.criteria.len()],
            integration_of: vec![None; spec.criteria.len()],
            ..Derivation::default()
        }
    };

    // Compile criteria: columns, the integration field each one conditions, its dictionary
    // (exact criteria) or its values and blocks (fuzzy criteria).
    let mut slots: Vec<&str> = Vec::new();
    let mut dictionary_keys: Vec<(ValueSource, Fold)> = Vec::new();
    let mut fuzzy_sources: Vec<usize> = Vec::new();
    let mut compiled = Vec::with_capacity(spec.criteria.len());
    for (i, c) in spec.criteria.iter().enumerate() {
        let (local_column, integration_column, rule) = columns[i];
        // Derived values are final comparison values: compared as text, by equality.
        let (field_type, fold) = match derivation.local_of[i] {
            Some(_) => (FieldType::Text, Fold::Exact),
            None => (c.field_type, rule),
        };
        let source = match derivation.integration_of[i] {
            Some(d) => ValueSource::Derived(d),
            None => ValueSource::Table(integration_column),
        };
        let (dictionary, fuzzy) = match (c.comparator, source) {
            (Comparator::Fuzzy(settings), ValueSource::Derived(d)) => (
                usize::MAX,
                Some((settings, position_or_push(&mut fuzzy_sources, d))),
            ),
            _ => (position_or_push(&mut dictionary_keys, (source, fold)), None),
        };
        compiled.push((
            CompiledCriterion {
                local_column,
                derived_local: derivation.local_of[i],
                integration_slot: position_or_push(&mut slots, c.integration_field.as_str()),
                dictionary,
                field_type,
                fold,
                fuzzy: None,
            },
            fuzzy,
        ));
    }
    let priorities: Vec<u32> = spec
        .criteria
        .iter()
        .map(|c| c.priority)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let levels: Vec<Vec<usize>> = priorities
        .iter()
        .map(|&p| {
            (0..spec.criteria.len())
                .filter(|&i| spec.criteria[i].priority == p)
                .collect()
        })
        .collect();

    // Fuzzy values stay with the matcher; derived exact values move into their dictionary.
    let fuzzy_values: Vec<Column> = fuzzy_sources
        .iter()
        .map(|&d| {
            let shared = dictionary_keys
                .iter()
                .any(|(s, _)| *s == ValueSource::Derived(d));
            if shared {
                derivation.integration[d].clone()
            } else {
                std::mem::take(&mut derivation.integration[d])
            }
        })
        .collect();
    let dictionary_inputs = dictionary_keys
        .iter()
        .map(|&(source, fold)| match source {
            ValueSource::Table(col) => (Cow::Borrowed(integration.column(col)), fold, col),
            ValueSource::Derived(d) => (
                Cow::Owned(std::mem::take(&mut derivation.integration[d])),
                fold,
                usize::MAX,
            ),
        })
        .collect();
    let dictionaries = build_dictionaries(integration, &candidates, dictionary_inputs, options)?;
    clock.lap("dictionaries");
    let code_groups = map_slice(options, &dictionaries, |d| Groups::build(&d.codes, d.len()));
    let fuzzy_specs: Vec<(usize, Fuzzy, usize)> = compiled
        .iter()
        .enumerate()
        .filter_map(|(i, (_, f))| f.map(|(settings, values)| (i, settings, values)))
        .collect();
    let blocks = map_slice(options, &fuzzy_specs, |&(_, settings, values)| {
        let column = &fuzzy_values[values];
        let candidates = &candidates;
        Blocks::build(
            settings.blocking,
            |p| column.get(candidates[p as usize] as usize),
            candidates.len() as u32,
        )
    });
    let mut criteria: Vec<CompiledCriterion> = compiled.into_iter().map(|(c, _)| c).collect();
    let mut fuzzy_bits = 0u64;
    for (&(i, settings, values), blocks) in fuzzy_specs.iter().zip(blocks) {
        fuzzy_bits |= 1u64 << i;
        criteria[i].fuzzy = Some(FuzzyCriterion {
            settings,
            values,
            blocks,
        });
    }
    clock.lap("group by code");
    let mut local_codes =
        prepare_local_codes(local, &derivation.local, &local_rows, &criteria, options)?;
    clock.lap("check local values");
    let mut matcher = Matcher {
        criteria,
        levels,
        slot_count: slots.len(),
        mode: spec.priority_mode,
        dictionaries,
        code_groups,
        tuple_indexes: Vec::new(),
        scan_limit: options.scan_limit,
        candidates,
        derived_local: derivation.local,
        fuzzy_values,
        fuzzy_bits,
        first_level_probed: false,
    };

    // Probe every record, level by level until one is decisive; probes needing a tuple index
    // are deferred, the index built, and those records probed again.
    let ncrit = matcher.criteria.len();
    let nlevels = matcher.levels.len();
    let deferred_masks = Mutex::new(BTreeSet::new());
    let probe_all =
        |matcher: &Matcher, codes: &mut [u32], probes: &mut [Probe], only_deferred: bool| {
            let probe_record =
                |buf: &mut Scratch, (i, (codes, out)): (usize, (&mut [u32], &mut [Probe]))| {
                    if only_deferred && !out.iter().any(|p| p.count == Probe::DEFERRED) {
                        return;
                    }
                    let mut deferred = Vec::new();
                    matcher.probe_levels(
                        local,
                        local_rows[i],
                        codes,
                        out,
                        0,
                        &taken_before,
                        buf,
                        &mut deferred,
                    );
                    if !deferred.is_empty() {
                        deferred_masks
                            .lock()
                            .expect("no panics while held")
                            .extend(deferred);
                    }
                };
            if nlevels == 0 {
                return;
            }
            if options.parallel {
                codes
                    .par_chunks_mut(ncrit)
                    .zip(probes.par_chunks_mut(nlevels))
                    .enumerate()
                    .with_min_len(1024)
                    .for_each_init(Default::default, probe_record);
            } else {
                let mut buf = Default::default();
                codes
                    .chunks_mut(ncrit)
                    .zip(probes.chunks_mut(nlevels))
                    .enumerate()
                    .for_each(|item| probe_record(&mut buf, item));
            }
        };
    matcher.look_up_first_level(local, &local_rows, &mut local_codes, options.parallel);
    matcher.release_first_level_tables();
    clock.lap("look up keys");
    // Allocated after the look-up, whose freed buffers it can take over.
    let (mut probes, first_level_probed) =
        matcher.first_level_probes(&local_codes, options.parallel);
    matcher.first_level_probed = first_level_probed;
    matcher.look_up_second_level(
        local,
        &local_rows,
        &mut local_codes,
        &probes,
        &taken_before,
        options.parallel,
    );
    probe_all(&matcher, &mut local_codes, &mut probes, false);
    clock.lap("probe");
    let deferred: Vec<u64> =
        std::mem::take(&mut *deferred_masks.lock().expect("no panics while held"))
            .into_iter()
            .collect();
    if !deferred.is_empty() {
        let built = map_slice(options, &deferred, |&m| matcher.build_tuple_index(m));
        matcher.tuple_indexes = deferred.into_iter().zip(built).collect();
        probe_all(&matcher, &mut local_codes, &mut probes, true);
    }
    clock.lap("tuple indexes");

    let mut run = CouplingRun {
        spec,
        local,
        existing,
        local_ids,
        integration_ids,
        priorities,
        via_bits: spec
            .criteria
            .iter()
            .enumerate()
            .filter(|(_, c)| c.via.is_some())
            .fold(0, |bits, (i, _)| bits | 1u64 << i),
        matcher,
        local_codes,
        outcomes: Vec::with_capacity(local_rows.len()),
        traces: Vec::new(),
        phases: Vec::new(),
        late_holders: HashMap::new(),
        late_couplings: HashMap::new(),
        log: JobLog {
            by_level: vec![OutcomeCounts::default(); nlevels],
            local_records: local_rows.len() as u64,
            local_records_read: local.len() as u64,
            integration_records_read: integration.len() as u64,
            ..JobLog::default()
        },
    };
    run.log.integration_records = run.matcher.candidates.len() as u64;
    run.resolve(
        &local_rows,
        &mut probes,
        nlevels,
        &taken_before,
        &skipped,
        options.parallel,
    );
    // Every key is looked up by now: the lookup tables go before the outputs are written.
    for dictionary in &mut run.matcher.dictionaries {
        dictionary.release_tables();
    }
    clock.lap("resolve");
    run.phases = clock.phases;
    Ok(run)
}

impl<'a> CouplingRun<'a> {
    /// Wall time of each phase of the run, in order.
    pub fn phases(&self) -> &[(&'static str, Duration)] {
        &self.phases
    }

    /// The mapping this job ran.
    pub fn spec(&self) -> &CouplingSpec {
        self.spec
    }

    /// Outcomes, one per local record passing the local filter, in processing order.
    pub fn outcomes(&self) -> &[RecordOutcome] {
        &self.outcomes
    }

    /// BC's job log for this job.
    pub fn log(&self) -> &JobLog {
        &self.log
    }

    /// The distinct match priorities, ascending (levels index into this).
    pub fn priorities(&self) -> &[u32] {
        &self.priorities
    }

    /// The local id of a record, in canonical form ([`crate::ids`]: GUIDs lower-case without
    /// braces, other ids trimmed and upper-cased).
    pub fn local_id(&self, record: &RecordOutcome) -> &str {
        self.local_id_of_row(record.local_row)
    }

    /// The local id of a local row, in canonical form.
    pub fn local_id_of_row(&self, local_row: u32) -> &str {
        self.local_ids.get(local_row as usize)
    }

    /// The integration ids by row, in canonical form.
    pub(crate) fn integration_ids(&self) -> &Column {
        &self.integration_ids
    }

    /// The id of an integration row, in canonical form ([`crate::ids`]: GUIDs lower-case
    /// without braces, other ids as read).
    pub fn integration_id(&self, integration_row: u32) -> &str {
        self.integration_ids.get(integration_row as usize)
    }

    /// The per-level trace of a record, level 0 first. A level that found nothing because a
    /// lookup criterion in force holds a key no coupling translates is
    /// [`LevelResult::NotCoupled`] with that key.
    pub fn trace<'r>(&'r self, record: &'r RecordOutcome) -> impl Iterator<Item = LevelTrace<'r>> {
        let start = record.trace_start as usize;
        self.traces[start..start + record.trace_len as usize]
            .iter()
            .zip(&self.priorities)
            .enumerate()
            .map(move |(level, (&packed, &priority))| {
                let mut result = unpack_result(packed);
                if result == LevelResult::NoMatch && self.via_bits != 0 {
                    if let Some(key) = self.untranslated_key(record, level) {
                        result = LevelResult::NotCoupled(key);
                    }
                }
                LevelTrace { priority, result }
            })
    }

    /// The untranslated key of the first lookup criterion in force at `level` for `record`.
    fn untranslated_key(&self, record: &RecordOutcome, level: usize) -> Option<&str> {
        // Outcomes are in processing order, which is the local table's row order.
        let i = self
            .outcomes
            .binary_search_by_key(&record.local_row, |r| r.local_row)
            .ok()?;
        let mask = self.level_mask(i, level as u16)? & self.via_bits;
        criteria_of(mask).find_map(|c| {
            self.matcher
                .local_value(self.local, record.local_row, c)
                .strip_prefix(UNTRANSLATED)
        })
    }

    /// Per lookup criterion (`via`), in declaration order: its index in the spec's criteria
    /// and how many local records taking part hold a key its mapping has not coupled (blank
    /// keys are not counted).
    pub fn untranslated_counts(&self) -> Vec<(usize, u64)> {
        let mut counts = Vec::new();
        for (c, criterion) in self.spec.criteria.iter().enumerate() {
            if criterion.via.is_none() {
                continue;
            }
            let n = self
                .outcomes
                .iter()
                .filter(|r| {
                    !matches!(r.outcome, Outcome::Skipped)
                        && self
                            .matcher
                            .local_value(self.local, r.local_row, c)
                            .starts_with(UNTRANSLATED)
                })
                .count();
            counts.push((c, n as u64));
        }
        counts
    }

    /// Ids of the first `limit` integration records that the multiple-match record at position
    /// `i` of [`CouplingRun::outcomes`] matched at its last level, in source order (empty for
    /// other outcomes). Recomputed on demand rather than stored for every record.
    pub fn candidates(&self, i: usize, limit: usize) -> Vec<&str> {
        let Outcome::MultipleMatches { level, .. } = self.outcomes[i].outcome else {
            return Vec::new();
        };
        let Some(mask) = self.level_mask(i, level) else {
            return Vec::new();
        };
        let ncrit = self.matcher.criteria.len();
        let codes = &self.local_codes[i * ncrit..(i + 1) * ncrit];
        let id = |pos: u32| self.integration_id(self.matcher.candidates[pos as usize]);
        if mask & self.matcher.fuzzy_bits != 0 {
            // The candidates within the tie margin of the best, best first.
            let mut scored = self.ranked(i, mask);
            let margin = self.matcher.tie_margin(mask);
            let Some(((_, best), _)) = Matcher::best_of(&scored, margin) else {
                return Vec::new();
            };
            scored.retain(|s| s.1 >= best - margin);
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            return scored.iter().take(limit).map(|&(pos, _)| id(pos)).collect();
        }
        let mut ids = Vec::new();
        self.matcher.matches(codes, mask, |pos| {
            ids.push(id(pos));
            ids.len() < limit
        });
        ids
    }

    /// The criteria in force at `level` for the record at position `i`.
    fn level_mask(&self, i: usize, level: u16) -> Option<u64> {
        let ncrit = self.matcher.criteria.len();
        let codes = &self.local_codes[i * ncrit..(i + 1) * ncrit];
        let mut found = None;
        self.matcher.for_each_level(codes, |l, mask| {
            if l == level as usize {
                found = mask;
            }
        });
        found
    }

    /// The candidates a fuzzy level of record `i` accepted, with their scores.
    fn ranked(&self, i: usize, mask: u64) -> Vec<(u32, f64)> {
        let ncrit = self.matcher.criteria.len();
        let codes = &self.local_codes[i * ncrit..(i + 1) * ncrit];
        let mut scratch = Scratch::default();
        let row = self.outcomes[i].local_row;
        // Every tuple index a probe needed was built while resolving.
        let _ = self
            .matcher
            .rank_fuzzy(self.local, row, codes, mask, &mut scratch);
        scratch.scored
    }

    /// What the deciding level of the record at position `i` compared, for criteria beyond BC:
    /// the values each criterion in force compared (normalized, folded, option-mapped), the
    /// candidate's values of fuzzy criteria, and the fuzzy score. For a `multiple_matches`
    /// record the candidate is the best one. `None` for skipped records and when no level set a
    /// condition.
    pub fn match_detail(&self, i: usize) -> Option<MatchDetail<'_>> {
        let record = &self.outcomes[i];
        let level = record.outcome.level()?;
        let mask = self.level_mask(i, level)?;
        let m = &self.matcher;
        let pos = match record.outcome {
            Outcome::Coupled {
                integration_row, ..
            }
            | Outcome::AlreadyCoupled {
                integration_row, ..
            } => m
                .candidates
                .binary_search(&integration_row)
                .ok()
                .map(|p| p as u32),
            Outcome::MultipleMatches { .. } if mask & m.fuzzy_bits != 0 => {
                Matcher::best_of(&self.ranked(i, mask), m.tie_margin(mask)).map(|((pos, _), _)| pos)
            }
            _ => None,
        };
        let row = record.local_row;
        let mut values = Vec::new();
        for c in criteria_of(mask) {
            let theirs = match (&m.criteria[c].fuzzy, pos) {
                (Some(f), Some(pos)) => {
                    let value = m.fuzzy_values[f.values].get(m.candidates[pos as usize] as usize);
                    let score = f.settings.score(m.local_value(self.local, row, c), value);
                    Some((value, score))
                }
                _ => None,
            };
            let mut local = m.local_value(self.local, row, c);
            if self.spec.criteria[c].via.is_some() {
                // Shown without its translated / untranslated mark.
                local = local.get(1..).unwrap_or_default();
            }
            values.push(MatchedValue {
                field: &self.spec.criteria[c].local_field,
                local,
                integration: theirs.map(|t| t.0),
                score: theirs.and_then(|t| t.1),
            });
        }
        let fuzzy_mask = mask & m.fuzzy_bits;
        let score = match pos {
            Some(pos) if fuzzy_mask != 0 => m.fuzzy_score(self.local, row, pos, fuzzy_mask, None),
            _ => None,
        };
        Some(MatchDetail { score, values })
    }

    /// The local id that holds an already-coupled candidate.
    pub fn holder_id(&self, integration_row: u32, holder: Holder) -> &str {
        match holder {
            Holder::ThisJob(row) => self.local_id_of_row(row),
            Holder::Existing => self
                .existing
                .holder_of(self.integration_id(integration_row))
                .unwrap_or_default(),
            Holder::ConcurrentJob => self
                .late_holders
                .get(&integration_row)
                .map_or("", String::as_str),
        }
    }

    /// The integration id a skipped record is already coupled to.
    pub fn existing_coupling(&self, record: &RecordOutcome) -> Option<&str> {
        self.late_couplings
            .get(&record.local_row)
            .map(String::as_str)
            .or_else(|| self.existing.coupled_integration_id(self.local_id(record)))
    }
}

fn join<A: Send, B: Send>(
    options: RunOptions,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if options.parallel {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// `f(scratch, i)` for every `i < len`, in order; on all cores when `parallel`, each task with
/// its own scratch.
fn map_indices<S: Default, R: Send>(
    parallel: bool,
    len: usize,
    f: impl Fn(&mut S, usize) -> R + Sync + Send,
) -> Vec<R> {
    let mut out = Vec::with_capacity(len);
    if parallel {
        (0..len)
            .into_par_iter()
            .with_min_len(4096)
            .map_init(S::default, f)
            .collect_into_vec(&mut out);
    } else {
        let mut scratch = S::default();
        out.extend((0..len).map(|i| f(&mut scratch, i)));
    }
    out
}

fn map_slice<T: Sync, R: Send>(
    options: RunOptions,
    items: &[T],
    f: impl Fn(&T) -> R + Sync + Send,
) -> Vec<R> {
    if options.parallel {
        items.par_iter().map(f).collect()
    } else {
        items.iter().map(f).collect()
    }
}

/// The index of `item` in `items`, appended first when missing.
pub(crate) fn position_or_push<T: PartialEq>(items: &mut Vec<T>, item: T) -> usize {
    match items.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            items.push(item);
            items.len() - 1
        }
    }
}
