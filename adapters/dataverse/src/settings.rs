//! Connection settings: where the environment is, who we are, and how hard to retry. Secrets
//! live in [`Secret`] and [`Certificate`], whose `Debug` never shows them.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;

use crate::error::{DataverseError, Result};

mod certificate;
mod section;
pub use certificate::Certificate;
pub use section::DataverseSection;

/// Microsoft Entra ID's public-cloud authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The largest page Dataverse serves (and the default).
pub const MAX_PAGE_SIZE: u32 = 5000;

/// Everything needed to open a [`crate::Session`].
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// The environment URL, e.g. `https://contoso.crm.dynamics.com` (no path).
    pub url: String,
    /// Tenant GUID or domain (`contoso.onmicrosoft.com`).
    pub tenant_id: String,
    /// The application (client) id of the app registration.
    pub client_id: String,
    pub credential: Credential,
    /// The token authority; [`DEFAULT_AUTHORITY`] unless another cloud or an emulator.
    pub authority: String,
    pub retry: RetryPolicy,
    /// Time limit of one request (connect + response).
    pub timeout: Duration,
    /// `Prefer: odata.maxpagesize` for whole-table reads (at most [`MAX_PAGE_SIZE`]).
    pub page_size: u32,
}

impl ConnectionSettings {
    /// Settings with the defaults for everything but the identity.
    pub fn new(
        url: impl Into<String>,
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: Credential,
    ) -> Self {
        ConnectionSettings {
            url: url.into(),
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
            authority: DEFAULT_AUTHORITY.to_string(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(120),
            page_size: MAX_PAGE_SIZE,
        }
    }

    /// The environment URL without a trailing slash, checked: HTTPS, or HTTP to loopback.
    pub fn environment_url(&self) -> Result<Url> {
        checked_url(&self.url, "url")
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`, checked like the environment URL.
    pub fn token_url(&self) -> Result<Url> {
        let authority = checked_url(&self.authority, "authority")?;
        if self.tenant_id.trim().is_empty() || self.tenant_id.contains(['/', '?', '#']) {
            return Err(DataverseError::Settings(format!(
                "tenant_id '{}' is not a tenant GUID or domain name",
                self.tenant_id
            )));
        }
        let text = format!(
            "{}/{}/oauth2/v2.0/token",
            authority.as_str().trim_end_matches('/'),
            self.tenant_id.trim()
        );
        Url::parse(&text).map_err(|e| DataverseError::Settings(format!("token URL {text}: {e}")))
    }

    /// The OAuth scope: the environment URL followed by `/.default`.
    pub fn scope(&self) -> Result<String> {
        Ok(format!(
            "{}/.default",
            self.environment_url()?.as_str().trim_end_matches('/')
        ))
    }
}

/// Parses a URL and insists on HTTPS unless the host is loopback (a local emulator).
pub fn checked_url(text: &str, key: &str) -> Result<Url> {
    let url = Url::parse(text.trim()).map_err(|e| {
        DataverseError::Settings(format!("{key} = \"{text}\" is not a valid URL: {e}"))
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(DataverseError::Settings(format!(
            "{key} = \"{text}\": plain http is allowed only to this machine (loopback); use https"
        )))
        }
        other => {
            return Err(DataverseError::Settings(format!(
                "{key} = \"{text}\": unsupported scheme '{other}'; use https"
            )))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(DataverseError::Settings(format!(
            "{key} = \"{text}\" has no host"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(DataverseError::Settings(format!(
            "{key} = \"{text}\": remove the query or fragment"
        )));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// How the client proves who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    Secret(Secret),
    Certificate(Box<Certificate>),
}

/// A client secret. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Reads the secret from an environment variable (the config names the variable).
    pub fn from_env(var: &str) -> Result<Secret> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
            _ => Err(DataverseError::SecretMissing {
                var: var.to_string(),
            }),
        }
    }

    /// Reads the secret from a file (first line; surrounding whitespace dropped).
    pub fn from_file(path: &Path) -> Result<Secret> {
        let text = std::fs::read_to_string(path).map_err(|e| DataverseError::CredentialFile {
            path: path.to_path_buf(),
            message: format!("cannot read the client secret file: {e}"),
        })?;
        let value = text.lines().next().unwrap_or("").trim();
        if value.is_empty() {
            return Err(DataverseError::CredentialFile {
                path: path.to_path_buf(),
                message: "the client secret file is empty".into(),
            });
        }
        Ok(Secret(value.to_string()))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The signature algorithm of the client assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256 and the `x5t#S256` header: what Entra documents today.
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and the `x5t` (SHA-1) header: the older form.
    Rs256,
}

/// Retries of transient failures: 429 (after `Retry-After`), 502/503/504, timeouts and
/// dropped connections (exponential backoff with full jitter), each bounded.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts in all).
    pub max_retries: u32,
    /// First backoff ceiling; doubles per retry.
    pub base_delay: Duration,
    /// Largest backoff ceiling.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for: the request fails instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based): a random point below the ceiling
    /// `base × 2^retry` (capped), so that many clients do not retry in step.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max_delay);
        ceiling.mul_f64(fastrand::f64())
    }
}

#[cfg(test)]
mod certificate_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_required_except_loopback() {
        assert!(checked_url("https://contoso.crm.dynamics.com", "url").is_ok());
        assert!(checked_url("http://127.0.0.1:8181", "url").is_ok());
        assert!(checked_url("http://localhost:8181", "url").is_ok());
        assert!(checked_url("http://[::1]:8181", "url").is_ok());
        let e = checked_url("http://contoso.crm.dynamics.com", "url").unwrap_err();
        assert!(e.to_string().contains("use https"), "{e}");
        assert!(checked_url("ftp://x", "url").is_err());
        assert!(checked_url("not a url", "url").is_err());
        assert!(checked_url("https://x.com/?a=1", "url").is_err());
    }

    #[test]
    fn token_url_and_scope() {
        let mut s = ConnectionSettings::new(
            "https://contoso.crm.dynamics.com/",
            "contoso.onmicrosoft.com",
            "id",
            Credential::Secret(Secret::new("s")),
        );
        assert_eq!(
            s.token_url().unwrap().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            s.scope().unwrap(),
            "https://contoso.crm.dynamics.com/.default"
        );
        s.tenant_id = "a/b".into();
        assert!(s.token_url().is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        let c = Credential::Secret(s);
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        for retry in 0..40 {
            let d = p.backoff(retry);
            assert!(d <= p.max_delay);
            assert!(d <= p.base_delay.saturating_mul(1 << retry.min(20)));
        }
    }

    #[test]
    fn reads_the_test_certificate() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dataverse/test-app.pem");
        let c = Certificate::from_pem_file(&path, AssertionAlgorithm::Ps256).unwrap();
        assert!(c.der.len() > 500);
        assert!(!format!("{c:?}").contains("PRIVATE"));
        let missing =
            Certificate::from_pem_file(Path::new("/nonexistent.pem"), AssertionAlgorithm::Ps256);
        assert!(missing
            .unwrap_err()
            .to_string()
            .contains("/nonexistent.pem"));
    }
}
