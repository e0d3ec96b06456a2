//! Every route, under `--base-path`; probes also at the root, where
//! Kubernetes probes look for them whatever the prefix.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::routing::{MethodRouter, any, get, post, put};

use std::sync::Arc;

use crate::actions::Action;

use super::{
    AppState, actions, api, api_watch, assets, bulk, diff, fleet, history, kept_logs, logs,
    logs_page, metrics, overview_stream, page_stream, pages, probes,
};

use super::auth::{gate, guard, identity, sign_in};
use super::clusters::{self, Clusters};
use super::overview_feed::Feeds;

/// Action requests carry at most a small JSON or form body.
pub const ACTION_BODY_LIMIT: usize = 64 * 1024;
/// A selection's list: 200 rollouts with the longest names Kubernetes
/// allows and what was seen of each fit in it (a larger body is 413).
pub const BULK_BODY_LIMIT: usize = 128 * 1024;

/// Argo's PUT for an action without arguments.
macro_rules! simple_put {
    ($action:expr) => {
        put(
            |State(state): State<AppState>,
             Extension(caller): Extension<identity::Caller>,
             Path(p): Path<(String, String)>,
             body: Bytes| async move {
                actions::put_simple($action, state, caller, p, body).await
            },
        )
    };
}

/// The admin port's routes: probes and metrics.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(metrics::metrics))
        .with_state(state)
}

/// Every route that changes a rollout: behind the cross-site and
/// read-only guard, with a small body.
fn acting(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/rollouts/{namespace}/{name}/promote",
            put(actions::put_promote),
        )
        .route(
            "/api/v1/rollouts/{namespace}/{name}/abort",
            simple_put!(Action::Abort),
        )
        .route(
            "/api/v1/rollouts/{namespace}/{name}/retry",
            simple_put!(Action::Retry),
        )
        .route(
            "/api/v1/rollouts/{namespace}/{name}/restart",
            simple_put!(Action::Restart),
        )
        .route(
            "/api/v1/rollouts/{namespace}/{name}/pause",
            simple_put!(Action::Pause),
        )
        .route(
            "/api/v1/rollouts/{namespace}/{name}/resume",
            simple_put!(Action::Resume),
        )
        .route(
            "/api/v1/rollouts/{namespace}/{name}/set/{container}/{*image_and_tag}",
            put(actions::put_set_image),
        )
        .route(
            "/api/v1/rollouts/{namespace}/{name}/undo/{revision}",
            put(actions::put_undo),
        )
        .route(
            "/rollouts/{namespace}/{name}/actions/{action}",
            post(actions::post_action),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::mutation_guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(ACTION_BODY_LIMIT))
}

/// A selection's action: as `acting`, with room for its list.
fn acting_on_many(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/bulk/{action}", post(bulk::api))
        .route("/bulk/{action}", post(bulk::post_form))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::mutation_guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(BULK_BODY_LIMIT))
}

/// Everything that shows or changes rollouts: it needs to know who asks.
/// `overview` is `/`: one cluster's, or with several, theirs together.
fn personal(state: &AppState, overview: MethodRouter<AppState>) -> Router<AppState> {
    Router::new()
        .route("/stream/clusters", get(fleet::stream))
        .route("/api/v1/rollouts/{namespace}/info", get(api::list))
        .route(
            "/api/v1/rollouts/{namespace}/info/watch",
            get(api_watch::watch_list),
        )
        .route("/api/v1/rollouts/{namespace}/{name}/info", get(api::get))
        .route(
            "/api/v1/rollouts/{namespace}/{name}/history",
            get(history::api_rollout),
        )
        .route("/api/v1/history", get(history::api_releases))
        .route("/releases", get(history::releases_page))
        .route(
            "/rollouts/{namespace}/{name}/history",
            get(history::panel_fragment),
        )
        .route(
            "/api/v1/rollouts/{namespace}/{name}/observed",
            get(api::observed),
        )
        .route(
            "/api/v1/rollouts/{namespace}/{name}/comparison",
            get(api::comparison),
        )
        .route("/api/v1/rollouts/{namespace}/{name}/diff", get(diff::api))
        .route(
            "/api/v1/rollouts/{namespace}/{name}/info/watch",
            get(api_watch::watch_one),
        )
        .route("/api/v1/rollouts/{namespace}/{name}/logs", get(logs::api))
        .route("/rollouts/{namespace}/{name}/logs", get(logs_page::page))
        .route(
            "/api/v1/rollouts/{namespace}/{name}/history/{revision}/logs",
            get(kept_logs::api),
        )
        .route(
            "/rollouts/{namespace}/{name}/history/{revision}/logs",
            get(kept_logs::page),
        )
        .route("/", overview.clone())
        .route("/rollouts/{namespace}/{name}", get(pages::rollout))
        .route(
            "/rollouts/{namespace}/{name}/message",
            get(pages::full_message),
        )
        .route(
            "/stream/overview",
            get(overview_stream::overview).layer(Extension(Arc::new(Feeds::default()))),
        )
        .route(
            "/stream/rollouts/{namespace}/{name}",
            get(page_stream::rollout),
        )
        .route("/api/v1/namespace", get(api::namespace))
        .route("/bulk", get(bulk::preview))
        .merge(acting(state))
        .merge(acting_on_many(state))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::identify,
        ))
}

