//! What a coupling job is asked to do: a table mapping's match criteria, filters and captions,
//! and the couplings that already exist.

use std::sync::Arc;

use hashbrown::HashMap;

use crate::fuzzy::Comparator;
use crate::ids::{canonical_integration_id, canonical_local_id};
use crate::normalize::Normalizer;
use crate::value::FieldType;

/// A field mapping flagged "Match on this Field".
///
/// [`MatchCriterion::new`] makes one as BC has it; the fields beyond BC (normalizers, a fuzzy
/// comparator, an option map) are set on top of it.
///
/// ```
/// use coupler_engine::normalize::Normalizer;
/// use coupler_engine::{Comparator, FieldType, Fuzzy, MatchCriterion, Metric};
///
/// // Phone No. = telephone1 at priority 0, case-insensitive: BC's comparison.
/// let phone = MatchCriterion::new("Phone No.", "telephone1", FieldType::Text, 0, false);
/// assert_eq!((phone.priority, phone.comparator), (0, Comparator::Exact));
/// assert!(!phone.is_beyond_bc());
/// // The same, comparing digits only: beyond BC.
/// let digits = MatchCriterion { normalizers: vec![Normalizer::Digits], ..phone };
/// assert!(digits.is_beyond_bc());
/// // A name compared by Jaro-Winkler similarity at priority 1.
/// let name = MatchCriterion {
///     comparator: Comparator::Fuzzy(Fuzzy::new(Metric::JaroWinkler)),
///     ..MatchCriterion::new("Name", "name", FieldType::Text, 1, false)
/// };
/// assert!(name.is_beyond_bc());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchCriterion {
    /// Column of the local (BC) table.
    pub local_field: String,
    /// Column of the integration (Dataverse) table.
    pub integration_field: String,
    /// Type of the local field: decides how values compare.
    pub field_type: FieldType,
    /// Match priority: 0 is evaluated first (BC: blank = 0 = highest).
    pub priority: u32,
    /// BC's "Case-Sensitive Matching".
    pub case_sensitive: bool,
    /// Beyond BC: rewrites applied to both sides before comparison (text and code only).
    pub normalizers: Vec<Normalizer>,
    /// Beyond BC: equality (default) or a similarity with a threshold (text and code only).
    pub comparator: Comparator,
    /// For [`FieldType::Option`]: BC option caption → Dataverse choice value.
    pub options: OptionMap,
    /// Beyond BC: a lookup through another mapping's couplings (`via = "CUSTOMER"`). The
    /// local value is a key of that mapping's local records, compared as the integration id
    /// its coupling gives; the integration column holds ids. Blank sets no condition; a key no
    /// coupling translates sets a condition no row meets (traced `no_match(not coupled: K)`).
    pub via: Option<Arc<Translation>>,
}

impl MatchCriterion {
    /// An exact criterion, as BC has them.
    pub fn new(
        local_field: impl Into<String>,
        integration_field: impl Into<String>,
        field_type: FieldType,
        priority: u32,
        case_sensitive: bool,
    ) -> Self {
        MatchCriterion {
            local_field: local_field.into(),
            integration_field: integration_field.into(),
            field_type,
            priority,
            case_sensitive,
            ..Default::default()
        }
    }

    /// Whether the engine compares derived values (normalized, fuzzy or option-mapped) rather
    /// than the cells as read: such a criterion cannot be pushed down to a server query.
    pub fn is_beyond_bc(&self) -> bool {
        !self.normalizers.is_empty()
            || self.comparator != Comparator::Exact
            || self.field_type == FieldType::Option
            || self.via.is_some()
    }

