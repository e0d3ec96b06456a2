//! The Kubernetes REST protocol as the simulated API server speaks it:
//! discovery, paths, authentication and RBAC, reviews, list, watch, get,
//! create, update, patch and delete.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::rbac::{Attributes, authorize};
use super::selectors::{FieldSelector, LabelSelector};
use super::users::UserInfo;
use crate::sim::resources::{self, RESOURCES, ResourceType};
use crate::sim::store::{ApiError, Change, Filter, Subresource};

use super::logs::LogQuery;
use super::reviews;
use super::server::{ApiServer, RecordedRequest};

pub(super) async fn version() -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-rollouts-dashboard-sim",
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "", "compiler": "", "platform": "linux/amd64"
        }),
    )
}

pub(super) async fn core_versions() -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]
        }),
    )
}

pub(super) async fn group_list(State(server): State<ApiServer>) -> Response {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    let installed = |r: &&ResourceType| !server.faults.is_uninstalled(r.group);
    for r in RESOURCES
        .iter()
        .filter(|r| !r.group.is_empty())
        .filter(installed)
    {
        // A group's versions are those of all its resources (Gateway API:
        // v1 routes and v1alpha2 ones), the first preferred.
        match groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                for v in r.versions {
                    if !versions.contains(v) {
                        versions.push(v);
                    }
                }
            }
            None => groups.push((r.group, r.versions.to_vec())),
        }
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(g, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": vs, "preferredVersion": vs[0]})
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

fn resource_list(group: &str, version: &str) -> Option<Value> {
    let served: Vec<&ResourceType> = RESOURCES
        .iter()
        .filter(|r| r.serves(group, version))
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for r in served {
        list.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": if r.kind.ends_with("Review") { json!(["create"]) } else { json!(["create", "delete", "get", "list", "patch", "update", "watch"]) },
            "shortNames": r.short_names
        }));
        if r.status_subresource {
            list.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                             "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}

/// Where a request points, parsed from its path.
struct Target {
    rt: &'static ResourceType,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Subresource,
}

enum Parsed {
    Discovery(String, String),
    Resource(Target),
    /// `pods/{name}/log`.
    Log(Target),
}

fn parse_path(path: &str) -> Result<Parsed, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    };
    if rest.is_empty() {
        return Ok(Parsed::Discovery(group.to_string(), version.to_string()));
    }
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] if *plural != "status" => {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        other => (None, other.to_vec()),
    };
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let rt = resources::find(group, version, rest[0]).ok_or_else(not_found)?;
    if namespace.is_some() && !rt.namespaced {
        return Err(not_found());
    }
    let target = |sub| Target {
        rt,
        version: version.to_string(),
        namespace: namespace.clone(),
        name: rest.get(1).map(|s| s.to_string()),
        sub,
    };
    match rest.get(2) {
        None => Ok(Parsed::Resource(target(Subresource::Main))),
        Some(&"status") if rt.status_subresource && rest.len() == 3 => {
            Ok(Parsed::Resource(target(Subresource::Status)))
        }
        Some(&"log") if rt.plural == "pods" && rest.len() == 3 && namespace.is_some() => {
            Ok(Parsed::Log(target(Subresource::Main)))
        }
        Some(_) => Err(not_found()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    watch: Option<String>,
    resource_version: Option<String>,
    label_selector: Option<String>,
    field_selector: Option<String>,
    limit: Option<usize>,
    #[serde(rename = "continue")]
    continue_token: Option<String>,
    timeout_seconds: Option<u64>,
    allow_watch_bookmarks: Option<bool>,
    send_initial_events: Option<bool>,
    // pods/{name}/log
    container: Option<String>,
    follow: Option<String>,
    tail_lines: Option<i64>,
    since_seconds: Option<i64>,
    since_time: Option<String>,
    timestamps: Option<String>,
    previous: Option<String>,
    limit_bytes: Option<i64>,
}

/// `true` and `1` are true, as Kubernetes reads a boolean query parameter.
fn flag(v: Option<&str>) -> bool {
    matches!(v, Some("true" | "1"))
}

pub(super) async fn handle(
    State(server): State<ApiServer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match Query::<Params>::try_from_uri(&uri) {
        Ok(Query(p)) => p,
        Err(e) => return error_response(&ApiError::bad_request(format!("invalid query: {e}"))),
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    // Protobuf bodies (kubectl's for built-in kinds) are not understood:
    // 415 is what makes a client send JSON instead.
    if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        return error_response(&ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json (got {content_type})"
            ),
        ));
    }
    let identity = identify(&server, &headers);
    if method != Method::GET {
        let (user, impersonated_by) = match &identity {
            Ok(Some(who)) => (Some(who.user.name.clone()), who.impersonated_by.clone()),
            _ => (None, None),
        };
        let record = RecordedRequest {
            method: method.to_string(),
            path: uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            content_type: content_type.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            user,
            impersonated_by,
        };
        server
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(record);
    }
    let delay = server.faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let caller = match identity {
        Ok(who) => who.map(|w| w.user),
        Err(e) => return error_response(&e),
    };
    let request = Incoming {
        method,
        path: uri.path(),
        content_type: &content_type,
        params,
        body: &body,
        caller: caller.as_ref(),
    };
    match route(&server, request).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

