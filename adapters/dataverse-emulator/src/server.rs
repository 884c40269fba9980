//! The HTTP server: starts axum on its own thread and Tokio runtime, and runs the pipeline every
//! request goes through — token endpoint or Web API; for the Web API: numbering, URL length,
//! bearer token, administration mode, service protection, injected faults, then the dispatcher
//! (on a blocking thread) — and records statistics and the request log.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;

use crate::api::{dispatch, ApiRequest, Env, StoreAccess};
use crate::auth::jwt::load_certificate;
use crate::batch::{self, url_too_long};
use crate::config::EmulatorConfig;
use crate::controls::{Controls, RequestKind, RequestRecord, Stats};
use crate::error::EmulatorError;
use crate::faults::{status_response, Fault};
use crate::response::{ApiError, ApiResponse, JSON_CONTENT_TYPE};
use crate::state::{lock, ClientState, FaultQueues, Settings, Shared};
use crate::store::Store;
use crate::throttle::{throttle_error, Throttle};

/// Longest URL accepted outside `$batch`.
pub(crate) const MAX_URL: usize = 32_768;
/// Largest request body read.
const MAX_BODY: usize = 256 * 1024 * 1024;

/// A running emulator; dropping it stops the server.
#[derive(Debug)]
pub struct RunningEmulator {
    controls: Controls,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// The environment URL, `http://127.0.0.1:PORT` (Web API at `{url}/api/data/v9.2/`, token
    /// endpoint at `{url}/{tenant}/oauth2/v2.0/token`).
    pub fn url(&self) -> String {
        self.controls.url()
    }

    /// Switches, faults, statistics and test setup.
    pub fn controls(&self) -> &Controls {
        &self.controls
    }

    /// Stops serving and waits for the server thread.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// Starts the emulator on `127.0.0.1` with a free port; returns once it is listening.
pub fn start(config: EmulatorConfig) -> Result<RunningEmulator, EmulatorError> {
    start_on(config, "127.0.0.1:0")
}

/// Starts the emulator on a given address (e.g. the configuration's `listen`).
pub fn start_on(config: EmulatorConfig, listen: &str) -> Result<RunningEmulator, EmulatorError> {
    let bind_err = |source| EmulatorError::Bind {
        addr: listen.to_owned(),
        source,
    };
    let listener = std::net::TcpListener::bind(listen).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let url = format!("http://{host}:{}", addr.port());
    let shared = Arc::new(build_shared(&config, url)?);
    let controls = Controls {
        shared: shared.clone(),
    };
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), std::io::Error>>();
    let thread = std::thread::Builder::new()
        .name("dataverse-emulator".to_owned())
        .spawn(move || serve(shared, listener, shutdown_rx, ready_tx))
        .map_err(bind_err)?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(RunningEmulator {
            controls,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }),
        Ok(Err(source)) => Err(bind_err(source)),
        Err(_) => Err(bind_err(std::io::Error::other("server thread ended"))),
    }
}

