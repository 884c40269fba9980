//! A run rendered as the rows of `results.csv` and `couplings.csv` (contract: "Output files"),
//! with BC's per-record messages (docs/semantics.md#outcomes). Writing them is an adapter's job.

use std::fmt::Write;

use crate::couple::CouplingRun;
use crate::hint::AHEAD;
use crate::outcome::{no_criteria_message, Outcome, RecordOutcome};

/// Header of `results.csv`.
pub const RESULTS_HEADER: [&str; 10] = [
    "local_id",
    "outcome",
    "integration_id",
    "priority",
    "match_count",
    "candidates",
    "coupled_to",
    "trace",
    "message",
    "holder_origin",
];

/// Which `results.csv` columns hold ids users join on (written raw, never formula-escaped).
pub const RESULTS_ID_COLUMNS: [bool; 10] = [
    true, false, true, false, false, false, false, false, false, false,
];

/// Columns added to `results.csv` when a mapping has criteria beyond BC (normalizers, fuzzy
/// comparison, option fields): the fuzzy score of the deciding level's candidate, and the values
/// each criterion in force compared.
pub const RESULTS_DETAIL_HEADER: [&str; 2] = ["score", "matched_values"];

/// Header of `couplings.csv`.
pub const COUPLINGS_HEADER: [&str; 3] = ["local_id", "integration_id", "priority"];

/// Which `couplings.csv` columns hold ids.
pub const COUPLINGS_ID_COLUMNS: [bool; 3] = [true, true, false];

/// At most this many candidate ids are listed for `multiple_matches`.
pub const MAX_CANDIDATES: usize = 10;

/// Reusable buffers for one `results.csv` row; render with [`Renderer::render`].
#[derive(Debug, Default, Clone)]
pub struct ResultRow {
    fields: [String; 10],
}

/// The integration ids a range of records shows, read in integration-row order and kept for
/// rendering in record order ([`Renderer::gather_ids`]).
///
/// A range's coupled rows are scattered over the whole integration table: read in record order,
/// nearly every id costs a cache and TLB miss. Sorted by row, a range of thousands of records
/// reads the id column as a forward sweep. The core that renders the range gathers it, so the
/// copies are in its own cache when the rows are rendered.
#[derive(Debug, Default)]
pub struct IdBatch {
    /// Position of the range's first record.
    first: usize,
    /// Per record of the range: the span of its id in `text`, or `None`.
    spans: Vec<Option<(u32, u32)>>,
    text: String,
}

impl IdBatch {
    /// The gathered id of the record at position `i`, if it shows one.
    fn get(&self, i: usize) -> Option<&str> {
        let (start, end) = (*self.spans.get(i.checked_sub(self.first)?)?)?;
        Some(&self.text[start as usize..end as usize])
    }
}

/// Renders the rows of a run, reusing buffers (no allocation per row once warm).
///
/// ```
/// # use coupler_engine::{couple, Collation, CouplingSpec, ExistingCouplings, FieldType,
/// #     MatchCriterion, PriorityMode, RunOptions, Table};
/// use coupler_engine::report::{Renderer, ResultRow, COUPLINGS_HEADER, RESULTS_HEADER};
///
/// # let spec = CouplingSpec {
/// #     mapping_name: "CUSTOMER".into(),
/// #     local_caption: "Customer".into(),
/// #     integration_caption: "Account".into(),
/// #     integration_source: "accounts.csv".into(),
/// #     local_key: "No.".into(),
/// #     integration_key: "accountid".into(),
/// #     criteria: vec![MatchCriterion::new("Name", "name", FieldType::Text, 0, false)],
/// #     priority_mode: PriorityMode::Cumulative,
/// #     collation: Collation::Exact,
/// #     local_filter: vec![],
/// #     integration_filter: vec![],
/// # };
/// // customers C1 "Contoso", C2 "Fabrikam"; accounts A1 "Contoso", A2 and A3 "Fabrikam".
/// # let customers = Table::from_rows("customers.csv", &["No.", "Name"],
/// #     &[vec!["C1", "Contoso"], vec!["C2", "Fabrikam"]])?;
/// # let accounts = Table::from_rows("accounts.csv", &["accountid", "name"],
/// #     &[vec!["A1", "Contoso"], vec!["A2", "Fabrikam"], vec!["A3", "Fabrikam"]])?;
/// # let existing = ExistingCouplings::new();
/// let run = couple(&spec, &customers, &accounts, &existing, RunOptions::default())?;
/// let renderer = Renderer::new(&run);
/// let mut row = ResultRow::default();
///
/// let coupled = renderer.render(0, &mut row);
/// assert_eq!(RESULTS_HEADER[..4], ["local_id", "outcome", "integration_id", "priority"]);
/// assert_eq!(coupled[..5], ["C1", "coupled", "A1", "0", "1"]);
/// assert_eq!(coupled[7], "p0:coupled");
/// // Its couplings.csv row.
/// assert_eq!(COUPLINGS_HEADER, ["local_id", "integration_id", "priority"]);
/// assert_eq!(Renderer::coupling(&run.outcomes()[0], &coupled), Some(["C1", "A1", "0"]));
///
/// let multiple = renderer.render(1, &mut row);
/// assert_eq!(multiple[..6], ["C2", "multiple_matches", "", "0", "2", "A2|A3"]);
/// assert_eq!(
///     multiple[8],
///     "Multiple matching entities found for C2 in accounts.csv \
///      by matching on following fields: Name."
/// );
/// assert_eq!(Renderer::coupling(&run.outcomes()[1], &multiple), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Renderer<'r, 'a> {
    run: &'r CouplingRun<'a>,
    no_criteria: String,
    details: bool,
    /// Texts every row repeats, formatted once: each level's priority, and its trace prefix
    /// (`p0:`); the messages' end after the record's id (`in accounts.csv by matching on …`).
    priorities: Vec<String>,
    trace_prefixes: Vec<String>,
    located: String,
}

