//! Service protection (429 + Retry-After with exact codes), injected faults, admin mode.

mod common;

use std::time::{Duration, Instant};

use common::*;
use dataverse_emulator::{Fault, FaultWhen, ServiceProtection, ThrottleKind};
use serde_json::json;

#[test]
fn request_limit_gives_429_with_exact_code_and_retry_after() {
    let h = Harness::new();
    h.emu.controls().set_service_protection(ServiceProtection {
        requests_per_window: 3,
        window_secs: 300,
        ..ServiceProtection::default()
    });
    for remaining in ["2", "1", "0"] {
        let response = h.get("WhoAmI");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["x-ms-ratelimit-burst-remaining-xrm-requests"],
            remaining
        );
        assert!(response
            .headers()
            .contains_key("x-ms-ratelimit-time-remaining-xrm-requests"));
    }
    let response = h.get("WhoAmI");
    assert_eq!(response.status(), 429);
    let retry_after: u32 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((290..=300).contains(&retry_after), "{retry_after}");
    assert_eq!(
        response.json_value(),
        json!({"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 3 over time window of 300 seconds."}})
    );
    // Another client has its own window.
    let admin_token = fetch_token(&h.http, &h.url(), ADMIN_ID);
    assert_eq!(
        h.http
            .get(h.api("WhoAmI"))
            .bearer_auth(admin_token)
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(h.emu.controls().stats().throttled, 1);
    h.emu.controls().disable_service_protection();
    assert_eq!(h.get("WhoAmI").status(), 200);
}

#[test]
fn execution_time_limit_uses_the_documented_message() {
    let h = Harness::new();
    h.emu.controls().set_service_protection(ServiceProtection {
        execution_ms_per_window: 0,
        retry_after_secs: Some(7),
        ..ServiceProtection::default()
    });
    assert_eq!(h.get("WhoAmI").status(), 200);
    let response = h.get("WhoAmI");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(
        response.json_value(),
        json!({"error":{"code":"0x80072321","message":"Combined execution time of incoming requests exceeded limit of 0  milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."}})
    );
}

#[test]
fn concurrency_limit_trips_immediately() {
    let h = Harness::new();
    let controls = h.emu.controls().clone();
    controls.set_service_protection(ServiceProtection {
        concurrent: 1,
        ..ServiceProtection::default()
    });
    // The first request stays in flight (delayed) while the second arrives.
    controls.inject(
        Fault::Delay(Duration::from_millis(1500)),
        FaultWhen::NextRequests(1),
    );
    let (http, url, token) = (h.http.clone(), h.api("WhoAmI"), h.token.clone());
    let slow =
        std::thread::spawn(move || http.get(url).bearer_auth(token).send().unwrap().status());
    // The delay fault is counted once the first request has been admitted.
    while controls.stats().faults_injected == 0 {
        std::thread::yield_now();
    }
    let response = h.get("WhoAmI");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        response.json_value(),
        json!({"error":{"code":"0x80072326","message":"Number of concurrent requests exceeded the limit of 1."}})
    );
    assert_eq!(slow.join().unwrap(), 200);
}

#[test]
fn injected_throttle_and_status_faults() {
    let h = Harness::new();
    let controls = h.emu.controls();
    controls.inject(
        Fault::Throttle(ThrottleKind::Requests, 3),
        FaultWhen::NextRequests(1),
    );
    let response = h.get("WhoAmI");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(response.json_value()["error"]["code"], "0x80072322");
    assert_eq!(h.get("WhoAmI").status(), 200);

    controls.inject(Fault::Status(503), FaultWhen::NextRequests(2));
    assert_eq!(h.get("WhoAmI").status(), 503);
    let response = h.get("WhoAmI");
    assert_eq!(response.status(), 503);
    assert!(response.json_value()["error"]["message"].is_string());
    assert_eq!(h.get("WhoAmI").status(), 200);

    // Request numbers count from the last reset.
    controls.reset_stats();
    controls.inject(Fault::Status(502), FaultWhen::RequestNumber(2));
    controls.inject(Fault::Status(504), FaultWhen::EveryNth(3));
    let statuses: Vec<u16> = (0..4).map(|_| h.get("WhoAmI").status().as_u16()).collect();
    assert_eq!(statuses, [200, 502, 504, 200]);
    let stats = controls.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.faults_injected, 2);
    assert_eq!(stats.by_status[&200], 2);
    controls.clear_faults();
}

#[test]
fn dropped_connection_truncates_the_response() {
    let h = Harness::new();
    h.emu
        .controls()
        .inject(Fault::DropConnection, FaultWhen::NextRequests(1));
    let result = h
        .http
        .get(h.api("WhoAmI"))
        .bearer_auth(&h.token)
        .send()
        .and_then(|r| r.text());
    assert!(
        result.is_err(),
        "the body must not arrive complete: {result:?}"
    );
    // The next request is served normally.
    assert_eq!(h.get("WhoAmI").status(), 200);
}

#[test]
fn delayed_response_still_succeeds() {
    let h = Harness::new();
    h.emu.controls().inject(
        Fault::Delay(Duration::from_millis(200)),
        FaultWhen::NextRequests(1),
    );
    let started = Instant::now();
    assert_eq!(h.get("WhoAmI").status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn token_faults_are_separate() {
    let h = Harness::new();
    h.emu
        .controls()
        .inject_token_fault(Fault::Status(503), FaultWhen::NextRequests(1));
    let response = h
        .http
        .post(h.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &format!("{}/.default", h.url())),
        ])
        .send()
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(h.get("WhoAmI").status(), 200);
    let _ = fetch_token(&h.http, &h.url(), CLIENT_ID);
}

#[test]
fn admin_mode_rejects_non_admin_callers() {
    let h = Harness::new();
    h.emu.controls().set_admin_mode(true);
    let response = h.get("WhoAmI");
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.json_value(),
        json!({"error":{"code":"0x80040220","message":"User does not have required privileges (or role membership) to access the org when it is in Admin Only mode."}})
    );
    assert_eq!(h.get("accounts").status(), 403);
    let admin = fetch_token(&h.http, &h.url(), ADMIN_ID);
    assert_eq!(
        h.http
            .get(h.api("WhoAmI"))
            .bearer_auth(admin)
            .send()
            .unwrap()
            .status(),
        200
    );
    h.emu.controls().set_admin_mode(false);
    assert_eq!(h.get("WhoAmI").status(), 200);
}

#[test]
fn request_log_records_headers_but_no_secrets() {
    let h = Harness::new();
    let _ = h.get_with(
        "accounts?$select=name",
        &[("Prefer", "odata.maxpagesize=10")],
    );
    let log = h.emu.controls().requests();
    let token = &log[0];
    assert_eq!(token.method, "POST");
    assert!(!format!("{log:?}").contains(SECRET));
    assert!(!format!("{log:?}").contains(&h.token));
    let read = log.last().unwrap();
    assert_eq!(read.path_and_query, "/api/data/v9.2/accounts?$select=name");
    assert_eq!(read.prefer, ["odata.maxpagesize=10"]);
    assert_eq!(read.if_none_match.as_deref(), Some("null"));
    assert_eq!(read.odata_version.as_deref(), Some("4.0"));
    assert_eq!(read.odata_max_version.as_deref(), Some("4.0"));
    assert!(read.authorization_present);
    assert_eq!(read.status, 200);
}
