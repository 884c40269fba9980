//! Web API responses and Dataverse-shaped errors, independent of the HTTP server so that the
//! same values can be sent directly or serialized as parts of a `$batch` response.

/// `Content-Type` of every JSON response.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; odata.metadata=minimal";

/// A response to one Web API request.
#[derive(Debug, Clone)]
pub(crate) struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiResponse {
    pub(crate) fn json(status: u16, body: String) -> ApiResponse {
        ApiResponse {
            status,
            headers: vec![("Content-Type".to_owned(), JSON_CONTENT_TYPE.to_owned())],
            body: body.into_bytes(),
        }
    }

    pub(crate) fn empty(status: u16) -> ApiResponse {
        ApiResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn text(status: u16, body: String) -> ApiResponse {
        ApiResponse {
            status,
            headers: vec![(
                "Content-Type".to_owned(),
                "text/plain; charset=utf-8".to_owned(),
            )],
            body: body.into_bytes(),
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> ApiResponse {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An error answered as `{"error":{"code":…,"message":…}}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 400 with the OData layer's usual code.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "0x80060888", message)
    }

    pub(crate) fn unknown_property(type_name: &str, property: &str) -> ApiError {
        ApiError::bad_request(format!(
            "Could not find a property named '{property}' on type '{type_name}'."
        ))
    }

    pub(crate) fn segment_not_found(segment: &str) -> ApiError {
        ApiError::new(
            404,
            "0x80060888",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    pub(crate) fn record_not_found(logical_name: &str, id: &str) -> ApiError {
        ApiError::new(
            404,
            "0x80040217",
            format!("{logical_name} With Id = {id} Does Not Exist"),
        )
    }

    pub(crate) fn method_not_allowed(method: &str) -> ApiError {
        ApiError::new(
            405,
            "0x80060888",
            format!("The requested resource does not support http method '{method}'."),
        )
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> ApiError {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub(crate) fn into_response(self) -> ApiResponse {
        let mut body = String::from("{\"error\":{\"code\":");
        push_json_str(&mut body, &self.code);
        body.push_str(",\"message\":");
        push_json_str(&mut body, &self.message);
        body.push_str("}}");
        let mut response = ApiResponse::json(self.status, body);
        response.headers.extend(self.headers);
        response
    }
}

/// Appends `text` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `text` as a JSON string literal.
pub(crate) fn json_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    push_json_str(&mut out, text);
    out
}

/// The reason phrase of a status code, for `$batch` part status lines.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
