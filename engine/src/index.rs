//! Dictionary encoding and the indexes the coupling probes.
//!
//! - A [`Dictionary`] gives every distinct comparison key of one integration column (under one
//!   comparison rule) a dense code, and records each candidate's code. Keys live in one arena, so
//!   a million keys cost no million allocations.
//! - A [`CodeIndex`] groups candidates by one dictionary's code (a counting sort: no hashing).
//! - A [`TupleIndex`] groups candidates by a tuple of codes, for a set of criteria whose
//!   single-criterion groups are all large (low-cardinality columns); it is built only when a
//!   probe needs it.
//!
//! Groups list candidate positions in source order, so the first members of a group are the
//! first matches in the integration export.

use std::borrow::Cow;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::table::Column;
use crate::value::{integration_key_into, Fold, InvalidValue};

/// String equality tuned for the short values of CSV cells: a byte loop for short strings
/// (libc's `memcmp`, which `==` calls, costs tens of nanoseconds per call here even for empty
/// strings, measured on 1M-row filters), `==` for long ones.
#[inline]
pub(crate) fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len()
        && if a.len() <= 32 {
            a.iter().zip(b).all(|(x, y)| x == y)
        } else {
            a == b
        }
}

/// Codes of one integration column under one comparison rule.
///
/// Keys are not copied: a table entry holds the span of the first candidate cell with the key
/// (in the column's own text) and the code, and the cell is folded again when a comparison
/// needs it. One probe touches the table slot and that cell only.
pub(crate) struct Dictionary<'t> {
    /// The integration column's cells, or values derived from them (normalized, option-mapped),
    /// which the dictionary then owns.
    column: Cow<'t, Column>,
    fold: Fold,
    hasher: DefaultHashBuilder,
    /// `(start, end, code)`: the representative cell's span, and the code.
    table: HashTable<(u32, u32, u32)>,
    distinct: u32,
    /// Code of each candidate, by candidate position.
    pub(crate) codes: Vec<u32>,
}

impl<'t> Dictionary<'t> {
    /// An empty dictionary over `column`, sized for about `distinct` keys and `candidates`
    /// candidates.
    pub(crate) fn new(
        column: Cow<'t, Column>,
        fold: Fold,
        distinct: usize,
        candidates: usize,
    ) -> Self {
        Dictionary {
            column,
            fold,
            hasher: DefaultHashBuilder::default(),
            table: HashTable::with_capacity(distinct),
            distinct: 0,
            codes: Vec::with_capacity(candidates),
        }
    }

    /// Whether the representative cell at `span` has the key `key` (folding the cell into
    /// `scratch` when the rule changes it).
    fn holds(
        column: &Column,
        fold: Fold,
        span: (u32, u32),
        key: &str,
        scratch: &mut String,
    ) -> bool {
        let cell = column.text(span);
        if fold == Fold::Lower && cell.is_ascii() {
            // An ASCII cell's lower-case mapping is byte for byte (`key` is already folded).
            return cell.len() == key.len()
                && cell
                    .bytes()
                    .zip(key.bytes())
                    .all(|(c, k)| c.to_ascii_lowercase() == k);
        }
        match integration_key_into(cell, fold, scratch) {
            Ok(k) => same_text(k, key),
            Err(_) => false,
        }
    }

    /// Appends the candidate at integration row `row` (its key is its cell under the
    /// dictionary's rule, folded into `buf`); returns its code, or why the cell has no key.
    pub(crate) fn push_row(
        &mut self,
        row: u32,
        buf: &mut String,
        scratch: &mut String,
    ) -> Result<u32, InvalidValue> {
        let Dictionary {
            column,
            fold,
            hasher,
            table,
            distinct,
            codes,
        } = self;
        let (column, fold): (&Column, Fold) = (column, *fold);
        let key = integration_key_into(column.get(row as usize), fold, buf)?;
        let hash = hasher.hash_one(key);
        let found = table
            .find(hash, |&(s, e, _)| {
                Self::holds(column, fold, (s, e), key, scratch)
            })
            .map(|&(_, _, code)| code);
        let code = match found {
            Some(code) => code,
            None => {
                let code = *distinct;
                *distinct += 1;
                let (s, e) = column.span(row as usize);
                let hasher = &*hasher;
                table.insert_unique(hash, (s, e, code), |&(s, e, _)| {
                    // Only when the table grows: fold the representative again.
                    let cell = column.text((s, e));
                    let mut buf = String::new();
                    let key = integration_key_into(cell, fold, &mut buf).unwrap_or(cell);
                    hasher.hash_one(key)
                });
                code
            }
        };
        codes.push(code);
        Ok(code)
    }

