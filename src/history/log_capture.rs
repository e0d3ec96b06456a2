//! Keeps the last lines of an aborted or degraded revision's pods with its
//! release: when the recorder sees a revision end so, this reads each of
//! its pods' containers with the dashboard's own account (while Argo keeps
//! them, `abortScaleDownDelaySeconds`) and writes them to the history.
//! Opt-in (`--history-pod-logs`): the account then needs `pods/log`. What
//! could not be read is kept as the reason, so the History entry says why.

use std::time::Duration;

use kube::Client;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::facts::{Fact, Outcome};
use super::for_a_revision::{Written, write_for_a_revision};
use super::kept_logs::{CONTAINERS_KEPT, KeptLine, KeptLog, LINES_KEPT, newest_within_bounds};
use super::store::{Store, now_ms};
use crate::cluster::logs::{LogError, LogRequest, open};
use crate::info::RolloutInfo;
use crate::info::logs::log_targets;
use crate::model::RolloutKey;

/// Captures waiting to be read; beyond, a new one is not kept (and the log
/// says so): each holds up to `CONTAINERS_KEPT` × 64 KiB while written.
const QUEUED: usize = 32;
/// Reading one container's lines gives up after this long.
const READ_DEADLINE: Duration = Duration::from_secs(15);
/// The revision's row is written by the recorder's next batch; the lines
/// wait for it (and for a failing database) this long at most.
const WRITE_FOR: Duration = Duration::from_secs(300);

/// One revision's pods to read.
#[derive(Clone, Debug, PartialEq)]
pub struct Capture {
    pub key: RolloutKey,
    pub uid: String,
    pub revision: i64,
    pub reason: Outcome,
    /// `(pod, container)`, at most `CONTAINERS_KEPT`.
    pub targets: Vec<(String, String)>,
}

/// Where the recorder sends what to capture.
#[derive(Clone, Debug)]
pub struct Captures {
    queue: mpsc::Sender<Capture>,
}

impl Captures {
    /// Starts the task that reads and keeps, until `shutdown`.
    pub fn start(store: Store, client: Client, shutdown: CancellationToken) -> Captures {
        let (queue, waiting) = mpsc::channel(QUEUED);
        tokio::spawn(run(store, client, waiting, shutdown));
        Captures { queue }
    }

    /// Asks for `c` to be read; never waits.
    pub fn ask(&self, c: Capture) {
        if let Err(e) = self.queue.try_send(c) {
            let c = match e {
                mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c) => c,
            };
            tracing::warn!(rollout = %c.key, revision = c.revision, "too many aborted revisions wait for their logs to be read; this one's are not kept");
        }
    }
}

/// What to capture after a look at `key` produced `facts`: the current
/// revision's pods when it has just been aborted or has degraded (not when
/// it had ended before the recorder first looked: its pods are long gone,
/// and a restart would read every degraded rollout at once).
pub fn capture_for(
    key: &RolloutKey,
    uid: &str,
    info_json: &str,
    facts: &[Fact],
) -> Option<Capture> {
    let (revision, reason) = facts.iter().find_map(|f| match f {
        Fact::Outcome {
            revision,
            outcome: o @ (Outcome::Aborted | Outcome::Degraded),
            ended_at: Some(_),
        } => Some((*revision, *o)),
        _ => None,
    })?;
    let info: RolloutInfo = match serde_json::from_str(info_json) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(rollout = %key, error = %e, "cannot read which pods to keep the logs of");
            return None;
        }
    };
    let mut targets = Vec::new();
    for t in log_targets(&info, None, Some(revision), CONTAINERS_KEPT) {
        for c in &info.containers {
            targets.push((t.pod.clone(), c.name.clone()));
        }
    }
    targets.truncate(CONTAINERS_KEPT);
    Some(Capture {
        key: key.clone(),
        uid: uid.to_string(),
        revision,
        reason,
        targets,
    })
}

async fn run(
    store: Store,
    client: Client,
    mut waiting: mpsc::Receiver<Capture>,
    shutdown: CancellationToken,
) {
    loop {
        let c = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = waiting.recv() => match c {
                Some(c) => c,
                None => return,
            },
        };
        let captured_at = now_ms();
        let reads = c
            .targets
            .iter()
            .map(|(pod, container)| read(&client, &c, pod, container, captured_at));
        let logs = tokio::select! {
            _ = shutdown.cancelled() => return,
            logs = futures_util::future::join_all(reads) => logs,
        };
        keep(&store, &c, &logs, &shutdown).await;
    }
}

