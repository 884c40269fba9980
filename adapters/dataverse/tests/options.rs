//! `choice_options` against the Dataverse emulator: the options of choice columns (values and
//! labels), State and Status columns, entity set names, and the typed errors for a column
//! that is not a choice column, unknown names (with suggestions) and quotes in names.

use std::collections::BTreeMap;

use coupler_dataverse::{choice_options, ChoiceError, ChoiceOption, DataverseError};
use dataverse_emulator::{AttrType, RequestKind, RunningEmulator, TableConfig};

mod common;
use common::{session, start_with_tables, types};

/// `accounts` with Dataverse's choice columns (built-in options), a configured one, a column
/// whose name holds a quote, and columns of other types.
fn emulator() -> RunningEmulator {
    let mut table = TableConfig::new("account", "accounts", "accountid");
    table.primary_name = Some("name".into());
    table.types = types(&[
        ("name", AttrType::String),
        ("telephone1", AttrType::String),
        ("customertypecode", AttrType::Picklist),
        ("industrycode", AttrType::Picklist),
        ("new_salessegment", AttrType::Picklist),
        ("new_o'choice", AttrType::Picklist),
        ("statecode", AttrType::State),
        ("statuscode", AttrType::Status),
        ("creditonhold", AttrType::Boolean),
        ("_parentaccountid_value", AttrType::Lookup),
    ]);
    let captions = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(v, l)| (v.to_string(), l.to_string()))
            .collect()
    };
    table.captions = BTreeMap::from([
        (
            "new_salessegment".to_string(),
            captions(&[("1", "Wholesale"), ("2", "Export"), ("3", "Retail")]),
        ),
        (
            "new_o'choice".to_string(),
            captions(&[("100000000", "O'Neil's")]),
        ),
    ]);
    start_with_tables(vec![table])
}

fn pairs(options: &[ChoiceOption]) -> Vec<(i64, &str)> {
    options
        .iter()
        .map(|o| (o.value, o.label.as_str()))
        .collect()
}

/// Web API requests (not token requests) the emulator saw, as received.
fn api_requests(emulator: &RunningEmulator) -> Vec<String> {
    emulator
        .controls()
        .requests()
        .into_iter()
        .filter(|r| r.kind == RequestKind::WebApi)
        .map(|r| r.path_and_query)
        .collect()
}

#[test]
fn labels_and_values_of_a_choice_column_in_one_request() {
    let emulator = emulator();
    let session = session(&emulator);
    let options = choice_options(&session, "account", "customertypecode").unwrap();
    assert_eq!(
        pairs(&options),
        [
            (1, "Competitor"),
            (2, "Consultant"),
            (3, "Customer"),
            (4, "Investor"),
            (5, "Partner"),
            (6, "Influencer"),
            (7, "Press"),
            (8, "Prospect"),
            (9, "Reseller"),
            (10, "Supplier"),
            (11, "Vendor"),
            (12, "Other"),
        ]
    );
    let requests = api_requests(&emulator);
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0].starts_with(
            "/api/data/v9.2/EntityDefinitions(LogicalName=%27account%27)/Attributes(LogicalName=%27customertypecode%27)/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand="
        ),
        "{}",
        requests[0]
    );

    // A configured option set: "Retail" is 3.
    let options = choice_options(&session, "account", "new_salessegment").unwrap();
    assert_eq!(
        pairs(&options),
        [(1, "Wholesale"), (2, "Export"), (3, "Retail")]
    );
    let industries = choice_options(&session, "account", "industrycode").unwrap();
    assert_eq!(industries.len(), 33);
    assert_eq!(
        (industries[10].value, industries[10].label.as_str()),
        (11, "Doctor's Offices and Clinics")
    );
}

