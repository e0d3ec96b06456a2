//! The askama templates, one struct per file in `templates/`. Every live
//! fragment has its own partial, included by the full page, so a fragment
//! sent alone and the same part of the page cannot drift apart.

use std::sync::Arc;

use askama::Template;

use super::AppState;
use super::auth::identity::{Caller, who_line};
use super::view::card::CardView;
use super::view::detail::DetailView;
use super::view::filter::Filter;
use super::view::health::BannerView;

/// What every page's frame needs.
#[derive(Clone, Debug)]
pub struct PageInfo {
    /// `--base-path` with a trailing `/`.
    pub base: String,
    /// The page's live stream.
    pub stream: String,
    /// Which cluster, for people.
    pub cluster: String,
    /// Which namespaces, for people.
    pub scope: String,
    /// Who is signed in, or that nobody has to be (`--auth none` exposed).
    pub who: Option<String>,
    /// `who` is the warning that there is no authentication.
    pub unauthenticated: bool,
    /// `--auth token`: offer to forget the token.
    pub sign_out: bool,
    /// A release history is kept: link the Releases page.
    pub releases: bool,
    /// With several clusters, each one's pages: (name, link, this one).
    pub clusters: Vec<(String, String, bool)>,
}

impl PageInfo {
    /// What every page's header shows `caller`; `stream` is the page's live
    /// stream URL (empty for none).
    pub fn new(state: &AppState, caller: &Caller, stream: String) -> PageInfo {
        PageInfo {
            base: state.base_path.clone(),
            stream,
            cluster: state.cluster_label.clone(),
            scope: state.scope_label.clone(),
            who: who_line(&state.auth, caller),
            unauthenticated: caller.user().is_none(),
            sign_out: state.auth.has_sign_in() && caller.user().is_some(),
            releases: state.history.is_some(),
            clusters: state
                .cluster_links
                .get()
                .iter()
                .map(|l| (l.name.clone(), l.href.clone(), l.name == state.cluster_name))
                .collect(),
        }
    }
}

pub struct Chip {
    pub status: &'static str,
    pub class: &'static str,
    pub count: usize,
    pub checked: bool,
}

/// The cards of one namespace on the page.
pub struct Group {
    pub namespace: String,
    pub cards: Vec<Arc<str>>,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub page: PageInfo,
    pub banner: BannerView,
    pub filter: Filter,
    pub chips: Vec<Chip>,
    pub attention: usize,
    /// For the namespace filter: every namespace with rollouts they see.
    pub namespaces: Vec<String>,
    pub attention_list: Option<AttentionPartial>,
    pub summary: Vec<NamespaceRowPartial>,
    /// Namespaces left out of the summary.
    pub summary_more: usize,
    pub groups: Vec<Group>,
    pub status: PageStatusPartial,
    /// `--read-only`: no selection, no actions.
    pub read_only: bool,
    /// The actions a selection can take: (path segment, button word).
    pub bulk_actions: Vec<(&'static str, &'static str)>,
}

/// What needs a person first (shown when the rollouts fill pages).
#[derive(Template)]
#[template(path = "partials/attention.html")]
pub struct AttentionPartial {
    pub base: String,
    pub rows: Vec<AttentionRowView>,
    /// How many need a person in all.
    pub total: usize,
}

pub struct AttentionRowView {
    pub namespace: String,
    pub name: String,
    pub why: &'static str,
    pub status: String,
    pub status_class: &'static str,
}

/// One namespace of the summary: counts, and links to its rollouts.
#[derive(Template)]
#[template(path = "partials/ns_row.html")]
pub struct NamespaceRowPartial {
    pub base: String,
    pub namespace: String,
    pub total: usize,
    pub attention: usize,
    /// (status, its CSS class, how many).
    pub statuses: Vec<(&'static str, &'static str, usize)>,
}

/// Which rollouts the page shows, the way to the others, or why none.
#[derive(Template)]
#[template(path = "partials/page_status.html")]
pub struct PageStatusPartial {
    pub range: String,
    pub page: usize,
    pub pages: usize,
    /// Links (query strings) to the previous and next pages.
    pub prev: Option<String>,
    pub next: Option<String>,
    pub base: String,
    pub empty: Option<String>,
}

