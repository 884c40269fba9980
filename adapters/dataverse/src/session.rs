//! One authenticated connection to a Dataverse environment: the standard OData headers on
//! every request, the bearer token, and the retry loop that makes 429s, 5xx answers, timeouts
//! and dropped connections survivable. Counters of requests, retries and throttled answers feed
//! `job.json`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::auth::{TokenErrorBody, TokenResponse, TokenSource};
use crate::error::{DataverseError, Result};
use crate::settings::{ConnectionSettings, RetryPolicy, MAX_PAGE_SIZE};

/// The Web API version path.
pub const API_PATH: &str = "api/data/v9.2/";

/// Longest request description kept in errors (a long `$filter` is cut).
const DESCRIBE_MAX: usize = 240;

/// Requests, retries and throttled answers of a session (cumulative).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCounts {
    /// HTTP requests sent to Dataverse and the token endpoint, retries included.
    pub requests: u64,
    /// Requests sent again after a transient failure or a renewed token (a `$batch` part sent
    /// again in a new batch counts too).
    pub retries: u64,
    /// 429 answers (service protection limits), `$batch` parts included.
    pub throttled: u64,
}

impl HttpCounts {
    /// The counts accumulated since `earlier`.
    pub fn since(self, earlier: HttpCounts) -> HttpCounts {
        HttpCounts {
            requests: self.requests - earlier.requests,
            retries: self.retries - earlier.retries,
            throttled: self.throttled - earlier.throttled,
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
}

/// A successful answer, body read in full.
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// An authenticated connection to one environment. Cheap to share by reference across threads.
pub struct Session {
    http: Client,
    environment_url: String,
    api_base: String,
    tokens: TokenSource,
    retry: RetryPolicy,
    page_size: u32,
    counters: Counters,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("environment_url", &self.environment_url)
            .finish_non_exhaustive()
    }
}

/// Dataverse's error body: `{"error":{"code":"0x…","message":"…"}}`.
#[derive(Deserialize)]
struct ApiErrorBody {
    error: ApiError,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// What one attempt came to.
enum Attempt {
    Done(Answer),
    /// Retry after this long (or the policy's backoff when `None`); the text says why.
    Transient(Option<Duration>, String),
    Fatal(DataverseError),
}

impl Session {
    /// Checks the settings and prepares the HTTP client. No request is sent yet; the token is
    /// fetched with the first request.
    pub fn open(settings: &ConnectionSettings) -> Result<Session> {
        let environment = settings.environment_url()?;
        let token_url = settings.token_url()?;
        if settings.client_id.trim().is_empty() {
            return Err(DataverseError::Settings("client_id is empty".into()));
        }
        if settings.page_size == 0 || settings.page_size > MAX_PAGE_SIZE {
            return Err(DataverseError::Settings(format!(
                "page_size must be between 1 and {MAX_PAGE_SIZE}, not {}",
                settings.page_size
            )));
        }
        let http = Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("coupler/", env!("CARGO_PKG_VERSION")))
            // Dataverse spreads load over web servers; an affinity cookie would pin us to one.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DataverseError::Settings(format!("cannot start the HTTP client: {e}")))?;
        let environment_url = environment.as_str().trim_end_matches('/').to_string();
        Ok(Session {
            http,
            api_base: format!("{environment_url}/{API_PATH}"),
            tokens: TokenSource::new(
                token_url.to_string(),
                settings.scope()?,
                settings.client_id.trim().to_string(),
                settings.credential.clone(),
            ),
            environment_url,
            retry: settings.retry,
            page_size: settings.page_size,
            counters: Counters::default(),
        })
    }

    /// `https://org.crm.dynamics.com` (no trailing slash).
    pub fn environment_url(&self) -> &str {
        &self.environment_url
    }

    /// `{environment}/api/data/v9.2/`.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    pub(crate) fn page_size(&self) -> u32 {
        self.page_size
    }

    /// The retry policy (for retries of `$batch` parts, which `send` cannot see).
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Counts `$batch` parts sent again after a transient part answer, and the parts among
    /// them that were throttled (429), alongside the request-level counts.
    pub(crate) fn count_part_retries(&self, retried: u64, throttled: u64) {
        self.counters.retries.fetch_add(retried, Ordering::Relaxed);
        self.counters
            .throttled
            .fetch_add(throttled, Ordering::Relaxed);
    }

    /// Requests, retries and throttled answers so far.
    pub fn counts(&self) -> HttpCounts {
        HttpCounts {
            requests: self.counters.requests.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            throttled: self.counters.throttled.load(Ordering::Relaxed),
        }
    }

