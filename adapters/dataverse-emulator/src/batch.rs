//! `$batch` (multipart/mixed): parsing requests and change sets (quoted or bare boundaries, CRLF
//! or LF, relative or absolute part URLs, `Content-ID` and `$n` references), running parts in
//! order through [`crate::api::dispatch`], rolling back a change set on its first failure, and
//! writing the `batchresponse_…` / `changesetresponse_…` multipart answer (CRLF).
//!
//! Without `Prefer: odata.continue-on-error` processing stops at the first failing part and the
//! answer is an outer 400 holding only that part; with it, the outer status is 200 and every part
//! is answered (a failed change set is answered by its failing part alone). Faults injected with
//! [`crate::Controls::inject_batch_part`] apply per part.

use std::collections::HashMap;
use std::time::Duration;

use crate::api::{dispatch, ApiRequest, Env, StoreAccess};
use crate::controls::{RequestKind, RequestRecord};
use crate::faults::{status_response, Fault};
use crate::odata::options::Prefer;
use crate::response::{reason_phrase, ApiError, ApiResponse};
use crate::state::lock;
use crate::throttle::throttle_error;

/// Most requests in one batch.
const MAX_PARTS: usize = 1000;
/// Longest URL of a request inside a batch.
pub(crate) const MAX_PART_URL: usize = 65_536;

/// The answer to a batch, or an instruction to cut the connection.
pub(crate) struct BatchOutcome {
    pub response: ApiResponse,
    pub drop_connection: bool,
}

#[derive(Debug, Clone)]
struct HttpPart {
    content_id: Option<String>,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Debug)]
enum Item {
    Single(HttpPart),
    ChangeSet(Vec<HttpPart>),
}

enum Answer {
    Single(Option<String>, ApiResponse),
    ChangeSet(Vec<(Option<String>, ApiResponse)>),
}

/// Runs a `$batch` request.
pub(crate) fn run(env: &Env, req: &ApiRequest) -> BatchOutcome {
    let plain = |error: ApiError| BatchOutcome {
        response: error.into_response(),
        drop_connection: false,
    };
    if req.method != "POST" {
        return plain(ApiError::method_not_allowed(&req.method));
    }
    let items = match parse_batch(req) {
        Ok(items) => items,
        Err(e) => return plain(e),
    };
    let count: usize = items
        .iter()
        .map(|i| match i {
            Item::Single(_) => 1,
            Item::ChangeSet(parts) => parts.len(),
        })
        .sum();
    if count > MAX_PARTS {
        return plain(ApiError::bad_request(format!(
            "The number of requests in the batch ({count}) exceeds the maximum of {MAX_PARTS}."
        )));
    }
    let continue_on_error = Prefer::parse(req.header_values("Prefer")).continue_on_error;
    let mut answers = Vec::new();
    for item in items {
        match item {
            Item::Single(part) => {
                let mut access = StoreAccess::Lock(env.shared);
                let Some(response) = execute_part(env, &part, &HashMap::new(), &mut access) else {
                    return dropped();
                };
                let failed = response.status >= 400;
                let answer = Answer::Single(part.content_id.clone(), response);
                if failed && !continue_on_error {
                    return finish(400, vec![answer]);
                }
                answers.push(answer);
            }
            Item::ChangeSet(parts) => {
                let mut store = env.shared.write_store();
                store.begin_changeset();
                let mut ids: HashMap<String, String> = HashMap::new();
                let mut responses = Vec::new();
                let mut failure = None;
                for part in &parts {
                    let response = if part.method == "GET" {
                        ApiError::bad_request(
                            "The HTTP method 'GET' is invalid for a request in a change set.",
                        )
                        .into_response()
                    } else {
                        let mut access = StoreAccess::Held(&mut store);
                        match execute_part(env, part, &ids, &mut access) {
                            Some(r) => r,
                            None => {
                                store.rollback();
                                return dropped();
                            }
                        }
                    };
                    if response.status >= 400 {
                        failure = Some((part.content_id.clone(), response));
                        break;
                    }
                    if let (Some(id), Some(entity)) =
                        (&part.content_id, response.header("OData-EntityId"))
                    {
                        if let Some((_, path)) = entity.split_once("/api/data/") {
                            let path = path.split_once('/').map(|(_, p)| p).unwrap_or(path);
                            ids.insert(id.clone(), path.to_owned());
                        }
                    }
                    responses.push((part.content_id.clone(), response));
                }
                match failure {
                    Some((id, response)) => {
                        store.rollback();
                        drop(store);
                        let answer = Answer::Single(id, response);
                        if !continue_on_error {
                            return finish(400, vec![answer]);
                        }
                        answers.push(answer);
                    }
                    None => {
                        store.commit();
                        answers.push(Answer::ChangeSet(responses));
                    }
                }
            }
        }
    }
    finish(200, answers)
}

