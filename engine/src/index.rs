//! Dictionary encoding and the indexes the coupling probes.
//!
//! - A [`Dictionary`] gives every distinct comparison key of one integration column (under one
//!   comparison rule) a dense code, and records each candidate's code. It is hash-partitioned so
//!   that building and batch lookups work in cache-sized pieces; keys are not copied (table
//!   slots point at the cells), so a million keys cost no million allocations.
//! - [`Groups`] lists candidates by one dictionary's code (a counting sort: no hashing).
//! - A [`TupleIndex`] groups candidates by a tuple of codes, for a set of criteria whose
//!   single-criterion groups are all large (low-cardinality columns); it is built only when a
//!   probe needs it.
//!
//! Groups list candidate positions in source order, so the first members of a group are the
//! first matches in the integration export.

use std::borrow::Cow;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use rayon::prelude::*;

use crate::hint::prefetch;
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

/// Codes of one integration column under one comparison rule, built and probed by hash
/// partition.
///
/// A million-key hash table is far larger than the caches, so building or probing it key by key
/// costs several cache and TLB misses per key. Instead every candidate's key is hashed once (in
/// parallel), the candidates are radix-partitioned by bits of the hash into partitions of a few
/// thousand (piece by piece, on all cores: [`Partitioned`]), and each partition gets its own
/// small open-addressing table, built while it stays in the core's L2 cache. All partitions'
/// tables share one allocation (freed in one piece, and sized per partition, not to a power of
/// two). Codes are dense and contiguous per partition.
/// [`Dictionary::lookup_batch`] probes many keys the same way, partition by partition;
/// [`Dictionary::lookup`] probes one.
///
/// A column of few distinct keys (a city, a country) skips most of this: each piece of
/// candidates first finds its own distinct keys in a table that stays in L1, and only those are
/// partitioned and coded.
///
/// Keys are not copied: a table entry holds 32 bits of the key's hash, its code, and the span of
/// its representative cell (the first candidate with the key), which is folded again when equal
/// hashes must be confirmed by comparing the keys themselves.
pub(crate) struct Dictionary<'t> {
    /// The integration column's cells, or values derived from them (normalized, option-mapped),
    /// which the dictionary then owns.
    column: Cow<'t, Column>,
    fold: Fold,
    hasher: KeyHasher,
    /// A key's partition is `(hash >> 32) & partition_mask`; its slot within the partition's
    /// table comes from the low 32 bits.
    partition_mask: u64,
    tables: Tables,
    /// Code of each candidate, by candidate position.
    pub(crate) codes: Vec<u32>,
}

/// The hash function of a dictionary's keys (tests can make it collide on purpose).
#[derive(Clone, Default)]
pub(crate) struct KeyHasher {
    state: DefaultHashBuilder,
    /// Bits of the hash kept (the others cleared), to force collisions in tests.
    #[cfg(test)]
    keep: Option<u64>,
}

impl KeyHasher {
    /// A hasher that keeps only the hash bits of `keep` (tests: collisions on purpose).
    #[cfg(test)]
    pub(crate) fn keeping(keep: u64) -> Self {
        KeyHasher {
            keep: Some(keep),
            ..KeyHasher::default()
        }
    }

    #[inline]
    pub(crate) fn hash(&self, key: &str) -> u64 {
        let hash = self.state.hash_one(key);
        #[cfg(test)]
        if let Some(keep) = self.keep {
            return hash & keep;
        }
        hash
    }
}

/// A slot of a partition's table: a distinct key, or empty.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The low 32 bits of the key's hash (they choose the slot, and unequal keys almost always
    /// differ in them).
    check: u32,
    /// The key's code ([`Entry::EMPTY`]: a free slot).
    code: u32,
    /// Where the representative cell lies in the column's text.
    span: (u32, u32),
}

impl Entry {
    const EMPTY: u32 = u32::MAX;
    const FREE: Entry = Entry {
        check: 0,
        code: Entry::EMPTY,
        span: (0, 0),
    };
}

/// Slots for `keys` keys: at most 70 % full (linear probing stays short), never full.
fn table_size(keys: usize) -> usize {
    keys + keys * 3 / 7 + 1
}

/// The first slot of `check` in a table of `len` slots (a multiply-shift, no power of two).
#[inline]
fn home_slot(check: u32, len: usize) -> usize {
    ((check as u64 * len as u64) >> 32) as usize
}

/// The slot of `table` holding the entry with check `check` that `same` accepts, or else the
/// free slot where that entry belongs (linear probing; the table is never full).
#[inline]
fn find_slot(
    table: &[Entry],
    check: u32,
    mut same: impl FnMut(&Entry) -> bool,
) -> Result<usize, usize> {
    let mut i = home_slot(check, table.len());
    loop {
        let entry = &table[i];
        if entry.code == Entry::EMPTY {
            return Err(i);
        }
        if entry.check == check && same(entry) {
            return Ok(i);
        }
        i += 1;
        if i == table.len() {
            i = 0;
        }
    }
}

