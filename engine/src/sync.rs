//! Synchronization planning: BC's first synchronization after coupling ("Synch. After Bulk
//! Coupling", caption "Synch. After Match-Based Coupling"), computed as a field-level plan.
//!
//! This module owns **what that synchronization would change**, field by field, for the pairs a
//! coupling job just made: which direction(s) run, which field mappings take part, which values
//! differ under BC's changed-value rules, what is written, and which records fail (update
//! conflicts, unreadable values). It is pure: tables and pairs in, a [`SyncPlan`] out. Writing
//! `sync-plan.csv` (contract: `local_id,integration_id,direction,field,old_value,new_value,status`)
//! and applying the `update` rows belong to the adapters and the command line.
//!
//! # Rules, and where they come from
//!
//! Sources: BC's codeunits 5335 "Integration Table Synch.", 5336 "Integration Record Synch."
//! and 5345 "Integration Rec. Synch. Invoke" (`docs/semantics.md`, "Synchronization after
//! coupling", describes the rules for users).
//!
//! 1. **Direction of the first sync** (docs/semantics.md#synchronization-after-coupling). A `to-integration` mapping runs
//!    local → integration, a `from-integration` mapping integration → local. A `bidirectional`
//!    mapping takes its direction from the Update-Conflict Resolution: `send` → local →
//!    integration, `get` → integration → local, `none` → both directions (to-integration first, as
//!    BC runs them), with update-conflict detection. The resolution is ignored for one-way
//!    mappings (BC consults it only when the mapping is bidirectional).
//! 2. **Which field mappings take part** (docs/semantics.md#synchronization-after-coupling; BC's
//!    `BuildTempIntegrationFieldMapping`): in a direction, the field mappings whose own direction
//!    is that direction or `bidirectional`. A direction that runs with no such field fails in BC
//!    with `There are no field mapping rows for the Integration Table Mapping Name %1 in the
//!    Integration Field Mapping table.`; here [`SyncSpec::validate`] rejects it up front
//!    ([`SyncError::NoFieldMappings`]).
//! 3. **Constant values** (BC's `TransferField`): a field mapping with a
//!    `constant` and no local field writes the constant, evaluated into the field's type, to the
//!    integration field; it counts as a change only when it differs from the current value (typed).
//!    *Decision where the spec is silent:* a constant takes part in the local → integration
//!    direction only, whatever its declared direction (it has no local field to read or write;
//!    BC would fail at run time on the reverse transfer), so it is never a "bidirectional field"
//!    for conflicts. A constant declared `from-integration` could never be written and is rejected,
//!    as is a constant that is not a valid value of its type.
//! 4. **Changed-value detection** (BC's `IsFieldModified`; docs/semantics.md#comparing-values), by the field
//!    mapping's type, reusing the engine's value rules ([`crate::value`]): text is compared as
//!    stored (ordinal; no trimming, no case folding); integers and decimals by value (`1.50` =
//!    `1.5`, blank = 0); booleans `true/false`, `1/0`, `yes/no` (blank = false); dates by calendar
//!    day (blank = the empty date). For **Code** fields (the local side is BC Code, stored trimmed
//!    and upper-cased, docs/semantics.md#comparing-values): the local value is always read in that form; integration → local
//!    compares it with the source value trimmed and upper-cased (BC: `Format(dest) <>
//!    UpperCase(DelChr(Format(src), '<>'))`); local → integration compares the integration value as
//!    it is with the Code value.
//! 5. **What is written** (`new_value`): the source value in the destination type's canonical text
//!    form: text as is; Code trimmed and upper-cased; numbers as plain decimals (`01.50` → `1.5`,
//!    `1e2` → `100`; blank → `0`); booleans `true`/`false`; dates `YYYY-MM-DD`. `old_value` is the
//!    destination cell as read. Unchanged fields are listed too (status `unchanged`), so the plan
//!    shows the whole picture.
//! 6. **Update conflicts** (BC's `SynchRecord`): only with a bidirectional mapping
//!    and resolution `none`. Freshly coupled pairs have no last-synchronization time, so both
//!    sides count as modified, and a record whose **bidirectional** field mappings change a value
//!    fails: those field rows get status `conflict` with BC's text (see [`conflict_message`]), and
//!    the record's other `update` rows get `failed` (BC fails the whole record: nothing of it is
//!    written). Pairs whose bidirectional fields are equal sync their one-directional fields
//!    normally. *Decision:* the check is made per direction, as BC does (a "record" is one pair in
//!    one direction); the two directions can differ only for Code fields, where BC's comparisons
//!    are asymmetric (integration `abc` vs local `ABC` differs local → integration but not
//!    integration → local).
//! 7. **Unreadable values** (*decision; BC has typed fields, so this cannot happen there*): a
//!    source or destination cell that is not a value of the field's type (e.g. `abc` in an integer
//!    field, `1.5` in an integer field) makes that row `failed` with a message naming the table,
//!    the field and the value. The record then fails as a whole, like BC's transfer errors
//!    (`The data could not be updated because of the following error: %1.` — BC writes nothing of
//!    a record whose field transfer failed): its other `update` rows become `failed`; conflict
//!    rows stay `conflict`. A destination value is never overwritten when it cannot be read.
//! 8. **Messages**: `conflict` rows carry BC's conflict text; `failed` rows carry BC's record
//!    error — the transfer-error text wrapping the first unreadable value of the record, otherwise
//!    the conflict text of the record's first conflicting field (the one BC's job log names).
//!    `update`/`unchanged` rows have no message.
//! 9. **Order** (deterministic): pairs in the given order; per pair, local → integration rows
//!    before integration → local rows; within a direction, field mappings in declaration order.
//! 10. **Summary**: per pair (failed if any row failed or conflicted, else updated if any row is
//!     an update, else unchanged), and BC's job counters per record (one pair in one direction):
//!     `modified`, `unchanged` or `failed`.
//!
//! 11. **Lookups** (`via`; BC's `FindNewValueForCoupledRecordPK` in the Dataverse table
//!     subscriber): local → integration, a blank key writes a blank (null) lookup, a key is
//!     written as the id of the row its record is coupled to; integration → local, a blank id
//!     writes a blank key, an id as the key of the record coupled to it. A reference to a record
//!     that is not coupled fails the record with BC's text, `<field> <value> must be coupled to
//!     a Dataverse record.` (wrapped as rule 7's transfer error), unless the field mapping has
//!     "Clear Value on Failed Sync", which writes a blank instead. Values compare as ids (a GUID
//!     in any spelling is one id) and as BC Code keys.
//!
//! Not modelled: BC's "Validate Field" triggers, the rule that keeps a value "Clear Value on
//! Failed Sync" would clear when the blank would not pass the destination's relation, option fields,
//! and the prefix comparison BC applies to text fields of different declared lengths (exports do
//! not carry field lengths).

