//! Errors raised while configuring or starting the emulator (not HTTP errors: those are
//! `ApiError` values (module `response`) turned into Dataverse-shaped responses).

use std::path::PathBuf;

/// Why the emulator could not be configured, started or driven.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A file named by the configuration could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The configuration is malformed or inconsistent.
    #[error("invalid emulator configuration: {0}")]
    Config(String),
    /// A client names a `secret_env` variable that is not set.
    #[error(
        "client {client_id}: environment variable {var} is not set (it holds the client secret; \
         for the demo run `export {var}=demo-secret-not-for-production`)"
    )]
    SecretEnvMissing {
        /// The client whose secret is missing.
        client_id: String,
        /// The variable's name.
        var: String,
    },
    /// A table's CSV or its column types are invalid.
    #[error("table {table}: {message}")]
    Table {
        /// The table's logical name.
        table: String,
        /// What is wrong.
        message: String,
    },
    /// A client's certificate file is not a usable PEM RSA certificate.
    #[error("certificate {path}: {message}")]
    Certificate {
        /// The PEM file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A test-setup call named an entity set the emulator does not serve.
    #[error("unknown entity set '{0}'")]
    UnknownEntitySet(String),
    /// A test-setup row could not be stored.
    #[error("invalid row for {table}: {message}")]
    InvalidRow {
        /// The table's logical name.
        table: String,
        /// What is wrong.
        message: String,
    },
}
