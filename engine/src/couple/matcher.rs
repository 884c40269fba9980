//! The matcher: the compiled criteria and the per-level probe.
//!
//! A [`Matcher`] holds what a probe reads — the criteria compiled against the tables (their
//! columns, dictionaries, fuzzy settings and blocks), the levels, the groups of candidates by
//! code and the tuple indexes — and answers, for one record and one priority level, what BC's
//! filtered query would return: a [`Probe`] (how many candidates match, and the first one).
//! It also looks up the records' keys in batches (the first and second levels' keys of every
//! record at once), and scores and ranks the candidates of levels with fuzzy criteria.
//!
//! Which candidate a record then couples (first come, first served) is `resolve.rs`'s job.

use rayon::prelude::*;

use super::encoding::{ABSENT, BLANK, PENDING};
use super::{map_indices, MAX_CRITERIA};
use crate::fuzzy::{Blocks, CharProfile, Fuzzy};
use crate::hint::AHEAD;
use crate::index::{Dictionary, Groups, TupleIndex};
use crate::mapping::PriorityMode;
use crate::table::{Column, Table};
use crate::value::{local_key_into, FieldType, Fold};

pub(super) struct CompiledCriterion {
    /// The local column as read (error messages, criteria as BC has them).
    pub(super) local_column: usize,
    /// The derived local column (index into [`Matcher::derived_local`]) of a criterion beyond BC.
    pub(super) derived_local: Option<usize>,
    pub(super) integration_slot: usize,
    /// The dictionary of an exact criterion (unused by a fuzzy one).
    pub(super) dictionary: usize,
    pub(super) field_type: FieldType,
    pub(super) fold: Fold,
    pub(super) fuzzy: Option<FuzzyCriterion>,
}

/// A fuzzy criterion: its settings, its candidates' values, its blocks.
pub(super) struct FuzzyCriterion {
    pub(super) settings: Fuzzy,
    /// Index into [`Matcher::fuzzy_values`].
    pub(super) values: usize,
    pub(super) blocks: Blocks,
}

/// Per-thread buffers of a probe.
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) key: String,
    pub(super) fold: String,
    pub(super) block: Vec<u32>,
    /// Candidates that passed a fuzzy level, with their scores.
    pub(super) scored: Vec<(u32, f64)>,
    /// The record's values of a fuzzy level, profiled (one per fuzzy criterion in force).
    pub(super) profiles: Vec<CharProfile>,
}

/// What one level found for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Probe {
    /// Matches, or [`Probe::BLANK`] / [`Probe::DEFERRED`].
    pub(super) count: u32,
    /// Candidate position of the first match.
    pub(super) first: u32,
}

impl Probe {
    pub(super) const BLANK: u32 = u32::MAX;
    pub(super) const DEFERRED: u32 = u32::MAX - 1;
    /// Not evaluated: an earlier level found a single candidate that was free when probing.
    pub(super) const NOT_PROBED: u32 = u32::MAX - 2;
    pub(super) const NONE: Probe = Probe { count: 0, first: 0 };
}

/// The compiled criteria and everything a probe reads.
pub(super) struct Matcher<'t> {
    pub(super) criteria: Vec<CompiledCriterion>,
    /// Criteria of each level, in declaration order.
    pub(super) levels: Vec<Vec<usize>>,
    pub(super) slot_count: usize,
    pub(super) mode: PriorityMode,
    pub(super) dictionaries: Vec<Dictionary<'t>>,
    /// Candidates grouped by code, one per dictionary.
    pub(super) code_groups: Vec<Groups>,
    /// Tuple indexes built on demand, by criteria mask.
    pub(super) tuple_indexes: Vec<(u64, TupleIndex)>,
    /// See [`RunOptions::scan_limit`].
    pub(super) scan_limit: usize,
    /// Integration rows of the candidates, by candidate position.
    pub(super) candidates: Vec<u32>,
    /// Derived local values (normalized, folded, option-mapped), by local row.
    pub(super) derived_local: Vec<Column>,
    /// Derived integration values of fuzzy criteria, by integration row.
    pub(super) fuzzy_values: Vec<Column>,
    /// The fuzzy criteria, as a mask.
    pub(super) fuzzy_bits: u64,
    /// Whether every record's first level was probed at once ([`Matcher::first_level_probes`]).
    pub(super) first_level_probed: bool,
}

impl Matcher<'_> {
    /// The value criterion `c` compares for local row `row`: the cell, or its derived value.
    #[inline]
    pub(super) fn local_value<'x>(&'x self, local: &'x Table, row: u32, c: usize) -> &'x str {
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
    pub(super) fn for_each_level(&self, codes: &[u32], mut f: impl FnMut(usize, Option<u64>)) {
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
    pub(super) fn look_up_first_level(
        &self,
        local: &Table,
        rows: &[u32],
        codes: &mut [u32],
        parallel: bool,
    ) {
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
    pub(super) fn look_up_second_level(
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
    pub(super) fn release_first_level_tables(&mut self) {
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
    pub(super) fn first_level_probes(&self, codes: &[u32], parallel: bool) -> (Vec<Probe>, bool) {
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
    pub(super) fn probe_levels(
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
    pub(super) fn matches(
        &self,
        codes: &[u32],
        mask: u64,
        mut visit: impl FnMut(u32) -> bool,
    ) -> Option<()> {
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
    pub(super) fn fuzzy_score(
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
    pub(super) fn rank_fuzzy(
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
    pub(super) fn tie_margin(&self, mask: u64) -> f64 {
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
    pub(super) fn best_of(scored: &[(u32, f64)], margin: f64) -> Option<((u32, f64), u32)> {
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

    pub(super) fn build_tuple_index(&self, mask: u64) -> TupleIndex {
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

/// The criteria of a mask (bit `c` = criterion `c`), ascending.
#[inline]
pub(super) fn criteria_of(mask: u64) -> impl Iterator<Item = usize> {
    let mut bits = mask;
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let c = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            c
        })
    })
}