use std::sync::Arc;

use thiserror::Error;

use crate::ids::{canonical_integration_id, canonical_local_id};
use crate::mapping::{Reference, Translation};
use crate::outcome::Counters;
use crate::table::Table;
use crate::value::{integration_key_into, local_key_into, FieldType, Fold, InvalidValue};

/// A table mapping's or field mapping's synchronization direction (BC's `Direction` option).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SyncDirection {
    /// Both ways (BC's default).
    #[default]
    Bidirectional,
    /// Local (BC) → integration (Dataverse) only.
    ToIntegration,
    /// Integration (Dataverse) → local (BC) only.
    FromIntegration,
}

impl SyncDirection {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            SyncDirection::Bidirectional => "bidirectional",
            SyncDirection::ToIntegration => "to-integration",
            SyncDirection::FromIntegration => "from-integration",
        }
    }

    /// Parses a configuration name (`bidirectional`, `to-integration`, `from-integration`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "bidirectional" => Some(SyncDirection::Bidirectional),
            "to-integration" => Some(SyncDirection::ToIntegration),
            "from-integration" => Some(SyncDirection::FromIntegration),
            _ => None,
        }
    }

    /// Whether a field mapping with this direction takes part in a synchronization in `d`.
    pub fn includes(self, d: PlanDirection) -> bool {
        match self {
            SyncDirection::Bidirectional => true,
            SyncDirection::ToIntegration => d == PlanDirection::ToIntegration,
            SyncDirection::FromIntegration => d == PlanDirection::FromIntegration,
        }
    }
}

/// BC's "Update-Conflict Resolution" of a table mapping (enum 5338).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ConflictResolution {
    /// No resolution: conflicts fail the record.
    #[default]
    None,
    /// "Send data update to integration table": local wins.
    Send,
    /// "Get data update from integration table": integration wins.
    Get,
}

impl ConflictResolution {
    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            ConflictResolution::None => "none",
            ConflictResolution::Send => "send",
            ConflictResolution::Get => "get",
        }
    }

    /// Parses a configuration name (`none`, `send`, `get`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(ConflictResolution::None),
            "send" => Some(ConflictResolution::Send),
            "get" => Some(ConflictResolution::Get),
            _ => None,
        }
    }

    /// BC's caption of the option (blank for none).
    pub fn bc_caption(self) -> &'static str {
        match self {
            ConflictResolution::None => "",
            ConflictResolution::Send => "Send data update to integration table",
            ConflictResolution::Get => "Get data update from integration table",
        }
    }
}

/// The direction of one plan row: where the value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlanDirection {
    /// Local (BC) → integration (Dataverse); the destination is an integration field.
    ToIntegration,
    /// Integration (Dataverse) → local (BC); the destination is a local field.
    FromIntegration,
}

impl PlanDirection {
    /// The other direction.
    pub fn reverse(self) -> PlanDirection {
        match self {
            PlanDirection::ToIntegration => PlanDirection::FromIntegration,
            PlanDirection::FromIntegration => PlanDirection::ToIntegration,
        }
    }

    /// The name written in `sync-plan.csv`.
    pub fn name(self) -> &'static str {
        match self {
            PlanDirection::ToIntegration => "to-integration",
            PlanDirection::FromIntegration => "from-integration",
        }
    }
}

/// The status of one plan row (the `status` column of `sync-plan.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanStatus {
    /// The destination value changes to `new_value`.
    Update,
    /// The destination already holds the value.
    Unchanged,
    /// A bidirectional field differs and the mapping resolves no conflicts: the record fails.
    Conflict,
    /// Not written: the value is unreadable, or the record failed for another field.
    Failed,
}

impl PlanStatus {
    /// The name written in `sync-plan.csv`.
    pub fn name(self) -> &'static str {
        match self {
            PlanStatus::Update => "update",
            PlanStatus::Unchanged => "unchanged",
            PlanStatus::Conflict => "conflict",
            PlanStatus::Failed => "failed",
        }
    }
}