    /// What is wrong with this criterion's settings beyond BC, if anything.
    fn problem(&self) -> Option<String> {
        if let Some(via) = &self.via {
            if !self.normalizers.is_empty()
                || self.comparator != Comparator::Exact
                || self.field_type == FieldType::Option
            {
                return Some(format!(
                    "a lookup through {}'s couplings compares record ids exactly: it takes no normalizers, fuzzy comparison or option map",
                    via.mapping()
                ));
            }
            return None;
        }
        let text_like = self.field_type.is_text_like();
        if !self.normalizers.is_empty() && !text_like {
            return Some(format!(
                "normalizers apply to text and code fields only (this field is {})",
                self.field_type.name()
            ));
        }
        if let Comparator::Fuzzy(f) = self.comparator {
            if !text_like {
                return Some(format!(
                    "fuzzy comparison applies to text and code fields only (this field is {})",
                    self.field_type.name()
                ));
            }
            let limit = match f.metric {
                crate::fuzzy::Metric::Levenshtein => f64::INFINITY,
                _ => 1.0,
            };
            if !(f.threshold >= 0.0 && f.threshold <= limit) {
                return Some(match f.metric {
                    crate::fuzzy::Metric::Levenshtein => format!(
                        "threshold {} is not a number of edits (0 or more)",
                        f.threshold
                    ),
                    m => format!(
                        "threshold {} of {} must lie between 0 and 1",
                        f.threshold,
                        m.name()
                    ),
                });
            }
            if !(f.tie_margin >= 0.0 && f.tie_margin <= 1.0) {
                return Some(format!(
                    "tie_margin {} must lie between 0 and 1",
                    f.tie_margin
                ));
            }
            if let crate::fuzzy::Blocking::SortedNeighbourhood(0) = f.blocking {
                return Some("the sorted-neighbourhood window must hold at least 1".into());
            }
        }
        if self.field_type == FieldType::Option && self.options.is_empty() {
            return Some(
                "an option field needs its option map (options = { \"Caption\" = value, … }, or read from Dataverse)".into(),
            );
        }
        None
    }
}

/// A mapping's couplings as a lookup table, for a criterion or field `via` that mapping: local
/// key → integration id, both in canonical form ([`crate::ids`]).
///
/// ```
/// use coupler_engine::Translation;
///
/// let mut customers = Translation::new("CUSTOMER");
/// customers.add("c00010 ", "{5F641B45-48BC-A138-BE13-4EA95426DD94}");
/// assert_eq!(customers.translate("C00010"), Some("5f641b45-48bc-a138-be13-4ea95426dd94"));
/// assert_eq!(customers.translate("C00042"), None);
/// assert_eq!(customers.local_key("5F641B45-48BC-A138-BE13-4EA95426DD94"), Some("C00010"));
/// assert_eq!((customers.mapping(), customers.len()), ("CUSTOMER", 1));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translation {
    mapping: String,
    /// (local key, integration id), in the order added; a local key once.
    couplings: Vec<(String, String)>,
    /// Local key → its position in `couplings`.
    by_local: HashMap<String, u32>,
    /// Integration id → the position of the first coupling holding it; built when first asked
    /// for (only a synchronization towards BC needs it).
    by_integration: std::sync::OnceLock<HashMap<String, u32>>,
}

impl Translation {
    /// No couplings yet, of the mapping named `mapping`.
    pub fn new(mapping: impl Into<String>) -> Self {
        Translation {
            mapping: mapping.into(),
            ..Translation::default()
        }
    }

    /// Adds a coupling; the first one recorded for a local key wins (and, translating back,
    /// the first one recorded for an integration id).
    pub fn add(&mut self, local_key: &str, integration_id: &str) {
        let local_key = canonical_local_id(local_key);
        let integration_id = canonical_integration_id(integration_id);
        if local_key.is_empty()
            || integration_id.trim().is_empty()
            || self.by_local.contains_key(&*local_key)
        {
            return;
        }
        self.by_local
            .insert(local_key.to_string(), self.couplings.len() as u32);
        self.couplings
            .push((local_key.into_owned(), integration_id.into_owned()));
        self.by_integration = std::sync::OnceLock::new();
    }

