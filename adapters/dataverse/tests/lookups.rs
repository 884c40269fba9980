//! `lookup_targets` and `bind_value` against the Dataverse emulator: a polymorphic customer
//! lookup, a single-target currency lookup, the typed errors for columns that are not lookups
//! and unknown names, and a `write_one` update that binds a lookup and reads it back.

use coupler_dataverse::{
    bind_value, lookup_targets, read_all, table_info, write_one, DataverseError, LookupTarget,
    ReadRequest, WriteKind, WriteOp, WriteOutcome,
};
use dataverse_emulator::{AttrType, RunningEmulator, TableConfig};
use serde_json::{json, Map, Value};

mod common;
use common::{session, start_with_tables, types};

/// `accounts` (with a Money column, so the built-in currency lookup) and `contacts` with a
/// polymorphic company, a declared currency, an undeclared owner lookup and a text column.
fn emulator() -> RunningEmulator {
    let mut account = TableConfig::new("account", "accounts", "accountid");
    account.primary_name = Some("name".into());
    account.types = types(&[("name", AttrType::String), ("revenue", AttrType::Money)]);
    let mut contact = TableConfig::new("contact", "contacts", "contactid");
    contact.primary_name = Some("fullname".into());
    contact.types = types(&[
        ("fullname", AttrType::String),
        ("_ownerid_value", AttrType::Lookup),
    ]);
    contact.lookups = [
        ("_parentcustomerid_value", vec!["contact", "account"]),
        ("_transactioncurrencyid_value", vec!["transactioncurrency"]),
    ]
    .iter()
    .map(|(c, t)| (c.to_string(), t.iter().map(|s| s.to_string()).collect()))
    .collect();
    start_with_tables(vec![account, contact])
}

fn target(table: &str, entity_set: &str, navigation: &str) -> LookupTarget {
    LookupTarget {
        table: table.into(),
        entity_set: entity_set.into(),
        navigation: navigation.into(),
    }
}

fn table_error(e: DataverseError) -> (String, String) {
    match e {
        DataverseError::Table { request, message } => (request, message),
        other => panic!("not a Table error: {other:?}"),
    }
}

#[test]
fn a_polymorphic_lookup_has_one_target_per_table() {
    let emulator = emulator();
    let session = session(&emulator);
    let expected = vec![
        target("account", "accounts", "parentcustomerid_account"),
        target("contact", "contacts", "parentcustomerid_contact"),
    ];
    // Both spellings of the column; sorted by table whatever the metadata order.
    assert_eq!(
        lookup_targets(&session, "contact", "_parentcustomerid_value").unwrap(),
        expected
    );
    assert_eq!(
        lookup_targets(&session, "contact", "parentcustomerid").unwrap(),
        expected
    );
}

#[test]
fn a_single_target_lookup_is_bound_by_its_attribute_name() {
    let emulator = emulator();
    let session = session(&emulator);
    let currency = vec![target(
        "transactioncurrency",
        "transactioncurrencies",
        "transactioncurrencyid",
    )];
    assert_eq!(
        lookup_targets(&session, "contact", "_transactioncurrencyid_value").unwrap(),
        currency
    );
    // The emulator's built-in currency lookup of a table with Money columns.
    assert_eq!(
        lookup_targets(&session, "account", "transactioncurrencyid").unwrap(),
        currency
    );
}

#[test]
fn columns_that_are_not_lookups_are_typed_errors() {
    let emulator = emulator();
    let session = session(&emulator);
    let relationships = "GET EntityDefinitions(LogicalName='contact')/ManyToOneRelationships";

    let (request, message) =
        table_error(lookup_targets(&session, "contact", "fullname").unwrap_err());
    assert_eq!(request, relationships);
    assert_eq!(
        message,
        "column 'fullname' of Dataverse table 'contact' is not a lookup column; it is a String column"
    );

    let (_, message) =
        table_error(lookup_targets(&session, "contact", "_parentcustomer_value").unwrap_err());
    assert!(
        message.starts_with(
            "column '_parentcustomer_value' does not exist in Dataverse table 'contact'"
        ),
        "{message}"
    );
    assert!(
        message.contains("did you mean '_parentcustomerid_value'"),
        "{message}"
    );

    // A lookup with no relationship in the metadata.
    let (request, message) =
        table_error(lookup_targets(&session, "contact", "_ownerid_value").unwrap_err());
    assert_eq!(request, relationships);
    assert!(
        message.contains("has no many-to-one relationship"),
        "{message}"
    );
}