fn dropped() -> BatchOutcome {
    BatchOutcome {
        response: ApiResponse::empty(200),
        drop_connection: true,
    }
}

/// Runs one part; `None` when an injected fault drops the connection.
fn execute_part(
    env: &Env,
    part: &HttpPart,
    ids: &HashMap<String, String>,
    store: &mut StoreAccess,
) -> Option<ApiResponse> {
    let number = {
        let mut stats = env.shared.stats_mut();
        stats.batch_parts += 1;
        stats.batch_parts
    };
    let decision = lock(&env.shared.faults).batch_parts.decide(number);
    if decision.delay > Duration::ZERO || decision.fault.is_some() {
        env.shared.stats_mut().faults_injected += 1;
    }
    if decision.delay > Duration::ZERO {
        std::thread::sleep(decision.delay);
    }
    let response = match decision.fault {
        Some(Fault::DropConnection) => return None,
        Some(Fault::LoseAnswer) => {
            run_part(env, part, ids, store);
            return None;
        }
        Some(Fault::Status(status)) => status_response(status),
        Some(Fault::Throttle(kind, retry_after)) => {
            let limits = env.settings.service_protection.unwrap_or_default();
            throttle_error(kind, &limits, retry_after).into_response()
        }
        Some(Fault::Delay(_)) | None => run_part(env, part, ids, store),
    };
    if response.status == 429 {
        env.shared.stats_mut().throttled += 1;
    }
    let header = |name: &str| {
        part.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    lock(&env.shared.log).push(RequestRecord {
        kind: RequestKind::BatchPart,
        method: part.method.clone(),
        path_and_query: part.url.clone(),
        prefer: part
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Prefer"))
            .map(|(_, v)| v.clone())
            .collect(),
        if_match: header("If-Match"),
        if_none_match: header("If-None-Match"),
        authorization_present: true,
        odata_version: header("OData-Version"),
        odata_max_version: header("OData-MaxVersion"),
        accept: header("Accept"),
        content_type: header("Content-Type"),
        status: response.status,
    });
    Some(response)
}

fn run_part(
    env: &Env,
    part: &HttpPart,
    ids: &HashMap<String, String>,
    store: &mut StoreAccess,
) -> ApiResponse {
    if part.url.len() > MAX_PART_URL {
        return url_too_long();
    }
    let (path, query) = match resolve_url(&part.url, ids) {
        Ok(resolved) => resolved,
        Err(e) => return e.into_response(),
    };
    let mut body = part.body.clone();
    for (id, target) in ids {
        body = body.replace(&format!("\"${id}\""), &format!("\"{target}\""));
    }
    let request = ApiRequest {
        method: part.method.clone(),
        path,
        query,
        headers: part.headers.clone(),
        body: body.into_bytes(),
    };
    dispatch(env, &request, store)
}

/// The 414 answer for an over-long URL.
pub(crate) fn url_too_long() -> ApiResponse {
    ApiError::new(
        414,
        "",
        "The length of the URL for this request exceeds the configured maxUrlLength value.",
    )
    .into_response()
}

/// Turns a part URL (absolute, server-relative, service-relative or `$n…`) into the path after
/// the service root and the query.
fn resolve_url(url: &str, ids: &HashMap<String, String>) -> Result<(String, String), ApiError> {
    let mut rest = url;
    if let Some(after_scheme) = rest
        .strip_prefix("https://")
        .or_else(|| rest.strip_prefix("http://"))
    {
        rest = after_scheme
            .find('/')
            .map(|i| &after_scheme[i..])
            .unwrap_or("/");
    }
    let resolved: String;
    if let Some(reference) = rest.strip_prefix('$') {
        let end = reference
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_')
            .unwrap_or(reference.len());
        let id = &reference[..end];
        let target = ids.get(id).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Content-ID Reference: '${id}' does not exist in the batch context."
            ))
        })?;
        resolved = format!("{target}{}", &reference[end..]);
        rest = &resolved;
    } else {
        rest = rest.trim_start_matches('/');
        if let Some(after) = rest.strip_prefix("api/data/") {
            rest = after.split_once('/').map(|(_, r)| r).unwrap_or("");
        }
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    Ok((path.to_owned(), query.to_owned()))
}

