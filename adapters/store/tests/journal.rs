//! The write journal: plan, resume, mark.

mod common;

use common::*;
use coupler_store::{PlannedWrite, Store, StoreError, WriteState};

fn write(key: &str, mapping: &str) -> PlannedWrite {
    PlannedWrite {
        key: key.into(),
        mapping: mapping.into(),
        target: format!("dataverse:accounts({key})"),
        operation: "update".into(),
        payload: format!(r#"{{"name":"{key}"}}"#),
    }
}

fn keys(store: &Store, mapping: &str) -> Vec<String> {
    store
        .journal_pending(mapping)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect()
}

#[test]
fn plan_is_idempotent_and_pending_keeps_plan_order() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "sync-1", "CUSTOMER");
    let w = [
        write("k3", "CUSTOMER"),
        write("k1", "CUSTOMER"),
        write("v1", "VENDOR"),
    ];
    assert_eq!(store.journal_plan("sync-1", &w).unwrap(), 3);
    assert_eq!(store.journal_plan("sync-1", &w).unwrap(), 0);
    assert_eq!(keys(&store, "CUSTOMER"), ["k3", "k1"]);
    assert_eq!(keys(&store, "VENDOR"), ["v1"]);

    let e = &store.journal_pending("CUSTOMER").unwrap()[0];
    assert_eq!(e.job_id, "sync-1");
    assert_eq!(e.target, "dataverse:accounts(k3)");
    assert_eq!(e.operation, "update");
    assert_eq!(e.payload, r#"{"name":"k3"}"#);
    assert_eq!(
        (e.state, e.attempts, e.detail.as_deref()),
        (WriteState::Planned, 0, None)
    );

    // A second job re-plans k1 with another payload (no-op: the first plan wins) and adds k2.
    start(&mut store, "sync-2", "CUSTOMER");
    let mut k1 = write("k1", "CUSTOMER");
    k1.payload = "{}".into();
    assert_eq!(
        store
            .journal_plan("sync-2", &[k1, write("k2", "CUSTOMER")])
            .unwrap(),
        1
    );
    assert_eq!(keys(&store, "CUSTOMER"), ["k3", "k1", "k2"]);
    let k1 = store.journal_entry("k1").unwrap().unwrap();
    assert_eq!(
        (k1.job_id.as_str(), k1.payload.as_str()),
        ("sync-1", r#"{"name":"k1"}"#)
    );
}

#[test]
fn lifecycle_and_transitions() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "sync-1", "CUSTOMER");
    store
        .journal_plan("sync-1", &[write("a", "CUSTOMER"), write("b", "CUSTOMER")])
        .unwrap();

    store.journal_mark("a", WriteState::Sent, None).unwrap();
    store.journal_mark("a", WriteState::Sent, None).unwrap(); // a retry
    let a = store.journal_entry("a").unwrap().unwrap();
    assert_eq!((a.state, a.attempts), (WriteState::Sent, 2));
    assert_eq!(keys(&store, "CUSTOMER"), ["a", "b"]);

    store
        .journal_mark("a", WriteState::Done, Some("204"))
        .unwrap();
    store.journal_mark("a", WriteState::Done, None).unwrap(); // twice is fine
    let a = store.journal_entry("a").unwrap().unwrap();
    assert_eq!(
        (a.state, a.detail.as_deref()),
        (WriteState::Done, Some("204"))
    );
    assert_eq!(keys(&store, "CUSTOMER"), ["b"]);

    // Nothing leaves done; re-planning it is a no-op, so it is never sent again.
    for to in [WriteState::Sent, WriteState::Failed, WriteState::Planned] {
        let e = store.journal_mark("a", to, None).unwrap_err();
        assert!(matches!(e, StoreError::InvalidTransition { .. }), "{e}");
        assert!(e.to_string().contains("is done"), "{e}");
    }
    store
        .journal_plan("sync-1", &[write("a", "CUSTOMER")])
        .unwrap();
    assert_eq!(keys(&store, "CUSTOMER"), ["b"]);

    // Failed keeps the error text and is not pending; re-queued it is.
    store.journal_mark("b", WriteState::Sent, None).unwrap();
    let e = store
        .journal_mark("b", WriteState::Planned, None)
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidTransition { .. }), "{e}");
    store
        .journal_mark(
            "b",
            WriteState::Failed,
            Some("429 Too Many Requests after 5 retries"),
        )
        .unwrap();
    assert!(keys(&store, "CUSTOMER").is_empty());
    let b = store.journal_entry("b").unwrap().unwrap();
    assert_eq!(
        b.detail.as_deref(),
        Some("429 Too Many Requests after 5 retries")
    );
    store.journal_mark("b", WriteState::Planned, None).unwrap();
    assert_eq!(keys(&store, "CUSTOMER"), ["b"]);

    let e = store
        .journal_mark("zzz", WriteState::Done, None)
        .unwrap_err();
    assert!(matches!(e, StoreError::UnknownWrite { .. }), "{e}");
}

#[test]
fn interrupted_run_resumes_every_write_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coupler.db");
    let writes: Vec<_> = (0..6)
        .map(|i| write(&format!("w{i}"), "CUSTOMER"))
        .collect();
    let mut sent = Vec::new();
    {
        let mut store = Store::open(&path).unwrap();
        start(&mut store, "sync-1", "CUSTOMER");
        store.journal_plan("sync-1", &writes).unwrap();
        // Sends w0, w1 (confirmed) and w2 (sent, then the process "dies" before confirmation).
        for e in store
            .journal_pending("CUSTOMER")
            .unwrap()
            .into_iter()
            .take(3)
        {
            store.journal_mark(&e.key, WriteState::Sent, None).unwrap();
            sent.push(e.key.clone());
            if e.key != "w2" {
                store.journal_mark(&e.key, WriteState::Done, None).unwrap();
            }
        }
    }
    // The same command again: re-plans (no-op) and resumes.
    let mut store = Store::open(&path).unwrap();
    start(&mut store, "sync-2", "CUSTOMER");
    assert_eq!(store.journal_plan("sync-2", &writes).unwrap(), 0);
    let pending = store.journal_pending("CUSTOMER").unwrap();
    assert_eq!(pending[0].key, "w2");
    assert_eq!(
        (pending[0].state, pending[0].attempts),
        (WriteState::Sent, 1)
    );
    for e in pending {
        store.journal_mark(&e.key, WriteState::Sent, None).unwrap();
        sent.push(e.key.clone());
        store.journal_mark(&e.key, WriteState::Done, None).unwrap();
    }
    assert!(store.journal_pending("CUSTOMER").unwrap().is_empty());
    // Every write was sent; only the one interrupted before confirmation was sent twice.
    sent.sort();
    assert_eq!(sent, ["w0", "w1", "w2", "w2", "w3", "w4", "w5"]);
}

#[test]
fn plan_validates() {
    let (_dir, _path, mut store) = temp_store();
    let e = store
        .journal_plan("nope", &[write("a", "CUSTOMER")])
        .unwrap_err();
    assert!(matches!(e, StoreError::UnknownJob { .. }), "{e}");
    start(&mut store, "sync-1", "CUSTOMER");
    let e = store
        .journal_plan("sync-1", &[write("a", "CUSTOMER"), write("", "CUSTOMER")])
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    assert!(store.journal_entry("a").unwrap().is_none());
}
