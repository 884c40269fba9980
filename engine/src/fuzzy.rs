//! Fuzzy criteria (beyond BC, opt-in): string similarity instead of equality, and the blocking
//! that keeps a level of only fuzzy criteria near-linear.
//!
//! How a fuzzy criterion takes part in a level (`docs/semantics.md`, "Fuzzy criteria"):
//! the level's exact criteria give the candidates exactly as in BC (when the level has none, the
//! candidates are the record's **block**); every fuzzy criterion in force then keeps only the
//! candidates whose similarity reaches its threshold; the candidates left are ranked by their
//! score (the mean of the level's fuzzy similarities, each in 0..=1). When the second best is
//! within the tie margin of the best, the level finds several matches (`multiple_matches`);
//! otherwise it finds the best one alone. Everything else — first come first served, already
//! coupled, the next level — is BC's.
//!
//! Similarities come from `strsim`, the field's standard crate for them.

/// How two values are compared by a fuzzy criterion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Jaro-Winkler similarity (0..=1); rewards common prefixes: names.
    JaroWinkler,
    /// Levenshtein edit distance; the threshold is the number of edits allowed, the score
    /// `1 − distance / longer length`.
    Levenshtein,
    /// `1 − distance / longer length` (0..=1), thresholded as a similarity.
    NormalizedLevenshtein,
}

impl Metric {
    /// Every metric, in the order configuration errors list them.
    pub const ALL: [Metric; 3] = [
        Metric::JaroWinkler,
        Metric::Levenshtein,
        Metric::NormalizedLevenshtein,
    ];

    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Metric::JaroWinkler => "jaro_winkler",
            Metric::Levenshtein => "levenshtein",
            Metric::NormalizedLevenshtein => "normalized_levenshtein",
        }
    }

    /// The metric of a configuration name ([`Metric::name`]).
    ///
    /// ```
    /// use coupler_engine::Metric;
    ///
    /// assert_eq!(Metric::parse("jaro_winkler"), Some(Metric::JaroWinkler));
    /// assert_eq!(Metric::parse("soundex"), None);
    /// for metric in Metric::ALL {
    ///     assert_eq!(Metric::parse(metric.name()), Some(metric));
    /// }
    /// ```
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The threshold of a criterion that sets none: strict enough that a typo passes and a
    /// namesake does not.
    ///
    /// - Jaro-Winkler **0.94**: one wrong, missing or doubled letter after the first two, in a
    ///   name of ten or more characters, stays above it (Jaro-Winkler rewards a shared start);
    ///   two different names sharing their first word fall below it.
    /// - Normalized Levenshtein **0.85**: about one edit per seven characters.
    /// - Levenshtein **2** edits: two typos, whatever the length (for short codes and numbers,
    ///   where a proportion means less than a count).
    ///
    /// docs/performance.md's "What it buys" measures the Jaro-Winkler default on generated noisy data
    /// (precision 0.993 at recall 0.93 with the city as an exact criterion).
    ///
    /// ```
    /// use coupler_engine::{Fuzzy, Metric};
    ///
    /// assert_eq!(Metric::JaroWinkler.default_threshold(), 0.94);
    /// assert_eq!(Metric::NormalizedLevenshtein.default_threshold(), 0.85);
    /// assert_eq!(Metric::Levenshtein.default_threshold(), 2.0);
    /// // A typo passes, a namesake does not.
    /// let names = Fuzzy::new(Metric::JaroWinkler);
    /// assert!(names.score("becker logistik", "becker logistic").is_some());
    /// assert!(names.score("becker logistik", "becker immobilien").is_none());
    /// ```
    pub const fn default_threshold(self) -> f64 {
        match self {
            Metric::JaroWinkler => 0.94,
            Metric::NormalizedLevenshtein => 0.85,
            Metric::Levenshtein => 2.0,
        }
    }
}

/// How the candidates of a level of only fuzzy criteria are found: the candidates of a record
/// are those whose value shares its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// The first `n` characters of the (normalized) value.
    Prefix(usize),
    /// The first word of the (normalized) value, punctuation aside.
    FirstToken,
    /// The `n` candidates whose values sort nearest to the record's value.
    SortedNeighbourhood(usize),
}