/// `boundary=…` of a multipart content type.
fn boundary_of(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The contents of each part between `--boundary` lines (the line break before a delimiter
/// belongs to it).
fn split_parts(text: &str, boundary: &str) -> Option<Vec<String>> {
    let open = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<String> = None;
    let mut closed = false;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_end();
        if trimmed == close {
            if let Some(part) = current.take() {
                parts.push(part);
            }
            closed = true;
            break;
        }
        if trimmed == open {
            if let Some(part) = current.take() {
                parts.push(part);
            }
            current = Some(String::new());
            continue;
        }
        if let Some(part) = &mut current {
            part.push_str(line);
            part.push('\n');
        }
    }
    if !closed {
        return None;
    }
    Some(
        parts
            .into_iter()
            .map(|mut p| {
                if p.ends_with('\n') {
                    p.pop();
                }
                p
            })
            .collect(),
    )
}

/// Splits header lines from the body at the first empty line.
fn split_head(text: &str) -> (Vec<(String, String)>, String) {
    let mut headers = Vec::new();
    let mut lines = text.split('\n');
    let mut consumed = 0;
    for line in lines.by_ref() {
        consumed += line.len() + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let body = text
        .get(consumed.min(text.len())..)
        .unwrap_or("")
        .to_owned();
    (headers, body)
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn parse_http_part(mime_headers: &[(String, String)], content: &str) -> Result<HttpPart, ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("Invalid batch part: {why}."));
    let content = content.trim_start_matches(['\r', '\n']);
    let (request_line, rest) = content.split_once('\n').unwrap_or((content, ""));
    let words: Vec<&str> = request_line
        .trim()
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect();
    if words.len() < 2 {
        return Err(bad("missing request line"));
    }
    let method = words[0].to_ascii_uppercase();
    let url_words = if words.len() > 2 && words[words.len() - 1].starts_with("HTTP/") {
        &words[1..words.len() - 1]
    } else {
        &words[1..]
    };
    // Spaces inside a part URL are tolerated (encoded as %20).
    let url = url_words.join("%20");
    let (headers, body) = split_head(rest);
    let content_id = header(mime_headers, "Content-ID")
        .or_else(|| header(&headers, "Content-ID"))
        .map(str::to_owned);
    Ok(HttpPart {
        content_id,
        method,
        url,
        headers,
        body: body.trim_end_matches(['\r', '\n']).to_owned(),
    })
}

fn parse_batch(req: &ApiRequest) -> Result<Vec<Item>, ApiError> {
    let boundary = req
        .header("Content-Type")
        .and_then(boundary_of)
        .ok_or_else(|| {
            ApiError::bad_request(
                "The content type of a $batch request must be multipart/mixed with a boundary.",
            )
        })?;
    let text = std::str::from_utf8(&req.body)
        .map_err(|_| ApiError::bad_request("The $batch body is not valid UTF-8."))?;
    let parts = split_parts(text, &boundary).ok_or_else(|| {
        ApiError::bad_request(format!(
            "The $batch body is not a multipart body with boundary '{boundary}'."
        ))
    })?;
    let mut items = Vec::new();
    for part in parts {
        let (mime_headers, content) = split_head(&part);
        let content_type = header(&mime_headers, "Content-Type").unwrap_or("application/http");
        if let Some(inner) = boundary_of(content_type) {
            let inner_parts = split_parts(&content, &inner).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "The change set is not a multipart body with boundary '{inner}'."
                ))
            })?;
            let mut requests = Vec::new();
            for inner_part in inner_parts {
                let (headers, content) = split_head(&inner_part);
                requests.push(parse_http_part(&headers, &content)?);
            }
            items.push(Item::ChangeSet(requests));
        } else {
            items.push(Item::Single(parse_http_part(&mime_headers, &content)?));
        }
    }
    Ok(items)
}