/// The entry of `table` with check `check` that `same` accepts.
#[inline]
fn find_entry(table: &[Entry], check: u32, same: impl FnMut(&Entry) -> bool) -> Option<&Entry> {
    find_slot(table, check, same).ok().map(|i| &table[i])
}

/// Puts `entry` in the first free slot from its home (the table is never full).
fn insert_entry(table: &mut [Entry], entry: Entry) {
    let mut i = home_slot(entry.check, table.len());
    while table[i].code != Entry::EMPTY {
        i += 1;
        if i == table.len() {
            i = 0;
        }
    }
    table[i] = entry;
}

/// The partition of a key's hash (bits the tables use neither for slots nor for checks).
#[inline]
fn partition_of(hash: u64, mask: u64) -> usize {
    ((hash >> 32) & mask) as usize
}

/// Where each of consecutive pieces of the given lengths starts, and the total at the end.
fn offsets(lengths: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut starts = vec![0];
    for len in lengths {
        starts.push(starts[starts.len() - 1] + len);
    }
    starts
}

/// Keys (candidates or queries) partitioned by hash, piece by piece: each [`PIECE`] of
/// consecutive keys is sorted by partition on its own (a counting sort that stays in the core's
/// cache, all pieces in parallel), and partition `p` is every piece's run for `p`, pieces in
/// order, so its keys keep their order.
struct Partitioned<P> {
    partitions: usize,
    pieces: Vec<PieceRuns<P>>,
}

/// One piece's keys sorted by partition: their hashes and items (a position, and what else the
/// partition pass reads); partition `p`'s run is `starts[p]..starts[p + 1]`.
struct PieceRuns<P> {
    starts: Vec<u32>,
    hashes: Vec<u64>,
    items: Vec<P>,
}

impl<P: Copy + Default + Send + Sync> Partitioned<P> {
    /// A stable radix scatter of keys' hashes, given in pieces of [`PIECE`] keys (the last may
    /// be shorter; key `k` is in piece `k / PIECE`), into `mask + 1` partitions, with the item
    /// `item(k)` of each.
    fn scatter(
        pieces: &[impl AsRef<[u64]> + Sync],
        mask: u64,
        item: impl Fn(u32) -> P + Sync,
        parallel: bool,
    ) -> Self {
        let partitions = mask as usize + 1;
        let sort_piece = |(n, hashes): (usize, &[u64])| {
            debug_assert!(hashes.len() <= PIECE);
            let mut counts = vec![0u32; partitions];
            for &h in hashes {
                counts[partition_of(h, mask)] += 1;
            }
            let starts: Vec<u32> = offsets(counts.iter().map(|&c| c as usize))
                .into_iter()
                .map(|s| s as u32)
                .collect();
            let mut next = starts.clone();
            let mut sorted = vec![0u64; hashes.len()];
            let mut items = vec![P::default(); hashes.len()];
            let first = n * PIECE;
            for (i, &h) in hashes.iter().enumerate() {
                let slot = &mut next[partition_of(h, mask)];
                sorted[*slot as usize] = h;
                items[*slot as usize] = item((first + i) as u32);
                *slot += 1;
            }
            PieceRuns {
                starts,
                hashes: sorted,
                items,
            }
        };
        let pieces = if parallel {
            pieces
                .par_iter()
                .map(AsRef::as_ref)
                .enumerate()
                .map(sort_piece)
                .collect()
        } else {
            pieces
                .iter()
                .map(AsRef::as_ref)
                .enumerate()
                .map(sort_piece)
                .collect()
        };
        Partitioned { partitions, pieces }
    }

    /// Where each piece's run of each partition lies in partition order (partitions one after
    /// another, each its pieces' runs in order): index `piece * partitions + p`.
    fn run_starts(&self) -> Vec<usize> {
        let mut starts = vec![0; self.pieces.len() * self.partitions];
        let mut next = 0;
        for p in 0..self.partitions {
            for (n, r) in self.pieces.iter().enumerate() {
                starts[n * self.partitions + p] = next;
                next += (r.starts[p + 1] - r.starts[p]) as usize;
            }
        }
        starts
    }

