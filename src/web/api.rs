//! The JSON API of Argo's dashboard, same paths and
//! field names, read from the live view's snapshot. `{ns}` may be `_all`.
//! Better than Argo: the right HTTP status on errors, an empty namespace
//! answers `{"rollouts":[]}` at once, and no request builds informers.

use std::collections::BTreeSet;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::cluster::health::ScopeState;
use crate::cluster::hub::{RolloutEntry, Snapshot};
use crate::cluster::object::Kind;
use crate::info::comparison::{Comparison, Verdict};
use crate::info::observed::ObservedTraffic;

use super::auth::identity::Caller;
use super::auth::permissions::Permissions;
use super::error::AppError;
use super::queries::{
    find_rollout, in_namespace, namespace_filter, require_sees, rights_in, rollouts_listed,
};
use super::{AppState, list_body};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NamespaceInfo {
    namespace: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    available_namespaces: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionInfo {
    rollouts_version: String,
}

/// `GET /api/v1/rollouts/{ns}/info`: every rollout of the namespace, without
/// analysis runs and experiments (as Argo's list).
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(namespace): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, AppError> {
    let ns = namespace_filter(&namespace);
    let perms = Permissions::of(&state, &caller);
    let snapshot = rollouts_listed(&state, ns).await?;
    if let Some(ns) = ns {
        // A namespace without rollouts lists none, as in Argo, and costs
        // no access review (it shows nothing, so there is nothing to hide).
        if !super::auth::permissions::shown_namespace(&snapshot, ns) {
            if !crate::model::is_namespace_name(ns) {
                return Err(AppError::NotFound(format!(
                    "{ns:?} is not a namespace name"
                )));
            }
            return Ok(Json(serde_json::json!({ "rollouts": [] })).into_response());
        }
        perms.require_sees(&snapshot, ns).await?;
    }
    let rights = rights_in(&perms, &snapshot, ns).await?;
    let entries: Vec<Arc<RolloutEntry>> = in_namespace(&snapshot, ns)
        .filter(|(k, _)| rights.sees(&k.namespace))
        .map(|(_, e)| e.clone())
        .collect();
    let response = if list_body::accepts_gzip(&headers) {
        (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CONTENT_ENCODING, "gzip"),
                (header::VARY, "accept-encoding"),
            ],
            list_body::gzip(entries, state.gzip_lists.clone()).await,
        )
            .into_response()
    } else {
        (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::VARY, "accept-encoding"),
            ],
            list_body::plain(entries, state.plain_json.clone()),
        )
            .into_response()
    };
    Ok(with_staleness(&snapshot, ns, response))
}

/// `GET /api/v1/rollouts/{ns}/{name}/info`: one rollout in full.
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    require_sees(&state, &caller, &namespace).await?;
    let (snapshot, entry) = find_rollout(&state, &namespace, &name).await?;
    Ok(with_staleness(
        &snapshot,
        Some(&namespace),
        (
            [(header::CONTENT_TYPE, "application/json")],
            entry.json.full()?,
        )
            .into_response(),
    ))
}

/// `GET /api/v1/rollouts/{ns}/{name}/observed`: what each revision
/// receives, per Prometheus (beyond Argo). `error` says why there is
/// nothing: no Prometheus configured, unreachable, no data for these pods.
pub async fn observed(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    require_sees(&state, &caller, &namespace).await?;
    let (snapshot, entry) = find_rollout(&state, &namespace, &name).await?;
    let body = match &entry.observed {
        Some(observed) => (**observed).clone(),
        None => ObservedTraffic {
            error: Some(NOT_CONFIGURED.to_string()),
            ..ObservedTraffic::default()
        },
    };
    Ok(with_staleness(
        &snapshot,
        Some(&namespace),
        Json(body).into_response(),
    ))
}

/// `GET /api/v1/rollouts/{ns}/{name}/comparison`: the canary against
/// stable, metric by metric, with a verdict (beyond Argo). Without
/// Prometheus the verdict is `nodata` and `reason` says why.
pub async fn comparison(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    require_sees(&state, &caller, &namespace).await?;
    let (snapshot, entry) = find_rollout(&state, &namespace, &name).await?;
    let body = entry
        .observed
        .as_ref()
        .and_then(|o| o.comparison.clone())
        .unwrap_or_else(|| Comparison {
            verdict: Verdict::NoData,
            window_seconds: 0,
            confidence: 0.0,
            canary_revision: None,
            stable_revision: None,
            reason: Some(format!("no observed traffic: {NOT_CONFIGURED}")),
            metrics: Vec::new(),
        });
    Ok(with_staleness(
        &snapshot,
        Some(&namespace),
        Json(body).into_response(),
    ))
}

/// Why a dashboard without `--prometheus-url` shows no observed traffic.
pub const NOT_CONFIGURED: &str = "no Prometheus configured (--prometheus-url)";

/// `GET /api/v1/namespace`: the default namespace and those with rollouts
/// (that the caller may see).
pub async fn namespace(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<impl Serialize>, AppError> {
    let snapshot = state.view.snapshot();
    let mut available: BTreeSet<String> = snapshot
        .rollouts
        .keys()
        .map(|k| k.namespace.clone())
        .collect();
    if let ScopeState::Namespaces { namespaces, .. } = &snapshot.health.scope {
        available.extend(namespaces.iter().cloned());
    }
    let rights = Permissions::of(&state, &caller)
        .rights(available.iter().cloned())
        .await?;
    available.retain(|ns| rights.sees(ns));
    Ok(Json(NamespaceInfo {
        namespace: state.default_namespace.clone(),
        available_namespaces: available.into_iter().collect(),
    }))
}

/// `GET /api/v1/version`.
pub async fn version() -> Json<impl Serialize> {
    Json(VersionInfo {
        rollouts_version: format!("rollouts-dashboard v{}", env!("CARGO_PKG_VERSION")),
    })
}

/// Data served while a watch is failing is marked with a `Warning` header
/// (RFC 7234 code 110, "Response is Stale") naming the error.
fn with_staleness(snapshot: &Snapshot, ns: Option<&str>, mut response: Response) -> Response {
    let failing = [Kind::Rollout, Kind::ReplicaSet, Kind::Pod]
        .into_iter()
        .find_map(|k| snapshot.health.failure(k, ns));
    if let Some(w) = failing {
        let text = format!(
            "110 rollouts-dashboard \"stale since {}: {} watch: {}\"",
            w.since,
            w.kind,
            w.error.as_deref().unwrap_or("failing").replace('"', "'")
        );
        if let Ok(value) = HeaderValue::from_str(&text) {
            response.headers_mut().insert(header::WARNING, value);
        }
    }
    response
}
