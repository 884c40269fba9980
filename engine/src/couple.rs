//! The coupling algorithm (semantics spec §1), on dictionary codes and indexes.
//!
//! BC asks the server once per local record per priority level. The engine instead:
//!
//! 1. **encodes** every compared cell once: one [`Dictionary`] per (integration column,
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

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use thiserror::Error;

use crate::derive::{derive, Derivation};
use crate::fuzzy::{Blocks, CharProfile, Comparator, Fuzzy};
use crate::hint::{prefetch, AHEAD};
use crate::ids::{column_surely_canonical, push_canonical, surely_canonical, IdSide};
use crate::index::{same_text, Dictionary, Groups, KeyHasher, TupleIndex};
use crate::mapping::{CouplingSpec, ExistingCouplings, PriorityMode, TableFilter};
use crate::outcome::{
    no_criteria_message, unmatched_message, Holder, JobLog, LevelResult, LevelTrace, Outcome,
    OutcomeCounts, RecordOutcome,
};
use crate::table::{Column, Table};
use crate::value::{local_key_into, FieldType, Fold, InvalidValue};

/// At most this many criteria per mapping (criteria in force are a 64-bit set).
pub const MAX_CRITERIA: usize = 64;

/// Why a coupling job could not run. Every variant names the table and, for data problems,
/// the row's origin (line number) so the adapter's user can find it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("{table}: column '{column}' not found; the columns are: {}", available.join(", "))]
    MissingColumn {
        table: String,
        column: String,
        available: Vec<String>,
    },
    /// Two rows have one id ([`crate::ids`]: codes trimmed and upper-cased, GUIDs whatever their
    /// case and braces); `id` and `first_id` are the two spellings as read.
    #[error("{table} line {line}: duplicate id '{id}' (first seen on line {first_line}{})", spelled_as(.id, .first_id))]
    DuplicateId {
        table: String,
        id: String,
        line: u64,
        first_line: u64,
        first_id: String,
    },
    #[error("{table} line {line}: the id column '{column}' is blank")]
    BlankId {
        table: String,
        column: String,
        line: u64,
    },
    #[error("{table} line {line}, column '{column}': '{value}' is {problem}")]
    InvalidValue {
        table: String,
        column: String,
        line: u64,
        value: String,
        problem: InvalidValue,
    },
    #[error("mapping {mapping}: the criterion on integration column '{column}' would replace the integration filter on the same column (BC silently drops the filter); filter on another column or drop the criterion")]
    CriterionOnFilteredColumn { mapping: String, column: String },
    #[error("mapping {mapping}: {count} match criteria; at most {MAX_CRITERIA} are supported")]
    TooManyCriteria { mapping: String, count: usize },
    #[error("{table} line {line}, column '{column}': option '{value}' has no option mapping; the mapped captions are: {}", known.join(", "))]
    UnmappedOption {
        table: String,
        column: String,
        line: u64,
        value: String,
        known: Vec<String>,
    },
    #[error("{table} line {line}, column '{column}': choice value '{value}' is not in the option mapping; the mapped values are: {}", known.join(", "))]
    UnmappedChoice {
        table: String,
        column: String,
        line: u64,
        value: String,
        known: Vec<String>,
    },
    #[error("mapping {mapping}, match field '{field}': {problem}")]
    InvalidCriterion {
        mapping: String,
        field: String,
        problem: String,
    },
    #[error("{table}: the values derived from column '{column}' pass 4 GiB; split the export")]
    ColumnTooLarge { table: String, column: String },
}

/// How a duplicate's first occurrence was spelled, when not as the duplicate.
fn spelled_as(id: &str, first_id: &str) -> String {
    if id == first_id {
        String::new()
    } else {
        format!(
            " as '{first_id}'; BC reads both as one id: codes are trimmed and upper-cased, GUIDs have no case or braces"
        )
    }
}

impl EngineError {
    /// The source line a data error points at (0 for errors of the configuration).
    pub fn line(&self) -> u64 {
        match self {
            EngineError::DuplicateId { line, .. }
            | EngineError::BlankId { line, .. }
            | EngineError::InvalidValue { line, .. }
            | EngineError::UnmappedOption { line, .. }
            | EngineError::UnmappedChoice { line, .. } => *line,
            _ => 0,
        }
    }
}

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

/// Local codes: blank text (no condition), a value no candidate has, an unreadable value, and a
/// value not looked up yet (a record's later criteria are looked up only when a level needs them:
/// most records are decided by their first level).
const BLANK: u32 = u32::MAX;
const ABSENT: u32 = u32::MAX - 1;
const INVALID: u32 = u32::MAX - 2;
const PENDING: u32 = u32::MAX - 3;

struct CompiledCriterion {
    /// The local column as read (error messages, criteria as BC has them).
    local_column: usize,
    /// The derived local column (index into [`Matcher::derived_local`]) of a criterion beyond BC.
    derived_local: Option<usize>,
    integration_slot: usize,
    /// The dictionary of an exact criterion (unused by a fuzzy one).
    dictionary: usize,
    field_type: FieldType,
    fold: Fold,
    fuzzy: Option<FuzzyCriterion>,
}

/// A fuzzy criterion: its settings, its candidates' values, its blocks.
struct FuzzyCriterion {
    settings: Fuzzy,
    /// Index into [`Matcher::fuzzy_values`].
    values: usize,
    blocks: Blocks,
}

/// Per-thread buffers of a probe.
#[derive(Default)]
struct Scratch {
    key: String,
    fold: String,
    block: Vec<u32>,
    /// Candidates that passed a fuzzy level, with their scores.
    scored: Vec<(u32, f64)>,
    /// The record's values of a fuzzy level, profiled (one per fuzzy criterion in force).
    profiles: Vec<CharProfile>,
}

/// What one level found for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Probe {
    /// Matches, or [`Probe::BLANK`] / [`Probe::DEFERRED`].
    count: u32,
    /// Candidate position of the first match.
    first: u32,
}

impl Probe {
    const BLANK: u32 = u32::MAX;
    const DEFERRED: u32 = u32::MAX - 1;
    /// Not evaluated: an earlier level found a single candidate that was free when probing.
    const NOT_PROBED: u32 = u32::MAX - 2;
    const NONE: Probe = Probe { count: 0, first: 0 };
}

/// The compiled criteria and everything a probe reads.
struct Matcher<'t> {
    criteria: Vec<CompiledCriterion>,
    /// Criteria of each level, in declaration order.
    levels: Vec<Vec<usize>>,
    slot_count: usize,
    mode: PriorityMode,
    dictionaries: Vec<Dictionary<'t>>,
    /// Candidates grouped by code, one per dictionary.
    code_groups: Vec<Groups>,
    /// Tuple indexes built on demand, by criteria mask.
    tuple_indexes: Vec<(u64, TupleIndex)>,
    /// See [`RunOptions::scan_limit`].
    scan_limit: usize,
    /// Integration rows of the candidates, by candidate position.
    candidates: Vec<u32>,
    /// Derived local values (normalized, folded, option-mapped), by local row.
    derived_local: Vec<Column>,
    /// Derived integration values of fuzzy criteria, by integration row.
    fuzzy_values: Vec<Column>,
    /// The fuzzy criteria, as a mask.
    fuzzy_bits: u64,
    /// Whether every record's first level was probed at once ([`Matcher::first_level_probes`]).
    first_level_probed: bool,
}

