//! The `[dataverse]` section of coupler's configuration file: its keys (serde), the rules that
//! need no network, and its conversion into [`ConnectionSettings`]. The adapter owns it so that
//! every default (page size, retries, timeout, authority) is defined once, here and in
//! [`ConnectionSettings::new`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{
    checked_url, AssertionAlgorithm, Certificate, ConnectionSettings, Credential, RetryPolicy,
    Secret, DEFAULT_AUTHORITY, MAX_PAGE_SIZE,
};
use crate::error::{DataverseError, Result};

/// `[dataverse]`: the environment and the application's credential. The secret itself is
/// never in the file: it comes from an environment variable or a file of its own.
///
/// ```
/// use coupler_dataverse::DataverseSection;
///
/// let section: DataverseSection = toml_like(r#"{
///     "url": "https://contoso.crm.dynamics.com",
///     "tenant_id": "contoso.onmicrosoft.com",
///     "client_id": "00000000-0000-0000-0000-000000000001",
///     "client_secret_env": "COUPLER_CLIENT_SECRET"
/// }"#);
/// section.check().unwrap();
/// assert_eq!(section.page_size(), 5000);
/// # fn toml_like(json: &str) -> DataverseSection { serde_json::from_str(json).unwrap() }
/// ```
#[derive(Debug, Deserialize, Clone)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DataverseSection {
    /// The environment URL, `https://contoso.crm.dynamics.com`.
    pub url: String,
    /// Tenant GUID or domain.
    pub tenant_id: String,
    /// The application (client) id of the app registration.
    pub client_id: String,
    /// The environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// A file whose first line is the client secret (relative to the config's folder).
    pub client_secret_file: Option<PathBuf>,
    /// A PEM file with the certificate and its private key (relative to the config's folder).
    pub certificate: Option<PathBuf>,
    /// `PS256` (default, `x5t#S256`) or `RS256` (`x5t`).
    pub certificate_algorithm: Option<String>,
    /// The token authority (other clouds, or an emulator); default [`DEFAULT_AUTHORITY`].
    pub authority: Option<String>,
    /// BC's local currency code, checked by `connection test`.
    pub local_currency: Option<String>,
    /// BC's strict currency rule: the local currency must be Dataverse's base currency.
    #[serde(default)]
    pub strict_currency: bool,
    /// Retries of one request after 429/5xx/timeouts (default 8).
    pub max_retries: Option<u32>,
    /// First backoff ceiling in milliseconds after a 5xx/timeout; doubles per retry (default 500).
    pub retry_delay_ms: Option<u64>,
    /// Time limit of one request in seconds (default 120).
    pub timeout_secs: Option<u64>,
    /// Rows per page of a whole-table read (default and maximum 5000).
    pub page_size: Option<u32>,
}

impl DataverseSection {
    /// The rules that need no network: HTTPS (or loopback), exactly one credential, a known
    /// algorithm, sane limits.
    pub fn check(&self) -> Result<()> {
        let invalid = |message: String| Err(DataverseError::Settings(message));
        checked_url(&self.url, "url")?;
        if let Some(a) = &self.authority {
            checked_url(a, "authority")?;
        }
        let credentials = [
            self.client_secret_env.is_some(),
            self.client_secret_file.is_some(),
            self.certificate.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if credentials != 1 {
            return invalid("set exactly one credential: client_secret_env = \"VARIABLE\" (the secret is read from that environment variable), client_secret_file = \"path\", or certificate = \"app.pem\"; secrets never go in the config itself".into());
        }
        for (key, path) in [
            ("certificate", &self.certificate),
            ("client_secret_file", &self.client_secret_file),
        ] {
            if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return invalid(format!(
                    "[dataverse] {key} is empty; name the file, e.g. {key} = \"app.pem\""
                ));
            }
        }
        if let Some(alg) = &self.certificate_algorithm {
            if self.certificate.is_none() {
                return invalid("certificate_algorithm applies only with certificate".into());
            }
            if !matches!(alg.as_str(), "PS256" | "RS256") {
                return invalid(format!(
                    "certificate_algorithm = \"{alg}\"; use \"PS256\" (default) or \"RS256\""
                ));
            }
        }
        if let Some(p) = self.page_size {
            if p == 0 || p > MAX_PAGE_SIZE {
                return invalid(format!(
                    "page_size = {p}; Dataverse serves 1 to {MAX_PAGE_SIZE} rows per page"
                ));
            }
        }
        if self.timeout_secs == Some(0) {
            return invalid("timeout_secs must be at least 1".into());
        }
        Ok(())
    }

