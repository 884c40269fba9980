//! The emulator's `$batch` handler on arbitrary requests: the multipart parser (outer body and
//! change sets, quoted or bare boundaries, CRLF or LF), each part's request line, headers,
//! URL (`$n` Content-ID references) and body, and then the parts run against a fresh emulator
//! with a typed `accounts` table (change sets rolled back on failure). Every request must be
//! answered — a 4xx/5xx or a multipart answer that closes its boundary — never a panic.
//!
//! Input: the Content-Type header value, a line break, the Prefer header value (may be empty),
//! a line break, then the body.

#![no_main]

use coupler_fuzz::emulator::{emulator, CLIENT_ID};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let content_type = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let prefer = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let body = lines.next().unwrap_or_default().to_vec();
    let mut headers = vec![(
        "Content-Type".to_owned(),
        content_type.trim_end_matches('\r').to_owned(),
    )];
    let prefer = prefer.trim_end_matches('\r');
    if !prefer.is_empty() {
        headers.push(("Prefer".to_owned(), prefer.to_owned()));
    }
    let (status, headers, body) = emulator().batch(CLIENT_ID, headers, body);
    assert!((200..600).contains(&status), "status {status}");
    let content_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if let Some(boundary) = content_type.split("boundary=").nth(1) {
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.trim_end().ends_with(&format!("--{boundary}--")),
            "the answer does not close its boundary: {text}"
        );
    }
});