    /// The integration id the local record `local_key` is coupled to.
    pub fn translate(&self, local_key: &str) -> Option<&str> {
        let at = *self.by_local.get(&*canonical_local_id(local_key))?;
        Some(&self.couplings[at as usize].1)
    }

    /// The local key of the record coupled to `integration_id`.
    pub fn local_key(&self, integration_id: &str) -> Option<&str> {
        let by_integration = self.by_integration.get_or_init(|| {
            let mut map = HashMap::with_capacity(self.couplings.len());
            for (at, (_, id)) in self.couplings.iter().enumerate() {
                map.entry(id.clone()).or_insert(at as u32);
            }
            map
        });
        let at = *by_integration.get(&*canonical_integration_id(integration_id))?;
        Some(&self.couplings[at as usize].0)
    }

    /// What a local cell refers to: blank, a local record coupled to an integration id, or a
    /// key (canonical) no coupling translates.
    pub fn resolve_key<'c>(&self, cell: &'c str) -> Reference<'_, 'c> {
        let key = canonical_local_id(cell);
        if key.is_empty() {
            return Reference::Blank;
        }
        match self.translate(&key) {
            Some(id) => Reference::Coupled(id),
            None => Reference::NotCoupled(key),
        }
    }

    /// What an integration cell refers to: blank, a row coupled to a local key, or an id
    /// (canonical) no coupling holds.
    pub fn resolve_id<'c>(&self, cell: &'c str) -> Reference<'_, 'c> {
        let id = canonical_integration_id(cell.trim());
        if id.is_empty() {
            return Reference::Blank;
        }
        match self.local_key(&id) {
            Some(key) => Reference::Coupled(key),
            None => Reference::NotCoupled(id),
        }
    }

    /// The mapping whose couplings these are.
    pub fn mapping(&self) -> &str {
        &self.mapping
    }

    /// Number of couplings.
    pub fn len(&self) -> usize {
        self.couplings.len()
    }

    /// True when the mapping has no coupling (every non-blank key is untranslatable).
    pub fn is_empty(&self) -> bool {
        self.couplings.is_empty()
    }
}

/// What a lookup value refers to, through a [`Translation`] ([`Translation::resolve_key`],
/// [`Translation::resolve_id`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference<'t, 'c> {
    /// A blank value: no reference.
    Blank,
    /// The other side's value of the coupled record.
    Coupled(&'t str),
    /// A value (canonical) whose record is not coupled.
    NotCoupled(std::borrow::Cow<'c, str>),
}

/// BC option captions and the Dataverse choice values they stand for (BC's "CRM Option
/// Mapping"). Captions are looked up trimmed and case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptionMap {
    entries: Vec<(String, i64)>,
    /// Each entry's caption, trimmed and lower-cased (the lookup key).
    keys: Vec<String>,
}

impl OptionMap {
    /// A map from `(caption, value)` pairs; a later pair for the same caption replaces the
    /// earlier one.
    pub fn new(pairs: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut map = OptionMap::default();
        for (caption, value) in pairs {
            map.insert(caption, value);
        }
        map
    }

    /// Adds or replaces a caption.
    pub fn insert(&mut self, caption: String, value: i64) {
        let key = caption.trim().to_lowercase();
        match self.keys.iter().position(|k| *k == key) {
            Some(i) => self.entries[i] = (caption, value),
            None => {
                self.entries.push((caption, value));
                self.keys.push(key);
            }
        }
    }

    /// The value of a caption.
    pub fn value(&self, caption: &str) -> Option<i64> {
        let caption = caption.trim();
        let position = match self.keys.iter().position(|k| k == caption) {
            Some(i) => Some(i),
            None => {
                let key = caption.to_lowercase();
                self.keys.iter().position(|k| *k == key)
            }
        };
        position.map(|i| self.entries[i].1)
    }

    /// Whether some caption maps to `value`.
    pub fn has_value(&self, value: i64) -> bool {
        self.entries.iter().any(|&(_, v)| v == value)
    }

