//! The simulated API server's state: its store, the requests it recorded,
//! its open watches and listener (for the restart and dropped-watch
//! faults), who may call it, and the mesh it reports metrics for.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::faults::Faults;
use super::users::Users;
use crate::sim::mesh::Mesh;
use crate::sim::node_metrics::NodeMetrics;
use crate::sim::store::Store;

/// How often an idle watch with `allowWatchBookmarks` gets a BOOKMARK.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);
/// The longest a watch stays open when the client sets no timeout.
pub(super) const MAX_WATCH: Duration = Duration::from_secs(1800);

/// A mutating request as the server received it, for tests to assert on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub content_type: String,
    pub body: String,
    /// Whom the request acted as (with `--users`): the authenticated user,
    /// or the one it impersonated.
    pub user: Option<String>,
    /// Who sent it, when it impersonated someone else.
    pub impersonated_by: Option<String>,
}

#[derive(Clone)]
pub struct ApiServer {
    pub store: Arc<Store>,
    pub(super) requests: Arc<Mutex<Vec<RecordedRequest>>>,
    pub(super) shutdown: CancellationToken,
    /// Cancelled (and replaced) to drop every open watch at once.
    pub(super) watches: Arc<Mutex<CancellationToken>>,
    pub faults: Arc<Faults>,
    pub(super) bookmark_every: Duration,
    /// Cancelled (and replaced) to restart the listener.
    pub(super) generation: Arc<Mutex<CancellationToken>>,
    /// `--users`: requests must authenticate and RBAC decides; without it
    /// everything is allowed.
    pub(super) users: Option<Arc<Users>>,
    /// Serve HTTPS (sim/apiserver/tls.rs) instead of plain HTTP.
    pub(super) tls: bool,
    /// The simulated mesh's request counters.
    pub mesh: Arc<Mutex<Mesh>>,
    /// The node's cAdvisor and kube-state-metrics counters.
    pub node: Arc<Mutex<NodeMetrics>>,
    /// Set on the copy each listener serves with: cancelled when that
    /// listener stops, so its watches end even when they were opened
    /// during its graceful shutdown (else it waits on them forever and the
    /// restarted server never listens).
    pub(super) serving: Option<CancellationToken>,
}

impl ApiServer {
    pub fn new(store: Arc<Store>, shutdown: CancellationToken) -> Self {
        // A watch's token is a child of the listener's generation: a
        // restart ends every watch served by the old listener, even one
        // opened after the last close (else the old server's graceful
        // shutdown waits on it and the new one never listens).
        let first_generation = shutdown.child_token();
        let watches = Arc::new(Mutex::new(first_generation.child_token()));
        let generation = Arc::new(Mutex::new(first_generation));
        ApiServer {
            store,
            requests: Arc::default(),
            shutdown,
            watches,
            faults: Arc::default(),
            bookmark_every: BOOKMARK_EVERY,
            generation,
            users: None,
            tls: false,
            mesh: Arc::default(),
            node: Arc::default(),
            serving: None,
        }
    }

    pub fn tls(&self) -> bool {
        self.tls
    }

    /// Serves HTTPS with the built-in certificate (sim/apiserver/tls.rs).
    pub fn with_tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Authenticates every request with these tokens and authorizes it
    /// with the RBAC objects in the store.
    pub fn with_users(mut self, users: Users) -> Self {
        self.users = Some(Arc::new(users));
        self
    }

    /// Sends watch bookmarks this often (tests use a short interval).
    pub fn with_bookmark_interval(mut self, every: Duration) -> Self {
        self.bookmark_every = every;
        self
    }

    /// Fault: a restart. Every connection is dropped and every watch ends;
    /// the data stays and the server listens again on the same address.
    pub fn restart(&self) {
        let mut generation = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        generation.cancel();
        *generation = self.shutdown.child_token();
        let mut watches = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        watches.cancel();
        *watches = generation.child_token();
    }

    /// Fault: ends every open watch stream, as an API server restart or a
    /// load balancer timeout does. Clients resume from their last version.
    pub fn close_watches(&self) {
        let generation = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        let mut token = self.watches.lock().unwrap_or_else(|p| p.into_inner());
        token.cancel();
        *token = generation.child_token();
    }

    /// Every mutating request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
