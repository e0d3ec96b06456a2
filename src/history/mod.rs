//! Release history that outlives Kubernetes: a recorder fed by the hub's
//! changes writes each revision's steps, weights, analysis and who acted
//! into a database (SQLite or PostgreSQL); pages and the API read it back.
//!
//! `release`, `facts`, `figures` and `kept_logs` are PURE; `store` and
//! `kept_logs_store` are the database's edge, `recorder` the task between
//! the live view and the store, `log_capture` the one that reads an
//! aborted revision's pods for it.

pub mod facts;
pub mod figures;
pub mod for_a_revision;
pub mod kept_logs;
pub mod kept_logs_store;
pub mod log_capture;
pub mod recorder;
pub mod records;
pub mod release;
pub mod store;
pub mod template_capture;
pub mod templates_store;

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::cluster::hub::LiveView;
use crate::model::RolloutKey;
pub use facts::EventKind;
pub use kept_logs::KeptLog;
pub use kept_logs_store::KeptSummary;
use log_capture::Captures;
pub use records::{Gap, ReleaseRow, RevisionRecord};
pub use store::{Attribution, Backend, Store, StoreError};

/// Actions waiting to be credited while the database fails; beyond, the
/// newest is dropped (and the log says so). Actions are few: a person's
/// promote must outlive an outage even when a busy cluster's changes do not.
const ATTRIBUTIONS_KEPT: usize = 10_000;

/// Revisions a rollout's history shows at most.
pub const REVISIONS_SHOWN: i64 = 50;
/// Releases the Releases page reads at most.
pub const RELEASES_READ: i64 = 20_000;

/// How long the history keeps, and whether pod logs are kept.
#[derive(Clone, Copy, Debug)]
struct Settings {
    retention: Duration,
    pod_logs: bool,
}

/// The history as the web layer uses it: read, and credit actions.
#[derive(Clone, Debug)]
pub struct History {
    store: Store,
    leading: watch::Receiver<bool>,
    pub retention: Duration,
    /// Whether aborted revisions' last pod lines are kept.
    pub keeps_pod_logs: bool,
    /// Whether they were asked for (another cluster's history keeps them
    /// as the first's does).
    pod_logs_asked: bool,
    /// Who sent which action, written in order by a task of their own
    /// that waits out the database's outages.
    attributions: mpsc::Sender<Attribution>,
}

impl History {
    /// Opens `url`, and records the dashboard's own cluster from `view`
    /// while `leading` says so; with `client` (the dashboard's own), keeps
    /// new revisions' pod templates, and with `pod_logs` the last lines of
    /// aborted and degraded revisions' pods.
    pub async fn start(
        url: &str,
        retention: Duration,
        view: LiveView,
        leading: watch::Receiver<bool>,
        client: Option<kube::Client>,
        pod_logs: bool,
        shutdown: CancellationToken,
    ) -> Result<History, StoreError> {
        let store = Store::open(url).await?;
        let settings = Settings {
            retention,
            pod_logs,
        };
        Ok(History::record(
            store, settings, view, leading, client, shutdown,
        ))
    }

    /// Cluster `name`'s history in the same database, recorded from its
    /// `view` while `leading` says so, its pods read with its `client`,
    /// until `stop`.
    pub fn for_cluster(
        &self,
        name: &str,
        view: LiveView,
        leading: watch::Receiver<bool>,
        client: kube::Client,
        stop: CancellationToken,
    ) -> History {
        let settings = Settings {
            retention: self.retention,
            pod_logs: self.pod_logs_asked,
        };
        let store = self.store.for_cluster(name);
        History::record(store, settings, view, leading, Some(client), stop)
    }

