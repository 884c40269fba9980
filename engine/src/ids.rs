//! One record id, however it is spelled.
//!
//! Business Central and Dataverse do not compare ids as raw text:
//!
//! - a **GUID** (a Dataverse primary key, BC's SystemId, the `CRM ID` of BC's "CRM Integration
//!   Record") is one 128-bit value: BC shows and exports it upper-case in braces
//!   (`{5F641B45-48BC-A138-BE13-4EA95426DD94}`), Dataverse lower-case without them
//!   (`5f641b45-48bc-a138-be13-4ea95426dd94`);
//! - a BC **Code** value — and every key of the tables BC couples (`No.` of customers, vendors,
//!   contacts, items; `Code` of salespeople, currencies, payment terms, …) is a Code field — is
//!   stored trimmed and upper-cased, so `cust-0042`, `CUST-0042` and `CUST-0042 ` are one record.
//!
//! Every id the engine keys on (the key columns, existing couplings) is therefore brought to one
//! **canonical form** first, and every id it hands back (outcomes, `results.csv`,
//! `couplings.csv`, the store) is in that form:
//!
//! | side | GUID (8-4-4-4-12 hex, optionally in braces, any case, surrounding white space) | other ids |
//! |---|---|---|
//! | local (BC) | lower-case, no braces | trimmed and upper-cased (BC's Code rule) |
//! | integration (Dataverse) | lower-case, no braces | as read |
//!
//! The local rule applies to every local key whatever its column: the config declares no type
//! for a key, and BC's coupled tables have a Code primary key or use the SystemId (a GUID).
//! Integration ids that are not GUIDs (an alternate key, test data) are kept as read: Dataverse's
//! primary keys are GUIDs, and nothing says how another key column compares.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::table::Column;

/// Which table an id belongs to: the rules differ (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSide {
    /// The BC side: GUIDs canonical, other ids trimmed and upper-cased (Code).
    Local,
    /// The Dataverse side: GUIDs canonical, other ids as read.
    Integration,
}

/// How a text spells a GUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GuidSpelling {
    /// Not a GUID.
    No,
    /// Exactly the canonical form: 36 characters, lower-case, no braces, nothing around.
    Canonical,
    /// A GUID in another spelling; its 36 characters start at this byte.
    Other(usize),
}

/// Whether and how `s` spells a GUID: 8-4-4-4-12 hex digits of any case, optionally in braces,
/// optionally with white space around.
#[inline]
fn guid_spelling(s: &str) -> GuidSpelling {
    let bytes = s.as_bytes();
    // Nearly every id is exactly 36 bytes (a GUID) or far from it (a BC number): decide on the
    // length first, trim only when the length says white space or braces may be there.
    let (start, inner) = if bytes.len() == 36 {
        (0, bytes)
    } else if bytes.len() < 36 {
        return GuidSpelling::No;
    } else {
        let trimmed = s.trim();
        let offset = trimmed.as_ptr() as usize - s.as_ptr() as usize;
        let t = trimmed.as_bytes();
        match t.len() {
            36 => (offset, t),
            38 if t[0] == b'{' && t[37] == b'}' => (offset + 1, &t[1..37]),
            _ => return GuidSpelling::No,
        }
    };
    match guid_digits(inner) {
        None => GuidSpelling::No,
        Some(false) if start == 0 && bytes.len() == 36 => GuidSpelling::Canonical,
        Some(_) => GuidSpelling::Other(start),
    }
}

