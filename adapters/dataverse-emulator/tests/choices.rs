//! Choice (option set) metadata: `…/Attributes(LogicalName='x')/Microsoft.Dynamics.CRM.
//! PicklistAttributeMetadata?$expand=OptionSet(…),GlobalOptionSet(…)`, built-in and configured
//! options, State and Status casts, wrong casts, `$expand` where it does not apply, quoted keys.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{json, Value};

const EXPAND: &str =
    "$select=LogicalName&$expand=OptionSet($select=Options),GlobalOptionSet($select=Options)";

fn cast(column: &str, type_name: &str) -> String {
    format!(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='{column}')/Microsoft.Dynamics.CRM.{type_name}?{EXPAND}"
    )
}

/// (Value, UserLocalizedLabel) of every option.
fn options(body: &Value) -> Vec<(i64, String)> {
    body["OptionSet"]["Options"]
        .as_array()
        .unwrap_or_else(|| panic!("no options: {body}"))
        .iter()
        .map(|o| {
            (
                o["Value"].as_i64().unwrap(),
                o["Label"]["UserLocalizedLabel"]["Label"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn picklist_options_have_dataverse_shape() {
    let h = Harness::new();
    let body = h.json(&cast("customertypecode", "PicklistAttributeMetadata"));
    assert_eq!(
        body["@odata.context"],
        format!("{}/api/data/v9.2/$metadata#EntityDefinitions('account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata(LogicalName,OptionSet(Options),GlobalOptionSet(Options))/$entity", h.url())
    );
    assert_eq!(body["LogicalName"], "customertypecode");
    assert_eq!(body["MetadataId"].as_str().unwrap().len(), 36);
    assert!(body.get("@odata.type").is_none());
    assert!(body.get("AttributeType").is_none());
    // A local option set: GlobalOptionSet is null.
    assert_eq!(body["GlobalOptionSet"], Value::Null);
    let option_set = body["OptionSet"].as_object().unwrap();
    let mut keys: Vec<&String> = option_set.keys().collect();
    keys.sort();
    assert_eq!(keys, ["MetadataId", "Options"]);
    // Built in: Dataverse's own "Relationship Type" options.
    let expected: Vec<(i64, String)> = [
        "Competitor",
        "Consultant",
        "Customer",
        "Investor",
        "Partner",
        "Influencer",
        "Press",
        "Prospect",
        "Reseller",
        "Supplier",
        "Vendor",
        "Other",
    ]
    .iter()
    .enumerate()
    .map(|(i, l)| (i as i64 + 1, l.to_string()))
    .collect();
    assert_eq!(options(&body), expected);
    let third = &body["OptionSet"]["Options"][2];
    assert_eq!(third["Label"]["LocalizedLabels"][0]["Label"], "Customer");
    assert_eq!(third["Label"]["LocalizedLabels"][0]["LanguageCode"], 1033);
    assert_eq!(third["Label"]["UserLocalizedLabel"]["LanguageCode"], 1033);
    assert_eq!(third["IsHidden"], false);
    assert_eq!(
        third["Description"],
        json!({"LocalizedLabels": [], "UserLocalizedLabel": null})
    );

    // Without a nested $select the option set has its other properties too.
    let body = h.json("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='customertypecode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet");
    assert_eq!(body["OptionSet"]["Name"], "account_customertypecode");
    assert_eq!(body["OptionSet"]["IsGlobal"], false);
    assert_eq!(body["OptionSet"]["OptionSetType"], "Picklist");
    assert!(body.get("GlobalOptionSet").is_none());
    // Without $expand: the attribute alone.
    let body = h.json("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='customertypecode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName");
    assert!(body.get("OptionSet").is_none());
}

#[test]
fn configured_captions_are_the_option_set_and_the_formatted_values() {
    let mut config = config();
    config.tables[0].types.insert(
        "industrycode".into(),
        dataverse_emulator::AttrType::Picklist,
    );
    config.tables[0].captions = BTreeMap::from([(
        "customertypecode".to_string(),
        BTreeMap::from([
            ("10".to_string(), "Wholesale".to_string()),
            ("3".to_string(), "Retail".to_string()),
        ]),
    )]);
    let h = Harness::with_config(config);
    let body = h.json(&cast("customertypecode", "PicklistAttributeMetadata"));
    // Replaced, not merged; ordered by value.
    assert_eq!(
        options(&body),
        [(3, "Retail".to_string()), (10, "Wholesale".to_string())]
    );
    h.insert(sample_rows());
    let rows = h
        .get_with(
            "accounts?$select=customertypecode&$filter=accountnumber%20eq%20'A1'",
            &[(
                "Prefer",
                "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"",
            )],
        )
        .json_value();
    assert_eq!(
        rows["value"][0]["customertypecode@OData.Community.Display.V1.FormattedValue"],
        "Retail"
    );
    // account.industrycode has Dataverse's 33 industries built in.
    let body = h.json(&cast("industrycode", "PicklistAttributeMetadata"));
    let industries = options(&body);
    assert_eq!(industries.len(), 33);
    assert_eq!(industries[0], (1, "Accounting".to_string()));
    assert_eq!(industries[32], (33, "Wholesale".to_string()));
}

#[test]
fn state_and_status_have_their_own_casts() {
    let h = Harness::new();
    let body = h.json(&cast("statecode", "StateAttributeMetadata"));
    assert_eq!(
        options(&body),
        [(0, "Active".to_string()), (1, "Inactive".to_string())]
    );
    let body = h.json(&cast("statuscode", "StatusAttributeMetadata"));
    assert_eq!(
        options(&body),
        [(1, "Active".to_string()), (2, "Inactive".to_string())]
    );
    // The common base type works for every choice column.
    let body = h.json(&cast("statecode", "EnumAttributeMetadata"));
    assert_eq!(options(&body).len(), 2);
    // A State column is not a Picklist.
    let response = h.get(&cast("statecode", "PicklistAttributeMetadata"));
    assert_eq!(response.status(), 404);
}

#[test]
fn casting_another_column_type_is_not_found() {
    let h = Harness::new();
    for column in ["name", "revenue", "creditonhold", "primarycontactid"] {
        let response = h.get(&cast(column, "PicklistAttributeMetadata"));
        assert_eq!(response.status(), 404, "{column}");
        let body = response.json_value();
        assert_eq!(body["error"]["code"], "0x80060888");
        assert_eq!(
            body["error"]["message"],
            "Resource not found for the segment 'Microsoft.Dynamics.CRM.PicklistAttributeMetadata'."
        );
    }
    // The matching cast still works, and an unknown column is its own 404.
    let body = h.json("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='revenue')/Microsoft.Dynamics.CRM.MoneyAttributeMetadata?$select=LogicalName,Precision");
    assert_eq!(body["Precision"], 4);
    let response = h.get(&cast("nosuch", "PicklistAttributeMetadata"));
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json_value()["error"]["message"],
        "Resource not found for the segment 'Attributes(LogicalName='nosuch')'."
    );
    let response = h.get("EntityDefinitions(LogicalName='nosuch')/Attributes(LogicalName='name')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata");
    assert_eq!(response.status(), 404);
    assert_eq!(response.json_value()["error"]["code"], "0x80040217");
}

#[test]
fn all_choice_columns_at_once() {
    let h = Harness::new();
    let body = h.json(&format!(
        "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?{EXPAND}"
    ));
    let value = body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1);
    assert_eq!(value[0]["LogicalName"], "customertypecode");
    assert_eq!(options(&value[0]).len(), 12);
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata(LogicalName,OptionSet(Options),GlobalOptionSet(Options))"));
    let body = h.json(&format!(
        "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.EnumAttributeMetadata?{EXPAND}"
    ));
    let mut names: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["LogicalName"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["customertypecode", "statecode", "statuscode"]);
}

#[test]
fn expand_is_refused_where_it_does_not_apply() {
    let h = Harness::new();
    // No cast: AttributeMetadata has no OptionSet.
    let response = h.get(&format!(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='customertypecode')?{EXPAND}"
    ));
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json_value()["error"]["message"],
        "Could not find a property named 'OptionSet' on type 'Microsoft.Dynamics.CRM.AttributeMetadata'."
    );
    // Not an enum type.
    let response = h.get(&cast("revenue", "MoneyAttributeMetadata"));
    assert_eq!(response.status(), 400);
    // Unknown navigation or option-set property.
    let response = h.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='customertypecode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=Options");
    assert_eq!(response.status(), 400);
    let response = h.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='customertypecode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=OptionSet($select=Colors)");
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json_value()["error"]["message"],
        "Could not find a property named 'Colors' on type 'Microsoft.Dynamics.CRM.OptionSetMetadata'."
    );
    // Everywhere else $expand stays unsupported (501).
    for path in [
        "accounts?$expand=primarycontactid",
        "EntityDefinitions?$expand=Attributes",
        "EntityDefinitions(LogicalName='account')?$expand=Attributes",
        "EntityDefinitions(LogicalName='account')/Keys?$expand=x",
        "WhoAmI?$expand=x",
    ] {
        assert_eq!(h.get(path).status(), 501, "{path}");
    }
}

