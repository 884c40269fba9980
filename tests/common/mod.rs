//! Helpers shared by the end-to-end tests: run the real `coupler` binary, read its output.
#![allow(dead_code)] // each test file uses a different subset

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the `coupler` binary in `cwd`.
pub fn coupler(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run coupler")
}

/// A copy of the demo (config, exports, couplings.csv) in a temporary folder.
pub fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    for f in [
        "coupling.toml",
        "customers.csv",
        "accounts.csv",
        "couplings.csv",
    ] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    dir
}

/// `couple --apply` of the folder's `coupling.toml` into `out`; its stdout (the run must
/// succeed).
pub fn apply(dir: &Path, out: &str) -> String {
    ok(&coupler(
        &[
            "couple",
            "--config",
            "coupling.toml",
            "--out",
            out,
            "--apply",
        ],
        dir,
    ))
}

/// The stdout of a run that must have succeeded (its stderr shown otherwise).
pub fn ok(out: &Output) -> String {
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Bytes as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A CSV file as rows of column → value.
pub fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect()
        })
        .collect()
}

/// A temporary folder with `coupler generate --records N --seed S`'s files.
pub fn generated(records: usize, seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    coupler_generate::generate(
        &coupler_generate::GenerateOptions { records, seed },
        dir.path(),
        &|_| {},
    )
    .unwrap();
    dir
}

/// The entry of the variant named `name` in `criteria compare --json`'s output.
pub fn variant<'r>(results: &'r serde_json::Value, name: &str) -> &'r serde_json::Value {
    results
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["variant"] == name)
        .unwrap_or_else(|| panic!("no variant {name}: {results:#}"))
}