#[derive(Template)]
#[template(path = "rollout.html")]
pub struct RolloutPage {
    pub page: PageInfo,
    pub banner: BannerView,
    pub d: DetailView,
    /// The History panel, rendered (`HistoryPartial`).
    pub history: String,
    pub base: String,
    pub read_only: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The person may read this namespace's pod logs: the page links them.
    pub logs: bool,
    /// The pod template's changes from stable to the current revision.
    pub changes: Option<super::view::changes::ChangesView>,
}

/// A rollout's Logs page.
#[derive(Template)]
#[template(path = "logs.html")]
pub struct LogsPage {
    pub page: PageInfo,
    pub banner: BannerView,
    pub namespace: String,
    pub name: String,
    pub columns: Vec<super::view::logs::LogColumn>,
    /// Why no lines could be read, when none could.
    pub error: Option<String>,
    pub role: String,
    pub container: String,
    pub containers: Vec<String>,
    pub tail: i64,
    pub tails: Vec<i64>,
    pub filter: String,
    pub errors_only: bool,
    /// `sinceSeconds` chosen (0: any time), and the choices.
    pub since: i64,
    pub windows: Vec<(i64, &'static str)>,
    /// The containers as they were before their last restart.
    pub previous: bool,
    /// The same lines from the API, to save.
    pub download: String,
    /// The API's event stream of new lines, for Follow.
    pub follow: String,
}

/// The last lines an aborted or degraded revision's pods left.
#[derive(Template)]
#[template(path = "kept_logs.html")]
pub struct KeptLogsPage {
    pub page: PageInfo,
    pub banner: BannerView,
    pub namespace: String,
    pub name: String,
    pub revision: i64,
    /// `aborted` or `degraded`; empty when nothing was kept.
    pub reason: &'static str,
    pub captured: String,
    pub containers: Vec<super::view::kept_logs::KeptContainerView>,
}

/// A rollout's History panel, on its page and alone when it refreshes.
#[derive(Template)]
#[template(path = "partials/history.html")]
pub struct HistoryPartial {
    pub base: String,
    pub namespace: String,
    pub name: String,
    pub history: super::view::history::HistoryView,
}

/// `/releases`: every recorded release the person may see, with figures
/// per rollout.
#[derive(Template)]
#[template(path = "releases.html")]
pub struct ReleasesPage {
    pub page: PageInfo,
    pub banner: BannerView,
    pub namespaces: Vec<String>,
    pub ns: String,
    pub outcome: String,
    pub since: String,
    pub outcomes: Vec<(&'static str, &'static str)>,
    pub windows: Vec<(&'static str, &'static str)>,
    pub figures: Vec<super::view::history::FiguresView>,
    pub rows: Vec<super::view::history::ReleaseRowView>,
    pub gaps: Vec<super::view::history::GapView>,
    pub error: Option<String>,
}

/// `/bulk`: what an action would do to each rollout of a selection and
/// the form that sends it, or (after that form's post) what it did.
#[derive(Template)]
#[template(path = "bulk.html")]
pub struct BulkPage {
    pub page: PageInfo,
    pub banner: BannerView,
    /// The action's path segment and button word.
    pub action: &'static str,
    pub label: &'static str,
    /// Abort's button warns.
    pub danger: bool,
    pub heading: String,
    /// The overview with the filter the selection came from, and that
    /// filter's query (carried through the form for the way back).
    pub back: String,
    pub filter: String,
    pub notice: Option<String>,
    /// What each action applies to in the selection (the preview).
    pub counts: Vec<BulkCount>,
    pub rows: Vec<super::view::bulk::PreviewRow>,
    /// Rows the action would be sent to.
    pub applicable: usize,
    /// What happened to each (the results).
    pub results: Vec<BulkResultRow>,
}

pub struct BulkCount {
    pub label: &'static str,
    pub applies: usize,
    pub of: usize,
    /// The preview's own action.
    pub current: bool,
    /// The same selection's preview for this action.
    pub href: String,
}

pub struct BulkResultRow {
    pub namespace: String,
    pub name: String,
    pub class: &'static str,
    pub words: &'static str,
    pub message: String,
}

/// `/` with several clusters: what needs a person in each, a row per
/// cluster, a search's matches across them; each cluster's own overview
/// is one link away.
#[derive(Template)]
#[template(path = "fleet.html")]
pub struct FleetPage {
    pub page: PageInfo,
    pub banner: BannerView,
    pub q: String,
    pub clusters: Vec<String>,
    pub attention: String,
    pub rows: String,
    pub matches: String,
}

#[derive(Template)]
#[template(path = "partials/fleet_attention.html")]
pub struct FleetAttentionPartial<'a> {
    pub rows: &'a [super::view::clusters::FleetRow],
    pub total: usize,
}