/// Who sent a request, once authenticated.
struct Identity {
    user: UserInfo,
    impersonated_by: Option<String>,
}

/// Authenticates the bearer token and applies `Impersonate-User` /
/// `Impersonate-Group` when the caller may impersonate (`None`: the server
/// runs without `--users` and allows everything).
fn identify(server: &ApiServer, headers: &HeaderMap) -> Result<Option<Identity>, ApiError> {
    let Some(users) = &server.users else {
        return Ok(None);
    };
    let unauthorized = || ApiError::new(401, "Unauthorized", "Unauthorized");
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(unauthorized)?;
    let caller = users.authenticate(token).ok_or_else(unauthorized)?.clone();
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    };
    let groups = values("impersonate-group");
    let Some(name) = values("impersonate-user").into_iter().next() else {
        if groups.is_empty() {
            return Ok(Some(Identity {
                user: caller,
                impersonated_by: None,
            }));
        }
        return Err(ApiError::bad_request(
            "requested impersonation of groups without impersonating a user",
        ));
    };
    let may = |resource: &str, namespace: Option<String>, target: &str| {
        let attrs = Attributes {
            verb: "impersonate".to_string(),
            resource: resource.to_string(),
            namespace,
            name: Some(target.to_string()),
            ..Attributes::default()
        };
        authorize(&server.store, &caller, &attrs)
            .map_err(|_| ApiError::new(403, "Forbidden", attrs.forbidden_message(&caller.name)))
    };
    match name
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, sa)) => may("serviceaccounts", Some(ns.to_string()), sa)?,
        None => may("users", None, &name)?,
    };
    for g in &groups {
        may("groups", None, g)?;
    }
    Ok(Some(Identity {
        user: UserInfo::authenticated(&name, "", &groups),
        impersonated_by: Some(caller.name),
    }))
}

/// One request, as `route` needs it.
struct Incoming<'a> {
    method: Method,
    path: &'a str,
    content_type: &'a str,
    params: Params,
    body: &'a [u8],
    /// `None`: no `--users`, everything allowed.
    caller: Option<&'a UserInfo>,
}

