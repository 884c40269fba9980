//! Reading: row shape, paging with `$skiptoken` nextLinks, `$top`, `$count`, `$orderby`,
//! single records, errors and limits.

mod common;

use common::*;
use serde_json::{json, Value};

fn many_rows(h: &Harness, n: usize) {
    let rows = (0..n)
        .map(|i| json!({"name": format!("Account {i:05}"), "numberofemployees": i % 97}))
        .collect();
    h.insert(rows);
}

fn ids(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["accountid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn rows_have_etag_key_and_exact_values() {
    let h = Harness::new();
    h.insert(sample_rows());
    let response = h.get("accounts?$select=name,revenue,createdon,creditonhold,address1_city&$filter=accountnumber%20eq%20'A1'");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["odata-version"], "4.0");
    assert_eq!(
        response.headers()["content-type"],
        "application/json; odata.metadata=minimal"
    );
    let text = response.text().unwrap();
    // Money keeps its digits (precision 4 pads), never through f64.
    assert!(text.contains("\"revenue\":20000.0000"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body["@odata.context"],
        format!("{}/api/data/v9.2/$metadata#accounts(name,revenue,createdon,creditonhold,address1_city)", h.url())
    );
    let row = &body["value"][0];
    // Keys in order: etag, the selected columns, then the key and the currency.
    let positions: Vec<usize> = [
        "@odata.etag",
        "\"name\"",
        "\"revenue\"",
        "\"createdon\"",
        "\"creditonhold\"",
        "\"address1_city\"",
        "\"accountid\"",
        "\"_transactioncurrencyid_value\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap_or_else(|| panic!("{k} missing")))
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(row.as_object().unwrap().len(), 8);
    assert!(row["@odata.etag"].as_str().unwrap().starts_with("W/\""));
    assert_eq!(row["createdon"], "2023-04-07T21:59:01Z");
    assert_eq!(row["creditonhold"], false);
    assert_eq!(
        row["_transactioncurrencyid_value"],
        h.emu.controls().base_currency_id()
    );
    // A selected empty column is null, not missing.
    let body = h.json("accounts?$select=name,address1_city&$filter=accountnumber%20eq%20'A5'");
    assert_eq!(body["value"][0]["address1_city"], Value::Null);
}

#[test]
fn formatted_values_on_request() {
    let h = Harness::new();
    h.insert(sample_rows());
    let body = h
        .get_with(
            "accounts?$select=statecode,revenue,creditonhold&$filter=accountnumber%20eq%20'A1'",
            &[(
                "Prefer",
                "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"",
            )],
        )
        .json_value();
    let row = &body["value"][0];
    assert_eq!(
        row["statecode@OData.Community.Display.V1.FormattedValue"],
        "Active"
    );
    assert_eq!(
        row["revenue@OData.Community.Display.V1.FormattedValue"],
        "$20,000.00"
    );
    assert_eq!(
        row["creditonhold@OData.Community.Display.V1.FormattedValue"],
        "No"
    );
}

#[test]
fn pages_12000_rows_in_three_pages_like_a_full_scan() {
    let h = Harness::new();
    many_rows(&h, 12_000);
    let prefer = [("Prefer", "odata.maxpagesize=5000")];
    let mut url = h.api("accounts?$select=name");
    let mut sizes = Vec::new();
    let mut all = Vec::new();
    loop {
        let response = h.get_url(&url, &prefer);
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["preference-applied"],
            "odata.maxpagesize=5000"
        );
        let page = response.json_value();
        sizes.push(page["value"].as_array().unwrap().len());
        all.extend(ids(&page));
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(
                    &h.api("accounts?$select=name&$skiptoken=%3Ccookie%20pagenumber=%22")
                ));
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(sizes, [5000, 5000, 2000]);
    // The same rows, in the same (primary-key) order, as the table itself.
    let expected: Vec<String> = h
        .emu
        .controls()
        .table_cells("accounts")
        .unwrap()
        .iter()
        .map(|r| r["accountid"].clone().unwrap())
        .collect();
    assert_eq!(all, expected);
    // The Prefer header was sent on every page request.
    let log = h.emu.controls().requests();
    let reads: Vec<_> = log
        .iter()
        .filter(|r| r.path_and_query.contains("accounts?"))
        .collect();
    assert_eq!(reads.len(), 3);
    assert!(reads.iter().all(|r| r.prefer == ["odata.maxpagesize=5000"]));
}

#[test]
fn default_order_is_sql_server_guid_order() {
    let h = Harness::new();
    // Sorted by the last group first: …-000000000001 before …-000000000002, whatever the first group.
    h.insert(vec![
        json!({"accountid": "00000000-0000-0000-0000-000000000002", "name": "b"}),
        json!({"accountid": "ffffffff-0000-0000-0000-000000000001", "name": "a"}),
        json!({"accountid": "00000000-0000-0000-0001-000000000001", "name": "c"}),
    ]);
    let body = h.json("accounts?$select=name");
    let names: Vec<&str> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c", "b"]);
}

#[test]
fn next_link_continues_after_the_last_key_despite_changes() {
    let h = Harness::new();
    many_rows(&h, 30);
    let prefer = [("Prefer", "odata.maxpagesize=10")];
    let page1 = h.get_with("accounts?$select=name", &prefer).json_value();
    let first_ids = ids(&page1);
    let next = page1["@odata.nextLink"].as_str().unwrap().to_string();
    // Delete a row of page 1 and one of page 2; insert a row that sorts before page 1's end.
    let all: Vec<String> = h
        .emu
        .controls()
        .table_cells("accounts")
        .unwrap()
        .iter()
        .map(|r| r["accountid"].clone().unwrap())
        .collect();
    assert_eq!(
        h.send("DELETE", &format!("accounts({})", all[0]), None, &[])
            .status(),
        204
    );
    assert_eq!(
        h.send("DELETE", &format!("accounts({})", all[10]), None, &[])
            .status(),
        204
    );
    h.insert(vec![
        json!({"accountid": "00000000-0000-0000-0000-000000000000", "name": "early"}),
    ]);
    let page2 = h.get_url(&next, &prefer).json_value();
    let second_ids = ids(&page2);
    assert_eq!(second_ids, all[11..21].to_vec());
    assert!(first_ids.iter().all(|id| !second_ids.contains(id)));
    let page3 = h
        .get_url(page2["@odata.nextLink"].as_str().unwrap(), &prefer)
        .json_value();
    assert_eq!(ids(&page3), all[21..30].to_vec());
    assert!(page3.get("@odata.nextLink").is_none());
}

#[test]
fn orderby_pages_with_ties_broken_by_key() {
    let h = Harness::new();
    many_rows(&h, 50);
    let prefer = [("Prefer", "odata.maxpagesize=7")];
    let mut url =
        h.api("accounts?$select=name,numberofemployees&$orderby=numberofemployees%20desc");
    let mut seen = Vec::new();
    loop {
        let page = h.get_url(&url, &prefer).json_value();
        for row in page["value"].as_array().unwrap() {
            seen.push((
                row["numberofemployees"].as_i64().unwrap(),
                row["accountid"].as_str().unwrap().to_string(),
            ));
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 50);
    let mut sorted = seen.clone();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.0));
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        sorted.iter().map(|s| s.0).collect::<Vec<_>>()
    );
    let mut unique = seen.iter().map(|s| s.1.clone()).collect::<Vec<_>>();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50);
}