impl Blocking {
    /// The window of [`Blocking::SortedNeighbourhood`] when none is configured: each record is
    /// compared with the 20 candidates whose values sort nearest to its own. A typo after the
    /// first letters moves a value only a few places in sort order, so 20 neighbours find it
    /// among many similar names, at a cost of 20 comparisons a record.
    pub const DEFAULT_WINDOW: usize = 20;

    /// The prefix length of [`Blocking::Prefix`] when none is configured: values sharing their
    /// first 3 characters. Shorter prefixes make blocks of thousands (every "Mül…"), longer ones
    /// lose the typos in the first letters.
    pub const DEFAULT_PREFIX: usize = 3;

    /// The blocking of a fuzzy criterion that sets none: sorted neighbourhood of
    /// [`Blocking::DEFAULT_WINDOW`] (it misses no typo after the first letter, and costs the same
    /// for every record whatever the data's skew).
    ///
    /// ```
    /// use coupler_engine::Blocking;
    ///
    /// assert_eq!(Blocking::DEFAULT, Blocking::SortedNeighbourhood(20));
    /// assert_eq!(Blocking::Prefix(Blocking::DEFAULT_PREFIX), Blocking::Prefix(3));
    /// assert_eq!(Blocking::DEFAULT.name(), "sorted_neighbourhood");
    /// ```
    pub const DEFAULT: Blocking = Blocking::SortedNeighbourhood(Blocking::DEFAULT_WINDOW);

    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Blocking::Prefix(_) => "prefix",
            Blocking::FirstToken => "first_token",
            Blocking::SortedNeighbourhood(_) => "sorted_neighbourhood",
        }
    }

    /// The block key of a value (prefix and first-token blocking).
    pub(crate) fn key(self, value: &str) -> &str {
        match self {
            Blocking::Prefix(n) => match value.char_indices().nth(n) {
                Some((end, _)) => &value[..end],
                None => value,
            },
            Blocking::FirstToken => value
                .split(|c: char| !c.is_alphanumeric())
                .find(|t| !t.is_empty())
                .unwrap_or(""),
            Blocking::SortedNeighbourhood(_) => value,
        }
    }
}

/// A fuzzy criterion's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fuzzy {
    /// The similarity measure.
    pub metric: Metric,
    /// The least similarity kept (0..=1), or for [`Metric::Levenshtein`] the most edits.
    pub threshold: f64,
    /// Best and second best closer than this (in score) make the level ambiguous.
    pub tie_margin: f64,
    /// How candidates are found when the level has no exact criterion.
    pub blocking: Blocking,
}

/// A value's characters counted by bucket (the low 8 bits of the code point), to bound a
/// similarity cheaply before computing it. Buckets shared by two characters only overcount, so
/// the bounds stay bounds.
pub(crate) struct CharProfile {
    counts: [u16; 256],
    chars: usize,
    /// Buckets taken by the comparison running, given back after it.
    taken: Vec<u8>,
}

impl CharProfile {
    pub(crate) fn new(value: &str) -> Self {
        let mut counts = [0u16; 256];
        let mut chars = 0;
        for c in value.chars() {
            let slot = &mut counts[(c as u32 & 0xFF) as usize];
            *slot = slot.saturating_add(1);
            chars += 1;
        }
        CharProfile {
            counts,
            chars,
            taken: Vec::new(),
        }
    }

    /// An upper bound of the characters `other` has in common with the profiled value (the
    /// most matches Jaro or Levenshtein can find), and `other`'s length in characters.
    fn common_with(&mut self, other: &str) -> (usize, usize) {
        let mut chars = 0;
        for c in other.chars() {
            let bucket = (c as u32 & 0xFF) as u8;
            let slot = &mut self.counts[bucket as usize];
            if *slot > 0 {
                *slot -= 1;
                self.taken.push(bucket);
            }
            chars += 1;
        }
        let common = self.taken.len();
        for &bucket in &self.taken {
            self.counts[bucket as usize] += 1;
        }
        self.taken.clear();
        (common, chars)
    }
}