/// One field mapping, as synchronization sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMapping {
    /// The local (BC) column; `None` for a constant-value mapping.
    pub local_field: Option<String>,
    /// The constant written to the integration field (BC's "Constant Value").
    pub constant: Option<String>,
    /// The integration (Dataverse) column.
    pub integration_field: String,
    /// The type of the local field: decides how values compare and how they are written.
    pub field_type: FieldType,
    /// The field mapping's own direction (configuration default: the mapping's direction).
    pub direction: SyncDirection,
    /// A lookup (`via`): the local value is a key of another mapping's records, the
    /// integration value the id of the row it is coupled to (rule 11).
    pub via: Option<Arc<Translation>>,
    /// BC's "Clear Value on Failed Sync": a lookup to a record that is not coupled clears the
    /// destination instead of failing the record.
    pub clear_on_failed_sync: bool,
}

impl FieldMapping {
    /// A field mapping between a local and an integration column.
    pub fn new(
        local_field: &str,
        integration_field: &str,
        field_type: FieldType,
        direction: SyncDirection,
    ) -> Self {
        FieldMapping {
            local_field: Some(local_field.to_string()),
            constant: None,
            integration_field: integration_field.to_string(),
            field_type,
            direction,
            via: None,
            clear_on_failed_sync: false,
        }
    }

    /// A constant-value field mapping writing `value` to `integration_field`.
    pub fn constant(value: &str, integration_field: &str, field_type: FieldType) -> Self {
        FieldMapping {
            local_field: None,
            constant: Some(value.to_string()),
            integration_field: integration_field.to_string(),
            field_type,
            direction: SyncDirection::ToIntegration,
            via: None,
            clear_on_failed_sync: false,
        }
    }

    /// The destination column in direction `d`.
    pub fn destination(&self, d: PlanDirection) -> &str {
        match d {
            PlanDirection::ToIntegration => &self.integration_field,
            PlanDirection::FromIntegration => self.local_field.as_deref().unwrap_or(""),
        }
    }
}

/// What the first synchronization after coupling needs to know about a table mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSpec {
    /// BC's table-mapping name, e.g. `CUSTOMER` (named by the "no field mapping rows" error).
    pub mapping_name: String,
    /// Local table caption (messages), e.g. `Customer`.
    pub local_table_caption: String,
    /// Integration table caption (messages), e.g. `Account`.
    pub integration_table_caption: String,
    /// The table mapping's direction.
    pub direction: SyncDirection,
    /// The table mapping's Update-Conflict Resolution.
    pub conflict_resolution: ConflictResolution,
    /// Field mappings in declaration order.
    pub fields: Vec<FieldMapping>,
}

impl SyncSpec {
    /// The directions the first synchronization runs, in BC's order (rule 1).
    pub fn first_sync_directions(&self) -> &'static [PlanDirection] {
        const TO: &[PlanDirection] = &[PlanDirection::ToIntegration];
        const FROM: &[PlanDirection] = &[PlanDirection::FromIntegration];
        const BOTH: &[PlanDirection] =
            &[PlanDirection::ToIntegration, PlanDirection::FromIntegration];
        match (self.direction, self.conflict_resolution) {
            (SyncDirection::ToIntegration, _) => TO,
            (SyncDirection::FromIntegration, _) => FROM,
            (SyncDirection::Bidirectional, ConflictResolution::Send) => TO,
            (SyncDirection::Bidirectional, ConflictResolution::Get) => FROM,
            (SyncDirection::Bidirectional, ConflictResolution::None) => BOTH,
        }
    }

    /// True when the first synchronization fails records on update conflicts: a bidirectional
    /// mapping without a conflict resolution (rule 6). Warn the user before running.
    pub fn detects_conflicts(&self) -> bool {
        self.direction == SyncDirection::Bidirectional
            && self.conflict_resolution == ConflictResolution::None
    }

    /// Whether `field` takes part in the first synchronization's direction `d` (rules 2, 3).
    pub fn takes_part(&self, field: &FieldMapping, d: PlanDirection) -> bool {
        if !self.first_sync_directions().contains(&d) {
            return false;
        }
        if field.local_field.is_none() {
            // A constant is written to the integration side only.
            return d == PlanDirection::ToIntegration
                && field.direction != SyncDirection::FromIntegration;
        }
        field.direction.includes(d)
    }

    /// Local columns the first synchronization reads or writes, without repeats, in declaration
    /// order (field mappings that take part in no direction are left out).
    pub fn local_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.participating() {
            if let Some(l) = &f.local_field {
                if !out.contains(l) {
                    out.push(l.clone());
                }
            }
        }
        out
    }

    /// Integration columns the first synchronization reads or writes, without repeats.
    pub fn integration_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.participating() {
            if !out.contains(&f.integration_field) {
                out.push(f.integration_field.clone());
            }
        }
        out
    }

    fn participating(&self) -> impl Iterator<Item = &FieldMapping> {
        self.fields.iter().filter(|f| {
            self.first_sync_directions()
                .iter()
                .any(|&d| self.takes_part(f, d))
        })
    }

    /// Checks what can be checked without data: each field mapping has exactly one source (a
    /// local field or a constant), constants are valid values of their type and can be written,
    /// no destination is written twice in one direction, and every direction that runs has at
    /// least one field mapping (BC fails the job otherwise).
    pub fn validate(&self) -> Result<(), SyncError> {
        for f in &self.fields {
            if f.field_type == FieldType::Option
                && self
                    .first_sync_directions()
                    .iter()
                    .any(|&d| self.takes_part(f, d))
            {
                return Err(SyncError::OptionFieldSync {
                    integration_field: f.integration_field.clone(),
                });
            }
            match (&f.local_field, &f.constant) {
                (Some(_), Some(_)) => {
                    return Err(SyncError::LocalAndConstant {
                        integration_field: f.integration_field.clone(),
                    })
                }
                (None, None) => {
                    return Err(SyncError::NoSource {
                        integration_field: f.integration_field.clone(),
                    })
                }
                (None, Some(value)) => {
                    if f.direction == SyncDirection::FromIntegration {
                        return Err(SyncError::ConstantFromIntegration {
                            integration_field: f.integration_field.clone(),
                        });
                    }
                    let mut buf = String::new();
                    if let Err(problem) = key_of(value, Kind::source(f.field_type), &mut buf) {
                        return Err(SyncError::InvalidConstant {
                            integration_field: f.integration_field.clone(),
                            value: value.clone(),
                            problem,
                        });
                    }
                }
                (Some(_), None) => {}
            }
        }
        for &d in self.first_sync_directions() {
            let mut seen: Vec<&str> = Vec::new();
            for f in self.fields.iter().filter(|f| self.takes_part(f, d)) {
                let dest = f.destination(d);
                if seen.contains(&dest) {
                    return Err(SyncError::DuplicateDestination {
                        direction: d,
                        field: dest.to_string(),
                    });
                }
                seen.push(dest);
            }
            if seen.is_empty() {
                return Err(SyncError::NoFieldMappings {
                    mapping: self.mapping_name.clone(),
                    direction: d,
                });
            }
        }
        Ok(())
    }

    fn captions(&self, d: PlanDirection) -> (&str, &str) {
        match d {
            PlanDirection::ToIntegration => {
                (&self.local_table_caption, &self.integration_table_caption)
            }
            PlanDirection::FromIntegration => {
                (&self.integration_table_caption, &self.local_table_caption)
            }
        }
    }
}

