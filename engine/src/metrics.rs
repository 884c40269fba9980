//! Scoring a coupling job against a truth file: true and false positives, false negatives,
//! precision, recall and F1, and the wrongly coupled pairs (`coupler criteria compare --truth`).
//!
//! # The rules
//!
//! The truth is a set of correct `(local_id, integration_id)` pairs. A local id may appear with
//! several integration ids (each is an acceptable partner, e.g. a company held twice in
//! Dataverse); identical lines count once.
//!
//! Only the records the job **decided on** are scored: the local records that passed the local
//! filter (they have a row in `results.csv`) and were not `skipped` (already coupled before
//! the job, so the criteria played no part). Records the local filter removed, records absent
//! from the local source and skipped records are neither positives nor negatives, whatever
//! the truth says about them.
//!
//! | count | what it counts |
//! |---|---|
//! | true positive (TP) | a record coupled to one of its truth partners |
//! | false positive (FP) | a record coupled to an integration id that is not one of its truth partners (including a record the truth does not list at all) |
//! | false negative (FN) | a record the truth lists that was **not** coupled to one of its truth partners: not coupled at all (`no_match`, `multiple_matches`, `already_coupled`, `no_criteria`), or coupled to a wrong partner — such a record is then both an FP and an FN |
//!
//! Every count is of records, so `TP + FN` is the number of scored records the truth lists.
//! A truth pair whose integration row is filtered out or already held by an existing coupling
//! still counts as a false negative: no criteria can reach it, so it lowers every variant's
//! recall by the same amount and never changes their ranking.
//!
//! - precision = TP / (TP + FP), 0 when nothing was coupled;
//! - recall = TP / (TP + FN), 0 when the truth lists no scored record;
//! - F1 = 2 · precision · recall / (precision + recall), 0 when both are 0.

use std::collections::BTreeMap;

use hashbrown::HashMap;

/// The correct pairs, by local id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truth {
    partners: HashMap<String, Vec<String>>,
    pairs: usize,
}

impl Truth {
    /// The truth from its pairs; repeated pairs count once.
    pub fn new<L, I>(pairs: impl IntoIterator<Item = (L, I)>) -> Truth
    where
        L: Into<String>,
        I: Into<String>,
    {
        let mut truth = Truth::default();
        for (l, i) in pairs {
            let (l, i) = (l.into(), i.into());
            let partners = truth.partners.entry(l).or_default();
            if !partners.contains(&i) {
                partners.push(i);
                truth.pairs += 1;
            }
        }
        truth
    }

    /// The distinct pairs.
    pub fn pairs(&self) -> usize {
        self.pairs
    }

    /// The distinct local ids.
    pub fn local_ids(&self) -> usize {
        self.partners.len()
    }

    /// The truth partners of a local id (empty when the truth does not list it).
    pub fn partners(&self, local_id: &str) -> &[String] {
        self.partners.get(local_id).map_or(&[], Vec::as_slice)
    }
}

/// What the job did with one local record, as far as scoring is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScoredRecord<'a> {
    /// The local record's id.
    pub local_id: &'a str,
    /// The outcome's name (`coupled`, `no_match`, …, `skipped`).
    pub outcome: &'static str,
    /// For a coupled record: the integration id and the priority of the level that coupled it.
    pub coupled: Option<(&'a str, u32)>,
}

/// A false positive or a false negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WrongKind {
    FalsePositive,
    FalseNegative,
}

impl WrongKind {
    /// `false_positive` / `false_negative`, as written in `wrong-pairs.csv`.
    pub fn name(self) -> &'static str {
        match self {
            WrongKind::FalsePositive => "false_positive",
            WrongKind::FalseNegative => "false_negative",
        }
    }
}

/// One row of `wrong-pairs.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongPair {
    pub local_id: String,
    /// What the job coupled the record to (empty if it was not coupled).
    pub coupled_integration_id: String,
    /// The truth partner(s), `|`-separated (empty if the truth does not list the record).
    pub true_integration_id: String,
    pub kind: WrongKind,
    /// The record's outcome (`coupled`, `no_match`, …).
    pub outcome: &'static str,
}

/// The counts of one job against the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    pub true_positives: u64,
    pub false_positives: u64,
    pub false_negatives: u64,
}

impl Confusion {
    /// TP / (TP + FP); 0 when nothing was coupled.
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// TP / (TP + FN); 0 when the truth lists no scored record.
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    /// The harmonic mean of precision and recall; 0 when both are 0.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// A job scored against the truth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    pub confusion: Confusion,
    /// True positives by the priority of the level that coupled them.
    pub true_positives_by_level: BTreeMap<u32, u64>,
    /// False positives by the priority of the level that coupled them.
    pub false_positives_by_level: BTreeMap<u32, u64>,
    /// Every false positive and false negative, in processing order (a record both FP and
    /// FN gives its FP row first).
    pub wrong: Vec<WrongPair>,
}

