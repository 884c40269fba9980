//! Token endpoint (secrets, Basic auth, RS256/PS256 assertions) and bearer enforcement.

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::*;
use rsa::pkcs8::DecodePrivateKey;
use rsa::rand_core::{CryptoRng, RngCore};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

fn pem_block(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).unwrap() + begin.len();
    let stop = pem[start..].find(&end).unwrap() + start;
    let b64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).unwrap()
}

/// A deterministic RNG for PSS salts (test only).
struct TestRng(u64);
impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = (self.next_u64() >> 33) as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for TestRng {}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Builds a client assertion signed with the key in `pem_file`.
fn assertion(pem_file: &str, alg: &str, claims: Value) -> String {
    let pem = std::fs::read_to_string(fixtures().join(pem_file)).unwrap();
    let der = pem_block(&pem, "CERTIFICATE");
    let key = RsaPrivateKey::from_pkcs8_der(&pem_block(&pem, "PRIVATE KEY")).unwrap();
    let header = match alg {
        "RS256" => {
            json!({"alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(Sha1::digest(&der))})
        }
        _ => {
            json!({"alg": "PS256", "typ": "JWT", "x5t#S256": URL_SAFE_NO_PAD.encode(Sha256::digest(&der))})
        }
    };
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match alg {
        "RS256" => rsa::pkcs1v15::SigningKey::<Sha256>::new(key)
            .sign(signing_input.as_bytes())
            .to_vec(),
        _ => rsa::pss::SigningKey::<Sha256>::new(key)
            .sign_with_rng(&mut TestRng(7), signing_input.as_bytes())
            .to_vec(),
    };
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn claims(h: &Harness) -> Value {
    json!({
        "aud": h.token_url(), "iss": CLIENT_ID, "sub": CLIENT_ID,
        "jti": "8c3b1e38-7f0e-4a4b-9a52-0a9f3c4d5e6f", "nbf": now(), "iat": now(), "exp": now() + 600
    })
}

fn post_assertion(h: &Harness, jwt: &str) -> (u16, Value) {
    let response = h
        .http
        .post(h.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("scope", &format!("{}/.default", h.url())),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt),
        ])
        .send()
        .unwrap();
    (response.status().as_u16(), response.json_value())
}

fn post_form(h: &Harness, form: &[(&str, &str)]) -> (u16, Value) {
    let response = h.http.post(h.token_url()).form(form).send().unwrap();
    (response.status().as_u16(), response.json_value())
}

#[test]
fn secret_in_body_gives_a_bearer_token() {
    let h = Harness::new();
    let scope = format!("{}/.default", h.url());
    let (status, body) = post_form(
        &h,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    );
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(body["access_token"].as_str().unwrap().len() > 20);
    assert_eq!(h.emu.controls().stats().tokens_issued, 2);
}

#[test]
fn bad_secret_is_invalid_client_7000215() {
    let h = Harness::new();
    let scope = format!("{}/.default", h.url());
    let (status, body) = post_form(
        &h,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "nope"),
            ("scope", &scope),
        ],
    );
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    let description = body["error_description"].as_str().unwrap();
    assert!(description.starts_with("AADSTS7000215: Invalid client secret provided."));
    assert!(description.contains("\r\nTrace ID: "));
    assert!(description.contains("\r\nCorrelation ID: "));
    assert!(
        body["trace_id"].is_string()
            && body["correlation_id"].is_string()
            && body["timestamp"].is_string()
    );
}

