//! EntityDefinitions, Attributes, Keys, organizations and transactioncurrencies.

mod common;

use common::*;
use serde_json::json;

#[test]
fn entity_definition_by_logical_name_and_by_filter() {
    let h = Harness::new();
    let body = h.json("EntityDefinitions(LogicalName='account')?$select=LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute");
    assert_eq!(
        body["@odata.context"],
        format!("{}/api/data/v9.2/$metadata#EntityDefinitions(LogicalName='account')(LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute)/$entity", h.url())
    );
    assert_eq!(body["EntitySetName"], "accounts");
    assert_eq!(body["PrimaryIdAttribute"], "accountid");
    assert_eq!(body["PrimaryNameAttribute"], "name");
    assert_eq!(body["MetadataId"].as_str().unwrap().len(), 36);
    assert!(body.get("ObjectTypeCode").is_none());

    for filter in [
        "LogicalName%20eq%20'account'",
        "EntitySetName%20eq%20'accounts'",
    ] {
        let body = h.json(&format!(
            "EntityDefinitions?$select=LogicalName,PrimaryIdAttribute&$filter={filter}"
        ));
        let value = body["value"].as_array().unwrap();
        assert_eq!(value.len(), 1);
        assert_eq!(value[0]["LogicalName"], "account");
    }
    let response = h.get("EntityDefinitions(LogicalName='nosuch')");
    assert_eq!(response.status(), 404);
    assert_eq!(response.json_value()["error"]["code"], "0x80040217");
}

#[test]
fn attributes_with_select_and_enum_filter() {
    let h = Harness::new();
    let body = h.json("EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName,AttributeType,IsValidForRead,IsValidForUpdate,IsPrimaryId");
    let attributes = body["value"].as_array().unwrap();
    let find = |name: &str| {
        attributes
            .iter()
            .find(|a| a["LogicalName"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(find("accountid")["IsPrimaryId"], true);
    assert_eq!(find("accountid")["AttributeType"], "Uniqueidentifier");
    assert_eq!(find("revenue")["AttributeType"], "Money");
    assert_eq!(
        find("revenue")["@odata.type"],
        "#Microsoft.Dynamics.CRM.MoneyAttributeMetadata"
    );
    // Lookups are described by their attribute name, not the _x_value form.
    assert_eq!(find("primarycontactid")["AttributeType"], "Lookup");
    assert_eq!(find("name")["IsValidForUpdate"], true);

    let filter = encode("AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'");
    let body = h.json(&format!(
        "EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName&$filter={filter}"
    ));
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert_eq!(body["value"][0]["LogicalName"], "customertypecode");

    let body = h.json("EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.MoneyAttributeMetadata?$select=LogicalName,Precision");
    assert_eq!(body["value"].as_array().unwrap().len(), 1);
    assert_eq!(body["value"][0]["Precision"], 4);
}

#[test]
fn keys_are_listed() {
    let h = Harness::new();
    let body = h.json("EntityDefinitions(LogicalName='account')/Keys");
    assert_eq!(body["value"][0]["KeyAttributes"], json!(["accountnumber"]));
    assert_eq!(body["value"][0]["EntityKeyIndexStatus"], "Active");
    let body = h.json("EntityDefinitions(LogicalName='transactioncurrency')/Keys");
    assert_eq!(body["value"], json!([]));
}

#[test]
fn organization_and_currencies() {
    let h = Harness::new();
    let body = h.json("organizations?$select=_basecurrencyid_value");
    let base = body["value"][0]["_basecurrencyid_value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(base, h.emu.controls().base_currency_id());
    assert!(body["value"][0]["organizationid"].is_string());
    let body = h.json(&format!(
        "transactioncurrencies({base})?$select=isocurrencycode,currencyname,currencyprecision"
    ));
    assert_eq!(body["isocurrencycode"], "USD");
    assert_eq!(body["currencyprecision"], 2);
    let body = h.json("transactioncurrencies?$select=transactioncurrencyid,isocurrencycode&$filter=isocurrencycode%20eq%20'usd'");
    assert_eq!(body["value"][0]["transactioncurrencyid"], base);
}

#[test]
fn demo_fixture_loads() {
    // The demo configuration reads its secret from COUPLER_CLIENT_SECRET; without it, it refuses.
    let mut config =
        dataverse_emulator::EmulatorConfig::load(fixtures().join("emulator.toml")).unwrap();
    assert_eq!(
        config.clients[0].secret_env.as_deref(),
        Some("COUPLER_CLIENT_SECRET")
    );
    if std::env::var("COUPLER_CLIENT_SECRET").is_err() {
        let err = dataverse_emulator::start(config.clone()).unwrap_err();
        assert!(err.to_string().contains("COUPLER_CLIENT_SECRET"));
    }
    config.clients[0].secret_env = None;
    config.clients[0].secret = Some("demo-secret-not-for-production".into());
    let emu = dataverse_emulator::start(config).unwrap();
    let rows = emu.controls().table_rows("accounts").unwrap();
    assert_eq!(rows.len(), 359);
    let currencies = emu.controls().table_cells("transactioncurrencies").unwrap();
    let mut isos: Vec<String> = currencies
        .iter()
        .map(|c| c["isocurrencycode"].clone().unwrap())
        .collect();
    isos.sort();
    assert_eq!(isos, ["EUR", "USD"]);
}
