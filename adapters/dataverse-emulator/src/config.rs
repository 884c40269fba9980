//! The emulator's configuration: a TOML file (`deny_unknown_fields`, paths relative to the file)
//! or the same structs built in code. Nothing here touches the network or the store; turning a
//! configuration into served tables is the `store` module's job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::collation::Collation;
use crate::error::EmulatorError;
use crate::types::AttrType;

/// The whole emulator configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Address the binary listens on (the library's [`crate::start`] always binds `127.0.0.1:0`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Tenant name in the token URL `{url}/{tenant_id}/oauth2/v2.0/token`.
    #[serde(default = "default_tenant")]
    pub tenant_id: String,
    /// Optional tenant GUID, accepted in the token URL as well and used in `WWW-Authenticate`.
    #[serde(default)]
    pub tenant_guid: Option<String>,
    /// Lifetime of issued access tokens, in seconds.
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
    /// Largest page the server hands out (Dataverse: 5000).
    #[serde(default = "default_page_size_max")]
    pub page_size_max: usize,
    /// String comparison rules of the environment (`CI_AI` or `CI_AS`).
    #[serde(default)]
    pub collation: Collation,
    /// Start in administration mode.
    #[serde(default)]
    pub admin_mode: bool,
    /// Value of the `x-ms-dop-hint` header on WhoAmI.
    #[serde(default = "default_dop_hint")]
    pub dop_hint: u32,
    /// Registered application users.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Currencies (built-in `transactioncurrencies` table and the organization's base currency).
    #[serde(default)]
    pub currency: CurrencyConfig,
    /// Served tables.
    #[serde(default)]
    pub tables: Vec<TableConfig>,
    /// Directory that relative paths are resolved against (the config file's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// One registered application (client credentials).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The application (client) id.
    pub client_id: String,
    /// A literal client secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// Name of an environment variable holding the client secret (start fails when unset).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// PEM file with the registered certificate (a CERTIFICATE block; key blocks are ignored).
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// Whether the application user holds System Administrator (passes administration mode).
    #[serde(default)]
    pub system_administrator: bool,
}

/// Currency setup.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrencyConfig {
    /// ISO code of the organization's base currency; must be listed in `currencies`.
    #[serde(default = "default_currency")]
    pub base: String,
    /// All transaction currencies.
    #[serde(default = "default_currencies")]
    pub currencies: Vec<CurrencyDef>,
}

impl Default for CurrencyConfig {
    fn default() -> Self {
        Self {
            base: default_currency(),
            currencies: default_currencies(),
        }
    }
}

/// One transaction currency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrencyDef {
    /// ISO code (≤ 5 characters), e.g. `EUR`.
    pub iso: String,
    /// Display name.
    pub name: String,
    /// Decimal places.
    #[serde(default = "default_precision")]
    pub precision: u32,
    /// Exchange rate to the base currency, as decimal text.
    #[serde(default = "default_rate")]
    pub exchange_rate: String,
    /// Currency symbol used in formatted values (defaults to the ISO code).
    #[serde(default)]
    pub symbol: Option<String>,
    /// Fixed transactioncurrencyid (default: generated at start).
    #[serde(default)]
    pub id: Option<String>,
}

/// One served table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// Logical name, e.g. `account`.
    pub logical_name: String,
    /// Entity set name, e.g. `accounts`.
    pub entity_set: String,
    /// Primary id column (Uniqueidentifier), e.g. `accountid`.
    pub primary_id: String,
    /// Primary name column.
    #[serde(default)]
    pub primary_name: Option<String>,
    /// CSV file with a header row of logical column names; an empty cell is null.
    #[serde(default)]
    pub csv: Option<PathBuf>,
    /// Attribute type per column (default `String`).
    #[serde(default)]
    pub types: BTreeMap<String, AttrType>,
    /// Captions for formatted values, per column: value text → label. For a Picklist, State or
    /// Status column they are also its option set (the keys must be whole numbers) and replace
    /// the built-in options (`account.customertypecode`, `account.industrycode`, Active/Inactive).
    #[serde(default)]
    pub captions: BTreeMap<String, BTreeMap<String, String>>,
    /// Decimal places per Money/Decimal column: shorter fractions are padded with zeros.
    #[serde(default)]
    pub precision: BTreeMap<String, u32>,
    /// Alternate keys.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
}

impl TableConfig {
    /// A table with no CSV (rows added later through [`crate::Controls`]).
    pub fn new(logical_name: &str, entity_set: &str, primary_id: &str) -> Self {
        Self {
            logical_name: logical_name.to_owned(),
            entity_set: entity_set.to_owned(),
            primary_id: primary_id.to_owned(),
            primary_name: None,
            csv: None,
            types: BTreeMap::new(),
            captions: BTreeMap::new(),
            precision: BTreeMap::new(),
            keys: Vec::new(),
        }
    }
}

/// An alternate key declared on a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The key's logical (and schema) name.
    pub logical_name: String,
    /// Key columns.
    pub attributes: Vec<String>,
    /// `EntityKeyIndexStatus`: only `Active` keys can address records.
    #[serde(default = "default_key_status")]
    pub status: String,
}

fn default_listen() -> String {
    "127.0.0.1:8181".to_owned()
}
fn default_tenant() -> String {
    "contoso.onmicrosoft.com".to_owned()
}
fn default_token_lifetime() -> u64 {
    3599
}
fn default_page_size_max() -> usize {
    5000
}
fn default_dop_hint() -> u32 {
    4
}
fn default_currency() -> String {
    "USD".to_owned()
}
fn default_currencies() -> Vec<CurrencyDef> {
    vec![CurrencyDef {
        iso: "USD".to_owned(),
        name: "US Dollar".to_owned(),
        precision: 2,
        exchange_rate: default_rate(),
        symbol: Some("$".to_owned()),
        id: None,
    }]
}
fn default_precision() -> u32 {
    2
}
fn default_rate() -> String {
    "1.0".to_owned()
}
fn default_key_status() -> String {
    "Active".to_owned()
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            tenant_id: default_tenant(),
            tenant_guid: None,
            token_lifetime_secs: default_token_lifetime(),
            page_size_max: default_page_size_max(),
            collation: Collation::default(),
            admin_mode: false,
            dop_hint: default_dop_hint(),
            clients: Vec::new(),
            currency: CurrencyConfig::default(),
            tables: Vec::new(),
            base_dir: PathBuf::from("."),
        }
    }
}

impl EmulatorConfig {
    /// Reads a TOML configuration; relative paths in it are resolved against its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, EmulatorError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::Io {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_toml(&text)?;
        config.base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(config)
    }

    /// Parses TOML text; relative paths resolve against the current directory.
    pub fn from_toml(text: &str) -> Result<Self, EmulatorError> {
        toml::from_str(text).map_err(|e| EmulatorError::Config(e.to_string()))
    }

    /// Resolves a path from the configuration against [`EmulatorConfig::base_dir`].
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.base_dir.join(path)
        }
    }
}
