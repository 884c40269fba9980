//! Query-string and `Prefer` parsing. Option names are case-sensitive (Dataverse rejects
//! `$Select`); values are percent-decoded with `+` read as a space, like ASP.NET does — which is
//! why `contains(name,'+1')` must be sent as `%2B1`.

use std::collections::HashMap;

use crate::response::ApiError;

/// The system query options of one request, decoded.
#[derive(Debug, Default, Clone)]
pub(crate) struct QueryOptions {
    pub select: Option<String>,
    pub filter: Option<String>,
    pub orderby: Option<String>,
    pub top: Option<String>,
    pub count: Option<String>,
    pub skiptoken: Option<String>,
    /// `$expand`, kept as text: only the choice-column metadata casts accept it (every other
    /// resource answers [`QueryOptions::reject_expand`]'s 501).
    pub expand: Option<String>,
    /// Parameter aliases (`@p1=…`), decoded.
    pub aliases: HashMap<String, String>,
    /// The raw query string as received (without `?`).
    pub raw: String,
}

/// Percent-decodes a query component, reading `+` as a space.
pub(crate) fn decode_component(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Percent-decodes a path (no `+` rule).
pub(crate) fn decode_path(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

impl QueryOptions {
    /// Parses a raw query string. Unsupported options are rejected the way Dataverse does.
    pub(crate) fn parse(raw: &str) -> Result<QueryOptions, ApiError> {
        let mut options = QueryOptions {
            raw: raw.to_owned(),
            ..QueryOptions::default()
        };
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode_component(name);
            let value = decode_component(value);
            if let Some(alias) = name.strip_prefix('@') {
                options.aliases.insert(format!("@{alias}"), value);
                continue;
            }
            let slot = match name.as_str() {
                "$select" => &mut options.select,
                "$filter" => &mut options.filter,
                "$orderby" => &mut options.orderby,
                "$top" => &mut options.top,
                "$count" => &mut options.count,
                "$skiptoken" => &mut options.skiptoken,
                "$expand" => &mut options.expand,
                "$skip" | "$search" | "$format" => {
                    return Err(ApiError::bad_request(format!(
                        "The query parameter {name} is not supported"
                    )))
                }
                "$apply" | "$compute" | "$levels" | "$deltatoken" => {
                    return Err(ApiError::new(
                        501,
                        "0x80060888",
                        format!(
                            "The query option '{name}' is not supported by the Dataverse emulator."
                        ),
                    ))
                }
                other if other.starts_with('$') => {
                    return Err(ApiError::bad_request(format!(
                        "The query parameter {other} is not supported"
                    )))
                }
                _ => continue,
            };
            if slot.is_some() {
                return Err(ApiError::bad_request(format!(
                    "Query option '{name}' was specified more than once, but it must be specified at most once."
                )));
            }
            *slot = Some(value);
        }
        Ok(options)
    }

    /// The answer of every resource that cannot expand: 501, as for the other unsupported
    /// options.
    pub(crate) fn reject_expand(&self) -> Result<(), ApiError> {
        match self.expand {
            None => Ok(()),
            Some(_) => Err(ApiError::new(
                501,
                "0x80060888",
                "The query option '$expand' is not supported by the Dataverse emulator.",
            )),
        }
    }

    /// `$count=true`.
    pub(crate) fn count_requested(&self) -> Result<bool, ApiError> {
        match self.count.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "'{other}' is not a valid count option."
            ))),
        }
    }

    /// `$top`, validated.
    pub(crate) fn top_value(&self) -> Result<Option<usize>, ApiError> {
        match self.top.as_deref() {
            None => Ok(None),
            Some(text) => text.trim().parse::<usize>().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid value '{text}' for $top query option found. The $top query option requires a non-negative integer value."
                ))
            }),
        }
    }

    /// The raw query string without `$skiptoken`, to carry into a nextLink.
    pub(crate) fn raw_without_skiptoken(&self) -> String {
        self.raw
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let name = p.split_once('=').map(|(n, _)| n).unwrap_or(p);
                decode_component(name) != "$skiptoken"
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The preferences of a request (all `Prefer` headers, comma-separated lists merged).
#[derive(Debug, Default, Clone)]
pub(crate) struct Prefer {
    pub max_page_size: Option<usize>,
    pub return_representation: bool,
    pub continue_on_error: bool,
    /// The patterns of `odata.include-annotations`, e.g. `*` or `OData.Community.Display.V1.*`.
    pub annotations: Vec<String>,
    pub annotations_raw: Option<String>,
}

impl Prefer {
    /// Parses every `Prefer` header value.
    pub(crate) fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Prefer {
        let mut prefer = Prefer::default();
        for value in values {
            for item in split_unquoted_commas(value) {
                let item = item.trim();
                let (name, arg) = match item.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim())),
                    None => (item, None),
                };
                match name.to_ascii_lowercase().as_str() {
                    "odata.maxpagesize" => {
                        prefer.max_page_size = arg
                            .and_then(|a| a.trim_matches('"').parse::<usize>().ok())
                            .filter(|n| *n > 0);
                    }
                    "return" => {
                        prefer.return_representation = arg
                            .map(|a| a.eq_ignore_ascii_case("representation"))
                            .unwrap_or(false);
                    }
                    "odata.continue-on-error" => prefer.continue_on_error = true,
                    "odata.include-annotations" => {
                        let list = arg.unwrap_or("").trim_matches('"');
                        prefer.annotations_raw = Some(list.to_owned());
                        prefer.annotations = list
                            .split(',')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .collect();
                    }
                    _ => {}
                }
            }
        }
        prefer
    }

    /// Whether the annotation `name` (e.g. `OData.Community.Display.V1.FormattedValue`) was asked for.
    pub(crate) fn wants_annotation(&self, name: &str) -> bool {
        self.annotations.iter().any(|pattern| {
            let (negated, pattern) = match pattern.strip_prefix('-') {
                Some(p) => (true, p),
                None => (false, pattern.as_str()),
            };
            let hit = pattern == "*"
                || pattern == name
                || pattern
                    .strip_suffix('*')
                    .is_some_and(|prefix| name.starts_with(prefix));
            hit && !negated
        })
    }
}

/// Splits on commas that are outside double quotes.
fn split_unquoted_commas(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_lists_and_quotes() {
        let p = Prefer::parse([
            "odata.maxpagesize=2, odata.include-annotations=\"OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.totalrecordcount\"",
            "return=representation",
        ]);
        assert_eq!(p.max_page_size, Some(2));
        assert!(p.return_representation);
        assert!(p.wants_annotation("OData.Community.Display.V1.FormattedValue"));
        assert!(p.wants_annotation("Microsoft.Dynamics.CRM.totalrecordcount"));
        assert!(!p.wants_annotation("Microsoft.Dynamics.CRM.lookuplogicalname"));
    }

    #[test]
    fn query_options() {
        let q = QueryOptions::parse("$select=name&$filter=name%20eq%20'a+b'&@p1=%5B%221%22%5D&x=1")
            .unwrap();
        assert_eq!(q.filter.as_deref(), Some("name eq 'a b'"));
        assert_eq!(q.aliases["@p1"], "[\"1\"]");
        assert!(QueryOptions::parse("$skip=1").is_err());
        assert!(QueryOptions::parse("$select=a&$select=b").is_err());
        let q = QueryOptions::parse("$expand=OptionSet(%24select%3DOptions)").unwrap();
        assert_eq!(q.expand.as_deref(), Some("OptionSet($select=Options)"));
        assert_eq!(q.reject_expand().unwrap_err().status, 501);
        assert!(QueryOptions::parse("$apply=x").is_err());
    }
}
