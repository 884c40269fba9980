//! The Dataverse client's `$batch` answer handling: `write_batch` against a loopback stub that
//! answers with the input — the multipart parser (nested change sets, quoted or bare
//! boundaries, CRLF or LF, cut answers), each part's status line, headers and body, and what
//! `write_batch` does with them (`Retry-After` of throttled parts, Dataverse error bodies, the
//! outcome per write, one retry of transient parts). Any answer must end in `Ok` with one
//! result per write, or an error; never a panic.
//!
//! Input: an HTTP answer head and body, LF or CRLF: an optional status line (`200`), header
//! lines (`Content-Type: multipart/mixed; boundary=…`), a blank line, then the body. The stub
//! sets Content-Length itself (and sends no body with a 204 or 304).

#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use coupler_dataverse::{
    write_batch, ConnectionSettings, Credential, RetryPolicy, Secret, Session, WriteKind, WriteOp,
};
use coupler_fuzz::{Stub, StubAnswer};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map};

/// The writes sent in each batch; answers for more are an error, fewer are retried.
const WRITES: usize = 8;

struct World {
    stub: Stub,
    session: Session,
    ops: Vec<WriteOp>,
}

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> World {
    let stub = Stub::start();
    let mut settings = ConnectionSettings::new(
        stub.url.clone(),
        "contoso.onmicrosoft.com",
        "11111111-2222-3333-4444-555555555555",
        Credential::Secret(Secret::new("test-secret")),
    );
    settings.authority = stub.url.clone();
    settings.timeout = Duration::from_secs(10);
    settings.retry = RetryPolicy {
        max_retries: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        max_retry_after: Duration::from_millis(1),
    };
    let session = Session::open(&settings).expect("session settings");
    let ops = (0..WRITES)
        .map(|i| {
            let mut fields = Map::new();
            fields.insert("name".into(), json!(format!("Account {i}")));
            WriteOp {
                key: format!("K{i}"),
                kind: if i % 2 == 0 {
                    WriteKind::Update
                } else {
                    WriteKind::Create
                },
                entity_set: "accounts".into(),
                id: format!("aaaaaaaa-0000-0000-0000-{i:012}"),
                fields,
            }
        })
        .collect();
    World { stub, session, ops }
}

/// The stub's answer: status, headers that keep the framing intact, body.
fn answer(data: &[u8]) -> StubAnswer {
    let text = String::from_utf8_lossy(data);
    let mut status = 200;
    let mut headers = Vec::new();
    let mut rest = &text[..];
    let mut first = true;
    while !rest.is_empty() {
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        rest = after;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if std::mem::take(&mut first) {
            if let Ok(code @ 200..=599) = line.trim().parse::<u16>() {
                status = code;
                continue;
            }
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let framing = ["content-length", "transfer-encoding", "connection"]
            .iter()
            .any(|f| name.eq_ignore_ascii_case(f));
        if token && !framing {
            let value: String = value
                .trim()
                .chars()
                .filter(|c| *c == '\t' || !c.is_control())
                .collect();
            headers.push(format!("{name}: {value}"));
        }
    }
    let body = if status == 204 || status == 304 {
        Vec::new()
    } else {
        rest.as_bytes().to_vec()
    };
    StubAnswer {
        status,
        headers,
        body,
    }
}

fuzz_target!(|data: &[u8]| {
    let world = WORLD.get_or_init(world);
    world.stub.set(answer(data));
    if let Ok(results) = write_batch(&world.session, &world.ops, 0, &|_| {}) {
        assert_eq!(results.len(), WRITES);
        for (r, op) in results.iter().zip(&world.ops) {
            assert_eq!(r.key, op.key);
        }
    }
});
