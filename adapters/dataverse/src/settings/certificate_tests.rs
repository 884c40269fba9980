//! Certificate files for the client-assertion grant: the key type, encryption, the pairing of
//! key and certificate, chains in any order, and an empty setting. The fixtures were made with
//! OpenSSL (see `tests/fixtures/certificates/README.md`).

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rsa::signature::Verifier;
use sha1::Digest as _;

use super::{AssertionAlgorithm, Certificate};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/certificates")
        .join(name)
}

fn app_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dataverse")
        .join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// The PEM blocks of `text` whose label is `label`, markers included, in file order.
fn blocks(text: &str, label: &str) -> Vec<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let stop = rest[start..].find(&end).unwrap() + start + end.len();
        out.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    out
}

fn der_of(cert_block: &str) -> Vec<u8> {
    let body: String = cert_block
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body).unwrap()
}

fn sha1_hex(der: &[u8]) -> String {
    sha1::Sha1::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

fn write(dir: &Path, name: &str, parts: &[&str]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, parts.concat()).unwrap();
    path
}

fn load(path: &Path) -> Result<Certificate, String> {
    Certificate::from_pem_file(path, AssertionAlgorithm::Ps256).map_err(|e| e.to_string())
}

fn load_err(path: &Path) -> String {
    match load(path) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e,
    }
}

/// No message may show key material: no PEM marker of a key, no line of its base64 body.
fn assert_no_key_material(message: &str, file: &str) {
    assert!(!message.contains("PRIVATE KEY-----"), "{message}");
    for label in [
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
    ] {
        for block in blocks(file, label) {
            for line in block.lines().filter(|l| l.len() > 16 && !l.contains(':')) {
                assert!(!message.contains(line), "{message}");
            }
        }
    }
}

#[test]
fn ec_keys_are_refused_naming_the_key_type() {
    for (file, kind) in [
        ("ec-p256-sec1.pem", "EC P-256"),
        ("ec-p384-pkcs8.pem", "EC P-384"),
        ("ed25519.pem", "Ed25519"),
    ] {
        let path = fixture(file);
        let e = load_err(&path);
        assert!(e.contains(&format!("is an {kind} key")), "{file}: {e}");
        assert!(e.contains("an RSA key is required"), "{file}: {e}");
        assert!(!e.contains("OID 1.2.840.113549"), "{file}: {e}");
        assert!(!e.contains("no private key block"), "{file}: {e}");
        assert!(e.starts_with(&path.display().to_string()), "{file}: {e}");
        assert_no_key_material(&e, &read(&path));
    }
}

#[test]
fn encrypted_keys_are_reported_as_encrypted_in_both_pem_forms() {
    let traditional = fixture("rsa-encrypted-traditional.pem");
    let pkcs8 = fixture("rsa-encrypted-pkcs8.pem");
    assert!(read(&traditional).contains("Proc-Type: 4,ENCRYPTED"));
    let e1 = load_err(&traditional);
    let e2 = load_err(&pkcs8);
    assert!(e1.contains("the private key is encrypted"), "{e1}");
    // The same advice for both forms.
    assert_eq!(
        e1.strip_prefix(&traditional.display().to_string()),
        e2.strip_prefix(&pkcs8.display().to_string()),
    );
    assert_no_key_material(&e1, &read(&traditional));
    assert_no_key_material(&e2, &read(&pkcs8));
}

#[test]
fn a_key_of_another_certificate_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let app = read(&app_fixture("test-app.pem"));
    let other = read(&app_fixture("test-other-app.pem"));
    let app_cert = &blocks(&app, "CERTIFICATE")[0];
    let other_key = &blocks(&other, "PRIVATE KEY")[0];
    let thumbprint = sha1_hex(&der_of(app_cert));
    for (name, parts) in [
        ("cert-first.pem", [app_cert.as_str(), other_key.as_str()]),
        ("key-first.pem", [other_key.as_str(), app_cert.as_str()]),
    ] {
        let path = write(dir.path(), name, &parts);
        let e = load_err(&path);
        assert!(
            e.contains("the private key does not belong to the certificate"),
            "{e}"
        );
        assert!(e.contains(&format!("thumbprint {thumbprint}")), "{e}");
        assert_no_key_material(&e, &parts.concat());
    }
    // Each file on its own is fine.
    load(&app_fixture("test-app.pem")).unwrap();
    load(&app_fixture("test-other-app.pem")).unwrap();
}

