//! The client against the Dataverse emulator (in this process, on loopback): paging, token
//! renewal mid-read, lookups, metadata, errors. The end-to-end runs of the `coupler` binary are
//! in the workspace's `tests/dataverse.rs`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use coupler_dataverse::{
    read_all, read_lookups, table_info, total_rows, DataverseError, LookupPlan, ReadRequest,
    RetryPolicy, Session,
};
use dataverse_emulator::{Fault, FaultWhen, RunningEmulator};

mod common;
use common::{session_with, start_account_emulator};

/// An emulator serving `rows` accounts (ids in a scrambled order, some names with quotes,
/// accents and trailing spaces).
fn emulator(rows: usize, dir: &Path) -> RunningEmulator {
    let mut csv = String::from("accountid,name,telephone1,statecode,revenue\n");
    for i in 0..rows {
        // Scramble so that file order is not primary-key order.
        let n = (i as u64).wrapping_mul(2_654_435_761) % 1_000_000_007;
        let name = match i % 5 {
            0 => format!("O'Brien {i}"),
            1 => format!("Café {i}"),
            2 => format!("Adatum {i} "),
            3 => format!("\"Quoted\", {i}"),
            _ => format!("Plain {i}"),
        };
        let name = name.replace('"', "\"\"");
        csv.push_str(&format!(
            "{:08x}-0000-4000-8000-{:012x},\"{name}\",+1 555 {i:07},{},{}.{:02}\n",
            n as u32,
            i,
            i % 2,
            i * 3,
            i % 100
        ));
    }
    std::fs::write(dir.join("accounts.csv"), csv).unwrap();
    start_account_emulator(dir, "statecode = \"State\"\nrevenue = \"Money\"")
}

fn session(emulator: &RunningEmulator, secret: &str) -> Session {
    session_with(
        emulator,
        secret,
        RetryPolicy {
            base_delay: std::time::Duration::from_millis(5),
            ..RetryPolicy::default()
        },
    )
}

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn whole_table_over_several_pages_in_primary_key_order_with_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(12_345, dir.path());
    let s = session(&emu, "s3cret");
    let info = table_info(&s, "accounts").unwrap();
    assert_eq!(info.primary_id, "accountid");
    let cols = columns(&["accountid", "name", "revenue", "statecode"]);
    let request = ReadRequest {
        table: &info,
        columns: &cols,
        filter: &[],
        pushed_filter: &[],
    };
    let seen = AtomicU64::new(0);
    let table = read_all(&s, &request, &|n| seen.store(n, Ordering::Relaxed)).unwrap();
    assert_eq!(table.len(), 12_345);
    assert_eq!(seen.load(Ordering::Relaxed), 12_345);
    // Primary-key (SQL Server GUID) order, every id once.
    let ids: Vec<&str> = (0..table.len()).map(|r| table.cell(r, 0)).collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|id| coupler_dataverse::odata::guid_order_key(id));
    assert_eq!(ids, sorted);
    sorted.dedup();
    assert_eq!(sorted.len(), 12_345);
    // Values exactly as stored: quotes, accents, trailing spaces, money digits.
    let names: std::collections::HashSet<&str> =
        (0..table.len()).map(|r| table.cell(r, 1)).collect();
    assert!(names.contains("O'Brien 0"));
    assert!(names.contains("Café 1"));
    assert!(names.contains("Adatum 2 "));
    assert!(names.contains("\"Quoted\", 3"));
    let row = (0..table.len())
        .find(|&r| table.cell(r, 1) == "Plain 4")
        .unwrap();
    assert!(
        table.cell(row, 2).starts_with("12."),
        "{}",
        table.cell(row, 2)
    );
    // One request per page (3), every page with the preference.
    let pages: Vec<_> = emu
        .controls()
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/api/data/v9.2/accounts"))
        .collect();
    assert_eq!(pages.len(), 3);
    assert_eq!(s.counts().retries, 0);
}

#[test]
fn filter_is_pushed_down_typed_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(1000, dir.path());
    let s = session(&emu, "s3cret");
    let info = table_info(&s, "accounts").unwrap();
    let cols = columns(&["accountid", "name", "statecode"]);
    let filter = vec![("statecode".to_string(), "1".to_string())];
    let table = read_all(
        &s,
        &ReadRequest {
            table: &info,
            columns: &cols,
            filter: &filter,
            pushed_filter: &[],
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(table.len(), 500);
    assert!((0..table.len()).all(|r| table.cell(r, 2) == "1"));
    let filter = vec![("name".to_string(), "O'Brien 10".to_string())];
    let table = read_all(
        &s,
        &ReadRequest {
            table: &info,
            columns: &cols,
            filter: &filter,
            pushed_filter: &[],
        },
        &|_| {},
    )
    .unwrap();
    assert_eq!(table.len(), 1);
    assert_eq!(table.cell(0, 1), "O'Brien 10");
}

#[test]
fn a_token_expired_mid_read_is_renewed_once_and_the_read_completes() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(12_000, dir.path());
    let s = session(&emu, "s3cret");
    let info = table_info(&s, "accounts").unwrap();
    let cols = columns(&["accountid", "name"]);
    let controls = emu.controls();
    let table = read_all(
        &s,
        &ReadRequest {
            table: &info,
            columns: &cols,
            filter: &[],
            pushed_filter: &[],
        },
        // After the first page: the server forgets every token.
        &|rows| {
            if rows == 5000 {
                controls.expire_all_tokens();
            }
        },
    )
    .unwrap();
    assert_eq!(table.len(), 12_000);
    assert_eq!(emu.controls().stats().by_status.get(&401), Some(&1));
    assert_eq!(emu.controls().stats().tokens_issued, 2);
    assert_eq!(s.counts().retries, 1);
}

