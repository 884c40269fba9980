//! Profiling mapped fields and suggesting match criteria (`coupler profile`).
//!
//! For each mapped field, each side's values are profiled (the local records that pass the
//! local filter, the integration records that pass the integration filter), and the local
//! values are looked up on the integration side. Values are compared the way the engine
//! compares them (docs/semantics.md#comparing-values, [`crate::value`]): text as stored, Code trimmed and
//! upper-cased on the local side, numbers by value, booleans and dates canonically.
//!
//! # What each measure means
//!
//! | measure | meaning |
//! |---|---|
//! | `rows` | records on that side (after its filter) |
//! | `blanks` | empty values (Code: empty after trimming; other types: empty after trimming). A blank local text sets no condition in BC |
//! | `invalid` | values that are not of the field's type (numbers, booleans, dates); left out of everything else |
//! | `distinct` / `distinct_ci` | distinct non-blank values, exactly / case-insensitively (BC's lower-case mapping) |
//! | `distinct_share` | `distinct_ci` ÷ non-blank values: 1.0 means every value is unique |
//! | `largest_group` | the most repeated value (case-insensitive) and how many records carry it |
//! | `case_collisions` | groups of different values that are equal when case is ignored (`ACME` / `Acme`) |
//! | `accent_collisions` | groups of different values that are equal when accents are removed (`Munchen` / `München`) |
//! | `space_collisions` | groups of different values that are equal when surrounding spaces are trimmed and repeated spaces collapsed (`Acme ` / `Acme`) |
//! | `found_exact` / `found_ci` | share of the non-blank local values whose value exists among the non-blank integration values: exactly (a case-sensitive criterion) / case-insensitively (the default) |
//! | `found_normalized` | the same, ignoring case, accents and surrounding/repeated spaces: what cleaning the data would gain (BC itself never does this) |
//!
//! Collisions are counted for text and code fields only; each counts the groups (and the
//! records in them) and keeps one example.
//!
//! Accent folding uses a small built-in table, no Unicode-normalization dependency: the letters
//! of Latin-1 Supplement and Latin Extended-A (U+00C0–U+017F) fold to their base letters
//! (`é`→`e`, `ł`→`l`, `ø`→`o`, `ß`→`ss`, `æ`→`ae`, `œ`→`oe`, `þ`→`th`), combining marks
//! U+0300–U+036F are dropped (decomposed input), anything else is kept.
//!
//! # The suggestion
//!
//! Every field gets a **usefulness** score:
//! `distinct_share (local) × found_ci × filled (1 − local blank share) × (1 − largest duplicate
//! group share, the larger of the two sides)`. Then, with BC's cumulative levels in mind (a later
//! level narrows an earlier one, and decides alone only when every earlier criterion is blank):
//!
//! 1. Fields found on the integration side for less than half of the local values
//!    (`found_ci < 0.5`) are not used.
//! 2. **Level 0**: the most useful field among the highly distinct ones (`distinct_share ≥ 0.9`);
//!    if none is, the most useful field.
//! 3. **Level 1**: the next most useful field (it decides when level 0 is blank, and narrows
//!    level 0's multiple matches).
//! 4. **Level 2**: of the fields left with at least two distinct values, the one most often
//!    equal on both sides (highest `found_ci`): a pure narrowing field, e.g. the city that
//!    separates branch offices sharing a phone and a name.
//! 5. At most three levels; each level holds one field.
//! 6. `case_sensitive = true` only for a text/code field with no case-only collisions on either
//!    side and `found_exact` within 0.1 point of `found_ci`; otherwise `false` (BC's default).

use std::borrow::Cow;

pub use crate::value::fold_accents;
use crate::value::lower;

use hashbrown::{HashMap, HashSet};

use crate::value::{integration_key_into, local_key_into, Fold};
use crate::FieldType;

