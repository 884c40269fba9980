//! The certificate file of the client-assertion grant: one PEM file with the certificate (or a
//! chain: leaf and intermediates, in any order) and the leaf's unencrypted RSA private key.
//!
//! Every check that Entra ID would otherwise answer with a bare "invalid signature" is made
//! here, with a message that says what is wrong with the file: a key that is not RSA (named:
//! EC P-256, Ed25519, …), an encrypted key (PKCS#8 or traditional `Proc-Type: 4,ENCRYPTED`),
//! a key that belongs to none of the certificates (their subjects and thumbprints are listed).
//! Messages never show key material.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::der::asn1::{AnyRef, ContextSpecific, ObjectIdentifier, OctetStringRef};
use rsa::pkcs8::der::zeroize::Zeroizing;
use rsa::pkcs8::der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
use rsa::pkcs8::{PrivateKeyInfo, SubjectPublicKeyInfoRef};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha1::Digest as _;

use super::AssertionAlgorithm;
use crate::error::{DataverseError, Result};

/// A certificate and its private key, for the client-assertion grant.
#[derive(Clone)]
pub struct Certificate {
    /// The DER of the certificate the key belongs to (whose thumbprint the assertion sends).
    pub(crate) der: Vec<u8>,
    pub(crate) key: RsaPrivateKey,
    pub(crate) algorithm: AssertionAlgorithm,
    path: PathBuf,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("path", &self.path)
            .field("thumbprint", &self.thumbprint())
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

const ENCRYPTED: &str = "the private key is encrypted (password-protected); coupler reads only unencrypted keys: export it without a password (for example `openssl pkey -in key.pem -out plain-key.pem`) and protect the file instead";

impl Certificate {
    /// Reads a PEM file holding the certificate and its RSA private key (PKCS#8 or PKCS#1,
    /// unencrypted), in any order. With several certificates (a chain), the one whose public
    /// key is the key's is used; the others are ignored.
    pub fn from_pem_file(path: &Path, algorithm: AssertionAlgorithm) -> Result<Certificate> {
        let fail = |message: String| DataverseError::CredentialFile {
            path: path.to_path_buf(),
            message,
        };
        if path.as_os_str().is_empty() {
            return Err(DataverseError::Settings(
                "the certificate setting is empty (certificate = \"\" in [dataverse]); set it to the PEM file that holds the certificate and its private key".into(),
            ));
        }
        if ends_with_separator(path) {
            // `certificate = ""` joined to the config's folder ends up here.
            return Err(fail(
                "the certificate setting is empty or ends in a folder separator (certificate in [dataverse]); set it to the PEM file that holds the certificate and its private key".into(),
            ));
        }
        if path.is_dir() {
            return Err(fail(
                "is a folder, not a PEM file; set certificate in [dataverse] to the PEM file that holds the certificate and its private key".into(),
            ));
        }
        let bytes = Zeroizing::new(
            std::fs::read(path)
                .map_err(|e| fail(format!("cannot read the certificate file: {e}")))?,
        );
        let text = std::str::from_utf8(&bytes)
            .ok()
            .filter(|t| t.contains("-----BEGIN "));
        let Some(text) = text else {
            return Err(fail(
                "is not a PEM file (no -----BEGIN line); a .pfx/.p12 file can be converted with `openssl pkcs12 -in app.pfx -nodes -out app.pem`".into(),
            ));
        };
        let (der, key) = read_pem(text).map_err(fail)?;
        Ok(Certificate {
            der,
            key,
            algorithm,
            path: path.to_path_buf(),
        })
    }

    /// The SHA-1 thumbprint of the certificate in use, upper-case hex: what the Azure portal
    /// lists under the app registration's certificates.
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.der)
    }
}

fn ends_with_separator(path: &Path) -> bool {
    path.as_os_str()
        .to_string_lossy()
        .ends_with(std::path::is_separator)
}

