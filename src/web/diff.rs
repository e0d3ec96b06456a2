//! What changed between two revisions of a rollout: their ReplicaSets' pod
//! templates, read as the person (`cluster::templates`), diffed
//! (`info::template_diff`). `GET {base}/api/v1/rollouts/{ns}/{name}/diff
//! ?from=1&to=2` (default: stable → the current revision), the rollout
//! page's "What changed" panel, and the sentence a rollback confirmation
//! shows.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::identity::Caller;
use super::auth::permissions::{Permissions, actor_for};
use super::error::AppError;
use super::queries::{find_rollout, revision_number};
use crate::cluster::templates::TemplateError;
use crate::info::RolloutInfo;
use crate::info::template_diff::{Change, diff, sentence};
use crate::model::RolloutKey;

#[derive(Debug, Default, Deserialize)]
pub struct DiffQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiffJson {
    pub from: String,
    pub to: String,
    pub changes: Vec<Change>,
    /// The changes in a sentence ("changes image api:2.1 → api:2.0").
    pub summary: String,
    /// Which side came from the release history, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `GET /api/v1/rollouts/{ns}/{name}/diff`.
pub async fn api(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<DiffJson>, AppError> {
    let revision = |s: &Option<String>, which: &str| {
        s.as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| revision_number(s, which))
            .transpose()
    };
    let (from, to) = (revision(&q.from, "from")?, revision(&q.to, "to")?);
    Ok(Json(
        what_changed(&state, &caller, &namespace, &name, from, to).await?,
    ))
}

/// The changes from revision `from` (default: stable's) to `to` (default:
/// the current one) of `namespace/name`, as `caller` may read them.
pub async fn what_changed(
    state: &AppState,
    caller: &Caller,
    namespace: &str,
    name: &str,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<DiffJson, AppError> {
    Permissions::of(state, caller)
        .require_sees(&state.view.snapshot(), namespace)
        .await?;
    let (_, entry) = find_rollout(state, namespace, name).await?;
    let info = entry.info(&RolloutKey::new(namespace, name));
    changes_in(state, caller, &info, from, to).await
}

/// As `what_changed`, for a rollout whose `info` the caller may see (the
/// rollout page has read it and checked that).
pub async fn changes_in(
    state: &AppState,
    caller: &Caller,
    info: &RolloutInfo,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<DiffJson, AppError> {
    let (namespace, name) = (
        info.object_meta.namespace.as_str(),
        info.object_meta.name.as_str(),
    );
    let (from, to) = revisions(info, from, to)?;
    let client = actor_for(state, caller)?.client();
    let who = match caller.user() {
        Some(u) => format!("{}\n{}", u.name, u.groups.join(",")),
        None => String::new(),
    };
    let key = RolloutKey::new(namespace, name);
    let read = |revision: i64| {
        let rs = replica_set_of(info, revision);
        let client = client.clone();
        let who = who.clone();
        let key = &key;
        async move {
            match rs {
                Some(rs) => state
                    .templates
                    .get(&who, client, namespace, &rs)
                    .await
                    .map(|t| (t, false))
                    .map_err(refused),
                None => kept_template(state, key, revision).await.map(|t| (t, true)),
            }
        }
    };
    let ((a, a_kept), (b, b_kept)) = tokio::try_join!(read(from), read(to))?;
    let changes = diff(&a, &b);
    let kept: Vec<String> = [(from, a_kept), (to, b_kept)]
        .iter()
        .filter(|(_, k)| *k)
        .map(|(r, _)| r.to_string())
        .collect();
    Ok(DiffJson {
        from: from.to_string(),
        to: to.to_string(),
        summary: sentence(&changes),
        changes,
        note: match kept.as_slice() {
            [] => None,
            [one] => Some(format!(
                "revision {one} is gone from the cluster: its template as the release history kept it, without literal env values"
            )),
            many => Some(format!(
                "revisions {} are gone from the cluster: their templates as the release history kept them, without literal env values",
                many.join(" and ")
            )),
        },
    })
}

/// A revision's template as the history kept it, when its ReplicaSet is
/// gone.
async fn kept_template(
    state: &AppState,
    key: &RolloutKey,
    revision: i64,
) -> Result<std::sync::Arc<serde_json::Value>, AppError> {
    let gone = || {
        AppError::NotFound(format!(
            "revision {revision} of {key} has no ReplicaSet any more, and the release history kept no template of it"
        ))
    };
    let history = state.history.as_ref().ok_or_else(gone)?;
    let text = history
        .template(key, revision)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?
        .ok_or_else(gone)?;
    serde_json::from_str(&text)
        .map(std::sync::Arc::new)
        .map_err(|e| AppError::Internal(format!("a kept template does not read back: {e}")))
}

/// The revisions to compare: `to` the current one unless given; `from`
/// the stable one unless given, or the one before `to` when that is
/// stable (a finished release).
fn revisions(
    info: &RolloutInfo,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(i64, i64), AppError> {
    let current = info
        .replica_sets
        .iter()
        .map(|rs| rs.revision)
        .max()
        .unwrap_or(0);
    let to = to.unwrap_or(current);
    let stable = info
        .replica_sets
        .iter()
        .find(|rs| rs.stable)
        .map(|rs| rs.revision)
        .filter(|r| *r != to);
    let before = info
        .replica_sets
        .iter()
        .map(|rs| rs.revision)
        .filter(|r| *r < to)
        .max();
    let from = from.or(stable).or(before).ok_or_else(|| {
        AppError::NotFound(format!(
            "{} has no earlier revision to compare revision {to} with",
            info.object_meta.name
        ))
    })?;
    Ok((from, to))
}

fn replica_set_of(info: &RolloutInfo, revision: i64) -> Option<String> {
    info.replica_sets
        .iter()
        .find(|rs| rs.revision == revision)
        .map(|rs| rs.object_meta.name.clone())
}

fn refused(e: TemplateError) -> AppError {
    match e {
        TemplateError::Refused { code: 403, message } => AppError::Forbidden(format!(
            "you may not read the rollout's ReplicaSets (get replicasets): {message}"
        )),
        TemplateError::Refused { code: 404, message } => AppError::NotFound(message),
        other => AppError::Unavailable(other.to_string()),
    }
}
