//! Lookups through couplings (`via`): a criterion whose local value is a key of another
//! mapping's records, compared as the integration id that mapping's couplings give.
//!
//! The model: translate first, then run BC's plain cascade. Every local key is replaced by its
//! translated id (or by a token no integration row holds, when no coupling translates it),
//! every integration id by its canonical form, and the criterion becomes a plain exact one. The
//! engine with `via` must give exactly that run's outcomes, and its traces must say
//! `not coupled: KEY` exactly where a level found nothing with an untranslated key in force.

use std::sync::Arc;

use coupler_engine::report::{Renderer, ResultRow};
use coupler_engine::*;
use proptest::prelude::*;

const G1: &str = "5f641b45-48bc-a138-be13-4ea95426dd94";
const G2: &str = "e6f8ed18-c7b7-4a95-a5bc-44ab02629774";
const G3: &str = "0b1d7a0e-3c1e-4a53-9d3c-2f6a1e0c9b11";

/// The company keys local records hold: translated (K1–K3, in several spellings), coupled to
/// nothing (K4, K5), blank.
const LOCAL_KEYS: [&str; 9] = ["", " ", "k1", "K1 ", "K2", "k3", "K4", "K5", "K3"];
/// The ids integration rows hold: K1's and K2's accounts in several spellings, an account
/// nobody coupled (G3), K3's plain id and a case variant of it, and values that look like the
/// untranslated keys (they must match nothing).
const INTEGRATION_IDS: [&str; 12] = [
    "",
    G1,
    "5F641B45-48BC-A138-BE13-4EA95426DD94",
    "{5f641b45-48bc-a138-be13-4ea95426dd94}",
    G2,
    G3,
    "P3",
    "p3",
    "K4",
    "!K4",
    "#K5",
    " ",
];
const NAMES: [&str; 4] = ["", "Ann", "ann", "Bob"];

/// K1 → G1, K2 → G2 written as BC shows a CRM ID, K3 → a plain id.
fn customers() -> Translation {
    let mut t = Translation::new("CUSTOMER");
    t.add("K1", G1);
    t.add("k2", "{E6F8ED18-C7B7-4A95-A5BC-44AB02629774}");
    t.add("K3", "P3");
    t
}

#[derive(Debug, Clone)]
struct Scenario {
    /// (company key, name) per local record.
    local: Vec<(usize, usize)>,
    /// (parent id, name) per integration row.
    integ: Vec<(usize, usize)>,
    /// (is the lookup, priority, case-sensitive) per criterion.
    criteria: Vec<(bool, u32, bool)>,
    mode: PriorityMode,
    /// (local record, integration row) coupled before the job.
    own: Vec<(usize, usize)>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        proptest::collection::vec((0..LOCAL_KEYS.len(), 0..NAMES.len()), 0..14),
        proptest::collection::vec((0..INTEGRATION_IDS.len(), 0..NAMES.len()), 0..14),
        proptest::collection::vec((any::<bool>(), 0u32..3, any::<bool>()), 1..4),
        prop_oneof![
            Just(PriorityMode::Cumulative),
            Just(PriorityMode::Independent)
        ],
        proptest::collection::vec((0usize..14, 0usize..14), 0..3),
    )
        .prop_map(|(local, integ, criteria, mode, own)| Scenario {
            local,
            integ,
            criteria,
            mode,
            own,
        })
}

struct Built {
    local: Table,
    integ: Table,
    spec: CouplingSpec,
    existing: ExistingCouplings,
}