/// Why a synchronization cannot be planned.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SyncError {
    /// An option field would be synchronized (captions and choice values are not translated yet).
    #[error("field mapping '{integration_field}' is an option field: option fields can be matched on, but synchronizing them is not supported yet; set its direction so that it takes no part, or leave sync_after_coupling off")]
    OptionFieldSync { integration_field: String },
    /// A table lacks a column a field mapping needs.
    #[error("{table}: column '{column}' not found; the columns are: {}", available.join(", "))]
    MissingColumn {
        table: String,
        column: String,
        available: Vec<String>,
    },
    /// A pair names a row the table does not have.
    #[error("{table}: row {row} does not exist (the table has {len} rows)")]
    RowOutOfRange { table: String, row: u32, len: usize },
    /// A field mapping has both a local field and a constant.
    #[error(
        "field mapping to '{integration_field}': set either a local field or a constant, not both"
    )]
    LocalAndConstant { integration_field: String },
    /// A field mapping has neither a local field nor a constant.
    #[error("field mapping to '{integration_field}': it needs a local field or a constant")]
    NoSource { integration_field: String },
    /// A constant declared `from-integration`: it could never be written.
    #[error("field mapping to '{integration_field}': a constant value is written to the integration table; direction from-integration would never write it")]
    ConstantFromIntegration { integration_field: String },
    /// A constant that is not a value of its field's type.
    #[error("field mapping to '{integration_field}': the constant '{value}' is {problem}")]
    InvalidConstant {
        integration_field: String,
        value: String,
        problem: InvalidValue,
    },
    /// Two field mappings write the same destination field in one direction.
    #[error("field '{field}' is written by two field mappings in the {} direction", direction.name())]
    DuplicateDestination {
        direction: PlanDirection,
        field: String,
    },
    /// A direction that runs has no field mapping (BC's exact text).
    #[error("There are no field mapping rows for the Integration Table Mapping Name {mapping} in the Integration Field Mapping table.")]
    NoFieldMappings {
        mapping: String,
        direction: PlanDirection,
    },
}

/// One field of one pair in one direction: a row of `sync-plan.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRow {
    /// Row of the local table.
    pub local_row: u32,
    /// Row of the integration table.
    pub integration_row: u32,
    /// Where the value goes.
    pub direction: PlanDirection,
    /// The destination field (an integration column to-integration, a local column
    /// from-integration).
    pub field: String,
    /// The destination value as read.
    pub old_value: String,
    /// The value the synchronization writes (rule 5); for an unreadable source, the source cell.
    pub new_value: String,
    /// What happens to the field.
    pub status: PlanStatus,
    /// BC's conflict text for `conflict`, the record's error for `failed`, else empty.
    pub message: String,
}

/// The plan of a first synchronization after coupling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// Field rows, in the order of rule 9.
    pub rows: Vec<PlanRow>,
    /// Pairs with at least one `update` row and no failure.
    pub pairs_updated: u64,
    /// Pairs whose rows are all `unchanged`.
    pub pairs_unchanged: u64,
    /// Pairs with a `conflict` or `failed` row in some direction.
    pub pairs_failed: u64,
    /// BC's counters of the synchronization job(s), one record per pair and direction:
    /// `modified`, `unchanged` or `failed`; the other counters stay 0.
    pub counters: Counters,
}