    /// Values given in partition order (one per key, as [`Partitioned::partition`] lists
    /// them), put back in key order: `value(p, v)` of each, at the position `position(item)` of
    /// its key. Piece by piece, in parallel: a piece's values are one run per partition.
    fn to_key_order<T: Copy + Default + Send + Sync>(
        &self,
        by_partition: &[T],
        position: impl Fn(&P) -> u32 + Sync,
        value: impl Fn(usize, T) -> T + Sync,
        parallel: bool,
    ) -> Vec<T> {
        let mut in_key_order = vec![T::default(); by_partition.len()];
        let run_starts = self.run_starts();
        let work: Vec<_> = in_key_order
            .chunks_mut(PIECE)
            .zip(&self.pieces)
            .zip(run_starts.chunks(self.partitions))
            .enumerate()
            .collect();
        for_each_item(parallel, work, |(n, ((out, piece), run_starts))| {
            let first = n * PIECE;
            for (p, &start) in run_starts.iter().enumerate() {
                let run = piece.starts[p] as usize..piece.starts[p + 1] as usize;
                for (item, &v) in piece.items[run].iter().zip(&by_partition[start..]) {
                    out[position(item) as usize - first] = value(p, v);
                }
            }
        });
        in_key_order
    }

    /// Number of keys in partition `p`.
    fn len_of(&self, p: usize) -> usize {
        self.pieces
            .iter()
            .map(|r| (r.starts[p + 1] - r.starts[p]) as usize)
            .sum()
    }

    /// The hashes and items of partition `p`, in key order.
    fn partition(&self, p: usize) -> impl Iterator<Item = (u64, P)> + '_ {
        self.pieces.iter().flat_map(move |r| {
            let run = r.starts[p] as usize..r.starts[p + 1] as usize;
            r.hashes[run.clone()]
                .iter()
                .copied()
                .zip(r.items[run].iter().copied())
        })
    }
}

/// Partition mask for about `distinct` keys: partitions of about 4096 distinct keys (a table of
/// ~90 KiB, in L2), at least two per core (a column of few keys is still built on all cores, each
/// partition reading a dense share of the cells), at most 1024 (the scatter then writes to few
/// enough pages for the TLB: at 10M keys, 4096 partitions made it the slowest step).
fn partition_mask(distinct: usize) -> u64 {
    let partitions = (distinct / 4096)
        .max(2 * rayon::current_num_threads())
        .next_power_of_two()
        .clamp(1, 1024);
    partitions as u64 - 1
}

/// The lengths of the consecutive pieces that start at `starts` (the last entry: the end).
fn lengths(starts: &[usize]) -> impl Iterator<Item = usize> + '_ {
    starts.windows(2).map(|w| w[1] - w[0])
}

/// Splits `items` into consecutive pieces of the given lengths.
fn split_by<T>(mut items: &mut [T], lengths: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    let mut pieces = Vec::new();
    for len in lengths {
        let (piece, rest) = items.split_at_mut(len);
        pieces.push(piece);
        items = rest;
    }
    pieces
}

/// Runs `f` on every item, on all cores when `parallel`.
fn for_each_item<T: Send>(parallel: bool, items: Vec<T>, f: impl Fn(T) + Sync + Send) {
    if parallel {
        items.into_par_iter().for_each(f);
    } else {
        items.into_iter().for_each(f);
    }
}

/// Keys per task in parallel passes over candidates (enough to amortize a task, few enough to
/// balance the cores; a piece's table of distinct keys stays in L1 when keys repeat).
const PIECE: usize = 16 * 1024;

/// Columns estimated to hold at most this many distinct keys are coded piece by piece first
/// (see [`Dictionary::build`]): a piece of [`PIECE`] candidates then repeats each key often.
/// (Not when all candidates fit in one piece: nothing to gain there, and small tables, which
/// most tests use, keep exercising the general path.)
const FEW_DISTINCT: usize = PIECE / 8;

/// `f` on each [`PIECE`] of `candidates`, in order, on all cores when `parallel`. Fails with the
/// first failing piece's error: a parallel run that fails (with any piece's error) is run again
/// in order, to name the first.
fn per_piece<T: Send, E: Send>(
    candidates: &[u32],
    parallel: bool,
    f: impl Fn(&[u32]) -> Result<T, E> + Sync,
) -> Result<Vec<T>, E> {
    let sequential = || candidates.chunks(PIECE).map(&f).collect();
    if parallel {
        candidates
            .par_chunks(PIECE)
            .map(&f)
            .collect::<Result<Vec<_>, _>>()
            .or_else(|_| sequential())
    } else {
        sequential()
    }
}

/// The hash of every candidate's key, piece by piece ([`PIECE`] candidates a piece). Fails with
/// the first candidate whose cell has no key under the rule.
fn hash_cells(
    column: &Column,
    fold: Fold,
    candidates: &[u32],
    hasher: &KeyHasher,
    parallel: bool,
) -> Result<Vec<Vec<u64>>, (u32, InvalidValue)> {
    per_piece(candidates, parallel, |rows| {
        let mut buf = String::new();
        rows.iter()
            .map(|&row| {
                let key = integration_key_into(column.get(row as usize), fold, &mut buf)
                    .map_err(|problem| (row, problem))?;
                Ok(hasher.hash(key))
            })
            .collect()
    })
}

