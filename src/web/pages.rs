//! The two pages: the overview (`/`) and a rollout (`/rollouts/{ns}/{name}`).
//! Both render from the snapshot; the live stream keeps them current.

use std::collections::BTreeMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::cards::card_html;
use super::identity::{Caller, who_line};
use super::permissions::{Permissions, shown_namespace};
use super::templates::{
    CardSlot, Chip, GROUPS_MARKER, Group, GroupOpenPartial, OverviewPage, PageInfo, RolloutPage,
    message_page, render,
};
use super::view::card::CardView;
use super::view::detail::DetailView;
use super::view::filter::{Filter, STATUSES};
use super::view::health::{BannerView, empty_state};
use super::view::status_class;
use super::{AppState, chunked};
use crate::model::RolloutKey;

pub fn page_info(state: &AppState, caller: &Caller, stream: String) -> PageInfo {
    PageInfo {
        base: state.base_path.clone(),
        stream,
        cluster: state.cluster_label.clone(),
        scope: state.scope_label.clone(),
        who: who_line(state, caller),
        unauthenticated: caller.user().is_none(),
        sign_out: state.auth.has_sign_in() && caller.user().is_some(),
    }
}

/// `GET /`: every rollout, grouped by namespace, filtered by the query.
pub async fn overview(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let filter = Filter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let snapshot = state.view.snapshot();
    let base = state.base_path.clone();
    let perms = Permissions::of(&state, &caller);
    let rights = match super::queries::rights_in(&perms, &snapshot, None).await {
        Ok(r) => r,
        Err(e) => return cannot_check(&state, e),
    };
    let mut groups: BTreeMap<String, Vec<CardSlot>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut attention = 0;
    let mut shown = 0;
    let mut total = 0;
    for (key, entry) in snapshot.rollouts.iter() {
        if !rights.sees(&key.namespace) {
            continue;
        }
        total += 1;
        let card = CardView::of(entry);
        *counts.entry(card.status.clone()).or_default() += 1;
        attention += usize::from(card.attention);
        let visible = filter.matches(&card);
        shown += usize::from(visible);
        groups
            .entry(key.namespace.clone())
            .or_default()
            .push(CardSlot {
                html: card_html(&state, entry, rights.access(&key.namespace)),
                shown: visible,
            });
    }
    let namespaces: Vec<String> = groups.keys().cloned().collect();
    let page = OverviewPage {
        // The stream then sends only what changed after this page.
        page: page_info(
            &state,
            &caller,
            format!(
                "{base}stream/overview?since={}",
                super::since::since_token(snapshot.seq)
            ),
        ),
        banner: perms.banner(&snapshot.health).await,
        chips: STATUSES
            .iter()
            .map(|s| Chip {
                status: s,
                class: status_class(s),
                count: counts.get(*s).copied().unwrap_or(0),
                checked: filter.has_status(s),
            })
            .collect(),
        attention,
        empty: empty_state(&snapshot.health, shown, total),
        filter,
        namespaces,
    };
    let html = render(&page);
    let groups: Vec<Group> = groups
        .into_iter()
        .map(|(namespace, cards)| Group { namespace, cards })
        .collect();
    let Some((head, tail)) = html.split_once(GROUPS_MARKER) else {
        tracing::error!("the overview template lost its groups marker");
        return Html(html).into_response();
    };
    let pieces = overview_pieces(head.to_string(), groups, tail.to_string());
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        chunked::body(pieces),
    )
        .into_response()
}

/// The overview as the client reads it: the page's head, then each
/// namespace group and its cards (the hub's shared renderings), then its
/// tail; no 12 MB page (5000 rollouts) is ever held whole.
fn overview_pieces(
    head: String,
    groups: Vec<Group>,
    tail: String,
) -> impl Iterator<Item = Vec<u8>> + Send {
    let groups = groups.into_iter().flat_map(|g| {
        let open = render(&GroupOpenPartial {
            namespace: &g.namespace,
        });
        let slots = g.cards.into_iter().map(|slot| {
            let open = if slot.shown {
                "<div class=\"slot\">"
            } else {
                "<div class=\"slot\" hidden>"
            };
            [open, &slot.html, "</div>"].concat().into_bytes()
        });
        std::iter::once(open.into_bytes())
            .chain(slots)
            .chain(std::iter::once(b"  </div>\n</section>\n".to_vec()))
    });
    std::iter::once(head.into_bytes())
        .chain(groups)
        .chain(std::iter::once(tail.into_bytes()))
}

/// `GET /rollouts/{ns}/{name}`.
pub async fn rollout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let snapshot = state.view.snapshot();
    let base = state.base_path.clone();
    // A namespace this dashboard does not show costs no access review.
    if !shown_namespace(&snapshot, &namespace) && snapshot.health.ready() {
        return message(
            &state,
            StatusCode::NOT_FOUND,
            "Not found",
            format!("This dashboard shows no rollouts in namespace {namespace:?}."),
        );
    }
    let perms = Permissions::of(&state, &caller);
    let access = match perms.access(&namespace).await {
        Ok(a) => a,
        Err(e) => return cannot_check(&state, e),
    };
    if !access.list {
        return message(
            &state,
            StatusCode::FORBIDDEN,
            "Not allowed",
            format!(
                "You may not see rollouts in namespace {namespace}: your Kubernetes RBAC does not allow list on rollouts there."
            ),
        );
    }
    let Some(entry) = snapshot.rollouts.get(&RolloutKey::new(&namespace, &name)) else {
        let banner = BannerView::of(&snapshot.health);
        let why = if snapshot.health.ready() {
            format!("There is no rollout {name} in namespace {namespace} (or it was deleted).")
        } else {
            format!(
                "{}: rollout {namespace}/{name} is not known yet; reload in a moment.",
                banner.headline
            )
        };
        return message(&state, StatusCode::NOT_FOUND, "Not found", why);
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
    let page = RolloutPage {
        page: page_info(
            &state,
            &caller,
            format!("{base}stream/rollouts/{namespace}/{name}"),
        ),
        banner,
        d: DetailView::of(entry).restricted(state.read_only, access),
        base,
        read_only: state.read_only || !access.patch,
        notice: flash("notice").map(str::to_string),
        error: flash("error").map(str::to_string),
    };
    Html(render(&page)).into_response()
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

/// 503: the person's rights could not be asked now.
fn cannot_check(state: &AppState, e: super::error::AppError) -> Response {
    message(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "Cannot check your access",
        e.to_string(),
    )
}

fn message(state: &AppState, status: StatusCode, title: &str, why: String) -> Response {
    message_page(&state.base_path, status, title, why, false)
}