impl<'r, 'a> Renderer<'r, 'a> {
    /// A renderer for `run`.
    pub fn new(run: &'r CouplingRun<'a>) -> Self {
        let spec = run.spec();
        let criteria_names = spec
            .criteria
            .iter()
            .map(|c| c.local_field.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let located = format!(
            " in {} by matching on following fields: {criteria_names}",
            spec.integration_source
        );
        Renderer {
            run,
            no_criteria: no_criteria_message(spec),
            details: spec.criteria.iter().any(|c| c.is_beyond_bc()),
            priorities: run.priorities().iter().map(u32::to_string).collect(),
            trace_prefixes: run.priorities().iter().map(|p| format!("p{p}:")).collect(),
            located,
        }
    }

    /// Whether rows carry the [`RESULTS_DETAIL_HEADER`] columns (criteria beyond BC).
    pub fn has_details(&self) -> bool {
        self.details
    }

    /// The [`RESULTS_DETAIL_HEADER`] fields of the record at position `i`: the score with four
    /// decimals (fuzzy levels), and `field: value` per criterion in force at the deciding level,
    /// `field: ours ≈ theirs (score)` for a fuzzy criterion, joined by `; `; and the score itself
    /// (for statistics, without computing it again).
    pub fn render_details<'b>(
        &self,
        i: usize,
        buf: &'b mut (String, String),
    ) -> ([&'b str; 2], Option<f64>) {
        let (score, values) = buf;
        score.clear();
        values.clear();
        let detail = self.run.match_detail(i);
        if let Some(detail) = &detail {
            if let Some(s) = detail.score {
                let _ = write!(score, "{s:.4}");
            }
            for (n, v) in detail.values.iter().enumerate() {
                if n > 0 {
                    values.push_str("; ");
                }
                let _ = write!(values, "{}: {}", v.field, v.local);
                if let Some(theirs) = v.integration {
                    let _ = write!(values, " ≈ {theirs}");
                    if let Some(s) = v.score {
                        let _ = write!(values, " ({s:.4})");
                    }
                }
            }
        }
        (
            [score.as_str(), values.as_str()],
            detail.and_then(|d| d.score),
        )
    }

    /// The run being rendered.
    pub fn run(&self) -> &'r CouplingRun<'a> {
        self.run
    }

    /// Fills `row` with the `results.csv` fields of the record at position `i` of
    /// [`CouplingRun::outcomes`].
    pub fn render<'b>(&self, i: usize, row: &'b mut ResultRow) -> [&'b str; 10] {
        self.render_inner(i, row, None)
    }

