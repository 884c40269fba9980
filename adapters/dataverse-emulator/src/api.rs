//! Routes one authenticated Web API request (a whole request, or one `$batch` part) to the
//! reading, writing, metadata and function handlers, and turns errors into Dataverse error
//! responses. Nothing here knows about HTTP connections, auth or throttling.

use crate::keys::{find, parse_key};
use crate::odata::options::{decode_path, Prefer, QueryOptions};
use crate::query::{self, ReadCtx};
use crate::response::{push_json_str, ApiError, ApiResponse};
use crate::state::{Settings, Shared};
use crate::store::Store;
use crate::write::{self, Conditions};

/// A Web API request, relative to the service root.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    pub method: String,
    /// Path after `/api/data/v9.2/`, still percent-encoded, without the query.
    pub path: String,
    /// Raw query string (no `?`).
    pub query: String,
    /// Header names in any case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiRequest {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Who is calling and under which settings.
pub(crate) struct Env<'a> {
    pub shared: &'a Shared,
    /// `{url}/api/data/v9.2`
    pub api_base: String,
    pub client_id: String,
    pub settings: Settings,
}

/// The store, either locked per operation or already held (inside a change set).
pub(crate) enum StoreAccess<'a> {
    Lock(&'a Shared),
    Held(&'a mut Store),
}

impl StoreAccess<'_> {
    fn read<R>(&mut self, f: impl FnOnce(&Store) -> R) -> R {
        match self {
            StoreAccess::Lock(shared) => f(&shared.read_store()),
            StoreAccess::Held(store) => f(store),
        }
    }

    fn write<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        match self {
            StoreAccess::Lock(shared) => f(&mut shared.write_store()),
            StoreAccess::Held(store) => f(store),
        }
    }
}

/// Answers one request.
pub(crate) fn dispatch(env: &Env, req: &ApiRequest, store: &mut StoreAccess) -> ApiResponse {
    route(env, req, store).unwrap_or_else(ApiError::into_response)
}

/// `name`, `(key)` and the rest after `/` of a resource path.
fn split_resource(path: &str) -> Option<(&str, Option<&str>, &str)> {
    let name_end = path.find(['(', '/']).unwrap_or(path.len());
    let name = &path[..name_end];
    let rest = &path[name_end..];
    if let Some(after_open) = rest.strip_prefix('(') {
        let mut quoted = false;
        for (i, c) in after_open.char_indices() {
            match c {
                '\'' => quoted = !quoted,
                ')' if !quoted => {
                    let tail = &after_open[i + 1..];
                    let tail = match tail.strip_prefix('/') {
                        Some(t) => t,
                        None if tail.is_empty() => "",
                        None => return None,
                    };
                    return Some((name, Some(&after_open[..i]), tail));
                }
                _ => {}
            }
        }
        return None;
    }
    Some((name, None, rest.strip_prefix('/').unwrap_or(rest)))
}

fn route(env: &Env, req: &ApiRequest, store: &mut StoreAccess) -> Result<ApiResponse, ApiError> {
    let options = QueryOptions::parse(&req.query)?;
    let prefer = Prefer::parse(req.header_values("Prefer"));
    let path = decode_path(&req.path);
    if !path.starts_with("EntityDefinitions") {
        // Only metadata (the option sets of choice columns) can be expanded.
        options.reject_expand()?;
    }
    let currency = store.read(|s| s.base_currency.clone());
    let ctx = ReadCtx {
        api_base: &env.api_base,
        collation: env.settings.collation,
        page_size_max: env.shared.page_size_max,
        currency: &currency,
        prefer: &prefer,
        options: &options,
    };
    let method = req.method.as_str();
    let get_only = || {
        if method == "GET" {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(method))
        }
    };
    match path.as_str() {
        "" => {
            get_only()?;
            return Ok(store.read(|s| service_document(&env.api_base, s)));
        }
        "$metadata" => {
            return Err(ApiError::new(
                501,
                "",
                "The Dataverse emulator does not serve $metadata (CSDL).",
            ))
        }
        "$batch" => return Err(ApiError::bad_request("Batch requests cannot be nested.")),
        "WhoAmI" | "WhoAmI()" => {
            get_only()?;
            return Ok(store.read(|s| who_am_i(env, s)));
        }
        _ => {}
    }
    if let Some(args) = path.strip_prefix("RetrieveTotalRecordCount") {
        get_only()?;
        return store.read(|s| retrieve_total_record_count(&ctx, s, args));
    }
    if let Some(rest) = path.strip_prefix("EntityDefinitions") {
        if rest.is_empty() || rest.starts_with('(') {
            get_only()?;
            return store.read(|s| crate::metadata::handle(&ctx, s, rest));
        }
    }
    let (name, key_text, tail) = split_resource(&path).ok_or_else(|| {
        ApiError::bad_request(format!("Bad Request - Error in query syntax: '{path}'."))
    })?;
    let Some(table) = store.read(|s| s.index(name)) else {
        return Err(ApiError::segment_not_found(name));
    };
    let conditions = Conditions {
        if_match: req.header("If-Match").map(str::to_owned),
        if_none_match: req.header("If-None-Match").map(str::to_owned),
    };
    if tail.starts_with("Microsoft.Dynamics.CRM.") {
        return Err(ApiError::new(
            501,
            "",
            format!("The action '{tail}' is not supported by the Dataverse emulator."),
        ));
    }
    match (method, key_text, tail) {
        ("GET", None, "") => store.read(|s| query::read_collection(&ctx, &s.tables[table], name)),
        ("GET", None, "$count") => store.read(|s| query::count_rows(&ctx, &s.tables[table])),
        ("POST", None, "") => store.write(|s| write::create(&ctx, s, table, &req.body)),
        (_, None, _) if !tail.is_empty() => Err(ApiError::segment_not_found(tail)),
        (_, None, _) => Err(ApiError::method_not_allowed(method)),
        (_, Some(key_text), _) => {
            let key = store.read(|s| parse_key(&s.tables[table].def, key_text))?;
            match (method, tail) {
                ("GET", "") => store.read(|s| {
                    let t = &s.tables[table];
                    let row = find(t, &key, ctx.collation).ok_or_else(|| key.not_found(&t.def))?;
                    query::read_record(&ctx, t, name, row, conditions.if_none_match.as_deref())
                }),
                ("GET", column) => store.read(|s| {
                    let t = &s.tables[table];
                    let row = find(t, &key, ctx.collation).ok_or_else(|| key.not_found(&t.def))?;
                    query::read_property(&ctx, t, name, row, column)
                }),
                ("PATCH", "") => {
                    store.write(|s| write::upsert(&ctx, s, table, &key, &conditions, &req.body))
                }
                ("DELETE", "") => store.write(|s| write::delete(&ctx, s, table, &key, &conditions)),
                ("DELETE", column) => {
                    store.write(|s| write::set_column(&ctx, s, table, &key, column, None))
                }
                ("PUT", column) if !column.is_empty() => store
                    .write(|s| write::set_column(&ctx, s, table, &key, column, Some(&req.body))),
                _ => Err(ApiError::method_not_allowed(method)),
            }
        }
    }
}