    /// The pairs, in the order given.
    pub fn entries(&self) -> &[(String, i64)] {
        &self.entries
    }

    /// True when no caption is mapped.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// How text values compare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Collation {
    /// BC-exact: as stored (case-insensitive unless the criterion is case-sensitive).
    #[default]
    Exact,
    /// Dataverse's SQL collation, which decides in production whatever the case-sensitive flag
    /// says: case-insensitive, trailing spaces ignored, accent-insensitive (`_CI_AI`, most
    /// languages) or accent-sensitive (`_CI_AS`: Finnish, Swedish, …).
    Dataverse { accent_sensitive: bool },
}

/// How priority levels combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PriorityMode {
    /// BC: the conditions of earlier levels stay in force (level k = AND of levels 0..k; a later
    /// condition on the same integration field replaces the earlier one).
    #[default]
    Cumulative,
    /// Opt-in: each level is evaluated on its own.
    Independent,
}

/// A table filter: every `(column, value)` must hold, compared as raw text; the rows that pass
/// are [`crate::passing_rows`]'s.
pub type TableFilter = Vec<(String, String)>;

/// One table mapping's coupling job, as the engine needs it.
///
/// Criteria of one priority form a level; levels are tried in ascending priority, and (BC's
/// cumulative mode) a level's conditions add to the earlier levels'.
///
/// ```
/// use coupler_engine::{
///     couple, Collation, CouplingSpec, EngineError, ExistingCouplings, FieldType,
///     MatchCriterion, PriorityMode, RunOptions, Table,
/// };
///
/// let spec = CouplingSpec {
///     mapping_name: "CUSTOMER".into(),
///     local_caption: "Customer".into(),
///     integration_caption: "Account".into(),
///     integration_source: "accounts.csv".into(),
///     local_key: "No.".into(),
///     integration_key: "accountid".into(),
///     // Name first; where the name alone is ambiguous, name and city.
///     criteria: vec![
///         MatchCriterion::new("Name", "name", FieldType::Text, 0, false),
///         MatchCriterion::new("City", "address1_city", FieldType::Text, 1, false),
///     ],
///     priority_mode: PriorityMode::Cumulative,
///     collation: Collation::Exact,
///     local_filter: vec![],
///     // Active accounts only (BC's Integration Table Filter).
///     integration_filter: vec![("statecode".into(), "0".into())],
/// };
/// assert_eq!(spec.local_columns(), ["No.", "Name", "City"]);
/// assert_eq!(
///     spec.integration_columns(),
///     ["accountid", "statecode", "name", "address1_city"]
/// );
/// assert_eq!(spec.friendly_name(), "Customer - Account");
///
/// let customers = Table::from_rows(
///     "customers.csv",
///     &["No.", "Name", "City"],
///     &[vec!["C1", "Fabrikam", "Bergen"]],
/// )?;
/// let accounts = Table::from_rows(
///     "accounts.csv",
///     &["accountid", "name", "address1_city", "statecode"],
///     &[
///         vec!["A1", "Fabrikam", "Oslo", "0"],
///         vec!["A2", "Fabrikam", "Bergen", "0"],
///         vec!["A3", "Fabrikam", "Bergen", "1"],
///     ],
/// )?;
/// let existing = ExistingCouplings::new();
/// let run = couple(&spec, &customers, &accounts, &existing, RunOptions::default())?;
/// let record = &run.outcomes()[0];
/// // Two active Fabrikams at level 0; one of them in Bergen at level 1.
/// let trace: Vec<String> = run.trace(record).map(|t| t.to_string()).collect();
/// assert_eq!(trace, ["p0:multiple(2)", "p1:coupled"]);
/// assert_eq!(run.outcomes()[0].outcome.name(), "coupled");
///
/// // A criterion on the filtered column would replace the filter in BC: refused.
/// let mut on_filtered = spec.clone();
/// on_filtered.integration_filter = vec![("name".into(), "Fabrikam".into())];
/// assert!(matches!(
///     on_filtered.validate(),
///     Err(EngineError::CriterionOnFilteredColumn { .. })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CouplingSpec {
    /// BC's table-mapping name, e.g. `CUSTOMER`.
    pub mapping_name: String,
    /// Local table caption (M1 message), e.g. `Customer`.
    pub local_caption: String,
    /// Integration table caption (M1 message), e.g. `Account`.
    pub integration_caption: String,
    /// How the integration source is named in messages: the Dataverse URL, or a file name.
    pub integration_source: String,
    /// The local record id column.
    pub local_key: String,
    /// The integration record id column.
    pub integration_key: String,
    /// Match criteria in declaration order.
    pub criteria: Vec<MatchCriterion>,
    /// Cumulative (BC) or independent levels.
    pub priority_mode: PriorityMode,
    /// How text and code values compare (default: BC-exact).
    pub collation: Collation,
    /// Which local records take part.
    pub local_filter: TableFilter,
    /// Which integration records are candidates (BC's Integration Table Filter).
    pub integration_filter: TableFilter,
}