/// Every user-facing route under `base_path`; with `admin_elsewhere`, the
/// probes and metrics are left to the admin port.
pub fn router(state: AppState, base_path: &str, admin_elsewhere: bool) -> Router {
    router_with(state, base_path, admin_elsewhere, Arc::default())
}

/// As [`router`], with the pages of several `clusters` under
/// `clusters/{name}/` (each its own router, which knows who asks itself).
pub fn router_with(
    state: AppState,
    base_path: &str,
    admin_elsewhere: bool,
    clusters: Arc<Clusters>,
) -> Router {
    // One cluster's overview, or with several, theirs together.
    let overview = get(fleet::overview);
    let app = Router::new()
        .route("/clusters/{cluster}", any(clusters::dispatch))
        .route("/clusters/{cluster}/", any(clusters::dispatch))
        .route("/clusters/{cluster}/{*rest}", any(clusters::dispatch))
        .route(
            "/api/v1/clusters/{cluster}/rollouts/{*rest}",
            any(clusters::api_alias),
        )
        .merge(
            Router::new()
                .route("/api/v1/clusters", get(clusters::list))
                .route_layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    gate::identify,
                )),
        )
        .route("/static/app.css", get(assets::app_css))
        .route("/static/app.js", get(assets::app_js))
        .route("/static/favicon.svg", get(assets::favicon))
        .route("/favicon.ico", get(assets::favicon))
        .route("/api/v1/version", get(api::version))
        .route(
            "/sign-in",
            get(sign_in::sign_in_page).post(sign_in::sign_in),
        )
        .route("/auth/callback", get(sign_in::callback))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/signed-out", get(sign_in::signed_out))
        .merge(personal(&state, overview.clone()))
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(Extension(clusters.clone()));
    // With people signing in, the user-facing port tells nobody which
    // objects exist: /readyz says only ready or not, and /metrics (names
    // of namespaces, counts) is served on the admin port alone.
    let signed_in = state.auth.mode != super::auth::identity::AuthMode::None;
    let admin = if admin_elsewhere {
        Router::new()
    } else if signed_in {
        Router::new()
            .route("/healthz", get(probes::healthz))
            .route("/readyz", get(probes::readyz_brief))
    } else {
        Router::new()
            .route("/healthz", get(probes::healthz))
            .route("/readyz", get(probes::readyz))
            .route("/metrics", get(metrics::metrics))
    };
    let app = app.merge(admin.clone());
    let root_probes = admin;
    let routed = if base_path == "/" {
        app
    } else {
        // `/base` and `/base/` both reach the overview.
        let base = base_path.to_string();
        let overview = overview
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                gate::identify,
            ))
            .layer(Extension(clusters));
        Router::new()
            .nest(base_path, app)
            .route(&format!("{base}/"), overview)
            .merge(root_probes)
    };
    let csp = super::headers::content_security_policy(&state);
    routed
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::error_pages::show_pages,
        ))
        .with_state(state)
        .layer(axum::middleware::from_fn(move |req, next| {
            super::headers::security_headers(csp.clone(), req, next)
        }))
        .layer(tower_http::compression::CompressionLayer::new())
        // A span per request (method, path, status, latency) at debug level.
        .layer(tower_http::trace::TraceLayer::new_for_http())
}
