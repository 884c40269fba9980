//! Named crash points on the `--apply` path, for the crash tests (`tests/crash.rs`).
//!
//! Compiled in only with the `failpoints` feature (the root package's tests turn it on; a
//! `cargo build` / `cargo install` binary has none: the macro expands to nothing). With it, the
//! `fail` crate reads `FAILPOINTS` from the environment at start-up, e.g.
//! `FAILPOINTS=apply::after_commit=return` — and `return` here means: die on the spot, as a
//! `kill -9` would (`abort`, no destructors, no rollback beyond what SQLite does itself), so
//! that the test can check what the next run makes of it. `2*off->return` dies at the third
//! pass.
//!
//! The points, in the order a run passes them (`docs/apply.md` shows them on the state machine):
//! `apply::after_resume`, `apply::after_commit`, `apply::batch_marked_sent`,
//! `apply::batch_answered`, `apply::batch_marked`, `apply::outputs_staged`,
//! `apply::outputs_swapped`, `apply::before_finish`.

/// Dies here when the fail point `$name` is configured (see the module docs).
#[macro_export]
#[doc(hidden)]
macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        fail::fail_point!($name, |_| { $crate::failpoints::crash($name) });
    };
}

/// Ends the process at once, as a kill would.
#[cfg(feature = "failpoints")]
pub fn crash(name: &str) -> ! {
    eprintln!("coupler: fail point {name}: crashing");
    std::process::abort()
}
