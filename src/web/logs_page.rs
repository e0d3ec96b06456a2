//! `GET /rollouts/{ns}/{name}/logs`: a rollout's Logs page. Without
//! JavaScript it is the last lines of each pod, canary beside stable, with
//! a form to filter and refresh; with it, Follow appends new lines live
//! from the logs API's event stream (static/app.js).

use axum::extract::{Extension, Path, Query, State};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::auth::identity::Caller;
use super::auth::permissions::Permissions;
use super::error::PageError;
use super::logs::{LogsQuery, plan, read_now};
use super::templates::{LogsPage, PageInfo, render};
use super::view::logs::{TAILS, WINDOWS, columns};

pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, PageError> {
    let plan = plan(&state, &caller, &namespace, &name, &q).await?;
    let (entries, error) = match read_now(&state, &caller, &plan).await {
        Ok(entries) => (entries, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let base = state.base_path.clone();
    let query = query_string(&q, plan.container());
    let api = format!("{base}api/v1/rollouts/{namespace}/{name}/logs?{query}");
    let snapshot = state.view.snapshot();
    let banner = Permissions::of(&state, &caller)
        .banner(&snapshot.health)
        .await;
    let page = LogsPage {
        page: PageInfo::new(&state, &caller, String::new()),
        banner,
        namespace,
        name,
        columns: columns(plan.targets(), &entries),
        error,
        role: q.role.clone().unwrap_or_default(),
        container: plan.container().to_string(),
        containers: plan.containers().to_vec(),
        tail: q.tail_lines.unwrap_or(super::logs::DEFAULT_TAIL),
        tails: TAILS.to_vec(),
        filter: q.filter.clone().unwrap_or_default(),
        errors_only: q.errors_only == Some(true),
        since: q.since_seconds.unwrap_or(0),
        windows: WINDOWS.to_vec(),
        previous: q.previous == Some(true),
        download: api.clone(),
        follow: format!("{api}&follow=true&tailLines=0"),
    };
    Ok(Html(render(&page)).into_response())
}

/// The page's choices as the API's query (URL-encoded).
fn query_string(q: &LogsQuery, container: &str) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("container", container);
    if let Some(r) = q.role.as_deref().filter(|r| !r.is_empty()) {
        s.append_pair("role", r);
    }
    if let Some(t) = q.tail_lines {
        s.append_pair("tailLines", &t.to_string());
    }
    if let Some(f) = q.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        s.append_pair("filter", f);
    }
    if q.errors_only == Some(true) {
        s.append_pair("errorsOnly", "true");
    }
    if let Some(since) = q.since_seconds {
        s.append_pair("sinceSeconds", &since.to_string());
    }
    if q.previous == Some(true) {
        s.append_pair("previous", "true");
    }
    s.finish()
}