impl Fuzzy {
    /// The tie margin of a criterion that sets none: a runner-up within 0.02 of the best
    /// makes the level ambiguous (`multiple_matches`). Two candidates that close differ by
    /// about a letter (namesakes, branches of one company); coupling the better one would be
    /// a guess BC would not make.
    pub const DEFAULT_TIE_MARGIN: f64 = 0.02;

    /// A fuzzy comparison by `metric` with every default: [`Metric::default_threshold`],
    /// [`Fuzzy::DEFAULT_TIE_MARGIN`] and [`Blocking::DEFAULT`]. Set fields to change one.
    ///
    /// ```
    /// use coupler_engine::{Blocking, Comparator, Fuzzy, Metric};
    ///
    /// let f = Fuzzy::new(Metric::Levenshtein);
    /// assert_eq!(
    ///     f,
    ///     Fuzzy {
    ///         metric: Metric::Levenshtein,
    ///         threshold: 2.0,
    ///         tie_margin: 0.02,
    ///         blocking: Blocking::SortedNeighbourhood(20),
    ///     }
    /// );
    /// // Two edits pass (score: 1 - edits / longer length), three do not.
    /// assert_eq!(f.score("C00010", "C00100"), Some(1.0 - 2.0 / 6.0));
    /// assert_eq!(f.score("C00010", "C01100"), None);
    /// // A criterion compares by similarity with it.
    /// let stricter = Comparator::Fuzzy(Fuzzy { threshold: 1.0, ..f });
    /// assert_ne!(stricter, Comparator::Exact);
    /// ```
    pub fn new(metric: Metric) -> Fuzzy {
        Fuzzy {
            metric,
            threshold: metric.default_threshold(),
            tie_margin: Fuzzy::DEFAULT_TIE_MARGIN,
            blocking: Blocking::DEFAULT,
        }
    }

    /// Whether `ours` (profiled) and `theirs` could reach the threshold: a bound from the
    /// characters they share, far cheaper than the similarity. Never false for a pair whose
    /// score passes (the bounds are exact upper bounds, widened by a rounding margin).
    pub(crate) fn may_pass(&self, ours: &str, profile: &mut CharProfile, theirs: &str) -> bool {
        const ROUNDING: f64 = 1e-9;
        let (common, their_chars) = profile.common_with(theirs);
        let (a, b) = (profile.chars, their_chars);
        if a == 0 || b == 0 {
            return true;
        }
        let (c, longer) = (common as f64, a.max(b) as f64);
        match self.metric {
            Metric::JaroWinkler => {
                if common == 0 {
                    return self.threshold <= 0.0;
                }
                // Jaro ≤ (m/|a| + m/|b| + 1) / 3 with m ≤ common; Winkler's boost grows with
                // Jaro for a prefix of at most 4.
                let jaro = (c / a as f64 + c / b as f64 + 1.0) / 3.0;
                let prefix = ours
                    .chars()
                    .zip(theirs.chars())
                    .take(4)
                    .take_while(|(x, y)| x == y)
                    .count() as f64;
                jaro + 0.1 * prefix * (1.0 - jaro) + ROUNDING >= self.threshold
            }
            // distance ≥ longer − common.
            Metric::Levenshtein => longer - c <= self.threshold,
            Metric::NormalizedLevenshtein => c / longer + ROUNDING >= self.threshold,
        }
    }

    /// The score of two values (0..=1), or `None` when they are not similar enough.
    pub fn score(&self, a: &str, b: &str) -> Option<f64> {
        match self.metric {
            Metric::JaroWinkler => {
                let s = strsim::jaro_winkler(a, b);
                (s >= self.threshold).then_some(s)
            }
            Metric::NormalizedLevenshtein => {
                let s = strsim::normalized_levenshtein(a, b);
                (s >= self.threshold).then_some(s)
            }
            Metric::Levenshtein => {
                let d = strsim::levenshtein(a, b);
                if d as f64 > self.threshold {
                    return None;
                }
                let longer = a.chars().count().max(b.chars().count());
                Some(if longer == 0 {
                    1.0
                } else {
                    1.0 - d as f64 / longer as f64
                })
            }
        }
    }
}

