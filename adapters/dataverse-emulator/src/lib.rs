//! A local emulator of the Microsoft Dataverse Web API (OData v4, `/api/data/v9.2/`) and of the
//! Entra ID token endpoint, so that coupler's Dataverse client can be tested — and coupler
//! demonstrated — without a tenant. It follows the wire contract in
//! `shared/reference/dataverse-webapi.md` (section 7, "Emulator checklist").
//!
//! The crate owns: serving tables loaded from CSV files, the token endpoint (client secrets and
//! certificate assertions verified), WhoAmI, `organizations` / `transactioncurrencies`,
//! `EntityDefinitions` with `Attributes` (and the option sets of choice columns) and `Keys`,
//! OData reads (`$select`, `$filter`, `$orderby`, `$top`, `$count`, paging with `$skiptoken`
//! nextLinks), writes (POST, PATCH upsert with conditions, DELETE), `$batch` with change sets,
//! and switches for administration mode, service-protection limits and injected faults.
//!
//! How the modules fit:
//!
//! * [`config`] — the TOML configuration; `store` — tables, rows, versions, undo log;
//!   `types` — attribute types and exact cell values; [`collation`] — string comparison.
//! * `odata` — query options and `Prefer` parsing, the `$filter` parser and evaluator, LIKE.
//! * `query` (reads), `paging` (skiptoken cookies), `render` (row JSON), `write`, `keys`
//!   (record addressing), `metadata`, `batch` — the Web API handlers; `api` routes to them.
//! * `auth` (token endpoint, JWT assertions, issued tokens), `throttle` (service protection),
//!   `faults` (injection) — the checks around each request.
//! * `server` — the axum server and request pipeline; [`Controls`] — the runtime switches.
//!
//! ```no_run
//! let config = dataverse_emulator::EmulatorConfig::load("fixtures/dataverse/emulator.toml")?;
//! let emulator = dataverse_emulator::start(config)?;
//! println!("Web API at {}/api/data/v9.2/", emulator.url());
//! emulator.controls().set_admin_mode(true);
//! # Ok::<(), dataverse_emulator::EmulatorError>(())
//! ```

pub mod collation;
pub mod config;
pub mod error;
mod store;
mod types;

mod api;
mod auth;
mod batch;
mod controls;
mod faults;
mod keys;
mod metadata;
mod odata;
mod paging;
mod query;
mod render;
mod response;
mod server;
mod state;
mod throttle;
mod write;

pub use collation::Collation;
pub use config::{
    ClientConfig, CurrencyConfig, CurrencyDef, EmulatorConfig, KeyConfig, TableConfig,
};
pub use controls::{Controls, RequestKind, RequestRecord, Stats};
pub use error::EmulatorError;
pub use faults::{Fault, FaultWhen};
pub use server::{start, start_on, RunningEmulator};
pub use throttle::{ServiceProtection, ThrottleKind};
pub use types::AttrType;