/// Fields below this `found_ci` are not suggested.
pub const MIN_FOUND: f64 = 0.5;
/// `distinct_share` from which a field counts as highly distinct (a level-0 candidate).
pub const HIGHLY_DISTINCT: f64 = 0.9;
/// Most levels a suggestion holds.
pub const MAX_LEVELS: usize = 3;
/// How far `found_exact` may lie below `found_ci` for a case-sensitive suggestion.
pub const CASE_TOLERANCE: f64 = 0.001;

/// A mapped field to profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    pub local_field: String,
    pub integration_field: String,
    pub field_type: FieldType,
}

/// Different values that become equal under one relaxation (case, accents, spaces).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collisions {
    /// Groups of two or more different values that are equal under the relaxation.
    pub groups: u64,
    /// Records carrying a value of such a group.
    pub records: u64,
    /// Two values of one group.
    pub example: Option<(String, String)>,
}

/// One side's values of one field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideProfile {
    pub rows: u64,
    pub blanks: u64,
    pub invalid: u64,
    pub distinct: u64,
    pub distinct_ci: u64,
    /// `distinct_ci` ÷ non-blank valid values (0 without any).
    pub distinct_share: f64,
    /// The most repeated value (case-insensitive key, first spelling seen) and its records.
    pub largest_group: Option<(String, u64)>,
    pub case_collisions: Collisions,
    pub accent_collisions: Collisions,
    pub space_collisions: Collisions,
}

impl SideProfile {
    /// Non-blank, valid values.
    pub fn filled(&self) -> u64 {
        self.rows - self.blanks - self.invalid
    }

    /// Records in the largest duplicate group ÷ filled values (0 without any).
    pub fn largest_group_share(&self) -> f64 {
        match &self.largest_group {
            Some((_, n)) if self.filled() > 0 => *n as f64 / self.filled() as f64,
            _ => 0.0,
        }
    }
}

/// One field, both sides, and their overlap.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldProfile {
    pub field: FieldRef,
    pub local: SideProfile,
    pub integration: SideProfile,
    pub found_exact: f64,
    pub found_ci: f64,
    pub found_normalized: f64,
    /// The usefulness score of the suggestion rule.
    pub usefulness: f64,
}

/// One level of the suggestion.
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestedCriterion {
    /// Index into the profiled fields.
    pub field: usize,
    pub priority: u32,
    pub case_sensitive: bool,
    pub reason: String,
}

/// The suggested criteria set, and why every other field was left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suggestion {
    pub criteria: Vec<SuggestedCriterion>,
    /// `(field index, reason)` for each field not suggested.
    pub left_out: Vec<(usize, String)>,
}

/// Profiles one field: `local` and `integration` are the field's cells on each side.
pub fn profile_field(field: &FieldRef, local: &[&str], integration: &[&str]) -> FieldProfile {
    let (local_profile, local_values) = profile_side(field.field_type, local, true);
    let (integration_profile, integration_values) =
        profile_side(field.field_type, integration, false);
    let share = |key: for<'v> fn(&'v str, &'v Value) -> &'v str| {
        let set: HashSet<&str> = integration_values.iter().map(|(k, v)| key(k, v)).collect();
        let found: u64 = local_values
            .iter()
            .filter(|(k, v)| set.contains(key(k, v)))
            .map(|(_, v)| v.records)
            .sum();
        ratio(found, local_profile.filled())
    };
    let found_exact = share(|k, _| k);
    let found_ci = share(|k, v| v.ci(k));
    let found_normalized = share(|k, v| v.normalized(k));
    let filled_share = ratio(local_profile.filled(), local_profile.rows);
    let duplicates = local_profile
        .largest_group_share()
        .max(integration_profile.largest_group_share());
    let usefulness = local_profile.distinct_share * found_ci * filled_share * (1.0 - duplicates);
    FieldProfile {
        field: field.clone(),
        local: local_profile,
        integration: integration_profile,
        found_exact,
        found_ci,
        found_normalized,
        usefulness,
    }
}

