//! Committing, reading and removing couplings, and the double-coupling rules.

mod common;

use common::*;
use coupler_store::{ConflictKind, StoreError};

#[test]
fn commit_inserts_and_reads_back_in_order() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-a", "CUSTOMER");
    let report = store
        .commit_couplings("job-a", &customer(), &pairs(&[("C2", "g2"), ("C1", "g1")]))
        .unwrap();
    assert_eq!(report.inserted, pairs(&[("C2", "g2"), ("C1", "g1")]));
    assert!(report.unchanged.is_empty() && report.conflicts.is_empty());

    let stored = store.couplings_of("CUSTOMER").unwrap();
    // Same created_at (one transaction) → ordered by local id.
    let ids: Vec<_> = stored.iter().map(|c| c.local_id.as_str()).collect();
    assert_eq!(ids, ["C1", "C2"]);
    let c = &stored[0];
    assert_eq!(
        (
            c.mapping.as_str(),
            c.local_table.as_str(),
            c.integration_table.as_str()
        ),
        ("CUSTOMER", "Customer", "accounts")
    );
    assert_eq!(
        (c.integration_id.as_str(), c.job_id.as_str()),
        ("g1", "job-a")
    );
    // RFC 3339 UTC with milliseconds, e.g. 2024-05-01T10:00:00.123Z
    assert_eq!(c.created_at.len(), 24, "{}", c.created_at);
    assert!(c.created_at.ends_with('Z') && c.created_at.as_bytes()[10] == b'T');
    assert!(store.couplings_of("VENDOR").unwrap().is_empty());
}

#[test]
fn couplings_returns_every_mapping() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-c", "CUSTOMER");
    start(&mut store, "job-v", "VENDOR");
    store
        .commit_couplings("job-c", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap();
    store
        .commit_couplings("job-v", &vendor(), &pairs(&[("V1", "g2"), ("C1", "g3")]))
        .unwrap();
    let all = store.couplings().unwrap();
    let got: Vec<_> = all
        .iter()
        .map(|c| {
            (
                c.mapping.as_str(),
                c.local_id.as_str(),
                c.integration_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("CUSTOMER", "C1", "g1"),
            ("VENDOR", "C1", "g3"),
            ("VENDOR", "V1", "g2")
        ]
    );
}

#[test]
fn rerun_of_the_same_pairs_is_unchanged() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    let p = pairs(&[("C1", "g1"), ("C2", "g2")]);
    store.commit_couplings("job-1", &customer(), &p).unwrap();
    start(&mut store, "job-2", "CUSTOMER");
    let again = store.commit_couplings("job-2", &customer(), &p).unwrap();
    assert!(again.inserted.is_empty());
    assert!(again.conflicts.is_empty());
    assert_eq!(again.unchanged, p);
    // Still held by the first job.
    assert!(store
        .couplings_of("CUSTOMER")
        .unwrap()
        .iter()
        .all(|c| c.job_id == "job-1"));
}

#[test]
fn integration_id_is_coupled_at_most_once_across_mappings() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-c", "CUSTOMER");
    start(&mut store, "job-v", "VENDOR");
    store
        .commit_couplings("job-c", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap();
    let report = store
        .commit_couplings("job-v", &vendor(), &pairs(&[("V1", "g1"), ("V2", "g2")]))
        .unwrap();
    assert_eq!(report.inserted, pairs(&[("V2", "g2")]));
    assert_eq!(report.conflicts.len(), 1);
    let c = &report.conflicts[0];
    assert_eq!(
        (c.local_id.as_str(), c.integration_id.as_str()),
        ("V1", "g1")
    );
    assert_eq!(c.kind, ConflictKind::IntegrationTaken);
    assert_eq!(
        (
            c.holder_mapping.as_str(),
            c.holder_local_id.as_str(),
            c.holder_integration_id.as_str(),
            c.holder_job_id.as_str()
        ),
        ("CUSTOMER", "C1", "g1", "job-c")
    );
    assert_eq!(store.couplings_of("VENDOR").unwrap().len(), 1);
}

#[test]
fn local_record_is_coupled_at_most_once_per_mapping() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    store
        .commit_couplings("job-1", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap();
    start(&mut store, "job-2", "CUSTOMER");
    let report = store
        .commit_couplings("job-2", &customer(), &pairs(&[("C1", "g9")]))
        .unwrap();
    assert!(report.inserted.is_empty());
    let c = &report.conflicts[0];
    assert_eq!(c.kind, ConflictKind::LocalAlreadyCoupled);
    assert_eq!(
        (
            c.holder_local_id.as_str(),
            c.holder_integration_id.as_str(),
            c.holder_job_id.as_str()
        ),
        ("C1", "g1", "job-1")
    );
    // g9 was not taken by the refused pair.
    let report = store
        .commit_couplings("job-2", &customer(), &pairs(&[("C2", "g9")]))
        .unwrap();
    assert_eq!(report.inserted, pairs(&[("C2", "g9")]));
}