fn serve(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    shutdown: tokio::sync::oneshot::Receiver<()>,
    ready: mpsc::Sender<Result<(), std::io::Error>>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        let app = Router::new().fallback(handle).with_state(shared);
        tokio::select! {
            _ = axum::serve(listener, app) => {}
            _ = shutdown => {}
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
}

fn build_shared(config: &EmulatorConfig, url: String) -> Result<Shared, EmulatorError> {
    let mut clients = Vec::new();
    for client in &config.clients {
        if clients
            .iter()
            .any(|c: &ClientState| c.client_id == client.client_id)
        {
            return Err(EmulatorError::Config(format!(
                "client {} is configured twice",
                client.client_id
            )));
        }
        let secret = match (&client.secret, &client.secret_env) {
            (Some(_), Some(_)) => {
                return Err(EmulatorError::Config(format!(
                    "client {}: give either secret or secret_env, not both",
                    client.client_id
                )))
            }
            (Some(secret), None) => Some(secret.clone()),
            (None, Some(var)) => {
                Some(
                    std::env::var(var).map_err(|_| EmulatorError::SecretEnvMissing {
                        client_id: client.client_id.clone(),
                        var: var.clone(),
                    })?,
                )
            }
            (None, None) => None,
        };
        let certificate = match &client.certificate {
            Some(path) => {
                let path = config.resolve(path);
                let pem = std::fs::read_to_string(&path).map_err(|source| EmulatorError::Io {
                    path: path.clone(),
                    source,
                })?;
                Some(
                    load_certificate(&pem)
                        .map_err(|message| EmulatorError::Certificate { path, message })?,
                )
            }
            None => None,
        };
        if secret.is_none() && certificate.is_none() {
            return Err(EmulatorError::Config(format!(
                "client {} has neither a secret nor a certificate",
                client.client_id
            )));
        }
        clients.push(ClientState {
            client_id: client.client_id.clone(),
            secret,
            certificate,
            system_administrator: client.system_administrator,
            user_id: uuid::Uuid::new_v4().to_string(),
        });
    }
    let store = Store::from_config(config)?;
    Ok(Shared {
        url,
        tenant_id: config.tenant_id.clone(),
        tenant_guid: config.tenant_guid.clone(),
        clients,
        page_size_max: config.page_size_max.max(1),
        dop_hint: config.dop_hint,
        business_unit_id: uuid::Uuid::new_v4().to_string(),
        store: std::sync::RwLock::new(store),
        settings: std::sync::Mutex::new(Settings {
            admin_mode: config.admin_mode,
            collation: config.collation,
            token_lifetime_secs: config.token_lifetime_secs,
            service_protection: None,
            log_to_stderr: false,
        }),
        tokens: Default::default(),
        faults: std::sync::Mutex::new(FaultQueues::default()),
        throttle: std::sync::Mutex::new(Throttle::default()),
        stats: std::sync::Mutex::new(Stats::default()),
        log: Default::default(),
    })
}

/// What the pipeline produced.
struct Outcome {
    response: ApiResponse,
    drop_connection: bool,
}

impl From<ApiResponse> for Outcome {
    fn from(response: ApiResponse) -> Self {
        Outcome {
            response,
            drop_connection: false,
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_owned();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    let path = parts.uri.path().to_owned();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let base = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| shared.url.clone());
    let request = ApiRequest {
        method: method.clone(),
        path: String::new(),
        query: String::new(),
        headers,
        body: Vec::new(),
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes.to_vec(),
        Err(_) => {
            let response = ApiError::new(413, "", "The request body is too large.").into_response();
            return finish(
                &shared,
                &request,
                &target,
                RequestKind::Other,
                response.into(),
                started,
            );
        }
    };
    let request = ApiRequest { body, ..request };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (kind, outcome) = if path.starts_with("/api/data/") {
        (
            RequestKind::WebApi,
            web_api(&shared, request.clone(), &target, &base).await,
        )
    } else if segments.len() == 4 && segments[1..] == ["oauth2", "v2.0", "token"] {
        (
            RequestKind::Token,
            token(&shared, &request, segments[0], &base).await,
        )
    } else {
        (
            RequestKind::Other,
            ApiError::segment_not_found(segments.first().copied().unwrap_or(""))
                .into_response()
                .into(),
        )
    };
    finish(&shared, &request, &target, kind, outcome, started)
}

async fn token(shared: &Arc<Shared>, request: &ApiRequest, tenant: &str, base: &str) -> Outcome {
    let number = {
        let mut stats = shared.stats_mut();
        stats.token_requests += 1;
        stats.token_requests
    };
    if let Some(outcome) = apply_faults(shared, number, FaultTarget::Token).await {
        return outcome;
    }
    if request.method != "POST" {
        return ApiError::method_not_allowed(&request.method)
            .into_response()
            .into();
    }
    let mut bases = vec![shared.url.clone()];
    if base != shared.url {
        bases.push(base.to_owned());
    }
    crate::auth::token_endpoint(
        shared,
        tenant,
        request.header("Authorization"),
        &request.body,
        &bases,
    )
    .into()
}

#[derive(Clone, Copy)]
enum FaultTarget {
    Api,
    Token,
}

/// Applies injected faults for request `number`: waits for delays, and returns the answer
/// when a fault replaces the request.
async fn apply_faults(shared: &Arc<Shared>, number: u64, target: FaultTarget) -> Option<Outcome> {
    let decision = {
        let mut faults = lock(&shared.faults);
        match target {
            FaultTarget::Api => faults.api.decide(number),
            FaultTarget::Token => faults.token.decide(number),
        }
    };
    if decision.delay > Duration::ZERO || decision.fault.is_some() {
        shared.stats_mut().faults_injected += 1;
    }
    if decision.delay > Duration::ZERO {
        tokio::time::sleep(decision.delay).await;
    }
    match decision.fault? {
        // Parts of a `$batch` only; a whole request is processed normally.
        Fault::Delay(_) | Fault::LoseAnswer => None,
        Fault::Status(status) => Some(status_response(status).into()),
        Fault::Throttle(kind, retry_after) => {
            let limits = shared.settings().service_protection.unwrap_or_default();
            Some(
                throttle_error(kind, &limits, retry_after)
                    .into_response()
                    .into(),
            )
        }
        Fault::DropConnection => Some(Outcome {
            response: ApiResponse::empty(200),
            drop_connection: true,
        }),
    }
}

async fn web_api(
    shared: &Arc<Shared>,
    mut request: ApiRequest,
    target: &str,
    base: &str,
) -> Outcome {
    let number = {
        let mut stats = shared.stats_mut();
        stats.requests += 1;
        stats.requests
    };
    // /api/data/v9.2/<rest>
    let after = target.trim_start_matches("/api/data/");
    let (version, rest) = after.split_once('/').unwrap_or((after, ""));
    let version = version.split('?').next().unwrap_or(version).to_owned();
    if !matches!(version.as_str(), "v9.0" | "v9.1" | "v9.2") {
        return ApiError::segment_not_found(&version).into_response().into();
    }
    if base.len() + target.len() > MAX_URL {
        return url_too_long().into();
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    request.path = path.to_owned();
    request.query = query.to_owned();

    let token = request
        .header("Authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim);
    let client_id = token.and_then(|t| lock(&shared.tokens).validate(t));
    let Some(client_id) = client_id else {
        let challenge = format!(
            "Bearer authorization_uri={base}/{}/oauth2/authorize, resource_id={base}",
            shared.tenant_for_challenge()
        );
        return ApiResponse::empty(401)
            .with_header("WWW-Authenticate", challenge)
            .into();
    };
    let settings = shared.settings();
    let is_admin = shared
        .client(&client_id)
        .is_some_and(|c| c.system_administrator);
    if settings.admin_mode && !is_admin {
        return ApiError::new(
            403,
            "0x80040220",
            "User does not have required privileges (or role membership) to access the org when it is in Admin Only mode.",
        )
        .into_response()
        .into();
    }
    let mut budget = None;
    if let Some(limits) = settings.service_protection {
        let admitted = lock(&shared.throttle).admit(&client_id, &limits, Instant::now());
        match admitted {
            Ok(b) => budget = Some(b),
            Err((kind, retry_after)) => {
                return throttle_error(kind, &limits, retry_after)
                    .into_response()
                    .into()
            }
        }
    }
    let admitted_at = Instant::now();
    let outcome = match apply_faults(shared, number, FaultTarget::Api).await {
        Some(outcome) => outcome,
        None => {
            let env_shared = shared.clone();
            let api_base = format!("{base}/api/data/{version}");
            let client = client_id.clone();
            let worker = tokio::task::spawn_blocking(move || {
                let env = Env {
                    shared: &env_shared,
                    api_base,
                    client_id: client,
                    settings,
                };
                if request.path == "$batch" {
                    let result = batch::run(&env, &request);
                    Outcome {
                        response: result.response,
                        drop_connection: result.drop_connection,
                    }
                } else {
                    dispatch(&env, &request, &mut StoreAccess::Lock(&env_shared)).into()
                }
            });
            worker.await.unwrap_or_else(|_| {
                ApiError::new(500, "0x80040216", "An unexpected error occurred.")
                    .into_response()
                    .into()
            })
        }
    };
    let mut outcome = outcome;
    if budget.is_some() {
        lock(&shared.throttle).finish(&client_id, Instant::now(), admitted_at.elapsed());
    }
    if let Some(b) = budget {
        outcome.response.headers.push((
            "x-ms-ratelimit-burst-remaining-xrm-requests".to_owned(),
            b.requests_remaining.to_string(),
        ));
        outcome.response.headers.push((
            "x-ms-ratelimit-time-remaining-xrm-requests".to_owned(),
            format!("{}.00", b.time_remaining_ms),
        ));
    }
    outcome
}

/// Records the request and turns the outcome into an HTTP response.
fn finish(
    shared: &Arc<Shared>,
    request: &ApiRequest,
    target: &str,
    kind: RequestKind,
    outcome: Outcome,
    started: Instant,
) -> Response {
    let status = outcome.response.status;
    {
        let mut stats = shared.stats_mut();
        *stats.by_status.entry(status).or_default() += 1;
        if status == 429 {
            stats.throttled += 1;
        }
    }
    let header = |name: &str| request.header(name).map(str::to_owned);
    lock(&shared.log).push(RequestRecord {
        kind,
        method: request.method.clone(),
        path_and_query: target.to_owned(),
        prefer: request
            .header_values("Prefer")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        if_match: header("If-Match"),
        if_none_match: header("If-None-Match"),
        authorization_present: request.header("Authorization").is_some(),
        odata_version: header("OData-Version"),
        odata_max_version: header("OData-MaxVersion"),
        accept: header("Accept"),
        content_type: header("Content-Type"),
        status,
    });
    if shared.settings().log_to_stderr {
        // Never the body or headers: they may hold secrets or tokens.
        let shown: String = target.chars().take(300).collect();
        eprintln!(
            "{} {shown} {status}{} {}ms",
            request.method,
            if outcome.drop_connection {
                " (dropped)"
            } else {
                ""
            },
            started.elapsed().as_millis()
        );
    }
    into_http(kind, outcome)
}

fn into_http(kind: RequestKind, outcome: Outcome) -> Response {
    let response = outcome.response;
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if kind != RequestKind::Token {
        builder = builder
            .header("OData-Version", "4.0")
            .header("REQ_ID", uuid::Uuid::new_v4().to_string());
    }
    for (name, value) in &response.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            builder = builder.header(n, v);
        }
    }
    let body = if outcome.drop_connection {
        builder = builder
            .header("Content-Type", JSON_CONTENT_TYPE)
            .header("Content-Length", "4096");
        // One chunk, then an error: hyper aborts the connection mid-body.
        let stream = futures_util::stream::unfold(0u8, |state| async move {
            match state {
                0 => Some((
                    Ok::<Bytes, std::io::Error>(Bytes::from_static(b"{\"@odata.context\":\"")),
                    1,
                )),
                1 => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionAborted,
                            "injected connection drop",
                        )),
                        2,
                    ))
                }
                _ => None,
            }
        });
        Body::from_stream(stream)
    } else {
        Body::from(response.body)
    };
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::from("internal error")))
}