/// About how many distinct keys the candidates hold, from an even sample (sizes the hash
/// tables, and tells a city column, whose keys repeat, from an e-mail column).
///
/// A sample of mostly distinct keys stands for all candidates; otherwise the Chao1 estimator
/// (the keys seen, plus what the keys seen once and twice say of those not seen), which sees a
/// column of a few hundred cities as a few hundred keys rather than extrapolating linearly.
fn estimate_distinct(column: &Column, candidates: &[u32], fold: Fold) -> usize {
    const SAMPLE: usize = 4096;
    if candidates.len() <= SAMPLE {
        return candidates.len();
    }
    let step = candidates.len() / SAMPLE;
    let mut seen: hashbrown::HashMap<String, u32> = hashbrown::HashMap::with_capacity(SAMPLE);
    let mut buf = String::new();
    for &row in candidates.iter().step_by(step) {
        if let Ok(key) = integration_key_into(column.get(row as usize), fold, &mut buf) {
            match seen.get_mut(key) {
                Some(times) => *times += 1,
                None => {
                    seen.insert(key.to_string(), 1);
                }
            }
        }
    }
    let sampled = candidates.len().div_ceil(step);
    if seen.len() * 2 > sampled {
        return candidates.len();
    }
    let once = seen.values().filter(|&&t| t == 1).count();
    let twice = seen.values().filter(|&&t| t == 2).count();
    let unseen = once * once.saturating_sub(1) / (2 * (twice + 1));
    (seen.len() + unseen).min(candidates.len())
}

/// The distinct keys of one piece of candidates.
struct PieceKeys {
    /// Hash and representative cell of each distinct key, in order of first appearance.
    keys: Vec<(u64, (u32, u32))>,
    /// Which of `keys` each candidate of the piece has.
    key_of: Vec<u32>,
}

/// The distinct keys of each [`PIECE`] of candidates, found in a small table per piece (the
/// piece's folded keys are kept beside it, so comparing keys reads no cell twice). Fails with
/// the first candidate whose cell has no key under the rule.
fn distinct_in_pieces(
    column: &Column,
    fold: Fold,
    candidates: &[u32],
    hasher: &KeyHasher,
    parallel: bool,
) -> Result<Vec<PieceKeys>, (u32, InvalidValue)> {
    let piece = |rows: &[u32]| -> Result<PieceKeys, (u32, InvalidValue)> {
        let mut table: HashTable<u32> = HashTable::new();
        let mut keys: Vec<(u64, (u32, u32))> = Vec::new();
        // The folded key of each of `keys`, one after another.
        let (mut folded, mut folded_ends) = (String::new(), Vec::new());
        let mut key_of = Vec::with_capacity(rows.len());
        let mut buf = String::new();
        for &row in rows {
            let key = integration_key_into(column.get(row as usize), fold, &mut buf)
                .map_err(|problem| (row, problem))?;
            let hash = hasher.hash(key);
            let same = |&k: &u32| {
                let k = k as usize;
                let start = if k == 0 { 0 } else { folded_ends[k - 1] };
                keys[k].0 == hash && same_text(&folded[start..folded_ends[k]], key)
            };
            let k = match table.entry(hash, same, |&k| keys[k as usize].0) {
                hashbrown::hash_table::Entry::Occupied(found) => *found.get(),
                hashbrown::hash_table::Entry::Vacant(free) => {
                    let k = keys.len() as u32;
                    free.insert(k);
                    keys.push((hash, column.span(row as usize)));
                    folded.push_str(key);
                    folded_ends.push(folded.len());
                    k
                }
            };
            key_of.push(k);
        }
        Ok(PieceKeys { keys, key_of })
    };
    per_piece(candidates, parallel, piece)
}

/// The open-addressing tables of a dictionary's partitions.
struct Tables {
    /// The partitions' tables, one after another; table `p` is `slots[starts[p]..starts[p + 1]]`.
    slots: Vec<Entry>,
    starts: Vec<usize>,
    /// Number of distinct keys.
    distinct: u32,
}

