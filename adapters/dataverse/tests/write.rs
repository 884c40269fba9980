//! Writes against the Dataverse emulator (in this process, on loopback): updates of changed
//! columns, creates with client-generated ids, `$batch` with part and whole-batch faults. After
//! every test the emulator's rows are compared with a model of the expected final state: no
//! write lost, none applied twice, no row created by an update.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use coupler_dataverse::{
    write_batch, write_one, DataverseError, RetryPolicy, Session, WriteKind, WriteOp, WriteOutcome,
    WriteResult,
};
use dataverse_emulator::{Fault, FaultWhen, RequestKind, RunningEmulator, ThrottleKind};
use serde_json::{json, Map, Value};

mod common;
use common::{session_with, start_account_emulator};
const SET: &str = "accounts";
const PK: &str = "accountid";

type Row = BTreeMap<String, Option<String>>;

/// The id of seeded row `i` (scrambled, so that file order is not key order).
fn seeded_id(i: usize) -> String {
    let n = (i as u64).wrapping_mul(2_654_435_761) % 1_000_000_007;
    format!("{:08x}-0000-4000-8000-{:012x}", n as u32, i)
}

/// A fresh id for a create (what the caller generates).
fn new_id(i: usize) -> String {
    format!("c0ffee00-{:04x}-4000-9000-{:012x}", i % 0xffff, i)
}

/// An emulator serving `rows` accounts: name, telephone1, numberofemployees, description.
fn emulator(rows: usize, dir: &Path) -> RunningEmulator {
    let mut csv = String::from("accountid,name,telephone1,numberofemployees,description\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "{},Account {i},+1 555 {i:07},{},seeded\n",
            seeded_id(i),
            i * 10
        ));
    }
    std::fs::write(dir.join("accounts.csv"), csv).unwrap();
    start_account_emulator(dir, "numberofemployees = \"Integer\"")
}

fn session(emulator: &RunningEmulator) -> Session {
    session_with(
        emulator,
        "s3cret",
        RetryPolicy {
            base_delay: std::time::Duration::from_millis(2),
            ..RetryPolicy::default()
        },
    )
}

