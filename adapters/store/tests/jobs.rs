//! The job log: start, finish, list, show, results.

mod common;

use common::*;
use coupler_store::{ResultRecord, StoreError, RESULT_COLUMNS};

#[test]
fn finished_job_reads_back_verbatim() {
    let (_dir, _path, mut store) = temp_store();
    start(
        &mut store,
        "11111111-aaaa-4000-8000-000000000001",
        "CUSTOMER",
    );
    let fin = finished(
        &[("coupled", 2), ("failed", 3)],
        &["Failed to couple 3 record(s), because no unique uncoupled matching entity was found in https://org.crm.dynamics.com with the specified matching criteria."],
    );
    let results: Vec<ResultRecord> = (0..5).map(result).collect();
    store
        .finish_job(
            "11111111-aaaa-4000-8000-000000000001",
            &fin,
            results.clone().into_iter(),
        )
        .unwrap();

    let d = store
        .job("11111111-aaaa-4000-8000-000000000001")
        .unwrap()
        .unwrap();
    assert_eq!(d.job_json.as_deref(), Some(fin.job_json.as_str()));
    assert_eq!(d.errors, fin.errors);
    assert_eq!(d.result_rows, 5);
    assert_eq!(d.config_path.as_deref(), Some("/tmp/coupler.toml"));
    assert_eq!(d.summary.counters, fin.counters);
    assert_eq!(d.summary.error_count, 1);
    assert_eq!(
        d.summary.finished_at.as_deref(),
        Some("2024-05-01T10:00:05.000Z")
    );
    assert_eq!(d.summary.mapping, "CUSTOMER");
    assert_eq!(d.summary.job_type, "coupling");
    assert!(!d.summary.dry_run);

    let mut back = Vec::new();
    store
        .job_results("11111111-aaaa-4000-8000-000000000001", &mut |r| {
            back.push(r)
        })
        .unwrap();
    assert_eq!(back, results);
}

#[test]
fn result_record_row_round_trip() {
    let r = result(3);
    let row = r.to_row();
    assert_eq!(row.len(), RESULT_COLUMNS.len());
    assert_eq!(row[0], "C000003");
    assert_eq!(row[1], "coupled");
    assert_eq!(ResultRecord::from_row(row), r);
}

#[test]
fn finishing_again_replaces_results_and_errors() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    store
        .finish_job(
            "job-1",
            &finished(&[("coupled", 1)], &["a", "b"]),
            (0..10).map(result),
        )
        .unwrap();
    store
        .finish_job(
            "job-1",
            &finished(&[("coupled", 7)], &["c"]),
            (100..103).map(result),
        )
        .unwrap();
    let d = store.job("job-1").unwrap().unwrap();
    assert_eq!(d.errors, ["c"]);
    assert_eq!(d.result_rows, 3);
    assert_eq!(d.summary.counters["coupled"], 7);
    let mut ids = Vec::new();
    store
        .job_results("job-1", &mut |r| ids.push(r.local_id))
        .unwrap();
    assert_eq!(ids, ["C000100", "C000101", "C000102"]);
}

#[test]
fn jobs_newest_first_and_unfinished_shown() {
    let (_dir, _path, mut store) = temp_store();
    store
        .start_job(&job("old", "CUSTOMER", "2024-01-01T00:00:00.000Z"))
        .unwrap();
    store
        .start_job(&job("new", "VENDOR", "2024-03-01T00:00:00.000Z"))
        .unwrap();
    store
        .start_job(&job("mid", "CUSTOMER", "2024-02-01T00:00:00.000Z"))
        .unwrap();
    store
        .finish_job("old", &finished(&[("coupled", 1)], &[]), std::iter::empty())
        .unwrap();
    let jobs = store.jobs().unwrap();
    let ids: Vec<_> = jobs.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!(ids, ["new", "mid", "old"]);
    assert_eq!(jobs[0].finished_at, None);
    assert!(jobs[0].counters.is_empty());
    assert!(jobs[2].finished_at.is_some());
    let d = store.job("mid").unwrap().unwrap();
    assert_eq!(d.job_json, None);
    assert_eq!(d.result_rows, 0);
}

