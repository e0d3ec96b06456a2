//! The two pages: the overview (`/`) and a rollout (`/rollouts/{ns}/{name}`).
//! Both render from the snapshot; the live stream keeps them current.

use axum::extract::{Extension, Path, Query, State};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::auth::identity::Caller;
use super::auth::permissions::{Permissions, shown_namespace};
use super::error::{AppError, PageError};
use super::overview;
use super::templates::{Chip, OverviewPage, PageInfo, RolloutPage, render};
use super::view::bulk::BULK_ACTIONS;
use super::view::changes::ChangesView;
use super::view::detail::DetailView;
use super::view::filter::STATUSES;
use super::view::health::BannerView;
use super::view::overview::{NAMESPACES_SHOWN, Overview, OverviewQuery};
use super::view::status_class;
use crate::info::RolloutInfo;
use crate::model::RolloutKey;

/// `GET /`: what needs a person, a summary per namespace (when there are
/// more rollouts than a page holds), then a page of the rollouts the
/// query's filter keeps, grouped by namespace. Filters and the page are in
/// the URL, so it all works without JavaScript and can be shared.
pub async fn overview(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let query = OverviewQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let snapshot = state.view.snapshot();
    let base = state.base_path.clone();
    let perms = Permissions::of(&state, &caller);
    let rights = super::queries::rights_in(&perms, &snapshot, None).await?;
    let o = Overview::of(&snapshot, |ns| rights.sees(ns), &query);
    let paged = o.paged();
    let summary: Vec<_> = if paged {
        o.namespaces
            .iter()
            .take(NAMESPACES_SHOWN)
            .map(|(ns, c)| overview::namespace_row(&base, ns, c))
            .collect()
    } else {
        Vec::new()
    };
    let page = OverviewPage {
        // The stream then sends only what changed after this page, for
        // this page.
        page: PageInfo::new(
            &state,
            &caller,
            overview_stream_url(&base, &query, o.page, Some(snapshot.seq)),
        ),
        banner: perms.banner(&snapshot.health).await,
        chips: STATUSES
            .iter()
            .map(|s| Chip {
                status: s,
                class: status_class(s),
                count: o.counts.of(s),
                checked: query.filter.has_status(s),
            })
            .collect(),
        attention: o.counts.attention,
        namespaces: o.namespaces.keys().cloned().collect(),
        attention_list: paged
            .then(|| overview::attention_list(&base, &o.attention, o.counts.attention)),
        summary_more: o.namespaces.len().saturating_sub(summary.len()),
        summary,
        groups: overview::groups(&state, &rights, &o),
        status: overview::page_status(&base, &o, &query, &snapshot.health),
        filter: query.filter,
        read_only: state.read_only,
        bulk_actions: BULK_ACTIONS
            .iter()
            .map(|a| (a.segment(), a.label()))
            .collect(),
    };
    Ok(Html(render(&page)).into_response())
}

/// The overview stream for `query` on `page`, sending only changes after
/// `since` when given.
pub fn overview_stream_url(
    base: &str,
    query: &OverviewQuery,
    page: usize,
    since: Option<u64>,
) -> String {
    let mut url = format!("{base}stream/overview?");
    if let Some(seq) = since {
        url.push_str(&format!("since={}&", super::since::since_token(seq)));
    }
    url.push_str(&query.filter.query(page));
    url.trim_end_matches(['&', '?']).to_string()
}

