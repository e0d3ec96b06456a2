//! The release history over HTTP: a rollout's revisions (JSON, and the
//! History panel of its page), and releases across rollouts (JSON, and the
//! Releases page). Read from the history database, filtered by the
//! person's RBAC like everything else.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::auth::identity::Caller;
use super::auth::permissions::Permissions;
use super::error::AppError;
use super::queries::history_kept;
use super::templates::{HistoryPartial, PageInfo, ReleasesPage, render};
use super::view::history::{
    FiguresJson, FiguresView, GapJson, GapView, HistoryJson, HistoryView, ReleaseJson,
    ReleaseRowView, ReleasesJson, RevisionJson, rfc3339,
};
use super::view::kept_logs::KeptSummaryJson;
use crate::history::facts::Outcome;
use crate::history::figures::figures;
use crate::history::store::now_ms;
use crate::history::{History, ReleaseRow};
use crate::model::RolloutKey;

const DAY_MS: i64 = 86_400_000;
/// The windows the Releases page offers.
const WINDOWS: [(&str, &str); 4] = [
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
];
const DEFAULT_WINDOW: &str = "30d";

fn unavailable(e: crate::history::StoreError) -> AppError {
    AppError::Unavailable(e.to_string())
}

/// 404 for a namespace not shown here, 403 for one the caller may not see
/// (a deleted rollout's history stays readable while its namespace shows).
async fn require_sees(state: &AppState, caller: &Caller, namespace: &str) -> Result<(), AppError> {
    Permissions::of(state, caller)
        .require_sees(&state.view.snapshot(), namespace)
        .await
}

/// `GET /api/v1/rollouts/{ns}/{name}/history`.
pub async fn api_rollout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Json<HistoryJson>, AppError> {
    let history = history_kept(&state)?;
    require_sees(&state, &caller, &namespace).await?;
    let key = RolloutKey::new(&namespace, &name);
    let records = history.revisions(&key).await.map_err(unavailable)?;
    let gaps = history
        .gaps(gaps_since(history, &records), Some(&key))
        .await
        .map_err(unavailable)?;
    let summaries = match Permissions::of(&state, &caller)
        .may_read_logs(&namespace)
        .await?
    {
        true => history.pod_log_summaries(&key).await.map_err(unavailable)?,
        false => Vec::new(),
    };
    Ok(Json(HistoryJson {
        revisions: records
            .iter()
            .map(|r| {
                let kept = summaries.iter().find(|s| s.revision == r.revision);
                RevisionJson::of(r).with_kept_logs(kept.map(KeptSummaryJson::of))
            })
            .collect(),
        gaps: gaps.iter().map(GapJson::of).collect(),
    }))
}

/// Gaps shown with a rollout's revisions: since the oldest shown began,
/// or within the retention when none is.
fn gaps_since(history: &History, records: &[crate::history::RevisionRecord]) -> i64 {
    records
        .iter()
        .map(|r| r.started_at)
        .min()
        .unwrap_or_else(|| {
            now_ms()
                .saturating_sub(i64::try_from(history.retention.as_millis()).unwrap_or(i64::MAX))
        })
}

/// The History panel of a rollout's page (access already checked); with
/// the lines aborted revisions' pods left for one who may read logs.
pub async fn panel(state: &AppState, key: &RolloutKey, may_read_logs: bool) -> HistoryPartial {
    let history = match &state.history {
        None => HistoryView::off(),
        Some(history) => match history.revisions(key).await {
            Ok(records) => match history.gaps(gaps_since(history, &records), Some(key)).await {
                Ok(gaps) => {
                    let shown: Vec<i64> = records.iter().map(|r| r.revision).collect();
                    let kept =
                        super::kept_logs::on_entries(state, history, key, may_read_logs, &shown)
                            .await;
                    let mut view = HistoryView::of(&records, &gaps, now_ms(), kept);
                    let changed = changes_between(history, key, &shown).await;
                    if let Some(revisions) = view.revisions.as_mut() {
                        for (r, c) in revisions.iter_mut().zip(changed) {
                            r.changed = c;
                        }
                    }
                    view
                }
                Err(e) => HistoryView::failed(e.to_string()),
            },
            Err(e) => HistoryView::failed(e.to_string()),
        },
    };
    HistoryPartial {
        base: state.base_path.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
        history,
    }
}

/// History entries that say what they changed: the newest few (the panel
/// is read again at every change of the rollout).
const CHANGES_SHOWN: usize = 5;

