//! Shared by the client's tests: the emulator's registered client, an emulator serving one
//! account table, and a session to it.
#![allow(dead_code)] // each test file uses a different subset

use coupler_dataverse::{ConnectionSettings, Credential, RetryPolicy, Secret, Session};
use dataverse_emulator::{EmulatorConfig, RunningEmulator};

/// The client id every test emulator registers.
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

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
secret = "s3cret"
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