    /// A GET of a Web API resource, relative to the API base (`accounts?$select=name`) or an
    /// absolute URL (a nextLink, used exactly as given).
    pub(crate) fn get(&self, target: &str, prefer: Option<&str>) -> Result<Answer> {
        let url = if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            format!("{}{target}", self.api_base)
        };
        let mut headers = Vec::new();
        if let Some(p) = prefer {
            headers.push(("Prefer", p.to_string()));
        }
        self.send(Method::GET, &url, &headers, None)
    }

    /// Sends one Web API request with the standard headers and the bearer token, retrying
    /// transient failures within the policy, renewing the token once after a 401.
    pub(crate) fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Answer> {
        let request = self.describe(&method, url);
        let mut renewed = false;
        let mut retries = 0u32;
        loop {
            let token = self.bearer()?;
            let mut builder = self
                .http
                .request(method.clone(), url)
                .bearer_auth(&token)
                .header("Accept", "application/json")
                .header("OData-MaxVersion", "4.0")
                .header("OData-Version", "4.0");
            let conditional = headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("If-None-Match"));
            if !conditional {
                // Defeats cached collection results (the literal "null" is not a condition).
                builder = builder.header("If-None-Match", "null");
            }
            for (name, value) in headers {
                builder = builder.header(*name, value);
            }
            if let Some((content_type, bytes)) = &body {
                builder = builder
                    .header("Content-Type", *content_type)
                    .body(bytes.clone());
            }
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let attempt = match builder.send() {
                Err(e)
                    if e.is_connect() && retries >= CONNECT_RETRIES.min(self.retry.max_retries) =>
                {
                    Attempt::Fatal(DataverseError::RetriesExhausted {
                        request: request.clone(),
                        attempts: retries + 1,
                        last: transport_text(&e),
                    })
                }
                Err(e) => Attempt::Transient(None, transport_text(&e)),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let response_headers = response.headers().clone();
                    match response.bytes() {
                        Err(e) => Attempt::Transient(
                            None,
                            format!(
                                "the connection broke while reading the answer (HTTP {status}): {}",
                                transport_text(&e)
                            ),
                        ),
                        Ok(bytes) => self.classify(
                            &request,
                            status,
                            response_headers,
                            bytes.to_vec(),
                            &token,
                            &mut renewed,
                        ),
                    }
                }
            };
            match attempt {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Transient(wait, why) => {
                    if retries >= self.retry.max_retries {
                        return Err(DataverseError::RetriesExhausted {
                            request,
                            attempts: retries + 1,
                            last: why,
                        });
                    }
                    let wait = match wait {
                        Some(w) if w > self.retry.max_retry_after => {
                            return Err(DataverseError::RetriesExhausted {
                                request,
                                attempts: retries + 1,
                                last: format!(
                                    "{why}; the server asks to wait {} s, longer than the {} s this client waits",
                                    w.as_secs(),
                                    self.retry.max_retry_after.as_secs()
                                ),
                            });
                        }
                        Some(w) => w,
                        None => self.retry.backoff(retries),
                    };
                    debug_note(&request, &why, wait);
                    std::thread::sleep(wait);
                    retries += 1;
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn classify(
        &self,
        request: &str,
        status: u16,
        headers: HeaderMap,
        body: Vec<u8>,
        token: &str,
        renewed: &mut bool,
    ) -> Attempt {
        match status {
            200..=299 => Attempt::Done(Answer { headers, body }),
            401 if !*renewed => {
                // The token expired or was revoked early: renew once, then give up.
                *renewed = true;
                self.tokens.invalidate(token);
                Attempt::Transient(Some(Duration::ZERO), "HTTP 401".into())
            }
            401 => Attempt::Fatal(DataverseError::Unauthorized {
                request: request.to_string(),
            }),
            429 => {
                self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                let (code, message) = api_error(&body);
                let wait = retry_after(&headers);
                Attempt::Transient(wait, format!("HTTP 429{}: {message}", code_text(&code)))
            }
            502..=504 => {
                let (code, message) = api_error(&body);
                Attempt::Transient(
                    None,
                    format!("HTTP {status}{}: {message}", code_text(&code)),
                )
            }
            _ => {
                let (code, message) = api_error(&body);
                if status == 403 && message.to_ascii_lowercase().contains("admin only mode") {
                    return Attempt::Fatal(DataverseError::AdministrationMode { message });
                }
                Attempt::Fatal(DataverseError::Api {
                    request: request.to_string(),
                    status,
                    code,
                    message,
                })
            }
        }
    }

    /// A valid bearer token: the cached one, or a new one from the token endpoint.
    fn bearer(&self) -> Result<String> {
        if let Some(token) = self.tokens.cached() {
            return Ok(token);
        }
        let token_url = self.tokens.token_url.clone();
        let request = format!("POST {token_url}");
        let mut retries = 0u32;
        loop {
            let form = self.tokens.request().map_err(DataverseError::Settings)?;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .http
                .post(&token_url)
                .header("Accept", "application/json")
                .form(&form.form)
                .send();
            let why = match sent {
                Err(e)
                    if e.is_connect() && retries >= CONNECT_RETRIES.min(self.retry.max_retries) =>
                {
                    return Err(DataverseError::RetriesExhausted {
                        request,
                        attempts: retries + 1,
                        last: transport_text(&e),
                    });
                }
                Err(e) => transport_text(&e),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.bytes() {
                        Err(e) => transport_text(&e),
                        Ok(body) if status == 200 => {
                            let parsed: TokenResponse =
                                serde_json::from_slice(&body).map_err(|e| {
                                    DataverseError::Decode {
                                        request: request.clone(),
                                        message: format!("the token answer is not valid: {e}"),
                                    }
                                })?;
                            return Ok(self.tokens.store(&parsed));
                        }
                        Ok(body) if status == 429 || (500..=599).contains(&status) => {
                            if status == 429 {
                                self.counters.throttled.fetch_add(1, Ordering::Relaxed);
                            }
                            let _ = retry_after(&headers);
                            format!(
                                "HTTP {status}: {}",
                                String::from_utf8_lossy(&body)
                                    .chars()
                                    .take(200)
                                    .collect::<String>()
                            )
                        }
                        Ok(body) => {
                            let parsed: TokenErrorBody =
                                serde_json::from_slice(&body).unwrap_or_default();
                            // Entra appends trace and correlation ids on later lines.
                            let description = parsed
                                .error_description
                                .lines()
                                .next()
                                .unwrap_or("")
                                .trim()
                                .to_string();
                            return Err(DataverseError::TokenRefused {
                                token_url,
                                status,
                                error: if parsed.error.is_empty() {
                                    "error".into()
                                } else {
                                    parsed.error
                                },
                                description,
                            });
                        }
                    }
                }
            };
            if retries >= self.retry.max_retries {
                return Err(DataverseError::RetriesExhausted {
                    request,
                    attempts: retries + 1,
                    last: why,
                });
            }
            std::thread::sleep(self.retry.backoff(retries));
            retries += 1;
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `GET accounts?$select=…` relative to the API base, cut to a readable length.
    fn describe(&self, method: &Method, url: &str) -> String {
        let relative = url.strip_prefix(&self.api_base).unwrap_or(url);
        let decoded = percent_encoding::percent_decode_str(relative).decode_utf8_lossy();
        let mut text = format!("{method} {decoded}");
        if text.len() > DESCRIBE_MAX {
            let mut cut = DESCRIBE_MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        text
    }
}

/// `Retry-After` in seconds (Dataverse sends whole seconds).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value: &HeaderValue = headers.get("Retry-After")?;
    retry_after_secs(value.to_str().ok()?)
}

/// A `Retry-After` value in seconds. One too large for a `Duration` (`1e30`) is as good as
/// forever, so longer than any wait the retry policy accepts (it used to panic; found by the
/// `batch_response` fuzz target).
pub(crate) fn retry_after_secs(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
}

/// Dataverse's error code and message, or the body's first characters when it is not JSON.
pub(crate) fn api_error(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ApiErrorBody>(body) {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            let message = if text.is_empty() {
                "(no error text)".to_string()
            } else {
                text.chars().take(200).collect()
            };
            (String::new(), message)
        }
    }
}

fn code_text(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(" ({code})")
    }
}

