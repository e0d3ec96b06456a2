//! Several clusters in one dashboard. Each has its own watches, view,
//! credentials, reviews and pages, served under `{base}clusters/{name}/`
//! by a router of its own (the same routes as the one cluster of a
//! single-cluster dashboard, whose pages and URLs stay as they are); every
//! Argo path is also at `{base}api/v1/clusters/{name}/rollouts/…`, and
//! `{base}api/v1/clusters` lists them with their state.

use axum::Json;
use axum::Router;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Extension, OriginalUri, Path, Request, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tower::ServiceExt;

use super::AppState;
use super::auth::identity::Caller;
use super::auth::permissions::Permissions;
use super::error::AppError;

/// One cluster: its name in URLs, its API server, what its pages read and
/// the router that serves them.
#[derive(Clone)]
pub struct ClusterEntry {
    pub name: String,
    pub server: String,
    pub state: AppState,
    pub app: Router,
}

/// Every cluster of the dashboard, in the order given (the first is the
/// one the plain URLs show), replaced whole when clusters come or go.
pub struct Clusters {
    entries: std::sync::RwLock<std::sync::Arc<Vec<ClusterEntry>>>,
    changed: tokio::sync::watch::Sender<u64>,
    /// Why the clusters' source (Argo CD's Secrets) cannot be read now:
    /// the clusters shown are then as last read.
    source_problem: std::sync::RwLock<Option<String>>,
}

impl Default for Clusters {
    fn default() -> Self {
        Clusters::new(Vec::new())
    }
}

impl Clusters {
    pub fn new(entries: Vec<ClusterEntry>) -> Clusters {
        Clusters {
            entries: std::sync::RwLock::new(std::sync::Arc::new(entries)),
            changed: tokio::sync::watch::Sender::new(0),
            source_problem: std::sync::RwLock::new(None),
        }
    }

    /// Whether the clusters' source can be read now (`None`), or why not.
    pub fn set_source_problem(&self, problem: Option<String>) {
        *self
            .source_problem
            .write()
            .unwrap_or_else(|p| p.into_inner()) = problem;
    }

    pub fn source_problem(&self) -> Option<String> {
        self.source_problem
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The clusters now.
    pub fn current(&self) -> std::sync::Arc<Vec<ClusterEntry>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Clusters came or went: these are all of them now.
    pub fn set(&self, entries: Vec<ClusterEntry>) {
        *self.entries.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(entries);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Changes each time the clusters do.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn find(&self, name: &str) -> Result<ClusterEntry, AppError> {
        self.current()
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "this dashboard shows no cluster {:?}; {{base}}api/v1/clusters lists them",
                    super::text::clip(name, 63)
                ))
            })
    }
}

/// The request as it reached the dashboard, before any `nest` took its
/// prefix off (each cluster's router has the whole path), without what the
/// outer router put in it (its path's parameters): only the peer's address
/// that the server gave it.
fn whole(req: Request) -> Request {
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map(|OriginalUri(u)| u.clone())
        .unwrap_or_else(|| req.uri().clone());
    to(req, uri)
}

/// `req` sent to `uri`, as the server handed it over.
fn to(req: Request, uri: Uri) -> Request {
    let (parts, body) = req.into_parts();
    let mut fresh = Request::new(body);
    *fresh.method_mut() = parts.method;
    *fresh.uri_mut() = uri;
    *fresh.version_mut() = parts.version;
    *fresh.headers_mut() = parts.headers;
    if let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        fresh.extensions_mut().insert(*peer);
    }
    fresh
}

/// `{base}clusters/{cluster}/…`: that cluster's router answers.
pub async fn dispatch(
    Extension(clusters): Extension<std::sync::Arc<Clusters>>,
    Path(params): Path<Vec<(String, String)>>,
    req: Request,
) -> Response {
    let name = params
        .iter()
        .find(|(k, _)| k == "cluster")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    match clusters.find(name) {
        Ok(c) => match c.app.clone().oneshot(whole(req)).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(e) => e.into_response(),
    }
}

/// `{base}api/v1/clusters/{cluster}/rollouts/{rest}`: Argo's path
/// `{base}api/v1/rollouts/{rest}` on that cluster.
pub async fn api_alias(
    State(state): State<AppState>,
    Extension(clusters): Extension<std::sync::Arc<Clusters>>,
    Path((name, rest)): Path<(String, String)>,
    req: Request,
) -> Response {
    let cluster = match clusters.find(&name) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let req = whole(req);
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let path = format!(
        "{}clusters/{name}/api/v1/rollouts/{rest}{query}",
        state.base_path
    );
    let Ok(uri) = path.parse::<Uri>() else {
        return AppError::BadRequest("not a valid path".into()).into_response();
    };
    match cluster.app.clone().oneshot(to(req, uri)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

#[derive(Serialize)]
struct ClusterInfo {
    name: String,
    server: String,
    /// `live`, `failing` or `syncing`.
    state: &'static str,
    message: String,
    /// The rollouts the person may see there.
    rollouts: usize,
}

/// `GET {base}api/v1/clusters`: `{"clusters":[{"name","server","state",
/// "message","rollouts"}]}`, counted as the person may see them, and
/// `"sourceProblem"` while Argo CD's cluster Secrets cannot be read.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(clusters): Extension<std::sync::Arc<Clusters>>,
) -> Result<Json<serde_json::Value>, AppError> {
    let all = clusters.current();
    let entries: Vec<(&str, &str, &AppState)> = if all.is_empty() {
        vec![(
            state.cluster_name.as_str(),
            state.cluster_server.as_str(),
            &state,
        )]
    } else {
        all.iter()
            .map(|c| (c.name.as_str(), c.server.as_str(), &c.state))
            .collect()
    };
    let mut out = Vec::with_capacity(entries.len());
    for (name, server, s) in entries {
        let snapshot = s.view.snapshot();
        let perms = Permissions::of(s, &caller);
        let banner = perms.banner(&snapshot.health).await;
        // A cluster whose reviews fail counts none for the person, and
        // says why, without failing the list of the others.
        let (rollouts, refused) = match super::queries::rights_in(&perms, &snapshot, None).await {
            Ok(rights) => (
                snapshot
                    .tallies
                    .namespaces
                    .iter()
                    .filter(|(ns, _)| rights.sees(ns))
                    .map(|(_, c)| c.total)
                    .sum(),
                None,
            ),
            Err(e) => (0, Some(e.to_string())),
        };
        let state = match banner.state {
            "live" => "live",
            "starting" => "syncing",
            _ => "failing",
        };
        let mut message = banner.headline.clone();
        if let Some(p) = banner.problems.first() {
            message = format!("{message}: {p}");
        }
        if let Some(why) = refused {
            message = format!("{message}; your rights there cannot be asked now: {why}");
        }
        out.push(ClusterInfo {
            name: name.to_string(),
            server: server.to_string(),
            state,
            message,
            rollouts,
        });
    }
    let mut answer = serde_json::json!({ "clusters": out });
    if let Some(problem) = clusters.source_problem() {
        answer["sourceProblem"] =
            serde_json::json!(format!("{problem}; the clusters shown are as last read"));
    }
    Ok(Json(answer))
}
