//! HTTP: the pages and their live streams, the Argo-compatible JSON API,
//! actions, sign-in, probes and metrics. Reads the live view's snapshot;
//! never talks to Kubernetes itself (it asks `cluster/`).

pub mod actions;
pub mod api;
pub mod api_watch;
pub mod assets;
pub mod auth;
pub mod bulk;
pub mod bulk_run;
pub mod cards;
pub mod chunked;
pub mod clusters;
pub mod diff;
pub mod edge;
pub mod error;
pub mod error_pages;
pub mod fleet;
pub mod headers;
pub mod history;
pub mod kept_logs;
pub mod list_body;
pub mod logs;
pub mod logs_page;
pub mod metrics;
pub mod overview;
pub mod overview_feed;
pub mod overview_page;
pub mod overview_stream;
pub mod page_stream;
pub mod pages;
pub mod probes;
pub mod queries;
pub mod router;
pub mod since;
pub mod sse;
pub mod templates;
pub mod text;
pub mod view;

use tokio_util::sync::CancellationToken;

use crate::cluster::act::Actor;
use crate::cluster::hub::LiveView;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub view: LiveView,
    /// What `GET /api/v1/namespace` reports as the default.
    pub default_namespace: String,
    /// Ends open streams when the server stops.
    pub shutdown: CancellationToken,
    /// Sends actions to the cluster.
    pub actor: Actor,
    /// `--read-only`: every mutating route answers 403.
    pub read_only: bool,
    /// `--base-path` with a trailing slash (`/`, `/rollouts/`), for links
    /// and redirects.
    pub base_path: String,
    /// Which cluster, for the page header.
    pub cluster_label: String,
    /// Its name in URLs (`{base}clusters/{name}/`) and its API server.
    pub cluster_name: String,
    pub cluster_server: String,
    /// Every cluster of the dashboard, for the header (empty for one).
    pub cluster_links: view::clusters::ClusterLinks,
    /// Which namespaces, for the page header.
    pub scope_label: String,
    pub metrics: std::sync::Arc<metrics::Metrics>,
    /// `--auth`: who people are, and what they may see and do.
    pub auth: std::sync::Arc<auth::identity::Auth>,
    /// Open streams per person, bounded.
    pub streams: std::sync::Arc<auth::limits::StreamSlots>,
    /// Followed pod logs per person, bounded apart (each reads the API
    /// server for several pods).
    pub log_streams: std::sync::Arc<auth::limits::StreamSlots>,
    /// Actions running over selections, per person and in all, bounded.
    pub bulk_runs: std::sync::Arc<auth::limits::StreamSlots>,
    /// The release history, unless `--history-db off`.
    pub history: Option<crate::history::History>,
    /// `--public-url`'s origin (`https://host[:port]`): actions from a
    /// browser must come from it (or from the Host they name).
    pub public_origin: Option<String>,
    /// Revisions' pod templates read for diffs, briefly kept per person.
    pub templates: std::sync::Arc<crate::cluster::templates::TemplateCache>,
    /// `--link`: links out of every rollout and revision.
    pub links: std::sync::Arc<[crate::info::links::LinkTemplate]>,
    /// Rollouts' JSON inflated for the plain lists being sent.
    pub plain_json: std::sync::Arc<list_body::PlainJson>,
    /// Gzip lists being sent, sharing the bodies of the same entries.
    pub gzip_lists: std::sync::Arc<list_body::GzipLists>,
}

/// `/` or `/prefix/`: a base path as links are made from it.
pub fn base_with_slash(base: &str) -> String {
    if base.ends_with('/') {
        base.to_string()
    } else {
        format!("{base}/")
    }
}

/// `/metrics` and the request timer need only the metrics.
impl axum::extract::FromRef<AppState> for std::sync::Arc<metrics::Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}
