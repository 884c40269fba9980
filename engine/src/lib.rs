//! coupler's engine: Business Central's match-based coupling, reproduced exactly.
//!
//! Pure data in, outcomes out: the engine knows nothing of files, HTTP or the command line.
//! Adapters turn exports and APIs into [`Table`]s; the engine runs a [`CouplingSpec`] over them
//! ([`couple()`]) and returns a [`CouplingRun`]: one [`RecordOutcome`] per local record, its
//! per-level trace, and BC's job log with BC's own texts. [`report`] renders a run as the rows of
//! `results.csv` and `couplings.csv`.
//!
//! The semantics are those of BC's codeunit 5360 "CDS Int. Table Couple" (`docs/semantics.md`
//! describes them for users): cumulative priority levels, blank
//! text skipped, first come first served, BC's counters and messages.
//!
//! Beyond BC, all opt-in per criterion: [`normalize`] (normalizers rewriting both sides before
//! comparison), [`fuzzy`] comparators (similarity with a threshold and a tie margin, blocking
//! for levels of only fuzzy criteria), option fields compared through an [`OptionMap`], and
//! Dataverse's collation ([`Collation`]). Without them every comparison is BC's.
//!
//! # Example
//!
//! ```
//! use coupler_engine::report::Renderer;
//! use coupler_engine::{
//!     couple, Collation, CouplingSpec, ExistingCouplings, FieldType, MatchCriterion, Outcome,
//!     PriorityMode, RunOptions, Table,
//! };
//!
//! // The adapters read these from an export and from Dataverse.
//! let customers = Table::from_rows(
//!     "customers.csv",
//!     &["No.", "Name"],
//!     &[vec!["C1", "Contoso"], vec!["C2", "Fabrikam"]],
//! )?;
//! let accounts = Table::from_rows(
//!     "accounts.csv",
//!     &["accountid", "name"],
//!     &[vec!["A1", "CONTOSO"], vec!["A2", "Northwind"]],
//! )?;
//! let spec = CouplingSpec {
//!     mapping_name: "CUSTOMER".into(),
//!     local_caption: "Customer".into(),
//!     integration_caption: "Account".into(),
//!     integration_source: "accounts.csv".into(),
//!     local_key: "No.".into(),
//!     integration_key: "accountid".into(),
//!     // BC's "Match on this Field": Name = name, case-insensitive, priority 0.
//!     criteria: vec![MatchCriterion::new("Name", "name", FieldType::Text, 0, false)],
//!     priority_mode: PriorityMode::Cumulative,
//!     collation: Collation::Exact,
//!     local_filter: vec![],
//!     integration_filter: vec![],
//! };
//! // Couplings made before (none here): their records are skipped, their accounts taken.
//! let existing = ExistingCouplings::new();
//! let run = couple(&spec, &customers, &accounts, &existing, RunOptions::default())?;
//!
//! let names: Vec<&str> = run.outcomes().iter().map(|r| r.outcome.name()).collect();
//! assert_eq!(names, ["coupled", "no_match"]);
//! assert!(matches!(run.outcomes()[0].outcome, Outcome::Coupled { integration_row: 0, .. }));
//! // BC's job log: its counters and its error row, in BC's words.
//! assert_eq!((run.log().counters.coupled, run.log().counters.failed), (1, 1));
//! assert_eq!(
//!     run.log().errors,
//!     [
//!         "Failed to couple 1 record(s), because no unique uncoupled matching entity was found \
//!          in accounts.csv with the specified matching criteria."
//!     ]
//! );
//! // The rows of results.csv.
//! let renderer = Renderer::new(&run);
//! let mut row = Default::default();
//! assert_eq!(renderer.render(0, &mut row)[..4], ["C1", "coupled", "A1", "0"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// The one exception is a cache hint (`hint::prefetch`), allowed where it is defined.
#![deny(unsafe_code)]

pub mod bc_filter;
pub mod couple;
mod derive;
pub mod error;
pub mod filter;
pub mod fuzzy;
mod hint;
pub mod ids;
mod index;
pub mod mapping;
pub mod metrics;
pub mod normalize;
pub mod outcome;
pub mod profile;
pub mod report;
pub mod sync;
pub mod table;
pub mod value;

pub use bc_filter::{FilterExpr, FilterSyntaxError, FilterTypeError};
pub use couple::{couple, CouplingRun, MatchDetail, MatchedValue, RunOptions, MAX_CRITERIA};
pub use error::EngineError;
pub use filter::{passing_rows, passing_table_filter, ColumnFilter};
pub use fuzzy::{Blocking, Comparator, Fuzzy, Metric};
pub use ids::{canonical_integration_id, canonical_local_id, is_guid, IdSide};
pub use mapping::{
    Collation, CouplingSpec, ExistingCouplings, MatchCriterion, OptionMap, PriorityMode, Reference,
    TableFilter, Translation,
};
pub use normalize::{LegalForms, Normalizer};
pub use outcome::{
    Counters, Holder, JobLog, LevelResult, LevelTrace, Outcome, OutcomeCounts, RecordOutcome,
    COUNTER_NAMES, FAILURE_NAMES, OUTCOME_NAMES,
};
pub use sync::{plan_sync, SyncError, SyncPlan, SyncSpec};
pub use table::{Column, ColumnFull, Table, TableError};
pub use value::FieldType;