async fn route(server: &ApiServer, request: Incoming<'_>) -> Result<Response, ApiError> {
    let Incoming {
        method,
        path,
        content_type,
        params,
        body,
        caller,
    } = request;
    let target = match parse_path(path)? {
        Parsed::Discovery(g, v) if method == Method::GET => {
            return (!server.faults.is_uninstalled(&g))
                .then(|| resource_list(&g, &v))
                .flatten()
                .map(|l| json_response(StatusCode::OK, &l))
                .ok_or_else(|| {
                    ApiError::new(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    )
                });
        }
        Parsed::Discovery(..) => {
            return Err(ApiError::new(405, "MethodNotAllowed", "method not allowed"));
        }
        Parsed::Resource(t) => t,
        Parsed::Log(t) if method == Method::GET => return pod_log(server, caller, t, params),
        Parsed::Log(_) => {
            return Err(ApiError::new(405, "MethodNotAllowed", "method not allowed"));
        }
    };
    let verb = match (&method, target.name.is_some()) {
        (&Method::GET, false) if matches!(params.watch.as_deref(), Some("true" | "1")) => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, _) => "delete",
        _ => "access",
    };
    authorize_caller(server, caller, &target, verb)?;
    // Reviews fail in an outage like everything else.
    if let Some(fault) = server
        .faults
        .check(Some(target.rt), verb, target.namespace.as_deref())
    {
        return Err(fault);
    }
    if method == Method::POST {
        let users = server.users.as_deref();
        if reviews::KINDS.contains(&target.rt.kind) {
            let review = parse_json(body)?;
            if let Some(a) = reviews::answer(target.rt.kind, &review, &server.store, users, caller)
            {
                return Ok(json_response(StatusCode::CREATED, &a));
            }
        }
    }
    let store = &server.store;
    let ns = target.namespace.clone().unwrap_or_default();
    let rt = target.rt;
    if matches!(verb, "update" | "patch") {
        churn(server, &target);
    }
    let served = |obj: &Value| with_version(obj, rt, &target.version);
    match (method, target.name.as_deref()) {
        (Method::GET, None) => {
            let filter = Filter {
                namespace: target.namespace.clone(),
                labels: LabelSelector::parse(params.label_selector.as_deref().unwrap_or_default())
                    .map_err(ApiError::bad_request)?,
                fields: FieldSelector::parse(params.field_selector.as_deref().unwrap_or_default())
                    .map_err(ApiError::bad_request)?,
            };
            if matches!(params.watch.as_deref(), Some("true" | "1")) {
                return Ok(watch(server, &target, filter, &params));
            }
            if params
                .continue_token
                .as_deref()
                .is_some_and(|t| !t.is_empty())
            {
                server.faults.page_may_go().await;
            }
            let page = store.list(rt, &filter, params.limit, params.continue_token.as_deref())?;
            let mut meta = json!({"resourceVersion": page.resource_version.to_string()});
            if let Some(c) = page.continue_token {
                meta["continue"] = Value::String(c);
            }
            let items: Vec<Value> = page.items.iter().map(|o| served(o)).collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(&target.version),
                    "metadata": meta, "items": items
                }),
            ))
        }
        (Method::GET, Some(name)) => Ok(json_response(
            StatusCode::OK,
            &served(&*store.get(rt, &ns, name)?),
        )),
        (Method::POST, None) => {
            let obj = parse_json(body)?;
            Ok(json_response(
                StatusCode::CREATED,
                &served(&*store.create(rt, &ns, obj, false)?),
            ))
        }
        (Method::PUT, Some(name)) => {
            let obj = parse_json(body)?;
            Ok(json_response(
                StatusCode::OK,
                &served(&*store.update(rt, &ns, name, obj, target.sub)?),
            ))
        }
        (Method::PATCH, Some(name)) => {
            let apply = patch_fn(content_type, body)?;
            Ok(json_response(
                StatusCode::OK,
                &served(&*store.patch(rt, &ns, name, target.sub, apply)?),
            ))
        }
        (Method::DELETE, Some(name)) => Ok(json_response(
            StatusCode::OK,
            &served(&*store.delete(rt, &ns, name)?),
        )),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "method not allowed on this path",
        )),
    }
}

/// RBAC for a signed-in caller (`--users`): 403 unless a binding allows
/// `verb` on the target, as the API server's authorizer answers.
/// `GET pods/{name}/log`, authorized and faulted like every request.
fn pod_log(
    server: &ApiServer,
    caller: Option<&UserInfo>,
    t: Target,
    params: Params,
) -> Result<Response, ApiError> {
    authorize_log(server, caller, &t)?;
    if let Some(fault) = server
        .faults
        .check(Some(t.rt), "get", t.namespace.as_deref())
    {
        return Err(fault);
    }
    let query = LogQuery {
        container: params.container,
        follow: flag(params.follow.as_deref()),
        tail_lines: params.tail_lines,
        since_seconds: params.since_seconds,
        since_time: params.since_time,
        timestamps: flag(params.timestamps.as_deref()),
        previous: flag(params.previous.as_deref()),
        limit_bytes: params.limit_bytes,
    };
    let (ns, name) = (t.namespace.unwrap_or_default(), t.name.unwrap_or_default());
    super::logs::pod_log(server, &ns, &name, query)
}

