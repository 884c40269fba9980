//! coupler's Dataverse Web API client (OData v4, `/api/data/v9.2/`): the integration side of a
//! production coupling, read straight from the environment instead of from an export.
//!
//! - [`settings`]: the `[dataverse]` section of the config ([`DataverseSection`]), where the environment is, the credential (client secret or certificate),
//!   retry policy; HTTPS required except to loopback (a local emulator).
//! - [`auth`](crate::Session): client-credentials tokens from Microsoft Entra ID, cached and
//!   renewed before expiry and once after a 401.
//! - [`session`]: one connection: the standard OData headers, and the bounded retry loop for
//!   429 (`Retry-After` honoured), 502/503/504, timeouts and dropped connections. It counts
//!   requests, retries and throttled answers for `job.json`.
//! - [`filter_pushdown`]: a BC filter expression as OData `$filter`, as far as it translates
//!   without losing rows.
//! - [`odata`]: query text: literals escaped by type, values percent-encoded, `In` chunks under
//!   the 500-condition and URL-length limits, Dataverse's default row order.
//! - [`metadata`]: tables and columns from `EntityDefinitions`, with did-you-mean suggestions,
//!   the options of choice columns (`PicklistAttributeMetadata` with its `OptionSet`), and the
//!   targets of lookup columns (`ManyToOneRelationships`) with the `@odata.bind` value of a row,
//!   and the maximum lengths of text columns (`MaxLength` of the String and Memo casts).
//! - [`read`]: rows into the engine's [`coupler_engine::Table`]: the whole table page by page,
//!   or only the rows that can match (`In` lookups), values normalised exactly.
//! - [`checks`]: `WhoAmI` and BC's currency rules for `coupler connection test`.
//! - [`write`](mod@write): exactly-once writes back: updates (`If-Match: *`) and creates with
//!   client-generated ids (`If-None-Match: *`), one by one or in `$batch` requests.
//!
//! The client is blocking (reqwest's blocking client): coupling reads one table after another
//! and the engine is synchronous; an async runtime would add weight and no speed. rustls with
//! `ring` keeps the build free of OpenSSL. The secret never appears in `Debug` output, errors
//! or logs.

mod auth;
pub mod checks;
pub mod error;
pub mod filter_pushdown;
pub mod metadata;
pub mod odata;
pub mod read;
pub mod session;
pub mod settings;
pub mod write;

pub use checks::{currencies, currency_verdict, who_am_i, Currencies, CurrencyVerdict, WhoAmI};
pub use error::DataverseError;
pub use filter_pushdown::push_down;
pub use metadata::{
    bind_value, choice_options, lookup_targets, max_lengths, table_info, AttributeKind,
    ChoiceError, ChoiceOption, ColumnInfo, LookupTarget, TableInfo,
};
pub use read::{read_all, read_lookups, total_rows, LookupPlan, ReadRequest, ReadStrategy};
pub use session::{HttpCounts, Session};
pub use settings::{
    AssertionAlgorithm, Certificate, ConnectionSettings, Credential, DataverseSection, RetryPolicy,
    Secret,
};
pub use write::{write_batch, write_one, WriteKind, WriteOp, WriteOutcome, WriteResult};
