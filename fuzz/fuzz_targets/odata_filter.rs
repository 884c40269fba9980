//! The emulator's `$filter` parser (lexer, parser, type checks, `Microsoft.Dynamics.CRM.*`
//! query functions, parameter aliases) and evaluator, on arbitrary text: a filter either
//! parses and evaluates on every row of a typed `accounts` table, or is rejected with an
//! error, never a panic; under both collations.
//!
//! Input: a raw query string (`$filter=…&@p1=…`, percent-encoded, decoded as a GET's is) when
//! it starts with `$` or `@`; otherwise the `$filter` text itself.

#![no_main]

use std::sync::OnceLock;

use coupler_fuzz::emulator::emulator;
use dataverse_emulator::fuzzing::Emulator;
use dataverse_emulator::Collation;
use libfuzzer_sys::fuzz_target;

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let query = if text.starts_with(['$', '@']) {
        text.to_owned()
    } else {
        let encoded = text
            .replace('%', "%25")
            .replace('&', "%26")
            .replace('+', "%2B");
        format!("$filter={encoded}")
    };
    let emulator = EMULATOR.get_or_init(emulator);
    for collation in [Collation::CiAi, Collation::CiAs] {
        if let Ok(n) = emulator.filter("accounts", &query, collation) {
            assert!(n <= 6);
        }
    }
});
