//! The coupling algorithm (semantics spec §1) on hash indexes.
//!
//! BC asks the server once per local record per priority level. The engine instead:
//!
//! 1. **encodes** every cell a criterion compares into a dictionary code: one dictionary per
//!    (integration column, comparison rule), built over the candidate integration records; a
//!    local value absent from the dictionary can match nothing;
//! 2. works out, per record and level, which criteria are in force (cumulative filters, blank
//!    text skipped, a later condition on the same integration field replacing the earlier one) —
//!    a bit set over the criteria;
//! 3. builds **one index per distinct set of criteria in force**, grouping the candidates by
//!    their tuple of codes (a candidate list per group, in source order);
//! 4. **probes** every record at every level in parallel: the group of its tuple is exactly the
//!    set of integration records BC's filtered query would return;
//! 5. **resolves** sequentially, in processing order: the first level whose group holds exactly
//!    one record that is not taken couples it. Only this step depends on earlier records, and it
//!    is O(records × levels), so the result is the sequential algorithm's for any thread count.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use thiserror::Error;

use crate::mapping::{CouplingSpec, ExistingCouplings, PriorityMode, TableFilter};
use crate::outcome::{
    no_criteria_message, unmatched_message, CandidateGroup, Holder, JobLog, LevelResult,
    LevelTrace, Outcome, OutcomeCounts, RecordOutcome,
};
use crate::table::Table;
use crate::value::{integration_key, local_key, FieldType, Fold, InvalidValue};

/// At most this many criteria per mapping (criteria in force are a 64-bit set).
pub const MAX_CRITERIA: usize = 64;

/// Which side of a mapping a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Local,
    Integration,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Local => "local",
            Side::Integration => "integration",
        })
    }
}

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
    #[error("{table} line {line}: duplicate id '{id}' (first seen on line {first_line})")]
    DuplicateId {
        table: String,
        id: String,
        line: u64,
        first_line: u64,
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
}

/// How the job runs; the result never depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Encode, index and probe on rayon's current thread pool.
    pub parallel: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { parallel: true }
    }
}

/// Sentinel codes of a local cell: blank text (no condition) and a value no candidate has.
const BLANK: u32 = u32::MAX;
const ABSENT: u32 = u32::MAX - 1;
const INVALID: u32 = u32::MAX - 2;
/// Sentinel of a probe: the level was all blank / matched nothing.
const PROBE_BLANK: u32 = u32::MAX;
const PROBE_NONE: u32 = u32::MAX - 1;

struct CompiledCriterion {
    local_column: usize,
    integration_slot: usize,
    dictionary: usize,
    field_type: FieldType,
    fold: Fold,
}

struct Level {
    criteria: Vec<usize>,
}

/// Dictionary codes of one integration column under one comparison rule.
struct Dictionary {
    codes_by_key: HashMap<String, u32>,
    /// Code of each candidate (by candidate position).
    codes: Vec<u32>,
}

/// Candidates grouped by their tuple of codes over one set of criteria.
struct Index {
    criteria: Vec<usize>,
    /// Tuple → group; `None` when the index has a single criterion (group = code).
    groups_by_tuple: Option<HashMap<Box<[u32]>, u32>>,
    /// `starts[g]..starts[g + 1]` is group g in `members`.
    starts: Vec<u32>,
    /// Candidate positions, grouped, in source order within a group.
    members: Vec<u32>,
}

impl Index {
    fn group_of(&self, key: &[u32]) -> Option<u32> {
        match &self.groups_by_tuple {
            None => Some(key[0]),
            Some(map) => map.get(key).copied(),
        }
    }

    fn members(&self, group: u32) -> &[u32] {
        let g = group as usize;
        &self.members[self.starts[g] as usize..self.starts[g + 1] as usize]
    }
}

