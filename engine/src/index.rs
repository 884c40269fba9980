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

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

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
pub(crate) struct Dictionary {
    hasher: DefaultHashBuilder,
    arena: String,
    /// Number of distinct keys (the next code).
    distinct: u32,
    /// `(start, end, code)`: the key's place in `arena` is kept in the entry itself, so a probe
    /// touches the table and the key bytes only.
    table: HashTable<(u32, u32, u32)>,
    /// Code of each candidate, by candidate position.
    pub(crate) codes: Vec<u32>,
}

impl Dictionary {
    pub(crate) fn with_capacity(candidates: usize) -> Self {
        Dictionary {
            hasher: DefaultHashBuilder::default(),
            arena: String::new(),
            distinct: 0,
            // Keys are mostly distinct in the columns people match on: size for all of them.
            table: HashTable::with_capacity(candidates),
            codes: Vec::with_capacity(candidates),
        }
    }

    /// Appends the next candidate's key and returns its code.
    pub(crate) fn push(&mut self, key: &str) -> u32 {
        let hash = self.hasher.hash_one(key);
        let arena = &self.arena;
        let eq = |&(s, e, _): &(u32, u32, u32)| &arena[s as usize..e as usize] == key;
        let code = match self.table.find(hash, eq) {
            Some(&(_, _, code)) => code,
            None => {
                let code = self.distinct;
                self.distinct += 1;
                let start = self.arena.len() as u32;
                self.arena.push_str(key);
                let entry = (start, self.arena.len() as u32, code);
                let (arena, hasher) = (&self.arena, &self.hasher);
                self.table.insert_unique(hash, entry, |&(s, e, _)| {
                    hasher.hash_one(&arena[s as usize..e as usize])
                });
                code
            }
        };
        self.codes.push(code);
        code
    }

    /// The code of a key, if some candidate has it.
    pub(crate) fn lookup(&self, key: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.table
            .find(hash, |&(s, e, _)| {
                &self.arena[s as usize..e as usize] == key
            })
            .map(|&(_, _, code)| code)
    }

    /// Number of distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.distinct as usize
    }
}

/// Candidates grouped by a dense group number, in source order within a group.
pub(crate) struct Groups {
    /// `starts[g]..starts[g + 1]` is group g in `members`.
    starts: Vec<u32>,
    members: Vec<u32>,
}

impl Groups {
    /// Counting sort of candidate positions by their group.
    pub(crate) fn build(group_of: &[u32], group_count: usize) -> Self {
        let mut starts = vec![0u32; group_count + 1];
        for &g in group_of {
            starts[g as usize + 1] += 1;
        }
        for g in 0..group_count {
            starts[g + 1] += starts[g];
        }
        let mut fill = starts[..group_count].to_vec();
        let mut members = vec![0u32; group_of.len()];
        for (pos, &g) in group_of.iter().enumerate() {
            members[fill[g as usize] as usize] = pos as u32;
            fill[g as usize] += 1;
        }
        Groups { starts, members }
    }

    #[inline]
    pub(crate) fn group(&self, g: u32) -> &[u32] {
        let g = g as usize;
        &self.members[self.starts[g] as usize..self.starts[g + 1] as usize]
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
    pub(crate) fn build(criteria: Vec<usize>, dictionaries: &[&Dictionary]) -> Self {
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

    #[test]
    fn dictionary_codes_are_dense_and_stable() {
        let mut d = Dictionary::with_capacity(4);
        let codes: Vec<u32> = ["a", "b", "a", "", "b"].iter().map(|k| d.push(k)).collect();
        assert_eq!(codes, vec![0, 1, 0, 2, 1]);
        assert_eq!(d.lookup("b"), Some(1));
        assert_eq!(d.lookup(""), Some(2));
        assert_eq!(d.lookup("c"), None);
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn groups_keep_source_order() {
        let g = Groups::build(&[1, 0, 1, 1], 2);
        assert_eq!(g.group(0), &[1]);
        assert_eq!(g.group(1), &[0, 2, 3]);
    }

    #[test]
    fn tuple_index_groups_by_all_codes() {
        let mut a = Dictionary::with_capacity(4);
        let mut b = Dictionary::with_capacity(4);
        for (x, y) in [("1", "x"), ("1", "y"), ("2", "x"), ("1", "x")] {
            a.push(x);
            b.push(y);
        }
        let t = TupleIndex::build(vec![0, 1], &[&a, &b]);
        assert_eq!(t.group(&[0, 0]), &[0, 3]);
        assert_eq!(t.group(&[0, 1]), &[1]);
        assert_eq!(t.group(&[1, 1]), &[] as &[u32]);
    }
}
