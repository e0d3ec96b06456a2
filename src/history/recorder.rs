//! The recorder: follows the hub's changes (no watch of its own), turns
//! each rollout's new state into facts, and writes them in batches. It
//! records only while it leads (the Lease); on taking over it resumes from
//! what the database remembers and fills in what the cluster shows now.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::facts::{Settled, Tracked, observe, release_fingerprint};
use super::release::Release;
use super::store::{Batch, Store, now_ms};
use crate::cluster::backoff::Backoff;
use crate::cluster::hub::{Change, LiveView, RolloutEntry, Snapshot};
use crate::model::RolloutKey;

/// Facts are gathered this long and written in one transaction.
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// How often old revisions are forgotten.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// Batches kept while the database cannot be written; beyond, the oldest
/// go (and the log says so), so an outage cannot grow memory without end.
const MAX_PENDING: usize = 50_000;
/// A burst (the first look at every rollout) is written this many batches
/// at a time rather than held until the next tick.
const WRITE_AT: usize = 500;

/// Records while `leading` says so, until `shutdown`.
pub async fn run(
    store: Store,
    view: LiveView,
    mut leading: watch::Receiver<bool>,
    retention: Duration,
    shutdown: CancellationToken,
) {
    loop {
        while !*leading.borrow_and_update() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = leading.changed() => if changed.is_err() { return },
            }
        }
        tracing::info!("recording the release history (this replica leads)");
        lead(&store, &view, &mut leading, retention, &shutdown).await;
        if shutdown.is_cancelled() {
            return;
        }
        tracing::info!("no longer recording the release history (another replica leads)");
    }
}

struct Recording {
    kept: HashMap<RolloutKey, Kept>,
    pending: Vec<Batch>,
    dropped: u64,
    /// Rollouts that changed while what was remembered of them could not
    /// be read: looked at again at the next flush (one per rollout).
    unread: HashSet<RolloutKey>,
}

/// What is kept in memory of one rollout: a fingerprint, and the whole
/// of what is remembered only while time alone can add to it. The rest is
/// in the database (or pending) and read back when the rollout changes, so
/// 5,000 rollouts cost a few dozen bytes each however far their releases
/// are.
enum Kept {
    /// A timed pause's early end waits to be told apart.
    Whole(Box<Tracked>),
    /// Settled: enough to tell that a look adds nothing.
    Settled(Settled),
    /// In progress: the fingerprint of the release last looked at.
    Unchanged(u64),
}

impl Recording {
    /// Keeps `t`, remembered after a look at a release with fingerprint
    /// `seen` (`None`: not looked at yet).
    fn keep(&mut self, key: RolloutKey, t: Tracked, seen: Option<u64>) {
        let kept = match (t.settled(), seen) {
            (Some(s), _) => Kept::Settled(s),
            (None, Some(f)) if !t.waits_on_time() => Kept::Unchanged(f),
            _ => Kept::Whole(Box::new(t)),
        };
        self.kept.insert(key, kept);
    }

    /// What was last remembered of `key`: its newest pending batch, else
    /// what the database has; `Err` when the database cannot say.
    async fn remembered(&self, store: &Store, key: &RolloutKey) -> Result<Option<Tracked>, ()> {
        if let Some(b) = self.pending.iter().rev().find(|b| &b.key == key) {
            return Ok(Some(b.tracked.clone()));
        }
        store.tracked_of(key).await.map_err(|e| {
            tracing::warn!(rollout = %key, error = %e, "cannot read what was remembered of a rollout; looking again shortly");
        })
    }
}