fn fields(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn update(key: &str, id: &str, f: Map<String, Value>) -> WriteOp {
    WriteOp {
        key: key.into(),
        kind: WriteKind::Update,
        entity_set: SET.into(),
        id: id.into(),
        fields: f,
    }
}

fn create(key: &str, id: &str, f: Map<String, Value>) -> WriteOp {
    WriteOp {
        key: key.into(),
        kind: WriteKind::Create,
        entity_set: SET.into(),
        id: id.into(),
        fields: f,
    }
}

/// The emulator's rows by id.
fn rows(emu: &RunningEmulator) -> BTreeMap<String, Row> {
    let cells = emu.controls().table_cells(SET).unwrap();
    let n = cells.len();
    let by_id: BTreeMap<String, Row> = cells
        .into_iter()
        .map(|r| (r[PK].clone().unwrap(), r))
        .collect();
    assert_eq!(by_id.len(), n, "duplicate primary keys");
    by_id
}

/// The expected final state: the rows before, with each op applied once (updates only to
/// existing rows, creates only of missing ones).
struct Model {
    rows: BTreeMap<String, Row>,
    columns: Vec<String>,
}

impl Model {
    fn of(emu: &RunningEmulator) -> Model {
        let rows = rows(emu);
        let columns = rows.values().next().unwrap().keys().cloned().collect();
        Model { rows, columns }
    }

    fn apply(&mut self, op: &WriteOp) {
        let cell = |v: &Value| match v {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        match op.kind {
            WriteKind::Update => {
                if let Some(row) = self.rows.get_mut(&op.id) {
                    for (k, v) in &op.fields {
                        row.insert(k.clone(), cell(v));
                    }
                }
            }
            WriteKind::Create => {
                if !self.rows.contains_key(&op.id) {
                    let mut row: Row = self.columns.iter().map(|c| (c.clone(), None)).collect();
                    row.insert(PK.into(), Some(op.id.clone()));
                    for (k, v) in &op.fields {
                        row.insert(k.clone(), cell(v));
                    }
                    self.rows.insert(op.id.clone(), row);
                }
            }
        }
    }

    /// The exactly-once check.
    fn assert_matches(&self, emu: &RunningEmulator) {
        let actual = rows(emu);
        assert_eq!(actual.len(), self.rows.len(), "row count");
        for (id, expected) in &self.rows {
            assert_eq!(actual.get(id), Some(expected), "row {id}");
        }
    }
}

/// 250 ops: every third a create, the others updates of distinct seeded rows.
fn mixed_ops(n: usize) -> Vec<WriteOp> {
    (0..n)
        .map(|i| {
            if i % 3 == 2 {
                create(
                    &format!("op{i}"),
                    &new_id(i),
                    fields(&[
                        ("name", json!(format!("New {i}"))),
                        ("numberofemployees", json!(i)),
                    ]),
                )
            } else {
                update(
                    &format!("op{i}"),
                    &seeded_id(i),
                    fields(&[
                        ("name", json!(format!("Renamed {i}"))),
                        ("telephone1", Value::Null),
                    ]),
                )
            }
        })
        .collect()
}

fn all_done(results: &[WriteResult], ops: &[WriteOp]) {
    assert_eq!(results.len(), ops.len());
    for (r, op) in results.iter().zip(ops) {
        assert_eq!(r.key, op.key, "results in op order");
        assert_eq!(r.outcome, WriteOutcome::Done, "{}", r.key);
    }
}

fn batch_requests(emu: &RunningEmulator) -> usize {
    emu.controls()
        .requests()
        .iter()
        .filter(|r| r.kind == RequestKind::WebApi && r.path_and_query.ends_with("$batch"))
        .count()
}

#[test]
fn update_changes_only_the_given_columns_and_a_missing_row_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(5, dir.path());
    let s = session(&emu);
    let mut model = Model::of(&emu);

    let op = update(
        "u1",
        &seeded_id(1),
        fields(&[
            ("name", json!("O'Brien & Co / Café")),
            ("numberofemployees", json!(42)),
            ("telephone1", Value::Null),
        ]),
    );
    let result = write_one(&s, &op).unwrap();
    assert_eq!(
        result,
        WriteResult {
            key: "u1".into(),
            outcome: WriteOutcome::Done
        }
    );
    model.apply(&op);
    let row = &rows(&emu)[&seeded_id(1)];
    assert_eq!(row["name"].as_deref(), Some("O'Brien & Co / Café"));
    assert_eq!(row["numberofemployees"].as_deref(), Some("42"));
    assert_eq!(row["telephone1"], None);
    assert_eq!(row["description"].as_deref(), Some("seeded"), "untouched");

    // A vanished row: 404, and never a silent create.
    let gone = "00000000-0000-4000-8000-00000000dead";
    let op = update("u2", gone, fields(&[("name", json!("ghost"))]));
    assert_eq!(write_one(&s, &op).unwrap().outcome, WriteOutcome::NotFound);
    assert!(!rows(&emu).contains_key(gone));

    // The wire: PATCH with If-Match: * (and the standard headers).
    let log = emu.controls().requests();
    let patches: Vec<_> = log.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 2);
    assert_eq!(
        patches[0].path_and_query,
        format!("/api/data/v9.2/accounts({})", seeded_id(1))
    );
    assert_eq!(patches[0].if_match.as_deref(), Some("*"));
    assert_eq!(patches[0].if_none_match.as_deref(), Some("null"));
    assert_eq!(patches[0].odata_version.as_deref(), Some("4.0"));
    assert!(patches[0]
        .content_type
        .as_deref()
        .unwrap()
        .starts_with("application/json"));
    model.assert_matches(&emu);
}

