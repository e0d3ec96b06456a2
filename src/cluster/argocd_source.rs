//! Follows Argo CD's cluster Secrets in one namespace of the dashboard's
//! own cluster: lists them (by their label) every few seconds, a handful of
//! small objects, and says what they name whenever that changes, so a
//! cluster added or removed in Argo CD appears or goes without a restart.
//! Each list has a timeout; failures are retried with backoff.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::argocd::{ArgoCluster, CLUSTER_SECRET_LABEL, cluster_of_secret};
use super::backoff::Backoff;

/// How often the Secrets are listed.
pub const LIST_EVERY: Duration = Duration::from_secs(5);
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the Secrets name now.
#[derive(Clone, Debug, Default)]
pub struct ArgoClusters {
    pub clusters: Vec<ArgoCluster>,
    /// Secrets that name no usable cluster, and why.
    pub errors: Vec<String>,
    /// Why the Secrets cannot be listed now (the last set stays).
    pub failing: Option<String>,
}

/// Starts following the cluster Secrets of `namespace`; the receiver has
/// the latest set (empty until the first list).
/// With `selector`, only the Secrets it matches too (a replica's share).
pub fn follow(
    client: kube::Client,
    namespace: String,
    selector: Option<String>,
    shutdown: CancellationToken,
) -> watch::Receiver<Arc<ArgoClusters>> {
    let (tx, rx) = watch::channel(Arc::new(ArgoClusters::default()));
    tokio::spawn(async move {
        let api: Api<Secret> = Api::namespaced(client, &namespace);
        let labels = match &selector {
            Some(s) => format!("{CLUSTER_SECRET_LABEL},{s}"),
            None => CLUSTER_SECRET_LABEL.to_string(),
        };
        let params = ListParams::default().labels(&labels);
        let mut seen: Option<Vec<(String, String)>> = None;
        let mut backoff = Backoff::new();
        loop {
            let wait = match tokio::time::timeout(LIST_TIMEOUT, api.list(&params)).await {
                Ok(Ok(list)) => {
                    backoff.reset();
                    // Changed when a Secret came, went or was written.
                    let versions: Vec<(String, String)> = list
                        .items
                        .iter()
                        .map(|s| {
                            (
                                s.metadata.name.clone().unwrap_or_default(),
                                s.metadata.resource_version.clone().unwrap_or_default(),
                            )
                        })
                        .collect();
                    publish(&tx, &mut seen, versions, || read(&list.items, &namespace));
                    LIST_EVERY
                }
                Ok(Err(e)) => failed(
                    &tx,
                    format!(
                        "cannot list Argo CD's cluster Secrets in {namespace}: {}",
                        super::watch::describe_client_error(&e).1
                    ),
                    &mut backoff,
                ),
                Err(_) => failed(
                    &tx,
                    format!(
                        "listing Argo CD's cluster Secrets in {namespace} took over {} s",
                        LIST_TIMEOUT.as_secs()
                    ),
                    &mut backoff,
                ),
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
    rx
}

/// Sends the set `read` makes when the Secrets' `versions` differ from
/// those `seen` last, or the last read failed; says which name no
/// usable cluster.
pub(super) fn publish(
    tx: &watch::Sender<Arc<ArgoClusters>>,
    seen: &mut Option<Vec<(String, String)>>,
    versions: Vec<(String, String)>,
    read: impl FnOnce() -> ArgoClusters,
) {
    if seen.as_ref() == Some(&versions) && tx.borrow().failing.is_none() {
        return;
    }
    let set = read();
    for e in &set.errors {
        tracing::warn!(error = %e, "an Argo CD cluster Secret names no usable cluster");
    }
    *seen = Some(versions);
    tx.send_replace(Arc::new(set));
}

/// Keeps the last set, says why it may be old.
pub(super) fn mark_failing(tx: &watch::Sender<Arc<ArgoClusters>>, why: String) {
    tracing::warn!(error = %why, "Argo CD's cluster Secrets");
    let mut set = (**tx.borrow()).clone();
    set.failing = Some(why);
    tx.send_replace(Arc::new(set));
}

/// As [`mark_failing`]; how long to wait.
fn failed(tx: &watch::Sender<Arc<ArgoClusters>>, why: String, backoff: &mut Backoff) -> Duration {
    mark_failing(tx, why);
    backoff.step().max(LIST_EVERY)
}

fn read(items: &[Secret], namespace: &str) -> ArgoClusters {
    let mut set = ArgoClusters::default();
    for s in items {
        let value = match serde_json::to_value(s) {
            Ok(mut v) => {
                // The list's items carry no namespace of their own.
                v["metadata"]["namespace"] = serde_json::json!(namespace);
                v
            }
            Err(e) => {
                set.errors.push(e.to_string());
                continue;
            }
        };
        match cluster_of_secret(&value) {
            Ok(Some(c)) => set.clusters.push(c),
            Ok(None) => {}
            Err(e) => set.errors.push(e),
        }
    }
    set
}
