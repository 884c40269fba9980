//! coupler's engine: Business Central's match-based coupling, reproduced exactly.
//!
//! Pure data in, outcomes out: the engine knows nothing of files, HTTP or the command line.
//! Adapters turn exports and APIs into [`Table`]s; the engine runs a [`CouplingSpec`] over them
//! ([`couple`]) and returns a [`CouplingRun`]: one [`RecordOutcome`] per local record, its
//! per-level trace, and BC's job log with BC's own texts. [`report`] renders a run as the rows of
//! `results.csv` and `couplings.csv`.
//!
//! The semantics are those of BC's codeunit 5360 "CDS Int. Table Couple" (the README's "The
//! demo, walked through" and "Configuration" describe them): cumulative priority levels, blank
//! text skipped, first come first served, BC's counters and messages.
//!
//! Beyond BC, all opt-in per criterion: [`normalize`] (normalizers rewriting both sides before
//! comparison), [`fuzzy`] comparators (similarity with a threshold and a tie margin, blocking
//! for levels of only fuzzy criteria), option fields compared through an [`OptionMap`], and
//! Dataverse's collation ([`Collation`]). Without them every comparison is BC's.

// The one exception is a cache hint (`hint::prefetch`), allowed where it is defined.
#![deny(unsafe_code)]

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

pub use couple::{couple, CouplingRun, MatchDetail, MatchedValue, RunOptions, MAX_CRITERIA};
pub use error::EngineError;
pub use filter::passing_rows;
pub use fuzzy::{Blocking, Comparator, Fuzzy, Metric};
pub use ids::{canonical_integration_id, canonical_local_id, is_guid, IdSide};
pub use mapping::{
    Collation, CouplingSpec, ExistingCouplings, MatchCriterion, OptionMap, PriorityMode,
    TableFilter,
};
pub use normalize::{LegalForms, Normalizer};
pub use outcome::{
    Counters, Holder, JobLog, LevelResult, LevelTrace, Outcome, OutcomeCounts, RecordOutcome,
    COUNTER_NAMES, FAILURE_NAMES, OUTCOME_NAMES,
};
pub use sync::{plan_sync, SyncError, SyncPlan, SyncSpec};
pub use table::{Column, ColumnFull, Table, TableError};
pub use value::FieldType;
