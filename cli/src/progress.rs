//! Progress on stderr for long reads; hidden when stderr is not a terminal (CI, pipes) or the
//! input is small.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs smaller than this read too fast to need a bar.
const LARGE_INPUT_BYTES: u64 = 32 * 1024 * 1024;

/// A byte-count bar for reading `label` of `total` bytes, or a hidden bar.
pub fn reading(label: &str, total: u64) -> ProgressBar {
    if total < LARGE_INPUT_BYTES || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// A row-count bar for long generation runs, or a hidden bar.
pub fn rows(label: &str, total: u64, unit: &str) -> ProgressBar {
    if total < 1_000_000 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{prefix:>12}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}})"
        ))
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

/// A row counter with the rate, for reads from a server whose total is not known up front
/// (hidden when stderr is not a terminal). Shown at once: a server read is slow enough.
pub fn fetching(label: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} {spinner} {human_pos} rows ({per_sec}, {elapsed})",
        )
        .expect("static template"),
    );
    bar.set_prefix(label.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
