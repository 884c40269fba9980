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
