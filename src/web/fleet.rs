//! `/` with several clusters: what needs a person in every cluster first,
//! then a row per cluster (its state and counts by status), then a
//! search's matches across them; live (`/stream/clusters`). A cluster
//! chosen (the list, or `cluster:NAME` in the search) is that cluster's own
//! overview, with the rest of the filter. Each cluster is counted as the
//! person may see it there.

use std::time::Duration;

use axum::extract::{Extension, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::auth::identity::{Caller, ClientAddr};
use super::auth::limits::{outbox, spawn_stream, stream_slot};
use super::auth::permissions::Permissions;
use super::auth::revocation::{Lapse, Tick};
use super::clusters::{ClusterEntry, Clusters};
use super::error::{AppError, PageError};
use super::sse::{Tx, ended, replace, sse};
use super::templates::{
    BannerPartial, ClusterRowsPartial, FleetAttentionPartial, FleetMatchesPartial, FleetPage,
    PageInfo, render,
};
use super::view::clusters::{ClusterLink, ClusterRow, FleetRow, cluster_term, merge_attention};
use super::view::filter::Filter;
use super::view::health::BannerView;
use super::view::overview::{ATTENTION_SHOWN, attention_of};
use crate::cluster::tallies::Counts;

/// Matches of a search listed across clusters; the rest are counted.
const MATCHES_SHOWN: usize = 100;
/// The page is rendered again at least this often (a cluster's state
/// changes without a rollout changing).
const REFRESH: Duration = Duration::from_secs(5);
/// Changes this close together are shown together.
const COALESCE: Duration = Duration::from_millis(250);

/// The page's live parts, rendered for one person.
struct Sections {
    banner: BannerView,
    attention: String,
    rows: String,
    matches: String,
}

/// Every cluster as `caller` may see it, searched by `filter`; and why
/// the list of clusters may not be current (`source_problem`).
async fn sections(
    clusters: &[ClusterEntry],
    source_problem: Option<String>,
    caller: &Caller,
    filter: &Filter,
) -> Sections {
    let mut per_cluster = Vec::new();
    let mut rows = Vec::new();
    let mut matches = Vec::new();
    let (mut matched, mut attention_total) = (0, 0);
    let mut failing = Vec::new();
    for c in clusters {
        let link = ClusterLink {
            name: c.name.clone(),
            href: c.state.base_path.clone(),
        };
        let snap = c.state.view.snapshot();
        let perms = Permissions::of(&c.state, caller);
        let banner = perms.banner(&snap.health).await;
        let (state, mut message) = match banner.state {
            "live" => ("live", banner.headline.clone()),
            "starting" => ("syncing", banner.headline.clone()),
            _ => ("failing", banner.headline.clone()),
        };
        if let Some(p) = banner.problems.first() {
            message = format!("{message}: {p}");
        }
        let rights = match super::queries::rights_in(&perms, &snap, None).await {
            Ok(r) => r,
            Err(e) => {
                let why = format!("your rights there cannot be asked now: {e}");
                failing.push(format!("{}: {why}", c.name));
                rows.push(ClusterRow::of(&link, "failing", why, &Counts::default()));
                continue;
            }
        };
        if state == "failing" {
            failing.push(format!("{}: {message}", c.name));
        }
        let sees = |ns: &str| rights.sees(ns);
        let mut counts = Counts::default();
        for (ns, n) in &snap.tallies.namespaces {
            if sees(ns) {
                counts.merge(n);
            }
        }
        let (attention, total) = attention_of(&snap, sees);
        attention_total += total;
        per_cluster.push((link.clone(), attention));
        if !filter.is_empty() {
            for (key, entry) in snap.rollouts.iter() {
                if sees(&key.namespace) && filter.matches(key, &entry.summary) {
                    matched += 1;
                    if matches.len() < MATCHES_SHOWN {
                        let s = &entry.summary.status;
                        matches.push(FleetRow::of(&link, &key.namespace, &key.name, s, ""));
                    }
                }
            }
        }
        rows.push(
            ClusterRow::of(&link, state, message, &counts).with_namespaces(
                snap.tallies
                    .namespaces
                    .iter()
                    .filter(|(ns, _)| rights.sees(ns)),
            ),
        );
    }
    let attention = merge_attention(&per_cluster, ATTENTION_SHOWN);
    let n = clusters.len();
    let not_live = failing.len();
    let mut problems = failing;
    if let Some(p) = source_problem {
        problems.push(format!(
            "Argo CD's cluster Secrets: {p}; the clusters shown are as last read"
        ));
    }
    let banner = BannerView {
        state: if problems.is_empty() { "live" } else { "stale" },
        headline: match not_live {
            0 => format!("Live: {n} clusters"),
            _ => format!("{not_live} of {n} clusters not live"),
        },
        problems,
        notice: None,
        malformed: Vec::new(),
    };
    Sections {
        banner,
        attention: render(&FleetAttentionPartial {
            rows: &attention,
            total: attention_total,
        }),
        rows: render(&ClusterRowsPartial { rows: &rows }),
        matches: render(&FleetMatchesPartial {
            searched: !filter.is_empty(),
            rows: &matches,
            total: matched,
        }),
    }
}

/// The search without its `cluster:` term, and the cluster named (by the
/// list or the term).
fn chosen(pairs: &[(String, String)]) -> (Filter, Option<String>) {
    let mut named = pairs
        .iter()
        .find(|(k, v)| k == "cluster" && !v.is_empty())
        .map(|(_, v)| v.clone());
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "cluster")
        .map(|(k, v)| {
            if k == "q" {
                let (term, rest) = cluster_term(v);
                named = named.clone().or(term);
                (k.clone(), rest)
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let filter = Filter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    (filter, named)
}

/// `GET {base}` with several clusters.
pub async fn overview(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(clusters): Extension<std::sync::Arc<Clusters>>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let all = clusters.current();
    if all.len() < 2 {
        // One cluster (the others gone): its own overview, as always.
        return super::pages::overview(State(state), Extension(caller), Query(pairs)).await;
    }
    let (filter, named) = chosen(&pairs);
    if let Some(name) = named {
        let Some(c) = all.iter().find(|c| c.name == name) else {
            return Err(AppError::NotFound(format!(
                "This dashboard shows no cluster {:?}.",
                super::text::clip(&name, 63)
            ))
            .into());
        };
        let query = filter.query(1);
        let to = if query.is_empty() {
            c.state.base_path.clone()
        } else {
            format!("{}?{query}", c.state.base_path)
        };
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&to) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(r);
    }
    let s = sections(&all, clusters.source_problem(), &caller, &filter).await;
    let query = filter.query(1);
    let stream = format!("{}stream/clusters?{query}", state.base_path);
    let mut page = PageInfo::new(&state, &caller, stream.trim_end_matches('?').to_string());
    // No one cluster is this page.
    for c in &mut page.clusters {
        c.2 = false;
    }
    let page = FleetPage {
        page,
        banner: s.banner,
        q: filter.q.clone(),
        clusters: all.iter().map(|c| c.name.clone()).collect(),
        attention: s.attention,
        rows: s.rows,
        matches: s.matches,
    };
    Ok(Html(render(&page)).into_response())
}

/// `GET {base}stream/clusters`: the page's parts again whenever a cluster
/// changes (changes 250 ms apart shown together), and every 5 s.
pub async fn stream(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(from): Extension<ClientAddr>,
    Extension(clusters): Extension<std::sync::Arc<Clusters>>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let (filter, _) = chosen(&pairs);
    let slot = stream_slot(&state.streams, &caller, from)?;
    let (tx, rx) = outbox(&state.streams);
    let lapse = Lapse::new(&state, &caller);
    spawn_stream(
        &state.metrics,
        &state.shutdown,
        slot,
        follow(clusters, caller, filter, lapse, tx),
    );
    Ok(sse(rx))
}

async fn follow(
    clusters: std::sync::Arc<Clusters>,
    caller: Caller,
    filter: Filter,
    mut lapse: Lapse,
    tx: Tx,
) {
    let mut came_or_went = clusters.changes();
    let mut sent: [String; 4] = Default::default();
    loop {
        // The clusters of now, each followed from here.
        let all = clusters.current();
        let mut changes: Vec<_> = all.iter().map(|c| c.state.view.subscribe()).collect();
        let s = sections(&all, clusters.source_problem(), &caller, &filter).await;
        let state = super::sse::event(
            super::sse::EventName::State,
            serde_json::json!({"state": s.banner.state, "headline": s.banner.headline,
                               "html": render(&BannerPartial { banner: &s.banner })}),
        );
        let parts = [
            (s.banner.headline.clone(), None),
            (s.attention, Some("fleet-attention")),
            (s.rows, Some("cluster-rows")),
            (s.matches, Some("fleet-matches")),
        ];
        let mut banner_event = Some(state);
        for (i, (html, id)) in parts.into_iter().enumerate() {
            if sent[i] == html {
                continue;
            }
            let message = match id {
                None => banner_event.take(),
                Some(id) => Some(replace(id, html.as_str().into())),
            };
            if let Some(m) = message
                && tx.send(m).await.is_err()
            {
                return;
            }
            sent[i] = html;
        }
        let next = async {
            if changes.is_empty() {
                std::future::pending::<()>().await;
            }
            let _ =
                futures_util::future::select_all(changes.iter_mut().map(|rx| Box::pin(rx.recv())))
                    .await;
        };
        tokio::select! {
            _ = tx.closed() => return,
            _ = next => {}
            _ = came_or_went.changed() => {}
            _ = tokio::time::sleep(REFRESH) => {}
            tick = lapse.next() => {
                if let Tick::Ended(message) = tick {
                    let _ = tx.send(ended(&message)).await;
                    return;
                }
            }
        }
        tokio::time::sleep(COALESCE).await;
    }
}
