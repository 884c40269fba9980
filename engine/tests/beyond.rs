//! Criteria beyond BC: normalizers, fuzzy comparators with blocking, option fields.
//!
//! Worked examples for each rule, then a property test that runs the engine against a literal,
//! quadratic reference of the same rules (every local record against every candidate), with
//! blocking as a predicate on pairs — and against the reference *without* blocking where the
//! blocking cannot lose a pair (one block for all, or a window as large as the table).

use coupler_engine::normalize::{LegalForms, Normalizer};
use coupler_engine::{
    couple, Blocking, Comparator, CouplingSpec, EngineError, ExistingCouplings, FieldType, Fuzzy,
    MatchCriterion, Metric, OptionMap, Outcome, PriorityMode, RunOptions, Table,
};
use proptest::prelude::*;

fn spec(criteria: Vec<MatchCriterion>, mode: PriorityMode) -> CouplingSpec {
    CouplingSpec {
        mapping_name: "CUSTOMER".into(),
        local_caption: "Customer".into(),
        integration_caption: "Account".into(),
        integration_source: "accounts.csv".into(),
        local_key: "No.".into(),
        integration_key: "accountid".into(),
        criteria,
        priority_mode: mode,
        collation: coupler_engine::Collation::Exact,
        local_filter: vec![],
        integration_filter: vec![],
    }
}

fn fuzzy(metric: Metric, threshold: f64, tie_margin: f64, blocking: Blocking) -> Comparator {
    Comparator::Fuzzy(Fuzzy {
        metric,
        threshold,
        tie_margin,
        blocking,
    })
}

fn criterion(local: &str, integ: &str, priority: u32) -> MatchCriterion {
    MatchCriterion::new(local, integ, FieldType::Text, priority, false)
}

fn table(name: &str, columns: &[&str], rows: &[&[&str]]) -> Table {
    let rows: Vec<Vec<&str>> = rows.iter().map(|r| r.to_vec()).collect();
    Table::from_rows(name, columns, &rows).unwrap()
}

fn tables(local: &[&[&str]], integ: &[&[&str]]) -> (Table, Table) {
    let l = table("customers.csv", &["No.", "Name", "Phone", "City"], local);
    let i = table(
        "accounts.csv",
        &["accountid", "name", "telephone1", "address1_city"],
        integ,
    );
    (l, i)
}

/// `(local id, outcome, integration id or candidates joined by |)` per record.
fn outcomes(spec: &CouplingSpec, local: &Table, integ: &Table) -> Vec<(String, String, String)> {
    let existing = ExistingCouplings::new();
    let run = couple(spec, local, integ, &existing, RunOptions::default()).unwrap();
    run.outcomes()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let other = match r.outcome {
                Outcome::Coupled {
                    integration_row, ..
                }
                | Outcome::AlreadyCoupled {
                    integration_row, ..
                } => run.integration_id(integration_row).to_string(),
                Outcome::MultipleMatches { .. } => run.candidates(i, 10).join("|"),
                _ => String::new(),
            };
            (
                run.local_id(r).to_string(),
                r.outcome.name().to_string(),
                other,
            )
        })
        .collect()
}

fn row(id: &str, outcome: &str, other: &str) -> (String, String, String) {
    (id.into(), outcome.into(), other.into())
}

#[test]
fn normalized_phones_match_and_blank_after_normalizing_sets_no_condition() {
    let (local, integ) = tables(
        &[
            &["C1", "Adatum", "+1 (425) 555-0101", ""],
            &["C2", "Fabrikam", "n/a", ""],
        ],
        &[
            &["a1", "Adatum Corp", "14255550101", ""],
            &["a2", "Fabrikam", "", ""],
            &["a3", "Other", "none", ""],
        ],
    );
    let mut phone = criterion("Phone", "telephone1", 0);
    phone.normalizers = vec![Normalizer::Digits];
    let name = criterion("Name", "name", 1);
    let s = spec(vec![phone.clone(), name], PriorityMode::Cumulative);
    // C2's phone is blank once normalized: level 0 sets no condition and the name decides —
    // without the rule, "n/a" would have matched a2's "" and a3's "none" (both blank too).
    assert_eq!(
        outcomes(&s, &local, &integ),
        vec![row("C1", "coupled", "a1"), row("C2", "coupled", "a2")]
    );
    // Without the normalizer BC compares the text as stored.
    let s = spec(
        vec![criterion("Phone", "telephone1", 0)],
        PriorityMode::Cumulative,
    );
    assert_eq!(outcomes(&s, &local, &integ)[0].1, "no_match");
}