    /// The code of a key, if some candidate has it.
    pub(crate) fn lookup(&self, key: &str, scratch: &mut String) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&(s, e, _)| {
                Self::holds(&self.column, self.fold, (s, e), key, scratch)
            })
            .map(|&(_, _, code)| code)
    }

    /// Number of distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.distinct as usize
    }
}

/// Candidates grouped by a dense group number, in source order within a group.
///
/// Most groups hold one candidate (a phone number, an e-mail), so a group's head holds the
/// count and, for a single candidate, the candidate itself: a probe of such a group reads 8
/// bytes, one cache line. Only groups of several candidates list them in `members`.
pub(crate) struct Groups {
    /// Per group: count, and the candidate (count 1) or the start of its list in `members`.
    heads: Vec<(u32, u32)>,
    members: Vec<u32>,
}

impl Groups {
    /// Counting sort of candidate positions by their group.
    pub(crate) fn build(group_of: &[u32], group_count: usize) -> Self {
        let mut heads = vec![(0u32, 0u32); group_count];
        for (pos, &g) in group_of.iter().enumerate() {
            let head = &mut heads[g as usize];
            head.0 += 1;
            head.1 = pos as u32;
        }
        // Lists for groups of several candidates only.
        let mut next = 0u32;
        for head in &mut heads {
            if head.0 > 1 {
                head.1 = next;
                next += head.0;
            }
        }
        let mut members = vec![0u32; next as usize];
        let mut filled = if next > 0 {
            vec![0u32; group_count]
        } else {
            Vec::new()
        };
        for (pos, &g) in group_of.iter().enumerate() {
            let (count, start) = heads[g as usize];
            if count > 1 {
                let k = &mut filled[g as usize];
                members[(start + *k) as usize] = pos as u32;
                *k += 1;
            }
        }
        Groups { heads, members }
    }

    /// Number of candidates in group `g`, and the first of them (in source order).
    #[inline]
    pub(crate) fn head(&self, g: u32) -> (u32, u32) {
        let (count, first) = self.heads[g as usize];
        if count > 1 {
            (count, self.members[first as usize])
        } else {
            (count, first)
        }
    }

    /// The candidates of group `g`, in source order.
    #[inline]
    pub(crate) fn group(&self, g: u32) -> &[u32] {
        let (count, first) = &self.heads[g as usize];
        match *count {
            0 => &[],
            1 => std::slice::from_ref(first),
            n => &self.members[*first as usize..(*first + n) as usize],
        }
    }
}

/// Candidates grouped by a tuple of codes over a set of criteria.
pub(crate) struct TupleIndex {
    /// The criteria whose codes form the tuple, ascending.
    pub(crate) criteria: Vec<usize>,
    hasher: DefaultHashBuilder,
    /// Tuple of each group, flattened (`criteria.len()` codes per group).
    tuples: Vec<u32>,
    table: HashTable<u32>,
    groups: Groups,
}