impl CouplingSpec {
    /// Columns the engine reads from the local table (key, filter, criteria), without repeats.
    pub fn local_columns(&self) -> Vec<String> {
        unique(
            std::iter::once(&self.local_key)
                .chain(self.local_filter.iter().map(|(c, _)| c))
                .chain(self.criteria.iter().map(|c| &c.local_field)),
        )
    }

    /// Columns the engine reads from the integration table, without repeats.
    pub fn integration_columns(&self) -> Vec<String> {
        unique(
            std::iter::once(&self.integration_key)
                .chain(self.integration_filter.iter().map(|(c, _)| c))
                .chain(self.criteria.iter().map(|c| &c.integration_field)),
        )
    }

    /// Checks what can be checked without data: the number of criteria, and that no criterion
    /// conditions a column the integration filter restricts (in BC the criterion would silently
    /// replace the filter's condition).
    pub fn validate(&self) -> Result<(), crate::EngineError> {
        if self.criteria.len() > crate::MAX_CRITERIA {
            return Err(crate::EngineError::TooManyCriteria {
                mapping: self.mapping_name.clone(),
                count: self.criteria.len(),
            });
        }
        for c in &self.criteria {
            if let Some(problem) = c.problem() {
                return Err(crate::EngineError::InvalidCriterion {
                    mapping: self.mapping_name.clone(),
                    field: c.local_field.clone(),
                    problem,
                });
            }
        }
        if let Some(c) = self.criteria.iter().find(|c| {
            self.integration_filter
                .iter()
                .any(|(col, _)| *col == c.integration_field)
        }) {
            return Err(crate::EngineError::CriterionOnFilteredColumn {
                mapping: self.mapping_name.clone(),
                column: c.integration_field.clone(),
            });
        }
        Ok(())
    }

    /// The conditions one record is matched with at each priority level, as indices into
    /// `criteria`: `None` for a level whose criteria are all blank for this record (no filter,
    /// no candidates). `blank(i)` tells whether the record's value of criterion `i` is blank
    /// text/code. The rules the engine applies: cumulative mode keeps earlier levels' conditions
    /// in force, a later condition on the same integration field replaces an earlier one, a
    /// blank criterion sets no condition; independent mode takes each level on its own.
    /// (Adapters use it to plan reads; the engine's matcher applies the same rules to codes.)
    pub fn conditions_per_level(&self, blank: &dyn Fn(usize) -> bool) -> Vec<Option<Vec<usize>>> {
        let mut priorities: Vec<u32> = self.criteria.iter().map(|c| c.priority).collect();
        priorities.sort_unstable();
        priorities.dedup();
        // In force: (integration field, criterion), one per field.
        let mut in_force: Vec<(&str, usize)> = Vec::new();
        priorities
            .into_iter()
            .map(|p| {
                if self.priority_mode == PriorityMode::Independent {
                    in_force.clear();
                }
                let mut applied = false;
                for (i, c) in self.criteria.iter().enumerate() {
                    if c.priority != p || blank(i) {
                        continue;
                    }
                    applied = true;
                    match in_force.iter_mut().find(|(f, _)| *f == c.integration_field) {
                        Some(slot) => slot.1 = i,
                        None => in_force.push((&c.integration_field, i)),
                    }
                }
                applied.then(|| {
                    let mut set: Vec<usize> = in_force.iter().map(|&(_, i)| i).collect();
                    set.sort_unstable();
                    set
                })
            })
            .collect()
    }

