//! Crash safety: processes killed with SIGKILL (the test re-runs its own binary as the child
//! and kills it at a known point) and transactions dropped without commit.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use coupler_store::Store;

const CHILD_ENV: &str = "COUPLER_STORE_CRASH_CHILD";

/// In the child: the store path to work on.
fn child_path() -> Option<PathBuf> {
    std::env::var_os(CHILD_ENV).map(PathBuf::from)
}

/// In the child: tell the parent we are at the kill point, then wait to be killed.
fn ready_to_die() -> ! {
    println!("READY-TO-DIE");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(120));
    std::process::exit(3)
}

/// Runs this test binary's test `name` as a child on `path`, and SIGKILLs it once it reports
/// being at its kill point.
fn run_child_and_kill(name: &str, path: &Path) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("READY-TO-DIE"));
    assert!(ready, "the child ended before its kill point");
    child.kill().unwrap(); // SIGKILL: no destructors, no rollback, no close
    let status = child.wait().unwrap();
    assert!(!status.success());
}

#[test]
fn killed_after_commit_before_finish_job() {
    if let Some(path) = child_path() {
        let mut store = Store::open(&path).unwrap();
        start(&mut store, "job-1", "CUSTOMER");
        store
            .commit_couplings("job-1", &customer(), &pairs(&[("C1", "g1"), ("C2", "g2")]))
            .unwrap();
        ready_to_die();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coupler.db");
    run_child_and_kill("killed_after_commit_before_finish_job", &path);

    let mut store = Store::open(&path).unwrap();
    let jobs = store.jobs().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].finished_at, None, "the job shows as unfinished");
    assert_eq!(
        store.couplings_of("CUSTOMER").unwrap().len(),
        2,
        "commits survived"
    );
    // The rerun commits the same pairs: nothing new.
    start(&mut store, "job-2", "CUSTOMER");
    let r = store
        .commit_couplings("job-2", &customer(), &pairs(&[("C1", "g1"), ("C2", "g2")]))
        .unwrap();
    assert!(r.inserted.is_empty() && r.conflicts.is_empty());
    assert_eq!(r.unchanged.len(), 2);
}

#[test]
fn killed_mid_finish_job_stores_no_results() {
    if let Some(path) = child_path() {
        let mut store = Store::open(&path).unwrap();
        let results = (0..1_000_000).map(|i| {
            if i == 5_000 {
                ready_to_die();
            }
            result(i)
        });
        store
            .finish_job("job-1", &finished(&[("coupled", 1)], &["err"]), results)
            .unwrap();
        unreachable!();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coupler.db");
    {
        let mut store = Store::open(&path).unwrap();
        start(&mut store, "job-1", "CUSTOMER");
    }
    run_child_and_kill("killed_mid_finish_job_stores_no_results", &path);

    let mut store = Store::open(&path).unwrap();
    let d = store.job("job-1").unwrap().unwrap();
    assert_eq!(d.summary.finished_at, None);
    assert_eq!(d.result_rows, 0);
    assert!(d.errors.is_empty());
    let n: i64 = raw(&path)
        .query_row("SELECT count(*) FROM job_results", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    // The lock died with the process: the store is writable at once.
    store
        .finish_job(
            "job-1",
            &finished(&[("coupled", 1)], &[]),
            (0..3).map(result),
        )
        .unwrap();
    assert_eq!(store.job("job-1").unwrap().unwrap().result_rows, 3);
}

#[test]
fn killed_inside_a_write_transaction_leaves_nothing() {
    if let Some(path) = child_path() {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        tx.execute(
            "INSERT INTO couplings (mapping, local_table, integration_table, local_id, integration_id, job_id, created_at) VALUES ('CUSTOMER', 'Customer', 'accounts', 'C1', 'g1', 'job-1', 'now')",
            [],
        )
        .unwrap();
        std::mem::forget(tx);
        ready_to_die();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coupler.db");
    {
        let mut store = Store::open(&path).unwrap();
        start(&mut store, "job-1", "CUSTOMER");
    }
    run_child_and_kill("killed_inside_a_write_transaction_leaves_nothing", &path);

    let mut store = Store::open(&path).unwrap();
    assert!(store.couplings().unwrap().is_empty());
    let r = store
        .commit_couplings("job-1", &customer(), &pairs(&[("C1", "g2")]))
        .unwrap();
    assert_eq!(r.inserted.len(), 1);
}

#[test]
fn transaction_dropped_without_commit_leaves_nothing() {
    let (_dir, path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");
    {
        let mut conn = raw(&path);
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO couplings (mapping, local_table, integration_table, local_id, integration_id, job_id, created_at) VALUES ('CUSTOMER', 'Customer', 'accounts', 'C1', 'g1', 'job-1', 'now')",
            [],
        )
        .unwrap();
        let inside: i64 = tx
            .query_row("SELECT count(*) FROM couplings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(inside, 1);
        assert!(
            store.couplings().unwrap().is_empty(),
            "uncommitted row visible"
        );
        // dropped here without commit
    }
    assert!(store.couplings().unwrap().is_empty());
    let r = store
        .commit_couplings("job-1", &customer(), &pairs(&[("C1", "g1")]))
        .unwrap();
    assert_eq!(r.inserted.len(), 1);
}