impl Matcher<'_> {
    /// The value criterion `c` compares for local row `row`: the cell, or its derived value.
    #[inline]
    fn local_value<'x>(&'x self, local: &'x Table, row: u32, c: usize) -> &'x str {
        let criterion = &self.criteria[c];
        match criterion.derived_local {
            Some(d) => self.derived_local[d].get(row as usize),
            None => local.cell(row as usize, criterion.local_column),
        }
    }

    /// The key criterion `c` looks up for local row `row` (`None`: blank or unreadable; values
    /// are validated when the codes are prepared).
    fn local_key<'x>(
        &'x self,
        local: &'x Table,
        row: u32,
        c: usize,
        buf: &'x mut String,
    ) -> Option<&'x str> {
        let criterion = &self.criteria[c];
        let cell = self.local_value(local, row, c);
        local_key_into(cell, criterion.field_type, criterion.fold, buf)
            .ok()
            .flatten()
    }

    /// Calls `f(level, mask)` for each level: the criteria in force, or `None` when every
    /// criterion of the level was blank.
    fn for_each_level(&self, codes: &[u32], mut f: impl FnMut(usize, Option<u64>)) {
        let mut in_force = [usize::MAX; MAX_CRITERIA];
        let in_force = &mut in_force[..self.slot_count];
        for (level_no, level) in self.levels.iter().enumerate() {
            if self.mode == PriorityMode::Independent {
                in_force.fill(usize::MAX);
            }
            let mut applied = 0;
            for &c in level {
                if codes[c] == BLANK {
                    continue;
                }
                in_force[self.criteria[c].integration_slot] = c;
                applied += 1;
            }
            let mask = (applied > 0).then(|| {
                in_force
                    .iter()
                    .filter(|&&c| c != usize::MAX)
                    .fold(0u64, |m, &c| m | (1u64 << c))
            });
            f(level_no, mask);
        }
    }

    /// Looks up the codes of the criteria of `mask` that are still pending.
    fn ensure_codes(
        &self,
        local: &Table,
        row: u32,
        codes: &mut [u32],
        mask: u64,
        buf: &mut Scratch,
    ) {
        let exact = mask & !self.fuzzy_bits;
        // A value no candidate has already empties the level: the other keys need no lookup.
        if criteria_of(exact).any(|c| codes[c] == ABSENT) {
            return;
        }
        for c in criteria_of(exact) {
            if codes[c] == PENDING {
                let dictionary = &self.dictionaries[self.criteria[c].dictionary];
                codes[c] = self
                    .local_key(local, row, c, &mut buf.key)
                    .and_then(|key| dictionary.lookup(key, &mut buf.fold))
                    .unwrap_or(ABSENT);
            }
        }
    }

    /// Looks up the first level's keys of every record at once, partition by partition
    /// ([`Matcher::look_up_batch`]): nearly every record needs them, and a batch keeps each
    /// partition's table in cache instead of missing it key by key.
    fn look_up_first_level(&self, local: &Table, rows: &[u32], codes: &mut [u32], parallel: bool) {
        let ncrit = self.criteria.len();
        let Some(level) = self.levels.first() else {
            return;
        };
        for &c in level {
            if self.fuzzy_bits & (1u64 << c) != 0 {
                continue;
            }
            let pending = |i: usize| codes[i * ncrit + c] == PENDING;
            let found = self.look_up_batch(local, c, rows, pending, parallel);
            let store = |(record_codes, &code): (&mut [u32], &u32)| {
                if record_codes[c] == PENDING {
                    record_codes[c] = code;
                }
            };
            if parallel {
                codes
                    .par_chunks_mut(ncrit)
                    .zip(&found)
                    .with_min_len(4096)
                    .for_each(store);
            } else {
                codes.chunks_mut(ncrit).zip(&found).for_each(store);
            }
        }
    }

    /// Looks up, in one batch per criterion, the second level's keys of the records the first
    /// level leaves undecided (in generated data a tenth of them need one): one by one, each
    /// would miss the dictionary's table and then the cell that confirms it. Later levels' keys are
    /// looked up one by one, for the few records that get there.
    fn look_up_second_level(
        &self,
        local: &Table,
        rows: &[u32],
        codes: &mut [u32],
        probes: &[Probe],
        taken_before: &[bool],
        parallel: bool,
    ) {
        let (ncrit, nlevels) = (self.criteria.len(), self.levels.len());
        if nlevels < 2 || !self.first_level_probed {
            return;
        }
        for &c in &self.levels[1] {
            if self.fuzzy_bits & (1u64 << c) != 0 {
                continue;
            }
            // The records whose second level will look this key up: the first level did not
            // decide, the key is in force, and no key in force is known to match nothing.
            let needs_key = |i: usize| {
                let first = &probes[i * nlevels];
                let decided = first.count == 1 && !taken_before[first.first as usize];
                let record_codes = &codes[i * ncrit..(i + 1) * ncrit];
                if decided || record_codes[c] != PENDING {
                    return false;
                }
                let mut second = None;
                self.for_each_level(record_codes, |level, mask| {
                    if level == 1 {
                        second = mask;
                    }
                });
                second.is_some_and(|mask| {
                    mask & (1u64 << c) != 0
                        && !criteria_of(mask & !self.fuzzy_bits).any(|k| record_codes[k] == ABSENT)
                })
            };
            let records: Vec<u32> = if parallel {
                (0..rows.len() as u32)
                    .into_par_iter()
                    .with_min_len(4096)
                    .filter(|&i| needs_key(i as usize))
                    .collect()
            } else {
                (0..rows.len() as u32)
                    .filter(|&i| needs_key(i as usize))
                    .collect()
            };
            let their_rows: Vec<u32> = records.iter().map(|&i| rows[i as usize]).collect();
            let found = self.look_up_batch(local, c, &their_rows, |_| true, parallel);
            for (&i, code) in records.iter().zip(found) {
                codes[i as usize * ncrit + c] = code;
            }
        }
    }

    /// The codes of criterion `c`'s keys of local rows `rows`, looked up in one batch, partition
    /// by partition ([`Dictionary::lookup_batch`]), then confirmed in order. A query that is not
    /// `pending` is not looked up (its answer is [`PENDING`]).
    fn look_up_batch(
        &self,
        local: &Table,
        c: usize,
        rows: &[u32],
        pending: impl Fn(usize) -> bool + Sync,
        parallel: bool,
    ) -> Vec<u32> {
        let dictionary = &self.dictionaries[self.criteria[c].dictionary];
        // One query per row (a query not pending asks for any hash, and its answer is ignored:
        // few are, and queries in row order need no mapping back).
        let hashes = map_indices(parallel, rows.len(), |buf: &mut String, i| {
            let key = pending(i)
                .then(|| self.local_key(local, rows[i], c, buf))
                .flatten();
            key.map_or(0, |key| dictionary.hash(key))
        });
        let found = dictionary.lookup_batch(hashes, parallel);
        map_indices(parallel, rows.len(), |buf: &mut Scratch, i| {
            if let Some(&ahead) = found.get(i + AHEAD) {
                dictionary.prefetch_settle(ahead);
            }
            if !pending(i) {
                return PENDING;
            }
            self.local_key(local, rows[i], c, &mut buf.key)
                .and_then(|key| dictionary.settle(found[i], key, &mut buf.fold))
                .unwrap_or(ABSENT)
        })
    }

    /// Frees the tables of the dictionaries only first-level criteria use: after
    /// [`Matcher::look_up_first_level`] none of their keys is looked up again, and the probe's
    /// memory is not touched yet.
    fn release_first_level_tables(&mut self) {
        let Some(first) = self.levels.first() else {
            return;
        };
        for (d, dictionary) in self.dictionaries.iter_mut().enumerate() {
            let first_level_only = self
                .criteria
                .iter()
                .enumerate()
                .all(|(c, criterion)| criterion.dictionary != d || first.contains(&c));
            if first_level_only {
                dictionary.release_tables();
            }
        }
    }

    /// The probes array, `records × levels`, with every record's first level probed when it is
    /// a single exact criterion (the usual case: most records are decided there; the bool says
    /// whether it was). After [`Matcher::look_up_first_level`] its code is known, and the probe
    /// is a read of the code's group head: a tight loop over the records keeps many of those
    /// cache misses in flight, where [`Matcher::probe_levels`] would take them one record at a
    /// time. The array is written once, on all cores, as it is allocated.
    fn first_level_probes(&self, codes: &[u32], parallel: bool) -> (Vec<Probe>, bool) {
        let (ncrit, nlevels) = (self.criteria.len(), self.levels.len());
        let records = codes.len().checked_div(ncrit).unwrap_or(0);
        let criterion = match self.levels.first().map(Vec::as_slice) {
            Some(&[c]) if self.fuzzy_bits & (1u64 << c) == 0 => Some(c),
            _ => None,
        };
        let probe = |k: usize| {
            let (record, level) = (k / nlevels, k % nlevels);
            let Some(c) = criterion.filter(|_| level == 0) else {
                return Probe::NONE;
            };
            let groups = &self.code_groups[self.criteria[c].dictionary];
            if let Some(&ahead) = codes.get((record + AHEAD) * ncrit + c) {
                groups.prefetch_head(ahead);
            }
            match codes[record * ncrit + c] {
                BLANK => Probe {
                    count: Probe::BLANK,
                    first: 0,
                },
                ABSENT => Probe::NONE,
                code => {
                    debug_assert!(code < PENDING, "first-level codes are looked up");
                    let (count, first) = groups.head(code);
                    Probe { count, first }
                }
            }
        };
        let mut probes = Vec::new();
        if parallel {
            (0..records * nlevels)
                .into_par_iter()
                .with_min_len(4096)
                .map(probe)
                .collect_into_vec(&mut probes);
        } else {
            probes.extend((0..records * nlevels).map(probe));
        }
        (probes, criterion.is_some())
    }

    /// Probes levels `from..` of one record, looking codes up as needed, and stops after a level
    /// that finds a single candidate not taken before the job (the record couples there unless
    /// an earlier record of this job takes it; [`CouplingRun::resolve`] then probes on). Masks
    /// needing a tuple index not yet built are added to `deferred`.
    #[allow(clippy::too_many_arguments)]
    fn probe_levels(
        &self,
        local: &Table,
        row: u32,
        codes: &mut [u32],
        out: &mut [Probe],
        from: usize,
        taken_before: &[bool],
        buf: &mut Scratch,
        deferred: &mut Vec<u64>,
    ) {
        // The levels' criteria, worked out when a level is first probed here (most records
        // are decided by the first level, probed for all of them beforehand).
        let mut masks: Option<[Option<u64>; MAX_CRITERIA]> = None;
        let mut decided = false;
        for level in from..self.levels.len() {
            if decided {
                out[level] = Probe {
                    count: Probe::NOT_PROBED,
                    first: 0,
                };
                continue;
            }
            let mut mask = None;
            if level > 0 || !self.first_level_probed {
                let masks = masks.get_or_insert_with(|| {
                    let mut masks = [None; MAX_CRITERIA];
                    self.for_each_level(codes, |level, mask| masks[level] = mask);
                    masks
                });
                mask = masks[level];
                if let Some(mask) = mask {
                    self.ensure_codes(local, row, codes, mask, buf);
                }
                out[level] = self.probe(local, row, codes, mask, buf);
            }
            match out[level].count {
                // The tuple index is over the exact criteria only.
                Probe::DEFERRED => deferred.push(mask.unwrap_or_default() & !self.fuzzy_bits),
                1 => decided = !taken_before[out[level].first as usize],
                _ => {}
            }
        }
    }

    /// Visits the candidates matching `codes` on every criterion of `mask`, in source order,
    /// until `visit` returns false. Returns `None` when the probe needs a tuple index that is
    /// not built.
    fn matches(&self, codes: &[u32], mask: u64, mut visit: impl FnMut(u32) -> bool) -> Option<()> {
        // Checked first: the other codes of the level were then not looked up.
        if criteria_of(mask).any(|c| codes[c] == ABSENT) {
            return Some(());
        }
        let mut smallest: Option<(usize, &[u32])> = None;
        for c in criteria_of(mask) {
            let code = codes[c];
            let group = self.code_groups[self.criteria[c].dictionary].group(code);
            if smallest.is_none_or(|(_, g)| group.len() < g.len()) {
                smallest = Some((c, group));
            }
        }
        let (base, group) = smallest?;
        let others = mask & !(1u64 << base);
        if others == 0 {
            for &pos in group {
                if !visit(pos) {
                    break;
                }
            }
            return Some(());
        }
        if group.len() > self.scan_limit {
            let (_, index) = self.tuple_indexes.iter().find(|(m, _)| *m == mask)?;
            let tuple: Vec<u32> = index.criteria.iter().map(|&c| codes[c]).collect();
            for &pos in index.group(&tuple) {
                if !visit(pos) {
                    break;
                }
            }
            return Some(());
        }
        'members: for &pos in group {
            for c in criteria_of(others) {
                if self.dictionaries[self.criteria[c].dictionary].codes[pos as usize] != codes[c] {
                    continue 'members;
                }
            }
            if !visit(pos) {
                break;
            }
        }
        Some(())
    }

    fn probe(
        &self,
        local: &Table,
        row: u32,
        codes: &[u32],
        mask: Option<u64>,
        scratch: &mut Scratch,
    ) -> Probe {
        let Some(mask) = mask else {
            return Probe {
                count: Probe::BLANK,
                first: 0,
            };
        };
        if mask & self.fuzzy_bits != 0 {
            return self.probe_fuzzy(local, row, codes, mask, scratch);
        }
        if mask.count_ones() == 1 {
            // One criterion in force: its group's head is the answer.
            let c = mask.trailing_zeros() as usize;
            if codes[c] == ABSENT {
                return Probe::NONE;
            }
            let (count, first) = self.code_groups[self.criteria[c].dictionary].head(codes[c]);
            return Probe { count, first };
        }
        let mut probe = Probe::NONE;
        let found = self.matches(codes, mask, |pos| {
            if probe.count == 0 {
                probe.first = pos;
            }
            probe.count += 1;
            true
        });
        match found {
            Some(()) => probe,
            None => Probe {
                count: Probe::DEFERRED,
                first: 0,
            },
        }
    }

    /// The fuzzy score of candidate `pos` for local row `row` over the fuzzy criteria of
    /// `fuzzy_mask`: the mean similarity, or `None` when one criterion is below its threshold.
    /// With `profiles` (the record's values profiled, one per fuzzy criterion in mask order),
    /// candidates that cannot reach a threshold are passed over without computing a similarity.
    fn fuzzy_score(
        &self,
        local: &Table,
        row: u32,
        pos: u32,
        fuzzy_mask: u64,
        mut profiles: Option<&mut [CharProfile]>,
    ) -> Option<f64> {
        let integration_row = self.candidates[pos as usize] as usize;
        let (mut total, mut n) = (0.0, 0usize);
        for c in criteria_of(fuzzy_mask) {
            let f = self.criteria[c].fuzzy.as_ref().expect("fuzzy bit");
            let theirs = self.fuzzy_values[f.values].get(integration_row);
            let ours = self.local_value(local, row, c);
            if let Some(profile) = profiles.as_deref_mut().and_then(|p| p.get_mut(n)) {
                if !f.settings.may_pass(ours, profile, theirs) {
                    return None;
                }
            }
            total += f.settings.score(ours, theirs)?;
            n += 1;
        }
        Some(total / n.max(1) as f64)
    }

    /// Fills `scratch.scored` with the candidates of a level with fuzzy criteria and their
    /// scores, in source order: the exact criteria's matches (or, without any, the record's
    /// smallest block) that every fuzzy criterion accepts. `None` when the exact part needs a
    /// tuple index that is not built.
    fn rank_fuzzy(
        &self,
        local: &Table,
        row: u32,
        codes: &[u32],
        mask: u64,
        scratch: &mut Scratch,
    ) -> Option<()> {
        let fuzzy_mask = mask & self.fuzzy_bits;
        let exact_mask = mask & !self.fuzzy_bits;
        scratch.scored.clear();
        let scored = &mut scratch.scored;
        let profiles = &mut scratch.profiles;
        profiles.clear();
        for c in criteria_of(fuzzy_mask) {
            profiles.push(CharProfile::new(self.local_value(local, row, c)));
        }
        if exact_mask != 0 {
            return self.matches(codes, exact_mask, |pos| {
                if let Some(score) =
                    self.fuzzy_score(local, row, pos, fuzzy_mask, Some(&mut profiles[..]))
                {
                    scored.push((pos, score));
                }
                true
            });
        }
        // Only fuzzy criteria: the smallest block among theirs.
        let mut best: Option<(usize, usize)> = None;
        for c in criteria_of(fuzzy_mask) {
            let f = self.criteria[c].fuzzy.as_ref().expect("fuzzy bit");
            let len = f
                .blocks
                .block_len(f.settings.blocking, self.local_value(local, row, c));
            if best.is_none_or(|(_, l)| len < l) {
                best = Some((c, len));
            }
        }
        let (c, _) = best?;
        let f = self.criteria[c].fuzzy.as_ref().expect("fuzzy bit");
        let values = &self.fuzzy_values[f.values];
        let candidates = &self.candidates;
        f.blocks.block(
            f.settings.blocking,
            self.local_value(local, row, c),
            |p| values.get(candidates[p as usize] as usize),
            &mut scratch.block,
        );
        for &pos in &scratch.block {
            if let Some(score) =
                self.fuzzy_score(local, row, pos, fuzzy_mask, Some(&mut profiles[..]))
            {
                scored.push((pos, score));
            }
        }
        Some(())
    }

    /// The tie margin of a level: the widest of its fuzzy criteria's.
    fn tie_margin(&self, mask: u64) -> f64 {
        let mut margin: f64 = 0.0;
        for c in criteria_of(mask & self.fuzzy_bits) {
            if let Some(f) = &self.criteria[c].fuzzy {
                margin = margin.max(f.settings.tie_margin);
            }
        }
        margin
    }

    /// The best candidate of a fuzzy level (highest score, the first in source order among
    /// equals) and how many candidates lie within the tie margin of it.
    fn best_of(scored: &[(u32, f64)], margin: f64) -> Option<((u32, f64), u32)> {
        let best = scored
            .iter()
            .copied()
            .reduce(|a, b| if b.1 > a.1 { b } else { a })?;
        let close = scored.iter().filter(|s| s.1 >= best.1 - margin).count() as u32;
        Some((best, close))
    }

    fn probe_fuzzy(
        &self,
        local: &Table,
        row: u32,
        codes: &[u32],
        mask: u64,
        scratch: &mut Scratch,
    ) -> Probe {
        if self.rank_fuzzy(local, row, codes, mask, scratch).is_none() {
            return Probe {
                count: Probe::DEFERRED,
                first: 0,
            };
        }
        match Self::best_of(&scratch.scored, self.tie_margin(mask)) {
            None => Probe::NONE,
            Some(((pos, _), close)) => Probe {
                count: close,
                first: pos,
            },
        }
    }

    fn build_tuple_index(&self, mask: u64) -> TupleIndex {
        let criteria: Vec<usize> = (0..self.criteria.len())
            .filter(|&c| mask & (1u64 << c) != 0)
            .collect();
        let dictionaries: Vec<&Dictionary<'_>> = criteria
            .iter()
            .map(|&c| &self.dictionaries[self.criteria[c].dictionary])
            .collect();
        TupleIndex::build(criteria, &dictionaries)
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
/// in `local`'s order.
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
    /// First come, first served: walks the records in processing order.
    fn resolve(
        &mut self,
        local_rows: &[u32],
        probes: &mut [Probe],
        nlevels: usize,
        taken_before: &[bool],
        skipped: &[bool],
        parallel: bool,
    ) {
        let ncrit = self.matcher.criteria.len();
        let mut buf = Default::default();
        const FREE: u32 = u32::MAX;
        const EXISTING: u32 = u32::MAX - 1;
        // Who holds each candidate: free, an existing coupling, or the local row that coupled it
        // in this job (one array: one random read per decision).
        let mut holder_of: Vec<u32> = taken_before
            .iter()
            .map(|&taken| if taken { EXISTING } else { FREE })
            .collect();
        let no_criteria = self.spec.criteria.is_empty();
        // Every record's slot is written once on all cores first: the sequential loop below
        // then fills pages already mapped instead of faulting them in one by one (at 1M
        // records 41 / 62 -> 36 / 48 ms, minimum / median).
        let unset = RecordOutcome {
            local_row: 0,
            outcome: Outcome::Skipped,
            trace_start: 0,
            trace_len: 0,
        };
        self.outcomes.clear();
        if parallel {
            self.outcomes
                .par_extend(rayon::iter::repeat_n(unset, local_rows.len()));
        } else {
            self.outcomes.resize(local_rows.len(), unset);
        }
        for (i, &row) in local_rows.iter().enumerate() {
            if let Some(ahead) = probes.get((i + AHEAD) * nlevels) {
                if ahead.count == 1 {
                    prefetch(&holder_of[ahead.first as usize]);
                }
            }
            let trace_start = self.traces.len() as u32;
            let outcome = if skipped[row as usize] {
                Outcome::Skipped
            } else if no_criteria {
                Outcome::NoCriteria
            } else {
                let mut outcome = Outcome::NoMatch { level: 0 };
                for level in 0..nlevels {
                    let level_u16 = level as u16;
                    if probes[i * nlevels + level].count == Probe::NOT_PROBED {
                        // An earlier level's single candidate was taken in this job: go on.
                        self.probe_now(
                            row,
                            i * ncrit..(i + 1) * ncrit,
                            &mut probes[i * nlevels..(i + 1) * nlevels],
                            level,
                            taken_before,
                            &mut buf,
                        );
                    }
                    let probe = &probes[i * nlevels + level];
                    let result = match probe.count {
                        Probe::BLANK => {
                            outcome = Outcome::NoMatch { level: level_u16 };
                            LevelResult::Blank
                        }
                        0 => {
                            outcome = Outcome::NoMatch { level: level_u16 };
                            LevelResult::NoMatch
                        }
                        1 => {
                            let pos = probe.first as usize;
                            // The candidate's position for now; its row after the loop.
                            let integration_row = pos as u32;
                            let holder = match holder_of[pos] {
                                FREE => None,
                                EXISTING => Some(Holder::Existing),
                                local_row => Some(Holder::ThisJob(local_row)),
                            };
                            if let Some(holder) = holder {
                                outcome = Outcome::AlreadyCoupled {
                                    level: level_u16,
                                    integration_row,
                                    holder,
                                };
                                LevelResult::AlreadyCoupled
                            } else {
                                holder_of[pos] = row;
                                outcome = Outcome::Coupled {
                                    integration_row,
                                    level: level_u16,
                                };
                                LevelResult::Coupled
                            }
                        }
                        n => {
                            outcome = Outcome::MultipleMatches {
                                level: level_u16,
                                count: n,
                            };
                            LevelResult::Multiple(n)
                        }
                    };
                    self.traces.push(pack_result(result));
                    if result == LevelResult::Coupled {
                        break;
                    }
                }
                outcome
            };
            self.log.count(&outcome);
            self.outcomes[i] = RecordOutcome {
                local_row: row,
                outcome,
                trace_start,
                trace_len: (self.traces.len() as u32 - trace_start) as u16,
            };
        }
        // Candidate positions become integration rows here, on all cores: the loop above
        // then reads one array at random per decision, not two.
        let candidates = &self.matcher.candidates;
        let to_row = |record: &mut RecordOutcome| {
            if let Outcome::Coupled {
                integration_row, ..
            }
            | Outcome::AlreadyCoupled {
                integration_row, ..
            } = &mut record.outcome
            {
                *integration_row = candidates[*integration_row as usize];
            }
        };
        if parallel {
            self.outcomes
                .par_iter_mut()
                .with_min_len(4096)
                .for_each(to_row);
        } else {
            self.outcomes.iter_mut().for_each(to_row);
        }
        self.book(no_criteria);
    }

    /// BC's counters and error rows from the outcome counts.
    fn book(&mut self, no_criteria: bool) {
        let counts: OutcomeCounts = self.log.outcomes;
        self.log.counters.coupled = counts.coupled;
        self.log.counters.failed = 0;
        self.log.errors.clear();
        if no_criteria {
            self.log.counters.failed = 1;
            self.log.errors.push(no_criteria_message(self.spec));
        } else {
            let unmatched = counts.no_match + counts.multiple_matches + counts.already_coupled;
            if unmatched > 0 {
                self.log.counters.failed = unmatched;
                self.log
                    .errors
                    .push(unmatched_message(self.spec, unmatched));
            }
        }
    }

    /// Probes levels `from..` of record `i` now, sequentially (building any tuple index needed).
    fn probe_now(
        &mut self,
        row: u32,
        codes: std::ops::Range<usize>,
        out: &mut [Probe],
        from: usize,
        taken_before: &[bool],
        buf: &mut Scratch,
    ) {
        loop {
            let mut deferred = Vec::new();
            self.matcher.probe_levels(
                self.local,
                row,
                &mut self.local_codes[codes.clone()],
                out,
                from,
                taken_before,
                buf,
                &mut deferred,
            );
            if deferred.is_empty() {
                return;
            }
            for mask in deferred {
                if !self.matcher.tuple_indexes.iter().any(|(m, _)| *m == mask) {
                    let index = self.matcher.build_tuple_index(mask);
                    self.matcher.tuple_indexes.push((mask, index));
                }
            }
        }
    }

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

    /// The per-level trace of a record, level 0 first.
    pub fn trace(&self, record: &RecordOutcome) -> impl Iterator<Item = LevelTrace> + '_ {
        let start = record.trace_start as usize;
        self.traces[start..start + record.trace_len as usize]
            .iter()
            .zip(&self.priorities)
            .map(|(&packed, &priority)| LevelTrace {
                priority,
                result: unpack_result(packed),
            })
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
            values.push(MatchedValue {
                field: &self.spec.criteria[c].local_field,
                local: m.local_value(self.local, row, c),
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

    /// Another job committed a coupling of this record's integration row first (two
    /// concurrent `--apply` runs): the record becomes `already_coupled`, held by
    /// `holder_local_id`, and BC's counters and error row are booked again. Returns false (and
    /// changes nothing) unless record `i` was coupled.
    pub fn demote_to_already_coupled(&mut self, i: usize, holder_local_id: &str) -> bool {
        let record = self.outcomes[i];
        let Outcome::Coupled {
            integration_row,
            level,
        } = record.outcome
        else {
            return false;
        };
        self.late_holders
            .insert(integration_row, holder_local_id.to_string());
        self.replace_outcome(
            i,
            Outcome::AlreadyCoupled {
                level,
                integration_row,
                holder: Holder::ConcurrentJob,
            },
        );
        let last = (record.trace_start + u32::from(record.trace_len) - 1) as usize;
        self.traces[last] = pack_result(LevelResult::AlreadyCoupled);
        true
    }

    /// Another job coupled this local record first (to `integration_id`): the record becomes
    /// `skipped`, as if it had been coupled before the job. Returns false unless it was coupled.
    pub fn demote_to_skipped(&mut self, i: usize, integration_id: &str) -> bool {
        let record = self.outcomes[i];
        if !matches!(record.outcome, Outcome::Coupled { .. }) {
            return false;
        }
        self.late_couplings
            .insert(record.local_row, integration_id.to_string());
        self.replace_outcome(i, Outcome::Skipped);
        self.outcomes[i].trace_len = 0;
        true
    }

    fn replace_outcome(&mut self, i: usize, outcome: Outcome) {
        let old = std::mem::replace(&mut self.outcomes[i].outcome, outcome);
        self.log.uncount(&old);
        self.log.count(&outcome);
        self.book(false);
    }
}

/// The criteria of a mask (bit `c` = criterion `c`), ascending.
#[inline]
fn criteria_of(mask: u64) -> impl Iterator<Item = usize> {
    let mut bits = mask;
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let c = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            c
        })
    })
}