fn service_document(api_base: &str, store: &Store) -> ApiResponse {
    let mut body = String::from("{\"@odata.context\":");
    push_json_str(&mut body, &format!("{api_base}/$metadata"));
    body.push_str(",\"value\":[");
    for (i, table) in store.tables.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str("{\"name\":");
        push_json_str(&mut body, &table.def.entity_set);
        body.push_str(",\"kind\":\"EntitySet\",\"url\":");
        push_json_str(&mut body, &table.def.entity_set);
        body.push('}');
    }
    body.push_str("]}");
    ApiResponse::json(200, body)
}

fn who_am_i(env: &Env, store: &Store) -> ApiResponse {
    let user_id = env
        .shared
        .client(&env.client_id)
        .map(|c| c.user_id.clone())
        .unwrap_or_default();
    let body = format!(
        "{{\"@odata.context\":\"{}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse\",\"BusinessUnitId\":\"{}\",\"UserId\":\"{user_id}\",\"OrganizationId\":\"{}\"}}",
        env.api_base, env.shared.business_unit_id, store.organization_id
    );
    ApiResponse::json(200, body).with_header("x-ms-dop-hint", env.shared.dop_hint.to_string())
}

/// `RetrieveTotalRecordCount(EntityNames=['account'])` or `(EntityNames=@p1)&@p1=["account"]`.
fn retrieve_total_record_count(
    ctx: &ReadCtx,
    store: &Store,
    args: &str,
) -> Result<ApiResponse, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "RetrieveTotalRecordCount requires the parameter EntityNames, e.g. (EntityNames=['account']).",
        )
    };
    let inner = args
        .strip_prefix('(')
        .and_then(|a| a.strip_suffix(')'))
        .ok_or_else(invalid)?;
    let (name, value) = inner.split_once('=').ok_or_else(invalid)?;
    if name.trim() != "EntityNames" {
        return Err(invalid());
    }
    let value = value.trim();
    let list = if value.starts_with('@') {
        ctx.options
            .aliases
            .get(value)
            .cloned()
            .ok_or_else(invalid)?
    } else {
        value.to_owned()
    };
    let names: Vec<String> = list
        .trim()
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .ok_or_else(invalid)?
        .split(',')
        .map(|n| n.trim().trim_matches(['\'', '"']).to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    let mut counts = Vec::new();
    for name in &names {
        let index = store.index_by_logical(name).ok_or_else(|| {
            ApiError::new(
                404,
                "0x80040217",
                format!("Could not find an entity with name {name}"),
            )
        })?;
        counts.push(store.tables[index].rows.len());
    }
    let mut body = format!(
        "{{\"@odata.context\":\"{}/$metadata#Microsoft.Dynamics.CRM.RetrieveTotalRecordCountResponse\",\"EntityRecordCountCollection\":{{\"Count\":{},\"IsReadOnly\":false,\"Keys\":[",
        ctx.api_base,
        names.len()
    );
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        push_json_str(&mut body, name);
    }
    body.push_str("],\"Values\":[");
    body.push_str(
        &counts
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    body.push_str("]}}");
    Ok(ApiResponse::json(200, body))
}
