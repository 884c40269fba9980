//! `$skiptoken` paging cookies, in Dataverse's shape:
//!
//! ```text
//! <cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e%3caccountid%20last%3d%22%7bGUID%7d%22%20first%3d%22%7bGUID%7d%22%20%2f%3e%3c%2fcookie%3e" istracking="False" />
//! ```
//!
//! The inner `pagingcookie` is percent-encoded (lower-case hex) XML naming the last and first
//! primary keys of the previous page (upper-case, braced GUIDs); the whole cookie is
//! percent-encoded once more in the nextLink. With `$orderby`, one element per order column
//! (before the primary key) records that column's last and first values, so the next page
//! continues strictly after the last row in the sort order — rows inserted or deleted between
//! requests never shift pages.

use crate::response::ApiError;

/// What a `$skiptoken` says.
#[derive(Debug, Clone)]
pub(crate) struct Cookie {
    /// Number of the page this token requests (2 for the first nextLink).
    pub page_number: u64,
    /// `(element name, last value)` in cookie order; an empty `last` is null.
    pub last: Vec<(String, Option<String>)>,
}

/// One element of the paging cookie: a column with the last and first value of the page.
pub(crate) struct CookieEntry<'a> {
    pub name: &'a str,
    pub last: Option<&'a str>,
    pub first: Option<&'a str>,
}

/// The `$skiptoken` query value (already percent-encoded for the URL).
pub(crate) fn encode_skiptoken(next_page: u64, entries: &[CookieEntry]) -> String {
    let mut inner = format!("<cookie page=\"{}\">", next_page - 1);
    for entry in entries {
        inner.push('<');
        inner.push_str(entry.name);
        inner.push_str(" last=\"");
        inner.push_str(&xml_escape(entry.last.unwrap_or("")));
        inner.push_str("\" first=\"");
        inner.push_str(&xml_escape(entry.first.unwrap_or("")));
        inner.push_str("\" />");
    }
    inner.push_str("</cookie>");
    let cookie = format!(
        "<cookie pagenumber=\"{next_page}\" pagingcookie=\"{}\" istracking=\"False\" />",
        encode_inner(&inner)
    );
    encode_outer(&cookie)
}

/// A primary key the way the cookie carries it: `{UPPER-CASE}`.
pub(crate) fn braced_upper(guid: &str) -> String {
    format!("{{{}}}", guid.to_ascii_uppercase())
}

/// Parses a decoded `$skiptoken` value.
pub(crate) fn decode_skiptoken(token: &str) -> Result<Cookie, ApiError> {
    let invalid = || ApiError::bad_request(format!("The $skiptoken '{token}' is not valid."));
    let page_number = attribute(token, "pagenumber")
        .and_then(|p| p.parse::<u64>().ok())
        .filter(|p| *p >= 2)
        .ok_or_else(invalid)?;
    let encoded = attribute(token, "pagingcookie").ok_or_else(invalid)?;
    let inner = percent_encoding::percent_decode_str(&encoded)
        .decode_utf8()
        .map_err(|_| invalid())?;
    let mut last = Vec::new();
    let mut rest: &str = &inner;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').ok_or_else(invalid)? + start;
        let element = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if element.starts_with('/') {
            continue;
        }
        let name = element.split_whitespace().next().unwrap_or("");
        if name == "cookie" || name.is_empty() {
            continue;
        }
        let value = attribute(element, "last").map(|v| xml_unescape(&v));
        last.push((name.to_owned(), value.filter(|v| !v.is_empty())));
    }
    if last.is_empty() {
        return Err(invalid());
    }
    Ok(Cookie { page_number, last })
}

/// The value of `name="…"` in a tag (names are matched as whole words).
fn attribute(text: &str, name: &str) -> Option<String> {
    let pattern = format!("{name}=\"");
    let mut search = 0;
    while let Some(found) = text[search..].find(&pattern) {
        let at = search + found;
        let boundary = at == 0 || text[..at].ends_with(|c: char| c.is_whitespace() || c == '<');
        let start = at + pattern.len();
        if boundary {
            let end = text[start..].find('"')? + start;
            return Some(text[start..end].to_owned());
        }
        search = start;
    }
    None
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Inner encoding: everything but ASCII letters, digits, `-`, `_` and `.` as lower-case `%xx`.
fn encode_inner(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02x}"));
        }
    }
    out
}

/// Outer encoding, as in Dataverse's nextLinks: `<`, `>`, `"`, space and `%` (upper-case hex);
/// `=` and `/` stay.
fn encode_outer(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if matches!(byte, b'<' | b'>' | b'"' | b' ' | b'%' | b'&' | b'#' | b'+') || !byte.is_ascii()
        {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push(byte as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_documented_shape() {
        let token = encode_skiptoken(
            2,
            &[CookieEntry {
                name: "contactid",
                last: Some("{D5026A4D-D01C-ED11-B83E-000D3A572421}"),
                first: Some("{49B0BE2E-D01C-ED11-B83E-000D3A572421}"),
            }],
        );
        assert_eq!(
            token,
            "%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%253ccontactid%2520last%253d%2522%257bD5026A4D-D01C-ED11-B83E-000D3A572421%257d%2522%2520first%253d%2522%257b49B0BE2E-D01C-ED11-B83E-000D3A572421%257d%2522%2520%252f%253e%253c%252fcookie%253e%22%20istracking=%22False%22%20/%3E"
        );
        let decoded = crate::odata::options::decode_component(&token);
        let cookie = decode_skiptoken(&decoded).unwrap();
        assert_eq!(cookie.page_number, 2);
        assert_eq!(
            cookie.last,
            vec![(
                "contactid".to_owned(),
                Some("{D5026A4D-D01C-ED11-B83E-000D3A572421}".to_owned())
            )]
        );
    }
}