#[test]
fn job_by_unique_prefix_like_git() {
    let (_dir, _path, mut store) = temp_store();
    start(
        &mut store,
        "7eb6a1c2-0000-4000-8000-000000000001",
        "CUSTOMER",
    );
    start(
        &mut store,
        "7eb6a1c2-1111-4000-8000-000000000002",
        "CUSTOMER",
    );
    start(
        &mut store,
        "9fffffff-1111-4000-8000-000000000003",
        "CUSTOMER",
    );
    // Unique prefix (≥ 8 chars).
    let d = store.job("9fffffff").unwrap().unwrap();
    assert_eq!(d.summary.job_id, "9fffffff-1111-4000-8000-000000000003");
    let d = store.job("7eb6a1c2-1").unwrap().unwrap();
    assert_eq!(d.summary.job_id, "7eb6a1c2-1111-4000-8000-000000000002");
    // Too short.
    assert!(store.job("9ffffff").unwrap().is_none());
    // No match.
    assert!(store.job("00000000").unwrap().is_none());
    // LIKE wildcards are not wildcards.
    assert!(store.job("7eb6a1c%").unwrap().is_none());
    // Ambiguous.
    let e = store.job("7eb6a1c2").unwrap_err();
    match &e {
        StoreError::AmbiguousJobId { matches, .. } => assert_eq!(matches.len(), 2),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("ambiguous"), "{e}");
    // Results by prefix too.
    let mut n = 0;
    store.job_results("9fffffff", &mut |_| n += 1).unwrap();
    assert_eq!(n, 0);
    let e = store
        .job_results("nope-nope-nope", &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, StoreError::UnknownJob { .. }), "{e}");
}

#[test]
fn start_job_validates() {
    let (_dir, _path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    let e = store
        .start_job(&job("job-1", "CUSTOMER", "2024-05-01T00:00:00.000Z"))
        .unwrap_err();
    assert!(matches!(e, StoreError::DuplicateJob { .. }), "{e}");
    let mut bad = job("job-2", "CUSTOMER", "2024-05-01T00:00:00.000Z");
    bad.job_type = "merge".into();
    let e = store.start_job(&bad).unwrap_err();
    assert!(e.to_string().contains("unknown job type 'merge'"), "{e}");
    let e = store.start_job(&job("", "CUSTOMER", "x")).unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    let e = store.start_job(&job("job-3", "", "x")).unwrap_err();
    assert!(matches!(e, StoreError::InvalidInput { .. }), "{e}");
    assert_eq!(store.jobs().unwrap().len(), 1);
}

#[test]
fn finish_job_validates() {
    let (_dir, _path, mut store) = temp_store();
    let e = store
        .finish_job("nope", &finished(&[], &[]), std::iter::empty())
        .unwrap_err();
    assert!(matches!(e, StoreError::UnknownJob { .. }), "{e}");
    start(&mut store, "job-1", "CUSTOMER");
    let mut f = finished(&[], &[]);
    f.job_json = "{not json".into();
    let e = store
        .finish_job("job-1", &f, (0..3).map(result))
        .unwrap_err();
    assert!(e.to_string().contains("not valid JSON"), "{e}");
    let d = store.job("job-1").unwrap().unwrap();
    assert_eq!(d.summary.finished_at, None);
    assert_eq!(d.result_rows, 0);
}

#[test]
fn dry_run_jobs_are_recorded() {
    let (_dir, _path, mut store) = temp_store();
    let mut dry = job("dry-1", "CUSTOMER", "2024-05-01T00:00:00.000Z");
    dry.dry_run = true;
    dry.config_path = None;
    store.start_job(&dry).unwrap();
    store
        .finish_job(
            "dry-1",
            &finished(&[("coupled", 4)], &[]),
            (0..4).map(result),
        )
        .unwrap();
    let d = store.job("dry-1").unwrap().unwrap();
    assert!(d.summary.dry_run);
    assert_eq!(d.config_path, None);
    assert_eq!(d.result_rows, 4);
}