/// Scores the records of one job (in processing order) against the truth; see the module
/// documentation for the rules.
pub fn evaluate<'a>(
    records: impl IntoIterator<Item = ScoredRecord<'a>>,
    truth: &Truth,
) -> Evaluation {
    let mut e = Evaluation::default();
    for r in records {
        if r.outcome == "skipped" {
            continue;
        }
        let partners = truth.partners(r.local_id);
        let joined = || partners.join("|");
        match r.coupled {
            Some((id, level)) if partners.iter().any(|p| p == id) => {
                e.confusion.true_positives += 1;
                *e.true_positives_by_level.entry(level).or_default() += 1;
            }
            Some((id, level)) => {
                e.confusion.false_positives += 1;
                *e.false_positives_by_level.entry(level).or_default() += 1;
                e.wrong.push(WrongPair {
                    local_id: r.local_id.to_string(),
                    coupled_integration_id: id.to_string(),
                    true_integration_id: joined(),
                    kind: WrongKind::FalsePositive,
                    outcome: r.outcome,
                });
                if !partners.is_empty() {
                    e.confusion.false_negatives += 1;
                    e.wrong.push(WrongPair {
                        local_id: r.local_id.to_string(),
                        coupled_integration_id: id.to_string(),
                        true_integration_id: joined(),
                        kind: WrongKind::FalseNegative,
                        outcome: r.outcome,
                    });
                }
            }
            None if !partners.is_empty() => {
                e.confusion.false_negatives += 1;
                e.wrong.push(WrongPair {
                    local_id: r.local_id.to_string(),
                    coupled_integration_id: String::new(),
                    true_integration_id: joined(),
                    kind: WrongKind::FalseNegative,
                    outcome: r.outcome,
                });
            }
            None => {}
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(id: &'a str, outcome: &'static str, to: Option<&'a str>) -> ScoredRecord<'a> {
        ScoredRecord {
            local_id: id,
            outcome,
            coupled: to.map(|t| (t, 0)),
        }
    }

    #[test]
    fn counts_follow_the_rules() {
        let truth = Truth::new([
            ("A", "a"),
            ("B", "b"),
            ("C", "c"),
            ("D", "d"),
            ("E", "e"),
            ("E", "e"), // repeated: once
            ("F", "f"),
        ]);
        assert_eq!(truth.pairs(), 6);
        let records = [
            rec("A", "coupled", Some("a")),     // TP
            rec("B", "coupled", Some("x")),     // FP + FN
            rec("C", "no_match", None),         // FN
            rec("D", "skipped", None),          // not scored
            rec("Z", "coupled", Some("z")),     // FP, truth does not list Z
            rec("Y", "no_match", None),         // not listed, not coupled: nothing
            rec("E", "multiple_matches", None), // FN
        ];
        // F is not in the results (filtered out): not scored.
        let e = evaluate(records, &truth);
        assert_eq!(
            e.confusion,
            Confusion {
                true_positives: 1,
                false_positives: 2,
                false_negatives: 3
            }
        );
        let kinds: Vec<(&str, WrongKind, &str, &str)> = e
            .wrong
            .iter()
            .map(|w| {
                (
                    w.local_id.as_str(),
                    w.kind,
                    w.coupled_integration_id.as_str(),
                    w.true_integration_id.as_str(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("B", WrongKind::FalsePositive, "x", "b"),
                ("B", WrongKind::FalseNegative, "x", "b"),
                ("C", WrongKind::FalseNegative, "", "c"),
                ("Z", WrongKind::FalsePositive, "z", ""),
                ("E", WrongKind::FalseNegative, "", "e"),
            ]
        );
        assert!((e.confusion.precision() - 1.0 / 3.0).abs() < 1e-12);
        assert!((e.confusion.recall() - 1.0 / 4.0).abs() < 1e-12);
        let f1 = 2.0 * (1.0 / 3.0) * 0.25 / (1.0 / 3.0 + 0.25);
        assert!((e.confusion.f1() - f1).abs() < 1e-12);
    }

    #[test]
    fn several_acceptable_partners() {
        let truth = Truth::new([("A", "a1"), ("A", "a2")]);
        assert_eq!((truth.pairs(), truth.local_ids()), (2, 1));
        let e = evaluate([rec("A", "coupled", Some("a2"))], &truth);
        assert_eq!(e.confusion.true_positives, 1);
        assert_eq!(e.confusion.false_negatives, 0);
        let e = evaluate([rec("A", "no_match", None)], &truth);
        assert_eq!(e.confusion.false_negatives, 1);
        assert_eq!(e.wrong[0].true_integration_id, "a1|a2");
    }

    #[test]
    fn levels_and_empty_cases() {
        let truth = Truth::new([("A", "a"), ("B", "b")]);
        let records = [
            ScoredRecord {
                local_id: "A",
                outcome: "coupled",
                coupled: Some(("a", 0)),
            },
            ScoredRecord {
                local_id: "B",
                outcome: "coupled",
                coupled: Some(("a", 2)),
            },
        ];
        let e = evaluate(records, &truth);
        assert_eq!(e.true_positives_by_level, BTreeMap::from([(0, 1)]));
        assert_eq!(e.false_positives_by_level, BTreeMap::from([(2, 1)]));
        // Nothing coupled, nothing listed: every measure is 0, never NaN.
        let none = Confusion::default();
        assert_eq!(
            (none.precision(), none.recall(), none.f1()),
            (0.0, 0.0, 0.0)
        );
        let e = evaluate([rec("Q", "no_match", None)], &Truth::default());
        assert_eq!(e.confusion, Confusion::default());
        assert!(e.wrong.is_empty());
    }
}
