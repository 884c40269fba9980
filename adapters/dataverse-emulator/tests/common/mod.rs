//! Shared test helpers: an emulator with a small `accounts` table, tokens, and requests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use dataverse_emulator::{
    start, AttrType, ClientConfig, EmulatorConfig, KeyConfig, RunningEmulator, TableConfig,
};
use reqwest::blocking::{Client, Response};
use serde_json::{json, Map, Value};

pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const ADMIN_ID: &str = "99999999-2222-3333-4444-555555555555";
pub const SECRET: &str = "test-secret";
pub const TENANT: &str = "contoso.onmicrosoft.com";

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dataverse")
}

/// An `accounts` table (no CSV) with typed columns, an alternate key, and two clients.
pub fn config() -> EmulatorConfig {
    let mut table = TableConfig::new("account", "accounts", "accountid");
    table.primary_name = Some("name".into());
    let types = [
        ("name", AttrType::String),
        ("accountnumber", AttrType::String),
        ("address1_city", AttrType::String),
        ("statecode", AttrType::State),
        ("statuscode", AttrType::Status),
        ("customertypecode", AttrType::Picklist),
        ("revenue", AttrType::Money),
        ("numberofemployees", AttrType::Integer),
        ("creditonhold", AttrType::Boolean),
        ("createdon", AttrType::DateTime),
        ("_primarycontactid_value", AttrType::Lookup),
    ];
    table.types = types.iter().map(|(n, t)| (n.to_string(), *t)).collect();
    table.precision = BTreeMap::from([("revenue".to_string(), 4)]);
    table.keys = vec![KeyConfig {
        logical_name: "account_number_key".into(),
        attributes: vec!["accountnumber".into()],
        status: "Active".into(),
    }];
    EmulatorConfig {
        tenant_id: TENANT.into(),
        clients: vec![
            ClientConfig {
                client_id: CLIENT_ID.into(),
                secret: Some(SECRET.into()),
                secret_env: None,
                certificate: Some(fixtures().join("test-app.pem")),
                system_administrator: false,
            },
            ClientConfig {
                client_id: ADMIN_ID.into(),
                secret: Some(SECRET.into()),
                secret_env: None,
                certificate: None,
                system_administrator: true,
            },
        ],
        tables: vec![table],
        ..EmulatorConfig::default()
    }
}

pub struct Harness {
    pub emu: RunningEmulator,
    pub http: Client,
    pub token: String,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(config())
    }

    pub fn with_config(config: EmulatorConfig) -> Harness {
        let emu = start(config).expect("emulator starts");
        let http = Client::builder().build().unwrap();
        let token = fetch_token(&http, &emu.url(), CLIENT_ID);
        Harness { emu, http, token }
    }

    pub fn url(&self) -> String {
        self.emu.url()
    }

    pub fn api(&self, rest: &str) -> String {
        format!("{}/api/data/v9.2/{rest}", self.emu.url())
    }

    pub fn token_url(&self) -> String {
        format!("{}/{TENANT}/oauth2/v2.0/token", self.emu.url())
    }

    pub fn get(&self, rest: &str) -> Response {
        self.get_with(rest, &[])
    }

    pub fn get_with(&self, rest: &str, headers: &[(&str, &str)]) -> Response {
        self.get_url(&self.api(rest), headers)
    }

    pub fn get_url(&self, url: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .header("Accept", "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0")
            .header("If-None-Match", "null");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().expect("request sent")
    }

    pub fn json(&self, rest: &str) -> Value {
        let response = self.get(rest);
        assert_eq!(response.status(), 200, "GET {rest}");
        response.json_value()
    }

    pub fn send(
        &self,
        method: &str,
        rest: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, self.api(rest))
            .bearer_auth(&self.token)
            .header("OData-Version", "4.0");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        request.send().expect("request sent")
    }

    /// Inserts rows into `accounts`.
    pub fn insert(&self, rows: Vec<Value>) -> Vec<String> {
        let maps: Vec<Map<String, Value>> = rows
            .into_iter()
            .map(|v| v.as_object().unwrap().clone())
            .collect();
        self.emu.controls().insert_rows("accounts", maps).unwrap()
    }

    /// Names returned by a filter, sorted.
    pub fn names(&self, filter: &str) -> Vec<String> {
        let encoded = encode(filter);
        let body = self.json(&format!("accounts?$select=name&$filter={encoded}"));
        let mut names: Vec<String> = body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap_or("<null>").to_string())
            .collect();
        names.sort();
        names
    }
}

pub fn fetch_token(http: &Client, url: &str, client_id: &str) -> String {
    let response = http
        .post(format!("{url}/{TENANT}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", SECRET),
            ("scope", &format!("{url}/.default")),
        ])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json_value();
    body["access_token"].as_str().unwrap().to_string()
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn sample_rows() -> Vec<Value> {
    vec![
        json!({"name": "Café Müller", "accountnumber": "A1", "address1_city": "München", "statecode": 0, "customertypecode": 3, "revenue": "20000", "numberofemployees": 10, "creditonhold": false, "createdon": "2023-04-07T21:59:01Z"}),
        json!({"name": "CAFE MULLER", "accountnumber": "A2", "address1_city": "Munchen", "statecode": 0, "customertypecode": 1, "revenue": "0.1", "numberofemployees": 250, "creditonhold": true, "createdon": "2024-01-01T00:00:00Z"}),
        json!({"name": "O'Brien Ltd", "accountnumber": "A3", "address1_city": "Dublin ", "statecode": 1, "customertypecode": 3, "revenue": "0.10000000000000001", "numberofemployees": 5}),
        json!({"name": "100% Stainless", "accountnumber": "A4", "address1_city": "Austin", "statecode": 0, "numberofemployees": 1000}),
        json!({"name": "A_B Trading", "accountnumber": "A5", "statecode": 0}),
        json!({"name": "Zeta", "statecode": 0, "customertypecode": 5}),
    ]
}

/// `Response::json` without reqwest's `json` feature.
pub trait JsonBody {
    fn json_value(self) -> Value;
}

impl JsonBody for Response {
    fn json_value(self) -> Value {
        let text = self.text().expect("body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}