#[test]
fn create_with_a_client_id_and_again_is_already_existed() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(3, dir.path());
    let s = session(&emu);
    let mut model = Model::of(&emu);
    let id = new_id(1);
    let op = create(
        "c1",
        &id,
        fields(&[
            ("name", json!("Brand new")),
            ("numberofemployees", json!(7)),
        ]),
    );
    assert_eq!(write_one(&s, &op).unwrap().outcome, WriteOutcome::Done);
    model.apply(&op);
    let row = &rows(&emu)[&id];
    assert_eq!(row["name"].as_deref(), Some("Brand new"));
    assert_eq!(row["numberofemployees"].as_deref(), Some("7"));

    // The same op again (a retry after a lost answer): 412, still one row, unchanged.
    let again = create("c1", &id, fields(&[("name", json!("Second attempt"))]));
    assert_eq!(
        write_one(&s, &again).unwrap().outcome,
        WriteOutcome::AlreadyExisted
    );
    assert_eq!(rows(&emu)[&id]["name"].as_deref(), Some("Brand new"));
    // A create never overwrites an existing row either.
    let clash = create("c2", &seeded_id(0), fields(&[("name", json!("clash"))]));
    assert_eq!(
        write_one(&s, &clash).unwrap().outcome,
        WriteOutcome::AlreadyExisted
    );

    let patches: Vec<_> = emu
        .controls()
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert!(patches
        .iter()
        .all(|r| r.if_none_match.as_deref() == Some("*") && r.if_match.is_none()));
    model.assert_matches(&emu);
}

#[test]
fn single_writes_survive_a_dropped_connection_and_a_503_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(3, dir.path());
    let s = session(&emu);
    let mut model = Model::of(&emu);
    let ops = [
        create("c", &new_id(9), fields(&[("name", json!("Created"))])),
        update(
            "u",
            &seeded_id(2),
            fields(&[("description", json!("changed"))]),
        ),
    ];
    // The create's first attempt loses its connection, the update's is answered 503.
    for (op, fault) in ops.iter().zip([Fault::DropConnection, Fault::Status(503)]) {
        emu.controls().inject(fault, FaultWhen::NextRequests(1));
        assert_eq!(write_one(&s, op).unwrap().outcome, WriteOutcome::Done);
        model.apply(op);
    }
    model.assert_matches(&emu);
    assert_eq!(s.counts().retries, 2);
    assert_eq!(emu.controls().stats().faults_injected, 2);
}

