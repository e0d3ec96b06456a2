//! The two pages: the overview (`/`) and a rollout (`/rollouts/{ns}/{name}`).
//! Both render from the snapshot; the live stream keeps them current.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::templates::{
    CardSlot, Chip, Group, NotFoundPage, OverviewPage, PageInfo, RolloutPage, render,
};
use super::view::card::CardView;
use super::view::detail::DetailView;
use super::view::filter::{Filter, STATUSES};
use super::view::health::{BannerView, empty_state};
use super::view::status_class;
use crate::cluster::hub::RolloutEntry;
use crate::model::RolloutKey;

pub fn page_info(state: &AppState, stream: String) -> PageInfo {
    PageInfo {
        base: base_with_slash(&state.base_path),
        stream,
        cluster: state.cluster_label.clone(),
        scope: state.scope_label.clone(),
    }
}

pub fn base_with_slash(base: &str) -> String {
    if base.ends_with('/') {
        base.to_string()
    } else {
        format!("{base}/")
    }
}

/// `GET /`: every rollout, grouped by namespace, filtered by the query.
pub async fn overview(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let filter = Filter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let snapshot = state.view.snapshot();
    let base = base_with_slash(&state.base_path);
    let mut groups: BTreeMap<String, Vec<CardSlot>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut attention = 0;
    let mut shown = 0;
    for (key, entry) in snapshot.rollouts.iter() {
        let card = CardView::of(entry);
        *counts.entry(card.status.clone()).or_default() += 1;
        attention += usize::from(card.attention);
        let visible = filter.matches(&card);
        shown += usize::from(visible);
        groups
            .entry(key.namespace.clone())
            .or_default()
            .push(CardSlot {
                html: card_html(&state, entry, &card, &base),
                shown: visible,
            });
    }
    let namespaces: Vec<String> = groups.keys().cloned().collect();
    let page = OverviewPage {
        page: page_info(&state, format!("{base}stream/overview")),
        banner: BannerView::of(&snapshot.health),
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
        empty: empty_state(&snapshot.health, shown, snapshot.rollouts.len()),
        filter,
        namespaces,
        groups: groups
            .into_iter()
            .map(|(namespace, cards)| Group { namespace, cards })
            .collect(),
    };
    Html(render(&page)).into_response()
}

/// The hub's pre-rendered card, or (without a renderer) one rendered now.
fn card_html(
    state: &AppState,
    entry: &RolloutEntry,
    card: &CardView,
    base: &str,
) -> std::sync::Arc<str> {
    if entry.card.is_empty() {
        render(&super::templates::CardPartial {
            card,
            base,
            read_only: state.read_only,
        })
        .into()
    } else {
        entry.card.clone()
    }
}

/// `GET /rollouts/{ns}/{name}`.
pub async fn rollout(
    State(state): State<AppState>,
    Path((namespace, name)): Path<(String, String)>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let snapshot = state.view.snapshot();
    let base = base_with_slash(&state.base_path);
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
        let page = NotFoundPage { base, why };
        return (StatusCode::NOT_FOUND, Html(render(&page))).into_response();
    };
    let flash = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let page = RolloutPage {
        page: page_info(&state, format!("{base}stream/rollouts/{namespace}/{name}")),
        banner: BannerView::of(&snapshot.health),
        d: DetailView::of(entry),
        base,
        read_only: state.read_only,
        notice: flash("notice").map(|n| if n == "done" { "Done.".to_string() } else { n }),
        error: flash("error"),
    };
    Html(render(&page)).into_response()
}