/// The certificate's DER and the key, from the file's text; the error is the message.
fn read_pem(text: &str) -> Result<(Vec<u8>, RsaPrivateKey), String> {
    let blocks = pem_blocks(text)?;
    let mut certs = Vec::new();
    for (n, block) in blocks
        .iter()
        .filter(|b| b.label == "CERTIFICATE")
        .enumerate()
    {
        // A certificate is public: no need to wipe it.
        let der = base64_body(block)
            .map_err(|e| format!("certificate {} in the file is not valid base64: {e}", n + 1))?
            .to_vec();
        let info = CertInfo::parse(&der).map_err(|e| {
            format!(
                "certificate {} in the file is not a valid X.509 certificate: {e}",
                n + 1
            )
        })?;
        certs.push((der, info));
    }
    if certs.is_empty() {
        return Err(
            "no -----BEGIN CERTIFICATE----- block; the file must hold the certificate and its private key".into(),
        );
    }
    let keys: Vec<&PemBlock> = blocks
        .iter()
        .filter(|b| b.label.ends_with("PRIVATE KEY"))
        .collect();
    let key = match keys.as_slice() {
        [] => {
            return Err(
                "no private key block (-----BEGIN PRIVATE KEY----- or RSA PRIVATE KEY); the file must hold the certificate and its private key".into(),
            )
        }
        [key] => read_key(key)?,
        more => {
            return Err(format!(
                "the file holds {} private keys; keep only the key of the certificate",
                more.len()
            ))
        }
    };
    let public = key.to_public_key();
    if let Some(index) = certs
        .iter()
        .position(|(_, info)| info.rsa.as_ref() == Some(&public))
    {
        return Ok((certs.swap_remove(index).0, key));
    }
    let listed: Vec<String> = certs.iter().map(|(der, info)| info.describe(der)).collect();
    Err(match listed.as_slice() {
        [one] => format!(
            "the private key does not belong to the certificate ({one}); put the certificate's own key in the file"
        ),
        _ => format!(
            "the private key does not belong to any of the {} certificates in the file ({}); add the certificate of the key",
            listed.len(),
            listed.join("; ")
        ),
    })
}

/// What coupler needs to know about one certificate.
struct CertInfo {
    /// The last common name of the subject.
    common_name: Option<String>,
    /// The public key if it is RSA.
    rsa: Option<RsaPublicKey>,
    /// The key type if it is not RSA ("an EC P-256 key").
    other_key: Option<String>,
}

impl CertInfo {
    /// Reads the subject and SubjectPublicKeyInfo of a DER certificate (RFC 5280 §4.1).
    fn parse(der: &[u8]) -> Result<CertInfo, String> {
        let cert = AnyRef::from_der(der).map_err(|e| e.to_string())?;
        let (subject, spki) = cert
            .sequence(|cert| {
                let tbs: AnyRef = cert.decode()?;
                let _signature_algorithm: AnyRef = cert.decode()?;
                let _signature: AnyRef = cert.decode()?;
                tbs.sequence(|tbs| {
                    let _version = ContextSpecific::<AnyRef>::decode_explicit(tbs, TagNumber::N0)?;
                    let _serial: AnyRef = tbs.decode()?;
                    let _signature: AnyRef = tbs.decode()?;
                    let _issuer: AnyRef = tbs.decode()?;
                    let _validity: AnyRef = tbs.decode()?;
                    let subject: AnyRef = tbs.decode()?;
                    let spki: SubjectPublicKeyInfoRef = tbs.decode()?;
                    // Unique ids and extensions are not needed.
                    tbs.read_slice(tbs.remaining_len())?;
                    Ok((subject, spki))
                })
            })
            .map_err(|e| e.to_string())?;
        let (rsa, other_key) = if spki.algorithm.oid == RSA_ENCRYPTION {
            let key = RsaPublicKey::try_from(spki)
                .map_err(|e| format!("its RSA public key cannot be read: {e}"))?;
            (Some(key), None)
        } else {
            let curve = spki.algorithm.parameters_oid().ok();
            (None, Some(key_kind(spki.algorithm.oid, curve)))
        };
        Ok(CertInfo {
            common_name: common_name(subject),
            rsa,
            other_key,
        })
    }