/// A level result in 4 bytes: a match count of 2 or more is itself; the other results are
/// values a count of several matches cannot take.
fn pack_result(result: LevelResult) -> u32 {
    match result {
        LevelResult::Blank => u32::MAX,
        LevelResult::NoMatch => 0,
        LevelResult::Coupled => 1,
        LevelResult::AlreadyCoupled => u32::MAX - 1,
        LevelResult::Multiple(n) => n,
    }
}

fn unpack_result(packed: u32) -> LevelResult {
    match packed {
        u32::MAX => LevelResult::Blank,
        0 => LevelResult::NoMatch,
        1 => LevelResult::Coupled,
        p if p == u32::MAX - 1 => LevelResult::AlreadyCoupled,
        n => LevelResult::Multiple(n),
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

fn column(table: &Table, name: &str) -> Result<usize, EngineError> {
    table
        .column_index(name)
        .ok_or_else(|| EngineError::MissingColumn {
            table: table.name().to_string(),
            column: name.to_string(),
            available: table.column_names().to_vec(),
        })
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

/// A table's ids, in their canonical form ([`crate::ids`]), sorted by hash: enough to check that
/// they are unique and to find the rows of given ids, by sorting (sequential passes) rather than
/// with a hash table of every row, whose inserts miss the cache once a table outgrows it.
struct IdIndex<'t> {
    /// The ids in canonical form: the key column itself when every id is (the usual case: BC
    /// numbers are upper-case, Dataverse GUIDs lower-case), else a canonical copy.
    ids: Cow<'t, Column>,
    hasher: KeyHasher,
    /// Per non-blank id: the upper 32 bits of its hash, then its row; ascending, so rows of
    /// equal hash bits are in row order (the sort is stable).
    sorted: Vec<u64>,
}

/// `(hash >> 32, n)` packed into one `u64` that sorts by the hash bits.
#[inline]
fn hash_tagged(hash: u64, n: u32) -> u64 {
    (hash & !0xFFFF_FFFF) | n as u64
}

/// Sorts `hash_tagged` values by their hash bits, keeping the order of equal ones.
fn sort_by_hash(tagged: &mut [u64]) {
    radsort::sort_by_key(tagged, |&t| (t >> 32) as u32);
}

/// How many of the first values of `sorted` (a `sort_by_hash`ed slice) have hash bits below
/// `bits`: an exponential search, in few steps when the answer is small.
fn gallop_below(sorted: &[u64], bits: u64) -> usize {
    let below = |t: &u64| t >> 32 < bits;
    let mut end = 1;
    while end < sorted.len() && below(&sorted[end - 1]) {
        end *= 2;
    }
    let start = end / 2;
    let end = end.min(sorted.len());
    start + sorted[start..end].partition_point(below)
}

/// The runs of `sorted` (a `sort_by_hash`ed slice) that share their hash bits.
fn hash_runs(sorted: &[u64]) -> impl Iterator<Item = &[u64]> {
    sorted.chunk_by(|a, b| a >> 32 == b >> 32)
}

impl<'t> IdIndex<'t> {
    fn id(&self, tagged: u64) -> &str {
        self.ids.get(tagged as u32 as usize)
    }

    /// The canonical ids, by row (the sorted hashes are dropped).
    fn into_ids(self) -> Cow<'t, Column> {
        self.ids
    }

    /// Which rows have one of `ids` (canonical ids; ids the table lacks are passed over), as a
    /// flag per row.
    fn mark_rows<'i>(&self, ids: impl Iterator<Item = &'i str>) -> Vec<bool> {
        let ids: Vec<&str> = ids.collect();
        let mut queries: Vec<u64> = ids
            .iter()
            .enumerate()
            .map(|(n, id)| hash_tagged(self.hasher.hash(id), n as u32))
            .collect();
        sort_by_hash(&mut queries);
        // A merge of the two sorted lists, run by run of equal hash bits; the ids asked for are
        // usually far fewer than the rows, so the rows between two of them are skipped by
        // galloping rather than stepped through.
        let mut marked = vec![false; self.ids.len()];
        let mut rows = self.sorted.as_slice();
        for asked in hash_runs(&queries) {
            let bits = asked[0] >> 32;
            rows = &rows[gallop_below(rows, bits)..];
            let run_len = gallop_below(rows, bits + 1);
            for &q in asked {
                let id = ids[q as u32 as usize];
                for &r in rows[..run_len]
                    .iter()
                    .filter(|&&r| same_text(self.id(r), id))
                {
                    marked[r as u32 as usize] = true;
                }
            }
        }
        marked
    }
}

