//! Client-assertion JWTs: the registered certificate (thumbprints and RSA public key from the
//! PEM's CERTIFICATE block) and the checks Entra ID makes on an assertion — header algorithm
//! and thumbprint, RS256 (PKCS#1 v1.5) or PS256 (PSS, salt 32) signature, `aud`, `iss`/`sub`,
//! `exp`/`nbf` (5 minutes' skew) and `jti`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::der::{Decode, Encode};

/// Allowed clock skew for `exp` and `nbf`, in seconds.
const SKEW_SECS: i64 = 300;

/// A registered certificate.
#[derive(Debug, Clone)]
pub(crate) struct RegisteredCert {
    /// base64url SHA-1 of the DER (`x5t`).
    pub x5t: String,
    /// base64url SHA-256 of the DER (`x5t#S256`).
    pub x5t_s256: String,
    key: RsaPublicKey,
}

/// Reads the first CERTIFICATE block of a PEM text (other blocks are ignored).
pub(crate) fn load_certificate(pem: &str) -> Result<RegisteredCert, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem.find(BEGIN).ok_or("no CERTIFICATE block")? + BEGIN.len();
    let end = pem[start..]
        .find(END)
        .ok_or("unterminated CERTIFICATE block")?
        + start;
    let b64: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|e| format!("bad base64 in CERTIFICATE block: {e}"))?;
    let cert =
        x509_cert::Certificate::from_der(&der).map_err(|e| format!("bad certificate: {e}"))?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("bad public key: {e}"))?;
    let key = RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| format!("not an RSA public key: {e}"))?;
    Ok(RegisteredCert {
        x5t: URL_SAFE_NO_PAD.encode(Sha1::digest(&der)),
        x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&der)),
        key,
    })
}

/// Why an assertion was refused: an AADSTS code and its description.
#[derive(Debug, Clone)]
pub(crate) struct AssertionError {
    pub code: u32,
    pub description: String,
}

fn refuse(code: u32, description: impl Into<String>) -> AssertionError {
    AssertionError {
        code,
        description: description.into(),
    }
}

fn decode_part(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()
}

/// Verifies a client assertion for `client_id`. `audiences` are the accepted token URLs.
pub(crate) fn verify_assertion(
    jwt: &str,
    client_id: &str,
    cert: Option<&RegisteredCert>,
    audiences: &[String],
    now: i64,
) -> Result<(), AssertionError> {
    let malformed = || refuse(50027, "JWT token is invalid or malformed.");
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let header: serde_json::Value =
        serde_json::from_slice(&decode_part(h).ok_or_else(malformed)?).map_err(|_| malformed())?;
    let claims: serde_json::Value =
        serde_json::from_slice(&decode_part(p).ok_or_else(malformed)?).map_err(|_| malformed())?;
    let signature = decode_part(s).ok_or_else(malformed)?;
    let Some(cert) = cert else {
        return Err(refuse(
            700027,
            "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: 'unknown']",
        ));
    };
    let alg = header["alg"].as_str().unwrap_or("");
    let (thumbprint, expected) = match alg {
        "RS256" => (header["x5t"].as_str(), &cert.x5t),
        "PS256" => (header["x5t#S256"].as_str(), &cert.x5t_s256),
        other => {
            return Err(refuse(
                5002738,
                format!("Invalid JWT token. '{other}' is not a supported signature algorithm. Supported signing algorithms are: 'RS256, PS256'"),
            ))
        }
    };
    if thumbprint != Some(expected.as_str()) {
        return Err(refuse(
            700027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}']",
                thumbprint.unwrap_or("")
            ),
        ));
    }
    let signed = &jwt.as_bytes()[..h.len() + 1 + p.len()];
    let verified = match alg {
        "RS256" => rsa::pkcs1v15::Signature::try_from(signature.as_slice())
            .map_err(|_| ())
            .and_then(|sig| {
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(cert.key.clone())
                    .verify(signed, &sig)
                    .map_err(|_| ())
            }),
        _ => rsa::pss::Signature::try_from(signature.as_slice())
            .map_err(|_| ())
            .and_then(|sig| {
                rsa::pss::VerifyingKey::<Sha256>::new(cert.key.clone())
                    .verify(signed, &sig)
                    .map_err(|_| ())
            }),
    };
    if verified.is_err() {
        return Err(refuse(
            700027,
            "Client assertion failed signature validation.",
        ));
    }
    let aud = claims["aud"].as_str().unwrap_or("");
    if !audiences.iter().any(|a| a == aud) {
        return Err(refuse(
            700212,
            format!(
                "No matching federated identity record found for presented assertion audience '{aud}'. The expected audience is '{}'.",
                audiences.first().map(String::as_str).unwrap_or("")
            ),
        ));
    }
    if claims["iss"].as_str() != Some(client_id) || claims["sub"].as_str() != Some(client_id) {
        return Err(refuse(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        ));
    }
    let exp = claims["exp"].as_i64();
    let nbf = claims["nbf"].as_i64();
    let in_range =
        exp.is_some_and(|e| e + SKEW_SECS > now) && nbf.is_none_or(|n| n - SKEW_SECS <= now);
    if !in_range {
        return Err(refuse(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}.",
                crate::types::format_utc(now),
                nbf.map(crate::types::format_utc).unwrap_or_default(),
                exp.map(crate::types::format_utc).unwrap_or_default()
            ),
        ));
    }
    if claims["jti"].as_str().is_none_or(str::is_empty) {
        return Err(refuse(
            50027,
            "JWT token is invalid or malformed. The 'jti' claim is missing.",
        ));
    }
    Ok(())
}
