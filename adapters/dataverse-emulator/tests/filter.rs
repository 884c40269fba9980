//! `$filter`: operators, precedence, literals, collation, LIKE wildcards, null, In/NotIn.

mod common;

use common::*;
use dataverse_emulator::Collation;

fn harness() -> Harness {
    let h = Harness::new();
    h.insert(sample_rows());
    h
}

#[test]
fn comparison_operators() {
    let h = harness();
    assert_eq!(h.names("numberofemployees eq 10"), ["Café Müller"]);
    assert_eq!(
        h.names("numberofemployees ne 10"),
        ["100% Stainless", "CAFE MULLER", "O'Brien Ltd"]
    );
    assert_eq!(h.names("numberofemployees gt 250"), ["100% Stainless"]);
    assert_eq!(
        h.names("numberofemployees ge 250"),
        ["100% Stainless", "CAFE MULLER"]
    );
    assert_eq!(h.names("numberofemployees lt 10"), ["O'Brien Ltd"]);
    assert_eq!(
        h.names("numberofemployees le 10"),
        ["Café Müller", "O'Brien Ltd"]
    );
    // Literal on the left.
    assert_eq!(h.names("250 lt numberofemployees"), ["100% Stainless"]);
    assert_eq!(h.names("creditonhold eq true"), ["CAFE MULLER"]);
    assert_eq!(
        h.names("createdon gt 2023-12-31T00:00:00Z"),
        ["CAFE MULLER"]
    );
    assert_eq!(h.names("createdon lt 2024-01-01"), ["Café Müller"]);
}

#[test]
fn decimals_compare_exactly() {
    let h = harness();
    assert_eq!(h.names("revenue gt 0.1"), ["Café Müller", "O'Brien Ltd"]);
    assert_eq!(h.names("revenue eq 0.1000"), ["CAFE MULLER"]);
}

#[test]
fn precedence_and_parentheses() {
    let h = harness();
    // and binds tighter than or.
    assert_eq!(
        h.names("statecode eq 1 or statecode eq 0 and customertypecode eq 5"),
        ["O'Brien Ltd", "Zeta"]
    );
    assert_eq!(
        h.names("(statecode eq 1 or statecode eq 0) and customertypecode eq 5"),
        ["Zeta"]
    );
    assert_eq!(
        h.names("not (customertypecode eq 3) and statecode eq 0"),
        ["CAFE MULLER", "Zeta"]
    );
    assert_eq!(h.names("not contains(name,'a')"), ["O'Brien Ltd"]);
}

#[test]
fn string_literals_escape_quotes() {
    let h = harness();
    assert_eq!(h.names("name eq 'O''Brien Ltd'"), ["O'Brien Ltd"]);
    assert_eq!(h.names("startswith(name,'o''b')"), ["O'Brien Ltd"]);
}

#[test]
fn case_and_accent_insensitive_under_ci_ai() {
    let h = harness();
    assert_eq!(
        h.names("name eq 'cafe muller'"),
        ["CAFE MULLER", "Café Müller"]
    );
    assert_eq!(
        h.names("address1_city eq 'MUNCHEN'"),
        ["CAFE MULLER", "Café Müller"]
    );
    h.emu.controls().set_collation(Collation::CiAs);
    assert_eq!(h.names("name eq 'cafe muller'"), ["CAFE MULLER"]);
    assert_eq!(h.names("name eq 'CAFÉ MÜLLER'"), ["Café Müller"]);
}

#[test]
fn trailing_spaces_are_ignored_but_not_leading() {
    let h = harness();
    assert_eq!(h.names("address1_city eq 'Dublin'"), ["O'Brien Ltd"]);
    assert_eq!(h.names("address1_city eq 'Dublin   '"), ["O'Brien Ltd"]);
    assert!(h.names("address1_city eq ' Dublin'").is_empty());
}