/// Brings the ids of `table` to their canonical form and sorts them by hash; fails on the first
/// (by row) blank or repeated id.
fn check_ids(
    table: &Table,
    key: usize,
    side: IdSide,
    options: RunOptions,
) -> Result<IdIndex<'_>, EngineError> {
    check_ids_with(table, key, side, options, KeyHasher::default())
}

fn check_ids_with(
    table: &Table,
    key: usize,
    side: IdSide,
    options: RunOptions,
    hasher: KeyHasher,
) -> Result<IdIndex<'_>, EngineError> {
    let cells = table.column(key);
    // One pass hashes every id's canonical form and notes whether any id is spelled otherwise
    // (only then is the column copied). A column whose text holds nothing a canonical form
    // changes skips the test per id.
    let respelled = AtomicBool::new(false);
    let plain = column_surely_canonical(side, cells, options.parallel);
    let tag = |buf: &mut String, row: u32| {
        let cell = cells.get(row as usize);
        let id = if plain || surely_canonical(side, cell) {
            cell
        } else {
            buf.clear();
            push_canonical(side, cell, buf);
            if buf != cell && !respelled.load(Ordering::Relaxed) {
                respelled.store(true, Ordering::Relaxed);
            }
            buf.as_str()
        };
        (!id.is_empty()).then(|| hash_tagged(hasher.hash(id), row))
    };
    let rows = 0..table.len() as u32;
    let mut sorted: Vec<u64> = if options.parallel {
        rows.into_par_iter()
            .map_init(String::new, tag)
            .flatten_iter()
            .collect()
    } else {
        let mut buf = String::new();
        rows.filter_map(|row| tag(&mut buf, row)).collect()
    };
    let ids = if respelled.into_inner() {
        Cow::Owned(canonical_column(cells, side, options).map_err(|_| {
            EngineError::ColumnTooLarge {
                table: table.name().to_string(),
                column: table.column_names()[key].clone(),
            }
        })?)
    } else {
        Cow::Borrowed(cells)
    };
    let first_blank = (sorted.len() < table.len()).then(|| {
        (0..table.len())
            .find(|&row| ids.get(row).is_empty())
            .expect("a blank id")
    });
    sort_by_hash(&mut sorted);
    let index = IdIndex {
        ids,
        hasher,
        sorted,
    };
    // The first row whose id an earlier row has: in each run of equal hash bits (rows in
    // order), the first member equal to an earlier one.
    let mut first_repeat: Option<(usize, usize)> = None;
    for run in hash_runs(&index.sorted) {
        'run: for (j, &later) in run.iter().enumerate().skip(1) {
            for &earlier in &run[..j] {
                if same_text(index.id(earlier), index.id(later)) {
                    let pair = (later as u32 as usize, earlier as u32 as usize);
                    if first_repeat.is_none_or(|(row, _)| pair.0 < row) {
                        first_repeat = Some(pair);
                    }
                    break 'run;
                }
            }
        }
    }
    match (first_blank, first_repeat) {
        (Some(blank), repeat) if repeat.is_none_or(|(row, _)| blank < row) => {
            Err(EngineError::BlankId {
                table: table.name().to_string(),
                column: table.column_names()[key].clone(),
                line: table.origin(blank),
            })
        }
        (_, Some((row, first))) => Err(EngineError::DuplicateId {
            table: table.name().to_string(),
            id: table.cell(row, key).to_string(),
            line: table.origin(row),
            first_line: table.origin(first),
            first_id: table.cell(first, key).to_string(),
        }),
        _ => Ok(index),
    }
}