impl TupleIndex {
    /// Groups all candidates by their codes in `dictionaries` (one per criterion, same order
    /// as `criteria`).
    pub(crate) fn build(criteria: Vec<usize>, dictionaries: &[&Dictionary<'_>]) -> Self {
        let k = criteria.len();
        let n = dictionaries.first().map_or(0, |d| d.codes.len());
        let hasher = DefaultHashBuilder::default();
        let mut tuples: Vec<u32> = Vec::new();
        let mut table: HashTable<u32> = HashTable::new();
        let mut tuple = vec![0u32; k];
        let mut group_of = Vec::with_capacity(n);
        for pos in 0..n {
            for (slot, d) in tuple.iter_mut().zip(dictionaries) {
                *slot = d.codes[pos];
            }
            let hash = hasher.hash_one(&tuple[..]);
            let g = match table.find(hash, |&g| tuples[g as usize * k..][..k] == tuple[..]) {
                Some(&g) => g,
                None => {
                    let g = (tuples.len() / k) as u32;
                    tuples.extend_from_slice(&tuple);
                    table.insert_unique(hash, g, |&h| {
                        hasher.hash_one(&tuples[h as usize * k..][..k])
                    });
                    g
                }
            };
            group_of.push(g);
        }
        let group_count = tuples.len() / k.max(1);
        TupleIndex {
            criteria,
            hasher,
            groups: Groups::build(&group_of, group_count),
            tuples,
            table,
        }
    }

    /// Members of the group of `tuple` (codes in `criteria` order); empty when no candidate has it.
    pub(crate) fn group(&self, tuple: &[u32]) -> &[u32] {
        let k = self.criteria.len();
        let hash = self.hasher.hash_one(tuple);
        match self
            .table
            .find(hash, |&g| self.tuples[g as usize * k..][..k] == *tuple)
        {
            Some(&g) => self.groups.group(g),
            None => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_compares_short_and_long_strings() {
        let long = "x".repeat(40);
        assert!(same_text("", ""));
        assert!(same_text("abc", "abc"));
        assert!(!same_text("abc", "abd"));
        assert!(!same_text("abc", "ab"));
        assert!(same_text(&long, &long.clone()));
        assert!(!same_text(&long, &format!("{}y", &long[1..])));
    }

    fn column(cells: &[&str]) -> Column {
        let mut c = Column::default();
        for cell in cells {
            c.push(cell).unwrap();
        }
        c
    }

    fn dictionary<'t>(col: &'t Column, fold: Fold) -> Dictionary<'t> {
        let mut d = Dictionary::new(Cow::Borrowed(col), fold, 1, col.len());
        let (mut buf, mut scratch) = (String::new(), String::new());
        for row in 0..col.len() {
            d.push_row(row as u32, &mut buf, &mut scratch).unwrap();
        }
        d
    }

    #[test]
    fn dictionary_codes_are_dense_and_stable() {
        let col = column(&["a", "b", "a", "", "b"]);
        let d = dictionary(&col, Fold::Exact);
        assert_eq!(d.codes, vec![0, 1, 0, 2, 1]);
        let mut scratch = String::new();
        assert_eq!(d.lookup("b", &mut scratch), Some(1));
        assert_eq!(d.lookup("", &mut scratch), Some(2));
        assert_eq!(d.lookup("c", &mut scratch), None);
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn dictionary_compares_folded_keys_and_survives_growth() {
        let cells: Vec<String> = (0..5000).map(|i| format!("Key {}", i % 1500)).collect();
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let col = column(&refs);
        let d = dictionary(&col, Fold::Lower);
        assert_eq!(d.len(), 1500);
        let mut scratch = String::new();
        assert_eq!(d.lookup("key 7", &mut scratch), Some(d.codes[7]));
        assert_eq!(d.lookup("Key 7", &mut scratch), None);
        let nums = column(&["1.50", "1.5", "2"]);
        let d = dictionary(&nums, Fold::Number);
        assert_eq!(d.codes, vec![0, 0, 1]);
    }

    #[test]
    fn groups_keep_source_order() {
        let g = Groups::build(&[1, 0, 1, 1, 3], 4);
        assert_eq!(g.group(0), &[1]);
        assert_eq!(g.group(1), &[0, 2, 3]);
        assert_eq!(g.group(2), &[] as &[u32]);
        assert_eq!(g.group(3), &[4]);
        assert_eq!(g.head(1), (3, 0));
        assert_eq!(g.head(3), (1, 4));
        assert_eq!(g.head(2).0, 0);
    }

    #[test]
    fn tuple_index_groups_by_all_codes() {
        let (ca, cb) = (column(&["1", "1", "2", "1"]), column(&["x", "y", "x", "x"]));
        let (a, b) = (dictionary(&ca, Fold::Exact), dictionary(&cb, Fold::Exact));
        let t = TupleIndex::build(vec![0, 1], &[&a, &b]);
        assert_eq!(t.group(&[0, 0]), &[0, 3]);
        assert_eq!(t.group(&[0, 1]), &[1]);
        assert_eq!(t.group(&[1, 1]), &[] as &[u32]);
    }
}
