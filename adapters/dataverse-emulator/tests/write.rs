//! Writes: create, upsert, conditional PATCH, etags, delete, column clear, validation.

mod common;

use common::*;
use serde_json::{json, Value};

const ID: &str = "00000000-0000-0000-0000-000000000001";

fn etag_of(h: &Harness, id: &str) -> String {
    h.get(&format!("accounts({id})?$select=name")).headers()["etag"]
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn create_returns_entity_id_or_representation() {
    let h = Harness::new();
    let response = h.send(
        "POST",
        "accounts",
        Some(json!({"name": "New", "revenue": 12.5})),
        &[],
    );
    assert_eq!(response.status(), 204);
    let entity = response.headers()["odata-entityid"]
        .to_str()
        .unwrap()
        .to_string();
    let prefix = h.api("accounts(");
    assert!(
        entity.starts_with(&prefix) && entity.ends_with(')'),
        "{entity}"
    );
    let id = &entity[prefix.len()..entity.len() - 1];
    let cells = h.emu.controls().table_cells("accounts").unwrap();
    assert_eq!(cells[0]["accountid"].as_deref(), Some(id));
    assert_eq!(cells[0]["revenue"].as_deref(), Some("12.5000"));

    let response = h.send(
        "POST",
        "accounts?$select=name",
        Some(json!({"name": "Rep"})),
        &[("Prefer", "return=representation")],
    );
    assert_eq!(response.status(), 201);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let body = response.json_value();
    assert_eq!(body["name"], "Rep");
    assert_eq!(body["@odata.etag"], etag);
}

#[test]
fn patch_upserts_and_bumps_the_etag() {
    let h = Harness::new();
    let response = h.send(
        "PATCH",
        &format!("accounts({ID})"),
        Some(json!({"name": "Created"})),
        &[("If-None-Match", "null")],
    );
    assert_eq!(response.status(), 204);
    assert_eq!(
        response.headers()["odata-entityid"],
        h.api(&format!("accounts({ID})")).as_str()
    );
    let first = etag_of(&h, ID);
    let response = h.send(
        "PATCH",
        &format!("accounts({ID})"),
        Some(json!({"name": "Updated", "accountid": "00000000-0000-0000-0000-0000000000ff"})),
        &[],
    );
    assert_eq!(response.status(), 204);
    let second = etag_of(&h, ID);
    assert_ne!(first, second);
    let version = |e: &str| {
        e.trim_start_matches("W/\"")
            .trim_end_matches('"')
            .parse::<u64>()
            .unwrap()
    };
    assert!(version(&second) > version(&first));
    let rows = h.emu.controls().table_rows("accounts").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "Updated");
    // return=representation: 200 on update, 201 on create, with ETag.
    let response = h.send(
        "PATCH",
        &format!("accounts({ID})?$select=name"),
        Some(json!({"name": "U2"})),
        &[("Prefer", "return=representation")],
    );
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("etag"));
    let other = "00000000-0000-0000-0000-000000000002";
    let response = h.send(
        "PATCH",
        &format!("accounts({other})?$select=name"),
        Some(json!({"name": "C2"})),
        &[("Prefer", "return=representation")],
    );
    assert_eq!(response.status(), 201);
    assert_eq!(response.json_value()["accountid"], other);
}

#[test]
fn conditional_patch() {
    let h = Harness::new();
    let response = h.send(
        "PATCH",
        &format!("accounts({ID})"),
        Some(json!({"name": "x"})),
        &[("If-Match", "*")],
    );
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json_value(),
        json!({"error":{"code":"0x80040217","message":format!("account With Id = {ID} Does Not Exist")}})
    );
    assert!(h.emu.controls().table_rows("accounts").unwrap().is_empty());
    assert_eq!(
        h.send(
            "PATCH",
            &format!("accounts({ID})"),
            Some(json!({"name": "x"})),
            &[("If-None-Match", "*")]
        )
        .status(),
        204
    );
    let response = h.send(
        "PATCH",
        &format!("accounts({ID})"),
        Some(json!({"name": "y"})),
        &[("If-None-Match", "*")],
    );
    assert_eq!(response.status(), 412);
    assert_eq!(
        response.json_value(),
        json!({"error":{"code":"0x80040237","message":"A record with matching key values already exists."}})
    );
    assert_eq!(
        h.send(
            "PATCH",
            &format!("accounts({ID})"),
            Some(json!({"name": "z"})),
            &[("If-Match", "*")]
        )
        .status(),
        204
    );
    let etag = etag_of(&h, ID);
    let response = h.send(
        "PATCH",
        &format!("accounts({ID})"),
        Some(json!({"name": "stale"})),
        &[("If-Match", "W/\"1\"")],
    );
    assert_eq!(response.status(), 412);
    assert_eq!(
        response.json_value()["error"]["message"],
        "The version of the existing record doesn't match the RowVersion property provided."
    );
    assert_eq!(
        h.send(
            "PATCH",
            &format!("accounts({ID})"),
            Some(json!({"name": "fresh"})),
            &[("If-Match", &etag)]
        )
        .status(),
        204
    );
    assert_eq!(
        h.emu.controls().table_rows("accounts").unwrap()[0]["name"],
        "fresh"
    );
}