/// The canonical form of every id of `cells` ([`check_ids`] calls it only when some id is
/// spelled otherwise), built in pieces on all cores when `parallel`.
fn canonical_column(
    cells: &Column,
    side: IdSide,
    options: RunOptions,
) -> Result<Column, crate::table::ColumnFull> {
    const PIECE: usize = 1 << 16;
    let average = cells.text_len().div_ceil(cells.len().max(1));
    let build = |rows: std::ops::Range<usize>| {
        let mut column = Column::with_capacity(rows.len(), rows.len() * average);
        for row in rows {
            column.push_with(|text| push_canonical(side, cells.get(row), text))?;
        }
        Ok(column)
    };
    if !options.parallel || cells.len() <= PIECE {
        return build(0..cells.len());
    }
    let pieces: Vec<Column> = (0..cells.len().div_ceil(PIECE))
        .into_par_iter()
        .map(|p| build(p * PIECE..((p + 1) * PIECE).min(cells.len())))
        .collect::<Result<_, _>>()?;
    let mut column = Column::with_capacity(
        cells.len(),
        pieces.iter().map(Column::text_len).sum::<usize>(),
    );
    for piece in &pieces {
        column.append(piece)?;
    }
    Ok(column)
}

/// The rows of `table` that pass `filter`, in order.
fn filtered_rows(
    table: &Table,
    filter: &TableFilter,
    options: RunOptions,
) -> Result<Vec<u32>, EngineError> {
    let conditions = filter
        .iter()
        .map(|(c, v)| Ok((column(table, c)?, v.as_str())))
        .collect::<Result<Vec<_>, EngineError>>()?;
    let passes = |r: &u32| {
        conditions
            .iter()
            .all(|&(c, v)| same_text(table.cell(*r as usize, c), v))
    };
    let rows = 0..table.len() as u32;
    Ok(if options.parallel {
        rows.into_par_iter().filter(passes).collect()
    } else {
        rows.filter(passes).collect()
    })
}