/// The scenario with `via` criteria (`translated: false`), or translated first with plain
/// criteria in their place (`translated: true`).
fn build(s: &Scenario, translated: bool) -> Built {
    let via = Arc::new(customers());
    let local_rows: Vec<Vec<String>> = s
        .local
        .iter()
        .enumerate()
        .map(|(i, &(k, n))| {
            let key = LOCAL_KEYS[k];
            let company = if !translated {
                key.to_string()
            } else {
                let canonical = canonical_local_id(key);
                if canonical.is_empty() {
                    String::new()
                } else {
                    match via.translate(&canonical) {
                        Some(id) => id.to_string(),
                        None => format!("\u{1}untranslated {canonical}"),
                    }
                }
            };
            vec![format!("C{i}"), company, NAMES[n].to_string()]
        })
        .collect();
    let integ_rows: Vec<Vec<String>> = s
        .integ
        .iter()
        .enumerate()
        .map(|(i, &(p, n))| {
            let id = INTEGRATION_IDS[p];
            let parent = if !translated {
                id.to_string()
            } else if id.trim().is_empty() {
                String::new()
            } else {
                canonical_integration_id(id).into_owned()
            };
            vec![format!("A{i}"), parent, NAMES[n].to_string()]
        })
        .collect();
    let refs = |rows: &[Vec<String>]| -> Vec<Vec<String>> { rows.to_vec() };
    let local = Table::from_rows(
        "contacts.csv",
        &["No.", "Company No.", "Name"],
        &refs(&local_rows),
    )
    .unwrap();
    let integ = Table::from_rows(
        "dv_contacts.csv",
        &["contactid", "_parentcustomerid_value", "fullname"],
        &refs(&integ_rows),
    )
    .unwrap();
    let criteria = s
        .criteria
        .iter()
        .map(|&(lookup, priority, case_sensitive)| {
            if lookup {
                let plain = MatchCriterion::new(
                    "Company No.",
                    "_parentcustomerid_value",
                    FieldType::Text,
                    priority,
                    true,
                );
                if translated {
                    plain
                } else {
                    MatchCriterion {
                        via: Some(via.clone()),
                        // The flag does not change how ids compare.
                        case_sensitive,
                        field_type: FieldType::Code,
                        ..plain
                    }
                }
            } else {
                MatchCriterion::new(
                    "Name",
                    "fullname",
                    FieldType::Text,
                    priority,
                    case_sensitive,
                )
            }
        })
        .collect();
    let mut existing = ExistingCouplings::new();
    for &(l, i) in &s.own {
        existing.add_own(&format!("C{l}"), &format!("A{i}"));
    }
    let spec = CouplingSpec {
        mapping_name: "CONTACT".into(),
        local_caption: "Contact".into(),
        integration_caption: "Contact".into(),
        integration_source: "dv_contacts.csv".into(),
        local_key: "No.".into(),
        integration_key: "contactid".into(),
        criteria,
        priority_mode: s.mode,
        collation: Collation::Exact,
        local_filter: vec![],
        integration_filter: vec![],
    };
    Built {
        local,
        integ,
        spec,
        existing,
    }
}

/// Per record: (local id, outcome, integration id, match count, candidates, coupled to,
/// trace).
fn rows(b: &Built) -> Vec<[String; 7]> {
    let run = couple(
        &b.spec,
        &b.local,
        &b.integ,
        &b.existing,
        RunOptions::default(),
    )
    .unwrap();
    let renderer = Renderer::new(&run);
    let mut row = ResultRow::default();
    (0..run.outcomes().len())
        .map(|i| {
            let f = renderer.render(i, &mut row);
            [f[0], f[1], f[2], f[4], f[5], f[6], f[7]].map(str::to_string)
        })
        .collect()
}

/// The canonical untranslated key of a local record's company, if it has one.
fn untranslated_key(s: &Scenario, record: usize) -> Option<String> {
    let key = canonical_local_id(LOCAL_KEYS[s.local[record].0]).into_owned();
    (!key.is_empty() && customers().translate(&key).is_none()).then_some(key)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn a_lookup_is_the_plain_cascade_on_translated_values(s in scenario()) {
        let ours = rows(&build(&s, false));
        let model = rows(&build(&s, true));
        prop_assert_eq!(ours.len(), model.len());
        let plain = build(&s, true);
        let lookups: Vec<usize> =
            (0..s.criteria.len()).filter(|&c| s.criteria[c].0).collect();
        for (record, (a, m)) in ours.iter().zip(&model).enumerate() {
            // Everything but the trace is the translated run's.
            prop_assert_eq!(&a[..6], &m[..6], "record {}", record);
            // The trace is too, except that a level that found nothing says why when an
            // untranslated key was in force there.
            let key = untranslated_key(&s, record);
            let blank = |c: usize| {
                let cell = plain.local.cell(record, if s.criteria[c].0 { 1 } else { 2 });
                cell.is_empty()
            };
            let in_force = plain.spec.conditions_per_level(&blank);
            // `no_match(not coupled: K)` has spaces inside: they are not level separators.
            let ours_trace = a[6].replace("(not coupled: ", "(not\u{1}coupled:\u{1}");
            let levels_ours: Vec<String> = ours_trace
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(|t| t.replace('\u{1}', " "))
                .collect();
            let levels_model: Vec<&str> = m[6].split(' ').filter(|t| !t.is_empty()).collect();
            prop_assert_eq!(levels_ours.len(), levels_model.len());
            for (level, (o, p)) in levels_ours.iter().zip(&levels_model).enumerate() {
                let untranslated_in_force = key.is_some()
                    && in_force[level]
                        .as_ref()
                        .is_some_and(|set| set.iter().any(|c| lookups.contains(c)));
                let (prefix, result) = p.split_once(':').unwrap();
                if result == "no_match" && untranslated_in_force {
                    let expected =
                        format!("{prefix}:no_match(not coupled: {})", key.as_deref().unwrap());
                    prop_assert_eq!(o, &expected, "record {} level {}", record, level);
                } else {
                    prop_assert_eq!(o, p, "record {} level {}", record, level);
                }
            }
        }
    }
}

