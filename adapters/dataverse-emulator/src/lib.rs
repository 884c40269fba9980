//! A local emulator of the Microsoft Dataverse Web API (OData v4, `/api/data/v9.2/`) and of the
//! Entra ID token endpoint, so that coupler's Dataverse client can be tested — and coupler
//! demonstrated — without a tenant. It follows Microsoft's published Web API behaviour; the
//! crate's README says what is covered and where behaviour is inferred.
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

/// Entry points for the cargo-fuzz targets in `fuzz/` (`odata_filter`, `batch_request`): the
/// emulator's state without a server, so that one input costs microseconds. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use std::sync::{Arc, Mutex, RwLock};

    use crate::api::{ApiRequest, Env};
    use crate::odata::{filter::parse_filter, options::QueryOptions};
    use crate::state::{ClientState, Settings, Shared};
    use crate::{Collation, Controls, EmulatorConfig, EmulatorError};

    /// The emulator's shared state built from a config (clients with a secret only).
    pub struct Emulator {
        shared: Arc<Shared>,
    }

    impl Emulator {
        pub fn new(config: &EmulatorConfig) -> Result<Emulator, EmulatorError> {
            let clients = (config.clients.iter())
                .map(|c| ClientState {
                    client_id: c.client_id.clone(),
                    secret: c.secret.clone(),
                    certificate: None,
                    system_administrator: c.system_administrator,
                    user_id: "00000000-0000-0000-0000-000000000001".to_owned(),
                })
                .collect();
            let shared = Shared {
                url: "http://127.0.0.1:1".to_owned(),
                tenant_id: config.tenant_id.clone(),
                tenant_guid: config.tenant_guid.clone(),
                clients,
                page_size_max: config.page_size_max.max(1),
                dop_hint: config.dop_hint,
                business_unit_id: "00000000-0000-0000-0000-000000000002".to_owned(),
                store: RwLock::new(crate::store::Store::from_config(config)?),
                settings: Mutex::new(Settings {
                    admin_mode: config.admin_mode,
                    collation: config.collation,
                    token_lifetime_secs: config.token_lifetime_secs,
                    service_protection: None,
                    log_to_stderr: false,
                }),
                tokens: Default::default(),
                faults: Default::default(),
                throttle: Default::default(),
                stats: Default::default(),
                log: Default::default(),
            };
            Ok(Emulator {
                shared: Arc::new(shared),
            })
        }

        /// The runtime switches (rows are added through them).
        pub fn controls(&self) -> Controls {
            Controls {
                shared: self.shared.clone(),
            }
        }

        /// A raw query string (`$filter=…&@p1=…`) decoded as a GET does, its `$filter` parsed
        /// against `entity_set` and evaluated on every row. `Ok(matching rows)`, or the error.
        pub fn filter(
            &self,
            entity_set: &str,
            query: &str,
            collation: Collation,
        ) -> Result<usize, String> {
            let options = QueryOptions::parse(query).map_err(|e| format!("{e:?}"))?;
            let Some(text) = options.filter.as_deref() else {
                return Ok(0);
            };
            let store = self.shared.read_store();
            let table = &store.tables[store.index(entity_set).ok_or("no such entity set")?];
            let filter = parse_filter(text, &table.def, &options.aliases, collation)
                .map_err(|e| format!("{e:?}"))?;
            Ok(table
                .rows
                .values()
                .filter(|r| filter.matches(&r.cells))
                .count())
        }

        /// `POST $batch` as `client_id`: (status, headers, body) of the answer (status 0 when
        /// an injected fault drops the connection).
        pub fn batch(
            &self,
            client_id: &str,
            headers: Vec<(String, String)>,
            body: Vec<u8>,
        ) -> (u16, Vec<(String, String)>, Vec<u8>) {
            let env = Env {
                shared: &self.shared,
                api_base: format!("{}/api/data/v9.2", self.shared.url),
                client_id: client_id.to_owned(),
                settings: self.shared.settings(),
            };
            let request = ApiRequest {
                method: "POST".to_owned(),
                path: "$batch".to_owned(),
                query: String::new(),
                headers,
                body,
            };
            let outcome = crate::batch::run(&env, &request);
            let r = outcome.response;
            let status = if outcome.drop_connection { 0 } else { r.status };
            (status, r.headers, r.body)
        }
    }
}
