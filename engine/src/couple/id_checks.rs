//! The id checks: every id of a table brought to its canonical form ([`crate::ids`]), checked
//! unique and non-blank, and indexed to find the rows of given ids (the records an existing
//! coupling holds).
//!
//! Ids are hashed and sorted by hash (radix sort, sequential passes) rather than inserted into a
//! hash table of every row, whose inserts miss the cache once a table outgrows it.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::RunOptions;
use crate::error::EngineError;
use crate::ids::{column_surely_canonical, push_canonical, surely_canonical, IdSide};
use crate::index::{same_text, KeyHasher};
use crate::mapping::ExistingCouplings;
use crate::table::{Column, Table};

/// A table's ids, in their canonical form ([`crate::ids`]), sorted by hash: enough to check that
/// they are unique and to find the rows of given ids, by sorting (sequential passes) rather than
/// with a hash table of every row, whose inserts miss the cache once a table outgrows it.
pub(super) struct IdIndex<'t> {
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
    pub(super) fn into_ids(self) -> Cow<'t, Column> {
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
pub(super) fn check_ids(
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

/// Which candidates (by position) an existing coupling already holds.
pub(super) fn existing_taken(
    integration_rows: &IdIndex<'_>,
    candidates: &[u32],
    existing: &ExistingCouplings,
) -> Vec<bool> {
    let taken_rows = integration_rows.mark_rows(existing.taken_ids());
    candidates.iter().map(|&r| taken_rows[r as usize]).collect()
}

/// Which local rows this mapping has coupled already (they are skipped).
pub(super) fn coupled_locals(local_rows: &IdIndex<'_>, existing: &ExistingCouplings) -> Vec<bool> {
    local_rows.mark_rows(existing.coupled_local_ids())
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