/// For each of `shown` (newest first), what it changed from the revision
/// recorded before it, when the history kept both templates.
async fn changes_between(
    history: &History,
    key: &RolloutKey,
    shown: &[i64],
) -> Vec<Option<String>> {
    let mut templates: Vec<Option<serde_json::Value>> = Vec::new();
    for revision in shown.iter().take(CHANGES_SHOWN + 1) {
        let t = history
            .template(key, *revision)
            .await
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str(&t).ok());
        templates.push(t);
    }
    (0..shown.len().min(CHANGES_SHOWN))
        .map(|i| match (templates.get(i + 1), templates.get(i)) {
            (Some(Some(before)), Some(Some(after))) => Some(format!(
                "Changed from revision {}: {}.",
                shown[i + 1],
                crate::info::template_diff::sentence(&crate::info::template_diff::diff(
                    before, after
                ))
            )),
            _ => None,
        })
        .collect()
}

/// `GET /rollouts/{ns}/{name}/history`: the History panel alone, for the
/// page to refresh it as the release moves.
pub async fn panel_fragment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    require_sees(&state, &caller, &namespace).await?;
    // Not known now: the entries without their kept lines.
    let logs = Permissions::of(&state, &caller)
        .may_read_logs(&namespace)
        .await
        .unwrap_or(false);
    let partial = panel(&state, &RolloutKey::new(&namespace, &name), logs).await;
    Ok(Html(render(&partial)).into_response())
}

/// What `?ns=…&namespace=…&outcome=…&since=…` asks, checked.
struct Filter {
    namespace: Option<String>,
    outcome: Option<Outcome>,
    since_text: String,
    since: i64,
}

fn filter(pairs: &[(String, String)]) -> Result<Filter, AppError> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, v)| key == k && !v.is_empty())
            .map(|(_, v)| v.as_str())
    };
    let namespace = get("namespace").or_else(|| get("ns")).map(str::to_string);
    if let Some(ns) = &namespace
        && !crate::model::is_namespace_name(ns)
    {
        return Err(AppError::BadRequest(format!(
            "{ns:?} is not a namespace name"
        )));
    }
    let outcome = match get("outcome") {
        Some(o) => Some(Outcome::parse(o).ok_or_else(|| {
            AppError::BadRequest(format!(
                "outcome must be promoted, aborted, degraded, superseded or inProgress, not {o:?}"
            ))
        })?),
        None => None,
    };
    let since_text = get("since").unwrap_or(DEFAULT_WINDOW).to_string();
    let since = since_ms(&since_text, now_ms()).ok_or_else(|| {
        AppError::BadRequest(format!(
            "since must be a time (RFC 3339) or a window such as 24h, 7d, 90d, not {since_text:?}"
        ))
    })?;
    Ok(Filter {
        namespace,
        outcome,
        since_text,
        since,
    })
}