/// Whether 36 bytes are a GUID's 8-4-4-4-12 hex digits (`None`: they are not), and whether a
/// digit is upper-case. Eight bytes at a time ([`bytes_between`]): five overlapping words
/// cover the 36 bytes, the hyphens' lanes are left out of the hex test.
#[inline]
fn guid_digits(inner: &[u8]) -> Option<bool> {
    debug_assert_eq!(inner.len(), 36);
    if [8, 13, 18, 23].iter().any(|&i| inner[i] != b'-') {
        return None;
    }
    // (first byte of the word, the high bits of its hyphens' lanes)
    const WORDS: [(usize, u64); 5] = [
        (0, 0),
        (8, 0x80 | (0x80 << 40)),          // bytes 8 and 13
        (16, (0x80 << 16) | (0x80 << 56)), // bytes 18 and 23
        (24, 0),
        (28, 0),
    ];
    let mut hex = true;
    let mut upper = 0;
    for (at, hyphens) in WORDS {
        let w = u64::from_le_bytes(inner[at..at + 8].try_into().expect("8 bytes"));
        let digits = bytes_between(w, b'0' - 1, b'9' + 1);
        // `| 0x20` maps A-F onto a-f, and no other byte there.
        let letters = bytes_between(w | (LOW_BITS * 0x20), b'a' - 1, b'f' + 1);
        hex &= digits | letters | hyphens == HIGH_BITS;
        upper |= bytes_between(w, b'A' - 1, b'F' + 1);
    }
    hex.then_some(upper != 0)
}

/// Whether `id` is a GUID: 8-4-4-4-12 hex digits, any case, optionally in braces and with
/// white space around (`{5F641B45-48BC-A138-BE13-4EA95426DD94}`).
pub fn is_guid(id: &str) -> bool {
    guid_spelling(id) != GuidSpelling::No
}

/// The canonical form of an id of `side` (see the module documentation). Borrowed — the id
/// itself or a part of it — whenever no character changes.
#[inline]
pub fn canonical_id(side: IdSide, id: &str) -> Cow<'_, str> {
    match guid_spelling(id) {
        GuidSpelling::Canonical => Cow::Borrowed(id),
        GuidSpelling::Other(start) => {
            let inner = &id[start..start + 36];
            if inner.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(inner.to_ascii_lowercase())
            } else {
                Cow::Borrowed(inner)
            }
        }
        GuidSpelling::No => match side {
            IdSide::Integration => Cow::Borrowed(id),
            IdSide::Local => code(id),
        },
    }
}

/// Appends the canonical form of an id of `side` to `out` ([`canonical_id`] without a copy of
/// its own: for ids that are spelled otherwise, by the thousand).
pub(crate) fn push_canonical(side: IdSide, id: &str, out: &mut String) {
    let at = out.len();
    match guid_spelling(id) {
        GuidSpelling::Canonical => out.push_str(id),
        GuidSpelling::Other(start) => {
            out.push_str(&id[start..start + 36]);
            out[at..].make_ascii_lowercase();
        }
        GuidSpelling::No => match side {
            IdSide::Integration => out.push_str(id),
            IdSide::Local => {
                let trimmed = id.trim();
                if trimmed.is_ascii() {
                    out.push_str(trimmed);
                    out[at..].make_ascii_uppercase();
                } else {
                    out.extend(trimmed.chars().flat_map(char::to_uppercase));
                }
            }
        },
    }
}

/// A quick test that `id` is its own canonical form, for the id check's pass over every id: true
/// only when it surely is (then [`canonical_id`] borrows it whole); false when it may not be
/// (then ask [`canonical_id`]). Nothing around the id that a canonical form drops (white space,
/// braces, any non-ASCII byte), and no letter in a case canonical forms change — integration
/// ids: no upper-case letter (so not a GUID in another case, whatever else they are); local
/// ids: ASCII, no lower-case letter, and too short to be a GUID (BC's keys are Code\[20\]).
/// The letters are tested eight bytes at a time (see [`bytes_between`]): a few word operations
/// per id instead of a loop over its bytes.
#[inline]
pub(crate) fn surely_canonical(side: IdSide, id: &str) -> bool {
    let bytes = id.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return true; // blank
    };
    if dropped_around(first) || dropped_around(last) {
        return false;
    }
    match side {
        IdSide::Integration => !any_word(bytes, |w| bytes_between(w, b'A' - 1, b'Z' + 1) != 0),
        IdSide::Local => {
            bytes.len() < 36
                && !any_word(bytes, |w| {
                    bytes_between(w, b'a' - 1, b'z' + 1) | (w & HIGH_BITS) != 0
                })
        }
    }
}