/// How a fuzzy criterion is configured: `compare = "exact"` or one of the metrics.
///
/// ```
/// use coupler_engine::{Blocking, Comparator, Fuzzy, Metric};
///
/// assert_eq!(Comparator::default(), Comparator::Exact);
/// let names = Fuzzy {
///     threshold: 0.9,
///     blocking: Blocking::Prefix(Blocking::DEFAULT_PREFIX),
///     ..Fuzzy::new(Metric::NormalizedLevenshtein)
/// };
/// // One edit in ten characters: 0.9, just enough.
/// assert_eq!(names.score("contoso AB", "contoso AS"), Some(0.9));
/// assert_eq!(names.score("contoso AB", "contoso NV"), None);
/// let compare = Comparator::Fuzzy(names);
/// assert!(matches!(compare, Comparator::Fuzzy(f) if f.threshold == 0.9));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Comparator {
    /// Equality (BC).
    #[default]
    Exact,
    /// Similarity.
    Fuzzy(Fuzzy),
}

/// Candidates of one fuzzy criterion grouped by block, over candidate positions.
pub(crate) enum Blocks {
    /// Positions by block key, in source order.
    Keyed(hashbrown::HashMap<String, Vec<u32>>),
    /// Positions sorted by value (ties in source order), and the window.
    Sorted { order: Vec<u32>, window: usize },
}