#[test]
fn normalized_values_are_what_results_show() {
    let (local, integ) = tables(
        &[&["C1", "Müller & Söhne GmbH", "", ""]],
        &[&["a1", "MULLER  und SOHNE", "", ""]],
    );
    let mut name = criterion("Name", "name", 0);
    name.normalizers = vec![
        Normalizer::LegalForm(LegalForms::default_forms()),
        Normalizer::replace(r"\s*(&|\bund\b)\s*", " and ").unwrap(),
        Normalizer::CollapseWhitespace,
        Normalizer::StripAccents,
    ];
    let s = spec(vec![name], PriorityMode::Cumulative);
    let existing = ExistingCouplings::new();
    let run = couple(&s, &local, &integ, &existing, RunOptions::default()).unwrap();
    assert!(matches!(run.outcomes()[0].outcome, Outcome::Coupled { .. }));
    let detail = run.match_detail(0).unwrap();
    assert_eq!(detail.values.len(), 1);
    assert_eq!(detail.values[0].field, "Name");
    // Normalized, then folded to lower case (the criterion is case-insensitive).
    assert_eq!(detail.values[0].local, "muller and sohne");
    assert_eq!(detail.score, None);
}

#[test]
fn fuzzy_threshold_decides_and_scores_are_reported() {
    let (local, integ) = tables(
        &[&["C1", "Contoso", "", ""], &["C2", "Northwind", "", ""]],
        &[&["a1", "Contosso", "", ""], &["a2", "Northwest", "", ""]],
    );
    let jw = |threshold| {
        let mut c = criterion("Name", "name", 0);
        c.comparator = fuzzy(Metric::JaroWinkler, threshold, 0.0, Blocking::Prefix(2));
        spec(vec![c], PriorityMode::Cumulative)
    };
    let contoso = strsim::jaro_winkler("contoso", "contosso");
    let northwind = strsim::jaro_winkler("northwind", "northwest");
    assert!(northwind < contoso);
    assert_eq!(
        outcomes(&jw(contoso), &local, &integ),
        vec![row("C1", "coupled", "a1"), row("C2", "no_match", "")]
    );
    assert_eq!(
        outcomes(&jw(northwind), &local, &integ),
        vec![row("C1", "coupled", "a1"), row("C2", "coupled", "a2")]
    );
    assert_eq!(
        outcomes(&jw(contoso + 1e-9), &local, &integ),
        vec![row("C1", "no_match", ""), row("C2", "no_match", "")]
    );
    let s = jw(0.8);
    let existing = ExistingCouplings::new();
    let run = couple(&s, &local, &integ, &existing, RunOptions::default()).unwrap();
    let detail = run.match_detail(0).unwrap();
    assert_eq!(detail.score, Some(contoso));
    assert_eq!(detail.values[0].local, "contoso");
    assert_eq!(detail.values[0].integration, Some("contosso"));
    assert_eq!(detail.values[0].score, Some(contoso));
}

#[test]
fn levenshtein_counts_edits() {
    let (local, integ) = tables(
        &[&["C1", "Fabrikam", "", ""]],
        &[&["a1", "Fabricam", "", ""], &["a2", "Fabrikm Inc", "", ""]],
    );
    let lev = |edits| {
        let mut c = criterion("Name", "name", 0);
        c.comparator = fuzzy(Metric::Levenshtein, edits, 0.0, Blocking::Prefix(1));
        spec(vec![c], PriorityMode::Cumulative)
    };
    assert_eq!(outcomes(&lev(0.0), &local, &integ)[0].1, "no_match");
    assert_eq!(
        outcomes(&lev(1.0), &local, &integ)[0],
        row("C1", "coupled", "a1")
    );
}

