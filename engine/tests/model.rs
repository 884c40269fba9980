//! Differential check: the engine against a literal, quadratic model of docs/semantics.md's
//! pseudocode, on random scenarios (both priority modes, all types, filters, existing
//! couplings); and the parallel engine against the sequential one for several thread counts.

use coupler_engine::report::{IdBatch, Renderer, ResultRow};
use coupler_engine::*;
use proptest::prelude::*;

const TYPES: [FieldType; 6] = [
    FieldType::Text,
    FieldType::Code,
    FieldType::Integer,
    FieldType::Decimal,
    FieldType::Boolean,
    FieldType::Date,
];

fn vocabulary(t: FieldType) -> &'static [&'static str] {
    match t {
        FieldType::Text => &[
            "", "Adatum", "adatum", "ADATUM", "Adatum ", "Fabrikam", "Zoë", "ZOË",
        ],
        FieldType::Code => &["", " ", "usd", "USD", " usd", "eur", "EUR", "Usd"],
        FieldType::Integer | FieldType::Decimal => {
            &["", "0", "1.5", "1.50", "01.5", "2", "-2", "0.0"]
        }
        FieldType::Boolean => &["", "yes", "No", "1", "0", "true", "FALSE", "no"],
        FieldType::Date => &[
            "",
            "2024-01-05",
            "2024-01-05T10:00:00Z",
            "2024-02-29",
            "2024-02-29 08:00",
            "2023-12-31",
            "2024-01-05",
            "",
        ],
        FieldType::Option => unreachable!("modelled in tests/beyond.rs"),
    }
}

#[derive(Debug, Clone)]
struct Scenario {
    local: Vec<(Vec<String>, bool)>,
    integ: Vec<(Vec<String>, bool)>,
    criteria: Vec<MatchCriterion>,
    mode: PriorityMode,
    local_filter: bool,
    integration_filter: bool,
    own: Vec<(usize, usize)>,
    other: Vec<usize>,
}

const COLS: usize = 4;

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        proptest::collection::vec(0usize..6, COLS),
        proptest::collection::vec(
            (proptest::collection::vec(0usize..8, COLS), any::<bool>()),
            0..30,
        ),
        proptest::collection::vec(
            (proptest::collection::vec(0usize..8, COLS), any::<bool>()),
            0..30,
        ),
        proptest::collection::vec((0usize..COLS, 0usize..COLS, 0u32..3, any::<bool>()), 0..5),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec((0usize..30, 0usize..30), 0..4),
        proptest::collection::vec(0usize..30, 0..3),
    )
        .prop_map(
            |(types, local, integ, crits, independent, lf, inf, own, other)| {
                let types: Vec<FieldType> = types.into_iter().map(|t| TYPES[t]).collect();
                let cells = |rows: Vec<(Vec<usize>, bool)>| {
                    rows.into_iter()
                        .map(|(vals, flag)| {
                            let v = vals
                                .iter()
                                .enumerate()
                                .map(|(c, &i)| vocabulary(types[c])[i].to_string())
                                .collect();
                            (v, flag)
                        })
                        .collect::<Vec<_>>()
                };
                let criteria = crits
                    .into_iter()
                    .map(|(l, i, priority, cs)| {
                        // The integration column must hold values of the local field's type.
                        let i = if types[i] == types[l] { i } else { l };
                        MatchCriterion {
                            local_field: format!("v{l}"),
                            integration_field: format!("w{i}"),
                            field_type: types[l],
                            priority,
                            case_sensitive: cs,
                            ..MatchCriterion::default()
                        }
                    })
                    .collect();
                Scenario {
                    local: cells(local),
                    integ: cells(integ),
                    criteria,
                    mode: if independent {
                        PriorityMode::Independent
                    } else {
                        PriorityMode::Cumulative
                    },
                    local_filter: lf,
                    integration_filter: inf,
                    own,
                    other,
                }
            },
        )
}

