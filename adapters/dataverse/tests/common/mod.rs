//! Shared by the client's tests: the emulator's registered client and a session to it.
#![allow(dead_code)] // each test file uses a different subset

use coupler_dataverse::{ConnectionSettings, Credential, RetryPolicy, Secret, Session};
use dataverse_emulator::RunningEmulator;

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