#[test]
fn page_size_is_clamped_and_top_caps_without_paging() {
    let h = Harness::new();
    many_rows(&h, 5_010);
    let response = h.get_with(
        "accounts?$select=name",
        &[("Prefer", "odata.maxpagesize=10000")],
    );
    assert_eq!(
        response.headers()["preference-applied"],
        "odata.maxpagesize=5000"
    );
    let page = response.json_value();
    assert_eq!(page["value"].as_array().unwrap().len(), 5000);
    assert!(page["@odata.nextLink"].is_string());
    // No Prefer: default page of 5000 with a nextLink.
    let page = h.json("accounts?$select=name");
    assert_eq!(page["value"].as_array().unwrap().len(), 5000);
    assert!(page["@odata.nextLink"].is_string());
    let page = h.json("accounts?$select=name&$top=3");
    assert_eq!(page["value"].as_array().unwrap().len(), 3);
    assert!(page.get("@odata.nextLink").is_none());
    // $top is ignored when a page size is asked for.
    let page = h
        .get_with(
            "accounts?$select=name&$top=3",
            &[("Prefer", "odata.maxpagesize=4")],
        )
        .json_value();
    assert_eq!(page["value"].as_array().unwrap().len(), 4);
    assert!(page["@odata.nextLink"].is_string());
}

#[test]
fn counts_are_capped_at_5000() {
    let h = Harness::new();
    many_rows(&h, 5_003);
    let text = h.get("accounts?$select=name&$count=true").text().unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["@odata.count"], 5000);
    assert!(text.find("@odata.count").unwrap() < text.find("\"value\"").unwrap());
    let response = h.get("accounts/$count");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(response.text().unwrap(), "5000");
    let response = h.get("accounts/$count?$filter=numberofemployees%20eq%200");
    assert_eq!(response.text().unwrap(), "52");
    let body = h.get_with(
        "accounts?$select=name&$count=true&$top=1",
        &[("Prefer", "odata.include-annotations=\"Microsoft.Dynamics.CRM.totalrecordcount,Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded\"")],
    )
    .json_value();
    assert_eq!(body["@Microsoft.Dynamics.CRM.totalrecordcount"], 5000);
    assert_eq!(
        body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"],
        true
    );
    let body = h.json("RetrieveTotalRecordCount(EntityNames=['account'])");
    assert_eq!(
        body["EntityRecordCountCollection"],
        json!({"Count":1,"IsReadOnly":false,"Keys":["account"],"Values":[5003]})
    );
    let body = h.json("RetrieveTotalRecordCount(EntityNames=@p1)?@p1=%5B%22account%22%5D");
    assert_eq!(body["EntityRecordCountCollection"]["Values"], json!([5003]));
}