#[test]
fn quoted_keys_are_literals() {
    let mut config = config();
    for name in ["new_o'choice", "new_a/b)c"] {
        config.tables[0]
            .types
            .insert(name.into(), dataverse_emulator::AttrType::Picklist);
        config.tables[0].captions.insert(
            name.into(),
            BTreeMap::from([("1".to_string(), format!("{name} one"))]),
        );
    }
    let h = Harness::with_config(config);
    // '' is a quote; a / or ) inside the quotes is data, not syntax.
    let body = h.json(&format!(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='new_o''choice')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?{EXPAND}"
    ));
    assert_eq!(body["LogicalName"], "new_o'choice");
    assert_eq!(options(&body), [(1, "new_o'choice one".to_string())]);
    let body = h.json(&format!(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName={})/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?{EXPAND}",
        encode("'new_a/b)c'")
    ));
    assert_eq!(body["LogicalName"], "new_a/b)c");
    // An injection attempt is just a name that does not exist.
    let response = h.get(&format!(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName={})/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        encode("'name'') or (''x'")
    ));
    assert_eq!(response.status(), 404);
    let response = h.get("EntityDefinitions(LogicalName='o''account')");
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json_value()["error"]["message"],
        "Could not find an entity with name o'account"
    );
}

#[test]
fn captions_of_a_choice_column_must_be_option_values() {
    let mut config = config();
    config.tables[0].captions = BTreeMap::from([(
        "customertypecode".to_string(),
        BTreeMap::from([("retail".to_string(), "Retail".to_string())]),
    )]);
    let err = dataverse_emulator::start(config).unwrap_err().to_string();
    assert!(
        err.contains("captions of choice column customertypecode: 'retail' is not an option value"),
        "{err}"
    );
    // Captions of other columns (formatted values only) may have any key.
    let mut config = common::config();
    config.tables[0].captions = BTreeMap::from([(
        "name".to_string(),
        BTreeMap::from([("x".to_string(), "X".to_string())]),
    )]);
    assert!(dataverse_emulator::start(config).is_ok());
}

#[test]
fn demo_fixture_serves_the_relationship_types() {
    let mut config =
        dataverse_emulator::EmulatorConfig::load(fixtures().join("emulator.toml")).unwrap();
    config.clients[0].secret_env = None;
    config.clients[0].secret = Some(SECRET.into());
    let h = Harness::with_config(config);
    let body = h.json(&cast("customertypecode", "PicklistAttributeMetadata"));
    let options = options(&body);
    assert_eq!(options.len(), 12);
    assert_eq!(options[7], (8, "Prospect".to_string()));
}
