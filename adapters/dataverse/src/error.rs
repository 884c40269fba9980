//! The client's one error type. Every variant that comes from a request names the request
//! (method and path, never a token or secret), and API errors carry the HTTP status and
//! Dataverse's own `error.code` and message.

use std::path::PathBuf;

/// What went wrong talking to Dataverse (or its token endpoint).
#[derive(Debug, thiserror::Error)]
pub enum DataverseError {
    /// The connection settings cannot work (bad URL, plain HTTP to a remote host, …).
    #[error("{0}")]
    Settings(String),

    /// The client secret's environment variable is not set or empty.
    #[error("the client secret is not available: environment variable {var} is not set (client_secret_env in [dataverse])")]
    SecretMissing { var: String },

    /// A secret or certificate file cannot be read or used.
    #[error("{}: {message}", path.display())]
    CredentialFile { path: PathBuf, message: String },

    /// The token endpoint refused the credentials (Entra's `error` and description).
    #[error("the token request to {token_url} was refused ({status}): {error}: {description}")]
    TokenRefused {
        token_url: String,
        status: u16,
        error: String,
        description: String,
    },

    /// Dataverse rejected the token even after one renewal.
    #[error("{request}: Dataverse rejected the access token (HTTP 401) even after it was renewed; check that the application user exists in the environment")]
    Unauthorized { request: String },

    /// The environment is in administration mode and the application user is not an
    /// administrator. Never retried.
    #[error("The Dataverse environment is in administration mode: {message} Turn administration mode off (Power Platform admin center) or use an application user with the System Administrator role")]
    AdministrationMode { message: String },

    /// Dataverse answered with an error status.
    #[error("{request}: HTTP {status}{}: {message}", code_suffix(code))]
    Api {
        request: String,
        status: u16,
        code: String,
        message: String,
    },

    /// A transient failure (429, 5xx, timeout, dropped connection) outlasted the retry budget.
    #[error("{request}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        request: String,
        attempts: u32,
        last: String,
    },

    /// The response could not be understood.
    #[error("{request}: unexpected response: {message}")]
    Decode { request: String, message: String },

    /// A value read from Dataverse does not fit the engine's table.
    #[error("{request}: {message}")]
    Table { request: String, message: String },
}

fn code_suffix(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(" ({code})")
    }
}

impl DataverseError {
    /// The HTTP status, when the error is an answer from Dataverse.
    pub fn status(&self) -> Option<u16> {
        match self {
            DataverseError::Api { status, .. } | DataverseError::TokenRefused { status, .. } => {
                Some(*status)
            }
            DataverseError::Unauthorized { .. } => Some(401),
            DataverseError::AdministrationMode { .. } => Some(403),
            _ => None,
        }
    }

    /// Dataverse's `error.code` (e.g. `0x80060888`), when there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            DataverseError::Api { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }
}

pub type Result<T, E = DataverseError> = std::result::Result<T, E>;
