//! `coupler generate`: realistic exports with a truth file (the generator crate does the work).

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use coupler_generate::{generate_with_noise, GenerateOptions, Noise, ROWS_PER_RECORD};

use crate::progress;

/// `noise`: `--noise`, hand-typed data (see the generator crate's `rates::noisy`).
pub fn run(records: usize, seed: u64, noise: bool, out: &Path) -> Result<()> {
    let started = Instant::now();
    // The generator reports rows written to the four exports (customers, accounts and both
    // sides' contacts: about six per record); the bar counts records, the number the user asked
    // for.
    let bar = progress::rows("generate", records as u64, "records");
    let noise = if noise { Noise::High } else { Noise::None };
    let summary = generate_with_noise(&GenerateOptions { records, seed }, noise, out, &|rows| {
        bar.set_position((rows / ROWS_PER_RECORD).min(records as u64))
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
    let c = &summary.contacts;
    println!(
        "contacts: {} in BC, {} in Dataverse ({} known pairs)",
        c.bc_contacts, c.dataverse_contacts, c.truth_pairs
    );
    if noise == Noise::High {
        let t = &summary.traps;
        let n = &t.noise;
        println!(
            "noise: {} account names mistyped, {} with punctuation or spacing drift, {} with the legal form respelled, {} without accents; {} account phones in another format, {} blank",
            n.account_name_typos,
            n.account_punctuation_drift,
            t.legal_form_drift,
            n.account_accents_dropped,
            t.phone_format_drift,
            t.account_blank_phone,
        );
    }
    for f in &summary.files {
        println!("  {}", f.display());
    }
    println!(
        "try: coupler couple --config {}",
        out.join("coupling.toml").display()
    );
    Ok(())
}