/// `get pods/log` for the caller (RBAC names the subresource).
fn authorize_log(
    server: &ApiServer,
    caller: Option<&UserInfo>,
    target: &Target,
) -> Result<(), ApiError> {
    let Some(user) = caller else {
        return Ok(());
    };
    let attrs = Attributes {
        verb: "get".to_string(),
        group: String::new(),
        resource: "pods".to_string(),
        subresource: "log".to_string(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
    };
    authorize(&server.store, user, &attrs)
        .map(|_| ())
        .map_err(|_| ApiError::new(403, "Forbidden", attrs.forbidden_message(&user.name)))
}

fn authorize_caller(
    server: &ApiServer,
    caller: Option<&UserInfo>,
    target: &Target,
    verb: &str,
) -> Result<(), ApiError> {
    let Some(user) = caller else {
        return Ok(());
    };
    let attrs = Attributes {
        verb: verb.to_string(),
        group: target.rt.group.to_string(),
        resource: target.rt.plural.to_string(),
        subresource: match target.sub {
            Subresource::Main => String::new(),
            Subresource::Status => "status".to_string(),
        },
        namespace: target.namespace.clone(),
        name: target.name.clone(),
    };
    // Anyone signed in may ask what they themselves may do.
    let own_review = target.rt.kind == "SelfSubjectAccessReview" && verb == "create";
    if !own_review && authorize(&server.store, user, &attrs).is_err() {
        return Err(ApiError::new(
            403,
            "Forbidden",
            attrs.forbidden_message(&user.name),
        ));
    }
    Ok(())
}

/// The churn fault: another writer gets to the object first, so an update
/// from a stale read meets a newer version.
fn churn(server: &ApiServer, target: &Target) {
    let (store, rt) = (&server.store, target.rt);
    let ns = target.namespace.clone().unwrap_or_default();
    if let Some(name) = target.name.as_deref()
        && server.faults.take_churn()
    {
        // Another writer gets there first: the object's version moves on.
        let touched = store.patch(rt, &ns, name, Subresource::Main, |o| {
            let n = o
                .pointer("/metadata/annotations/sim.rollouts-dashboard.io~1churn")
                .and_then(Value::as_str)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            // Annotations are strings.
            o["metadata"]["annotations"]["sim.rollouts-dashboard.io/churn"] =
                json!((n + 1).to_string());
            Ok(())
        });
        if let Err(e) = touched {
            tracing::debug!(error = %e, "sim: the churn fault could not touch the object");
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

type PatchFn = Box<dyn FnOnce(&mut Value) -> Result<(), ApiError> + Send>;

/// The edit a PATCH makes, by content type. Strategic merge is applied as a
/// JSON merge patch (what it amounts to for custom resources' fields).
fn patch_fn(content_type: &str, body: &[u8]) -> Result<PatchFn, ApiError> {
    match content_type {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let patch = parse_json(body)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            Ok(Box::new(move |obj: &mut Value| {
                json_patch::merge(obj, &patch);
                Ok(())
            }))
        }
        "application/json-patch+json" => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            Ok(Box::new(move |obj: &mut Value| {
                json_patch::patch(obj, &patch).map_err(|e| {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!("the JSON patch could not be applied: {e}"),
                    )
                })
            }))
        }
        other => Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other:?})"
            ),
        )),
    }
}