    /// BC's user-friendly mapping name: `<local caption> - <integration caption>`.
    pub fn friendly_name(&self) -> String {
        format!("{} - {}", self.local_caption, self.integration_caption)
    }
}

fn unique<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

/// Couplings that exist before the job runs (a `couplings.csv`, the store, or couplings made by
/// an earlier mapping of the same run).
///
/// BC's rule: an integration id that appears in **any** coupling is taken, whatever table or
/// mapping it belongs to; a local record is skipped when it is coupled in **this** mapping.
///
/// Ids are kept in their canonical form ([`crate::ids`]), so a coupling held as
/// `C9,{5F641B45-48BC-A138-BE13-4EA95426DD94}` (as BC shows a CRM ID) holds the account
/// `5f641b45-48bc-a138-be13-4ea95426dd94`, and `c00010 ` is customer `C00010`; lookups take any
/// spelling.
///
/// ```
/// use coupler_engine::ExistingCouplings;
///
/// let mut existing = ExistingCouplings::new();
/// existing.add_own("c00010 ", "{5F641B45-48BC-A138-BE13-4EA95426DD94}");
/// existing.add_other("V1", "e6f8ed18-c7b7-4a95-a5bc-44ab02629774");
/// assert_eq!(
///     existing.coupled_integration_id("C00010"),
///     Some("5f641b45-48bc-a138-be13-4ea95426dd94")
/// );
/// assert_eq!(existing.holder_of("E6F8ED18-C7B7-4A95-A5BC-44AB02629774"), Some("V1"));
/// // Only this mapping's couplings skip a local record.
/// assert_eq!(existing.coupled_integration_id("V1"), None);
/// assert_eq!(existing.taken_count(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExistingCouplings {
    own: HashMap<String, String>,
    taken: HashMap<String, String>,
}

impl ExistingCouplings {
    /// No couplings.
    pub fn new() -> Self {
        Self::default()
    }

    /// A coupling of this mapping: the local record is skipped, the integration id is taken.
    /// The first coupling recorded for an id wins.
    pub fn add_own(&mut self, local_id: &str, integration_id: &str) {
        let local_id = canonical_local_id(local_id);
        let integration_id = canonical_integration_id(integration_id);
        if !self.own.contains_key(&*local_id) {
            self.own
                .insert(local_id.to_string(), integration_id.to_string());
        }
        self.take(&local_id, &integration_id);
    }

    /// A coupling of another mapping (or table): only the integration id is taken.
    pub fn add_other(&mut self, local_id: &str, integration_id: &str) {
        self.take(
            &canonical_local_id(local_id),
            &canonical_integration_id(integration_id),
        );
    }

    /// Takes a (canonical) integration id for a (canonical) local id, unless it is taken.
    fn take(&mut self, local_id: &str, integration_id: &str) {
        if !self.taken.contains_key(integration_id) {
            self.taken
                .insert(integration_id.to_string(), local_id.to_string());
        }
    }

    /// The integration id a local record of this mapping is coupled to (canonical).
    pub fn coupled_integration_id(&self, local_id: &str) -> Option<&str> {
        self.own
            .get(&*canonical_local_id(local_id))
            .map(String::as_str)
    }

    /// The local id holding an integration id, if it is taken (canonical).
    pub fn holder_of(&self, integration_id: &str) -> Option<&str> {
        self.taken
            .get(&*canonical_integration_id(integration_id))
            .map(String::as_str)
    }

