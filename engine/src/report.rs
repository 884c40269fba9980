//! A run rendered as the rows of `results.csv` and `couplings.csv` (contract: "Output files"),
//! with the per-record messages of the semantics spec (§3). Writing them is an adapter's job.

use std::fmt::Write;

use crate::couple::CouplingRun;
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

/// Renders the rows of a run, reusing buffers (no allocation per row once warm).
pub struct Renderer<'r, 'a> {
    run: &'r CouplingRun<'a>,
    criteria_names: String,
    no_criteria: String,
    details: bool,
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
        Renderer {
            run,
            criteria_names,
            no_criteria: no_criteria_message(spec),
            details: spec.criteria.iter().any(|c| c.is_beyond_bc()),
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
        let run = self.run;
        let record = &run.outcomes()[i];
        let spec = run.spec();
        for f in &mut row.fields {
            f.clear();
        }
        let [local_id, outcome, integration_id, priority, match_count, candidates, coupled_to, trace, message, holder_origin] =
            &mut row.fields;
        let id = run.local_id(record);
        local_id.push_str(id);
        outcome.push_str(record.outcome.name());
        if let Some(level) = record.outcome.level() {
            let _ = write!(priority, "{}", run.priorities()[level as usize]);
        }
        for (i, t) in run.trace(record).enumerate() {
            if i > 0 {
                trace.push(' ');
            }
            let _ = write!(trace, "{t}");
        }
        let source = &spec.integration_source;
        let fields = &self.criteria_names;
        match record.outcome {
            Outcome::Coupled {
                integration_row, ..
            } => {
                integration_id.push_str(run.integration_id(integration_row));
                match_count.push('1');
            }
            Outcome::NoMatch { .. } => {
                match_count.push('0');
                let _ = write!(
                    message,
                    "No matching entity was found for {id} in {source} by matching on following fields: {fields}."
                );
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
                    "Multiple matching entities found for {id} in {source} by matching on following fields: {fields}."
                );
            }
            Outcome::AlreadyCoupled {
                integration_row,
                holder,
                ..
            } => {
                match_count.push('1');
                candidates.push_str(run.integration_id(integration_row));
                coupled_to.push_str(run.holder_id(integration_row, holder));
                holder_origin.push_str(holder.origin());
                let _ = write!(
                    message,
                    "Single matching entity was found for {id} in {source} by matching on following fields: {fields}, but it is already coupled."
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

    /// Reads the integration ids records `range` will show, in integration-row order, so that
    /// rendering them finds them in cache: the coupled rows of a block are scattered over the
    /// whole integration table, and visiting them in order costs far fewer page walks.
    pub fn warm_ids(&self, range: std::ops::Range<usize>, scratch: &mut Vec<u32>) {
        scratch.clear();
        scratch.extend(
            self.run.outcomes()[range]
                .iter()
                .filter_map(|r| match r.outcome {
                    Outcome::Coupled {
                        integration_row, ..
                    }
                    | Outcome::AlreadyCoupled {
                        integration_row, ..
                    } => Some(integration_row),
                    _ => None,
                }),
        );
        scratch.sort_unstable();
        let mut touched = 0usize;
        for &row in scratch.iter() {
            touched = touched.wrapping_add(self.run.integration_id(row).len());
        }
        std::hint::black_box(touched);
    }

    /// The `couplings.csv` fields of a coupled record, taken from its rendered `results.csv`
    /// row (the same local id, integration id and priority: no second lookup of the ids), or
    /// `None` for any other outcome.
    pub fn coupling<'b>(record: &RecordOutcome, row: &[&'b str; 10]) -> Option<[&'b str; 3]> {
        matches!(record.outcome, Outcome::Coupled { .. }).then(|| [row[0], row[2], row[3]])
    }
}