#[test]
fn unknown_tables_and_quotes_in_names() {
    let emulator = emulator();
    let session = session(&emulator);
    let (request, message) =
        table_error(lookup_targets(&session, "contcat", "parentcustomerid").unwrap_err());
    assert_eq!(request, "GET EntityDefinitions");
    assert_eq!(
        message,
        "Dataverse has no table with the logical name 'contcat'; did you mean 'contact'?"
    );
    // An entity set name is not a logical name: the error says which one is meant.
    let (_, message) =
        table_error(lookup_targets(&session, "contacts", "parentcustomerid").unwrap_err());
    assert!(message.contains("logical name is 'contact'"), "{message}");
    // A quote is escaped in the key literal (no table has that name: an error, not a 400).
    let e = lookup_targets(&session, "con'tact", "parentcustomerid").unwrap_err();
    assert!(matches!(e, DataverseError::Table { .. }), "{e:?}");
}

#[test]
fn write_one_binds_a_lookup_and_it_reads_back() {
    let emulator = emulator();
    let session = session(&emulator);
    let controls = emulator.controls();
    let account = controls
        .insert_rows(
            "accounts",
            vec![json!({"name": "Fourth Coffee"})
                .as_object()
                .unwrap()
                .clone()],
        )
        .unwrap()
        .remove(0);
    let contact = controls
        .insert_rows(
            "contacts",
            vec![json!({"fullname": "Anna"}).as_object().unwrap().clone()],
        )
        .unwrap()
        .remove(0);

    let targets = lookup_targets(&session, "contact", "_parentcustomerid_value").unwrap();
    let to_account = targets.iter().find(|t| t.table == "account").unwrap();
    let update = |fields: Map<String, Value>| {
        write_one(
            &session,
            &WriteOp {
                key: "anna".into(),
                kind: WriteKind::Update,
                entity_set: "contacts".into(),
                id: contact.clone(),
                fields,
            },
        )
        .unwrap()
        .outcome
    };
    // Read back the way a sync reads: the lookup column in its `_x_value` form.
    let info = table_info(&session, "contacts").unwrap();
    let columns = vec![
        "contactid".to_string(),
        "_parentcustomerid_value".to_string(),
    ];
    let filter = vec![("contactid".to_string(), contact.clone())];
    let read_back = || {
        let request = ReadRequest {
            table: &info,
            columns: &columns,
            filter: &filter,
            pushed_filter: &[],
        };
        let table = read_all(&session, &request, &|_| {}).unwrap();
        assert_eq!(table.len(), 1);
        table.cell(0, 1).to_string()
    };

    let mut fields = Map::new();
    fields.insert(
        format!("{}@odata.bind", to_account.navigation),
        Value::String(bind_value(&to_account.entity_set, &account.to_uppercase()).unwrap()),
    );
    assert_eq!(update(fields), WriteOutcome::Done);
    assert_eq!(read_back(), account);

    // A bind to a row that does not exist fails the write; it is not the written row that
    // is missing (so not `NotFound`).
    let missing = "00000000-0000-0000-0000-000000000001";
    let mut fields = Map::new();
    fields.insert(
        "parentcustomerid_account@odata.bind".into(),
        Value::String(bind_value("accounts", missing).unwrap()),
    );
    match update(fields) {
        WriteOutcome::Failed {
            status: 404,
            code,
            message,
        } => {
            assert_eq!(code, "0x80040217");
            assert!(message.contains(missing), "{message}");
        }
        other => panic!("unexpected outcome {other:?}"),
    }
    assert_eq!(read_back(), account);

    // null clears the lookup.
    let mut fields = Map::new();
    fields.insert("parentcustomerid_account@odata.bind".into(), Value::Null);
    assert_eq!(update(fields), WriteOutcome::Done);
    assert_eq!(read_back(), "");
}