#[test]
fn tie_margin_turns_near_equal_candidates_into_multiple_matches() {
    let (local, integ) = tables(
        &[&["C1", "Contoso", "", ""]],
        &[
            &["a1", "Contoso Ltd", "", ""],
            &["a2", "Contosa", "", ""],
            &["a3", "Contoso", "", ""],
        ],
    );
    let run = |margin| {
        let mut c = criterion("Name", "name", 0);
        c.comparator = fuzzy(Metric::JaroWinkler, 0.85, margin, Blocking::Prefix(3));
        outcomes(&spec(vec![c], PriorityMode::Cumulative), &local, &integ)
    };
    let contosa = strsim::jaro_winkler("contoso", "contosa");
    let ltd = strsim::jaro_winkler("contoso", "contoso ltd");
    assert!(contosa > ltd && ltd > 0.85);
    // The exact spelling wins alone without a margin…
    assert_eq!(run(0.0), vec![row("C1", "coupled", "a3")]);
    // …is ambiguous with the runner-up within the margin (candidates best first)…
    assert_eq!(
        run(1.0 - contosa + 1e-9),
        vec![row("C1", "multiple_matches", "a3|a2")]
    );
    // …and with everything within a wide one.
    assert_eq!(
        run(1.0 - ltd + 1e-9),
        vec![row("C1", "multiple_matches", "a3|a2|a1")]
    );
}

#[test]
fn fuzzy_narrows_the_exact_candidates_of_its_level() {
    // Level 0: city exact AND name fuzzy (same priority). Two accounts in Paris; the name picks
    // one. The Lyon account with the closer name is not a candidate: the city excludes it.
    let (local, integ) = tables(
        &[&["C1", "Contoso", "", "Paris"]],
        &[
            &["a1", "Contoso SA", "", "Paris"],
            &["a2", "Fabrikam", "", "Paris"],
            &["a3", "Contoso", "", "Lyon"],
        ],
    );
    let mut name = criterion("Name", "name", 0);
    name.comparator = fuzzy(Metric::JaroWinkler, 0.8, 0.0, Blocking::Prefix(0));
    let city = criterion("City", "address1_city", 0);
    let s = spec(vec![city.clone(), name.clone()], PriorityMode::Cumulative);
    assert_eq!(
        outcomes(&s, &local, &integ),
        vec![row("C1", "coupled", "a1")]
    );
    // Cumulative levels: a fuzzy name at priority 1 narrows the city's candidates of level 0.
    let mut later = name.clone();
    later.priority = 1;
    let s = spec(vec![city, later], PriorityMode::Cumulative);
    let existing = ExistingCouplings::new();
    let (l, i) = (&local, &integ);
    let run = couple(&s, l, i, &existing, RunOptions::default()).unwrap();
    let trace: Vec<String> = run
        .trace(&run.outcomes()[0])
        .map(|t| t.to_string())
        .collect();
    assert_eq!(trace, vec!["p0:multiple(2)", "p1:coupled"]);
}

#[test]
fn blocking_finds_candidates_and_can_miss_what_it_does_not_group() {
    let (local, integ) = tables(
        &[
            &["C1", "Contoso Pharmaceuticals", "", ""],
            &["C2", "Kontoso Pharma", "", ""],
        ],
        &[
            &["a1", "Contoso Pharmaceutical", "", ""],
            &["a2", "Contoso Pharma", "", ""],
        ],
    );
    let run = |blocking| {
        let mut c = criterion("Name", "name", 0);
        c.comparator = fuzzy(Metric::JaroWinkler, 0.9, 0.0, blocking);
        outcomes(&spec(vec![c], PriorityMode::Cumulative), &local, &integ)
    };
    for blocking in [
        Blocking::Prefix(0),
        Blocking::SortedNeighbourhood(2),
        Blocking::SortedNeighbourhood(10),
    ] {
        assert_eq!(
            run(blocking),
            vec![row("C1", "coupled", "a1"), row("C2", "coupled", "a2")],
            "{blocking:?}"
        );
    }
    // C2's first letter differs: prefix and first-token blocks never show it a2.
    for blocking in [Blocking::Prefix(3), Blocking::FirstToken] {
        assert_eq!(
            run(blocking),
            vec![row("C1", "coupled", "a1"), row("C2", "no_match", "")],
            "{blocking:?}"
        );
    }
}