/// Serves an object under the requested version of its group.
fn with_version(obj: &Value, rt: &ResourceType, version: &str) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out.as_object_mut() {
        m.insert("apiVersion".into(), Value::String(rt.api_version(version)));
    }
    out
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error_response(e: &ApiError) -> Response {
    let status = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(status, &e.status());
    if e.code == 429 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    resp
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

fn bookmark(rt: &ResourceType, version: &str, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": rt.kind, "apiVersion": rt.api_version(version), "metadata": meta})
}

/// A watch: newline-delimited JSON events over a chunked HTTP 200 response.
fn watch(server: &ApiServer, target: &Target, filter: Filter, params: &Params) -> Response {
    let rt = target.rt;
    let version = target.version.clone();
    let initial_events = params.send_initial_events == Some(true);
    let from = match params.resource_version.as_deref() {
        _ if initial_events => None,
        None | Some("") | Some("0") => None,
        Some(rv) => match rv.parse::<u64>() {
            Ok(rv) => Some(rv),
            Err(_) => {
                return error_response(&ApiError::bad_request(format!(
                    "invalid resourceVersion {rv:?}"
                )));
            }
        },
    };
    let bookmarks = params.allow_watch_bookmarks == Some(true);
    let timeout = params
        .timeout_seconds
        .map_or(super::server::MAX_WATCH, |s| {
            Duration::from_secs(s).min(super::server::MAX_WATCH)
        });
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(256);
    let stream_body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    match server.store.watch(rt, &filter, from) {
        Err(expired) => {
            // A real server answers 200 and an ERROR event: clients relist.
            let line = event_line("ERROR", &expired.status());
            let _ = tx.try_send(Ok(line));
        }
        Ok((backlog, rv_now, changes)) => {
            let bookmark_every = server.bookmark_every;
            let shutdown = server
                .watches
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let serving = server.serving.clone().unwrap_or_default();
            tokio::spawn(async move {
                let send = |bytes: Bytes| {
                    let tx = tx.clone();
                    async move { tx.send(Ok(bytes)).await.is_ok() }
                };
                let mut last = from.unwrap_or(0);
                for c in &backlog {
                    if !send(event_line(
                        c.event.as_str(),
                        &with_version(&c.object, rt, &version),
                    ))
                    .await
                    {
                        return;
                    }
                    last = last.max(c.rv);
                }
                if from.is_none() {
                    last = rv_now;
                }
                if initial_events
                    && !send(event_line(
                        "BOOKMARK",
                        &bookmark(rt, &version, rv_now, true),
                    ))
                    .await
                {
                    return;
                }
                stream_changes(
                    changes,
                    rt,
                    &version,
                    &filter,
                    last,
                    bookmarks,
                    timeout,
                    [shutdown, serving],
                    &tx,
                    bookmark_every,
                )
                .await;
            });
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        stream_body,
    )
        .into_response()
}

#[allow(clippy::too_many_arguments)]
async fn stream_changes(
    mut changes: broadcast::Receiver<Change>,
    rt: &'static ResourceType,
    version: &str,
    filter: &Filter,
    mut last: u64,
    bookmarks: bool,
    timeout: Duration,
    [closed, stopped]: [CancellationToken; 2],
    tx: &mpsc::Sender<Result<Bytes, Infallible>>,
    bookmark_every: Duration,
) {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(bookmark_every);
    ticker.tick().await;
    loop {
        let line = tokio::select! {
            _ = &mut deadline => return,
            _ = closed.cancelled() => return,
            _ = stopped.cancelled() => return,
            _ = tx.closed() => return,
            _ = ticker.tick(), if bookmarks => event_line("BOOKMARK", &bookmark(rt, version, last, false)),
            change = changes.recv() => match change {
                Ok(c) if c.resource.plural == rt.plural && c.rv > last => {
                    last = c.rv;
                    if !filter.matches(&c.object) {
                        continue;
                    }
                    event_line(c.event.as_str(), &with_version(&c.object, rt, version))
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // This watch fell behind the history it could replay:
                    // tell the client to relist, as a real server would.
                    let _ = tx.send(Ok(event_line("ERROR", &ApiError::expired("watch fell behind; relist").status()))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if tx.send(Ok(line)).await.is_err() {
            return;
        }
    }
}