/// A chain file (leaf, intermediate and root certificates, and the leaf's key) in every order:
/// the leaf is the certificate whose thumbprint the assertion sends, and the assertion verifies
/// with the leaf's public key.
#[test]
fn the_certificate_of_the_key_is_picked_from_a_chain_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let leaf_file = read(&fixture("chain-leaf.pem"));
    let leaf = blocks(&leaf_file, "CERTIFICATE").remove(0);
    let key = blocks(&leaf_file, "RSA PRIVATE KEY").remove(0);
    let intermediate = read(&fixture("chain-intermediate-ca.pem"));
    let root = read(&fixture("chain-root-ca.pem"));
    let leaf_der = der_of(&leaf);
    let certs = [leaf.as_str(), intermediate.as_str(), root.as_str()];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (n, order) in orders.iter().enumerate() {
        for key_first in [false, true] {
            let mut parts: Vec<&str> = order.iter().map(|&i| certs[i]).collect();
            if key_first {
                parts.insert(0, &key);
            } else {
                parts.push(&key);
            }
            let path = write(dir.path(), &format!("chain-{n}-{key_first}.pem"), &parts);
            let c = load(&path).unwrap_or_else(|e| panic!("{order:?}: {e}"));
            assert_eq!(
                c.thumbprint(),
                sha1_hex(&leaf_der),
                "{order:?} key_first={key_first}"
            );
            assert_eq!(c.der, leaf_der);
        }
    }

    // The thumbprints sent are the leaf's, and the signature verifies with its public key.
    let path = write(
        dir.path(),
        "root-first.pem",
        &[&root, &intermediate, &key, &leaf],
    );
    let ps = Certificate::from_pem_file(&path, AssertionAlgorithm::Ps256).unwrap();
    let jwt = crate::auth::client_assertion(&ps, "app", "aud", 1).unwrap();
    let (input, sig) = jwt.rsplit_once('.').unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(input.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header["x5t#S256"],
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&leaf_der))
    );
    let leaf_public = leaf_public_key();
    let verifier = rsa::pss::VerifyingKey::<sha2::Sha256>::new(leaf_public.clone());
    let sig =
        rsa::pss::Signature::try_from(URL_SAFE_NO_PAD.decode(sig).unwrap().as_slice()).unwrap();
    verifier.verify(input.as_bytes(), &sig).unwrap();

    let rs = Certificate::from_pem_file(&path, AssertionAlgorithm::Rs256).unwrap();
    let jwt = crate::auth::client_assertion(&rs, "app", "aud", 1).unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header["x5t"],
        URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&leaf_der))
    );
}

/// The leaf certificate's public key as OpenSSL printed it (`openssl x509 -pubkey`), so the
/// check does not depend on the certificate parsing under test.
fn leaf_public_key() -> rsa::RsaPublicKey {
    use rsa::pkcs8::DecodePublicKey;
    rsa::RsaPublicKey::from_public_key_pem(&read(&fixture("chain-leaf-public-key.pem"))).unwrap()
}

#[test]
fn a_chain_without_the_keys_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let leaf_file = read(&fixture("chain-leaf.pem"));
    let key = blocks(&leaf_file, "RSA PRIVATE KEY").remove(0);
    let intermediate = read(&fixture("chain-intermediate-ca.pem"));
    let root = read(&fixture("chain-root-ca.pem"));
    let path = write(dir.path(), "no-leaf.pem", &[&intermediate, &root, &key]);
    let e = load_err(&path);
    assert!(
        e.contains("the private key does not belong to any of the 2 certificates"),
        "{e}"
    );
    for cert in [&intermediate, &root] {
        let thumbprint = sha1_hex(&der_of(cert));
        assert!(e.contains(&thumbprint), "{e}");
    }
    assert!(e.contains("CN=coupler-test-intermediate-ca"), "{e}");
    assert_no_key_material(&e, &key);
}