#[test]
fn upsert_by_alternate_key() {
    let h = Harness::new();
    let response = h.send(
        "PATCH",
        "accounts(accountnumber='K-1')",
        Some(json!({"name": "Keyed"})),
        &[],
    );
    assert_eq!(response.status(), 204);
    assert_eq!(
        response.headers()["odata-entityid"],
        h.api("accounts(accountnumber='K-1')").as_str()
    );
    let rows = h.emu.controls().table_rows("accounts").unwrap();
    assert_eq!(
        (rows[0]["name"].as_str(), rows[0]["accountnumber"].as_str()),
        (Some("Keyed"), Some("K-1"))
    );
    // Update: key fields in the body are dropped.
    let response = h.send(
        "PATCH",
        "accounts(accountnumber='K-1')",
        Some(json!({"name": "Again", "accountnumber": "K-2"})),
        &[],
    );
    assert_eq!(response.status(), 204);
    let rows = h.emu.controls().table_rows("accounts").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["name"].as_str(), rows[0]["accountnumber"].as_str()),
        (Some("Again"), Some("K-1"))
    );
    // A column that is not a declared key.
    assert_eq!(
        h.send("PATCH", "accounts(name='Again')", Some(json!({})), &[])
            .status(),
        400
    );
}

#[test]
fn delete_record_and_column() {
    let h = Harness::new();
    let ids = h.insert(vec![json!({"name": "Gone", "address1_city": "Paris"})]);
    let id = &ids[0];
    assert_eq!(
        h.send(
            "DELETE",
            &format!("accounts({id})/address1_city"),
            None,
            &[]
        )
        .status(),
        204
    );
    assert_eq!(
        h.emu.controls().table_rows("accounts").unwrap()[0]["address1_city"],
        Value::Null
    );
    assert_eq!(
        h.send("DELETE", &format!("accounts({id})"), None, &[])
            .status(),
        204
    );
    let response = h.send("DELETE", &format!("accounts({id})"), None, &[]);
    assert_eq!(response.status(), 404);
    assert_eq!(response.json_value()["error"]["code"], "0x80040217");
}

#[test]
fn bodies_are_validated() {
    let h = Harness::new();
    let response = h.send("POST", "accounts", Some(json!({"nmae": "x"})), &[]);
    assert_eq!(response.status(), 400);
    let body = response.json_value();
    assert_eq!(body["error"]["code"], "0x80060888");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'nmae' does not exist on type 'Microsoft.Dynamics.CRM.account'"));
    for bad in [
        json!({"numberofemployees": "ten"}),
        json!({"numberofemployees": 1.5}),
        json!({"creditonhold": "yes"}),
        json!({"name": 5}),
        json!({"createdon": "yesterday"}),
    ] {
        let response = h.send("POST", "accounts", Some(bad.clone()), &[]);
        assert_eq!(response.status(), 400, "{bad}");
        assert!(response.json_value()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Cannot convert the literal"));
    }
    let response = h.send("POST", "accounts", Some(json!({"name": "x"})), &[]);
    assert_eq!(response.status(), 204);
    // Malformed JSON is a 400, not a crash.
    let response = h
        .http
        .post(h.api("accounts"))
        .bearer_auth(&h.token)
        .header("Content-Type", "application/json")
        .body("{\"name\":")
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[test]
fn lookups_are_bound_with_odata_bind() {
    let h = Harness::new();
    let contact = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let response = h.send(
        "POST",
        "accounts",
        Some(json!({"name": "L", "primarycontactid@odata.bind": format!("/contacts({contact})")})),
        &[],
    );
    assert_eq!(response.status(), 204);
    assert_eq!(
        h.emu.controls().table_rows("accounts").unwrap()[0]["_primarycontactid_value"],
        contact
    );
    // The _x_value form is read-only.
    assert_eq!(
        h.send(
            "POST",
            "accounts",
            Some(json!({"_primarycontactid_value": contact})),
            &[]
        )
        .status(),
        400
    );
}
