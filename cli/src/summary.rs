//! The human summary of a job (stdout): printed after each mapping of `couple`, and again by
//! `jobs show` from the stored job.json — one rendering of one document.

use coupler_engine::OUTCOME_NAMES;

use crate::job::JobJson;

pub fn print(job: &JobJson) {
    let mode = if job.dry_run { "dry run" } else { "applied" };
    println!(
        "{} ({}) — {mode}, {} local record(s), {} candidate(s) in {}",
        job.mapping,
        job.table_mapping,
        job.local_records,
        job.integration_records,
        job.integration_source
    );
    println!();
    println!("  {:<18} {:>9}", "outcome", "records");
    for name in OUTCOME_NAMES {
        println!("  {name:<18} {:>9}", job.outcome(name));
    }
    if !job.by_priority.is_empty() {
        println!();
        println!("  by priority level (deciding level, or the last one evaluated):");
        for (p, counts) in &job.by_priority {
            let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!("    p{p}: {}", parts.join(", "));
        }
    }
    for l in &job.lookups {
        println!();
        println!(
            "  lookup {} via {}: {} record(s) hold a key {} has not coupled ({} coupling(s) known); they cannot match on it (trace: not coupled)",
            l.field, l.via, l.not_coupled, l.via, l.couplings
        );
    }
    if let Some(scores) = &job.match_scores {
        let score = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.4}"));
        println!();
        println!(
            "  fuzzy: {} record(s) coupled at a level with fuzzy criteria; scores: lowest {}, mean {} (distribution in job.json match_scores)",
            scores.coupled,
            score(scores.min_coupled),
            score(scores.mean_coupled)
        );
    }
    println!();
    println!(
        "  BC job log: Coupled {}, Failed {}, Skipped {}",
        job.counter("coupled"),
        job.counter("failed"),
        job.counter("skipped")
    );
    for e in &job.errors {
        println!("    error: {}", e.message);
    }
    println!();
    println!("  results:   {}", job.files.results);
    println!("  couplings: {}", job.files.couplings);
    println!("  job log:   {}", job.files.job);
    if let (Some(http), Some(read)) = (&job.http, &job.integration_read) {
        println!(
            "  Dataverse: {} read by {} ({}); {} request(s), {} retried, {} throttled",
            read.table, read.strategy, read.reason, http.requests, http.retries, http.throttled
        );
    }
    if let Some(store) = &job.store {
        // Records coupled already (by an earlier run, or in a couplings file) are BC's
        // `skipped`: nothing new to commit for them.
        let mut line = format!(
            "  store:     {} — {} new coupling(s) committed; {} record(s) were coupled already (skipped)",
            store.path,
            store.inserted,
            job.outcome("skipped")
        );
        if store.unchanged + store.conflicts > 0 {
            line += &format!(
                "; {} pair(s) stored meanwhile by another job, {} record(s) taken by another job meanwhile",
                store.unchanged, store.conflicts
            );
        }
        println!("{line}");
    }
    if let Some(applied) = job.sync.as_ref().and_then(|s| s.applied.as_ref()) {
        println!(
            "  Dataverse updates: {} done, {} not found, {} failed, {} still pending ({} resumed from an interrupted run)",
            applied.done, applied.not_found, applied.failed, applied.pending, applied.resumed
        );
    }
    if let Some(create) = &job.create_new {
        println!(
            "  new rows:  {} planned, {} created and coupled, {} failed, {} still pending ({} resumed from an interrupted run)",
            create.planned, create.created, create.failed, create.pending, create.resumed
        );
    }
    if let Some(diff) = &job.collation_diff {
        println!(
            "  collation: {} record(s) couple differently under {} than under {}: {}",
            diff.records, diff.compared_with, diff.configured, diff.file
        );
    }
    let t = &job.timings_ms;
    println!(
        "  time: read {} ms, match {} ms, write {} ms ({} threads)",
        t.read, t.matching, t.write, job.threads
    );
    println!();
}