    fn record(
        store: Store,
        settings: Settings,
        view: LiveView,
        leading: watch::Receiver<bool>,
        client: Option<kube::Client>,
        shutdown: CancellationToken,
    ) -> History {
        let (attributions, queue) = mpsc::channel(ATTRIBUTIONS_KEPT);
        tokio::spawn(credit(store.clone(), queue, shutdown.clone()));
        let captures = client
            .clone()
            .filter(|_| settings.pod_logs)
            .map(|client| Captures::start(store.clone(), client, shutdown.clone()));
        let templates = client.map(|client| {
            template_capture::TemplateReads::start(store.clone(), client, shutdown.clone())
        });
        let keeps_pod_logs = captures.is_some();
        tokio::spawn(recorder::run(
            store.clone(),
            view,
            leading.clone(),
            recorder::Settings {
                retention: settings.retention,
                captures,
                templates,
            },
            shutdown,
        ));
        History {
            store,
            leading,
            retention: settings.retention,
            keeps_pod_logs,
            pod_logs_asked: settings.pod_logs,
            attributions,
        }
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

    /// What each of `key`'s revisions kept of its pods' logs.
    pub async fn pod_log_summaries(
        &self,
        key: &RolloutKey,
    ) -> Result<Vec<KeptSummary>, StoreError> {
        self.store.pod_log_summaries(key).await
    }

    /// The last lines revision `revision` of `key` kept, pod by pod.
    pub async fn pod_logs(
        &self,
        key: &RolloutKey,
        revision: i64,
    ) -> Result<Vec<KeptLog>, StoreError> {
        self.store.pod_logs(key, revision).await
    }

    /// Revision `revision` of `key`'s pod template (JSON), as kept.
    pub async fn template(
        &self,
        key: &RolloutKey,
        revision: i64,
    ) -> Result<Option<String>, StoreError> {
        self.store.template(key, revision).await
    }

    /// Revisions started since `since` (ms since the epoch), newest first.
    pub async fn releases(&self, since: i64) -> Result<Vec<ReleaseRow>, StoreError> {
        self.store.releases(since, RELEASES_READ).await
    }

    /// Times the history could not be written that ended since `since`
    /// (ms): the database's own, and `key`'s (every rollout's without).
    pub async fn gaps(&self, since: i64, key: Option<&RolloutKey>) -> Result<Vec<Gap>, StoreError> {
        self.store.gaps(since, key).await
    }

    /// Notes who sent an action, so its effect is recorded with their
    /// name: written at once, or when the database returns.
    pub async fn attribute(&self, a: Attribution) {
        if let Err(e) = self.attributions.try_send(a) {
            let a = match e {
                mpsc::error::TrySendError::Full(a) | mpsc::error::TrySendError::Closed(a) => a,
            };
            tracing::error!(rollout = %a.key, kind = a.kind.as_str(), "too many actions wait for the history database; this one will be recorded as from outside the dashboard");
        }
    }

    /// The underlying store (tests and the benchmark count its rows).
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Writes who sent each action, in order; while the database fails, waits
/// and tries again (one log line per outage), until `shutdown`.
async fn credit(store: Store, mut queue: mpsc::Receiver<Attribution>, shutdown: CancellationToken) {
    let mut backoff = crate::cluster::backoff::Backoff::new();
    loop {
        let a = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = queue.recv() => match a {
                Some(a) => a,
                None => return,
            },
        };
        let mut failing = false;
        loop {
            match store.attribute(&a).await {
                Ok(()) => {
                    if failing {
                        tracing::info!(rollout = %a.key, kind = a.kind.as_str(), "the history database works again; who acted is recorded");
                    }
                    backoff.reset();
                    break;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, rollout = %a.key, kind = a.kind.as_str(), "cannot note who acted yet; kept until the history database returns");
                    }
                    failing = true;
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            let left = queue.len() + 1;
                            tracing::warn!(actions = left, "shutting down before the history database returned: who sent these actions is not recorded");
                            return;
                        }
                        _ = tokio::time::sleep(backoff.step()) => {}
                    }
                }
            }
        }
    }
}
