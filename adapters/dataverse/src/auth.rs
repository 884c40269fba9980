//! Access tokens by the OAuth 2.0 client-credentials grant (Microsoft Entra ID), with a client
//! secret or a certificate-signed client assertion (JWT, RS256 + `x5t` or PS256 + `x5t#S256`).
//! The token is cached and renewed shortly before it expires, and on demand after a 401.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use serde::Deserialize;
use sha1::Digest as _;

use crate::settings::{AssertionAlgorithm, Certificate, Credential};

/// A bearer token and when to stop using it.
#[derive(Clone)]
struct CachedToken {
    value: String,
    renew_at: Instant,
}

/// Fetches and caches access tokens for one app registration and one environment.
pub(crate) struct TokenSource {
    pub(crate) token_url: String,
    scope: String,
    client_id: String,
    credential: Credential,
    cached: Mutex<Option<CachedToken>>,
}

/// The form of a token request; `Debug` is deliberately not derived (it holds the secret).
pub(crate) struct TokenRequest {
    pub form: Vec<(&'static str, String)>,
}

#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
pub(crate) struct TokenErrorBody {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: String,
}

impl TokenSource {
    pub(crate) fn new(
        token_url: String,
        scope: String,
        client_id: String,
        credential: Credential,
    ) -> Self {
        TokenSource {
            token_url,
            scope,
            client_id,
            credential,
            cached: Mutex::new(None),
        }
    }

    /// The cached token if it is still good for a while.
    pub(crate) fn cached(&self) -> Option<String> {
        let guard = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|t| Instant::now() < t.renew_at)
            .map(|t| t.value.clone())
    }

    /// Forgets the cached token (after a 401), unless it was already replaced by another.
    pub(crate) fn invalidate(&self, rejected: &str) {
        let mut guard = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if guard.as_ref().is_some_and(|t| t.value == rejected) {
            *guard = None;
        }
    }

    /// The form of a new token request.
    pub(crate) fn request(&self) -> Result<TokenRequest, String> {
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
        ];
        match &self.credential {
            Credential::Secret(secret) => form.push(("client_secret", secret.expose().into())),
            Credential::Certificate(cert) => {
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                ));
                form.push((
                    "client_assertion",
                    client_assertion(cert, &self.client_id, &self.token_url, unix_now())?,
                ));
            }
        }
        Ok(TokenRequest { form })
    }

    /// Stores a fresh token. It is renewed when a quarter of its life, at most five minutes,
    /// remains, so a long read never sends an expired token.
    pub(crate) fn store(&self, response: &TokenResponse) -> String {
        let lifetime = response
            .expires_in
            .as_ref()
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .unwrap_or(3599);
        let lifetime = Duration::from_secs(lifetime);
        let margin = (lifetime / 4).min(Duration::from_secs(300));
        let token = CachedToken {
            value: response.access_token.clone(),
            renew_at: Instant::now() + lifetime - margin,
        };
        let value = token.value.clone();
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
        value
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A signed client assertion (RFC 7523) as Microsoft Entra ID expects it: `aud` = the token
/// URL, `iss` = `sub` = the client id, a fresh `jti`, valid for ten minutes.
pub(crate) fn client_assertion(
    cert: &Certificate,
    client_id: &str,
    token_url: &str,
    now: u64,
) -> Result<String, String> {
    let header = match cert.algorithm {
        AssertionAlgorithm::Ps256 => serde_json::json!({
            "alg": "PS256",
            "typ": "JWT",
            "x5t#S256": URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&cert.der)),
        }),
        AssertionAlgorithm::Rs256 => serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "x5t": URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&cert.der)),
        }),
    };
    let claims = serde_json::json!({
        "aud": token_url,
        "iss": client_id,
        "sub": client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match cert.algorithm {
        AssertionAlgorithm::Ps256 => {
            let key = rsa::pss::BlindedSigningKey::<sha2::Sha256>::new(cert.key.clone());
            key.try_sign_with_rng(&mut rsa::rand_core::OsRng, signing_input.as_bytes())
                .map_err(|e| format!("cannot sign the client assertion: {e}"))?
                .to_vec()
        }
        AssertionAlgorithm::Rs256 => {
            let key = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(cert.key.clone());
            key.try_sign(signing_input.as_bytes())
                .map_err(|e| format!("cannot sign the client assertion: {e}"))?
                .to_vec()
        }
    };
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::signature::Verifier;
    use std::path::Path;

    fn cert(alg: AssertionAlgorithm) -> Certificate {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dataverse/test-app.pem");
        Certificate::from_pem_file(&path, alg).unwrap()
    }

    fn parts(jwt: &str) -> (serde_json::Value, serde_json::Value, Vec<u8>, String) {
        let mut it = jwt.split('.');
        let h = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
        let c = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
        let s = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
        let input = jwt.rsplit_once('.').unwrap().0.to_string();
        (
            serde_json::from_slice(&h).unwrap(),
            serde_json::from_slice(&c).unwrap(),
            s,
            input,
        )
    }

    #[test]
    fn ps256_assertion_verifies_with_the_public_key() {
        let c = cert(AssertionAlgorithm::Ps256);
        let jwt = client_assertion(&c, "app", "https://login/t/oauth2/v2.0/token", 1000).unwrap();
        let (header, claims, sig, input) = parts(&jwt);
        assert_eq!(header["alg"], "PS256");
        assert_eq!(
            header["x5t#S256"],
            URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&c.der))
        );
        assert_eq!(claims["aud"], "https://login/t/oauth2/v2.0/token");
        assert_eq!(claims["iss"], "app");
        assert_eq!(claims["sub"], "app");
        assert_eq!(claims["exp"], 1600);
        let key = rsa::pss::VerifyingKey::<sha2::Sha256>::new(c.key.to_public_key());
        let sig = rsa::pss::Signature::try_from(sig.as_slice()).unwrap();
        key.verify(input.as_bytes(), &sig).unwrap();
        // A different message does not verify: the check above is real.
        assert!(key.verify(b"tampered", &sig).is_err());
    }

    #[test]
    fn rs256_assertion_verifies_with_the_public_key() {
        let c = cert(AssertionAlgorithm::Rs256);
        let jwt = client_assertion(&c, "app", "aud", 5).unwrap();
        let (header, _, sig, input) = parts(&jwt);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(
            header["x5t"],
            URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&c.der))
        );
        let key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(c.key.to_public_key());
        let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap();
        key.verify(input.as_bytes(), &sig).unwrap();
    }

    #[test]
    fn tokens_are_renewed_before_expiry_and_after_rejection() {
        let source = TokenSource::new(
            "u".into(),
            "s".into(),
            "c".into(),
            Credential::Secret(crate::Secret::new("x")),
        );
        assert!(source.cached().is_none());
        let t = source.store(&TokenResponse {
            access_token: "t1".into(),
            expires_in: Some(serde_json::json!(3599)),
        });
        assert_eq!(source.cached().as_deref(), Some(t.as_str()));
        source.invalidate("other");
        assert!(source.cached().is_some());
        source.invalidate("t1");
        assert!(source.cached().is_none());
        // A token with no life left is never handed out.
        source.store(&TokenResponse {
            access_token: "t2".into(),
            expires_in: Some(serde_json::json!("0")),
        });
        assert!(source.cached().is_none());
    }
}
