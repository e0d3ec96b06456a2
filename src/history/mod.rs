//! Release history that outlives Kubernetes: a recorder fed by the hub's
//! changes writes each revision's steps, weights, analysis and who acted
//! into a database (SQLite or PostgreSQL); pages and the API read it back.
//!
//! `release`, `facts` and `figures` are PURE; `store` is the database's
//! edge, `recorder` the task between the live view and the store.

pub mod facts;
pub mod figures;
pub mod recorder;
pub mod records;
pub mod release;
pub mod store;

use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::cluster::hub::LiveView;
use crate::model::RolloutKey;
pub use facts::EventKind;
pub use records::{ReleaseRow, RevisionRecord};
pub use store::{Attribution, Backend, Store, StoreError};

/// Revisions a rollout's history shows at most.
pub const REVISIONS_SHOWN: i64 = 50;
/// Releases the Releases page reads at most.
pub const RELEASES_READ: i64 = 20_000;

/// The history as the web layer uses it: read, and credit actions.
#[derive(Clone, Debug)]
pub struct History {
    store: Store,
    leading: watch::Receiver<bool>,
    pub retention: Duration,
}

impl History {
    /// Opens `url`, and records from `view` while `leading` says so.
    pub async fn start(
        url: &str,
        retention: Duration,
        view: LiveView,
        leading: watch::Receiver<bool>,
        shutdown: CancellationToken,
    ) -> Result<History, StoreError> {
        let store = Store::open(url).await?;
        tokio::spawn(recorder::run(
            store.clone(),
            view,
            leading.clone(),
            retention,
            shutdown,
        ));
        Ok(History {
            store,
            leading,
            retention,
        })
    }

    /// Whether this replica writes the history now.
    pub fn leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Whether this replica writes, as it changes.
    pub fn leading_changes(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    pub fn backend(&self) -> Backend {
        self.store.backend
    }

    pub async fn revisions(&self, key: &RolloutKey) -> Result<Vec<RevisionRecord>, StoreError> {
        self.store.history(key, REVISIONS_SHOWN).await
    }

    /// Revisions started since `since` (ms since the epoch), newest first.
    pub async fn releases(&self, since: i64) -> Result<Vec<ReleaseRow>, StoreError> {
        self.store.releases(since, RELEASES_READ).await
    }

    /// Notes who sent an action, so its effect is recorded with their name.
    pub async fn attribute(&self, a: Attribution) {
        if let Err(e) = self.store.attribute(&a).await {
            tracing::warn!(error = %e, rollout = %a.key, kind = a.kind.as_str(), "cannot note who acted; the history will say it came from outside the dashboard");
        }
    }

    /// The underlying store (tests and the benchmark count its rows).
    pub fn store(&self) -> &Store {
        &self.store
    }
}