#[test]
fn per_row_refusals_are_failed_outcomes_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(3, dir.path());
    let s = session(&emu);
    let model = Model::of(&emu);
    let op = update(
        "bad",
        &seeded_id(0),
        fields(&[("nosuchcolumn", json!("x"))]),
    );
    match write_one(&s, &op).unwrap().outcome {
        WriteOutcome::Failed {
            status,
            code,
            message,
        } => {
            assert_eq!(status, 400);
            assert_eq!(code, "0x80060888");
            assert!(message.contains("nosuchcolumn"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // An unknown entity set is a 404 too, but not a vanished row.
    let mut op = update("noset", &seeded_id(0), fields(&[("name", json!("x"))]));
    op.entity_set = "nosuchset".into();
    assert!(matches!(
        write_one(&s, &op).unwrap().outcome,
        WriteOutcome::Failed { status: 404, .. }
    ));
    model.assert_matches(&emu);
}

#[test]
fn a_batch_of_250_mixed_ops_in_batches_of_100_is_applied_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(300, dir.path());
    let s = session(&emu);
    let mut model = Model::of(&emu);
    let ops = mixed_ops(250);
    let seen = Mutex::new(Vec::new());
    let results = write_batch(&s, &ops, 100, &|n| seen.lock().unwrap().push(n)).unwrap();
    all_done(&results, &ops);
    for op in &ops {
        model.apply(op);
    }
    model.assert_matches(&emu);
    assert_eq!(*seen.lock().unwrap(), vec![100, 200, 250]);

    // Three $batch requests, 250 parts, each with its condition and a relative URL.
    assert_eq!(batch_requests(&emu), 3);
    assert_eq!(emu.controls().stats().batch_parts, 250);
    let log = emu.controls().requests();
    let outer: Vec<_> = log
        .iter()
        .filter(|r| r.kind == RequestKind::WebApi && r.path_and_query.ends_with("$batch"))
        .collect();
    for r in &outer {
        assert_eq!(r.method, "POST");
        assert!(r
            .prefer
            .iter()
            .any(|p| p.contains("odata.continue-on-error")));
        assert!(r
            .content_type
            .as_deref()
            .unwrap()
            .starts_with("multipart/mixed; boundary=batch_"));
    }
    let parts: Vec<_> = log
        .iter()
        .filter(|r| r.kind == RequestKind::BatchPart)
        .collect();
    assert_eq!(parts.len(), 250);
    for (part, op) in parts.iter().zip(&ops) {
        assert_eq!(part.method, "PATCH");
        assert_eq!(
            part.path_and_query,
            format!("/api/data/v9.2/accounts({})", op.id)
        );
        assert_eq!(part.content_type.as_deref(), Some("application/json"));
        match op.kind {
            WriteKind::Update => {
                assert_eq!(part.if_match.as_deref(), Some("*"));
                assert_eq!(part.if_none_match, None);
            }
            WriteKind::Create => {
                assert_eq!(part.if_none_match.as_deref(), Some("*"));
                assert_eq!(part.if_match, None);
            }
        }
    }
    assert_eq!(s.counts().retries, 0);

    // Running the same plan again (a re-run after a crash): updates repeat, creates meet their
    // rows; nothing changes.
    let again = write_batch(&s, &ops, 0, &|_| {}).unwrap();
    for (r, op) in again.iter().zip(&ops) {
        let expected = match op.kind {
            WriteKind::Update => WriteOutcome::Done,
            WriteKind::Create => WriteOutcome::AlreadyExisted,
        };
        assert_eq!(r.outcome, expected);
    }
    model.assert_matches(&emu);
}

#[test]
fn a_503_on_one_batch_part_retries_that_part_only() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(30, dir.path());
    let s = session(&emu);
    let mut model = Model::of(&emu);
    let ops = mixed_ops(20);
    // Part 7 (an update) and part 15 (a create) fail transiently.
    emu.controls()
        .inject_batch_part(Fault::Status(503), FaultWhen::RequestNumber(7));
    emu.controls().inject_batch_part(
        Fault::Throttle(ThrottleKind::Requests, 0),
        FaultWhen::RequestNumber(15),
    );
    let seen = AtomicU64::new(0);
    let results = write_batch(&s, &ops, 10, &|n| seen.store(n, Ordering::Relaxed)).unwrap();
    all_done(&results, &ops);
    assert_eq!(seen.load(Ordering::Relaxed), 20);
    for op in &ops {
        model.apply(op);
    }
    model.assert_matches(&emu);

    // Two batches of 10, then one single-part batch each for the two retried parts.
    assert_eq!(batch_requests(&emu), 4);
    assert_eq!(emu.controls().stats().batch_parts, 22);
    let parts: Vec<_> = emu
        .controls()
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::BatchPart)
        .collect();
    assert_eq!(parts[6].status, 503);
    assert_eq!(parts[10].path_and_query, parts[6].path_and_query);
    assert_eq!(parts[10].status, 204);
    assert_eq!(parts[14].status, 429);
    assert_eq!(parts[21].path_and_query, parts[14].path_and_query);
    assert_eq!(parts[21].status, 204);
    let counts = s.counts();
    assert_eq!(counts.retries, 2);
    assert_eq!(counts.throttled, 1);
}

