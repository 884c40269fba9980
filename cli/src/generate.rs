//! `coupler generate`: realistic exports with a truth file (the generator crate does the work).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use coupler_generate::{generate, GenerateOptions};

use crate::progress;

pub fn run(records: usize, seed: u64, out: &Path) -> Result<()> {
    let started = Instant::now();
    // The generator reports rows written to both exports: about twice `records`.
    let bar = progress::rows("generate", 2 * records as u64);
    let summary = generate(&GenerateOptions { records, seed }, out, &|rows| {
        bar.set_position(rows)
    })?;
    bar.finish_and_clear();
    println!(
        "generated {} BC customers and {} Dataverse accounts ({} known pairs, {} existing couplings, {:.1} MB) in {:.2} s:",
        summary.customers,
        summary.accounts,
        summary.truth_pairs,
        summary.existing_couplings,
        summary.bytes_written as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    for f in &summary.files {
        println!("  {}", f.display());
    }
    println!(
        "try: coupler couple --config {}",
        out.join("coupling.toml").display()
    );
    Ok(())
}
