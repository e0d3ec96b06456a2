//! Keeps each new revision's pod template with the history: when the
//! recorder sees a revision start, this reads its ReplicaSet (and the one
//! it replaces) with the dashboard's own account, which watches them
//! anyway, and writes the template without its literal env values
//! (`info::template_diff::for_history`). What a revision changed can then
//! be told after Kubernetes forgets its ReplicaSet.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::Client;
use kube::api::Api;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::facts::Fact;
use super::for_a_revision::{Written, write_for_a_revision};
use super::store::Store;
use crate::info::RolloutInfo;
use crate::info::template_diff::for_history;
use crate::model::RolloutKey;

/// Templates waiting to be read; beyond, a new one is not kept.
const QUEUED: usize = 256;
/// A read gives up after this long.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The revision's row is written by the recorder's next batch: the
/// template waits for it this long at most.
const WRITE_FOR: Duration = Duration::from_secs(120);

/// One revision's ReplicaSet to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateRead {
    pub key: RolloutKey,
    pub uid: String,
    pub revision: i64,
    pub replica_set: String,
}

#[derive(Clone, Debug)]
pub struct TemplateReads {
    queue: mpsc::Sender<TemplateRead>,
}

impl TemplateReads {
    pub fn start(store: Store, client: Client, shutdown: CancellationToken) -> TemplateReads {
        let (queue, waiting) = mpsc::channel(QUEUED);
        tokio::spawn(run(store, client, waiting, shutdown));
        TemplateReads { queue }
    }

    /// Asks for `r` to be read; never waits.
    pub fn ask(&self, r: TemplateRead) {
        if self.queue.try_send(r).is_err() {
            tracing::debug!(
                "too many revisions wait for their templates to be read; one is not kept"
            );
        }
    }
}

/// What to read after a look at `key` that was not its first produced
/// `facts`: the new revision's ReplicaSet and the one before, when a
/// revision started.
pub fn reads_for(
    key: &RolloutKey,
    uid: &str,
    info_json: &str,
    facts: &[Fact],
    before: i64,
) -> Vec<TemplateRead> {
    let Some(started) = facts.iter().find_map(|f| match f {
        Fact::Revision { revision, .. } => Some(*revision),
        _ => None,
    }) else {
        return Vec::new();
    };
    let Ok(info) = serde_json::from_str::<RolloutInfo>(info_json) else {
        return Vec::new();
    };
    [started, before]
        .into_iter()
        .filter(|r| *r > 0)
        .filter_map(|revision| {
            info.replica_sets
                .iter()
                .find(|rs| rs.revision == revision)
                .map(|rs| TemplateRead {
                    key: key.clone(),
                    uid: uid.to_string(),
                    revision,
                    replica_set: rs.object_meta.name.clone(),
                })
        })
        .collect()
}

async fn run(
    store: Store,
    client: Client,
    mut waiting: mpsc::Receiver<TemplateRead>,
    shutdown: CancellationToken,
) {
    loop {
        let r = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = waiting.recv() => match r {
                Some(r) => r,
                None => return,
            },
        };
        let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &r.key.namespace);
        let template = match tokio::time::timeout(READ_TIMEOUT, api.get(&r.replica_set)).await {
            Ok(Ok(rs)) => rs
                .spec
                .and_then(|s| s.template)
                .and_then(|t| serde_json::to_value(t).ok()),
            Ok(Err(e)) => {
                tracing::debug!(rollout = %r.key, revision = r.revision, error = %e, "cannot read a revision's template for its history");
                None
            }
            Err(_) => None,
        };
        let Some(template) = template else {
            continue;
        };
        let text = for_history(&template).to_string();
        let write = || store.keep_template(&r.key, &r.uid, r.revision, &text);
        match write_for_a_revision(WRITE_FOR, &shutdown, write).await {
            Written::Yes => {}
            Written::GaveUp(why) => {
                tracing::debug!(rollout = %r.key, revision = r.revision, reason = %why, "a revision's template is not kept");
            }
            Written::Stopping => return,
        }
    }
}