/// `7d`, `24h`, `90m` back from `now`, or an RFC 3339 time.
fn since_ms(text: &str, now: i64) -> Option<i64> {
    if let Some(days) = text.strip_suffix('d') {
        let d: i64 = days.parse().ok().filter(|d| (1..=3650).contains(d))?;
        return now.checked_sub(d * DAY_MS);
    }
    if let Some(d) = crate::info::parse_go_duration(text) {
        return now.checked_sub(i64::try_from(d.as_millis()).ok()?);
    }
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// The releases the caller may see that match `f`.
async fn visible_releases(
    state: &AppState,
    caller: &Caller,
    history: &History,
    f: &Filter,
) -> Result<Vec<ReleaseRow>, AppError> {
    if let Some(ns) = &f.namespace {
        require_sees(state, caller, ns).await?;
    }
    let rows = history.releases(f.since).await.map_err(unavailable)?;
    let scope = state.view.snapshot().health.scope.clone();
    let namespaces: BTreeSet<String> = rows
        .iter()
        .map(|r| r.key.namespace.clone())
        .filter(|ns| scope.includes(ns))
        .collect();
    let rights = Permissions::of(state, caller).rights(namespaces).await?;
    Ok(rows
        .into_iter()
        .filter(|r| scope.includes(&r.key.namespace) && rights.sees(&r.key.namespace))
        .filter(|r| f.namespace.as_ref().is_none_or(|ns| *ns == r.key.namespace))
        .filter(|r| f.outcome.is_none_or(|o| o == r.outcome))
        .collect())
}

/// The gaps the caller may see since `f.since`: the database's own, and
/// those of rollouts in namespaces they may see (and `f` asks for).
async fn visible_gaps(
    state: &AppState,
    caller: &Caller,
    history: &History,
    f: &Filter,
) -> Result<Vec<crate::history::Gap>, AppError> {
    let gaps = history.gaps(f.since, None).await.map_err(unavailable)?;
    let scope = state.view.snapshot().health.scope.clone();
    let namespaces: BTreeSet<String> = gaps
        .iter()
        .filter_map(|g| g.key.as_ref().map(|k| k.namespace.clone()))
        .filter(|ns| scope.includes(ns))
        .collect();
    let rights = Permissions::of(state, caller).rights(namespaces).await?;
    Ok(gaps
        .into_iter()
        .filter(|g| match &g.key {
            None => true,
            Some(k) => {
                scope.includes(&k.namespace)
                    && rights.sees(&k.namespace)
                    && f.namespace.as_ref().is_none_or(|ns| *ns == k.namespace)
            }
        })
        .collect())
}

/// `GET /api/v1/history?namespace=…&since=…&outcome=…`.
pub async fn api_releases(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<ReleasesJson>, AppError> {
    let history = history_kept(&state)?;
    let f = filter(&pairs)?;
    let rows = visible_releases(&state, &caller, history, &f).await?;
    let gaps = visible_gaps(&state, &caller, history, &f).await?;
    Ok(Json(ReleasesJson {
        gaps: gaps.iter().map(GapJson::of).collect(),
        since: rfc3339(f.since),
        releases: rows.iter().map(ReleaseJson::of).collect(),
        rollouts: figures(&rows, f.since, now_ms())
            .iter()
            .map(FiguresJson::of)
            .collect(),
    }))
}

/// `GET /releases`.
pub async fn releases_page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let snapshot = state.view.snapshot();
    let perms = Permissions::of(&state, &caller);
    let banner = perms.banner(&snapshot.health).await;
    let mut page = ReleasesPage {
        page: PageInfo::new(&state, &caller, String::new()),
        banner,
        namespaces: Vec::new(),
        ns: String::new(),
        outcome: String::new(),
        since: DEFAULT_WINDOW.to_string(),
        outcomes: [
            Outcome::Promoted,
            Outcome::Aborted,
            Outcome::Degraded,
            Outcome::Superseded,
            Outcome::InProgress,
        ]
        .iter()
        .map(|o| (o.as_str(), outcome_label(*o)))
        .collect(),
        windows: WINDOWS.to_vec(),
        figures: Vec::new(),
        rows: Vec::new(),
        gaps: Vec::new(),
        error: None,
    };
    let Some(history) = &state.history else {
        page.error = Some("This dashboard keeps no release history (--history-db off).".into());
        return Html(render(&page)).into_response();
    };
    let f = match filter(&pairs) {
        Ok(f) => f,
        Err(e) => {
            page.error = Some(e.to_string());
            return Html(render(&page)).into_response();
        }
    };
    page.ns = f.namespace.clone().unwrap_or_default();
    page.outcome = f
        .outcome
        .map(|o| o.as_str().to_string())
        .unwrap_or_default();
    page.since = f.since_text.clone();
    match visible_releases(&state, &caller, history, &f).await {
        Ok(rows) => {
            let now = now_ms();
            page.figures = figures(&rows, f.since, now)
                .iter()
                .map(|f| FiguresView::of(f, now))
                .collect();
            page.rows = rows
                .iter()
                .take(500)
                .map(|r| ReleaseRowView::of(r, now))
                .collect();
        }
        Err(e) => page.error = Some(e.to_string()),
    }
    if page.error.is_none() {
        match visible_gaps(&state, &caller, history, &f).await {
            Ok(gaps) => page.gaps = gaps.iter().map(GapView::of).collect(),
            Err(e) => page.error = Some(e.to_string()),
        }
    }
    // The namespaces to choose from: those shown that the person may see.
    let shown: BTreeSet<String> = snapshot
        .rollouts
        .keys()
        .map(|k| k.namespace.clone())
        .collect();
    if let Ok(rights) = perms.rights(shown.clone()).await {
        page.namespaces = shown.into_iter().filter(|ns| rights.sees(ns)).collect();
    }
    Html(render(&page)).into_response()
}

fn outcome_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Promoted => "Promoted",
        Outcome::Aborted => "Aborted",
        Outcome::Degraded => "Degraded",
        Outcome::Superseded => "Superseded",
        Outcome::InProgress => "In progress",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_windows_and_times() {
        let now = 100 * DAY_MS;
        assert_eq!(since_ms("7d", now), Some(93 * DAY_MS));
        assert_eq!(since_ms("24h", now), Some(99 * DAY_MS));
        assert_eq!(since_ms("1970-01-02T00:00:00Z", now), Some(DAY_MS));
        assert_eq!(since_ms("0d", now), None);
        assert_eq!(since_ms("yesterday", now), None);
        assert_eq!(since_ms("99999999999d", now), None);
        assert_eq!(since_ms("2562047788015215h", now), None, "no overflow");
    }
}
