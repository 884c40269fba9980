//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use coupler_store::{FinishedJob, MappingRef, NewJob, ResultRecord, Store};

pub fn temp_store() -> (tempfile::TempDir, PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coupler.db");
    let store = Store::open(&path).unwrap();
    (dir, path, store)
}

pub fn customer() -> MappingRef {
    MappingRef {
        mapping: "CUSTOMER".into(),
        local_table: "Customer".into(),
        integration_table: "accounts".into(),
    }
}

pub fn vendor() -> MappingRef {
    MappingRef {
        mapping: "VENDOR".into(),
        local_table: "Vendor".into(),
        integration_table: "accounts".into(),
    }
}

pub fn job(id: &str, mapping: &str, started_at: &str) -> NewJob {
    NewJob {
        job_id: id.into(),
        mapping: mapping.into(),
        job_type: "coupling".into(),
        dry_run: false,
        started_at: started_at.into(),
        config_path: Some("/tmp/coupler.toml".into()),
    }
}

pub fn start(store: &mut Store, id: &str, mapping: &str) {
    store
        .start_job(&job(id, mapping, "2024-05-01T10:00:00.000Z"))
        .unwrap();
}

pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(l, i)| (l.to_string(), i.to_string()))
        .collect()
}

pub fn finished(counters: &[(&str, u64)], errors: &[&str]) -> FinishedJob {
    FinishedJob {
        finished_at: "2024-05-01T10:00:05.000Z".into(),
        job_json: r#"{"job_id":"x","counters":{"coupled":2}}"#.into(),
        counters: counters
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
        errors: errors.iter().map(|e| e.to_string()).collect(),
    }
}

pub fn result(i: usize) -> ResultRecord {
    ResultRecord {
        local_id: format!("C{i:06}"),
        outcome: if i.is_multiple_of(3) { "coupled" } else { "no_match" }.into(),
        integration_id: if i.is_multiple_of(3) {
            format!("00000000-0000-4000-8000-{i:012}")
        } else {
            String::new()
        },
        priority: "0".into(),
        match_count: if i.is_multiple_of(3) { "1" } else { "0" }.into(),
        candidates: String::new(),
        coupled_to: String::new(),
        trace: "p0:coupled".into(),
        message: format!(
            "No matching entity was found for C{i:06} in https://org.crm.dynamics.com by matching on following fields: Name, Phone No.."
        ),
        holder_origin: String::new(),
    }
}

pub fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}
