//! The config loader (`Plan::load`: TOML parse, then every check of every mapping), the
//! `[[variants]]` reader of `criteria compare` (in a config and in a variants file) and the
//! `profile` field list, on arbitrary text: each must answer `Ok` or an error, never panic.
//! Errors are rendered as the command line prints them.

#![no_main]

use coupler_cli::fuzzing::{error_line, load_variants, mapped_fields, Plan};
use coupler_engine::PriorityMode;
use coupler_fuzz::scratch_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A config that is not UTF-8 is rejected when read; nothing past that is reached.
    if std::str::from_utf8(data).is_err() {
        return;
    }
    let path = scratch_path("coupling.toml");
    std::fs::write(&path, data).expect("scratch file");

    match Plan::load(&path) {
        Ok(plan) => {
            assert!(!plan.mappings.is_empty());
            for m in &plan.mappings {
                let _ = (m.local_columns(), m.integration_columns());
                let _ = m.integration.describe();
                match mapped_fields(&path, &m.spec.mapping_name) {
                    Ok(fields) => drop(fields),
                    Err(e) => drop(error_line(&e)),
                }
            }
            let names: Vec<String> = plan
                .mappings
                .iter()
                .map(|m| m.spec.mapping_name.clone())
                .collect();
            assert_eq!(plan.select(&names).map(|s| s.len()).ok(), Some(names.len()));
            let _ = plan
                .select(&["no such mapping".to_string()])
                .map_err(|e| error_line(&e));
        }
        Err(e) => drop(error_line(&e)),
    }
    for only_variants in [false, true] {
        match load_variants(&path, only_variants) {
            Ok(variants) => {
                for v in &variants {
                    for mode in [PriorityMode::Cumulative, PriorityMode::Independent] {
                        if let Err(e) = v.criteria(mode) {
                            drop(error_line(&e));
                        }
                    }
                }
            }
            Err(e) => drop(error_line(&e)),
        }
    }
});