impl SyncPlan {
    /// Number of rows with `status`.
    pub fn count(&self, status: PlanStatus) -> usize {
        self.rows.iter().filter(|r| r.status == status).count()
    }
}

/// BC's update-conflict text for a bidirectional field mapping in direction `direction`
/// (`SourceAndDestinationConflictErr` of codeunit 5345: %1 source table caption, %2 destination
/// table caption, %3 source field, %4 destination field). Local → integration this is the
/// spec's reading (%1 local caption, %2 integration caption, %3 local field, %4 integration
/// field); integration → local BC swaps the sides.
pub fn conflict_message(
    spec: &SyncSpec,
    direction: PlanDirection,
    local_field: &str,
    integration_field: &str,
) -> String {
    let (source_table, destination_table) = spec.captions(direction);
    let (source_field, destination_field) = match direction {
        PlanDirection::ToIntegration => (local_field, integration_field),
        PlanDirection::FromIntegration => (integration_field, local_field),
    };
    format!(
        "Cannot update a record in the {destination_table} table. The mapping between {source_field} field on the {source_table} table and the {destination_field} field on the {destination_table} table is bi-directional, and one or both values have changed since the last synchronization."
    )
}

/// BC's record error for a failed field transfer (`CopyDataErr` of codeunit 5345).
fn transfer_error(inner: &str) -> String {
    format!(
        "The data could not be updated because of the following error: {}.",
        inner.trim_end_matches('.')
    )
}

/// How a cell is read for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// As stored (text; the integration side of a Code field as a destination).
    Raw,
    /// Trimmed and upper-cased (a local Code value; any source of a Code field).
    Code,
    Decimal,
    Integer,
    Boolean,
    Date,
}

impl Kind {
    /// How a source value of `t` is read.
    fn source(t: FieldType) -> Kind {
        match t {
            FieldType::Text => Kind::Raw,
            FieldType::Code => Kind::Code,
            FieldType::Integer => Kind::Integer,
            FieldType::Decimal => Kind::Decimal,
            FieldType::Boolean => Kind::Boolean,
            FieldType::Date => Kind::Date,
            // Refused by `SyncSpec` validation (captions and choice values need the map).
            FieldType::Option => Kind::Raw,
        }
    }

    /// How a destination value of `t` is read in direction `d`: a Code destination is the local
    /// side (BC Code, read trimmed and upper-cased); the integration side of a Code field is text.
    fn destination(t: FieldType, d: PlanDirection) -> Kind {
        match (t, d) {
            (FieldType::Code, PlanDirection::ToIntegration) => Kind::Raw,
            _ => Kind::source(t),
        }
    }
}

const NOT_WHOLE: InvalidValue = InvalidValue {
    expected: "integer",
    reason: "expected a whole number",
};

/// The comparison key of `cell` read as `kind`, written into `buf` when it differs from the cell.
fn key_of<'c>(cell: &'c str, kind: Kind, buf: &'c mut String) -> Result<&'c str, InvalidValue> {
    match kind {
        Kind::Raw => Ok(cell),
        Kind::Code => {
            local_key_into(cell, FieldType::Code, Fold::Exact, buf).map(|k| k.unwrap_or(""))
        }
        Kind::Decimal => integration_key_into(cell, Fold::Number, buf),
        Kind::Integer => {
            let key = integration_key_into(cell, Fold::Number, buf)?;
            // Canonical numbers are `0` or `[-]digits e exponent`; whole when the exponent >= 0.
            match key.rsplit_once('e') {
                Some((_, exponent)) if exponent.starts_with('-') => Err(NOT_WHOLE),
                _ => Ok(key),
            }
        }
        Kind::Boolean => integration_key_into(cell, Fold::Boolean, buf),
        Kind::Date => integration_key_into(cell, Fold::Date, buf),
    }
}

/// The text written for a source key (rule 5).
fn render(key: &str, kind: Kind) -> String {
    match kind {
        Kind::Raw | Kind::Code | Kind::Date => key.to_string(),
        Kind::Boolean => if key == "1" { "true" } else { "false" }.to_string(),
        Kind::Decimal | Kind::Integer => plain_number(key),
    }
}

/// A canonical number key (`15e-1`) as a plain decimal (`1.5`). Keys needing more than 64
/// padding zeros stay in exponent form (still a valid number).
fn plain_number(key: &str) -> String {
    const MAX_ZEROS: usize = 64;
    let Some((mantissa, exponent)) = key.split_once('e') else {
        return key.to_string();
    };
    let Ok(exponent) = exponent.parse::<i64>() else {
        return key.to_string();
    };
    let (sign, digits) = match mantissa.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", mantissa),
    };
    let mut out = String::with_capacity(key.len() + 4);
    out.push_str(sign);
    if exponent >= 0 {
        if exponent as usize > MAX_ZEROS {
            return key.to_string();
        }
        out.push_str(digits);
        push_zeros(&mut out, exponent as usize);
    } else {
        let point = digits.len() as i64 + exponent;
        if point > 0 {
            let p = point as usize;
            out.push_str(&digits[..p]);
            out.push('.');
            out.push_str(&digits[p..]);
        } else {
            if (-point) as usize > MAX_ZEROS {
                return key.to_string();
            }
            out.push_str("0.");
            push_zeros(&mut out, (-point) as usize);
            out.push_str(digits);
        }
    }
    out
}