    /// "subject CN=app, thumbprint 0A1B…" (and the key type if it is not RSA).
    fn describe(&self, der: &[u8]) -> String {
        let mut text = String::new();
        if let Some(cn) = &self.common_name {
            text.push_str(&format!("subject CN={cn}, "));
        }
        text.push_str(&format!("thumbprint {}", thumbprint(der)));
        if let Some(kind) = &self.other_key {
            text.push_str(&format!(", {kind}"));
        } else if let Some(key) = &self.rsa {
            text.push_str(&format!(", RSA {} bits", key.size() * 8));
        }
        text
    }
}

/// The last CN of a Name (SEQUENCE OF SET OF AttributeTypeAndValue), if it is a plain string.
fn common_name(name: AnyRef<'_>) -> Option<String> {
    const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
    let mut found = None;
    name.sequence(|rdns| {
        while !rdns.is_finished() {
            let rdn: AnyRef = rdns.decode()?;
            let mut set = SliceReader::new(rdn.value())?;
            while !set.is_finished() {
                let atv: AnyRef = set.decode()?;
                atv.sequence(|atv| {
                    let oid: ObjectIdentifier = atv.decode()?;
                    let value: AnyRef = atv.decode()?;
                    let text = matches!(
                        value.tag(),
                        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String
                    );
                    if oid == CN && text {
                        found = std::str::from_utf8(value.value()).ok().map(str::to_string);
                    }
                    Ok(())
                })?;
            }
        }
        Ok(())
    })
    .ok()?;
    found
}

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// "an EC P-256 key", "an Ed25519 key", … from the algorithm OID (and the curve of an EC key).
fn key_kind(algorithm: ObjectIdentifier, curve: Option<ObjectIdentifier>) -> String {
    let named = match algorithm.to_string().as_str() {
        "1.2.840.10045.2.1" => {
            return match curve.map(|c| c.to_string()).as_deref() {
                Some("1.2.840.10045.3.1.7") => "an EC P-256 key".into(),
                Some("1.3.132.0.34") => "an EC P-384 key".into(),
                Some("1.3.132.0.35") => "an EC P-521 key".into(),
                Some("1.3.132.0.10") => "an EC secp256k1 key".into(),
                Some(other) => format!("an EC key (curve OID {other})"),
                None => "an EC key".into(),
            };
        }
        "1.3.101.112" => "an Ed25519",
        "1.3.101.113" => "an Ed448",
        "1.3.101.110" => "an X25519",
        "1.3.101.111" => "an X448",
        "1.2.840.10040.4.1" => "a DSA",
        "1.2.840.10046.2.1" | "1.2.840.113549.1.3.1" => "a Diffie-Hellman",
        "1.2.840.113549.1.1.10" => "an RSA-PSS-only (id-RSASSA-PSS)",
        other => return format!("a key of algorithm OID {other}"),
    };
    format!("{named} key")
}

fn not_rsa(kind: &str) -> String {
    format!(
        "the private key is {kind}, but an RSA key is required: Entra ID certificate credentials for this client are signed with RSA (PS256 or RS256); create the certificate with an RSA key (for example `openssl req -x509 -newkey rsa:2048 -nodes …`)"
    )
}