/// A finished coupling job: outcomes in processing order, the job log, and what is needed to
/// render each record (ids, candidates, messages).
pub struct CouplingRun<'a> {
    spec: &'a CouplingSpec,
    local: &'a Table,
    integration: &'a Table,
    existing: &'a ExistingCouplings,
    local_key: usize,
    integration_key: usize,
    priorities: Vec<u32>,
    candidates: Vec<u32>,
    indexes: Vec<Index>,
    outcomes: Vec<RecordOutcome>,
    traces: Vec<LevelTrace>,
    log: JobLog,
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
    let local_key = column(local, &spec.local_key)?;
    let integration_key = column(integration, &spec.integration_key)?;
    check_ids(local, local_key)?;
    check_ids(integration, integration_key)?;
    let local_rows = filtered_rows(local, &spec.local_filter)?;
    let candidates = filtered_rows(integration, &spec.integration_filter)?;

    // Compile criteria: columns, the integration field each one conditions, its dictionary.
    let mut slots: Vec<&str> = Vec::new();
    let mut dictionary_keys: Vec<(usize, Fold)> = Vec::new();
    let mut compiled = Vec::with_capacity(spec.criteria.len());
    for c in &spec.criteria {
        let local_column = column(local, &c.local_field)?;
        let integration_column = column(integration, &c.integration_field)?;
        let integration_slot = position_or_push(&mut slots, c.integration_field.as_str());
        let fold = Fold::for_criterion(c.field_type, c.case_sensitive);
        let dictionary = position_or_push(&mut dictionary_keys, (integration_column, fold));
        compiled.push(CompiledCriterion {
            local_column,
            integration_slot,
            dictionary,
            field_type: c.field_type,
            fold,
        });
    }
    let priorities: Vec<u32> = spec
        .criteria
        .iter()
        .map(|c| c.priority)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let levels: Vec<Level> = priorities
        .iter()
        .map(|&p| Level {
            criteria: (0..spec.criteria.len())
                .filter(|&i| spec.criteria[i].priority == p)
                .collect(),
        })
        .collect();

    let dictionaries = build_dictionaries(integration, &candidates, &dictionary_keys, options)?;
    let local_codes = encode_local(local, &local_rows, &compiled, &dictionaries, options)?;

    let plan = LevelPlan {
        criteria: &compiled,
        levels: &levels,
        slot_count: slots.len(),
        mode: spec.priority_mode,
    };
    let ncrit = compiled.len();
    let codes_of = |i: usize| &local_codes[i * ncrit..(i + 1) * ncrit];

    // The distinct sets of criteria in force, and one index for each.
    let masks: Vec<u64> = if ncrit == 0 {
        Vec::new()
    } else {
        let collect = |acc: BTreeSet<u64>, i: usize| {
            let mut acc = acc;
            plan.for_each_level(codes_of(i), |_, mask| {
                if let Some(m) = mask {
                    acc.insert(m);
                }
            });
            acc
        };
        let set = if options.parallel {
            (0..local_rows.len())
                .into_par_iter()
                .fold(BTreeSet::new, collect)
                .reduce(BTreeSet::new, |mut a, b| {
                    a.extend(b);
                    a
                })
        } else {
            (0..local_rows.len()).fold(BTreeSet::new(), collect)
        };
        set.into_iter().collect()
    };
    let build = |&mask: &u64| build_index(mask, &compiled, &dictionaries, candidates.len());
    let indexes: Vec<Index> = if options.parallel {
        masks.par_iter().map(build).collect()
    } else {
        masks.iter().map(build).collect()
    };

    // Probe every record at every level: (index, group) or a sentinel.
    let nlevels = levels.len();
    let probe = |i: usize| {
        let codes = codes_of(i);
        let mut out = vec![(PROBE_BLANK, 0u32); nlevels];
        let mut key = Vec::with_capacity(ncrit);
        plan.for_each_level(codes, |level, mask| {
            out[level] = match mask {
                None => (PROBE_BLANK, 0),
                Some(m) => {
                    let index_no = masks.binary_search(&m).expect("mask was collected");
                    let index = &indexes[index_no];
                    key.clear();
                    key.extend(index.criteria.iter().map(|&c| codes[c]));
                    if key.contains(&ABSENT) {
                        (PROBE_NONE, 0)
                    } else {
                        match index.group_of(&key) {
                            Some(g) => (index_no as u32, g),
                            None => (PROBE_NONE, 0),
                        }
                    }
                }
            };
        });
        out
    };
    let probes: Vec<(u32, u32)> = if ncrit == 0 {
        Vec::new()
    } else if options.parallel {
        (0..local_rows.len())
            .into_par_iter()
            .with_min_len(1024)
            .flat_map_iter(probe)
            .collect()
    } else {
        (0..local_rows.len()).flat_map(probe).collect()
    };

    // Resolve in processing order: first come, first served.
    let mut run = CouplingRun {
        spec,
        local,
        integration,
        existing,
        local_key,
        integration_key,
        priorities,
        candidates,
        indexes,
        outcomes: Vec::with_capacity(local_rows.len()),
        traces: Vec::new(),
        log: JobLog {
            local_records: local_rows.len() as u64,
            local_records_read: local.len() as u64,
            integration_records_read: integration.len() as u64,
            ..JobLog::default()
        },
    };
    run.log.integration_records = run.candidates.len() as u64;
    run.resolve(&local_rows, &probes, nlevels);
    Ok(run)
}