async fn lead(
    store: &Store,
    view: &LiveView,
    leading: &mut watch::Receiver<bool>,
    retention: Duration,
    shutdown: &CancellationToken,
) {
    // Start once the first lists are in: the first look at every rollout
    // then comes after the live view's own first burst, not within it.
    let mut changes = view.subscribe();
    while !view.snapshot().health.ready() {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            change = changes.recv() => {
                if matches!(change, Err(broadcast::error::RecvError::Closed)) {
                    return;
                }
            }
        }
    }
    let mut changes = view.subscribe();
    let mut backoff = Backoff::new();
    // What the last writer remembered: resume from there.
    let tracked = loop {
        match store.tracked().await {
            Ok(t) => break t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the release history; trying again");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff.step()) => {}
                }
                if !*leading.borrow() {
                    return;
                }
            }
        }
    };
    let mut rec = Recording {
        kept: HashMap::new(),
        pending: Vec::new(),
        dropped: 0,
        unread: HashSet::new(),
    };
    for (key, t) in tracked {
        rec.keep(key, t, None);
    }
    let mut seen = resync(store, &mut rec, &view.snapshot()).await;
    let mut flush = tokio::time::interval(FLUSH_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut forget = tokio::time::interval(RETENTION_EVERY);
    forget.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                write(store, &mut rec).await;
                return;
            }
            changed = leading.changed() => {
                if changed.is_err() || !*leading.borrow_and_update() {
                    // Whoever leads now resumes from what was written.
                    return;
                }
            }
            change = changes.recv() => match change {
                Ok(change) => {
                    if change.seq() > seen
                        && let Change::Rollout { seq, key, entry, .. } = &*change
                    {
                        seen = *seq;
                        look(store, &mut rec, key, entry.as_deref()).await;
                        if rec.pending.len() >= WRITE_AT {
                            write(store, &mut rec).await;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "the recorder fell behind; reading the whole view");
                    seen = resync(store, &mut rec, &view.snapshot()).await;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    write(store, &mut rec).await;
                    return;
                }
            },
            _ = flush.tick() => {
                if !rec.unread.is_empty() {
                    look_again(store, &mut rec, &view.snapshot()).await;
                }
                if !rec.pending.is_empty() && write(store, &mut rec).await {
                    backoff.reset();
                } else if !rec.pending.is_empty() {
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(backoff.step()) => {}
                    }
                }
            }
            _ = forget.tick() => {
                let cutoff = now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
                match store.forget_before(cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(revisions = n, "forgot revisions older than the retention"),
                    Err(e) => tracing::warn!(error = %e, "cannot forget old revisions"),
                }
            }
        }
    }
}

/// Looks at every rollout shown, writing as it goes; returns the
/// snapshot's sequence number.
async fn resync(store: &Store, rec: &mut Recording, snapshot: &Snapshot) -> u64 {
    rec.kept.retain(|k, _| snapshot.rollouts.contains_key(k));
    for (key, entry) in snapshot.rollouts.iter() {
        look(store, rec, key, Some(entry)).await;
        if rec.pending.len() >= WRITE_AT {
            write(store, rec).await;
        }
    }
    snapshot.seq
}

/// Looks again at the rollouts whose remembered state could not be read,
/// as they are now; the first still unreadable keeps the rest waiting.
async fn look_again(store: &Store, rec: &mut Recording, snapshot: &Snapshot) {
    let keys: Vec<RolloutKey> = rec.unread.drain().collect();
    for (i, key) in keys.iter().enumerate() {
        look(store, rec, key, snapshot.rollouts.get(key).map(|e| &**e)).await;
        if rec.unread.contains(key) {
            rec.unread.extend(keys[i + 1..].iter().cloned());
            return;
        }
    }
}

async fn look(store: &Store, rec: &mut Recording, key: &RolloutKey, entry: Option<&RolloutEntry>) {
    let Some(entry) = entry else {
        // Gone from the cluster: its history stays.
        rec.kept.remove(key);
        return;
    };
    if entry.error.is_some() {
        return;
    }
    let release = match Release::of_json(
        &entry.json.full(),
        entry.observed.as_deref(),
        &entry.events,
    ) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(rollout = %key, error = %e, "cannot read a rollout's info for its history");
            return;
        }
    };
    if release.uid.is_empty() && release.revision == 0 {
        return;
    }
    // Nothing to add: most looks end here, before a fingerprint or a copy
    // of the key.
    if let Some(Kept::Settled(s)) = rec.kept.get(key)
        && s.holds(&release)
    {
        return;
    }
    let seen = release_fingerprint(&release);
    if let Some(Kept::Unchanged(f)) = rec.kept.get(key)
        && *f == seen
    {
        return;
    }
    let before: Option<Tracked> = match rec.kept.remove(key) {
        None => None,
        Some(Kept::Whole(t)) => Some(*t),
        // It moved: read back all that was remembered.
        Some(kept) => match rec.remembered(store, key).await {
            Ok(t) => t,
            Err(()) => {
                // Not afresh (that would lose its open step): later.
                rec.kept.insert(key.clone(), kept);
                rec.unread.insert(key.clone());
                return;
            }
        },
    };
    let seen_at = now_ms();
    let (next, facts) = observe(before.as_ref(), &release, seen_at);
    if facts.is_empty() && before.as_ref() == Some(&next) {
        rec.keep(key.clone(), next, Some(seen));
        return;
    }
    if rec.pending.len() >= MAX_PENDING {
        rec.pending.remove(0);
        rec.dropped += 1;
        if rec.dropped.is_power_of_two() {
            tracing::error!(
                dropped = rec.dropped,
                "the history database has not been written for a long time; the oldest changes are dropped"
            );
        }
    }
    rec.pending.push(Batch {
        key: key.clone(),
        tracked: next.clone(),
        facts,
        seen_at,
    });
    rec.keep(key.clone(), next, Some(seen));
}

