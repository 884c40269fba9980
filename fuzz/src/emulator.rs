//! The emulator the `odata_filter` and `batch_request` targets run against: the `accounts`
//! table of the emulator's own tests (typed columns, an alternate key) with six rows.

use std::collections::BTreeMap;

use dataverse_emulator::fuzzing::Emulator;
use dataverse_emulator::{AttrType, ClientConfig, EmulatorConfig, KeyConfig, TableConfig};
use serde_json::json;

pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";

pub fn emulator() -> Emulator {
    let mut table = TableConfig::new("account", "accounts", "accountid");
    table.primary_name = Some("name".into());
    let types = [
        ("name", AttrType::String),
        ("accountnumber", AttrType::String),
        ("address1_city", AttrType::String),
        ("description", AttrType::Memo),
        ("statecode", AttrType::State),
        ("statuscode", AttrType::Status),
        ("customertypecode", AttrType::Picklist),
        ("revenue", AttrType::Money),
        ("numberofemployees", AttrType::Integer),
        ("versionnumber", AttrType::BigInt),
        ("exchangerate", AttrType::Decimal),
        ("latitude", AttrType::Double),
        ("creditonhold", AttrType::Boolean),
        ("createdon", AttrType::DateTime),
        ("_primarycontactid_value", AttrType::Lookup),
        ("externalid", AttrType::Uniqueidentifier),
    ];
    table.types = types.iter().map(|(n, t)| (n.to_string(), *t)).collect();
    table.precision = BTreeMap::from([("revenue".to_string(), 4)]);
    table.keys = vec![KeyConfig {
        logical_name: "account_number_key".into(),
        attributes: vec!["accountnumber".into()],
        status: "Active".into(),
    }];
    let config = EmulatorConfig {
        tenant_id: "contoso.onmicrosoft.com".into(),
        clients: vec![ClientConfig {
            client_id: CLIENT_ID.into(),
            secret: Some("test-secret".into()),
            secret_env: None,
            certificate: None,
            system_administrator: false,
        }],
        tables: vec![table],
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::new(&config).expect("the fuzz emulator config is valid");
    let rows = [
        json!({"accountid": "aaaaaaaa-0000-0000-0000-000000000001", "name": "Café Müller", "accountnumber": "A1", "address1_city": "München", "statecode": 0, "customertypecode": 3, "revenue": "20000", "numberofemployees": 10, "creditonhold": false, "createdon": "2023-04-07T21:59:01Z", "latitude": 48.1, "exchangerate": "1.5", "versionnumber": 9007199254740993i64}),
        json!({"accountid": "aaaaaaaa-0000-0000-0000-000000000002", "name": "CAFE MULLER", "accountnumber": "A2", "address1_city": "Munchen", "statecode": 0, "customertypecode": 1, "revenue": "0.1", "numberofemployees": 250, "creditonhold": true, "createdon": "2024-01-01T00:00:00Z", "externalid": "0f8fad5b-d9cb-469f-a165-70867728950e"}),
        json!({"accountid": "aaaaaaaa-0000-0000-0000-000000000003", "name": "O'Brien Ltd", "accountnumber": "A3", "address1_city": "Dublin ", "statecode": 1, "customertypecode": 3, "revenue": "0.10000000000000001", "numberofemployees": 5, "description": "line one\nline two"}),
        json!({"accountid": "aaaaaaaa-0000-0000-0000-000000000004", "name": "100% Stainless", "accountnumber": "A4", "address1_city": "Austin", "statecode": 0, "numberofemployees": 1000, "_primarycontactid_value": "bbbbbbbb-0000-0000-0000-000000000001"}),
        json!({"accountid": "aaaaaaaa-0000-0000-0000-000000000005", "name": "A_B Trading", "accountnumber": "A5", "statecode": 0}),
        json!({"accountid": "aaaaaaaa-0000-0000-0000-000000000006", "name": "Zeta", "statecode": 0, "customertypecode": 5}),
    ];
    let rows = rows
        .into_iter()
        .map(|r| r.as_object().expect("an object").clone())
        .collect();
    emulator
        .controls()
        .insert_rows("accounts", rows)
        .expect("the fuzz emulator rows are valid");
    emulator
}