impl<'a> CouplingRun<'a> {
    fn resolve(&mut self, local_rows: &[u32], probes: &[(u32, u32)], nlevels: usize) {
        // Holder of each integration row coupled in this job.
        let mut taken_in_job: HashMap<u32, u32> = HashMap::new();
        let no_criteria = self.spec.criteria.is_empty();
        for (i, &row) in local_rows.iter().enumerate() {
            let local_id = self.local.cell(row as usize, self.local_key);
            let trace_start = self.traces.len() as u32;
            let outcome = if self.existing.coupled_integration_id(local_id).is_some() {
                Outcome::Skipped
            } else if no_criteria {
                Outcome::NoCriteria
            } else {
                let mut outcome = Outcome::NoMatch { level: 0 };
                for (level, &(index_no, group)) in
                    probes[i * nlevels..(i + 1) * nlevels].iter().enumerate()
                {
                    let level_u16 = level as u16;
                    let result;
                    if index_no == PROBE_BLANK {
                        result = LevelResult::Blank;
                        outcome = Outcome::NoMatch { level: level_u16 };
                    } else if index_no == PROBE_NONE {
                        result = LevelResult::NoMatch;
                        outcome = Outcome::NoMatch { level: level_u16 };
                    } else {
                        let members = self.indexes[index_no as usize].members(group);
                        if members.len() > 1 {
                            result = LevelResult::Multiple(members.len() as u32);
                            outcome = Outcome::MultipleMatches {
                                level: level_u16,
                                count: members.len() as u32,
                                candidates: CandidateGroup {
                                    index: index_no,
                                    group,
                                },
                            };
                        } else {
                            let integration_row = self.candidates[members[0] as usize];
                            let id = self
                                .integration
                                .cell(integration_row as usize, self.integration_key);
                            let holder = if let Some(&h) = taken_in_job.get(&integration_row) {
                                Some(Holder::ThisJob(h))
                            } else if self.existing.holder_of(id).is_some() {
                                Some(Holder::Existing)
                            } else {
                                None
                            };
                            match holder {
                                Some(holder) => {
                                    result = LevelResult::AlreadyCoupled;
                                    outcome = Outcome::AlreadyCoupled {
                                        level: level_u16,
                                        integration_row,
                                        holder,
                                    };
                                }
                                None => {
                                    taken_in_job.insert(integration_row, row);
                                    self.traces.push(LevelTrace {
                                        priority: self.priorities[level],
                                        result: LevelResult::Coupled,
                                    });
                                    outcome = Outcome::Coupled {
                                        integration_row,
                                        level: level_u16,
                                    };
                                    break;
                                }
                            }
                        }
                    }
                    self.traces.push(LevelTrace {
                        priority: self.priorities[level],
                        result,
                    });
                }
                outcome
            };
            self.log.outcomes.add(&outcome);
            self.outcomes.push(RecordOutcome {
                local_row: row,
                outcome,
                trace_start,
                trace_len: (self.traces.len() as u32 - trace_start) as u16,
            });
        }
        let counts: OutcomeCounts = self.log.outcomes;
        self.log.counters.coupled = counts.coupled;
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

    /// The local id of a record.
    pub fn local_id(&self, record: &RecordOutcome) -> &'a str {
        self.local.cell(record.local_row as usize, self.local_key)
    }