struct Built {
    local: Table,
    integ: Table,
    spec: CouplingSpec,
    existing: ExistingCouplings,
}

fn build(s: &Scenario) -> Built {
    let mut lcols = vec!["id".to_string(), "blocked".to_string()];
    let mut icols = vec!["id".to_string(), "state".to_string()];
    for c in 0..COLS {
        lcols.push(format!("v{c}"));
        icols.push(format!("w{c}"));
    }
    let rows = |prefix: &str, rows: &[(Vec<String>, bool)], yes: &str, no: &str| {
        rows.iter()
            .enumerate()
            .map(|(i, (v, flag))| {
                let mut r = vec![
                    format!("{prefix}{i}"),
                    if *flag { yes } else { no }.to_string(),
                ];
                r.extend(v.iter().cloned());
                r
            })
            .collect::<Vec<_>>()
    };
    let lrefs: Vec<&str> = lcols.iter().map(String::as_str).collect();
    let irefs: Vec<&str> = icols.iter().map(String::as_str).collect();
    let local = Table::from_rows("local", &lrefs, &rows("L", &s.local, "", "All")).unwrap();
    let integ = Table::from_rows("integ", &irefs, &rows("I", &s.integ, "0", "1")).unwrap();
    let mut existing = ExistingCouplings::new();
    for &(l, i) in &s.own {
        existing.add_own(&format!("L{l}"), &format!("I{i}"));
    }
    for &i in &s.other {
        existing.add_other(&format!("X{i}"), &format!("I{i}"));
    }
    let spec = CouplingSpec {
        mapping_name: "M".into(),
        local_caption: "Local".into(),
        integration_caption: "Integ".into(),
        integration_source: "integ.csv".into(),
        local_key: "id".into(),
        integration_key: "id".into(),
        criteria: s.criteria.clone(),
        priority_mode: s.mode,
        collation: coupler_engine::Collation::Exact,
        local_filter: if s.local_filter {
            vec![("blocked".into(), "".into())]
        } else {
            vec![]
        },
        integration_filter: if s.integration_filter {
            vec![("state".into(), "0".into())]
        } else {
            vec![]
        },
    };
    Built {
        local,
        integ,
        spec,
        existing,
    }
}

/// (local id, outcome, integration id, priority, match count, candidates, coupled_to, trace, holder origin)
type Row = [String; 9];

/// The log's outcome counts are the outcomes', in all and per deciding level.
fn assert_counts_are_the_outcomes(run: &CouplingRun<'_>) {
    let mut all = OutcomeCounts::default();
    let mut by_level = vec![OutcomeCounts::default(); run.priorities().len()];
    for record in run.outcomes() {
        let bump = |counts: &mut OutcomeCounts| match record.outcome {
            Outcome::Coupled { .. } => counts.coupled += 1,
            Outcome::NoMatch { .. } => counts.no_match += 1,
            Outcome::MultipleMatches { .. } => counts.multiple_matches += 1,
            Outcome::AlreadyCoupled { .. } => counts.already_coupled += 1,
            Outcome::NoCriteria => counts.no_criteria += 1,
            Outcome::Skipped => counts.skipped += 1,
        };
        bump(&mut all);
        if let Some(level) = record.outcome.level() {
            bump(&mut by_level[level as usize]);
        }
    }
    assert_eq!(run.log().outcomes, all);
    assert_eq!(run.log().by_level, by_level);
}

fn engine_rows(b: &Built, options: RunOptions) -> Vec<Row> {
    let run = couple(&b.spec, &b.local, &b.integ, &b.existing, options).unwrap();
    assert_counts_are_the_outcomes(&run);
    let r = Renderer::new(&run);
    let mut buf = Default::default();
    let rows: Vec<Row> = (0..run.outcomes().len())
        .map(|i| {
            let f = r.render(i, &mut buf);
            [f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[9]].map(str::to_string)
        })
        .collect();
    // Rendering with ids gathered in row order, in ranges, gives the same rows.
    let (n, mut ids, mut other) = (rows.len(), IdBatch::default(), ResultRow::default());
    for start in (0..n).step_by(3) {
        r.gather_ids(start..n.min(start + 3), &mut ids);
        for i in start..n.min(start + 3) {
            assert_eq!(
                r.render_gathered(i, &mut other, &ids),
                r.render(i, &mut buf)
            );
        }
    }
    rows
}

