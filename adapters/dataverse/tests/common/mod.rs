//! Shared by the client's tests: the emulator's registered client, an emulator serving one
//! account table, and a session to it.
#![allow(dead_code)] // each test file uses a different subset

use std::collections::BTreeMap;

use coupler_dataverse::{ConnectionSettings, Credential, RetryPolicy, Secret, Session};
use dataverse_emulator::{AttrType, ClientConfig, EmulatorConfig, RunningEmulator, TableConfig};

/// The client id every test emulator registers.
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
/// Its secret.
pub const SECRET: &str = "s3cret";

/// Column types for `TableConfig::types`, from `(column, type)` pairs.
pub fn types(pairs: &[(&str, AttrType)]) -> BTreeMap<String, AttrType> {
    pairs.iter().map(|(n, t)| (n.to_string(), *t)).collect()
}

/// Starts an emulator (tenant `t`, [`CLIENT`] with [`SECRET`]) serving `tables`.
pub fn start_with_tables(tables: Vec<TableConfig>) -> RunningEmulator {
    let config = EmulatorConfig {
        tenant_id: "t".into(),
        clients: vec![ClientConfig {
            client_id: CLIENT.into(),
            secret: Some(SECRET.into()),
            secret_env: None,
            certificate: None,
            system_administrator: false,
        }],
        tables,
        ..EmulatorConfig::default()
    };
    dataverse_emulator::start(config).unwrap()
}

/// A session to `emulator` with [`SECRET`] and the default retry policy.
pub fn session(emulator: &RunningEmulator) -> Session {
    session_with(emulator, SECRET, Default::default())
}

/// A session to `emulator` (tenant `t`, the emulator as authority) with `secret` and `retry`.
pub fn session_with(emulator: &RunningEmulator, secret: &str, retry: RetryPolicy) -> Session {
    let mut settings = ConnectionSettings::new(
        emulator.url(),
        "t",
        CLIENT,
        Credential::Secret(Secret::new(secret)),
    );
    settings.authority = emulator.url();
    settings.retry = retry;
    Session::open(&settings).unwrap()
}

/// Starts an emulator (tenant `t`, [`CLIENT`] with secret `s3cret`) serving `dir/accounts.csv`
/// as the `account` table, with the column types `types` (lines of `[tables.types]`).
pub fn start_account_emulator(dir: &std::path::Path, types: &str) -> RunningEmulator {
    std::fs::write(
        dir.join("emulator.toml"),
        format!(
            r#"
tenant_id = "t"
[[clients]]
client_id = "{CLIENT}"
secret = "{SECRET}"
[[tables]]
logical_name = "account"
entity_set = "accounts"
primary_id = "accountid"
primary_name = "name"
csv = "accounts.csv"
[tables.types]
{types}
"#
        ),
    )
    .unwrap();
    dataverse_emulator::start(EmulatorConfig::load(dir.join("emulator.toml")).unwrap()).unwrap()
}