    /// The id of an integration row.
    pub fn integration_id(&self, integration_row: u32) -> &'a str {
        self.integration
            .cell(integration_row as usize, self.integration_key)
    }

    /// The per-level trace of a record.
    pub fn trace(&self, record: &RecordOutcome) -> &[LevelTrace] {
        let start = record.trace_start as usize;
        &self.traces[start..start + record.trace_len as usize]
    }

    /// Ids of the integration records in a candidate group, in source order.
    pub fn candidates(&self, group: CandidateGroup) -> impl Iterator<Item = &'a str> + '_ {
        self.indexes[group.index as usize]
            .members(group.group)
            .iter()
            .map(move |&pos| self.integration_id(self.candidates[pos as usize]))
    }

    /// The local id that holds an already-coupled candidate.
    pub fn holder_id(&self, integration_row: u32, holder: Holder) -> &str {
        match holder {
            Holder::ThisJob(row) => self.local.cell(row as usize, self.local_key),
            Holder::Existing => self
                .existing
                .holder_of(self.integration_id(integration_row))
                .unwrap_or_default(),
        }
    }

    /// The integration id a skipped record is already coupled to.
    pub fn existing_coupling(&self, record: &RecordOutcome) -> Option<&str> {
        self.existing.coupled_integration_id(self.local_id(record))
    }
}

/// Walks the levels of one record, yielding the set of criteria in force at each level
/// (`None`: every criterion of the level was blank).
struct LevelPlan<'p> {
    criteria: &'p [CompiledCriterion],
    levels: &'p [Level],
    slot_count: usize,
    mode: PriorityMode,
}

impl LevelPlan<'_> {
    fn for_each_level(&self, codes: &[u32], mut f: impl FnMut(usize, Option<u64>)) {
        // Condition per integration field: the criterion that set it last.
        let mut in_force = [usize::MAX; MAX_CRITERIA];
        let in_force = &mut in_force[..self.slot_count];
        for (level_no, level) in self.levels.iter().enumerate() {
            if self.mode == PriorityMode::Independent {
                in_force.fill(usize::MAX);
            }
            let mut applied = 0;
            for &c in &level.criteria {
                if codes[c] == BLANK {
                    continue;
                }
                in_force[self.criteria[c].integration_slot] = c;
                applied += 1;
            }
            if applied == 0 {
                f(level_no, None);
            } else {
                let mask = in_force
                    .iter()
                    .filter(|&&c| c != usize::MAX)
                    .fold(0u64, |m, &c| m | (1u64 << c));
                f(level_no, Some(mask));
            }
        }
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

fn position_or_push<T: PartialEq>(items: &mut Vec<T>, item: T) -> usize {
    match items.iter().position(|x| *x == item) {
        Some(i) => i,
        None => {
            items.push(item);
            items.len() - 1
        }
    }
}

fn check_ids(table: &Table, key: usize) -> Result<(), EngineError> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(table.len());
    for row in 0..table.len() {
        let id = table.cell(row, key);
        if id.is_empty() {
            return Err(EngineError::BlankId {
                table: table.name().to_string(),
                column: table.column_names()[key].clone(),
                line: table.origin(row),
            });
        }
        if let Some(&first) = seen.get(id) {
            return Err(EngineError::DuplicateId {
                table: table.name().to_string(),
                id: id.to_string(),
                line: table.origin(row),
                first_line: table.origin(first),
            });
        }
        seen.insert(id, row);
    }
    Ok(())
}

fn filtered_rows(table: &Table, filter: &TableFilter) -> Result<Vec<u32>, EngineError> {
    let conditions = filter
        .iter()
        .map(|(c, v)| Ok((column(table, c)?, v.as_str())))
        .collect::<Result<Vec<_>, EngineError>>()?;
    Ok((0..table.len() as u32)
        .filter(|&r| {
            conditions
                .iter()
                .all(|&(c, v)| table.cell(r as usize, c) == v)
        })
        .collect())
}

