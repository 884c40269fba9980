//! Reading exports (criterion): the files adapter reading the columns a 3-level mapping uses —
//! one file alone (as `couple` reads the local side of a Dataverse mapping; two threads when a
//! core is spare), both files one after the other, and both at once (as `coupler couple` does:
//! one thread each) — against the `csv` crate merely parsing both files with one thread (the
//! reference issue 3 measures against).

mod common;

use coupler_files::{read_table, FileSource};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn read(c: &mut Criterion) {
    let mut group = c.benchmark_group("read");
    group.sample_size(10);
    for records in common::sizes() {
        let dir = common::data_set(records);
        let spec = common::spec(3, false);
        let customers = FileSource::csv(dir.join("customers.csv"));
        let accounts = FileSource::csv(dir.join("accounts.csv"));
        let customers_bytes = std::fs::metadata(dir.join("customers.csv")).unwrap().len();
        let bytes = customers_bytes + std::fs::metadata(dir.join("accounts.csv")).unwrap().len();
        group.throughput(Throughput::Bytes(bytes));
        group.bench_with_input(
            BenchmarkId::new("csv crate, parse only, 1 thread", records),
            &records,
            |b, _| {
                b.iter(|| {
                    let mut rows = 0u64;
                    for f in ["customers.csv", "accounts.csv"] {
                        let mut r = csv::Reader::from_path(dir.join(f)).unwrap();
                        let mut rec = csv::ByteRecord::new();
                        while r.read_byte_record(&mut rec).unwrap() {
                            rows += 1;
                        }
                    }
                    rows
                })
            },
        );
        group.throughput(Throughput::Bytes(customers_bytes));
        group.bench_with_input(
            BenchmarkId::new("files adapter, customers.csv alone", records),
            &records,
            |b, _| {
                b.iter(|| {
                    read_table(&customers, &spec.local_columns(), &|_| {})
                        .unwrap()
                        .len()
                })
            },
        );
        group.throughput(Throughput::Bytes(bytes));
        group.bench_with_input(
            BenchmarkId::new("files adapter, one after the other", records),
            &records,
            |b, _| {
                b.iter(|| {
                    let l = read_table(&customers, &spec.local_columns(), &|_| {}).unwrap();
                    let i = read_table(&accounts, &spec.integration_columns(), &|_| {}).unwrap();
                    l.len() + i.len()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("files adapter, both at once", records),
            &records,
            |b, _| {
                b.iter(|| {
                    let (l, i) = rayon::join(
                        || read_table(&customers, &spec.local_columns(), &|_| {}).unwrap(),
                        || read_table(&accounts, &spec.integration_columns(), &|_| {}).unwrap(),
                    );
                    l.len() + i.len()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, read);
criterion_main!(benches);