/// Writes what is pending; keeps it when the database fails.
async fn write(store: &Store, rec: &mut Recording) -> bool {
    if rec.pending.is_empty() {
        return true;
    }
    match store.write(&rec.pending).await {
        Ok(()) => {
            rec.pending.clear();
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, pending = rec.pending.len(), "cannot write the release history; keeping it to try again");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cluster::hub::InfoJson;
    use crate::history::facts::Fact;
    use crate::info::RolloutInfo;

    /// The seed's revision 2 of shop/web at step `step`.
    fn at_step(step: i32) -> RolloutEntry {
        let mut info: RolloutInfo = serde_json::from_value(serde_json::json!({
            "objectMeta": {"name": "web", "namespace": "shop", "uid": "u1"},
            "status": "Progressing",
            "revision": 2,
            "podHash": "h2",
            "stepIndex": step,
            "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50},
                      {"pause": {"duration": "30s"}}, {"setWeight": 100}],
            "replicaSets": [{"objectMeta": {"name": "web-h2"}, "revision": 2,
                             "images": ["app:2"], "podTemplateHash": "h2"}],
        }))
        .expect("a RolloutInfo");
        RolloutEntry {
            seq: 1,
            summary: crate::cluster::hub::Summary::default(),
            json: InfoJson::of(&mut info).expect("serializes"),
            error: None,
            events: Vec::new(),
            observed: None,
            card: std::sync::OnceLock::new(),
        }
    }

    fn entered(pending: &[Batch]) -> Vec<i32> {
        pending
            .iter()
            .flat_map(|b| &b.facts)
            .filter_map(|f| match f {
                Fact::StepEntered { index, .. } => Some(*index),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_change_is_recorded_from_what_was_remembered_even_when_it_could_not_be_read_at_once()
    {
        let store = Store::open("sqlite::memory:").await.expect("opens");
        let mut rec = Recording {
            kept: HashMap::new(),
            pending: Vec::new(),
            dropped: 0,
            unread: HashSet::new(),
        };
        let key = RolloutKey::new("shop", "web");
        look(&store, &mut rec, &key, Some(&at_step(0))).await;
        assert_eq!(entered(&rec.pending), [0], "the first look");
        assert!(write(&store, &mut rec).await);
        assert!(
            matches!(rec.kept.get(&key), Some(Kept::Unchanged(_))),
            "only a fingerprint is kept of a release in progress"
        );
        look(&store, &mut rec, &key, Some(&at_step(0))).await;
        assert!(rec.pending.is_empty(), "the same release adds nothing");

        // It moves on while what was remembered cannot be read.
        store
            .run_for_test("ALTER TABLE history_rollouts RENAME TO unreadable")
            .await;
        look(&store, &mut rec, &key, Some(&at_step(1))).await;
        assert!(rec.pending.is_empty(), "not looked at afresh");
        assert!(rec.unread.contains(&key));

        // Still unreadable at the next flush: it waits on.
        let now = Snapshot {
            rollouts: [(key.clone(), Arc::new(at_step(1)))].into_iter().collect(),
            ..Snapshot::default()
        };
        look_again(&store, &mut rec, &now).await;
        assert!(rec.pending.is_empty() && rec.unread.contains(&key));

        // Readable again: at the next flush the step it moved to follows
        // the one remembered (read back from the database), not a new
        // first look.
        store
            .run_for_test("ALTER TABLE unreadable RENAME TO history_rollouts")
            .await;
        look_again(&store, &mut rec, &now).await;
        assert!(rec.unread.is_empty());
        assert_eq!(entered(&rec.pending), [1]);
        let facts = || rec.pending.iter().flat_map(|b| &b.facts);
        assert!(
            !facts().any(|f| matches!(f, Fact::Revision { .. })),
            "{:?}",
            rec.pending
        );
        assert!(facts().any(|f| matches!(f, Fact::StepLeft { index: 0, .. })));
        // And the next step is read from what is pending.
        look(&store, &mut rec, &key, Some(&at_step(2))).await;
        assert_eq!(entered(&rec.pending), [1, 2]);
    }
}
