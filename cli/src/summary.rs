//! The human summary printed after each mapping (stdout).

use coupler_engine::OUTCOME_NAMES;

use crate::config::PlannedMapping;
use crate::couple_cmd::JobJson;

pub fn print(job: &JobJson, m: &PlannedMapping) {
    let spec = &m.spec;
    println!(
        "{} ({}) — dry run, {} local record(s), {} candidate(s) in {}",
        job.mapping,
        spec.friendly_name(),
        job.local_records,
        job.integration_records,
        spec.integration_source
    );
    println!();
    println!("  {:<18} {:>9}", "outcome", "records");
    for name in OUTCOME_NAMES {
        println!("  {name:<18} {:>9}", job.outcomes[name]);
    }
    if !job.by_priority.is_empty() {
        println!();
        println!("  by priority level (deciding level, or the last one evaluated):");
        for (p, counts) in &job.by_priority {
            let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!("    p{p}: {}", parts.join(", "));
        }
    }
    println!();
    println!(
        "  BC job log: Coupled {}, Failed {}, Skipped {}",
        job.counters["coupled"], job.counters["failed"], job.counters["skipped"]
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
    println!(
        "  time: read {} ms, match {} ms, write {} ms ({} threads)",
        job.timings_ms.read, job.timings_ms.matching, job.timings_ms.write, job.threads
    );
    println!();
}