/// `GET /rollouts/{ns}/{name}`.
pub async fn rollout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let snapshot = state.view.snapshot();
    let base = state.base_path.clone();
    // A namespace this dashboard does not show costs no access review.
    if !shown_namespace(&snapshot, &namespace) && snapshot.health.ready() {
        return Err(AppError::NotFound(format!(
            "This dashboard shows no rollouts in namespace {namespace:?}."
        ))
        .into());
    }
    let perms = Permissions::of(&state, &caller);
    let access = perms.access(&namespace).await?;
    if !access.list {
        return Err(AppError::Forbidden(format!(
            "You may not see rollouts in namespace {namespace}: your Kubernetes RBAC does not allow list on rollouts there."
        ))
        .into());
    }
    let key = RolloutKey::new(&namespace, &name);
    let Some(entry) = snapshot.rollouts.get(&key) else {
        let banner = BannerView::of(&snapshot.health);
        let why = if snapshot.health.ready() {
            format!("There is no rollout {name} in namespace {namespace} (or it was deleted).")
        } else {
            format!(
                "{}: rollout {namespace}/{name} is not known yet; reload in a moment.",
                banner.headline
            )
        };
        return Err(AppError::NotFound(why).into());
    };
    // The outcome of a form post without JavaScript: a code, never text
    // from the URL (a link could otherwise put words on this page).
    let flash = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| outcome_text(v))
    };
    let banner = perms.banner(&snapshot.health).await;
    // Not known now: no link (the Logs page would say why).
    let logs = perms.may_read_logs(&namespace).await.unwrap_or(false);
    let info = entry.info(&key);
    let changes = changes(&state, &caller, &info).await;
    let page = RolloutPage {
        page: PageInfo::new(
            &state,
            &caller,
            format!("{base}stream/rollouts/{namespace}/{name}"),
        ),
        banner,
        d: DetailView::of(entry, &info)
            .restricted(state.read_only, access)
            .with_links(&state.links, &info),
        history: render(&super::history::panel(&state, &key, logs).await),
        base,
        read_only: state.read_only || !access.patch,
        notice: flash("notice").map(str::to_string),
        error: flash("error").map(str::to_string),
        logs,
        changes,
    };
    Ok(Html(render(&page)).into_response())
}

/// The "What changed" panel: nothing for a rollout with one revision; what
/// could not be read is said (within `CHANGES_WITHIN`, so a slow API server
/// delays the page no longer).
async fn changes(state: &AppState, caller: &Caller, info: &RolloutInfo) -> Option<ChangesView> {
    const CHANGES_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);
    if info.replica_sets.len() < 2 {
        return None;
    }
    let asked = super::diff::changes_in(state, caller, info, None, None);
    Some(match tokio::time::timeout(CHANGES_WITHIN, asked).await {
        Ok(Ok(d)) => ChangesView::of(&d),
        Ok(Err(e)) => ChangesView::failed(e.to_string()),
        Err(_) => ChangesView::failed(format!(
            "the Kubernetes API did not answer within {} s; reload to try again",
            CHANGES_WITHIN.as_secs()
        )),
    })
}

/// What each outcome code of a form post says (web/actions.rs sends them).
pub fn outcome_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "done" => "Done: the rollout's page follows what the cluster does now.",
        "forbidden" => {
            "Refused: you may not do that here (Kubernetes RBAC, or a read-only dashboard)."
        }
        "conflict" => {
            "Not done: the rollout changed since you looked, or the action does not apply now. Look again and retry."
        }
        "not-found" => "Not done: the rollout or what the action names does not exist.",
        "invalid" => "Not done: Kubernetes refused the change as invalid.",
        "bad-request" => "Not done: the form was incomplete or not understood.",
        "timeout" => {
            "No answer from Kubernetes within 15 s: the action may or may not have been applied; this page shows what the cluster does."
        }
        "unavailable" => {
            "Not done: your access or the cluster could not be checked now. Try again shortly."
        }
        "failed" => "Not done: the Kubernetes API failed. Try again shortly.",
        _ => return None,
    })
}

/// `GET /rollouts/{ns}/{name}/message`: the rollout's whole status message
/// as plain text, for when the page shows it cut (see `text`).
pub async fn full_message(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    super::queries::require_sees(&state, &caller, &namespace).await?;
    let (_, entry) = super::queries::find_rollout(&state, &namespace, &name).await?;
    let info = entry.info(&RolloutKey::new(&namespace, &name));
    let mut r = info.message.into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(r)
}
