//! Resolution: first come, first served.
//!
//! The probes say what each level of each record finds; resolution walks the records in
//! processing order and decides, level by level, which one couples the single candidate it
//! found, which finds it already coupled (before the job, or by an earlier record), which finds
//! several or none. It writes each record's [`Outcome`] and packed level trace, and books BC's
//! counters and error rows. A record whose single candidate an earlier record took is probed on
//! here (its later levels were not probed in parallel). The demotions revise a resolved record
//! when another job committed a coupling first.

use rayon::prelude::*;

use super::matcher::{Probe, Scratch};
use super::CouplingRun;
use crate::hint::{prefetch, AHEAD};
use crate::outcome::{
    no_criteria_message, unmatched_message, Holder, LevelResult, Outcome, OutcomeCounts,
    RecordOutcome,
};

impl<'a> CouplingRun<'a> {
    /// First come, first served: walks the records in processing order.
    pub(super) fn resolve(
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

/// A level result in 4 bytes: a match count of 2 or more is itself; the other results are
/// values a count of several matches cannot take. `NotCoupled` is kept as `NoMatch`: its key
/// is found again when the trace is read ([`CouplingRun::trace`]).
pub(super) fn pack_result(result: LevelResult<'_>) -> u32 {
    match result {
        LevelResult::Blank => u32::MAX,
        LevelResult::NoMatch | LevelResult::NotCoupled(_) => 0,
        LevelResult::Coupled => 1,
        LevelResult::AlreadyCoupled => u32::MAX - 1,
        LevelResult::Multiple(n) => n,
    }
}

pub(super) fn unpack_result(packed: u32) -> LevelResult<'static> {
    match packed {
        u32::MAX => LevelResult::Blank,
        0 => LevelResult::NoMatch,
        1 => LevelResult::Coupled,
        p if p == u32::MAX - 1 => LevelResult::AlreadyCoupled,
        n => LevelResult::Multiple(n),
    }
}