#[test]
fn single_record_property_and_not_found() {
    let h = Harness::new();
    let ids = h.insert(sample_rows());
    let response = h.get(&format!("accounts({})?$select=name", ids[0]));
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let body = response.json_value();
    assert_eq!(body["name"], "Café Müller");
    assert_eq!(body["@odata.etag"], etag);
    assert!(body["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#accounts(name)/$entity"));
    // Also by alternate key and with the named primary key.
    assert_eq!(
        h.json("accounts(accountnumber='A1')?$select=name")["name"],
        "Café Müller"
    );
    assert_eq!(
        h.json(&format!("accounts(accountid={})?$select=name", ids[0]))["name"],
        "Café Müller"
    );
    assert_eq!(
        h.json(&format!("accounts({})/name", ids[0]))["value"],
        "Café Müller"
    );
    let missing = "00000000-0000-0000-0000-00000000abcd";
    let response = h.get(&format!("accounts({missing})"));
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json_value(),
        json!({"error":{"code":"0x80040217","message":format!("account With Id = {missing} Does Not Exist")}})
    );
    let response = h.get("accounts(name='x')");
    assert_eq!(response.status(), 400);
}

#[test]
fn unknown_names_and_unsupported_options() {
    let h = Harness::new();
    let response = h.get("widgets?$select=name");
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json_value(),
        json!({"error":{"code":"0x80060888","message":"Resource not found for the segment 'widgets'."}})
    );
    let response = h.get("accounts?$select=nmae");
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json_value(),
        json!({"error":{"code":"0x80060888","message":"Could not find a property named 'nmae' on type 'Microsoft.Dynamics.CRM.account'."}})
    );
    assert_eq!(h.get("accounts?$filter=nmae%20eq%201").status(), 400);
    assert_eq!(h.get("accounts?$orderby=nmae").status(), 400);
    for option in ["$skip=10", "$search=x", "$format=json"] {
        assert_eq!(
            h.get(&format!("accounts?{option}")).status(),
            400,
            "{option}"
        );
    }
}

#[test]
fn limits_in_operator_conditions_and_url_length() {
    let h = Harness::new();
    let response = h.get(&format!("accounts?$filter={}", encode("name in ('a','b')")));
    assert_eq!(response.status(), 501);
    assert_eq!(
        response.json_value()["error"]["message"],
        "The method or operation is not implemented."
    );
    let many = (0..501)
        .map(|i| format!("numberofemployees eq {i}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let response = h.get(&format!("accounts?$filter={}", encode(&many)));
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json_value(),
        json!({"error":{"code":"0x8004430C","message":"Number of conditions in query exceeded maximum limit."}})
    );
    let exactly_500 = (0..500)
        .map(|i| format!("numberofemployees eq {i}"))
        .collect::<Vec<_>>()
        .join(" or ");
    assert_eq!(
        h.get(&format!("accounts?$filter={}", encode(&exactly_500)))
            .status(),
        200
    );
    // In values count one condition each.
    let values = (0..501)
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(",");
    let filter = format!(
        "Microsoft.Dynamics.CRM.In(PropertyName='numberofemployees',PropertyValues=[{values}])"
    );
    assert_eq!(
        h.get(&format!("accounts?$filter={}", encode(&filter)))
            .status(),
        400
    );
    let long = format!(
        "accounts?$filter={}",
        encode(&format!("name eq '{}'", "x".repeat(33_000)))
    );
    assert_eq!(h.get(&long).status(), 414);
    let response = h.get(&format!("accounts?$filter={}", encode("name eq 'O'Bryan'")));
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json_value()["error"]["message"],
        "There is an unterminated literal at position 17 in 'name eq 'O'Bryan''."
    );
}

#[test]
fn who_am_i_and_service_document() {
    let h = Harness::new();
    for path in ["WhoAmI", "WhoAmI()"] {
        let response = h.get(path);
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-ms-dop-hint"], "4");
        let body = response.json_value();
        assert_eq!(
            body["@odata.context"],
            format!(
                "{}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                h.url()
            )
        );
        for key in ["BusinessUnitId", "UserId", "OrganizationId"] {
            assert_eq!(body[key].as_str().unwrap().len(), 36);
        }
    }
    let body = h.json("");
    assert!(body["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "accounts"));
}