impl Tables {
    /// Codes the keys whose hashes `hashes` holds in pieces of [`PIECE`] (key `k` is the cell
    /// at `span_of(k)`): the tables, and each key's code. Codes are dense, numbered partition
    /// after partition.
    fn build(
        column: &Column,
        fold: Fold,
        hashes: Vec<impl AsRef<[u64]> + Sync>,
        span_of: impl Fn(u32) -> (u32, u32) + Sync,
        partition_mask: u64,
        parallel: bool,
    ) -> (Tables, Vec<u32>) {
        let keys = hashes.iter().map(|piece| piece.as_ref().len()).sum();
        // Each key's position and the span of its cell (read here in key order).
        let partitioned =
            Partitioned::scatter(&hashes, partition_mask, |k| (k, span_of(k)), parallel);
        drop(hashes);
        let partitions = partitioned.partitions;
        let lens: Vec<usize> = (0..partitions).map(|p| partitioned.len_of(p)).collect();

        // Each partition on its own: its table (room for every key in it, so it never fills),
        // and the partition-local code of each of its keys.
        let starts = offsets(lens.iter().map(|&len| table_size(len)));
        let mut slots = vec![Entry::FREE; starts[partitions]];
        let mut local_codes = vec![0u32; keys];
        let mut distinct_in = vec![0u32; partitions];
        let work: Vec<_> = split_by(&mut slots, lengths(&starts))
            .into_iter()
            .zip(split_by(&mut local_codes, lens.iter().copied()))
            .zip(distinct_in.iter_mut())
            .enumerate()
            .collect();
        for_each_item(parallel, work, |(p, ((table, codes), distinct))| {
            let mut bufs = (String::new(), String::new());
            let mut next = 0u32;
            for ((hash, (_, span)), code_out) in partitioned.partition(p).zip(codes.iter_mut()) {
                let check = hash as u32;
                // One walk finds the key or the free slot it takes.
                let slot = find_slot(table, check, |e| {
                    same_key(column, fold, span, e.span, &mut bufs)
                });
                *code_out = match slot {
                    Ok(found) => table[found].code,
                    Err(free) => {
                        let code = next;
                        next += 1;
                        table[free] = Entry { check, code, span };
                        code
                    }
                };
            }
            *distinct = next;
        });

        // Number the codes partition after partition.
        let bases = offsets(distinct_in.iter().map(|&d| d as usize));
        let distinct = bases[partitions] as u32;
        let codes = partitioned.to_key_order(
            &local_codes,
            |&(k, _)| k,
            |p, code| bases[p] as u32 + code,
            parallel,
        );
        drop(local_codes);
        // Entries take their global codes, partition by partition.
        let work: Vec<_> = split_by(&mut slots, lengths(&starts))
            .into_iter()
            .zip(&bases)
            .collect();
        for_each_item(parallel, work, |(table, &base)| {
            for entry in table.iter_mut().filter(|e| e.code != Entry::EMPTY) {
                entry.code += base as u32;
            }
        });
        // Tables sized for every key are mostly empty when keys repeat: refill them into
        // tables sized for their distinct keys.
        let (slots, starts) = if (distinct as usize) < keys / 2 {
            let compact = offsets(distinct_in.iter().map(|&d| table_size(d as usize)));
            let mut refilled = vec![Entry::FREE; compact[partitions]];
            let work: Vec<_> = split_by(&mut refilled, lengths(&compact))
                .into_iter()
                .zip(starts.windows(2))
                .collect();
            for_each_item(parallel, work, |(table, old)| {
                for entry in slots[old[0]..old[1]].iter() {
                    if entry.code != Entry::EMPTY {
                        insert_entry(table, *entry);
                    }
                }
            });
            (refilled, compact)
        } else {
            (slots, starts)
        };
        let tables = Tables {
            slots,
            starts,
            distinct,
        };
        (tables, codes)
    }
}

/// The answer of [`Dictionary::lookup_batch`] for one key: a code with the key's hash, and the
/// span of the cell that confirms it ([`Dictionary::confirms`]); code [`Dictionary::ABSENT`]
/// when no candidate has the key.
pub(crate) type Found = (u32, (u32, u32));

impl<'t> Dictionary<'t> {
    /// The code [`Dictionary::lookup_batch`] answers for a key no candidate has.
    pub(crate) const ABSENT: u32 = Entry::EMPTY;

    /// Encodes the cells of `column` at integration rows `candidates` (candidate position order),
    /// partitioned after a sample's estimate of how many distinct keys they hold. Fails with the
    /// first candidate (by position) whose cell has no key under the rule.
    pub(crate) fn build(
        column: Cow<'t, Column>,
        fold: Fold,
        candidates: &[u32],
        parallel: bool,
    ) -> Result<Self, (u32, InvalidValue)> {
        let distinct = estimate_distinct(&column, candidates, fold);
        Self::build_with(
            column,
            fold,
            candidates,
            distinct,
            parallel,
            KeyHasher::default(),
        )
    }