#[test]
fn a_part_failing_on_every_attempt_is_failed_and_the_others_are_done() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(10, dir.path());
    let s = session_with(
        &emu,
        "s3cret",
        RetryPolicy {
            max_retries: 2,
            base_delay: std::time::Duration::from_millis(1),
            ..RetryPolicy::default()
        },
    );
    let mut model = Model::of(&emu);
    let ops = mixed_ops(5);
    // Part 2 of the first batch, then the only part of each retry batch.
    for n in [2, 6, 7] {
        emu.controls()
            .inject_batch_part(Fault::Status(503), FaultWhen::RequestNumber(n));
    }
    let results = write_batch(&s, &ops, 5, &|_| {}).unwrap();
    for (i, r) in results.iter().enumerate() {
        if i == 1 {
            match &r.outcome {
                WriteOutcome::Failed {
                    status, message, ..
                } => {
                    assert_eq!(*status, 503);
                    assert!(message.starts_with("gave up after 3 attempts"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        } else {
            assert_eq!(r.outcome, WriteOutcome::Done);
            model.apply(&ops[i]);
        }
    }
    model.assert_matches(&emu);
    assert_eq!(s.counts().retries, 2);
}

#[test]
fn a_part_asked_to_wait_longer_than_the_policy_allows_is_failed_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(10, dir.path());
    let s = session_with(
        &emu,
        "s3cret",
        RetryPolicy {
            max_retry_after: std::time::Duration::from_secs(1),
            ..RetryPolicy::default()
        },
    );
    let mut model = Model::of(&emu);
    let ops = mixed_ops(3);
    emu.controls().inject_batch_part(
        Fault::Throttle(ThrottleKind::Concurrency, 600),
        FaultWhen::RequestNumber(3),
    );
    let results = write_batch(&s, &ops, 100, &|_| {}).unwrap();
    match &results[2].outcome {
        WriteOutcome::Failed {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 429);
            assert_eq!(code, "0x80072326");
            assert!(message.contains("asks to wait 600 s"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    for (r, op) in results.iter().zip(&ops).take(2) {
        assert_eq!(r.outcome, WriteOutcome::Done);
        model.apply(op);
    }
    model.assert_matches(&emu);
    assert_eq!(batch_requests(&emu), 1);
    assert_eq!(s.counts().throttled, 1);
}

#[test]
fn a_whole_batch_throttle_storm_and_a_dropped_connection_are_retried_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(100, dir.path());
    let s = session(&emu);
    let mut model = Model::of(&emu);
    let ops = mixed_ops(60);

    // Three 429s on the batch request, then it goes through.
    emu.controls().inject(
        Fault::Throttle(ThrottleKind::Requests, 0),
        FaultWhen::NextRequests(3),
    );
    let results = write_batch(&s, &ops[..30], 100, &|_| {}).unwrap();
    all_done(&results, &ops[..30]);
    assert_eq!(batch_requests(&emu), 4);
    assert_eq!(emu.controls().stats().batch_parts, 30);
    assert_eq!(s.counts().throttled, 3);

    // The connection drops on the batch request (not processed): sent again, exactly once.
    emu.controls()
        .inject(Fault::DropConnection, FaultWhen::NextRequests(1));
    let results = write_batch(&s, &ops[30..], 100, &|_| {}).unwrap();
    all_done(&results, &ops[30..]);
    assert_eq!(batch_requests(&emu), 6);
    assert_eq!(emu.controls().stats().batch_parts, 60);
    for op in &ops {
        model.apply(op);
    }
    model.assert_matches(&emu);
    assert_eq!(s.counts().retries, 4);
}

#[test]
fn a_connection_dropped_mid_batch_after_some_parts_ran_is_still_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(30, dir.path());
    let s = session(&emu);
    let mut model = Model::of(&emu);
    let ops = mixed_ops(12);
    // Parts 1–8 run, then the answer is cut: the session sends the whole batch again.
    emu.controls()
        .inject_batch_part(Fault::DropConnection, FaultWhen::RequestNumber(9));
    let results = write_batch(&s, &ops, 100, &|_| {}).unwrap();
    assert_eq!(batch_requests(&emu), 2);
    for (i, (r, op)) in results.iter().zip(&ops).enumerate() {
        assert_eq!(r.key, op.key);
        // Creates that ran in the lost attempt meet their own rows: AlreadyExisted.
        let expected = match op.kind {
            WriteKind::Create if i < 8 => WriteOutcome::AlreadyExisted,
            _ => WriteOutcome::Done,
        };
        assert_eq!(r.outcome, expected, "{}", r.key);
        model.apply(op);
    }
    model.assert_matches(&emu);
}

#[test]
fn a_row_deleted_between_plan_and_write_is_not_found_and_the_others_are_done() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(20, dir.path());
    let s = session(&emu);
    let ops = mixed_ops(15);
    // After the plan: someone deletes row 4.
    let deleted = seeded_id(4);
    let remaining: Vec<Map<String, Value>> = emu
        .controls()
        .table_rows(SET)
        .unwrap()
        .into_iter()
        .filter(|r| r[PK] != json!(deleted))
        .map(|mut r| {
            r.remove("@odata.etag");
            r
        })
        .collect();
    emu.controls().set_rows(SET, remaining).unwrap();
    let mut model = Model::of(&emu);
    assert!(!model.rows.contains_key(&deleted));

    let results = write_batch(&s, &ops, 100, &|_| {}).unwrap();
    for (i, r) in results.iter().enumerate() {
        let expected = if i == 4 {
            WriteOutcome::NotFound
        } else {
            WriteOutcome::Done
        };
        assert_eq!(r.outcome, expected, "{}", r.key);
    }
    for op in &ops {
        model.apply(op);
    }
    model.assert_matches(&emu);
    assert!(!rows(&emu).contains_key(&deleted), "never re-created");
}

#[test]
fn a_refused_part_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(10, dir.path());
    let s = session(&emu);
    let mut model = Model::of(&emu);
    let mut ops = mixed_ops(6);
    ops[3].fields.insert("nosuchcolumn".into(), json!(1));
    let results = write_batch(&s, &ops, 100, &|_| {}).unwrap();
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            assert!(
                matches!(&r.outcome, WriteOutcome::Failed { status: 400, code, .. } if code == "0x80060888"),
                "{:?}",
                r.outcome
            );
        } else {
            assert_eq!(r.outcome, WriteOutcome::Done);
            model.apply(&ops[i]);
        }
    }
    model.assert_matches(&emu);
}