#[test]
fn short_token_lifetimes_are_renewed_before_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(100, dir.path());
    emu.controls().set_token_lifetime(1);
    let s = session(&emu, "s3cret");
    for _ in 0..3 {
        table_info(&s, "accounts").unwrap();
    }
    // A one-second token is never reused once three quarters of its life are gone; no 401s.
    assert_eq!(emu.controls().stats().by_status.get(&401), None);
}

#[test]
fn lookups_fetch_exactly_the_matching_rows_in_primary_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(3000, dir.path());
    let s = session(&emu, "s3cret");
    let info = table_info(&s, "accounts").unwrap();
    let cols = columns(&["accountid", "name"]);
    let request = ReadRequest {
        table: &info,
        columns: &cols,
        filter: &[],
        pushed_filter: &[],
    };
    let all = read_all(&s, &request, &|_| {}).unwrap();
    // 1200 names (more than one In chunk), some differing only by case: Dataverse's
    // case-insensitive In returns them too.
    let mut wanted: Vec<String> = (0..all.len())
        .step_by(2)
        .map(|r| all.cell(r, 1).to_string())
        .collect();
    wanted.truncate(1200);
    wanted.push("CAFÉ 1".into());
    wanted.sort();
    wanted.dedup();
    let plan = LookupPlan {
        columns: vec![("name".into(), wanted)],
    };
    assert!(plan.requests(100) >= 3);
    let found = read_lookups(&s, &request, &plan, &|_| {}).unwrap();
    let expected: Vec<&str> = (0..all.len())
        .filter(|&r| r % 2 == 0 && r / 2 < 1200 || all.cell(r, 1) == "Café 1")
        .map(|r| all.cell(r, 0))
        .collect();
    let got: Vec<&str> = (0..found.len()).map(|r| found.cell(r, 0)).collect();
    assert_eq!(got, expected);
    let count = total_rows(&s, "account");
    assert_eq!(count, Some(3000));
}

#[test]
fn errors_carry_status_code_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(10, dir.path());
    let s = session(&emu, "s3cret");
    let info = table_info(&s, "accounts").unwrap();
    let cols = columns(&["accountid", "nosuchcolumn"]);
    let e = read_all(
        &s,
        &ReadRequest {
            table: &info,
            columns: &cols,
            filter: &[],
            pushed_filter: &[],
        },
        &|_| {},
    )
    .unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.code(), Some("0x80060888"));
    assert!(e.to_string().contains("nosuchcolumn"), "{e}");
    assert!(
        e.to_string()
            .starts_with("GET accounts?$select=accountid,nosuchcolumn"),
        "{e}"
    );

    let bad = session(&emu, "wrong");
    match table_info(&bad, "accounts").unwrap_err() {
        DataverseError::TokenRefused {
            error, description, ..
        } => {
            assert_eq!(error, "invalid_client");
            assert!(description.starts_with("AADSTS7000215"), "{description}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_fault_on_every_attempt_exhausts_the_retry_budget() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(10, dir.path());
    let s = session_with(
        &emu,
        "s3cret",
        RetryPolicy {
            max_retries: 3,
            base_delay: std::time::Duration::from_millis(1),
            ..RetryPolicy::default()
        },
    );
    emu.controls()
        .inject(Fault::DropConnection, FaultWhen::NextRequests(100));
    let e = table_info(&s, "accounts").unwrap_err();
    assert!(
        matches!(e, DataverseError::RetriesExhausted { attempts: 4, .. }),
        "{e}"
    );
    assert_eq!(s.counts().retries, 3);
}

#[test]
fn a_server_that_cannot_filter_metadata_is_answered_from_the_full_list() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(10, dir.path());
    let s = session(&emu, "s3cret");
    // The first metadata query (filtered on EntitySetName) is refused with 400.
    emu.controls()
        .inject(Fault::Status(400), FaultWhen::RequestNumber(1));
    let info = table_info(&s, "accounts").unwrap();
    assert_eq!(info.primary_id, "accountid");
    assert_eq!(info.entity_set, "accounts");
    // Unknown names still get suggestions from the full list.
    let e = table_info(&s, "acounts").unwrap_err();
    assert!(e.to_string().contains("did you mean 'accounts'"), "{e}");
}