/// One container's last lines, or why not.
async fn read(
    client: &Client,
    c: &Capture,
    pod: &str,
    container: &str,
    captured_at: i64,
) -> KeptLog {
    let req = LogRequest {
        namespace: c.key.namespace.clone(),
        pod: pod.to_string(),
        container: Some(container.to_string()),
        tail_lines: Some(LINES_KEPT as i64),
        ..LogRequest::default()
    };
    let mut kept = KeptLog {
        pod: pod.to_string(),
        container: container.to_string(),
        captured_at,
        reason: c.reason,
        lines: Vec::new(),
        dropped: 0,
        problem: None,
    };
    let lines = tokio::time::timeout(READ_DEADLINE, async {
        let mut log = open(client.clone(), &req).await?;
        let mut lines = Vec::new();
        while let Some(l) = log.next_line().await {
            lines.push(KeptLine {
                time: l.time,
                text: l.text,
            });
            // A server that ignores tailLines is still read within bounds.
            if lines.len() > LINES_KEPT * 2 {
                lines.drain(..LINES_KEPT);
            }
        }
        Ok::<_, LogError>(lines)
    })
    .await;
    match lines {
        Ok(Ok(lines)) => {
            let (lines, dropped) = newest_within_bounds(lines);
            kept.lines = lines;
            kept.dropped = dropped;
        }
        Ok(Err(e)) => kept.problem = Some(problem(&e, &c.key.namespace)),
        Err(_) => {
            kept.problem = Some(format!(
                "the Kubernetes API did not give the log within {} s",
                READ_DEADLINE.as_secs()
            ));
        }
    }
    kept
}

/// Why a log could not be read, for the History entry.
fn problem(e: &LogError, namespace: &str) -> String {
    match e.code() {
        Some(403) => format!(
            "the dashboard's own account may not read pods/log in {namespace} (give it the right, or turn --history-pod-logs off): {e}"
        ),
        Some(404) => "the pod was gone before its log could be read".to_string(),
        _ => e.to_string(),
    }
}

/// Writes `logs`, waiting for the revision's row and the database.
async fn keep(store: &Store, c: &Capture, logs: &[KeptLog], shutdown: &CancellationToken) {
    let write = || store.keep_pod_logs(&c.key, &c.uid, c.revision, logs);
    match write_for_a_revision(WRITE_FOR, shutdown, write).await {
        Written::Yes => {
            tracing::info!(rollout = %c.key, revision = c.revision, containers = logs.len(), "kept the last lines of the revision's pods");
        }
        Written::GaveUp(why) => {
            tracing::warn!(rollout = %c.key, revision = c.revision, reason = %why, "the last lines of an aborted revision's pods are not kept");
        }
        Written::Stopping => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = r#"{"objectMeta":{"name":"search","namespace":"shop"},"revision":2,
        "containers":[{"name":"search","image":"search:3.2.0"},{"name":"proxy","image":"envoy"}],
        "replicaSets":[
          {"objectMeta":{"name":"search-2"},"revision":2,"canary":true,
           "pods":[{"objectMeta":{"name":"search-2-a"}},{"objectMeta":{"name":"search-2-b"}}]},
          {"objectMeta":{"name":"search-1"},"revision":1,"stable":true,
           "pods":[{"objectMeta":{"name":"search-1-a"}}]}]}"#;

    fn aborted(ended_at: Option<i64>) -> Vec<Fact> {
        vec![Fact::Outcome {
            revision: 2,
            outcome: Outcome::Aborted,
            ended_at,
        }]
    }

    #[test]
    fn an_abort_seen_asks_for_every_container_of_the_revisions_pods() {
        let key = RolloutKey::new("shop", "search");
        let c = capture_for(&key, "u1", INFO, &aborted(Some(1))).expect("a capture");
        assert_eq!((c.revision, c.reason), (2, Outcome::Aborted));
        assert_eq!(
            c.targets,
            [
                ("search-2-a".to_string(), "search".to_string()),
                ("search-2-a".to_string(), "proxy".to_string()),
                ("search-2-b".to_string(), "search".to_string()),
                ("search-2-b".to_string(), "proxy".to_string()),
            ]
        );
    }

    #[test]
    fn nothing_for_an_end_that_came_before_the_first_look_or_a_promotion() {
        let key = RolloutKey::new("shop", "search");
        assert_eq!(capture_for(&key, "u1", INFO, &aborted(None)), None);
        let promoted = [Fact::Outcome {
            revision: 2,
            outcome: Outcome::Promoted,
            ended_at: Some(1),
        }];
        assert_eq!(capture_for(&key, "u1", INFO, &promoted), None);
        assert_eq!(
            capture_for(&key, "u1", "{not json", &aborted(Some(1))),
            None
        );
    }
}
