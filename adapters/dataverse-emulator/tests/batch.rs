//! `$batch`: change sets (atomic), continue-on-error, Content-ID references, LF and CRLF.

mod common;

use common::*;
use dataverse_emulator::{Fault, FaultWhen};
use serde_json::json;

fn post_batch(
    h: &Harness,
    body: &str,
    boundary: &str,
    prefer: Option<&str>,
) -> (u16, String, String) {
    let mut request = h
        .http
        .post(h.api("$batch"))
        .bearer_auth(&h.token)
        .header("OData-Version", "4.0")
        .header(
            "Content-Type",
            format!("multipart/mixed; boundary=\"{boundary}\""),
        )
        .body(body.to_string());
    if let Some(p) = prefer {
        request = request.header("Prefer", p);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    (status, content_type, response.text().unwrap())
}

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

fn changeset_body(second_name: &str) -> String {
    format!(
        "--batch_AAA
Content-Type: multipart/mixed; boundary=changeset_BBB

--changeset_BBB
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST /api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json; type=entry

{{\"name\":\"First\"}}
--changeset_BBB
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

PATCH $1 HTTP/1.1
Content-Type: application/json

{{\"{second_name}\":\"Renamed\"}}
--changeset_BBB--

--batch_AAA
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/accounts?$select=name HTTP/1.1
Accept: application/json


--batch_AAA--
"
    )
}

#[test]
fn change_set_with_references_then_get_crlf() {
    let h = Harness::new();
    let (status, content_type, text) =
        post_batch(&h, &crlf(&changeset_body("name")), "batch_AAA", None);
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("multipart/mixed; boundary=batchresponse_"));
    let boundary = content_type.split("boundary=").nth(1).unwrap();
    assert!(text.starts_with(&format!("--{boundary}\r\n")));
    assert!(text.trim_end().ends_with(&format!("--{boundary}--")));
    assert!(text.contains("Content-Type: multipart/mixed; boundary=changesetresponse_"));
    assert!(text.contains("Content-ID: 1\r\n"));
    assert_eq!(text.matches("HTTP/1.1 204 No Content\r\n").count(), 2);
    assert!(text.contains("OData-EntityId: "));
    assert!(text.contains("HTTP/1.1 200 OK\r\n"));
    assert!(text.contains("\"name\":\"Renamed\""));
    let rows = h.emu.controls().table_rows("accounts").unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "Renamed");
}

#[test]
fn failing_change_set_rolls_back_and_stops() {
    let h = Harness::new();
    // LF line endings this time; the second part names an unknown column.
    let (status, _, text) = post_batch(&h, &changeset_body("nmae"), "batch_AAA", None);
    assert_eq!(status, 400);
    assert!(text.contains("HTTP/1.1 400 Bad Request"));
    assert!(
        !text.contains("HTTP/1.1 200 OK"),
        "processing stops at the first failure"
    );
    assert_eq!(
        text.matches("\r\nHTTP/1.1 ").count(),
        1,
        "only the failing part: {text}"
    );
    assert!(
        h.emu.controls().table_rows("accounts").unwrap().is_empty(),
        "the first create was rolled back"
    );
}

#[test]
fn continue_on_error_answers_every_part() {
    let h = Harness::new();
    let (status, _, text) = post_batch(
        &h,
        &changeset_body("nmae"),
        "batch_AAA",
        Some("odata.continue-on-error"),
    );
    assert_eq!(status, 200);
    assert!(text.contains("HTTP/1.1 400 Bad Request"));
    assert!(text.contains("HTTP/1.1 200 OK"));
    assert!(h.emu.controls().table_rows("accounts").unwrap().is_empty());
}

#[test]
fn undeclared_reference_and_get_in_change_set_fail() {
    let h = Harness::new();
    let body = "--b\nContent-Type: multipart/mixed; boundary=cs\n\n--cs\nContent-Type: application/http\nContent-ID: 1\n\nPATCH $9 HTTP/1.1\nContent-Type: application/json\n\n{\"name\":\"x\"}\n--cs--\n--b--\n";
    let (status, _, text) = post_batch(&h, body, "b", None);
    assert_eq!(status, 400);
    assert!(
        text.contains("Content-ID Reference: '$9' does not exist in the batch context."),
        "{text}"
    );
    let body = "--b\nContent-Type: multipart/mixed; boundary=cs\n\n--cs\nContent-Type: application/http\n\nGET /api/data/v9.2/accounts HTTP/1.1\n\n\n--cs--\n--b--\n";
    let (status, _, _) = post_batch(&h, body, "b", None);
    assert_eq!(status, 400);
}

#[test]
fn absolute_urls_and_unquoted_boundary() {
    let h = Harness::new();
    h.insert(vec![json!({"name": "Abs"})]);
    let body = format!(
        "--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET {} HTTP/1.1\r\n\r\n\r\n--batch_1--\r\n",
        h.api("accounts?$select=name")
    );
    let response = h
        .http
        .post(h.api("$batch"))
        .bearer_auth(&h.token)
        .header("Content-Type", "multipart/mixed;boundary=batch_1")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().unwrap().contains("\"name\":\"Abs\""));
}

#[test]
fn injected_fault_hits_one_part() {
    let h = Harness::new();
    h.emu
        .controls()
        .inject_batch_part(Fault::Status(503), FaultWhen::RequestNumber(2));
    let body = "--b\nContent-Type: application/http\n\nGET /api/data/v9.2/WhoAmI HTTP/1.1\n\n\n--b\nContent-Type: application/http\n\nGET /api/data/v9.2/WhoAmI HTTP/1.1\n\n\n--b\nContent-Type: application/http\n\nGET /api/data/v9.2/WhoAmI HTTP/1.1\n\n\n--b--\n";
    let (status, _, text) = post_batch(&h, body, "b", Some("odata.continue-on-error"));
    assert_eq!(status, 200);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2);
    assert_eq!(text.matches("HTTP/1.1 503 Service Unavailable").count(), 1);
    let stats = h.emu.controls().stats();
    assert_eq!(stats.batch_parts, 3);
    assert_eq!(stats.faults_injected, 1);
}
