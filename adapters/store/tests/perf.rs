//! Throughput of the job log with a million result rows. Ignored by default; run with
//! `cargo test -p coupler-store --release --test perf -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use common::*;

#[test]
#[ignore = "a measurement, not a check; run it with --release --ignored --nocapture"]
fn finish_job_one_million_result_rows() {
    const ROWS: usize = 1_000_000;
    let (_dir, path, mut store) = temp_store();
    start(&mut store, "job-1", "CUSTOMER");

    let t = Instant::now();
    store
        .finish_job(
            "job-1",
            &finished(&[("coupled", 333_334)], &["m2"]),
            (0..ROWS).map(result),
        )
        .unwrap();
    let write = t.elapsed();

    let t = Instant::now();
    let mut n = 0usize;
    let mut bytes = 0usize;
    store
        .job_results("job-1", &mut |r| {
            n += 1;
            bytes += r.message.len();
        })
        .unwrap();
    let read = t.elapsed();
    assert_eq!(n, ROWS);
    assert!(bytes > 0);

    let t = Instant::now();
    let d = store.job("job-1").unwrap().unwrap();
    let show = t.elapsed();
    assert_eq!(d.result_rows, ROWS as u64);

    let t = Instant::now();
    let pairs: Vec<(String, String)> = (0..100_000)
        .map(|i| {
            (
                format!("C{i:06}"),
                format!("00000000-0000-4000-8000-{i:012}"),
            )
        })
        .collect();
    let r = store
        .commit_couplings("job-1", &customer(), &pairs)
        .unwrap();
    let commit = t.elapsed();
    assert_eq!(r.inserted.len(), 100_000);

    let t = Instant::now();
    let all = store.couplings().unwrap();
    let load = t.elapsed();
    assert_eq!(all.len(), 100_000);

    drop(store);
    let size = std::fs::metadata(&path).unwrap().len()
        + std::fs::metadata(path.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "finish_job: {ROWS} rows in {:.2} s = {:.0} rows/s",
        write.as_secs_f64(),
        ROWS as f64 / write.as_secs_f64()
    );
    println!(
        "job_results: {ROWS} rows in {:.2} s = {:.0} rows/s",
        read.as_secs_f64(),
        ROWS as f64 / read.as_secs_f64()
    );
    println!("job (show): {:.1} ms", show.as_secs_f64() * 1e3);
    println!(
        "commit_couplings: 100000 pairs in {:.2} s = {:.0} pairs/s",
        commit.as_secs_f64(),
        100_000.0 / commit.as_secs_f64()
    );
    println!("couplings(): 100000 in {:.1} ms", load.as_secs_f64() * 1e3);
    println!("store file + WAL: {:.0} MB", size as f64 / 1e6);
}