#[test]
fn an_empty_setting_is_not_reported_as_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    // `certificate = ""` joined to the config's folder, and on its own (config in the
    // working directory).
    for path in [dir.path().join(""), PathBuf::new()] {
        let e = load_err(&path);
        assert!(
            e.contains("the certificate setting is empty"),
            "{path:?}: {e}"
        );
        assert!(!e.contains("directory"), "{path:?}: {e}");
    }
    // A folder named explicitly is called a folder.
    let e = load_err(dir.path());
    assert!(e.contains("is a folder, not a PEM file"), "{e}");
}

#[test]
fn no_key_or_no_certificate_is_said_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let app = read(&app_fixture("test-app.pem"));
    let cert = &blocks(&app, "CERTIFICATE")[0];
    let key = &blocks(&app, "PRIVATE KEY")[0];
    let e = load_err(&write(dir.path(), "cert-only.pem", &[cert]));
    assert!(e.contains("no private key"), "{e}");
    let e = load_err(&write(dir.path(), "key-only.pem", &[key]));
    assert!(e.contains("no -----BEGIN CERTIFICATE----- block"), "{e}");
    assert_no_key_material(&e, key);
    let e = load_err(&write(dir.path(), "two-keys.pem", &[cert, key, key]));
    assert!(e.contains("2 private keys"), "{e}");
    assert_no_key_material(&e, key);
}

#[test]
fn a_key_next_to_a_certificate_of_another_key_type_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let ec = read(&fixture("ec-p256-sec1.pem"));
    let ec_cert = &blocks(&ec, "CERTIFICATE")[0];
    let rsa_key = &blocks(&read(&app_fixture("test-app.pem")), "PRIVATE KEY")[0];
    let e = load_err(&write(dir.path(), "mixed.pem", &[ec_cert, rsa_key]));
    assert!(
        e.contains(
            "the private key does not belong to the certificate (subject CN=coupler-test-ec-p256"
        ),
        "{e}"
    );
    assert!(e.contains("an EC P-256 key"), "{e}");
    assert_no_key_material(&e, rsa_key);
}

/// What `openssl pkcs12 -in app.pfx -nodes -out app.pem` writes: "Bag Attributes" text before
/// each block, leaf and intermediate certificates, the key as PKCS#8.
#[test]
fn a_pfx_converted_by_openssl_is_read() {
    let path = fixture("chain-from-pfx.pem");
    assert!(read(&path).starts_with("Bag Attributes"));
    let c = load(&path).unwrap();
    let leaf = blocks(&read(&fixture("chain-leaf.pem")), "CERTIFICATE").remove(0);
    assert_eq!(c.thumbprint(), sha1_hex(&der_of(&leaf)));
    // The Debug output shows the thumbprint, never the key.
    let debug = format!("{c:?}");
    assert!(debug.contains(&c.thumbprint()), "{debug}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
}

#[test]
fn windows_line_endings_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let crlf = |text: String| text.replace('\n', "\r\n");
    let app = crlf(read(&app_fixture("test-app.pem")));
    load(&write(dir.path(), "app.pem", &[&app])).unwrap();
    let chain = crlf(read(&fixture("chain-leaf.pem")));
    load(&write(dir.path(), "leaf.pem", &[&chain])).unwrap();
    let encrypted = crlf(read(&fixture("rsa-encrypted-traditional.pem")));
    let e = load_err(&write(dir.path(), "encrypted.pem", &[&encrypted]));
    assert!(e.contains("the private key is encrypted"), "{e}");
}

#[test]
fn a_file_that_is_not_pem_is_said_to_be_not_pem() {
    let dir = tempfile::tempdir().unwrap();
    // The DER of a certificate, as a .cer/.pfx export would be: binary, no PEM markers.
    let leaf = blocks(&read(&fixture("chain-leaf.pem")), "CERTIFICATE").remove(0);
    let path = dir.path().join("app.pfx");
    std::fs::write(&path, der_of(&leaf)).unwrap();
    let e = load_err(&path);
    assert!(e.contains("is not a PEM file"), "{e}");
    assert!(e.contains("openssl pkcs12"), "{e}");
    // A block that is cut short.
    let cut = &leaf[..leaf.find("-----END").unwrap()];
    let e = load_err(&write(dir.path(), "cut.pem", &[cut]));
    assert!(
        e.contains("-----BEGIN CERTIFICATE----- block has no -----END CERTIFICATE----- line"),
        "{e}"
    );
}
