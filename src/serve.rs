//! `rollouts-dashboard serve`: watch the cluster the connection names and
//! serve the dashboard until shutdown.

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use crate::cli::WebArgs;
use crate::cluster::act::Actor;
use crate::cluster::client::{ClientError, ConfigSource, Connection, Scope};
use crate::cluster::live;
use crate::web::AppState;
use crate::web::router::{router, serve};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Http(#[source] std::io::Error),
}

/// Binds `web.listen`, starts the live view of `conn`, prints where it is
/// served, and serves until `shutdown`.
pub async fn run(
    conn: &Connection,
    web: &WebArgs,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(web.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: web.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(web.listen);
    let view = live::start(conn, shutdown.clone())?;
    let state = AppState {
        view,
        default_namespace: conn.config.default_namespace.clone(),
        shutdown: shutdown.clone(),
        actor: Actor::new(live::client(conn)?),
        read_only: web.read_only,
        base_path: web.base_path.clone(),
    };
    let app = router(state, &web.base_path);
    println!("{}", banner(conn, web, addr));
    tracing::info!(%addr, base_path = %web.base_path, "serving");
    serve(listener, app, shutdown)
        .await
        .map_err(ServeError::Http)
}

/// What a person needs to know at start: which cluster, as whom, which
/// namespaces, and the URL (the last line, which scripts may read).
pub fn banner(conn: &Connection, web: &WebArgs, addr: SocketAddr) -> String {
    let source = match &conn.source {
        ConfigSource::Kubeconfig { path, context } => format!(
            "kubeconfig {path}, context {}",
            context.as_deref().unwrap_or("(none)")
        ),
        ConfigSource::InCluster => "in-cluster service account".to_string(),
        ConfigSource::Simulated => "simulated cluster".to_string(),
    };
    let scope = match &conn.scope {
        Scope::Namespaces(ns) => format!("namespaces {}", ns.join(", ")),
        Scope::AllNamespaces => "all namespaces".to_string(),
        Scope::AllOrDefault { fallback } => {
            format!("all namespaces (only {fallback:?} if listing cluster-wide is forbidden)")
        }
    };
    let actions = if web.read_only {
        "off (read-only)"
    } else {
        "on"
    };
    let base = if web.base_path == "/" {
        "/".to_string()
    } else {
        format!("{}/", web.base_path)
    };
    format!(
        "rollouts-dashboard\n  cluster:    {} ({source})\n  scope:      {scope}\n  actions:    {actions}\nserving at http://{addr}{base}",
        conn.cluster_url()
    )
}