    /// Rows per page of a whole-table read.
    pub fn page_size(&self) -> u32 {
        self.page_size.unwrap_or(MAX_PAGE_SIZE)
    }

    /// The connection settings; the secret is read now, from the environment variable or the
    /// file the section names (relative paths from `base`, the config's folder).
    pub fn connection_settings(&self, base: &Path) -> Result<ConnectionSettings> {
        let credential = if let Some(var) = &self.client_secret_env {
            Credential::Secret(Secret::from_env(var)?)
        } else if let Some(path) = &self.client_secret_file {
            Credential::Secret(Secret::from_file(&base.join(path))?)
        } else if let Some(path) = &self.certificate {
            let algorithm = match self.certificate_algorithm.as_deref() {
                Some("RS256") => AssertionAlgorithm::Rs256,
                _ => AssertionAlgorithm::Ps256,
            };
            Credential::Certificate(Box::new(Certificate::from_pem_file(
                &base.join(path),
                algorithm,
            )?))
        } else {
            return Err(DataverseError::Settings(
                "[dataverse]: no credential (client_secret_env, client_secret_file or certificate)"
                    .into(),
            ));
        };
        let mut settings = ConnectionSettings::new(
            self.url.clone(),
            self.tenant_id.clone(),
            self.client_id.clone(),
            credential,
        );
        settings.authority = self
            .authority
            .clone()
            .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
        let defaults = RetryPolicy::default();
        settings.retry = RetryPolicy {
            max_retries: self.max_retries.unwrap_or(defaults.max_retries),
            base_delay: self
                .retry_delay_ms
                .map(Duration::from_millis)
                .unwrap_or(defaults.base_delay),
            ..defaults
        };
        if let Some(s) = self.timeout_secs {
            settings.timeout = Duration::from_secs(s);
        }
        settings.page_size = self.page_size();
        Ok(settings)
    }

    /// The environment URL as messages name it (no trailing slash).
    pub fn environment(&self) -> &str {
        self.url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(json: &str) -> DataverseSection {
        serde_json::from_str(json).unwrap()
    }

    const BASE: &str =
        r#""url": "https://contoso.crm.dynamics.com/", "tenant_id": "t", "client_id": "c""#;

    #[test]
    fn exactly_one_credential() {
        let none = section(&format!("{{{BASE}}}"));
        assert!(none
            .check()
            .unwrap_err()
            .to_string()
            .contains("exactly one"));
        let two = section(&format!(
            r#"{{{BASE}, "client_secret_env": "X", "certificate": "a.pem"}}"#
        ));
        assert!(two.check().is_err());
        let one = section(&format!(r#"{{{BASE}, "client_secret_env": "X"}}"#));
        one.check().unwrap();
        assert_eq!(one.environment(), "https://contoso.crm.dynamics.com");
    }

    #[test]
    fn limits_and_defaults() {
        let s = section(&format!(
            r#"{{{BASE}, "client_secret_env": "X", "page_size": 5001}}"#
        ));
        assert!(s
            .check()
            .unwrap_err()
            .to_string()
            .contains("page_size = 5001"));
        let s = section(&format!(
            r#"{{{BASE}, "client_secret_env": "COUPLER_TEST_SECTION_UNSET_VARIABLE"}}"#
        ));
        assert_eq!(s.page_size(), MAX_PAGE_SIZE);
        let e = s.connection_settings(Path::new(".")).unwrap_err();
        assert!(matches!(e, DataverseError::SecretMissing { .. }), "{e}");
    }
}
