//! The human summary of a job (stdout): printed after each mapping of `couple`, and again by
//! `jobs show` from the stored job.json — one rendering of one document.

use coupler_engine::OUTCOME_NAMES;
use serde_json::Value;

pub fn print(job: &Value) {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mode = match (job["dry_run"].as_bool(), &job["store"]) {
        (Some(false), _) => "applied",
        _ => "dry run",
    };
    println!(
        "{} ({}) — {mode}, {} local record(s), {} candidate(s) in {}",
        s(&job["mapping"]),
        s(&job["table_mapping"]),
        n(&job["local_records"]),
        n(&job["integration_records"]),
        s(&job["integration_source"])
    );
    println!();
    println!("  {:<18} {:>9}", "outcome", "records");
    for name in OUTCOME_NAMES {
        println!("  {name:<18} {:>9}", n(&job["outcomes"][name]));
    }
    if let Some(levels) = job["by_priority"].as_object().filter(|o| !o.is_empty()) {
        println!();
        println!("  by priority level (deciding level, or the last one evaluated):");
        for (p, counts) in levels {
            let parts: Vec<String> = counts
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k} {}", n(v)))
                .collect();
            println!("    p{p}: {}", parts.join(", "));
        }
    }
    let scores = &job["match_scores"];
    if let Some(coupled) = scores["coupled"].as_u64() {
        let score =
            |v: &serde_json::Value| v.as_f64().map_or("–".to_string(), |x| format!("{x:.4}"));
        println!();
        println!(
            "  fuzzy: {} record(s) coupled at a level with fuzzy criteria; scores: lowest {}, mean {} (distribution in job.json match_scores)",
            coupled,
            score(&scores["min_coupled"]),
            score(&scores["mean_coupled"])
        );
    }
    println!();
    let c = &job["counters"];
    println!(
        "  BC job log: Coupled {}, Failed {}, Skipped {}",
        n(&c["coupled"]),
        n(&c["failed"]),
        n(&c["skipped"])
    );
    for e in job["errors"].as_array().into_iter().flatten() {
        println!("    error: {}", s(&e["message"]));
    }
    println!();
    println!("  results:   {}", s(&job["files"]["results"]));
    println!("  couplings: {}", s(&job["files"]["couplings"]));
    println!("  job log:   {}", s(&job["files"]["job"]));
    if let (Some(http), Some(read)) = (job["http"].as_object(), job["integration_read"].as_object())
    {
        println!(
            "  Dataverse: {} read by {} ({}); {} request(s), {} retried, {} throttled",
            s(&read["table"]),
            s(&read["strategy"]),
            s(&read["reason"]),
            n(&http["requests"]),
            n(&http["retries"]),
            n(&http["throttled"])
        );
    }
    if let Some(store) = job["store"].as_object() {
        println!(
            "  store:     {} — {} coupling(s) committed, {} already there, {} taken by another job meanwhile",
            s(&store["path"]),
            n(&store["inserted"]),
            n(&store["unchanged"]),
            n(&store["conflicts"])
        );
    }
    if let Some(applied) = job["sync"]["applied"].as_object() {
        println!(
            "  Dataverse updates: {} done, {} not found, {} failed, {} still pending ({} resumed from an interrupted run)",
            n(&applied["done"]),
            n(&applied["not_found"]),
            n(&applied["failed"]),
            n(&applied["pending"]),
            n(&applied["resumed"])
        );
    }
    if let Some(create) = job["create_new"].as_object() {
        println!(
            "  new rows:  {} planned, {} created and coupled, {} failed, {} still pending ({} resumed from an interrupted run)",
            n(&create["planned"]),
            n(&create["created"]),
            n(&create["failed"]),
            n(&create["pending"]),
            n(&create["resumed"])
        );
    }
    if let Some(diff) = job["collation_diff"].as_object() {
        println!(
            "  collation: {} record(s) couple differently under {} than under {}: {}",
            n(&diff["records"]),
            s(&diff["compared_with"]),
            s(&diff["configured"]),
            s(&diff["file"])
        );
    }
    let t = &job["timings_ms"];
    println!(
        "  time: read {} ms, match {} ms, write {} ms ({} threads)",
        n(&t["read"]),
        n(&t["match"]),
        n(&t["write"]),
        n(&job["threads"])
    );
    println!();
}
