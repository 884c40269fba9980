//! Two writers on one store file: no double coupling, the loser learns the holder.

mod common;

use std::collections::HashSet;
use std::sync::Barrier;
use std::time::Duration;

use common::*;
use coupler_store::{CommitReport, ConflictKind, Store, StoreError, StoreOptions};

/// Thread A couples C{i} ↔ g{i} (i in 0..400) in CUSTOMER. Thread B, at the same moment,
/// couples C{i} ↔ h{i} for i in 200..300 (local side taken if A wins), X{i} ↔ g{i} for i in
/// 300..400 (integration side taken if A wins) and 100 pairs of its own. Repeated, so both
/// orders get exercised.
#[test]
fn two_threads_racing_never_double_couple() {
    for round in 0..8 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coupler.db");
        {
            let mut s = Store::open(&path).unwrap();
            start(&mut s, "job-a", "CUSTOMER");
            start(&mut s, "job-b", "CUSTOMER");
        }
        let a_pairs: Vec<(String, String)> = (0..400)
            .map(|i| (format!("C{i}"), format!("g{i}")))
            .collect();
        let b_pairs: Vec<(String, String)> = (200..300)
            .map(|i| (format!("C{i}"), format!("h{i}")))
            .chain((300..400).map(|i| (format!("X{i}"), format!("g{i}"))))
            .chain((0..100).map(|i| (format!("B{i}"), format!("b{i}"))))
            .collect();
        let barrier = Barrier::new(2);
        let run = |job: &'static str, p: &Vec<(String, String)>| {
            let mut store = Store::open(&path).unwrap();
            barrier.wait();
            store.commit_couplings(job, &customer(), p).unwrap()
        };
        let (a, b): (CommitReport, CommitReport) = std::thread::scope(|s| {
            let ha = s.spawn(|| run("job-a", &a_pairs));
            let hb = s.spawn(|| run("job-b", &b_pairs));
            (ha.join().unwrap(), hb.join().unwrap())
        });

        // One transaction wins entirely; the other gets every overlapping pair back.
        let (winner, loser, winner_job, loser_report) = if a.conflicts.is_empty() {
            ("a", "b", "job-a", &b)
        } else {
            ("b", "a", "job-b", &a)
        };
        let winner_report = if winner == "a" { &a } else { &b };
        assert!(
            winner_report.conflicts.is_empty(),
            "round {round}: both lost"
        );
        assert_eq!(
            loser_report.conflicts.len(),
            200,
            "round {round} loser {loser}"
        );
        assert_eq!(loser_report.inserted.len(), loser_report_len(loser) - 200);
        for c in &loser_report.conflicts {
            assert_eq!(c.holder_job_id, winner_job);
            assert_eq!(c.holder_mapping, "CUSTOMER");
            match c.kind {
                ConflictKind::LocalAlreadyCoupled => {
                    assert_eq!(c.holder_local_id, c.local_id);
                    assert_ne!(c.holder_integration_id, c.integration_id);
                }
                ConflictKind::IntegrationTaken => {
                    assert_eq!(c.holder_integration_id, c.integration_id);
                    assert_ne!(c.holder_local_id, c.local_id);
                }
            }
        }

        let store = Store::open(&path).unwrap();
        let all = store.couplings().unwrap();
        assert_eq!(all.len(), 400 + 100, "round {round}");
        let locals: HashSet<_> = all.iter().map(|c| &c.local_id).collect();
        let integrations: HashSet<_> = all.iter().map(|c| &c.integration_id).collect();
        assert_eq!(locals.len(), all.len());
        assert_eq!(integrations.len(), all.len());
    }

    fn loser_report_len(loser: &str) -> usize {
        if loser == "a" {
            400
        } else {
            300
        }
    }
}

