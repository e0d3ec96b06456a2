//! Every route, under `--base-path`; probes also at the root, where
//! Kubernetes probes look for them whatever the prefix.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use super::{AppState, api, api_watch, probes};

pub fn router(state: AppState, base_path: &str) -> Router {
    let app = Router::new()
        .route("/api/v1/rollouts/{namespace}/info", get(api::list))
        .route(
            "/api/v1/rollouts/{namespace}/info/watch",
            get(api_watch::watch_list),
        )
        .route("/api/v1/rollouts/{namespace}/{name}/info", get(api::get))
        .route(
            "/api/v1/rollouts/{namespace}/{name}/info/watch",
            get(api_watch::watch_one),
        )
        .route("/api/v1/namespace", get(api::namespace))
        .route("/api/v1/version", get(api::version))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz));
    let root_probes = Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz));
    let routed = if base_path == "/" {
        app
    } else {
        Router::new().nest(base_path, app).merge(root_probes)
    };
    routed.with_state(state)
}

/// Serves `router` on `listener` until `shutdown`, letting open requests
/// finish (streams end on the same token).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::debug!(?addr, "serving HTTP");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