#[test]
fn invalid_entity_sets_and_ids_are_rejected_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(3, dir.path());
    let s = session(&emu);
    let model = Model::of(&emu);
    let good = update("ok", &seeded_id(0), fields(&[("name", json!("x"))]));
    let mut bad_set = good.clone();
    bad_set.key = "bad-set".into();
    bad_set.entity_set = "accounts?$filter=x".into();
    let mut bad_id = good.clone();
    bad_id.key = "bad-id".into();
    bad_id.id = "1 or 1=1".into();
    let mut bad_create = bad_id.clone();
    bad_create.kind = WriteKind::Create;
    bad_create.id = format!("{})/x", seeded_id(0));

    for op in [&bad_set, &bad_id, &bad_create] {
        let e = write_one(&s, op).unwrap_err();
        assert!(matches!(e, DataverseError::Table { .. }), "{e}");
        assert!(e.to_string().contains(&op.key), "{e}");
    }
    // One bad op rejects the whole batch before the first request.
    let e = write_batch(&s, &[good.clone(), bad_id.clone()], 100, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("not a GUID"), "{e}");
    let stats = emu.controls().stats();
    assert_eq!(stats.requests, 0);
    assert_eq!(stats.token_requests, 0);
    assert_eq!(s.counts().requests, 0);
    model.assert_matches(&emu);
}

#[test]
fn no_ops_send_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(1, dir.path());
    let s = session(&emu);
    assert!(write_batch(&s, &[], 100, &|_| {}).unwrap().is_empty());
    assert_eq!(emu.controls().stats().requests, 0);
}
