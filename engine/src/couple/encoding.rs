//! Encoding: compared values turned into dense codes before any probe.
//!
//! Every exact criterion's integration values go into a [`Dictionary`] (one per integration
//! column and comparison rule) that gives each distinct key a code; every (local record,
//! criterion) gets a code slot, [`BLANK`] (no condition) or [`PENDING`] (looked up when a level
//! needs it), after its value is checked readable. The matcher then compares codes, never text.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::matcher::CompiledCriterion;
use super::RunOptions;
use crate::error::{invalid, EngineError};
use crate::index::Dictionary;
use crate::table::{Column, Table};
use crate::value::{local_key_into, FieldType, Fold, InvalidValue};

/// Local codes: blank text (no condition), a value no candidate has, an unreadable value, and a
/// value not looked up yet (a record's later criteria are looked up only when a level needs them:
/// most records are decided by their first level).
pub(super) const BLANK: u32 = u32::MAX;
pub(super) const ABSENT: u32 = u32::MAX - 1;
const INVALID: u32 = u32::MAX - 2;
pub(super) const PENDING: u32 = u32::MAX - 3;

/// A dictionary to build: the values (the integration column, or values derived from it), the
/// rule, and the table column for error messages.
type DictionaryInput<'t> = (Cow<'t, Column>, Fold, usize);

pub(super) fn build_dictionaries<'t>(
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
pub(super) enum ValueSource {
    /// An integration column as read.
    Table(usize),
    /// Derived values (index into the derivation's integration columns).
    Derived(usize),
}

/// Which rows of a table of `len` rows are listed in `rows`.
pub(super) fn membership(len: usize, rows: &[u32]) -> Vec<bool> {
    let mut member = vec![false; len];
    for &r in rows {
        member[r as usize] = true;
    }
    member
}

/// Codes of every (local record, criterion), flattened record-major: [`BLANK`] or [`PENDING`]
/// (looked up when a level needs it). Every value is checked here, so an unreadable cell stops
/// the job whether or not its level is reached.
pub(super) fn prepare_local_codes(
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
