//! Authentication: the Entra-like token endpoint (client credentials with a secret in the body
//! or HTTP Basic, or a certificate-signed client assertion), issued tokens, and bearer checks on
//! Web API calls. Error bodies follow Entra's shape with realistic AADSTS codes.

pub(crate) mod jwt;
pub(crate) mod tokens;

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::odata::options::decode_component;
use crate::response::{json_str, ApiResponse};
use crate::state::Shared;
use crate::types::{format_utc, now_unix};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An OAuth error response (`error`, `error_description` with trace lines, `error_codes`, …).
fn oauth_error(status: u16, error: &str, code: u32, description: &str) -> ApiResponse {
    let now = now_unix();
    let timestamp = format_utc(now).replace('T', " ");
    let trace = uuid::Uuid::new_v4();
    let correlation = uuid::Uuid::new_v4();
    let full = format!(
        "AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"
    );
    let body = format!(
        "{{\"error\":{},\"error_description\":{},\"error_codes\":[{code}],\"timestamp\":{},\"trace_id\":\"{trace}\",\"correlation_id\":\"{correlation}\"}}",
        json_str(error),
        json_str(&full),
        json_str(&timestamp)
    );
    ApiResponse {
        status,
        headers: vec![(
            "Content-Type".to_owned(),
            "application/json; charset=utf-8".to_owned(),
        )],
        body: body.into_bytes(),
    }
}

fn missing(parameter: &str) -> ApiResponse {
    oauth_error(
        400,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{parameter}'."),
    )
}

/// Whether `tenant` names the configured tenant (name or GUID, case-insensitive).
pub(crate) fn is_known_tenant(shared: &Shared, tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case(&shared.tenant_id)
        || shared
            .tenant_guid
            .as_deref()
            .is_some_and(|g| tenant.eq_ignore_ascii_case(g))
}

/// `POST /{tenant}/oauth2/v2.0/token`. `bases` are the URLs this server is known by (for
/// `scope` and the assertion's `aud`).
pub(crate) fn token_endpoint(
    shared: &Shared,
    tenant: &str,
    authorization: Option<&str>,
    body: &[u8],
    bases: &[String],
) -> ApiResponse {
    if !is_known_tenant(shared, tenant) {
        return oauth_error(
            400,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
        );
    }
    let form: HashMap<String, String> = String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect();
    // HTTP Basic: client_id:client_secret, each form-urlencoded (RFC 6749 §2.3.1).
    let basic = authorization
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (decode_component(id), decode_component(secret)))
        });
    let Some(grant_type) = form.get("grant_type") else {
        return missing("grant_type");
    };
    if grant_type != "client_credentials" {
        return oauth_error(
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{grant_type}'."),
        );
    }
    let client_id = form
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()));
    let Some(client_id) = client_id else {
        return missing("client_id");
    };
    let Some(scope) = form.get("scope") else {
        return missing("scope");
    };
    let Some(client) = shared.clients.iter().find(|c| c.client_id == client_id) else {
        return oauth_error(
            400,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
        );
    };
    let scope_ok = bases.iter().any(|base| {
        let base = base.trim_end_matches('/');
        scope == &format!("{base}/.default")
    });
    if !scope_ok {
        return oauth_error(
            400,
            "invalid_scope",
            70011,
            &format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        );
    }
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
            return oauth_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_assertion_type'.",
            );
        }
        let audiences: Vec<String> = bases
            .iter()
            .map(|b| format!("{}/{tenant}/oauth2/v2.0/token", b.trim_end_matches('/')))
            .collect();
        if let Err(e) = jwt::verify_assertion(
            assertion,
            &client.client_id,
            client.certificate.as_ref(),
            &audiences,
            now_unix(),
        ) {
            return oauth_error(401, "invalid_client", e.code, &e.description);
        }
    } else {
        let secret = form
            .get("client_secret")
            .cloned()
            .or_else(|| basic.as_ref().map(|(_, s)| s.clone()));
        let Some(secret) = secret else {
            return oauth_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        };
        if client.secret.as_deref() != Some(secret.as_str()) {
            return oauth_error(
                401,
                "invalid_client",
                7000215,
                &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
            );
        }
    }
    let lifetime = shared.settings().token_lifetime_secs;
    let token = shared
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .issue(&client.client_id, std::time::Duration::from_secs(lifetime));
    shared.stats_mut().tokens_issued += 1;
    let body = format!(
        "{{\"token_type\":\"Bearer\",\"expires_in\":{lifetime},\"ext_expires_in\":{lifetime},\"access_token\":{}}}",
        json_str(&token)
    );
    ApiResponse {
        status: 200,
        headers: vec![(
            "Content-Type".to_owned(),
            "application/json; charset=utf-8".to_owned(),
        )],
        body: body.into_bytes(),
    }
}