/// The RSA key of a key block, or why it cannot be used.
fn read_key(block: &PemBlock<'_>) -> Result<RsaPrivateKey, String> {
    match block.label {
        "RSA PRIVATE KEY" | "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {}
        "EC PRIVATE KEY" => {
            let curve = if block.encrypted {
                None
            } else {
                base64_body(block).ok().and_then(|der| sec1_curve(&der))
            };
            return Err(not_rsa(&key_kind(EC_PUBLIC_KEY, curve)));
        }
        "DSA PRIVATE KEY" => return Err(not_rsa("a DSA key")),
        "OPENSSH PRIVATE KEY" => {
            return Err(
                "the private key is in OpenSSH's format; export it as PEM (`-----BEGIN PRIVATE KEY-----`, for example with `openssl pkey`)".into(),
            )
        }
        other => return Err(format!("unsupported private key block -----BEGIN {other}-----; use -----BEGIN PRIVATE KEY----- (PKCS#8) or RSA PRIVATE KEY (PKCS#1)")),
    }
    if block.encrypted || block.label == "ENCRYPTED PRIVATE KEY" {
        return Err(ENCRYPTED.into());
    }
    // The decoder's error would quote a character of the key: it is left out.
    let der = base64_body(block).map_err(|_| "the private key block is not valid base64")?;
    if block.label == "RSA PRIVATE KEY" {
        return RsaPrivateKey::from_pkcs1_der(&der)
            .map_err(|e| format!("the RSA private key cannot be read: {e}"));
    }
    let info = PrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| format!("the private key cannot be read: {e}"))?;
    if info.algorithm.oid != RSA_ENCRYPTION {
        let curve = info.algorithm.parameters_oid().ok();
        return Err(not_rsa(&key_kind(info.algorithm.oid, curve)));
    }
    RsaPrivateKey::try_from(info).map_err(|e| format!("the RSA private key cannot be read: {e}"))
}

/// The named curve of a SEC 1 `ECPrivateKey` (RFC 5915): `parameters [0]` after the version
/// and the private key octets.
fn sec1_curve(der: &[u8]) -> Option<ObjectIdentifier> {
    AnyRef::from_der(der)
        .ok()?
        .sequence(|r| {
            let _version: u8 = r.decode()?;
            let _key: OctetStringRef = r.decode()?;
            let curve = ContextSpecific::<ObjectIdentifier>::decode_explicit(r, TagNumber::N0)?;
            r.read_slice(r.remaining_len())?;
            Ok(curve.map(|c| c.value))
        })
        .ok()
        .flatten()
}

/// One `-----BEGIN label-----` … `-----END label-----` block.
struct PemBlock<'a> {
    label: &'a str,
    /// `Proc-Type: 4,ENCRYPTED` among the RFC 1421 headers (an encrypted traditional key).
    encrypted: bool,
    /// The lines after the headers.
    body: &'a str,
}

/// Every PEM block of the text, in order; text between blocks is ignored.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock<'_>>, String> {
    const BEGIN: &str = "-----BEGIN ";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let Some(label_end) = after.find("-----") else {
            return Err("a -----BEGIN line is not closed with -----".into());
        };
        let label = &after[..label_end];
        if label.contains(['\n', '\r']) {
            return Err("a -----BEGIN line is not closed with -----".into());
        }
        let inner = &after[label_end + 5..];
        let end = format!("-----END {label}-----");
        let Some(stop) = inner.find(&end) else {
            return Err(format!(
                "the -----BEGIN {label}----- block has no {end} line"
            ));
        };
        let content = &inner[..stop];
        rest = &inner[stop + end.len()..];
        // RFC 1421 headers ("Name: value" lines, then a blank line) may precede the body;
        // base64 has no ':', so a line with one is a header.
        let mut encrypted = false;
        let mut in_headers = false;
        let mut offset = 0;
        for line in content.split_inclusive('\n') {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                offset += line.len();
                if in_headers {
                    break;
                }
            } else if let Some((name, value)) = trimmed.split_once(':') {
                in_headers = true;
                offset += line.len();
                if name.trim().eq_ignore_ascii_case("Proc-Type")
                    && value.to_ascii_uppercase().contains("ENCRYPTED")
                {
                    encrypted = true;
                }
            } else if in_headers && line.starts_with([' ', '\t']) {
                // A folded header line.
                offset += line.len();
            } else {
                break;
            }
        }
        let body = &content[offset..];
        blocks.push(PemBlock {
            label,
            encrypted,
            body,
        });
    }
    Ok(blocks)
}

fn base64_body(block: &PemBlock<'_>) -> Result<Zeroizing<Vec<u8>>, base64::DecodeError> {
    let compact: Zeroizing<String> =
        Zeroizing::new(block.body.chars().filter(|c| !c.is_whitespace()).collect());
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map(Zeroizing::new)
}

/// SHA-1 of the DER, upper-case hex.
fn thumbprint(der: &[u8]) -> String {
    sha1::Sha1::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}