fn transport_text(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let kind = if e.is_timeout() {
        "the request timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the connection failed"
    };
    // The innermost cause says what happened ("Connection refused (os error 111)").
    let mut innermost = None;
    let mut source = e.source();
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    match innermost {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_string(),
    }
}

/// A server that refuses connections is down or the URL is wrong: a few quick retries cover a
/// restart; more would only make the user wait.
const CONNECT_RETRIES: u32 = 3;

/// Retries are worth a line on stderr when the user set `COUPLER_LOG=debug`; silent otherwise
/// (the counts land in job.json).
pub(crate) fn debug_note(request: &str, why: &str, wait: Duration) {
    if std::env::var("COUPLER_LOG").is_ok_and(|v| v.eq_ignore_ascii_case("debug")) {
        eprintln!(
            "coupler: retrying {request} in {:.1} s: {why}",
            wait.as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let (code, message) = api_error(
            br#"{"error":{"code":"0x80060888","message":"Could not find a property named 'x'."}}"#,
        );
        assert_eq!(code, "0x80060888");
        assert_eq!(message, "Could not find a property named 'x'.");
        assert_eq!(api_error(b"").1, "(no error text)");
        assert_eq!(
            api_error(b"<html>bad gateway</html>").1,
            "<html>bad gateway</html>"
        );
    }

    #[test]
    fn retry_after_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("Retry-After", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("Retry-After", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    /// Fuzz regression (`batch_response`): a 429 with `Retry-After: 1e30` panicked converting
    /// the seconds to a `Duration`.
    #[test]
    fn retry_after_too_large_for_a_duration_is_forever() {
        let mut h = HeaderMap::new();
        for (text, want) in [
            ("1e30", Some(Duration::MAX)),
            ("18446744073709551616", Some(Duration::MAX)),
            ("0.5", Some(Duration::from_millis(500))),
            ("-0", Some(Duration::ZERO)),
            ("-1", None),
            ("inf", None),
            ("NaN", None),
        ] {
            h.insert("Retry-After", HeaderValue::from_static(text));
            assert_eq!(retry_after(&h), want, "{text}");
        }
    }
}
