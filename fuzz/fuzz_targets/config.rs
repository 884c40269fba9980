//! The config loader (`Plan::load`: TOML parse, then every check of every mapping), the spec
//! each mapping plans to, the `[[variants]]` of `criteria compare` (in a config and in a
//! variants file) on arbitrary text: each must answer `Ok` or an error, never panic. Errors are
//! rendered as the command line prints them.

#![no_main]

use coupler_cli::fuzzing::{error_line, load_variants_file, IntegrationFacts, Plan};
use coupler_fuzz::scratch_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A config that is not UTF-8 is rejected when read; nothing past that is reached.
    if std::str::from_utf8(data).is_err() {
        return;
    }
    let path = scratch_path("coupling.toml");
    std::fs::write(&path, data).expect("scratch file");
    // What a Dataverse table would tell: its key (choice options stay unknown).
    let facts = IntegrationFacts {
        primary_key: Some("accountid".into()),
        ..IntegrationFacts::default()
    };

    match Plan::load(&path) {
        Ok(plan) => {
            assert!(!plan.mappings.is_empty());
            for m in &plan.mappings {
                let _ = m.integration.describe();
                match m.spec(&facts) {
                    Ok(spec) => {
                        let _ = (m.local_columns(&spec), m.integration_columns(&spec));
                        match plan.variants() {
                            Ok(variants) => {
                                for v in &variants {
                                    if let Err(e) = m.variant_spec(&spec, v, &facts) {
                                        drop(error_line(&e));
                                    }
                                }
                            }
                            Err(e) => drop(error_line(&e)),
                        }
                    }
                    Err(e) => drop(error_line(&e)),
                }
            }
            let names: Vec<String> = plan.mappings.iter().map(|m| m.name.clone()).collect();
            assert_eq!(plan.select(&names).map(|s| s.len()).ok(), Some(names.len()));
            let _ = plan
                .select(&["no such mapping".to_string()])
                .map_err(|e| error_line(&e));
        }
        Err(e) => drop(error_line(&e)),
    }
    if let Err(e) = load_variants_file(&path) {
        drop(error_line(&e));
    }
});