fn build_dictionaries(
    integration: &Table,
    candidates: &[u32],
    keys: &[(usize, Fold)],
    options: RunOptions,
) -> Result<Vec<Dictionary>, EngineError> {
    let build = |&(col, fold): &(usize, Fold)| -> Result<Dictionary, EngineError> {
        let mut codes_by_key: HashMap<String, u32> = HashMap::new();
        let mut codes = Vec::with_capacity(candidates.len());
        for &row in candidates {
            let cell = integration.cell(row as usize, col);
            let key = integration_key(cell, fold)
                .map_err(|problem| invalid(integration, row as usize, col, problem))?;
            let next = codes_by_key.len() as u32;
            let code = match codes_by_key.get(key.as_ref()) {
                Some(&c) => c,
                None => {
                    codes_by_key.insert(key.into_owned(), next);
                    next
                }
            };
            codes.push(code);
        }
        Ok(Dictionary {
            codes_by_key,
            codes,
        })
    };
    let built: Vec<Result<Dictionary, EngineError>> = if options.parallel {
        keys.par_iter().map(build).collect()
    } else {
        keys.iter().map(build).collect()
    };
    // Report the error of the earliest row, whatever the thread count.
    let mut first_error: Option<EngineError> = None;
    let mut dictionaries = Vec::with_capacity(built.len());
    for d in built {
        match d {
            Ok(d) => dictionaries.push(d),
            Err(e) => {
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

fn invalid(table: &Table, row: usize, col: usize, problem: InvalidValue) -> EngineError {
    EngineError::InvalidValue {
        table: table.name().to_string(),
        column: table.column_names()[col].clone(),
        line: table.origin(row),
        value: table.cell(row, col).to_string(),
        problem,
    }
}

/// Codes of every (local record, criterion), flattened record-major.
fn encode_local(
    local: &Table,
    rows: &[u32],
    criteria: &[CompiledCriterion],
    dictionaries: &[Dictionary],
    options: RunOptions,
) -> Result<Vec<u32>, EngineError> {
    let failed = AtomicBool::new(false);
    let encode_one = |row: u32, c: &CompiledCriterion| -> Result<u32, InvalidValue> {
        let cell = local.cell(row as usize, c.local_column);
        Ok(match local_key(cell, c.field_type, c.fold)? {
            None => BLANK,
            Some(key) => dictionaries[c.dictionary]
                .codes_by_key
                .get(key.as_ref())
                .copied()
                .unwrap_or(ABSENT),
        })
    };
    let (failed_ref, encode_ref) = (&failed, &encode_one);
    let encode_row = move |&row: &u32| {
        criteria.iter().map(move |c| match encode_ref(row, c) {
            Ok(code) => code,
            Err(_) => {
                failed_ref.store(true, Ordering::Relaxed);
                INVALID
            }
        })
    };
    let codes: Vec<u32> = if options.parallel {
        rows.par_iter()
            .with_min_len(1024)
            .flat_map_iter(encode_row)
            .collect()
    } else {
        rows.iter().flat_map(encode_row).collect()
    };
    if failed.load(Ordering::Relaxed) {
        // Find the first bad cell in processing order, for a deterministic message.
        for &row in rows {
            for c in criteria {
                if let Err(problem) = encode_one(row, c) {
                    return Err(invalid(local, row as usize, c.local_column, problem));
                }
            }
        }
    }
    Ok(codes)
}

fn build_index(
    mask: u64,
    criteria: &[CompiledCriterion],
    dictionaries: &[Dictionary],
    candidate_count: usize,
) -> Index {
    let members_of: Vec<usize> = (0..criteria.len())
        .filter(|&c| mask & (1u64 << c) != 0)
        .collect();
    let (group_of_candidate, group_count, groups_by_tuple): (Vec<u32>, usize, _) =
        if let [only] = members_of[..] {
            let d = &dictionaries[criteria[only].dictionary];
            (d.codes.clone(), d.codes_by_key.len(), None)
        } else {
            let mut map: HashMap<Box<[u32]>, u32> = HashMap::new();
            let mut tuple = Vec::with_capacity(members_of.len());
            let groups = (0..candidate_count)
                .map(|pos| {
                    tuple.clear();
                    tuple.extend(
                        members_of
                            .iter()
                            .map(|&c| dictionaries[criteria[c].dictionary].codes[pos]),
                    );
                    let next = map.len() as u32;
                    *map.entry(tuple.clone().into_boxed_slice()).or_insert(next)
                })
                .collect();
            let n = map.len();
            (groups, n, Some(map))
        };
    // Counting sort of candidates by group keeps source order within each group.
    let mut starts = vec![0u32; group_count + 1];
    for &g in &group_of_candidate {
        starts[g as usize + 1] += 1;
    }
    for g in 0..group_count {
        starts[g + 1] += starts[g];
    }
    let mut fill = starts.clone();
    let mut members = vec![0u32; group_of_candidate.len()];
    for (pos, &g) in group_of_candidate.iter().enumerate() {
        members[fill[g as usize] as usize] = pos as u32;
        fill[g as usize] += 1;
    }
    Index {
        criteria: members_of,
        groups_by_tuple,
        starts,
        members,
    }
}