/// Whether a byte at either end of an id may be dropped by its canonical form: white space and
/// control characters, braces, and any byte of a non-ASCII character (Unicode white space).
#[inline]
fn dropped_around(b: u8) -> bool {
    b <= b' ' || b == b'{' || b == b'}' || b >= 0x80
}

/// Whether every id of a column is surely its own canonical form, from the column's text alone
/// (and its longest id): no byte a canonical form could drop or change — white space, control
/// characters, braces, non-ASCII bytes; upper-case letters (integration ids) or lower-case
/// letters (local ids, and none long enough to be a GUID). One sequential pass over the text,
/// which the compiler vectorizes: it spares the id check a test per id for the columns exports
/// hold (BC numbers upper-case, Dataverse GUIDs lower-case).
pub(crate) fn column_surely_canonical(side: IdSide, column: &Column, parallel: bool) -> bool {
    fn clean(text: &[u8], parallel: bool, suspicious: impl Fn(u8) -> bool + Sync) -> bool {
        // Pieces of 4 KiB: the fold has no early exit (it vectorizes), the pieces do.
        let piece = |chunk: &[u8]| {
            chunk
                .chunks(1 << 12)
                .all(|c| !c.iter().fold(false, |found, &b| found | suspicious(b)))
        };
        if parallel && text.len() > 1 << 22 {
            text.par_chunks(1 << 20).all(piece)
        } else {
            piece(text)
        }
    }
    let text = column.text_bytes();
    match side {
        IdSide::Integration => clean(text, parallel, |b| {
            dropped_around(b) | b.is_ascii_uppercase()
        }),
        IdSide::Local => {
            column.longest() < 36
                && clean(text, parallel, |b| {
                    dropped_around(b) | b.is_ascii_lowercase()
                })
        }
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that lies strictly between `m` and `n` (`n` ≤ 128; bytes
/// of 128 and above never count) — the bit-twiddling "has a byte between" test, exact for
/// every byte of the word.
#[inline]
fn bytes_between(w: u64, m: u8, n: u8) -> u64 {
    let low7 = w & (LOW_BITS * 127);
    (LOW_BITS * (127 + u64::from(n))).wrapping_sub(low7)
        & !w
        & low7.wrapping_add(LOW_BITS * (127 - u64::from(m)))
        & HIGH_BITS
}

/// Whether `test` holds for one of the 8-byte words covering `bytes` (zero-padded when shorter
/// than 8; the last word overlaps the one before it, which an "any" test allows).
#[inline]
fn any_word(bytes: &[u8], test: impl Fn(u64) -> bool) -> bool {
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    if bytes.len() < 8 {
        let mut padded = [0u8; 8];
        padded[..bytes.len()].copy_from_slice(bytes);
        return test(u64::from_le_bytes(padded));
    }
    let mut found = false;
    let mut at = 0;
    while at + 8 <= bytes.len() {
        found |= test(word(at));
        at += 8;
    }
    found | test(word(bytes.len() - 8))
}

/// BC's Code rule: trimmed, upper-cased (the same mapping as a Code criterion's).
#[inline]
fn code(id: &str) -> Cow<'_, str> {
    let trimmed = id.trim();
    if trimmed.is_ascii() {
        if trimmed.bytes().any(|b| b.is_ascii_lowercase()) {
            Cow::Owned(trimmed.to_ascii_uppercase())
        } else {
            Cow::Borrowed(trimmed)
        }
    } else {
        let upper = trimmed.to_uppercase();
        if upper == trimmed {
            Cow::Borrowed(trimmed)
        } else {
            Cow::Owned(upper)
        }
    }
}

/// The canonical form of a local (BC) id: a GUID lower-case without braces, anything else
/// trimmed and upper-cased (BC's Code rule).
///
/// ```
/// use coupler_engine::canonical_local_id;
///
/// assert_eq!(canonical_local_id(" c00010"), "C00010");
/// assert_eq!(
///     canonical_local_id("{5F641B45-48BC-A138-BE13-4EA95426DD94}"),
///     "5f641b45-48bc-a138-be13-4ea95426dd94"
/// );
/// // Borrowed when nothing changes.
/// assert!(matches!(canonical_local_id("C00010"), std::borrow::Cow::Borrowed("C00010")));
/// ```
pub fn canonical_local_id(id: &str) -> Cow<'_, str> {
    canonical_id(IdSide::Local, id)
}

/// The canonical form of an integration (Dataverse) id: a GUID lower-case without braces,
/// anything else as read.
///
/// ```
/// use coupler_engine::{canonical_integration_id, canonical_local_id};
///
/// let guid = "5f641b45-48bc-a138-be13-4ea95426dd94";
/// assert_eq!(canonical_integration_id(" {5F641B45-48BC-A138-BE13-4EA95426DD94} "), guid);
/// // Only GUIDs are respelled on the integration side.
/// assert_eq!(canonical_integration_id(" c00010"), " c00010");
/// assert_eq!(canonical_local_id(" c00010"), "C00010");
/// ```
pub fn canonical_integration_id(id: &str) -> Cow<'_, str> {
    canonical_id(IdSide::Integration, id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Whether `id` is its own canonical form, as the id check decides it: a borrowed canonical
    /// form is a part of the id, the whole of it when as long.
    fn is_canonical(side: IdSide, id: &str) -> bool {
        matches!(canonical_id(side, id), Cow::Borrowed(c) if c.len() == id.len())
    }

    const CANONICAL: &str = "5f641b45-48bc-a138-be13-4ea95426dd94";

    #[test]
    fn guids_in_any_spelling_are_one_value() {
        for side in [IdSide::Local, IdSide::Integration] {
            for spelling in [
                CANONICAL,
                "5F641B45-48BC-A138-BE13-4EA95426DD94",
                "{5F641B45-48BC-A138-BE13-4EA95426DD94}",
                "{5f641b45-48bc-a138-be13-4ea95426dd94}",
                " 5f641b45-48BC-a138-be13-4ea95426dd94 ",
                "\t{5F641B45-48BC-A138-BE13-4EA95426DD94}  ",
            ] {
                assert_eq!(canonical_id(side, spelling), CANONICAL, "{spelling:?}");
                assert!(is_guid(spelling), "{spelling:?}");
                assert_eq!(is_canonical(side, spelling), spelling == CANONICAL);
            }
        }
        assert!(matches!(
            canonical_integration_id(CANONICAL),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn near_guids_are_not_guids() {
        for not_guid in [
            "5f641b45-48bc-a138-be13-4ea95426dd9",    // one digit short
            "5f641b45-48bc-a138-be13-4ea95426dd94a",  // one digit long
            "5f641b4548bca138be134ea95426dd94",       // no hyphens
            "5f641b45-48bc-a138-be13_4ea95426dd94",   // a hyphen replaced
            "5f641b45-48bc-a138-be13-4ea95426dg94",   // not hex
            "{5f641b45-48bc-a138-be13-4ea95426dd94",  // one brace
            "(5f641b45-48bc-a138-be13-4ea95426dd94)", // parentheses
            "5f641b45-48bc-a138-be1-34ea95426dd94",   // hyphen misplaced
            "",
        ] {
            assert!(!is_guid(not_guid), "{not_guid:?}");
            // Not a GUID: the integration side keeps it as read.
            assert_eq!(canonical_integration_id(not_guid), not_guid);
        }
    }

    #[test]
    fn local_codes_are_trimmed_and_upper_cased() {
        assert_eq!(canonical_local_id("cust-0042"), "CUST-0042");
        assert_eq!(canonical_local_id("CUST-0042 "), "CUST-0042");
        assert_eq!(canonical_local_id("  Cust-0042\t"), "CUST-0042");
        assert_eq!(canonical_local_id("C00010"), "C00010");
        assert_eq!(canonical_local_id("=MIG-0417"), "=MIG-0417");
        assert_eq!(canonical_local_id("kø-1"), "KØ-1");
        assert_eq!(canonical_local_id("   "), "");
        assert_eq!(canonical_local_id("C1\x0b"), "C1");
        assert!(!surely_canonical(IdSide::Local, "C1\x0b"));
        assert!(is_canonical(IdSide::Local, "C00010"));
        assert!(is_canonical(IdSide::Local, "KØ-1"));
        assert!(!is_canonical(IdSide::Local, "C00010 "));
        // The quick test passes what exports hold.
        assert!(surely_canonical(IdSide::Local, "C00010"));
        assert!(surely_canonical(IdSide::Local, "=MIG-0417"));
        assert!(surely_canonical(IdSide::Integration, CANONICAL));
        assert!(surely_canonical(IdSide::Integration, "acc-1"));
        assert!(!surely_canonical(IdSide::Local, CANONICAL));
        assert!(!surely_canonical(
            IdSide::Integration,
            &CANONICAL.to_uppercase()
        ));
        assert!(!is_canonical(IdSide::Local, "c00010"));
        // The integration side keeps ids that are not GUIDs as read.
        assert_eq!(canonical_integration_id(" acc-1 "), " acc-1 ");
        assert!(is_canonical(IdSide::Integration, " acc-1 "));
    }

    #[test]
    fn bytes_between_is_exact_for_every_byte_in_every_lane() {
        for (m, n) in [(b'A' - 1, b'Z' + 1), (b'a' - 1, b'z' + 1)] {
            for lane in 0..8 {
                for b in 0..=255u8 {
                    // The byte among others that are not between, and among others that are.
                    for fill in [b'0', b'm', 0x80, 0xFF, b'Q'] {
                        let mut word = [fill; 8];
                        word[lane] = b;
                        let got = bytes_between(u64::from_le_bytes(word), m, n);
                        let expected = word
                            .iter()
                            .enumerate()
                            .filter(|&(_, &x)| x > m && x < n)
                            .fold(0u64, |bits, (i, _)| bits | 0x80 << (8 * i));
                        assert_eq!(got, expected, "{word:?} between {m} and {n}");
                    }
                }
            }
        }
    }

    /// Ids in many spellings: GUIDs in any case with braces, white space (also a vertical tab
    /// and a no-break space) around, codes, canonical GUIDs with an upper-case group.
    const ID: &str = "[ \t\x0b{\u{a0}]?[0-9a-fA-F-]{0,38}[} \x0b\u{a0}]?|[ a-zA-Zø0-9-]{0,12}|[0-9a-f]{8}-[0-9a-fA-F]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

    #[test]
    fn columns_of_canonical_ids_pass_the_text_test() {
        let column = |ids: &[&str]| {
            let mut c = Column::default();
            for id in ids {
                c.push(id).unwrap();
            }
            c
        };
        let guids = column(&[CANONICAL, "e6f8ed18-c7b7-4a95-a5bc-44ab02629774"]);
        let numbers = column(&["C00010", "=MIG-0417", "CUST-0042"]);
        for parallel in [false, true] {
            assert!(column_surely_canonical(
                IdSide::Integration,
                &guids,
                parallel
            ));
            // Upper-case integration ids may be GUIDs to lower-case: tested per id.
            assert!(!column_surely_canonical(
                IdSide::Integration,
                &numbers,
                parallel
            ));
            let keys = column(&["acc-1", "acc-2"]);
            assert!(column_surely_canonical(
                IdSide::Integration,
                &keys,
                parallel
            ));
            assert!(column_surely_canonical(IdSide::Local, &numbers, parallel));
            // Lower-case GUIDs as local ids are canonical, but take the test per id.
            assert!(!column_surely_canonical(IdSide::Local, &guids, parallel));
            let spaced = column(&["C00010", "C00020 "]);
            assert!(!column_surely_canonical(IdSide::Local, &spaced, parallel));
            let braced = column(&[CANONICAL, "{5F641B45-48BC-A138-BE13-4EA95426DD94}"]);
            assert!(!column_surely_canonical(
                IdSide::Integration,
                &braced,
                parallel
            ));
        }
        // Long columns are tested in pieces on all cores.
        let long: Vec<String> = (0..200_000)
            .map(|i| format!("{i:08x}-48bc-a138-be13-4ea95426dd94"))
            .collect();
        let mut c = column(&long.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(column_surely_canonical(IdSide::Integration, &c, true));
        c.push("X").unwrap();
        assert!(!column_surely_canonical(IdSide::Integration, &c, true));
        assert!(!column_surely_canonical(IdSide::Integration, &c, false));
    }

    /// Bytes for GUID tests: hex digits of both cases and their neighbours, and others.
    const POOL: &[u8] = b"0123456789abcdefABCDEF0123456789abcdef-/:@`GgzZ{} \x80\xff";

    fn guid_bytes() -> impl Strategy<Value = [u8; 16]> {
        proptest::array::uniform16(any::<u8>())
    }

    fn spell(bytes: &[u8; 16], upper: bool, braces: bool) -> String {
        let mut s = String::new();
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            if upper {
                s.push_str(&format!("{b:02X}"));
            } else {
                s.push_str(&format!("{b:02x}"));
            }
        }
        if braces {
            format!("{{{s}}}")
        } else {
            s
        }
    }

    proptest! {
        /// Two spellings of GUIDs have one canonical form exactly when the GUIDs are equal.
        #[test]
        fn guid_spellings_agree_exactly_when_the_values_do(
            a in guid_bytes(),
            b in guid_bytes(),
            same in any::<bool>(),
            spellings in proptest::array::uniform4(any::<bool>()),
        ) {
            let b = if same { a } else { b };
            let [ua, ba, ub, bb] = spellings;
            let (x, y) = (spell(&a, ua, ba), spell(&b, ub, bb));
            for side in [IdSide::Local, IdSide::Integration] {
                prop_assert_eq!(canonical_id(side, &x) == canonical_id(side, &y), a == b);
                prop_assert_eq!(&*canonical_id(side, &x), spell(&a, false, false));
            }
        }

        /// Canonical forms are fixed points, `is_canonical` says whether the id is one, and
        /// the quick test never calls an id canonical that is not (and passes common ones).
        #[test]
        fn canonical_forms_are_fixed_points(
            id in ID,
        ) {
            for side in [IdSide::Local, IdSide::Integration] {
                let c = canonical_id(side, &id).into_owned();
                prop_assert_eq!(&*canonical_id(side, &c), c.as_str());
                prop_assert_eq!(is_canonical(side, &id), c == id);
                if surely_canonical(side, &id) {
                    prop_assert_eq!(&c, &id);
                }
            }
        }

        /// The word-wise GUID test agrees with a byte-by-byte one.
        #[test]
        fn guid_digits_agree_with_a_byte_by_byte_test(
            picks in proptest::collection::vec(0usize..POOL.len(), 36),
            hyphens in any::<bool>(),
        ) {
            let mut inner: Vec<u8> = picks.iter().map(|&p| POOL[p]).collect();
            if hyphens {
                for i in [8, 13, 18, 23] {
                    inner[i] = b'-';
                }
            }
            let shape = inner.iter().enumerate().all(|(i, &b)| {
                if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() }
            });
            let expected = shape.then(|| inner.iter().any(|b| (b'A'..=b'F').contains(b)));
            prop_assert_eq!(guid_digits(&inner), expected);
        }

        /// Appending a canonical form writes what `canonical_id` returns.
        #[test]
        fn pushed_canonical_forms_are_the_canonical_forms(id in ID, before in "[a-z]{0,3}") {
            for side in [IdSide::Local, IdSide::Integration] {
                let mut out = before.clone();
                push_canonical(side, &id, &mut out);
                prop_assert_eq!(&out[..before.len()], before.as_str());
                prop_assert_eq!(&out[before.len()..], &*canonical_id(side, &id));
            }
        }

        /// A column the text test passes holds only canonical ids.
        #[test]
        fn a_column_surely_canonical_holds_canonical_ids(
            ids in proptest::collection::vec(ID, 0..20),
        ) {
            let mut column = Column::default();
            for id in &ids {
                column.push(id).unwrap();
            }
            for side in [IdSide::Local, IdSide::Integration] {
                if column_surely_canonical(side, &column, false) {
                    for id in &ids {
                        prop_assert!(is_canonical(side, id), "{:?}", id);
                    }
                }
            }
        }
    }
}
