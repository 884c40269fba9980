//! `coupler config schema` describes the config exactly: the shipped configs and the `init`
//! preset validate against it, a misspelt key or a wrong value does not, and
//! `docs/configuration.md` documents every key the schema has (and no other).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{coupler, ok};
use serde_json::Value;

fn here() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> Value {
    let out = coupler(&["config", "schema"], here());
    serde_json::from_str(&ok(&out)).expect("the schema is JSON")
}

/// The schema a `$ref` points at (`#/definitions/Name`), or the schema itself.
fn resolve<'a>(schema: &'a Value, root: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/definitions/");
            resolve(&root["definitions"][name], root)
        }
        None => schema,
    }
}

/// What in `value` the schema refuses, as `key path: problem` lines. Covers what the config
/// schema uses: objects with `additionalProperties: false`, `required`, arrays, `anyOf`
/// (options and untagged enums), `type` and `enum`.
fn problems(value: &toml::Value, schema: &Value, root: &Value, at: &str) -> Vec<String> {
    let schema = resolve(schema, root);
    if let Some(branches) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
        let all: Vec<Vec<String>> = branches
            .iter()
            .map(|b| problems(value, b, root, at))
            .collect();
        return match all.iter().find(|p| p.is_empty()) {
            Some(_) => Vec::new(),
            None => all.into_iter().min_by_key(Vec::len).unwrap_or_default(),
        };
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let kind = match value {
        toml::Value::String(_) => "string",
        toml::Value::Integer(_) => "integer",
        toml::Value::Float(_) => "number",
        toml::Value::Boolean(_) => "boolean",
        toml::Value::Datetime(_) => "string",
        toml::Value::Array(_) => "array",
        toml::Value::Table(_) => "object",
    };
    let type_ok = types.is_empty()
        || types.contains(&kind)
        || (kind == "integer" && types.contains(&"number"));
    if !type_ok {
        return vec![format!("{at}: a {kind}, the schema wants {types:?}")];
    }
    if let (Some(allowed), toml::Value::String(s)) = (schema["enum"].as_array(), value) {
        if !allowed.iter().any(|a| a.as_str() == Some(s)) {
            return vec![format!("{at}: \"{s}\" is not one of {allowed:?}")];
        }
    }
    let mut found = Vec::new();
    match value {
        toml::Value::Table(table) => {
            for (key, v) in table {
                let path = format!("{at}.{key}");
                match schema["properties"].get(key) {
                    Some(s) => found.extend(problems(v, s, root, &path)),
                    None => match &schema["additionalProperties"] {
                        Value::Bool(false) => found.push(format!("{path}: unknown key")),
                        Value::Object(_) => {
                            found.extend(problems(v, &schema["additionalProperties"], root, &path))
                        }
                        _ => {}
                    },
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap_or_default();
                if !table.contains_key(key) {
                    found.push(format!("{at}: missing {key}"));
                }
            }
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                found.extend(problems(
                    item,
                    &schema["items"],
                    root,
                    &format!("{at}[{i}]"),
                ));
            }
        }
        _ => {}
    }
    found
}

fn check(text: &str) -> Vec<String> {
    let schema = schema();
    let value: toml::Value = toml::from_str(text).expect("valid TOML");
    problems(&value, &schema, &schema, "config")
}

#[test]
fn the_shipped_configs_and_the_preset_validate() {
    for path in [
        "fixtures/demo/coupling.toml",
        "fixtures/dataverse/coupling.toml",
        "cli/src/presets/dataverse.toml",
    ] {
        let text = std::fs::read_to_string(here().join(path)).unwrap();
        assert_eq!(check(&text), Vec::<String>::new(), "{path}");
    }
}

#[test]
fn a_misspelt_key_or_a_wrong_value_does_not_validate() {
    let demo = std::fs::read_to_string(here().join("fixtures/demo/coupling.toml")).unwrap();
    let misspelt = demo.replacen("case_sensitive", "case_sensitiv", 1);
    assert_ne!(misspelt, demo);
    let found = check(&misspelt);
    assert!(
        found
            .iter()
            .any(|p| p.ends_with(".case_sensitiv: unknown key")),
        "{found:?}"
    );
    let wrong = format!("{demo}\n[[variants]]\nname = \"x\"\npriority_mode = \"sometimes\"\n");
    let found = check(&wrong);
    assert!(
        found
            .iter()
            .any(|p| p.contains("\"sometimes\" is not one of")),
        "{found:?}"
    );
}

/// Every property name anywhere in the schema.
fn schema_keys(schema: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut objects = vec![schema];
    objects.extend(
        schema["definitions"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, d)| d),
    );
    for o in objects {
        keys.extend(
            o["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone()),
        );
    }
    keys
}

#[test]
fn the_configuration_reference_documents_every_key() {
    let doc = std::fs::read_to_string(here().join("docs/configuration.md")).unwrap();
    // The keys of the reference's tables: a row that starts with a backticked identifier.
    let documented: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|k| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_string)
        .collect();
    let keys = schema_keys(&schema());
    let undocumented: Vec<&String> = keys.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&keys).collect();
    assert!(
        undocumented.is_empty(),
        "keys missing from docs/configuration.md: {undocumented:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/configuration.md documents keys the config does not have: {unknown:?}"
    );
}
