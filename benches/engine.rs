//! The engine alone: tables already in memory, `couple()` timed (criterion).
//!
//! `cargo bench --bench engine` (sizes: `COUPLER_BENCH_SIZES`, default 100k and 1M records per
//! side; the data comes from `coupler generate` with seed 1 and is cached in target/bench-data).

mod common;

use coupler_engine::{couple, ExistingCouplings, RunOptions};
use coupler_files::{read_table, FileSource};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    for records in common::sizes() {
        let dir = common::data_set(records);
        let full = common::spec(3, false);
        let local = read_table(
            &FileSource::csv(dir.join("customers.csv")),
            &full.local_columns(),
            &|_| {},
        )
        .expect("customers.csv");
        let integration = read_table(
            &FileSource::csv(dir.join("accounts.csv")),
            &full.integration_columns(),
            &|_| {},
        )
        .expect("accounts.csv");
        let existing = ExistingCouplings::new();
        for (levels, case_sensitive) in [(1, false), (3, false), (3, true)] {
            let spec = common::spec(levels, case_sensitive);
            let name = format!(
                "{levels} level(s), case-{}",
                if case_sensitive {
                    "sensitive"
                } else {
                    "insensitive"
                }
            );
            group.bench_with_input(BenchmarkId::new(name, records), &records, |b, _| {
                b.iter(|| {
                    let run = couple(
                        &spec,
                        &local,
                        &integration,
                        &existing,
                        RunOptions::default(),
                    )
                    .expect("couple");
                    run.log().counters.coupled
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