fn push_zeros(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push('0');
    }
}

fn invalid_message(caption: &str, field: &str, value: &str, problem: &InvalidValue) -> String {
    transfer_error(&format!(
        "{caption} field '{field}': '{value}' is {problem}"
    ))
}

enum Source {
    Column(usize),
    /// A constant: its comparison key and the text written.
    Constant {
        key: String,
        text: String,
    },
}

struct CompiledField {
    source: Source,
    /// Source field name (messages); empty for a constant.
    source_name: String,
    destination: usize,
    destination_name: String,
    source_kind: Kind,
    destination_kind: Kind,
    /// Takes part in conflict detection (rule 6): BC's text, else `None`.
    conflict: Option<String>,
    /// A lookup (rule 11): the couplings it translates through, and whether an untranslatable
    /// reference clears the destination.
    lookup: Option<(Arc<Translation>, bool)>,
}

struct CompiledDirection {
    direction: PlanDirection,
    fields: Vec<CompiledField>,
}

fn column(table: &Table, name: &str) -> Result<usize, SyncError> {
    table
        .column_index(name)
        .ok_or_else(|| SyncError::MissingColumn {
            table: table.name().to_string(),
            column: name.to_string(),
            available: table.column_names().to_vec(),
        })
}

fn compile(
    spec: &SyncSpec,
    local: &Table,
    integration: &Table,
) -> Result<Vec<CompiledDirection>, SyncError> {
    let conflicts = spec.detects_conflicts();
    let mut out = Vec::new();
    for &d in spec.first_sync_directions() {
        let (source_table, destination_table) = match d {
            PlanDirection::ToIntegration => (local, integration),
            PlanDirection::FromIntegration => (integration, local),
        };
        let mut fields = Vec::new();
        for f in spec.fields.iter().filter(|f| spec.takes_part(f, d)) {
            let source_kind = Kind::source(f.field_type);
            let (source, source_name) = match (&f.local_field, &f.constant) {
                (Some(l), _) => {
                    let name = match d {
                        PlanDirection::ToIntegration => l.as_str(),
                        PlanDirection::FromIntegration => f.integration_field.as_str(),
                    };
                    (
                        Source::Column(column(source_table, name)?),
                        name.to_string(),
                    )
                }
                (None, Some(value)) => {
                    let mut buf = String::new();
                    let key = key_of(value, source_kind, &mut buf)
                        .map_err(|problem| SyncError::InvalidConstant {
                            integration_field: f.integration_field.clone(),
                            value: value.clone(),
                            problem,
                        })?
                        .to_string();
                    let text = render(&key, source_kind);
                    (Source::Constant { key, text }, String::new())
                }
                (None, None) => unreachable!("validated"),
            };
            let destination_name = f.destination(d).to_string();
            let conflict = (conflicts
                && f.local_field.is_some()
                && f.direction == SyncDirection::Bidirectional)
                .then(|| {
                    conflict_message(
                        spec,
                        d,
                        f.local_field.as_deref().unwrap_or(""),
                        &f.integration_field,
                    )
                });
            fields.push(CompiledField {
                source,
                source_name,
                destination: column(destination_table, &destination_name)?,
                destination_name,
                source_kind,
                destination_kind: Kind::destination(f.field_type, d),
                conflict,
                lookup: f.via.clone().map(|t| (t, f.clear_on_failed_sync)),
            });
        }
        out.push(CompiledDirection {
            direction: d,
            fields,
        });
    }
    Ok(out)
}