// ---- the model: the semantics, one comparison at a time --------------------------

fn number(s: &str) -> (bool, String, String) {
    let s = s.trim();
    let s = if s.is_empty() { "0" } else { s };
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let int = int.trim_start_matches('0').to_string();
    let frac = frac.trim_end_matches('0').to_string();
    let zero = int.is_empty() && frac.is_empty();
    (neg && !zero, int, frac)
}

fn boolean(s: &str) -> bool {
    matches!(s.trim().to_lowercase().as_str(), "yes" | "1" | "true")
}

/// Some(true/false) = the condition holds or not; None = blank local text (no condition).
fn condition(c: &MatchCriterion, l: &str, i: &str) -> Option<bool> {
    match c.field_type {
        FieldType::Text => {
            if l.is_empty() {
                None
            } else if c.case_sensitive {
                Some(l == i)
            } else {
                Some(l.to_lowercase() == i.to_lowercase())
            }
        }
        FieldType::Code => {
            let l = l.trim().to_uppercase();
            if l.is_empty() {
                None
            } else if c.case_sensitive {
                Some(l == i)
            } else {
                Some(l.to_lowercase() == i.to_lowercase())
            }
        }
        FieldType::Integer | FieldType::Decimal => Some(number(l) == number(i)),
        FieldType::Boolean => Some(boolean(l) == boolean(i)),
        FieldType::Date => Some(l.get(..10).unwrap_or("") == i.get(..10).unwrap_or("")),
        FieldType::Option => unreachable!("modelled in tests/beyond.rs"),
    }
}