#[test]
fn blank_keys_set_no_condition_and_untranslated_ones_say_so() {
    let s = Scenario {
        // C0 blank company, C1 K1 (coupled to G1), C2 K4 (not coupled), C3 K3 (plain id).
        local: vec![(0, 1), (2, 1), (6, 1), (5, 3)],
        integ: vec![(2, 1), (6, 3), (8, 1)],
        criteria: vec![(true, 0, false), (false, 1, false)],
        mode: PriorityMode::Cumulative,
        own: vec![],
    };
    let rows = rows(&build(&s, false));
    let view: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str(), r[6].as_str()))
        .collect();
    assert_eq!(
        view,
        [
            // Blank company: p0 sets no condition; p1's name finds A0 and A2 ("Ann").
            (
                "C0",
                "multiple_matches",
                "",
                "p0:no_match(blank) p1:multiple(2)"
            ),
            // K1 is coupled to G1, which A0 carries in upper case.
            ("C1", "coupled", "A0", "p0:coupled"),
            // K4 is coupled to nothing: A2's parent "K4" is not an id K4 translates to.
            (
                "C2",
                "no_match",
                "",
                "p0:no_match(not coupled: K4) p1:no_match(not coupled: K4)"
            ),
            ("C3", "coupled", "A1", "p0:coupled"),
        ]
    );
}

#[test]
fn untranslated_values_are_counted_per_lookup_criterion() {
    let s = Scenario {
        local: vec![(0, 0), (6, 0), (7, 0), (2, 0), (6, 1)],
        integ: vec![(1, 0)],
        criteria: vec![(true, 0, false), (false, 1, false)],
        mode: PriorityMode::Cumulative,
        // C4 is coupled already: skipped records do not count.
        own: vec![(4, 0)],
    };
    let b = build(&s, false);
    let run = couple(
        &b.spec,
        &b.local,
        &b.integ,
        &b.existing,
        RunOptions::default(),
    )
    .unwrap();
    assert_eq!(run.untranslated_counts(), [(0, 2)]);
}

#[test]
fn a_lookup_takes_no_normalizer_fuzzy_or_option_map() {
    let via = Arc::new(customers());
    let base = MatchCriterion {
        via: Some(via),
        ..MatchCriterion::new(
            "Company No.",
            "_parentcustomerid_value",
            FieldType::Code,
            0,
            false,
        )
    };
    let bad = MatchCriterion {
        normalizers: vec![coupler_engine::Normalizer::Digits],
        ..base.clone()
    };
    let b = build(
        &Scenario {
            local: vec![],
            integ: vec![],
            criteria: vec![(true, 0, false)],
            mode: PriorityMode::Cumulative,
            own: vec![],
        },
        false,
    );
    let spec = CouplingSpec {
        criteria: vec![bad],
        ..b.spec.clone()
    };
    let error = couple(
        &spec,
        &b.local,
        &b.integ,
        &b.existing,
        RunOptions::default(),
    )
    .err()
    .expect("refused");
    assert!(
        error
            .to_string()
            .contains("lookup through CUSTOMER's couplings"),
        "{error}"
    );
    let spec = CouplingSpec {
        criteria: vec![base],
        ..b.spec
    };
    assert!(couple(
        &spec,
        &b.local,
        &b.integ,
        &b.existing,
        RunOptions::default()
    )
    .is_ok());
}