/// One distinct (exact-key) value of a side: its records and its other keys, stored only where
/// they differ (most values are already lower-case, without accents or extra spaces).
struct Value {
    /// Position of first appearance (examples and ties follow the data's order).
    first: usize,
    records: u64,
    /// The case-insensitive key, if it is not the exact key.
    ci: Option<Box<str>>,
    /// The normalized key (case, accents, spaces), if it is not the case-insensitive key.
    normalized: Option<Box<str>>,
}

impl Value {
    fn ci<'v>(&'v self, exact: &'v str) -> &'v str {
        self.ci.as_deref().unwrap_or(exact)
    }

    fn normalized<'v>(&'v self, exact: &'v str) -> &'v str {
        self.normalized.as_deref().unwrap_or(self.ci(exact))
    }
}

/// `Some(owned)` when `key` differs from `base`.
fn unless_same(key: &str, base: &str) -> Option<Box<str>> {
    (key != base).then(|| key.into())
}

/// A side's profile and its distinct values by exact key.
fn profile_side<'a>(
    field_type: FieldType,
    cells: &[&'a str],
    local: bool,
) -> (SideProfile, HashMap<Cow<'a, str>, Value>) {
    let mut p = SideProfile {
        rows: cells.len() as u64,
        ..SideProfile::default()
    };
    let text = field_type.is_text_like();
    let exact_fold = Fold::for_criterion(field_type, true, crate::Collation::Exact);
    let ci_fold = Fold::for_criterion(field_type, false, crate::Collation::Exact);
    let mut buf = String::new();
    let mut values: HashMap<Cow<'a, str>, Value> = HashMap::new();
    for &cell in cells {
        let blank = match field_type {
            FieldType::Text => cell.is_empty(),
            _ => cell.trim().is_empty(),
        };
        if blank {
            p.blanks += 1;
            continue;
        }
        let key = |fold: Fold, buf: &mut String| -> Option<Cow<'a, str>> {
            let k = if local {
                local_key_into(cell, field_type, fold, buf).ok().flatten()
            } else {
                integration_key_into(cell, fold, buf).ok()
            }?;
            Some(if k == cell {
                Cow::Borrowed(cell)
            } else {
                Cow::Owned(k.to_string())
            })
        };
        // Text keys are the cell itself: look it up before anything else.
        if field_type == FieldType::Text {
            if let Some(v) = values.get_mut(cell) {
                v.records += 1;
                continue;
            }
        }
        let Some(exact) = key(exact_fold, &mut buf) else {
            p.invalid += 1;
            continue;
        };
        if let Some(v) = values.get_mut(exact.as_ref()) {
            v.records += 1;
            continue;
        }
        let Some(ci) = key(ci_fold, &mut buf) else {
            p.invalid += 1;
            continue;
        };
        let normalized = if text {
            unless_same(&collapse_spaces(&fold_accents(&ci)), &ci)
        } else {
            None
        };
        let ci = unless_same(&ci, &exact);
        let first = values.len();
        values.insert(
            exact,
            Value {
                first,
                records: 1,
                ci,
                normalized,
            },
        );
    }
    p.distinct = values.len() as u64;
    {
        // Distinct values in order of first appearance.
        let mut ordered: Vec<(&str, &Value)> =
            values.iter().map(|(k, v)| (k.as_ref(), v)).collect();
        ordered.sort_by_key(|(_, v)| v.first);
        // ci key → (records, first appearance, first spelling).
        let mut ci_counts: HashMap<&str, (u64, usize, &str)> = HashMap::new();
        for &(k, v) in &ordered {
            ci_counts.entry(v.ci(k)).or_insert((0, v.first, k)).0 += v.records;
        }
        p.distinct_ci = ci_counts.len() as u64;
        p.distinct_share = ratio(p.distinct_ci, p.filled());
        // The largest group; among equals, the one seen first.
        let largest = ci_counts
            .values()
            .filter(|(n, _, _)| *n > 1)
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        p.largest_group = largest.map(|&(n, _, raw)| (raw.to_string(), n));
        if text {
            p.case_collisions = collisions(&ordered, lower);
            p.accent_collisions = collisions(&ordered, fold_accents);
            p.space_collisions = collisions(&ordered, collapse_spaces);
        }
    }
    (p, values)
}