impl Blocks {
    /// Blocks over `values` (the folded value of each candidate position; blank values are in
    /// no block).
    pub(crate) fn build<'v>(blocking: Blocking, values: impl Fn(u32) -> &'v str, n: u32) -> Self {
        match blocking {
            Blocking::SortedNeighbourhood(window) => {
                let mut order: Vec<u32> = (0..n).filter(|&p| !values(p).is_empty()).collect();
                order.sort_by(|&a, &b| values(a).cmp(values(b)).then(a.cmp(&b)));
                Blocks::Sorted {
                    order,
                    window: window.max(1),
                }
            }
            _ => {
                let mut map: hashbrown::HashMap<String, Vec<u32>> = hashbrown::HashMap::new();
                for p in 0..n {
                    let v = values(p);
                    if v.is_empty() {
                        continue;
                    }
                    let key = blocking.key(v);
                    match map.get_mut(key) {
                        Some(list) => list.push(p),
                        None => {
                            map.insert(key.to_string(), vec![p]);
                        }
                    }
                }
                Blocks::Keyed(map)
            }
        }
    }

    /// The candidate positions in the block of `value`, in source order.
    pub(crate) fn block<'v>(
        &self,
        blocking: Blocking,
        value: &str,
        values: impl Fn(u32) -> &'v str,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        match self {
            Blocks::Keyed(map) => {
                if let Some(list) = map.get(blocking.key(value)) {
                    out.extend_from_slice(list);
                }
            }
            Blocks::Sorted { order, window } => {
                let at = order.partition_point(|&p| values(p) < value);
                let before = window / 2;
                let start = at.saturating_sub(before);
                let end = (start + window).min(order.len());
                let start = end.saturating_sub(*window).min(start);
                out.extend_from_slice(&order[start..end]);
                out.sort_unstable();
            }
        }
    }

    /// Size of the block of `value` (to pick the smallest of several fuzzy criteria).
    pub(crate) fn block_len(&self, blocking: Blocking, value: &str) -> usize {
        match self {
            Blocks::Keyed(map) => map.get(blocking.key(value)).map_or(0, Vec::len),
            Blocks::Sorted { order, window } => (*window).min(order.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fuzzy(metric: Metric, threshold: f64) -> Fuzzy {
        Fuzzy {
            metric,
            threshold,
            tie_margin: 0.0,
            blocking: Blocking::FirstToken,
        }
    }

    #[test]
    fn thresholds_are_inclusive() {
        let jw = fuzzy(Metric::JaroWinkler, 0.9);
        let s = strsim::jaro_winkler("contoso", "contosso");
        assert!(s > 0.9);
        assert_eq!(jw.score("contoso", "contosso"), Some(s));
        assert_eq!(
            fuzzy(Metric::JaroWinkler, s).score("contoso", "contosso"),
            Some(s)
        );
        assert_eq!(
            fuzzy(Metric::JaroWinkler, s + 1e-9).score("contoso", "contosso"),
            None
        );
        let lev = fuzzy(Metric::Levenshtein, 1.0);
        assert_eq!(lev.score("contoso", "contosso"), Some(1.0 - 1.0 / 8.0));
        assert_eq!(lev.score("contoso", "kontosso"), None);
        assert_eq!(lev.score("", ""), Some(1.0));
        let nl = fuzzy(Metric::NormalizedLevenshtein, 0.8);
        assert_eq!(nl.score("abcde", "abcdx"), Some(0.8));
        assert_eq!(nl.score("abcde", "abxdx"), None);
    }

    #[test]
    fn the_prefilter_never_drops_a_passing_pair() {
        let words = [
            "",
            "a",
            "ab",
            "ba",
            "contoso",
            "contosso",
            "kontoso",
            "contoso ltd",
            "ltd contoso",
            "müller",
            "muller",
            "mueller",
            "zoë",
            "zoe",
            "abcabc",
            "cbacba",
            "x",
            "xy z",
        ];
        for metric in [
            Metric::JaroWinkler,
            Metric::Levenshtein,
            Metric::NormalizedLevenshtein,
        ] {
            for threshold in [0.0, 0.5, 0.7, 0.85, 0.9, 1.0, 2.0, 3.0] {
                let f = fuzzy(metric, threshold);
                for a in words {
                    let mut profile = CharProfile::new(a);
                    for b in words {
                        if f.score(a, b).is_some() {
                            assert!(
                                f.may_pass(a, &mut profile, b),
                                "{metric:?} {threshold} {a:?} {b:?}"
                            );
                        }
                    }
                }
            }
        }
        // And it does prune what is far apart.
        let jw = fuzzy(Metric::JaroWinkler, 0.9);
        let mut profile = CharProfile::new("becker logistik");
        assert!(!jw.may_pass("becker logistik", &mut profile, "smith & jones"));
        // A comparison leaves the profile as it was.
        assert!(jw.may_pass("becker logistik", &mut profile, "becker logistic"));
    }

    #[test]
    fn block_keys() {
        assert_eq!(Blocking::Prefix(3).key("müller"), "mül");
        assert_eq!(Blocking::Prefix(3).key("ab"), "ab");
        assert_eq!(Blocking::FirstToken.key("  o'brien & co"), "o");
        assert_eq!(Blocking::FirstToken.key("contoso, ltd"), "contoso");
        assert_eq!(Blocking::FirstToken.key("--"), "");
    }

    #[test]
    fn sorted_neighbourhood_takes_the_nearest_window() {
        let values = ["delta", "alpha", "", "charlie", "bravo", "echo", "foxtrot"];
        let v = |p: u32| values[p as usize];
        let blocking = Blocking::SortedNeighbourhood(2);
        let blocks = Blocks::build(blocking, v, values.len() as u32);
        let mut out = Vec::new();
        // Sorted: alpha(1) bravo(4) charlie(3) delta(0) echo(5) foxtrot(6); "charles" sorts
        // before charlie: the window is bravo, charlie.
        blocks.block(blocking, "charles", v, &mut out);
        assert_eq!(out, vec![3, 4]);
        blocks.block(blocking, "aaa", v, &mut out);
        assert_eq!(out, vec![1, 4]);
        blocks.block(blocking, "zulu", v, &mut out);
        assert_eq!(out, vec![5, 6]);
        let keyed = Blocks::build(Blocking::Prefix(1), v, values.len() as u32);
        keyed.block(Blocking::Prefix(1), "dx", v, &mut out);
        assert_eq!(out, vec![0]);
        assert_eq!(keyed.block_len(Blocking::Prefix(1), "zz"), 0);
    }
}