    /// [`Dictionary::build`] for about `distinct` distinct keys, hashing with `hasher`.
    fn build_with(
        column: Cow<'t, Column>,
        fold: Fold,
        candidates: &[u32],
        distinct: usize,
        parallel: bool,
        hasher: KeyHasher,
    ) -> Result<Self, (u32, InvalidValue)> {
        let partition_mask = partition_mask(distinct);
        let (tables, codes) = if distinct <= FEW_DISTINCT && candidates.len() > PIECE {
            // Few distinct keys (a city, a country): each piece of candidates first finds its
            // own distinct keys in a table that stays in L1, reading the cells once and in
            // order; only those keys are partitioned and coded, and each candidate then takes
            // its key's code. No cell is read at random.
            let pieces = distinct_in_pieces(&column, fold, candidates, &hasher, parallel)?;
            let piece_starts = offsets(pieces.iter().map(|p| p.keys.len()));
            let (key_hashes, key_spans): (Vec<u64>, Vec<(u32, u32)>) =
                pieces.iter().flat_map(|p| p.keys.iter().copied()).unzip();
            let (tables, key_codes) = Tables::build(
                &column,
                fold,
                key_hashes.chunks(PIECE).collect(),
                |k| key_spans[k as usize],
                partition_mask,
                parallel,
            );
            let mut codes = vec![0u32; candidates.len()];
            let work: Vec<_> = codes
                .chunks_mut(PIECE)
                .zip(&pieces)
                .zip(piece_starts)
                .collect();
            for_each_item(parallel, work, |((codes, piece), start)| {
                for (code, &key) in codes.iter_mut().zip(&piece.key_of) {
                    *code = key_codes[start + key as usize];
                }
            });
            (tables, codes)
        } else {
            let hashes = hash_cells(&column, fold, candidates, &hasher, parallel)?;
            Tables::build(
                &column,
                fold,
                hashes,
                |pos| column.span(candidates[pos as usize] as usize),
                partition_mask,
                parallel,
            )
        };
        Ok(Dictionary {
            column,
            fold,
            hasher,
            partition_mask,
            tables,
            codes,
        })
    }

    /// The hash of a key, as [`Dictionary::lookup_batch`] takes it.
    #[inline]
    pub(crate) fn hash(&self, key: &str) -> u64 {
        self.hasher.hash(key)
    }

    #[inline]
    fn table(&self, partition: usize) -> &[Entry] {
        let Tables { slots, starts, .. } = &self.tables;
        &slots[starts[partition]..starts[partition + 1]]
    }

    /// Whether the representative cell at `span` has the key `key` (folding the cell into
    /// `scratch` when the rule changes it).
    pub(crate) fn confirms(&self, span: (u32, u32), key: &str, scratch: &mut String) -> bool {
        cell_has_key(self.column.text(span), self.fold, key, scratch)
    }

    /// The code of a key, if some candidate has it.
    pub(crate) fn lookup(&self, key: &str, scratch: &mut String) -> Option<u32> {
        let hash = self.hash(key);
        find_entry(
            self.table(partition_of(hash, self.partition_mask)),
            hash as u32,
            |e| self.confirms(e.span, key, scratch),
        )
        .map(|e| e.code)
    }

    /// The codes of many keys given by their hashes ([`Dictionary::hash`]), probed partition by
    /// partition: what was found for each hash, in their order. Equal hashes are not proof of
    /// equal keys: the caller settles each answer ([`Dictionary::settle`]).
    pub(crate) fn lookup_batch(&self, hashes: Vec<u64>, parallel: bool) -> Vec<Found> {
        let keys = hashes.len();
        let pieces: Vec<&[u64]> = hashes.chunks(PIECE).collect();
        let partitioned = Partitioned::scatter(&pieces, self.partition_mask, |pos| pos, parallel);
        drop(pieces);
        drop(hashes);
        let lens: Vec<usize> = (0..partitioned.partitions)
            .map(|p| partitioned.len_of(p))
            .collect();
        let mut by_partition: Vec<Found> = vec![(0, (0, 0)); keys];
        let work: Vec<_> = split_by(&mut by_partition, lens.iter().copied())
            .into_iter()
            .enumerate()
            .collect();
        for_each_item(parallel, work, |(p, out)| {
            let table = self.table(p);
            for ((h, _), slot) in partitioned.partition(p).zip(out) {
                *slot = match find_entry(table, h as u32, |_| true) {
                    Some(e) => (e.code, e.span),
                    None => (Self::ABSENT, (0, 0)),
                };
            }
        });
        partitioned.to_key_order(&by_partition, |&pos| pos, |_, found| found, parallel)
    }

    /// The code of `key` from what [`Dictionary::lookup_batch`] found for its hash: confirmed
    /// by comparing the keys, else looked up (the hash was another key's); `None` when no
    /// candidate has the key.
    pub(crate) fn settle(
        &self,
        (code, span): Found,
        key: &str,
        scratch: &mut String,
    ) -> Option<u32> {
        if code == Self::ABSENT {
            None
        } else if self.confirms(span, key, scratch) {
            Some(code)
        } else {
            self.lookup(key, scratch)
        }
    }

    /// Starts loading the representative cell that [`Dictionary::settle`] will compare for
    /// `found` (a cache hint for a loop that settles many answers in order).
    #[inline]
    pub(crate) fn prefetch_settle(&self, (code, span): Found) {
        if code != Self::ABSENT {
            if let Some(first_byte) = self.column.text(span).as_bytes().first() {
                prefetch(first_byte);
            }
        }
    }

    /// Frees the lookup tables once no key will be looked up any more (codes stay; a lookup
    /// after this panics).
    pub(crate) fn release_tables(&mut self) {
        self.tables.slots = Vec::new();
        self.tables.starts = Vec::new();
    }