/// Groups the distinct values by `relax` and counts the groups holding several values.
fn collisions<'a>(
    values: &[(&'a str, &Value)],
    relax: impl Fn(&'a str) -> Cow<'a, str>,
) -> Collisions {
    struct Group<'a> {
        first: usize,
        members: [&'a str; 2],
        count: usize,
        records: u64,
    }
    let mut groups: HashMap<Cow<'a, str>, Group<'a>> = HashMap::with_capacity(values.len());
    for (i, &(raw, v)) in values.iter().enumerate() {
        let g = groups.entry(relax(raw)).or_insert(Group {
            first: i,
            members: [raw, ""],
            count: 0,
            records: 0,
        });
        if g.count == 1 {
            g.members[1] = raw;
        }
        g.count += 1;
        g.records += v.records;
    }
    let mut c = Collisions::default();
    let mut example: Option<(usize, [&str; 2])> = None;
    for g in groups.values().filter(|g| g.count > 1) {
        c.groups += 1;
        c.records += g.records;
        if example.is_none_or(|(first, _)| g.first < first) {
            example = Some((g.first, g.members));
        }
    }
    c.example = example.map(|(_, [a, b])| (a.to_string(), b.to_string()));
    c
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// Trims and collapses runs of whitespace to one space.
pub fn collapse_spaces(s: &str) -> Cow<'_, str> {
    let clean = !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s
            .split(' ')
            .any(|w| w.is_empty() || w.contains(char::is_whitespace));
    if clean {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Cow::Owned(out)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The one-line facts of a field, for reasons.
fn facts(p: &FieldProfile) -> String {
    let mut s = format!(
        "{}: {} distinct, {} found on the Dataverse side",
        p.field.local_field,
        pct(p.local.distinct_share),
        pct(p.found_ci)
    );
    if p.field.field_type.is_text_like() && p.found_exact < p.found_ci {
        s.push_str(&format!(" ({} exactly)", pct(p.found_exact)));
    }
    s.push_str(&format!(
        ", {} blank",
        pct(ratio(p.local.blanks, p.local.rows))
    ));
    if let Some((_, n)) = &p.local.largest_group {
        s.push_str(&format!(", largest duplicate group {n}"));
    }
    s
}

/// Whether a criterion on this field should be case-sensitive (rule 6).
pub fn case_sensitive(p: &FieldProfile) -> bool {
    p.field.field_type.is_text_like()
        && p.local.case_collisions.groups == 0
        && p.integration.case_collisions.groups == 0
        && p.found_exact >= p.found_ci - CASE_TOLERANCE
}

/// The suggested criteria set (see the module documentation for the rules).
pub fn suggest(fields: &[FieldProfile]) -> Suggestion {
    let mut s = Suggestion::default();
    let mut pool: Vec<usize> = Vec::new();
    for (i, p) in fields.iter().enumerate() {
        if p.found_ci < MIN_FOUND {
            s.left_out.push((
                i,
                format!(
                    "{} → not used: found on the Dataverse side for less than {:.0}% of the values",
                    facts(p),
                    MIN_FOUND * 100.0
                ),
            ));
        } else {
            pool.push(i);
        }
    }
    // Most useful first; ties in declaration order.
    pool.sort_by(|&a, &b| {
        fields[b]
            .usefulness
            .total_cmp(&fields[a].usefulness)
            .then(a.cmp(&b))
    });
    let push = |s: &mut Suggestion, i: usize, why: &str| {
        let p = &fields[i];
        let priority = s.criteria.len() as u32;
        let cs = case_sensitive(p);
        let case = if !p.field.field_type.is_text_like() {
            String::new()
        } else if cs {
            ", case-sensitive: no values differ only by case".to_string()
        } else if p.local.case_collisions.groups + p.integration.case_collisions.groups > 0 {
            ", case-insensitive: some values differ only by case".to_string()
        } else {
            ", case-insensitive: more values are found when case is ignored".to_string()
        };
        s.criteria.push(SuggestedCriterion {
            field: i,
            priority,
            case_sensitive: cs,
            reason: format!("{} → level {priority} ({why}{case})", facts(p)),
        });
    };
    // Level 0.
    let first = pool
        .iter()
        .position(|&i| fields[i].local.distinct_share >= HIGHLY_DISTINCT)
        .map(|pos| (pos, "the most useful highly distinct field"))
        .or_else(|| {
            (!pool.is_empty()).then_some((0, "the most useful field; no field is highly distinct"))
        });
    if let Some((pos, why)) = first {
        let i = pool.remove(pos);
        push(&mut s, i, why);
    }
    // Level 1.
    if !pool.is_empty() {
        let i = pool.remove(0);
        push(
            &mut s,
            i,
            "decides when level 0 is blank, narrows its multiple matches",
        );
    }
    // Level 2: the field most often equal on both sides.
    let narrowing = pool
        .iter()
        .enumerate()
        .filter(|(_, &i)| fields[i].local.distinct_ci >= 2)
        .max_by(|(pa, &a), (pb, &b)| {
            fields[a]
                .found_ci
                .total_cmp(&fields[b].found_ci)
                .then(pb.cmp(pa))
        })
        .map(|(pos, _)| pos);
    if let Some(pos) = narrowing {
        if s.criteria.len() < MAX_LEVELS {
            let i = pool.remove(pos);
            push(
                &mut s,
                i,
                "narrows the earlier levels; the field most often equal on both sides",
            );
        }
    }
    for i in pool {
        let p = &fields[i];
        let why = if p.local.distinct_ci < 2 {
            "not used: fewer than two distinct values".to_string()
        } else {
            format!("not used: the suggestion keeps at most {MAX_LEVELS} levels")
        };
        s.left_out.push((i, format!("{} → {why}", facts(p))));
    }
    s.left_out.sort_by_key(|(i, _)| *i);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, t: FieldType) -> FieldRef {
        FieldRef {
            local_field: name.into(),
            integration_field: name.to_lowercase(),
            field_type: t,
        }
    }

    #[test]
    fn folds_accents_and_spaces() {
        assert_eq!(
            fold_accents("München Łódź Ørsted Straße Æble"),
            "Munchen Lodz Orsted Strasse AEble"
        );
        assert_eq!(fold_accents("Cafe\u{301}"), "Cafe");
        assert_eq!(fold_accents("Ελλάδα ×"), "Ελλάδα ×");
        assert_eq!(collapse_spaces("  Acme   Ltd "), "Acme Ltd");
        assert_eq!(collapse_spaces("Acme\tLtd"), "Acme Ltd");
        assert!(matches!(collapse_spaces("Acme Ltd"), Cow::Borrowed(_)));
    }

    #[test]
    fn side_measures() {
        let f = field("Name", FieldType::Text);
        let local = [
            "Acme", "ACME", "acme", "", "Munchen", "München", "Bolt ", "Bolt", "Zeta",
        ];
        let integration = ["acme", "Zeta", "", "München"];
        let p = profile_field(&f, &local, &integration);
        let l = &p.local;
        assert_eq!((l.rows, l.blanks, l.invalid), (9, 1, 0));
        assert_eq!(l.distinct, 8);
        assert_eq!(l.distinct_ci, 6); // acme, munchen, münchen, "bolt ", bolt, zeta
        assert_eq!(l.largest_group, Some(("Acme".to_string(), 3)));
        assert_eq!(l.case_collisions.groups, 1);
        assert_eq!(l.case_collisions.records, 3);
        assert_eq!(
            l.case_collisions.example,
            Some(("Acme".to_string(), "ACME".to_string()))
        );
        assert_eq!(l.accent_collisions.groups, 1);
        assert_eq!(l.space_collisions.groups, 1);
        assert_eq!(
            l.space_collisions.example,
            Some(("Bolt ".to_string(), "Bolt".to_string()))
        );
        // 8 filled local values: exact hits: acme, München, Zeta = 3; ci: + Acme, ACME = 5;
        // normalized: + Munchen = 6 ("bolt" is not on the other side).
        assert!((p.found_exact - 3.0 / 8.0).abs() < 1e-12);
        assert!((p.found_ci - 5.0 / 8.0).abs() < 1e-12);
        assert!((p.found_normalized - 6.0 / 8.0).abs() < 1e-12);
        assert_eq!(p.integration.blanks, 1);
    }

    #[test]
    fn typed_values_compare_by_value() {
        let f = field("Amount", FieldType::Decimal);
        let p = profile_field(&f, &["1.50", "1.5", "x", ""], &["01.5"]);
        assert_eq!(
            (p.local.blanks, p.local.invalid, p.local.distinct),
            (1, 1, 1)
        );
        assert_eq!(p.found_ci, 1.0);
        assert_eq!(p.local.case_collisions, Collisions::default());
        let code = field("Code", FieldType::Code);
        let p = profile_field(&code, &[" ab "], &["AB"]);
        assert_eq!((p.found_exact, p.found_ci), (1.0, 1.0));
    }

    /// `n` local values of which `found` exist on the other side, `distinct` of them unique.
    fn synthetic(
        name: &str,
        n: usize,
        distinct: usize,
        found: usize,
        case_drift: bool,
    ) -> FieldProfile {
        let local: Vec<String> = (0..n).map(|i| format!("{name}{}", i % distinct)).collect();
        let integration: Vec<String> = (0..n)
            .map(|i| {
                let v = if i < found {
                    format!("{name}{}", i % distinct)
                } else {
                    format!("other{i}")
                };
                if case_drift && i % 2 == 0 {
                    v.to_uppercase()
                } else {
                    v
                }
            })
            .collect();
        let l: Vec<&str> = local.iter().map(String::as_str).collect();
        let i: Vec<&str> = integration.iter().map(String::as_str).collect();
        profile_field(&field(name, FieldType::Text), &l, &i)
    }

    #[test]
    fn suggestion_follows_the_rules() {
        let fields = vec![
            synthetic("city", 1000, 20, 1000, false), // low distinct, always found
            synthetic("name", 1000, 980, 900, true),  // distinct, found, case drift
            synthetic("phone", 1000, 1000, 850, false), // distinct, found, no case drift
            synthetic("email", 1000, 1000, 300, false), // rarely found
            synthetic("fax", 1000, 990, 700, false),  // the 4th usable field
        ];
        let s = suggest(&fields);
        let chosen: Vec<(usize, u32, bool)> = s
            .criteria
            .iter()
            .map(|c| (c.field, c.priority, c.case_sensitive))
            .collect();
        // name 0.98×0.92 ≈ 0.90 > phone 0.85 > fax ≈ 0.70: name p0 (case-insensitive),
        // phone p1 (case-sensitive), then the narrowing field found most often: city (no case
        // drift: case-sensitive).
        assert_eq!(chosen, vec![(1, 0, false), (2, 1, true), (0, 2, true)]);
        assert!(
            s.criteria[0]
                .reason
                .starts_with("name: 98.0% distinct, 92.0% found"),
            "{}",
            s.criteria[0].reason
        );
        assert!(s.criteria[0].reason.contains("→ level 0"));
        let left: Vec<usize> = s.left_out.iter().map(|(i, _)| *i).collect();
        assert_eq!(left, vec![3, 4]);
        assert!(s.left_out[0].1.contains("less than 50%"));
        assert!(s.left_out[1].1.contains("at most 3 levels"));
    }

    #[test]
    fn no_highly_distinct_field_and_nothing_found() {
        let fields = vec![synthetic("city", 100, 10, 100, false)];
        let s = suggest(&fields);
        assert_eq!(s.criteria.len(), 1);
        assert!(s.criteria[0].reason.contains("no field is highly distinct"));
        let fields = vec![synthetic("email", 100, 100, 10, false)];
        let s = suggest(&fields);
        assert!(s.criteria.is_empty());
        assert_eq!(s.left_out.len(), 1);
        assert!(suggest(&[]).criteria.is_empty());
    }
}
