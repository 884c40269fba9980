//! `max_lengths` against the Dataverse emulator: the String and Memo columns' `MaxLength`
//! (Dataverse's defaults, well-known lengths and configured `[tables.max_lengths]`) in two
//! requests, and the typed errors for unknown tables and failed requests.

use std::collections::BTreeMap;

use coupler_dataverse::{max_lengths, DataverseError};
use dataverse_emulator::{AttrType, Fault, FaultWhen, RequestKind, RunningEmulator, TableConfig};

mod common;
use common::{session, start_with_tables, types};

/// `accounts` with Dataverse's text columns, a custom String, two Memo columns and columns of
/// other types; `accountnumber` and `new_notes` have configured lengths.
fn emulator() -> RunningEmulator {
    let mut table = TableConfig::new("account", "accounts", "accountid");
    table.primary_name = Some("name".into());
    table.types = types(&[
        ("name", AttrType::String),
        ("accountnumber", AttrType::String),
        ("telephone1", AttrType::String),
        ("new_code", AttrType::String),
        ("description", AttrType::Memo),
        ("new_notes", AttrType::Memo),
        ("customertypecode", AttrType::Picklist),
        ("numberofemployees", AttrType::Integer),
        ("_parentaccountid_value", AttrType::Lookup),
    ]);
    table.max_lengths = BTreeMap::from([
        ("accountnumber".to_string(), 12),
        ("new_notes".to_string(), 64_000),
    ]);
    start_with_tables(vec![table])
}

fn api_requests(emulator: &RunningEmulator) -> Vec<String> {
    emulator
        .controls()
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::WebApi)
        .map(|r| r.path_and_query)
        .collect()
}

const STRING_REQUEST: &str = "GET EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata";
const MEMO_REQUEST: &str = "GET EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.MemoAttributeMetadata";

#[test]
fn text_columns_with_their_lengths_in_two_requests() {
    let emulator = emulator();
    let session = session(&emulator);
    let lengths = max_lengths(&session, "account").unwrap();
    let expected: BTreeMap<String, u32> = [
        ("accountnumber", 12), // configured
        ("description", 2000), // a Memo column's default
        ("name", 160),         // Dataverse's own
        ("new_code", 100),     // a String column's default
        ("new_notes", 64_000), // configured
        ("telephone1", 50),    // Dataverse's own
    ]
    .iter()
    .map(|(n, l)| (n.to_string(), *l))
    .collect();
    assert_eq!(lengths, expected);
    assert_eq!(
        api_requests(&emulator),
        [
            "/api/data/v9.2/EntityDefinitions(LogicalName=%27account%27)/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata?$select=LogicalName%2CMaxLength",
            "/api/data/v9.2/EntityDefinitions(LogicalName=%27account%27)/Attributes/Microsoft.Dynamics.CRM.MemoAttributeMetadata?$select=LogicalName%2CMaxLength",
        ]
    );
}

#[test]
fn a_table_without_text_columns_has_none() {
    let emulator = emulator();
    let session = session(&emulator);
    // The built-in organization table has one String column, `name`.
    let lengths = max_lengths(&session, "organization").unwrap();
    assert_eq!(lengths, BTreeMap::from([("name".to_string(), 160)]));
}

fn table_error(e: DataverseError) -> (String, String) {
    match e {
        DataverseError::Table { request, message } => (request, message),
        other => panic!("not a Table error: {other:?}"),
    }
}

#[test]
fn unknown_tables_are_typed_errors() {
    let emulator = emulator();
    let session = session(&emulator);
    let (request, message) = table_error(max_lengths(&session, "acount").unwrap_err());
    assert_eq!(request, "GET EntityDefinitions");
    assert_eq!(
        message,
        "Dataverse has no table with the logical name 'acount'; did you mean 'account'?"
    );
    // An entity set name: the error names the first request and gives the logical name.
    let (request, message) = table_error(max_lengths(&session, "accounts").unwrap_err());
    assert_eq!(
        request,
        "GET EntityDefinitions(LogicalName='accounts')/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata"
    );
    assert!(message.contains("logical name is 'account'"), "{message}");
    // A quote is escaped in the key literal (no table has that name: an error, not a 400).
    let e = max_lengths(&session, "acc'ount").unwrap_err();
    assert!(matches!(e, DataverseError::Table { .. }), "{e:?}");
}

#[test]
fn a_failed_request_is_named() {
    let emulator = emulator();
    let session = session(&emulator);
    max_lengths(&session, "account").unwrap();
    for (number, expected) in [(1, STRING_REQUEST), (2, MEMO_REQUEST)] {
        emulator.controls().reset_stats();
        emulator
            .controls()
            .inject(Fault::Status(400), FaultWhen::RequestNumber(number));
        match max_lengths(&session, "account").unwrap_err() {
            DataverseError::Api {
                request, status, ..
            } => {
                assert_eq!(status, 400);
                assert!(
                    request.starts_with(&format!("{expected}?$select=LogicalName,MaxLength")),
                    "{request}"
                );
            }
            other => panic!("not an Api error: {other:?}"),
        }
        emulator.controls().clear_faults();
    }
}