/// Plans BC's first synchronization of the coupled `pairs` (local row, integration row), by the
/// rules in the module documentation. Linear in pairs × field mappings; the result does not
/// depend on anything but its arguments.
///
/// ```
/// use coupler_engine::sync::{
///     ConflictResolution, FieldMapping, PlanDirection, PlanStatus, SyncDirection,
/// };
/// use coupler_engine::{plan_sync, FieldType, SyncSpec, Table};
///
/// let spec = SyncSpec {
///     mapping_name: "CUSTOMER".into(),
///     local_table_caption: "Customer".into(),
///     integration_table_caption: "Account".into(),
///     direction: SyncDirection::ToIntegration,
///     conflict_resolution: ConflictResolution::None,
///     fields: vec![
///         FieldMapping::new("Name", "name", FieldType::Text, SyncDirection::ToIntegration),
///         FieldMapping::new(
///             "Credit Limit",
///             "creditlimit",
///             FieldType::Decimal,
///             SyncDirection::ToIntegration,
///         ),
///     ],
/// };
/// let customers = Table::from_rows(
///     "customers.csv",
///     &["No.", "Name", "Credit Limit"],
///     &[vec!["C1", "Contoso Ltd", "1500.00"]],
/// )?;
/// let accounts = Table::from_rows(
///     "accounts.csv",
///     &["accountid", "name", "creditlimit"],
///     &[vec!["A1", "Contoso", "1500"]],
/// )?;
/// // C1 was just coupled to A1 (local row 0, integration row 0).
/// let plan = plan_sync(&spec, &customers, &accounts, &[(0, 0)])?;
///
/// let rows: Vec<(&str, &str, &str, PlanStatus)> = plan
///     .rows
///     .iter()
///     .map(|r| (r.field.as_str(), r.old_value.as_str(), r.new_value.as_str(), r.status))
///     .collect();
/// assert_eq!(
///     rows,
///     [
///         ("name", "Contoso", "Contoso Ltd", PlanStatus::Update),
///         // Numbers compare by value: 1500.00 = 1500.
///         ("creditlimit", "1500", "1500", PlanStatus::Unchanged),
///     ]
/// );
/// assert!(plan.rows.iter().all(|r| r.direction == PlanDirection::ToIntegration));
/// assert_eq!((plan.pairs_updated, plan.counters.modified), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plan_sync(
    spec: &SyncSpec,
    local: &Table,
    integration: &Table,
    pairs: &[(u32, u32)],
) -> Result<SyncPlan, SyncError> {
    spec.validate()?;
    let directions = compile(spec, local, integration)?;
    for &(l, i) in pairs {
        for (table, row) in [(local, l), (integration, i)] {
            if row as usize >= table.len() {
                return Err(SyncError::RowOutOfRange {
                    table: table.name().to_string(),
                    row,
                    len: table.len(),
                });
            }
        }
    }

    let per_pair: usize = directions.iter().map(|d| d.fields.len()).sum();
    let mut plan = SyncPlan {
        rows: Vec::with_capacity(pairs.len().saturating_mul(per_pair)),
        ..SyncPlan::default()
    };
    let mut source_buf = String::new();
    let mut destination_buf = String::new();

    for &(local_row, integration_row) in pairs {
        let mut pair_failed = false;
        let mut pair_updated = false;
        for dir in &directions {
            let d = dir.direction;
            let (source_table, source_row, destination_table, destination_row) = match d {
                PlanDirection::ToIntegration => (local, local_row, integration, integration_row),
                PlanDirection::FromIntegration => (integration, integration_row, local, local_row),
            };
            let (source_caption, destination_caption) = spec.captions(d);
            let start = plan.rows.len();
            // The record's error: the first unreadable value, else the first conflict.
            let mut first_invalid: Option<usize> = None;
            let mut first_conflict: Option<usize> = None;

            for f in &dir.fields {
                let old = destination_table.cell(destination_row as usize, f.destination);
                let (status, new_value, message) = match &f.source {
                    Source::Constant { key, text } => {
                        match key_of(old, f.destination_kind, &mut destination_buf) {
                            Ok(dk) => (changed_status(key != dk), text.clone(), String::new()),
                            Err(p) => (
                                PlanStatus::Failed,
                                text.clone(),
                                invalid_message(destination_caption, &f.destination_name, old, &p),
                            ),
                        }
                    }
                    Source::Column(c) if f.lookup.is_some() => {
                        let cell = source_table.cell(source_row as usize, *c);
                        let (translation, clear) = f.lookup.as_ref().expect("a lookup");
                        match translate_reference(cell, d, translation, *clear, &f.source_name) {
                            Ok(new) => {
                                let old_key = reference_key(old, d);
                                (changed_status(new != old_key), new, String::new())
                            }
                            Err(text) => {
                                (PlanStatus::Failed, cell.to_string(), transfer_error(&text))
                            }
                        }
                    }
                    Source::Column(c) => {
                        let cell = source_table.cell(source_row as usize, *c);
                        match key_of(cell, f.source_kind, &mut source_buf) {
                            Err(p) => (
                                PlanStatus::Failed,
                                cell.to_string(),
                                invalid_message(source_caption, &f.source_name, cell, &p),
                            ),
                            Ok(sk) => {
                                let text = render(sk, f.source_kind);
                                match key_of(old, f.destination_kind, &mut destination_buf) {
                                    Ok(dk) => (changed_status(sk != dk), text, String::new()),
                                    Err(p) => (
                                        PlanStatus::Failed,
                                        text,
                                        invalid_message(
                                            destination_caption,
                                            &f.destination_name,
                                            old,
                                            &p,
                                        ),
                                    ),
                                }
                            }
                        }
                    }
                };
                let (status, message) = match (status, &f.conflict) {
                    (PlanStatus::Update, Some(text)) => {
                        first_conflict.get_or_insert(plan.rows.len());
                        (PlanStatus::Conflict, text.clone())
                    }
                    (PlanStatus::Failed, _) => {
                        first_invalid.get_or_insert(plan.rows.len());
                        (status, message)
                    }
                    _ => (status, message),
                };
                plan.rows.push(PlanRow {
                    local_row,
                    integration_row,
                    direction: d,
                    field: f.destination_name.clone(),
                    old_value: old.to_string(),
                    new_value,
                    status,
                    message,
                });
            }

            // BC writes a record whole or not at all.
            let record_error = first_invalid.or(first_conflict);
            if let Some(at) = record_error {
                let message = plan.rows[at].message.clone();
                for row in &mut plan.rows[start..] {
                    if row.status == PlanStatus::Update {
                        row.status = PlanStatus::Failed;
                        row.message.clone_from(&message);
                    }
                }
                plan.counters.failed += 1;
                pair_failed = true;
            } else if plan.rows[start..]
                .iter()
                .any(|r| r.status == PlanStatus::Update)
            {
                plan.counters.modified += 1;
                pair_updated = true;
            } else {
                plan.counters.unchanged += 1;
            }
        }
        if pair_failed {
            plan.pairs_failed += 1;
        } else if pair_updated {
            plan.pairs_updated += 1;
        } else {
            plan.pairs_unchanged += 1;
        }
    }
    Ok(plan)
}

