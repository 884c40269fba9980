//! The `coupler` executable; everything it does lives in the `coupler-cli` crate.

fn main() -> std::process::ExitCode {
    coupler_cli::main()
}