#[test]
fn like_wildcards_in_string_functions_only() {
    let h = harness();
    assert_eq!(
        h.names("contains(name,'mull')"),
        ["CAFE MULLER", "Café Müller"]
    );
    assert_eq!(h.names("endswith(name,'ltd')"), ["O'Brien Ltd"]);
    assert_eq!(
        h.names("startswith(name,'c_fe')"),
        ["CAFE MULLER", "Café Müller"]
    );
    assert_eq!(h.names("startswith(name,'[a-b]')"), ["A_B Trading"]);
    assert_eq!(
        h.names("startswith(name,'[^a-c]')"),
        ["100% Stainless", "O'Brien Ltd", "Zeta"]
    );
    assert_eq!(h.names("contains(name,'[%]')"), ["100% Stainless"]);
    assert_eq!(h.names("contains(name,'a[_]b')"), ["A_B Trading"]);
    // `eq` takes % and _ literally.
    assert!(h.names("name eq 'A%'").is_empty());
    assert_eq!(h.names("name eq 'A_B Trading'"), ["A_B Trading"]);
}

#[test]
fn null_comparisons_follow_sql() {
    let h = harness();
    assert_eq!(h.names("address1_city eq null"), ["A_B Trading", "Zeta"]);
    assert_eq!(
        h.names("customertypecode ne null and statecode eq 0"),
        ["CAFE MULLER", "Café Müller", "Zeta"]
    );
    // ne does not return rows where the column is null.
    assert_eq!(h.names("customertypecode ne 3"), ["CAFE MULLER", "Zeta"]);
}

#[test]
fn in_and_not_in_with_aliases() {
    let h = harness();
    assert_eq!(
        h.names("Microsoft.Dynamics.CRM.In(PropertyName='accountnumber',PropertyValues=[\"a1\",\"A3\"])"),
        ["Café Müller", "O'Brien Ltd"]
    );
    assert_eq!(
        h.names(
            "Microsoft.Dynamics.CRM.NotIn(PropertyName='customertypecode',PropertyValues=[\"3\"])"
        ),
        ["CAFE MULLER", "Zeta"]
    );
    let filter = encode("Microsoft.Dynamics.CRM.In(PropertyName=@p1,PropertyValues=@p2)");
    let body = h.json(&format!(
        "accounts?$select=name&$filter={filter}&@p1={}&@p2={}",
        encode("'name'"),
        encode("[\"O'Brien Ltd\",\"zeta\"]")
    ));
    let mut names: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["O'Brien Ltd", "Zeta"]);
    // An alias with no value is null.
    let body = h.json(&format!(
        "accounts?$select=name&$filter={}",
        encode("address1_city eq @missing")
    ));
    assert_eq!(body["value"].as_array().unwrap().len(), 2);
}

#[test]
fn guid_literals_bare_or_quoted() {
    let h = harness();
    let id = h.insert(vec![serde_json::json!({"name": "Guid Co", "_primarycontactid_value": "3FA85F64-5717-4562-B3FC-2C963F66AFA6"})]);
    assert_eq!(id.len(), 1);
    assert_eq!(
        h.names("_primarycontactid_value eq 3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        ["Guid Co"]
    );
    assert_eq!(
        h.names("_primarycontactid_value eq '3FA85F64-5717-4562-B3FC-2C963F66AFA6'"),
        ["Guid Co"]
    );
}

#[test]
fn type_mismatches_and_syntax_errors_are_400() {
    let h = harness();
    for filter in [
        "numberofemployees eq 'ten'",
        "name eq 5",
        "name eq",
        "(name eq 'x'",
        "name eq 'x' and",
        "unknownfn(name)",
        "_primarycontactid_value eq guid'3fa85f64-5717-4562-b3fc-2c963f66afa6'",
    ] {
        let response = h.get(&format!("accounts?$filter={}", encode(filter)));
        assert_eq!(response.status(), 400, "{filter}");
        let body = response.json_value();
        assert!(body["error"]["message"].is_string(), "{filter}");
    }
}
