//! A Kubernetes API server on loopback, close enough to the real REST
//! protocol that kube-rs and kubectl work against it unchanged: discovery,
//! list (selectors, paging), watch (resourceVersion, bookmarks, initial
//! events, 410 as an ERROR event), get, create, update, patch, delete.

pub mod control;
pub mod faults;
mod logs;
pub mod rbac;
mod rest;
pub mod reviews;
pub mod selectors;
mod server;
pub mod tls;
pub mod users;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get};
use tokio_util::sync::CancellationToken;

pub use server::{ApiServer, RecordedRequest};

impl ApiServer {
    pub fn router(&self) -> Router {
        Router::new()
            .route("/version", get(rest::version))
            .route("/api", get(rest::core_versions))
            .route("/apis", get(rest::group_list))
            .route("/api/{*rest}", any(rest::handle))
            .route("/apis/{*rest}", any(rest::handle))
            .merge(control::routes())
            .with_state(self.clone())
    }

    /// Binds `addr` (port 0 for any) and serves until the shutdown token
    /// fires; returns the bound address.
    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let mut listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let server = self.clone();
        let task = tokio::spawn(async move {
            loop {
                let generation = server
                    .generation
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let mut this = server.clone();
                this.serving = Some(generation.clone());
                let stop = async move { generation.cancelled().await };
                let served = if server.tls {
                    match tls::TlsListener::new(listener) {
                        Ok(tls) => {
                            axum::serve(tls, this.router())
                                .with_graceful_shutdown(stop)
                                .await
                        }
                        Err(e) => Err(std::io::Error::other(e)),
                    }
                } else {
                    axum::serve(listener, this.router())
                        .with_graceful_shutdown(stop)
                        .await
                };
                if let Err(e) = served {
                    tracing::error!(error = %e, "simulated API server stopped");
                    return;
                }
                if server.shutdown.is_cancelled() {
                    return;
                }
                // A restart: listen again on the same address.
                listener = match rebind(bound, &server.shutdown).await {
                    Some(l) => l,
                    None => return,
                };
            }
        });
        Ok((bound, task))
    }
}

/// Binds `addr` again after a restart, retrying with backoff while the old
/// socket is released; `None` on shutdown or after ~10 s.
async fn rebind(addr: SocketAddr, shutdown: &CancellationToken) -> Option<tokio::net::TcpListener> {
    let mut wait = Duration::from_millis(10);
    for _ in 0..12 {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return Some(l),
            Err(e) => tracing::debug!(error = %e, "simulated API server: rebinding"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(2));
    }
    tracing::error!(%addr, "simulated API server: could not listen again after a restart");
    None
}