#[test]
fn option_fields_compare_captions_with_choice_values() {
    let local = table(
        "customers.csv",
        &["No.", "Type"],
        &[&["C1", "Reseller"], &["C2", " customer "], &["C3", ""]],
    );
    let integ = table(
        "accounts.csv",
        &["accountid", "customertypecode"],
        &[&["a1", "3"], &["a2", "9"], &["a3", ""]],
    );
    let mut c = MatchCriterion::new("Type", "customertypecode", FieldType::Option, 0, false);
    c.options = OptionMap::new([("Customer".to_string(), 3), ("Reseller".to_string(), 9)]);
    let s = spec(vec![c.clone()], PriorityMode::Cumulative);
    assert_eq!(
        outcomes(&s, &local, &integ),
        vec![
            row("C1", "coupled", "a2"),
            row("C2", "coupled", "a1"),
            // A blank caption nobody mapped sets no condition.
            row("C3", "no_match", ""),
        ]
    );

    let existing = ExistingCouplings::new();
    let run_err = |local: &Table, integ: &Table, c: &MatchCriterion| {
        let s = spec(vec![c.clone()], PriorityMode::Cumulative);
        couple(&s, local, integ, &existing, RunOptions::default())
            .err()
            .expect("an error")
    };
    let bad_local = table(
        "customers.csv",
        &["No.", "Type"],
        &[&["C1", "Reseller"], &["C2", "Partner"]],
    );
    let err = run_err(&bad_local, &integ, &c);
    assert!(
        matches!(err, EngineError::UnmappedOption { line: 3, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "customers.csv line 3, column 'Type': option 'Partner' has no option mapping; the mapped captions are: Customer, Reseller"
    );
    let bad_integ = table(
        "accounts.csv",
        &["accountid", "customertypecode"],
        &[&["a1", "3"], &["a2", "12"]],
    );
    let err = run_err(&local, &bad_integ, &c);
    assert_eq!(
        err.to_string(),
        "accounts.csv line 3, column 'customertypecode': choice value '12' is not in the option mapping; the mapped values are: 3, 9"
    );
    let not_number = table(
        "accounts.csv",
        &["accountid", "customertypecode"],
        &[&["a1", "Reseller"]],
    );
    assert!(matches!(
        run_err(&local, &not_number, &c),
        EngineError::InvalidValue { line: 2, .. }
    ));
    let mut unmapped = c.clone();
    unmapped.options = OptionMap::default();
    assert!(run_err(&local, &integ, &unmapped)
        .to_string()
        .contains("an option field needs its option map"));
}

#[test]
fn settings_beyond_bc_are_checked_before_any_data() {
    let (local, integ) = tables(&[&["C1", "a", "1", ""]], &[&["a1", "a", "1", ""]]);
    let existing = ExistingCouplings::new();
    let check = |c: MatchCriterion| {
        let s = spec(vec![c], PriorityMode::Cumulative);
        couple(&s, &local, &integ, &existing, RunOptions::default())
            .err()
            .map(|e| e.to_string())
    };
    let mut numeric = MatchCriterion::new("Phone", "telephone1", FieldType::Integer, 0, false);
    numeric.normalizers = vec![Normalizer::Digits];
    assert_eq!(
        check(numeric).unwrap(),
        "mapping CUSTOMER, match field 'Phone': normalizers apply to text and code fields only (this field is integer)"
    );
    let mut too_high = criterion("Name", "name", 0);
    too_high.comparator = fuzzy(Metric::JaroWinkler, 1.5, 0.0, Blocking::FirstToken);
    assert!(check(too_high)
        .unwrap()
        .contains("must lie between 0 and 1"));
    let mut window = criterion("Name", "name", 0);
    window.comparator = fuzzy(
        Metric::JaroWinkler,
        0.9,
        0.0,
        Blocking::SortedNeighbourhood(0),
    );
    assert!(check(window).unwrap().contains("window"));
    let mut edits = criterion("Name", "name", 0);
    edits.comparator = fuzzy(Metric::Levenshtein, 3.0, 0.0, Blocking::FirstToken);
    assert_eq!(check(edits), None);
}

// ---------------------------------------------------------------------------------------------
// The reference: every record against every candidate, literally.

const NAMES: &[&str] = &[
    "",
    "Contoso",
    "Contosso",
    "contoso ltd",
    "Kontoso",
    "Contoso, Inc.",
    "Fabrikam",
    "Fabrikam Inc.",
    "Fabricam",
    "Adatum",
    "A. Datum Corp",
    "Zoë Café",
    "Zoe Cafe",
    "  Litware  ",
];
const CITIES: &[&str] = &["", "Paris", "paris", "Berlin", "Paris "];

#[derive(Debug, Clone)]
struct Scenario {
    local: Vec<(usize, usize)>,
    integ: Vec<(usize, usize)>,
    criteria: Vec<MatchCriterion>,
    mode: PriorityMode,
}

fn normalizer_sets() -> Vec<Vec<Normalizer>> {
    vec![
        vec![],
        vec![Normalizer::Trim],
        vec![
            Normalizer::LegalForm(LegalForms::default_forms()),
            Normalizer::RemovePunctuation,
            Normalizer::CollapseWhitespace,
        ],
        vec![Normalizer::StripAccents, Normalizer::CollapseWhitespace],
    ]
}

fn blockings() -> Vec<Blocking> {
    vec![
        Blocking::Prefix(0),
        Blocking::Prefix(1),
        Blocking::Prefix(3),
        Blocking::FirstToken,
        Blocking::SortedNeighbourhood(100),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let row = (0..NAMES.len(), 0..CITIES.len());
    let criterion_settings = (
        any::<bool>(),                                       // name (true) or city
        0..4usize,                                           // normalizers
        prop::option::of((0..3usize, 0..4usize, 0..5usize)), // fuzzy: metric, threshold, blocking
        0..3usize,                                           // tie margin
        0..2u32,                                             // priority
    );
    (
        prop::collection::vec(row.clone(), 0..10),
        prop::collection::vec(row, 0..12),
        prop::collection::vec(criterion_settings, 1..4),
        any::<bool>(),
    )
        .prop_map(|(local, integ, crits, independent)| {
            let mut used: Vec<&str> = Vec::new();
            let criteria = crits
                .into_iter()
                .filter_map(|(is_name, norm, fuzzy_settings, margin, priority)| {
                    let (l, i) = if is_name {
                        ("Name", "name")
                    } else {
                        ("City", "address1_city")
                    };
                    // One criterion per integration field: replacement is BC's rule, tested
                    // in model.rs; here the comparisons are under test.
                    if used.contains(&i) {
                        return None;
                    }
                    used.push(i);
                    let mut c = criterion(l, i, priority);
                    c.normalizers = normalizer_sets()[norm].clone();
                    if let Some((metric, threshold, blocking)) = fuzzy_settings {
                        let (metric, threshold) = match metric {
                            0 => (Metric::JaroWinkler, [0.7, 0.85, 0.95, 1.0][threshold]),
                            1 => (
                                Metric::NormalizedLevenshtein,
                                [0.5, 0.7, 0.9, 1.0][threshold],
                            ),
                            _ => (Metric::Levenshtein, [0.0, 1.0, 2.0, 4.0][threshold]),
                        };
                        c.comparator = fuzzy(
                            metric,
                            threshold,
                            [0.0, 0.03, 0.2][margin],
                            blockings()[blocking],
                        );
                    }
                    Some(c)
                })
                .collect();
            Scenario {
                local,
                integ,
                criteria,
                mode: if independent {
                    PriorityMode::Independent
                } else {
                    PriorityMode::Cumulative
                },
            }
        })
}

fn build(s: &Scenario) -> (Table, Table, CouplingSpec) {
    let ids: Vec<String> = (0..s.local.len().max(s.integ.len()))
        .map(|i| i.to_string())
        .collect();
    let local_rows: Vec<Vec<&str>> = s
        .local
        .iter()
        .enumerate()
        .map(|(k, &(n, c))| vec![ids[k].as_str(), NAMES[n], "", CITIES[c]])
        .collect();
    let integ_rows: Vec<Vec<&str>> = s
        .integ
        .iter()
        .enumerate()
        .map(|(k, &(n, c))| vec![ids[k].as_str(), NAMES[n], "", CITIES[c]])
        .collect();
    let l = Table::from_rows(
        "customers.csv",
        &["No.", "Name", "Phone", "City"],
        &local_rows,
    )
    .unwrap();
    let i = Table::from_rows(
        "accounts.csv",
        &["accountid", "name", "telephone1", "address1_city"],
        &integ_rows,
    )
    .unwrap();
    (l, i, spec(s.criteria.clone(), s.mode))
}

/// The compared value: normalized, then lower-cased (the criteria are case-insensitive).
fn value(c: &MatchCriterion, cell: &str) -> String {
    coupler_engine::normalize::normalize(&c.normalizers, cell).to_lowercase()
}

fn similarity(f: &Fuzzy, a: &str, b: &str) -> Option<f64> {
    let s = match f.metric {
        Metric::JaroWinkler => strsim::jaro_winkler(a, b),
        Metric::NormalizedLevenshtein => strsim::normalized_levenshtein(a, b),
        Metric::Levenshtein => {
            let d = strsim::levenshtein(a, b);
            if d as f64 > f.threshold {
                return None;
            }
            let longer = a.chars().count().max(b.chars().count());
            return Some(if longer == 0 {
                1.0
            } else {
                1.0 - d as f64 / longer as f64
            });
        }
    };
    (s >= f.threshold).then_some(s)
}

/// Whether candidate value `theirs` is in the block of `ours` (prefix and first-token blocks
/// as predicates; the sorted window in these scenarios is larger than any table).
fn same_block(b: Blocking, ours: &str, theirs: &str) -> bool {
    let first_token = |s: &str| {
        s.split(|c: char| !c.is_alphanumeric())
            .find(|t| !t.is_empty())
            .unwrap_or("")
            .to_string()
    };
    !theirs.is_empty()
        && match b {
            Blocking::Prefix(n) => {
                ours.chars().take(n).collect::<String>()
                    == theirs.chars().take(n).collect::<String>()
            }
            Blocking::FirstToken => first_token(ours) == first_token(theirs),
            Blocking::SortedNeighbourhood(_) => true,
        }
}

fn reference(t: &(Table, Table, CouplingSpec)) -> Vec<(String, String, String)> {
    let (l, i, spec) = t;
    fn cell<'t>(t: &'t Table, r: usize, name: &str) -> &'t str {
        t.cell(r, t.column_index(name).unwrap())
    }
    let mut priorities: Vec<u32> = spec.criteria.iter().map(|c| c.priority).collect();
    priorities.sort();
    priorities.dedup();
    let mut taken = vec![false; i.len()];
    let mut out = Vec::new();
    for r in 0..l.len() {
        let mut result = ("no_match".to_string(), String::new());
        for &p in &priorities {
            // A level whose own criteria are all blank sets no filter: no match (BC).
            let own_blank = spec
                .criteria
                .iter()
                .filter(|c| c.priority == p)
                .all(|c| value(c, cell(l, r, &c.local_field)).is_empty());
            if own_blank {
                result = ("no_match".into(), String::new());
                continue;
            }
            let in_force: Vec<&MatchCriterion> = spec
                .criteria
                .iter()
                .filter(|c| match spec.priority_mode {
                    PriorityMode::Cumulative => c.priority <= p,
                    PriorityMode::Independent => c.priority == p,
                })
                .filter(|c| !value(c, cell(l, r, &c.local_field)).is_empty())
                .collect();
            if in_force.is_empty() {
                result = ("no_match".into(), String::new());
                continue;
            }
            let fuzzy: Vec<(&MatchCriterion, Fuzzy)> = in_force
                .iter()
                .filter_map(|c| match c.comparator {
                    Comparator::Fuzzy(f) => Some((*c, f)),
                    Comparator::Exact => None,
                })
                .collect();
            let has_exact = fuzzy.len() < in_force.len();
            // Without exact criteria: the smallest block (the first criterion among equals).
            let blocker = (!has_exact)
                .then(|| {
                    fuzzy
                        .iter()
                        .map(|&(c, f)| {
                            let ours = value(c, cell(l, r, &c.local_field));
                            let size = (0..i.len())
                                .filter(|&k| {
                                    same_block(
                                        f.blocking,
                                        &ours,
                                        &value(c, cell(i, k, &c.integration_field)),
                                    )
                                })
                                .count();
                            let size = match f.blocking {
                                Blocking::SortedNeighbourhood(w) => w.min(
                                    (0..i.len())
                                        .filter(|&k| {
                                            !value(c, cell(i, k, &c.integration_field)).is_empty()
                                        })
                                        .count(),
                                ),
                                _ => size,
                            };
                            (c, f, ours, size)
                        })
                        .reduce(|a, b| if b.3 < a.3 { b } else { a })
                })
                .flatten();
            let mut scored: Vec<(usize, f64)> = Vec::new();
            for k in 0..i.len() {
                let exact_ok = in_force.iter().all(|c| {
                    c.comparator != Comparator::Exact
                        || value(c, cell(l, r, &c.local_field))
                            == value(c, cell(i, k, &c.integration_field))
                });
                if !exact_ok {
                    continue;
                }
                if let Some((c, f, ours, _)) = &blocker {
                    if !same_block(
                        f.blocking,
                        ours,
                        &value(c, cell(i, k, &c.integration_field)),
                    ) {
                        continue;
                    }
                }
                let mut total = 0.0;
                let mut ok = true;
                for (c, f) in &fuzzy {
                    let ours = value(c, cell(l, r, &c.local_field));
                    let theirs = value(c, cell(i, k, &c.integration_field));
                    match similarity(f, &ours, &theirs) {
                        Some(s) => total += s,
                        None => ok = false,
                    }
                }
                if ok {
                    scored.push((
                        k,
                        if fuzzy.is_empty() {
                            0.0
                        } else {
                            total / fuzzy.len() as f64
                        },
                    ));
                }
            }
            let margin = fuzzy.iter().map(|(_, f)| f.tie_margin).fold(0.0, f64::max);
            let best = scored
                .iter()
                .copied()
                .reduce(|a, b| if b.1 > a.1 { b } else { a });
            let close: Vec<(usize, f64)> = match best {
                Some(b) if !fuzzy.is_empty() => {
                    let mut close: Vec<(usize, f64)> = scored
                        .iter()
                        .copied()
                        .filter(|s| s.1 >= b.1 - margin)
                        .collect();
                    close.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    close
                }
                _ => scored.clone(),
            };
            match close.len() {
                0 => result = ("no_match".into(), String::new()),
                1 => {
                    let k = close[0].0;
                    if taken[k] {
                        result = ("already_coupled".into(), cell(i, k, "accountid").into());
                    } else {
                        taken[k] = true;
                        result = ("coupled".into(), cell(i, k, "accountid").into());
                        break;
                    }
                }
                _ => {
                    let ids: Vec<&str> = close
                        .iter()
                        .take(10)
                        .map(|&(k, _)| cell(i, k, "accountid"))
                        .collect();
                    result = ("multiple_matches".into(), ids.join("|"));
                }
            }
        }
        out.push((cell(l, r, "No.").to_string(), result.0, result.1));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// The engine (any thread count, any blocking) agrees with the literal reference.
    #[test]
    fn engine_agrees_with_the_reference(s in scenario()) {
        let built = build(&s);
        let expected = reference(&built);
        let (l, i, spec) = &built;
        prop_assert_eq!(&outcomes(spec, l, i), &expected);
        let existing = ExistingCouplings::new();
        let sequential = couple(spec, l, i, &existing, RunOptions { parallel: false, scan_limit: 0 }).unwrap();
        let parallel = couple(spec, l, i, &existing, RunOptions::default()).unwrap();
        prop_assert_eq!(sequential.outcomes(), parallel.outcomes());
    }

    /// Blocking that groups everything (`prefix` 0, a window as large as the table) loses
    /// nothing: the result is the unblocked one.
    #[test]
    fn wide_blocks_equal_the_unblocked_run(s in scenario()) {
        let built = build(&s);
        let mut wide = s.clone();
        for c in &mut wide.criteria {
            if let Comparator::Fuzzy(f) = &mut c.comparator {
                f.blocking = Blocking::SortedNeighbourhood(1000);
            }
        }
        let mut one_block = s.clone();
        for c in &mut one_block.criteria {
            if let Comparator::Fuzzy(f) = &mut c.comparator {
                f.blocking = Blocking::Prefix(0);
            }
        }
        let (a, b) = (build(&wide), build(&one_block));
        let unblocked = reference(&b);
        prop_assert_eq!(&outcomes(&a.2, &a.0, &a.1), &unblocked);
        prop_assert_eq!(&outcomes(&b.2, &b.0, &b.1), &unblocked);
        let _ = built;
    }
}