#[test]
fn two_handles_interleaving_see_each_others_commits() {
    let (_dir, path, mut a) = temp_store();
    let mut b = Store::open(&path).unwrap();
    start(&mut a, "job-a", "CUSTOMER");
    start(&mut b, "job-b", "VENDOR");

    a.commit_couplings("job-a", &customer(), &pairs(&[("C1", "g1"), ("C2", "g2")]))
        .unwrap();
    // B's view is current (no stale snapshot): g1 is taken.
    let r = b
        .commit_couplings("job-b", &vendor(), &pairs(&[("V1", "g1"), ("V3", "g3")]))
        .unwrap();
    assert_eq!(r.inserted, pairs(&[("V3", "g3")]));
    assert_eq!(
        (
            r.conflicts[0].holder_job_id.as_str(),
            r.conflicts[0].holder_local_id.as_str()
        ),
        ("job-a", "C1")
    );
    // And A sees B's.
    let r = a
        .commit_couplings("job-a", &customer(), &pairs(&[("C3", "g3"), ("C4", "g4")]))
        .unwrap();
    assert_eq!(r.inserted, pairs(&[("C4", "g4")]));
    assert_eq!(r.conflicts[0].kind, ConflictKind::IntegrationTaken);
    assert_eq!(
        (
            r.conflicts[0].holder_mapping.as_str(),
            r.conflicts[0].holder_job_id.as_str()
        ),
        ("VENDOR", "job-b")
    );
    assert_eq!(a.couplings().unwrap(), b.couplings().unwrap());
    assert_eq!(a.couplings().unwrap().len(), 4);
}

#[test]
fn writer_waits_for_the_lock_then_sees_the_other_commit() {
    let (_dir, path, mut store) = temp_store();
    start(&mut store, "job-a", "CUSTOMER");
    start(&mut store, "job-b", "CUSTOMER");
    let locked = Barrier::new(2);
    std::thread::scope(|s| {
        let other = s.spawn(|| {
            // Another "process" holds the write lock for 300 ms, then commits C1 ↔ g1.
            let mut conn = raw(&path);
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .unwrap();
            locked.wait();
            std::thread::sleep(Duration::from_millis(300));
            tx.execute(
                "INSERT INTO couplings (mapping, local_table, integration_table, local_id, integration_id, job_id, created_at) VALUES ('CUSTOMER', 'Customer', 'accounts', 'C1', 'g1', 'job-a', '2024-01-01T00:00:00.000Z')",
                [],
            )
            .unwrap();
            tx.commit().unwrap();
        });
        locked.wait();
        let t = std::time::Instant::now();
        let r = store
            .commit_couplings("job-b", &customer(), &pairs(&[("C2", "g1")]))
            .unwrap();
        assert!(t.elapsed() >= Duration::from_millis(100), "did not wait");
        assert!(r.inserted.is_empty());
        assert_eq!(r.conflicts[0].holder_job_id, "job-a");
        other.join().unwrap();
    });
}

#[test]
fn lock_held_past_the_busy_timeout_is_a_busy_error_and_writes_nothing() {
    let (_dir, path, mut setup) = temp_store();
    start(&mut setup, "job-a", "CUSTOMER");
    drop(setup);
    let mut store = Store::open_with(
        &path,
        StoreOptions {
            busy_timeout: Duration::from_millis(100),
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let mut conn = raw(&path);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let e = store
        .commit_couplings("job-a", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap_err();
    assert!(matches!(e, StoreError::Busy { .. }), "{e:?}");
    assert!(e.to_string().contains("locked by another process"), "{e}");
    assert!(e.to_string().contains("committing couplings"), "{e}");
    drop(tx);
    assert!(store.couplings().unwrap().is_empty());
    let r = store
        .commit_couplings("job-a", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap();
    assert_eq!(r.inserted.len(), 1);
}

#[test]
fn readers_do_not_block_the_writer() {
    let (_dir, path, mut store) = temp_store();
    start(&mut store, "job-a", "CUSTOMER");
    store.set_busy_timeout(Duration::from_millis(50)).unwrap();
    // A reader (e.g. `jobs list` in another process) in the middle of a read transaction.
    let mut reader = raw(&path);
    let rtx = reader.transaction().unwrap();
    let before: i64 = rtx
        .query_row("SELECT count(*) FROM couplings", [], |r| r.get(0))
        .unwrap();
    // Under WAL the writer commits anyway; under a rollback journal this would be busy.
    store
        .commit_couplings("job-a", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap();
    let during: i64 = rtx
        .query_row("SELECT count(*) FROM couplings", [], |r| r.get(0))
        .unwrap();
    assert_eq!((before, during), (0, 0), "the reader keeps its snapshot");
    drop(rtx);
    let after: i64 = reader
        .query_row("SELECT count(*) FROM couplings", [], |r| r.get(0))
        .unwrap();
    assert_eq!(after, 1);
}