#[test]
fn duplicates_within_one_commit_are_resolved_in_input_order() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    let report = store
        .commit_couplings(
            "job-1",
            &customer(),
            &pairs(&[("C1", "g1"), ("C1", "g1"), ("C2", "g1"), ("C1", "g2")]),
        )
        .unwrap();
    assert_eq!(report.inserted, pairs(&[("C1", "g1")]));
    assert_eq!(report.unchanged, pairs(&[("C1", "g1")]));
    let kinds: Vec<_> = report
        .conflicts
        .iter()
        .map(|c| (c.local_id.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("C2", ConflictKind::IntegrationTaken),
            ("C1", ConflictKind::LocalAlreadyCoupled)
        ]
    );
    assert!(report.conflicts.iter().all(|c| c.holder_job_id == "job-1"));
}

#[test]
fn integration_ids_are_compared_as_stored() {
    // The CLI lower-cases GUIDs before storing; the store itself does not.
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    let report = store
        .commit_couplings(
            "job-1",
            &customer(),
            &pairs(&[("C1", "ABC"), ("C2", "abc")]),
        )
        .unwrap();
    assert_eq!(report.inserted.len(), 2);
}

#[test]
fn refused_commits_write_nothing() {
    let (_dir, _path, mut store) = temp_store();
    // Unknown job.
    let e = store
        .commit_couplings("nope", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap_err();
    assert!(matches!(e, StoreError::UnknownJob { .. }), "{e}");
    // Dry-run job.
    let mut dry = job("dry", "CUSTOMER", "2024-05-01T10:00:00.000Z");
    dry.dry_run = true;
    store.start_job(&dry).unwrap();
    let e = store
        .commit_couplings("dry", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap_err();
    assert!(e.to_string().contains("dry run"), "{e}");
    // Job of another mapping.
    start(&mut store, "job-v", "VENDOR");
    let e = store
        .commit_couplings("job-v", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    // Empty ids: nothing of the batch is written.
    start(&mut store, "job-c", "CUSTOMER");
    let e = store
        .commit_couplings("job-c", &customer(), &pairs(&[("C1", "g1"), ("", "g2")]))
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    assert!(e.to_string().contains("coupler.db"), "{e}");
    assert!(store.couplings().unwrap().is_empty());
}

#[test]
fn uncouple_selected_and_all() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-c", "CUSTOMER");
    start(&mut store, "job-v", "VENDOR");
    store
        .commit_couplings(
            "job-c",
            &customer(),
            &pairs(&[("C1", "g1"), ("C2", "g2"), ("C3", "g3")]),
        )
        .unwrap();
    store
        .commit_couplings("job-v", &vendor(), &pairs(&[("V1", "g4")]))
        .unwrap();

    let ids = vec!["C2".to_string(), "C9".to_string()];
    let removed = store.uncouple("CUSTOMER", Some(&ids), "un-1").unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(
        (
            removed[0].local_id.as_str(),
            removed[0].integration_id.as_str()
        ),
        ("C2", "g2")
    );
    let job = store.job("un-1").unwrap().unwrap().summary;
    assert_eq!(job.job_type, "uncoupling");
    assert!(job.finished_at.is_some());
    assert_eq!(job.counters["uncoupled"], 1);
    assert_eq!(job.counters["coupled"], 0);
    assert_eq!(job.counters.len(), 8);

    // g2 is free again: another mapping may take it.
    let r = store
        .commit_couplings("job-v", &vendor(), &pairs(&[("V2", "g2")]))
        .unwrap();
    assert_eq!(r.inserted.len(), 1);

    let removed = store.uncouple("CUSTOMER", None, "un-2").unwrap();
    let ids: Vec<_> = removed.iter().map(|c| c.local_id.as_str()).collect();
    assert_eq!(ids, ["C1", "C3"]);
    assert!(store.couplings_of("CUSTOMER").unwrap().is_empty());
    assert_eq!(store.couplings_of("VENDOR").unwrap().len(), 2);
    assert_eq!(
        store.job("un-2").unwrap().unwrap().summary.counters["uncoupled"],
        2
    );
}

#[test]
fn uncouple_finishes_a_started_uncoupling_job_and_refuses_other_ids() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-c", "CUSTOMER");
    store
        .commit_couplings("job-c", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap();
    let mut un = job("un-1", "CUSTOMER", "2024-05-02T00:00:00.000Z");
    un.job_type = "uncoupling".into();
    store.start_job(&un).unwrap();
    let removed = store.uncouple("CUSTOMER", None, "un-1").unwrap();
    assert_eq!(removed.len(), 1);
    let s = store.job("un-1").unwrap().unwrap().summary;
    assert_eq!(s.started_at, "2024-05-02T00:00:00.000Z");
    assert!(s.finished_at.is_some());
    // A coupling job's id cannot be reused for an uncoupling.
    let e = store.uncouple("CUSTOMER", None, "job-c").unwrap_err();
    assert!(matches!(e, StoreError::DuplicateJob { .. }), "{e}");
    // Neither can a finished uncoupling's.
    let e = store.uncouple("CUSTOMER", None, "un-1").unwrap_err();
    assert!(matches!(e, StoreError::DuplicateJob { .. }), "{e}");
}