#[test]
fn state_and_status_columns_and_entity_set_names() {
    let emulator = emulator();
    let session = session(&emulator);
    let states = choice_options(&session, "account", "statecode").unwrap();
    assert_eq!(pairs(&states), [(0, "Active"), (1, "Inactive")]);
    let statuses = choice_options(&session, "account", "statuscode").unwrap();
    assert_eq!(pairs(&statuses), [(1, "Active"), (2, "Inactive")]);
    // The entity set name works too (the logical name is looked up).
    let options = choice_options(&session, "accounts", "new_salessegment").unwrap();
    assert_eq!(options.len(), 3);
    assert!(api_requests(&emulator)
        .iter()
        .any(|r| r.contains("StatusAttributeMetadata")));
}

#[test]
fn a_column_that_is_not_a_choice_column_is_a_typed_error() {
    let emulator = emulator();
    let session = session(&emulator);
    for (column, attribute_type) in [
        ("name", "String"),
        ("creditonhold", "Boolean"),
        ("parentaccountid", "Lookup"),
        ("_parentaccountid_value", "Lookup"),
    ] {
        let e = choice_options(&session, "account", column).unwrap_err();
        match &e {
            ChoiceError::NotChoice {
                table,
                column: c,
                attribute_type: t,
            } => {
                assert_eq!(
                    (table.as_str(), c.as_str(), t.as_str()),
                    ("account", column, attribute_type)
                );
            }
            other => panic!("{column}: {other:?}"),
        }
        assert!(
            e.to_string().contains(&format!(
                "column '{column}' of Dataverse table 'account' is not a choice (option set) column"
            )),
            "{e}"
        );
    }
    // Where a DataverseError is expected, `?` still works and keeps the message.
    let e: DataverseError = choice_options(&session, "accounts", "telephone1")
        .unwrap_err()
        .into();
    assert!(matches!(e, DataverseError::Table { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("is not a choice (option set) column"),
        "{e}"
    );
}

#[test]
fn unknown_columns_and_tables_suggest_close_names() {
    let emulator = emulator();
    let session = session(&emulator);
    let e = choice_options(&session, "account", "customertypcode").unwrap_err();
    let ChoiceError::UnknownColumn {
        table,
        column,
        suggestions,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (table.as_str(), column.as_str()),
        ("account", "customertypcode")
    );
    assert_eq!(
        suggestions.first().map(String::as_str),
        Some("customertypecode")
    );
    assert!(
        e.to_string()
            .starts_with("column 'customertypcode' does not exist in Dataverse table 'account'; did you mean 'customertypecode'"),
        "{e}"
    );
    let e = choice_options(&session, "account", "zzz").unwrap_err();
    assert!(!e.to_string().contains("did you mean"), "{e}");

    let e = choice_options(&session, "acount", "customertypecode").unwrap_err();
    let ChoiceError::UnknownTable { table, suggestions } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(table, "acount");
    assert!(
        suggestions.iter().any(|s| s == "account"),
        "{suggestions:?}"
    );
    assert!(e.to_string().contains("did you mean 'account'"), "{e}");
}

#[test]
fn quotes_in_names_are_escaped() {
    let emulator = emulator();
    let session = session(&emulator);
    // A name with a quote reaches Dataverse as one literal ('' for ') and finds its column.
    let options = choice_options(&session, "account", "new_o'choice").unwrap();
    assert_eq!(pairs(&options), [(100_000_000, "O'Neil's")]);
    let requests = api_requests(&emulator);
    assert!(
        requests[0].contains("Attributes(LogicalName=%27new_o%27%27choice%27)"),
        "{}",
        requests[0]
    );

    // One that exists nowhere is an unknown column, not a syntax error or another column.
    let e = choice_options(&session, "account", "name') or ('x").unwrap_err();
    assert!(
        matches!(&e, ChoiceError::UnknownColumn { column, .. } if column == "name') or ('x"),
        "{e:?}"
    );
    let e = choice_options(&session, "o'account", "name").unwrap_err();
    assert!(
        matches!(&e, ChoiceError::UnknownTable { table, .. } if table == "o'account"),
        "{e:?}"
    );
}