    /// [`Renderer::render`], taking the record's integration id from `ids` (gathered for a range
    /// of records that includes `i` by [`Renderer::gather_ids`]).
    pub fn render_gathered<'b>(
        &self,
        i: usize,
        row: &'b mut ResultRow,
        ids: &IdBatch,
    ) -> [&'b str; 10] {
        self.render_inner(i, row, ids.get(i))
    }

    fn render_inner<'b>(
        &self,
        i: usize,
        row: &'b mut ResultRow,
        gathered: Option<&str>,
    ) -> [&'b str; 10] {
        let run = self.run;
        let integration_id_of = |r: u32| gathered.unwrap_or_else(|| run.integration_id(r));
        let record = &run.outcomes()[i];
        for f in &mut row.fields {
            f.clear();
        }
        let [local_id, outcome, integration_id, priority, match_count, candidates, coupled_to, trace, message, holder_origin] =
            &mut row.fields;
        let id = run.local_id(record);
        local_id.push_str(id);
        outcome.push_str(record.outcome.name());
        if let Some(level) = record.outcome.level() {
            priority.push_str(&self.priorities[level as usize]);
        }
        // `LevelTrace`'s `Display`, with each level's prefix formatted once per run.
        for (level, t) in run.trace(record).enumerate() {
            if level > 0 {
                trace.push(' ');
            }
            trace.push_str(&self.trace_prefixes[level]);
            let _ = t.result.write_to(trace);
        }
        let located = &self.located;
        match record.outcome {
            Outcome::Coupled {
                integration_row, ..
            } => {
                integration_id.push_str(integration_id_of(integration_row));
                match_count.push('1');
            }
            Outcome::NoMatch { .. } => {
                match_count.push('0');
                let _ = write!(message, "No matching entity was found for {id}{located}.");
            }
            Outcome::MultipleMatches { count, .. } => {
                let _ = write!(match_count, "{count}");
                for (n, c) in run.candidates(i, MAX_CANDIDATES).into_iter().enumerate() {
                    if n > 0 {
                        candidates.push('|');
                    }
                    candidates.push_str(c);
                }
                let _ = write!(
                    message,
                    "Multiple matching entities found for {id}{located}."
                );
            }
            Outcome::AlreadyCoupled {
                integration_row,
                holder,
                ..
            } => {
                match_count.push('1');
                candidates.push_str(integration_id_of(integration_row));
                coupled_to.push_str(run.holder_id(integration_row, holder));
                holder_origin.push_str(holder.origin());
                let _ = write!(
                    message,
                    "Single matching entity was found for {id}{located}, but it is already coupled."
                );
            }
            Outcome::NoCriteria => message.push_str(&self.no_criteria),
            Outcome::Skipped => {
                let to = run.existing_coupling(record).unwrap_or_default();
                let _ = write!(
                    message,
                    "{id} is already coupled to {to}; match-based coupling skips coupled records."
                );
            }
        }
        let [a, b, c, d, e, f, g, h, i, j] = &row.fields;
        [a, b, c, d, e, f, g, h, i, j].map(String::as_str)
    }

    /// Gathers the integration ids records `range` will show ([`IdBatch`]).
    pub fn gather_ids(&self, range: std::ops::Range<usize>, batch: &mut IdBatch) {
        let outcomes = &self.run.outcomes()[range.clone()];
        let mut wanted: Vec<(u32, u32)> = outcomes
            .iter()
            .enumerate()
            .filter_map(|(k, r)| match r.outcome {
                Outcome::Coupled {
                    integration_row, ..
                }
                | Outcome::AlreadyCoupled {
                    integration_row, ..
                } => Some((integration_row, k as u32)),
                _ => None,
            })
            .collect();
        // By row (a radix sort: a few passes over the range, where a comparison sort took
        // longer than the reads it orders).
        radsort::sort_by_key(&mut wanted, |&(row, _)| row);
        batch.first = range.start;
        batch.spans.clear();
        batch.spans.resize(range.len(), None);
        batch.text.clear();
        // The rows are ascending but far apart: each id is two cache misses (its bounds, then
        // its text), fetched ahead in two stages.
        let ids = self.run.integration_ids();
        for (j, &(row, k)) in wanted.iter().enumerate() {
            if let Some(&(ahead, _)) = wanted.get(j + 2 * AHEAD) {
                ids.prefetch_bounds(ahead as usize);
            }
            if let Some(&(ahead, _)) = wanted.get(j + AHEAD) {
                ids.prefetch_text(ahead as usize);
            }
            let start = batch.text.len() as u32;
            batch.text.push_str(self.run.integration_id(row));
            batch.spans[k as usize] = Some((start, batch.text.len() as u32));
        }
    }

    /// The `couplings.csv` fields of a coupled record, taken from its rendered `results.csv`
    /// row (the same local id, integration id and priority: no second lookup of the ids), or
    /// `None` for any other outcome.
    pub fn coupling<'b>(record: &RecordOutcome, row: &[&'b str; 10]) -> Option<[&'b str; 3]> {
        matches!(record.outcome, Outcome::Coupled { .. }).then(|| [row[0], row[2], row[3]])
    }
}