/// Which candidates (by position) an existing coupling already holds.
fn existing_taken(
    integration_rows: &IdIndex<'_>,
    candidates: &[u32],
    existing: &ExistingCouplings,
) -> Vec<bool> {
    let taken_rows = integration_rows.mark_rows(existing.taken_ids());
    candidates.iter().map(|&r| taken_rows[r as usize]).collect()
}

/// Which local rows this mapping has coupled already (they are skipped).
fn coupled_locals(local_rows: &IdIndex<'_>, existing: &ExistingCouplings) -> Vec<bool> {
    local_rows.mark_rows(existing.coupled_local_ids())
}

/// A dictionary to build: the values (the integration column, or values derived from it), the
/// rule, and the table column for error messages.
type DictionaryInput<'t> = (Cow<'t, Column>, Fold, usize);

fn build_dictionaries<'t>(
    integration: &'t Table,
    candidates: &[u32],
    inputs: Vec<DictionaryInput<'t>>,
    options: RunOptions,
) -> Result<Vec<Dictionary<'t>>, EngineError> {
    // One after another, each on all cores: a large column and a small one balance no worse,
    // and only one dictionary's build buffers are alive at a time.
    let mut first_error: Option<EngineError> = None;
    let mut dictionaries = Vec::with_capacity(inputs.len());
    for (values, fold, col) in inputs {
        match Dictionary::build(values, fold, candidates, options.parallel) {
            Ok(d) => dictionaries.push(d),
            Err((row, problem)) => {
                // Report the error of the earliest line.
                let e = invalid(integration, row as usize, col, problem);
                let earlier = match (&first_error, &e) {
                    (None, _) => true,
                    (
                        Some(EngineError::InvalidValue { line: a, .. }),
                        EngineError::InvalidValue { line: b, .. },
                    ) => b < a,
                    _ => false,
                };
                if earlier {
                    first_error = Some(e);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(dictionaries),
    }
}

/// Where a dictionary's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueSource {
    /// An integration column as read.
    Table(usize),
    /// Derived values (index into the derivation's integration columns).
    Derived(usize),
}

/// Which rows of a table of `len` rows are listed in `rows`.
fn membership(len: usize, rows: &[u32]) -> Vec<bool> {
    let mut member = vec![false; len];
    for &r in rows {
        member[r as usize] = true;
    }
    member
}

fn invalid(table: &Table, row: usize, col: usize, problem: InvalidValue) -> EngineError {
    EngineError::InvalidValue {
        table: table.name().to_string(),
        column: table.column_names()[col].clone(),
        line: table.origin(row),
        value: table.cell(row, col).to_string(),
        problem,
    }
}

/// Codes of every (local record, criterion), flattened record-major: [`BLANK`] or [`PENDING`]
/// (looked up when a level needs it). Every value is checked here, so an unreadable cell stops
/// the job whether or not its level is reached.
fn prepare_local_codes(
    local: &Table,
    derived_local: &[Column],
    rows: &[u32],
    criteria: &[CompiledCriterion],
    options: RunOptions,
) -> Result<Vec<u32>, EngineError> {
    let ncrit = criteria.len();
    let failed = AtomicBool::new(false);
    let check_one =
        |row: u32, c: &CompiledCriterion, buf: &mut String| -> Result<u32, InvalidValue> {
            let cell = match c.derived_local {
                Some(d) => derived_local[d].get(row as usize),
                None => local.cell(row as usize, c.local_column),
            };
            // Blank text needs no key; other text is its own proof of readability.
            Ok(match c.field_type {
                FieldType::Text if cell.is_empty() => BLANK,
                FieldType::Text => PENDING,
                FieldType::Code if cell.trim().is_empty() => BLANK,
                FieldType::Code => PENDING,
                _ => {
                    local_key_into(cell, c.field_type, c.fold, buf)?;
                    PENDING
                }
            })
        };
    let check_row = |buf: &mut String, (out, &row): (&mut [u32], &u32)| {
        for (slot, c) in out.iter_mut().zip(criteria) {
            *slot = check_one(row, c, buf).unwrap_or_else(|_| {
                failed.store(true, Ordering::Relaxed);
                INVALID
            });
        }
    };
    let mut codes = vec![0u32; rows.len() * ncrit];
    if ncrit > 0 {
        if options.parallel {
            codes
                .par_chunks_mut(ncrit)
                .zip(rows.par_iter())
                .with_min_len(1024)
                .for_each_init(String::new, check_row);
        } else {
            let mut buf = String::new();
            codes
                .chunks_mut(ncrit)
                .zip(rows.iter())
                .for_each(|item| check_row(&mut buf, item));
        }
    }
    if failed.load(Ordering::Relaxed) {
        // Find the first bad cell in processing order, for a deterministic message.
        let mut buf = String::new();
        for &row in rows {
            for c in criteria {
                if let Err(problem) = check_one(row, c, &mut buf) {
                    return Err(invalid(local, row as usize, c.local_column, problem));
                }
            }
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::canonical_id;
    use proptest::prelude::*;

    /// What the id check must say, from a plain left-to-right scan of the canonical ids: the
    /// first blank id, or the first id seen before (with the line of its first occurrence).
    fn first_bad_id(ids: &[String], side: IdSide) -> Option<(bool, usize, usize)> {
        let mut first_row = std::collections::HashMap::new();
        for (row, id) in ids.iter().enumerate() {
            let id = canonical_id(side, id);
            if id.is_empty() {
                return Some((true, row, row));
            }
            if let Some(&first) = first_row.get(&id) {
                return Some((false, row, first));
            }
            first_row.insert(id, row);
        }
        None
    }

    /// Ids drawn from a few values in several spellings: codes in any case with spaces around,
    /// GUIDs in any case with or without braces, blanks.
    fn spelled_ids() -> impl Strategy<Value = Vec<String>> {
        let guid = |n: u8| format!("{n:08x}-48bc-a138-be13-4ea95426dd94");
        proptest::collection::vec(
            (0u8..8, 0u8..6).prop_map(move |(value, spelling)| {
                let id = if value < 4 {
                    format!("c-{value}")
                } else {
                    guid(value)
                };
                match spelling {
                    0 => id,
                    1 => id.to_uppercase(),
                    2 => format!("{id} "),
                    3 if value < 4 => format!(" {}", id.to_uppercase()),
                    3 => format!("{{{}}}", id.to_uppercase()),
                    4 => String::new(),
                    _ => "  ".to_string(),
                }
            }),
            0..40,
        )
    }

    fn id_table(ids: &[String]) -> Table {
        let rows: Vec<Vec<&str>> = ids.iter().map(|id| vec![id.as_str()]).collect();
        Table::from_rows("ids.csv", &["id"], &rows).unwrap()
    }

    fn hashers() -> [KeyHasher; 2] {
        // The second keeps two of the sorted hash bits: nearly every id shares them with others.
        [KeyHasher::default(), KeyHasher::keeping(0x3 << 40)]
    }

    proptest! {
        #[test]
        fn id_check_finds_the_first_blank_or_repeated_id(
            ids in proptest::collection::vec("|[a-f]{1,2}|[a-z]{6}", 0..150),
        ) {
            let table = id_table(&ids);
            for hasher in hashers() {
                for parallel in [false, true] {
                    let options = RunOptions { parallel, ..RunOptions::default() };
                    let side = IdSide::Integration;
                    let got = match check_ids_with(&table, 0, side, options, hasher.clone()) {
                        Ok(_) => None,
                        Err(EngineError::BlankId { line, .. }) => Some((true, line, line)),
                        Err(EngineError::DuplicateId { line, first_line, .. }) => {
                            Some((false, line, first_line))
                        }
                        Err(other) => panic!("{other}"),
                    };
                    let expected = first_bad_id(&ids, side)
                        .map(|(blank, row, first)| (blank, table.origin(row), table.origin(first)));
                    prop_assert_eq!(got, expected);
                }
            }
        }

        #[test]
        fn galloping_finds_what_a_binary_search_finds(
            mut bits in proptest::collection::vec(0u64..40, 0..300),
            probe in 0u64..42,
        ) {
            bits.sort_unstable();
            let sorted: Vec<u64> = bits.iter().map(|&b| b << 32).collect();
            let expected = sorted.partition_point(|t| t >> 32 < probe);
            prop_assert_eq!(gallop_below(&sorted, probe), expected);
        }

        #[test]
        fn id_index_marks_the_rows_of_the_ids_asked_for(
            ids in proptest::collection::hash_set("[a-z]{1,3}", 0..120),
            asked in proptest::collection::vec("[a-z]{1,3}", 0..60),
        ) {
            let ids: Vec<String> = ids.into_iter().collect();
            let table = id_table(&ids);
            for hasher in hashers() {
                let index =
                    check_ids_with(&table, 0, IdSide::Integration, RunOptions::default(), hasher)
                        .unwrap();
                let marked = index.mark_rows(asked.iter().map(String::as_str));
                let expected: Vec<bool> = ids.iter().map(|id| asked.contains(id)).collect();
                prop_assert_eq!(marked, expected);
            }
        }

        /// Ids spelled differently but equal in canonical form are one id: the check finds the
        /// first repeat of a canonical id, on both sides, on one thread or many, and the index
        /// holds the canonical ids.
        #[test]
        fn id_check_compares_canonical_ids(ids in spelled_ids()) {
            let table = id_table(&ids);
            for side in [IdSide::Local, IdSide::Integration] {
                for hasher in hashers() {
                    for parallel in [false, true] {
                        let options = RunOptions { parallel, ..RunOptions::default() };
                        let got = match check_ids_with(&table, 0, side, options, hasher.clone()) {
                            Ok(index) => {
                                let canonical = index.into_ids();
                                for (row, id) in ids.iter().enumerate() {
                                    prop_assert_eq!(canonical.get(row), &*canonical_id(side, id));
                                }
                                None
                            }
                            Err(EngineError::BlankId { line, .. }) => Some((true, line, line)),
                            Err(EngineError::DuplicateId { line, first_line, id, first_id, .. }) => {
                                // The error names both spellings as read.
                                let row = |l: u64| ids[(l - 2) as usize].as_str();
                                prop_assert_eq!(id.as_str(), row(line));
                                prop_assert_eq!(first_id.as_str(), row(first_line));
                                Some((false, line, first_line))
                            }
                            Err(other) => panic!("{other}"),
                        };
                        let expected = first_bad_id(&ids, side)
                            .map(|(blank, row, first)| (blank, table.origin(row), table.origin(first)));
                        prop_assert_eq!(got, expected);
                    }
                }
            }
        }
    }

    #[test]
    fn canonical_ids_borrow_the_column_unless_an_id_is_respelled() {
        let guid = "5f641b45-48bc-a138-be13-4ea95426dd94";
        let table = id_table(&[guid.to_string(), "C00010".to_string()]);
        for side in [IdSide::Local, IdSide::Integration] {
            let index = check_ids(&table, 0, side, RunOptions::default()).unwrap();
            assert!(matches!(index.into_ids(), Cow::Borrowed(_)));
        }
        let table = id_table(&[format!("{{{}}}", guid.to_uppercase()), "c00010 ".into()]);
        let index = check_ids(&table, 0, IdSide::Local, RunOptions::default()).unwrap();
        let ids = index.into_ids();
        assert!(matches!(ids, Cow::Owned(_)));
        assert_eq!((ids.get(0), ids.get(1)), (guid, "C00010"));
        // The integration side keeps ids that are not GUIDs as read.
        let index = check_ids(&table, 0, IdSide::Integration, RunOptions::default()).unwrap();
        let ids = index.into_ids();
        assert_eq!((ids.get(0), ids.get(1)), (guid, "c00010 "));
    }

    #[test]
    fn canonical_columns_built_in_pieces_match_one_built_at_once() {
        let ids: Vec<String> = (0..150_000)
            .map(|i| {
                if i % 3 == 0 {
                    format!("c{i} ")
                } else {
                    format!("{{{i:08X}-48BC-A138-BE13-4EA95426DD94}}")
                }
            })
            .collect();
        let table = id_table(&ids);
        let column = table.column(0);
        let parallel = RunOptions::default();
        let sequential = RunOptions {
            parallel: false,
            ..parallel
        };
        let a = canonical_column(column, IdSide::Local, parallel).unwrap();
        let b = canonical_column(column, IdSide::Local, sequential).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), ids.len());
        for (row, id) in ids.iter().enumerate() {
            assert_eq!(a.get(row), canonical_id(IdSide::Local, id));
        }
    }
}
