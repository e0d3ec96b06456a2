//! The last lines an aborted or degraded revision's pods left, kept with
//! the release history (`--history-pod-logs`): a few on the revision's
//! History entry, all on `GET /rollouts/{ns}/{name}/history/{revision}/logs`
//! and `GET /api/v1/rollouts/{ns}/{name}/history/{revision}/logs`. Only for
//! those who may read pod logs in the namespace, as the live logs are.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::auth::identity::Caller;
use super::auth::permissions::{Permissions, no_logs};
use super::error::{AppError, PageError};
use super::queries::{history_kept, revision_number};
use super::templates::{KeptLogsPage, PageInfo, render};
use super::view::kept_logs::{KeptContainerView, KeptLogJson, KeptLogsJson, KeptOnEntry};
use crate::history::History;
use crate::history::kept_logs::LINES_KEPT;
use crate::model::RolloutKey;

/// Revisions among the newest this many whose lines a History entry
/// shows (older ones link to their page): the panel is read again at
/// every change of the rollout, and each revision's lines can be 512 KiB.
const PREVIEWED_AMONG: usize = 3;

/// What each History entry of `key` shows of its kept lines; nothing for
/// a person who may not read logs, or when none are kept.
pub async fn on_entries(
    state: &AppState,
    history: &History,
    key: &RolloutKey,
    may_read_logs: bool,
    shown: &[i64],
) -> Vec<(i64, KeptOnEntry)> {
    if !may_read_logs {
        return Vec::new();
    }
    // The history stays readable without them: an error here leaves the
    // entries without their lines (and the log says why).
    let summaries = match history.pod_log_summaries(key).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(rollout = %key, error = %e, "cannot read the kept pod logs");
            return Vec::new();
        }
    };
    let previewed = summaries
        .iter()
        .map(|s| s.revision)
        .find(|r| shown.iter().take(PREVIEWED_AMONG).any(|s| s == r));
    let mut out = Vec::with_capacity(summaries.len());
    for s in &summaries {
        let preview = match previewed == Some(s.revision) {
            true => history.pod_logs(key, s.revision).await.unwrap_or_default(),
            false => Vec::new(),
        };
        let href = format!(
            "{}rollouts/{}/{}/history/{}/logs",
            state.base_path, key.namespace, key.name, s.revision
        );
        out.push((s.revision, KeptOnEntry::of(s, href, &preview)));
    }
    out
}

/// The history, the person's right to read logs, and the revision asked.
async fn checked(
    state: &AppState,
    caller: &Caller,
    namespace: &str,
    revision: &str,
) -> Result<(History, i64), AppError> {
    let history = history_kept(state)?.clone();
    let perms = Permissions::of(state, caller);
    perms
        .require_sees(&state.view.snapshot(), namespace)
        .await?;
    if !perms.may_read_logs(namespace).await? {
        return Err(no_logs(namespace));
    }
    let revision = revision_number(revision, "the path's revision")?;
    Ok((history, revision))
}

/// `GET /api/v1/rollouts/{ns}/{name}/history/{revision}/logs`.
pub async fn api(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name, revision)): Path<(String, String, String)>,
) -> Result<Json<KeptLogsJson>, AppError> {
    let (history, revision) = checked(&state, &caller, &namespace, &revision).await?;
    let logs = history
        .pod_logs(&RolloutKey::new(&namespace, &name), revision)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    Ok(Json(KeptLogsJson {
        revision: revision.to_string(),
        logs: logs.iter().map(KeptLogJson::of).collect(),
    }))
}

/// `GET /rollouts/{ns}/{name}/history/{revision}/logs`.
pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name, revision)): Path<(String, String, String)>,
) -> Result<Response, PageError> {
    let (history, revision) = checked(&state, &caller, &namespace, &revision).await?;
    let logs = history
        .pod_logs(&RolloutKey::new(&namespace, &name), revision)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let banner = Permissions::of(&state, &caller)
        .banner(&state.view.snapshot().health)
        .await;
    let page = KeptLogsPage {
        page: PageInfo::new(&state, &caller, String::new()),
        banner,
        namespace,
        name,
        revision,
        reason: logs.first().map_or("", |l| l.reason.as_str()),
        captured: logs
            .first()
            .map(|l| super::text::rfc3339(l.captured_at))
            .unwrap_or_default(),
        containers: logs
            .iter()
            .map(|l| KeptContainerView::of(l, LINES_KEPT))
            .collect(),
    };
    Ok(Html(render(&page)).into_response())
}
