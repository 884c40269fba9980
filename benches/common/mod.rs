//! Shared set-up for the benches: generated data sets (cached under `target/bench-data/`) and
//! the coupling specs the benches run.

use std::path::{Path, PathBuf};

use coupler_engine::{CouplingSpec, FieldType, MatchCriterion, PriorityMode};

/// Sizes to bench: `COUPLER_BENCH_SIZES=100000,1000000` (the default).
pub fn sizes() -> Vec<usize> {
    std::env::var("COUPLER_BENCH_SIZES")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// A generated data set of `records` records (seed 1), generated once and kept.
pub fn data_set(records: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("{records}-seed1"));
    if !dir.join("coupling.toml").exists() {
        eprintln!("generating {records} records into {}", dir.display());
        coupler_generate::generate(
            &coupler_generate::GenerateOptions { records, seed: 1 },
            &dir,
            &|_| {},
        )
        .expect("generate bench data");
    }
    dir
}

/// The generated config's mapping: phone (p0), then name (p1), then city (p2); `levels` keeps
/// the first 1, 2 or 3 of them.
pub fn spec(levels: usize, case_sensitive: bool) -> CouplingSpec {
    let criteria = [
        ("Phone No.", "telephone1"),
        ("Name", "name"),
        ("City", "address1_city"),
    ]
    .iter()
    .take(levels)
    .enumerate()
    .map(|(p, (l, i))| MatchCriterion {
        local_field: l.to_string(),
        integration_field: i.to_string(),
        field_type: FieldType::Text,
        priority: p as u32,
        case_sensitive,
        ..MatchCriterion::default()
    })
    .collect();
    CouplingSpec {
        mapping_name: "CUSTOMER".into(),
        local_caption: "Customer".into(),
        integration_caption: "Account".into(),
        integration_source: "accounts.csv".into(),
        local_key: "No.".into(),
        integration_key: "accountid".into(),
        criteria,
        priority_mode: PriorityMode::Cumulative,
        collation: coupler_engine::Collation::Exact,
        local_filter: vec![("Blocked".into(), String::new())],
        integration_filter: vec![("statecode".into(), "0".into())],
    }
}