#[test]
fn other_token_errors_have_their_codes() {
    let h = Harness::new();
    let scope = format!("{}/.default", h.url());
    let (status, body) = post_form(
        &h,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "00000000-0000-0000-0000-000000000000"),
            ("client_secret", SECRET),
            ("scope", &scope),
        ],
    );
    assert_eq!(
        (status, body["error_codes"].clone()),
        (400, json!([700016]))
    );
    let (status, body) = post_form(
        &h,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", "https://other.crm.dynamics.com/.default"),
        ],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    assert_eq!(body["error_codes"], json!([70011]));
    let (status, body) = post_form(
        &h,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ],
    );
    assert_eq!(
        (status, body["error_codes"].clone()),
        (400, json!([900144]))
    );
    let response = h
        .http
        .post(format!("{}/other-tenant/oauth2/v2.0/token", h.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", &scope),
        ])
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json_value()["error_codes"], json!([90002]));
}

#[test]
fn secret_by_http_basic() {
    let h = Harness::new();
    let response = h
        .http
        .post(h.token_url())
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", &format!("{}/.default", h.url())),
        ])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.json_value()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let who = h
        .http
        .get(h.api("WhoAmI"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(who.status(), 200);
}

#[test]
fn rs256_and_ps256_assertions_are_verified() {
    let h = Harness::new();
    for alg in ["RS256", "PS256"] {
        let (status, body) = post_assertion(&h, &assertion("test-app.pem", alg, claims(&h)));
        assert_eq!(status, 200, "{alg}: {body}");
        assert_eq!(body["token_type"], "Bearer");
    }
}

#[test]
fn unregistered_certificate_is_refused() {
    let h = Harness::new();
    let (status, body) = post_assertion(&h, &assertion("test-other-app.pem", "RS256", claims(&h)));
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([700027]));
}

#[test]
fn tampered_signature_is_refused() {
    let h = Harness::new();
    let jwt = assertion("test-app.pem", "PS256", claims(&h));
    let (head, sig) = jwt.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[10] ^= 1;
    let (status, body) = post_assertion(&h, &format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes)));
    assert_eq!(status, 401);
    assert_eq!(body["error_codes"], json!([700027]));
}

#[test]
fn wrong_audience_and_expired_assertions_are_refused() {
    let h = Harness::new();
    let mut bad_aud = claims(&h);
    bad_aud["aud"] = json!("https://login.microsoftonline.com/x/oauth2/v2.0/token");
    let (status, body) = post_assertion(&h, &assertion("test-app.pem", "RS256", bad_aud));
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    let mut expired = claims(&h);
    expired["nbf"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    let (status, body) = post_assertion(&h, &assertion("test-app.pem", "RS256", expired));
    assert_eq!(status, 401);
    assert_eq!(body["error_codes"], json!([700024]));
    let mut wrong_iss = claims(&h);
    wrong_iss["iss"] = json!(ADMIN_ID);
    let (status, _) = post_assertion(&h, &assertion("test-app.pem", "RS256", wrong_iss));
    assert_eq!(status, 401);
}

#[test]
fn missing_or_unknown_token_gets_401_with_challenge() {
    let h = Harness::new();
    let response = h.http.get(h.api("WhoAmI")).send().unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        challenge,
        format!(
            "Bearer authorization_uri={0}/{TENANT}/oauth2/authorize, resource_id={0}",
            h.url()
        )
    );
    assert_eq!(response.text().unwrap(), "");
    let response = h
        .http
        .get(h.api("WhoAmI"))
        .bearer_auth("forged")
        .send()
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[test]
fn expired_tokens_get_401_and_a_new_token_works() {
    let h = Harness::new();
    assert_eq!(h.get("WhoAmI").status(), 200);
    h.emu.controls().expire_all_tokens();
    assert_eq!(h.get("WhoAmI").status(), 401);
    // A zero lifetime issues tokens that are already expired.
    h.emu.controls().set_token_lifetime(0);
    let token = fetch_token(&h.http, &h.url(), CLIENT_ID);
    let response = h
        .http
        .get(h.api("WhoAmI"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(response.status(), 401);
    h.emu.controls().set_token_lifetime(60);
    let token = fetch_token(&h.http, &h.url(), CLIENT_ID);
    let response = h
        .http
        .get(h.api("WhoAmI"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
}