fn write_part(out: &mut Vec<u8>, boundary: &str, content_id: Option<&str>, response: &ApiResponse) {
    let mut head = format!(
        "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    );
    if let Some(id) = content_id {
        head.push_str(&format!("Content-ID: {id}\r\n"));
    }
    head.push_str(&format!(
        "\r\nHTTP/1.1 {} {}\r\nOData-Version: 4.0\r\n",
        response.status,
        reason_phrase(response.status)
    ));
    if let Some(entity) = response.header("OData-EntityId") {
        if response.header("Location").is_none() && response.status < 300 {
            head.push_str(&format!("Location: {entity}\r\n"));
        }
    }
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(&response.body);
    out.extend_from_slice(b"\r\n");
}

fn finish(status: u16, answers: Vec<Answer>) -> BatchOutcome {
    let boundary = format!("batchresponse_{}", uuid::Uuid::new_v4());
    let mut body = Vec::new();
    for answer in &answers {
        match answer {
            Answer::Single(id, response) => {
                write_part(&mut body, &boundary, id.as_deref(), response)
            }
            Answer::ChangeSet(responses) => {
                let inner = format!("changesetresponse_{}", uuid::Uuid::new_v4());
                body.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Type: multipart/mixed; boundary={inner}\r\n\r\n"
                    )
                    .as_bytes(),
                );
                for (id, response) in responses {
                    write_part(&mut body, &inner, id.as_deref(), response);
                }
                body.extend_from_slice(format!("--{inner}--\r\n").as_bytes());
            }
        }
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    BatchOutcome {
        response: ApiResponse {
            status,
            headers: vec![(
                "Content-Type".to_owned(),
                format!("multipart/mixed; boundary={boundary}"),
            )],
            body,
        },
        drop_connection: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_and_parts() {
        assert_eq!(
            boundary_of("multipart/mixed; boundary=\"batch_1\"").as_deref(),
            Some("batch_1")
        );
        assert_eq!(
            boundary_of("multipart/mixed;boundary=b").as_deref(),
            Some("b")
        );
        let text = "--b\nContent-Type: application/http\n\nGET /api/data/v9.2/accounts HTTP/1.1\n\n\n--b--\n";
        let parts = split_parts(text, "b").unwrap();
        assert_eq!(parts.len(), 1);
        let (headers, content) = split_head(&parts[0]);
        let part = parse_http_part(&headers, &content).unwrap();
        assert_eq!(part.method, "GET");
        assert_eq!(part.url, "/api/data/v9.2/accounts");
    }

    #[test]
    fn urls() {
        let ids = HashMap::from([("1".to_owned(), "accounts(x)".to_owned())]);
        assert_eq!(
            resolve_url("http://h:1/api/data/v9.2/accounts?$top=1", &ids).unwrap(),
            ("accounts".to_owned(), "$top=1".to_owned())
        );
        assert_eq!(
            resolve_url("$1/name", &ids).unwrap(),
            ("accounts(x)/name".to_owned(), String::new())
        );
        assert!(resolve_url("$2", &ids).is_err());
    }
}