#[derive(Template)]
#[template(path = "partials/cluster_rows.html")]
pub struct ClusterRowsPartial<'a> {
    pub rows: &'a [super::view::clusters::ClusterRow],
}

#[derive(Template)]
#[template(path = "partials/fleet_matches.html")]
pub struct FleetMatchesPartial<'a> {
    pub searched: bool,
    pub rows: &'a [super::view::clusters::FleetRow],
    pub total: usize,
}

/// A page that only says why: an unknown rollout (404), no identity (401),
/// not allowed (403).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub base: String,
    pub title: String,
    pub why: String,
    /// Offer the sign-in page (`--auth token`).
    pub sign_in: bool,
}

/// A message page as an answer with `status`; `sign_in` offers the
/// sign-in page instead of the way back to all rollouts.
pub fn message_page(
    base: &str,
    status: axum::http::StatusCode,
    title: &str,
    why: String,
    sign_in: bool,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let page = MessagePage {
        base: base.to_string(),
        title: title.to_string(),
        why,
        sign_in,
    };
    (status, axum::response::Html(render(&page))).into_response()
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub base: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "partials/card.html")]
pub struct CardPartial<'a> {
    pub card: &'a CardView,
    pub base: &'a str,
    pub read_only: bool,
}

#[derive(Template)]
#[template(path = "partials/banner.html")]
pub struct BannerPartial<'a> {
    pub banner: &'a BannerView,
}

macro_rules! detail_partial {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        pub struct $name<'a> {
            pub d: &'a DetailView,
            pub base: &'a str,
            pub read_only: bool,
        }
    };
}

detail_partial!(HeaderPartial, "partials/rollout_header.html");
detail_partial!(TrafficPartial, "partials/traffic.html");
detail_partial!(ObservedPartial, "partials/observed.html");
detail_partial!(StepsPartial, "partials/steps.html");
detail_partial!(AnalysisPartial, "partials/analysis.html");
detail_partial!(ExperimentsPartial, "partials/experiments.html");
detail_partial!(RevisionsPartial, "partials/revisions.html");
detail_partial!(ContainersPartial, "partials/containers.html");
detail_partial!(EventsPartial, "partials/events.html");

/// Renders a template; a failure (a bug, not bad input) is logged and shows
/// as a short notice instead of a broken page.
pub fn render(t: &impl Template) -> String {
    t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "a template failed to render");
        "<p class=\"flash bad\">This part of the page could not be shown.</p>".to_string()
    })
}

/// Every live fragment of the rollout page, as (element id, HTML).
pub fn detail_fragments(
    d: &DetailView,
    base: &str,
    read_only: bool,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "rollout-header",
            render(&HeaderPartial { d, base, read_only }),
        ),
        ("traffic", render(&TrafficPartial { d, base, read_only })),
        ("observed", render(&ObservedPartial { d, base, read_only })),
        ("steps", render(&StepsPartial { d, base, read_only })),
        ("analysis", render(&AnalysisPartial { d, base, read_only })),
        (
            "experiments",
            render(&ExperimentsPartial { d, base, read_only }),
        ),
        (
            "revisions",
            render(&RevisionsPartial { d, base, read_only }),
        ),
        (
            "containers",
            render(&ContainersPartial { d, base, read_only }),
        ),
        ("events", render(&EventsPartial { d, base, read_only })),
    ]
}