    /// Every taken integration id (canonical).
    pub fn taken_ids(&self) -> impl Iterator<Item = &str> {
        self.taken.keys().map(String::as_str)
    }

    /// Every local id coupled in this mapping (canonical).
    pub fn coupled_local_ids(&self) -> impl Iterator<Item = &str> {
        self.own.keys().map(String::as_str)
    }

    /// Number of distinct taken integration ids.
    pub fn taken_count(&self) -> usize {
        self.taken.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mode: PriorityMode, criteria: &[(&str, u32)]) -> CouplingSpec {
        CouplingSpec {
            mapping_name: "M".into(),
            local_caption: "L".into(),
            integration_caption: "I".into(),
            integration_source: "i.csv".into(),
            local_key: "id".into(),
            integration_key: "id".into(),
            criteria: criteria
                .iter()
                .map(|&(field, priority)| {
                    MatchCriterion::new(
                        format!("local {field}"),
                        field,
                        FieldType::Text,
                        priority,
                        false,
                    )
                })
                .collect(),
            priority_mode: mode,
            collation: crate::Collation::Exact,
            local_filter: vec![],
            integration_filter: vec![],
        }
    }

    #[test]
    fn existing_couplings_take_any_spelling_of_an_id() {
        let mut existing = ExistingCouplings::new();
        existing.add_other("C9", "{5F641B45-48BC-A138-BE13-4EA95426DD94}");
        existing.add_own(" c00010", "E6F8ED18-C7B7-4A95-A5BC-44AB02629774");
        // Later spellings of ids already recorded change nothing: the first coupling wins.
        existing.add_own("C00010", "0e01f176-09a0-41bb-9566-9e3fd49cd429");
        existing.add_other("C1", "5f641b45-48bc-a138-be13-4ea95426dd94");
        let guid = "5f641b45-48bc-a138-be13-4ea95426dd94";
        assert_eq!(existing.holder_of(guid), Some("C9"));
        assert_eq!(
            existing.holder_of("{5f641b45-48BC-a138-be13-4ea95426dd94}"),
            Some("C9")
        );
        assert_eq!(
            existing.coupled_integration_id("C00010 "),
            Some("e6f8ed18-c7b7-4a95-a5bc-44ab02629774")
        );
        // Every coupling's integration id is taken (the second one of C00010's too).
        assert_eq!(existing.taken_count(), 3);
        let mut taken: Vec<&str> = existing.taken_ids().collect();
        taken.sort_unstable();
        assert_eq!(
            taken,
            [
                "0e01f176-09a0-41bb-9566-9e3fd49cd429",
                guid,
                "e6f8ed18-c7b7-4a95-a5bc-44ab02629774"
            ]
        );
        assert_eq!(existing.coupled_local_ids().collect::<Vec<_>>(), ["C00010"]);
    }

    #[test]
    fn conditions_accumulate_replace_and_skip_blanks() {
        // phone@0, name@1, phone@2 (replaces the first phone), city@2
        let s = spec(
            PriorityMode::Cumulative,
            &[("phone", 0), ("name", 1), ("phone", 2), ("city", 2)],
        );
        assert_eq!(
            s.conditions_per_level(&|_| false),
            vec![Some(vec![0]), Some(vec![0, 1]), Some(vec![1, 2, 3])]
        );
        // A blank phone sets no condition: level 0 has none; the later phone is also blank.
        let blank_phone = |i: usize| i == 0 || i == 2;
        assert_eq!(
            s.conditions_per_level(&blank_phone),
            vec![None, Some(vec![1]), Some(vec![1, 3])]
        );
        let s = spec(
            PriorityMode::Independent,
            &[("phone", 0), ("name", 1), ("city", 1)],
        );
        assert_eq!(
            s.conditions_per_level(&|i| i == 1),
            vec![Some(vec![0]), Some(vec![2])]
        );
    }
}