    /// Number of distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.tables.distinct as usize
    }
}

/// Whether `cell` has the key `key` (already folded) under `fold`, folding the cell into
/// `scratch` when the rule changes it.
fn cell_has_key(cell: &str, fold: Fold, key: &str, scratch: &mut String) -> bool {
    if fold == Fold::Lower && cell.is_ascii() {
        // An ASCII cell's lower-case mapping is byte for byte.
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

/// Whether the cells at spans `a` and `b` of `column` have the same key under `fold`.
fn same_key(
    column: &Column,
    fold: Fold,
    a: (u32, u32),
    b: (u32, u32),
    bufs: &mut (String, String),
) -> bool {
    let (x, y) = (column.text(a), column.text(b));
    if same_text(x, y) {
        return true;
    }
    match fold {
        Fold::Exact => false,
        // ASCII lower-cases byte for byte; other text may lower-case to ASCII (the Kelvin sign).
        Fold::Lower if x.is_ascii() && y.is_ascii() => x.eq_ignore_ascii_case(y),
        _ => match integration_key_into(x, fold, &mut bufs.0) {
            Ok(kx) => cell_has_key(y, fold, kx, &mut bufs.1),
            Err(_) => false,
        },
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

    /// Starts loading group `g`'s head (a cache hint for loops over many groups).
    #[inline]
    pub(crate) fn prefetch_head(&self, g: u32) {
        if let Some(head) = self.heads.get(g as usize) {
            prefetch(head);
        }
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
        let rows: Vec<u32> = (0..col.len() as u32).collect();
        Dictionary::build(Cow::Borrowed(col), fold, &rows, false).unwrap()
    }

    #[test]
    fn dictionary_codes_are_dense_and_stable() {
        let col = column(&["a", "b", "a", "", "b"]);
        let d = dictionary(&col, Fold::Exact);
        // Equal keys share a code, different keys do not; codes are 0..distinct (their order
        // follows the partitions).
        let (a, b, blank) = (d.codes[0], d.codes[1], d.codes[3]);
        assert_eq!(d.codes, vec![a, b, a, blank, b]);
        let mut sorted = vec![a, b, blank];
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2]);
        let mut scratch = String::new();
        assert_eq!(d.lookup("b", &mut scratch), Some(b));
        assert_eq!(d.lookup("", &mut scratch), Some(blank));
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
        assert_eq!(d.codes[0], d.codes[1]);
        assert_ne!(d.codes[0], d.codes[2]);
        assert_eq!(d.len(), 2);
    }

    /// Builds over `cells` with `hasher` and `partitions`-ish distinct estimate, then checks
    /// the dictionary against folded keys: same key ⇔ same code, dense codes, and every key
    /// (plus absent ones) found alike by `lookup` and by `lookup_batch` + `settle`.
    fn check_against_keys(cells: &[String], fold: Fold, hasher: KeyHasher, distinct: usize) {
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let col = column(&refs);
        // Candidates: every other row, so positions and rows differ.
        let rows: Vec<u32> = (0..col.len() as u32).step_by(2).collect();
        for parallel in [false, true] {
            let d = Dictionary::build_with(
                Cow::Borrowed(&col),
                fold,
                &rows,
                distinct,
                parallel,
                hasher.clone(),
            )
            .unwrap();
            let mut buf = String::new();
            let key = |cell: &str, buf: &mut String| -> String {
                integration_key_into(cell, fold, buf).unwrap().to_string()
            };
            let mut code_of: std::collections::HashMap<String, u32> = Default::default();
            for (pos, &row) in rows.iter().enumerate() {
                let k = key(col.get(row as usize), &mut buf);
                let code = *code_of.entry(k).or_insert(d.codes[pos]);
                assert_eq!(code, d.codes[pos], "same key, same code");
            }
            let mut codes: Vec<u32> = code_of.values().copied().collect();
            codes.sort_unstable();
            assert_eq!(
                codes,
                (0..d.len() as u32).collect::<Vec<_>>(),
                "dense, one per key"
            );
            // Queries: every row's key (odd rows may be absent) and keys nobody has.
            let mut queries: Vec<String> =
                (0..col.len()).map(|r| key(col.get(r), &mut buf)).collect();
            queries.extend((0..50).map(|i| format!("nobody {i}")));
            let hashes: Vec<u64> = queries.iter().map(|q| d.hash(q)).collect();
            let answers = d.lookup_batch(hashes.clone(), parallel);
            // Each answer is its own hash's, back in query order: the first entry with its
            // check in its partition's table.
            for (&h, &(code, span)) in hashes.iter().zip(&answers) {
                let table = d.table(partition_of(h, d.partition_mask));
                let first = find_entry(table, h as u32, |_| true);
                assert_eq!(
                    first.map(|e| (e.code, e.span)),
                    (code != Dictionary::ABSENT).then_some((code, span))
                );
            }
            let mut batch = vec![None; queries.len()];
            for (i, found) in answers.into_iter().enumerate() {
                batch[i] = d.settle(found, &queries[i], &mut buf.clone());
            }
            for (q, got) in queries.iter().zip(batch) {
                let expected = code_of.get(q).copied();
                assert_eq!(d.lookup(q, &mut buf), expected, "lookup {q:?}");
                assert_eq!(got, expected, "batch {q:?}");
            }
        }
    }

    fn mixed_cells(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| match i % 4 {
                0 => format!("Key {}", i % 3000),
                1 => format!("KEY {}", i % 3000),
                2 => format!("Clé {}", i % 700),
                _ => format!("\u{212A}ey {}", i % 3000),
            })
            .collect()
    }

    #[test]
    fn dictionary_partitions_agree_with_folded_keys() {
        let cells = mixed_cells(40_000);
        // Few partitions (two per core) with keys first found piece by piece, and many
        // partitions: the estimate chooses.
        for distinct in [10, 200_000] {
            check_against_keys(&cells, Fold::Lower, KeyHasher::default(), distinct);
            check_against_keys(&cells, Fold::Exact, KeyHasher::default(), distinct);
        }
    }

    #[test]
    fn dictionary_survives_colliding_hashes() {
        // 16 partitions, 4 distinct checks: nearly every key shares its hash with others, so
        // every answer of the batch must be settled by comparing keys.
        let hasher = KeyHasher {
            keep: Some((0xF << 32) | 0x3),
            ..KeyHasher::default()
        };
        let cells = mixed_cells(6_000);
        check_against_keys(&cells, Fold::Lower, hasher.clone(), 100_000);
        check_against_keys(&cells, Fold::Exact, hasher.clone(), 10);
        // More candidates than a piece: coded piece by piece first, in colliding tables too.
        let cells = mixed_cells(2 * PIECE + 4_000);
        check_against_keys(&cells, Fold::Lower, hasher, 10);
    }

    #[test]
    fn dictionary_names_the_first_bad_cell() {
        let col = column(&["1", "x", "2", "y"]);
        let rows: Vec<u32> = (0..4).collect();
        for parallel in [false, true] {
            let err = Dictionary::build(Cow::Borrowed(&col), Fold::Number, &rows, parallel);
            assert_eq!(err.err().map(|e| e.0), Some(1));
        }
        // Bad cells in later pieces, coded piece by piece (few distinct) or not; the second at
        // the start of its piece, so that a parallel run meets it first.
        let mut cells: Vec<String> = (0..4 * PIECE).map(|i| (i % 7).to_string()).collect();
        cells[2 * PIECE - 5] = "x".into();
        for later in [2 * PIECE, 3 * PIECE] {
            cells[later] = "y".into();
        }
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let col = column(&refs);
        let rows: Vec<u32> = (0..col.len() as u32).collect();
        for distinct in [7, col.len()] {
            for parallel in [false, true] {
                let err = Dictionary::build_with(
                    Cow::Borrowed(&col),
                    Fold::Number,
                    &rows,
                    distinct,
                    parallel,
                    KeyHasher::default(),
                );
                assert_eq!(err.err().map(|e| e.0), Some(2 * PIECE as u32 - 5));
            }
        }
    }

    fn column_of_strings(cells: impl Iterator<Item = String>) -> Column {
        let cells: Vec<String> = cells.collect();
        column(&cells.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn distinct_estimate_tells_repeated_keys_from_unique_ones() {
        let n = 100_000u32;
        let rows: Vec<u32> = (0..n).collect();
        let cities = column_of_strings(
            (0..n).map(|i| format!("City {}", (i as u64 * 2_654_435_761) % 1_000_003 % 224)),
        );
        let estimate = estimate_distinct(&cities, &rows, Fold::Lower);
        assert!((224..=448).contains(&estimate), "{estimate}");
        let phones = column_of_strings((0..n).map(|i| format!("+49 {i}")));
        assert_eq!(estimate_distinct(&phones, &rows, Fold::Lower), n as usize);
        // A long tail beside a few common keys: not mistaken for a few keys.
        let mixed = column_of_strings((0..n).map(|i| match i % 3 {
            0 => format!("Tail {i}"),
            _ => format!("City {}", i % 50),
        }));
        let estimate = estimate_distinct(&mixed, &rows, Fold::Lower);
        assert!(estimate > 10_000, "{estimate}");
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
        let (one, two, x, y) = (a.codes[0], a.codes[2], b.codes[0], b.codes[1]);
        assert_eq!(t.group(&[one, x]), &[0, 3]);
        assert_eq!(t.group(&[one, y]), &[1]);
        assert_eq!(t.group(&[two, y]), &[] as &[u32]);
    }
}