/// A lookup's value in direction `d` (rule 11): the id (to integration) or key (from
/// integration) the source reference is coupled to, `""` for a blank reference, or BC's error
/// for a reference to a record that is not coupled (`""` with "Clear Value on Failed Sync").
///
/// ```
/// use coupler_engine::sync::{translate_reference, PlanDirection};
/// use coupler_engine::Translation;
///
/// let mut customers = Translation::new("CUSTOMER");
/// customers.add("C1", "5F641B45-48BC-A138-BE13-4EA95426DD94");
/// let to = PlanDirection::ToIntegration;
/// assert_eq!(
///     translate_reference(" c1", to, &customers, false, "Customer No."),
///     Ok("5f641b45-48bc-a138-be13-4ea95426dd94".to_string())
/// );
/// assert_eq!(translate_reference("", to, &customers, false, "Customer No."), Ok(String::new()));
/// assert_eq!(
///     translate_reference("C2", to, &customers, false, "Customer No."),
///     Err("Customer No. C2 must be coupled to a Dataverse record.".to_string())
/// );
/// assert_eq!(translate_reference("C2", to, &customers, true, "Customer No."), Ok(String::new()));
/// ```
pub fn translate_reference(
    cell: &str,
    d: PlanDirection,
    translation: &Translation,
    clear: bool,
    source_field: &str,
) -> Result<String, String> {
    let reference = match d {
        PlanDirection::ToIntegration => translation.resolve_key(cell),
        PlanDirection::FromIntegration => translation.resolve_id(cell),
    };
    match reference {
        Reference::Blank => Ok(String::new()),
        Reference::Coupled(value) => Ok(value.to_string()),
        Reference::NotCoupled(_) if clear => Ok(String::new()),
        Reference::NotCoupled(value) => Err(format!(
            "{source_field} {value} must be coupled to a Dataverse record."
        )),
    }
}

/// A reference as compared on the destination side of `d`: an integration id in canonical
/// form (to integration), a BC key (from integration).
fn reference_key(cell: &str, d: PlanDirection) -> String {
    match d {
        PlanDirection::ToIntegration => canonical_integration_id(cell).trim().to_string(),
        PlanDirection::FromIntegration => canonical_local_id(cell).into_owned(),
    }
}

fn changed_status(changed: bool) -> PlanStatus {
    if changed {
        PlanStatus::Update
    } else {
        PlanStatus::Unchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(cell: &str, kind: Kind) -> Result<String, InvalidValue> {
        let mut buf = String::new();
        key_of(cell, kind, &mut buf).map(str::to_string)
    }

    #[test]
    fn plain_numbers() {
        let p = |s: &str| plain_number(&key(s, Kind::Decimal).unwrap());
        assert_eq!(p("1.50"), "1.5");
        assert_eq!(p("01.5"), "1.5");
        assert_eq!(p("1e2"), "100");
        assert_eq!(p("100"), "100");
        assert_eq!(p(".5"), "0.5");
        assert_eq!(p("-0.005"), "-0.005");
        assert_eq!(p("-12.340"), "-12.34");
        assert_eq!(p(""), "0");
        assert_eq!(p("-0.0"), "0");
        assert_eq!(p("+7"), "7");
        // Huge exponents stay in (valid, re-readable) exponent form.
        assert_eq!(p("1e100"), "1e100");
        assert_eq!(key("1e100", Kind::Decimal).unwrap(), "1e100");
        // Every rendering reads back as the same number.
        for s in ["3.14159", "-2e-3", "12345678901234567890.5", "0.000001"] {
            let k = key(s, Kind::Decimal).unwrap();
            assert_eq!(key(&plain_number(&k), Kind::Decimal).unwrap(), k, "{s}");
        }
    }

    #[test]
    fn integers_must_be_whole() {
        assert!(key("7", Kind::Integer).is_ok());
        assert!(key("7.00", Kind::Integer).is_ok());
        assert!(key("1e3", Kind::Integer).is_ok());
        assert!(key("", Kind::Integer).is_ok());
        assert_eq!(key("1.5", Kind::Integer), Err(NOT_WHOLE));
        assert!(key("abc", Kind::Integer).is_err());
    }

    #[test]
    fn code_and_raw_keys() {
        assert_eq!(key(" usd ", Kind::Code).unwrap(), "USD");
        assert_eq!(key("   ", Kind::Code).unwrap(), "");
        assert_eq!(key(" usd ", Kind::Raw).unwrap(), " usd ");
        assert_eq!(
            Kind::destination(FieldType::Code, PlanDirection::ToIntegration),
            Kind::Raw
        );
        assert_eq!(
            Kind::destination(FieldType::Code, PlanDirection::FromIntegration),
            Kind::Code
        );
    }

    #[test]
    fn renders_canonical_forms() {
        assert_eq!(
            render(&key("YES", Kind::Boolean).unwrap(), Kind::Boolean),
            "true"
        );
        assert_eq!(
            render(&key("", Kind::Boolean).unwrap(), Kind::Boolean),
            "false"
        );
        assert_eq!(
            render(
                &key("2024-02-29T10:00:00Z", Kind::Date).unwrap(),
                Kind::Date
            ),
            "2024-02-29"
        );
        assert_eq!(render(&key("", Kind::Date).unwrap(), Kind::Date), "");
    }

    #[test]
    fn transfer_error_drops_trailing_dots() {
        assert_eq!(
            transfer_error("boom..."),
            "The data could not be updated because of the following error: boom."
        );
    }
}