fn model_rows(b: &Built) -> Vec<Row> {
    let (l, i) = (&b.local, &b.integ);
    let col = |t: &Table, n: &str| t.column_index(n).unwrap();
    let passes =
        |t: &Table, r: usize, f: &TableFilter| f.iter().all(|(c, v)| t.cell(r, col(t, c)) == v);
    let candidates: Vec<usize> = (0..i.len())
        .filter(|&r| passes(i, r, &b.spec.integration_filter))
        .collect();
    let mut priorities: Vec<u32> = b.spec.criteria.iter().map(|c| c.priority).collect();
    priorities.sort();
    priorities.dedup();
    // integration id → (holder local id, origin)
    let mut taken: Vec<(String, String, &str)> = Vec::new();
    let holder = |taken: &Vec<(String, String, &'static str)>, id: &str| {
        taken.iter().find(|t| t.0 == id).map(|t| (t.1.clone(), t.2))
    };
    let mut out = Vec::new();
    for r in 0..l.len() {
        if !passes(l, r, &b.spec.local_filter) {
            continue;
        }
        let lid = l.cell(r, 0).to_string();
        let s = |x: &str| x.to_string();
        if b.existing.coupled_integration_id(&lid).is_some() {
            out.push([
                lid,
                s("skipped"),
                s(""),
                s(""),
                s(""),
                s(""),
                s(""),
                s(""),
                s(""),
            ]);
            continue;
        }
        if b.spec.criteria.is_empty() {
            out.push([
                lid,
                s("no_criteria"),
                s(""),
                s(""),
                s(""),
                s(""),
                s(""),
                s(""),
                s(""),
            ]);
            continue;
        }
        let mut filter: Vec<(String, &MatchCriterion)> = Vec::new();
        let mut trace: Vec<String> = Vec::new();
        let mut row = None;
        for &p in &priorities {
            if b.spec.priority_mode == PriorityMode::Independent {
                filter.clear();
            }
            let mut n = 0;
            for c in b.spec.criteria.iter().filter(|c| c.priority == p) {
                let v = l.cell(r, col(l, &c.local_field));
                if c.field_type.is_text_like() && condition(c, v, "").is_none() {
                    continue;
                }
                filter.retain(|(f, _)| *f != c.integration_field);
                filter.push((c.integration_field.clone(), c));
                n += 1;
            }
            if n == 0 {
                trace.push(format!("p{p}:no_match(blank)"));
                row = Some([
                    lid.clone(),
                    s("no_match"),
                    s(""),
                    p.to_string(),
                    s("0"),
                    s(""),
                    s(""),
                    s(""),
                    s(""),
                ]);
                continue;
            }
            let m: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&ir| {
                    filter.iter().all(|(f, c)| {
                        condition(c, l.cell(r, col(l, &c.local_field)), i.cell(ir, col(i, f)))
                            == Some(true)
                    })
                })
                .collect();
            match m.len() {
                0 => {
                    trace.push(format!("p{p}:no_match"));
                    row = Some([
                        lid.clone(),
                        s("no_match"),
                        s(""),
                        p.to_string(),
                        s("0"),
                        s(""),
                        s(""),
                        s(""),
                        s(""),
                    ]);
                }
                1 => {
                    let id = i.cell(m[0], 0).to_string();
                    let h = holder(&taken, &id).or_else(|| {
                        b.existing
                            .holder_of(&id)
                            .map(|h| (h.to_string(), "existing"))
                    });
                    if let Some((h, origin)) = h {
                        trace.push(format!("p{p}:already_coupled"));
                        row = Some([
                            lid.clone(),
                            s("already_coupled"),
                            s(""),
                            p.to_string(),
                            s("1"),
                            id,
                            h,
                            s(""),
                            s(origin),
                        ]);
                    } else {
                        trace.push(format!("p{p}:coupled"));
                        taken.push((id.clone(), lid.clone(), "this_job"));
                        row = Some([
                            lid.clone(),
                            s("coupled"),
                            id,
                            p.to_string(),
                            s("1"),
                            s(""),
                            s(""),
                            s(""),
                            s(""),
                        ]);
                        break;
                    }
                }
                k => {
                    trace.push(format!("p{p}:multiple({k})"));
                    let ids: Vec<&str> = m.iter().take(10).map(|&x| i.cell(x, 0)).collect();
                    row = Some([
                        lid.clone(),
                        s("multiple_matches"),
                        s(""),
                        p.to_string(),
                        k.to_string(),
                        ids.join("|"),
                        s(""),
                        s(""),
                        s(""),
                    ]);
                }
            }
        }
        let mut row = row.unwrap();
        row[7] = trace.join(" ");
        out.push(row);
    }
    out
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_the_model(s in scenario()) {
        let b = build(&s);
        let expected = model_rows(&b);
        let sequential = engine_rows(&b, RunOptions { parallel: false, ..RunOptions::default() });
        prop_assert_eq!(&sequential, &expected);
        // Tuple indexes instead of group scans give the same answer.
        let indexed = engine_rows(&b, RunOptions { parallel: false, scan_limit: 0 });
        prop_assert_eq!(&indexed, &expected);
    }

    #[test]
    fn parallel_equals_sequential_for_any_thread_count(s in scenario(), threads in 1usize..5) {
        let b = build(&s);
        let sequential = engine_rows(&b, RunOptions { parallel: false, ..RunOptions::default() });
        let parallel = pool(threads).install(|| engine_rows(&b, RunOptions::default()));
        prop_assert_eq!(&parallel, &sequential);
        // Equal runs give equal, identically ordered results.
        let again = pool(threads).install(|| engine_rows(&b, RunOptions { parallel: true, scan_limit: 1 }));
        prop_assert_eq!(&again, &parallel);
    }
}
