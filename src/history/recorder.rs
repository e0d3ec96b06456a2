//! The recorder: follows the hub's changes (no watch of its own), turns
//! each rollout's new state into facts, and writes them in batches. It
//! records only while it leads (the Lease); on taking over it resumes from
//! what the database remembers and fills in what the cluster shows now.

use std::collections::HashMap;
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
    /// what the database has.
    async fn remembered(&self, store: &Store, key: &RolloutKey) -> Option<Tracked> {
        if let Some(b) = self.pending.iter().rev().find(|b| &b.key == key) {
            return Some(b.tracked.clone());
        }
        match store.tracked_of(key).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(rollout = %key, error = %e, "cannot read what was remembered of a rollout; it is looked at afresh");
                None
            }
        }
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
    let seen = release_fingerprint(&release);
    let before: Option<Tracked> = match rec.kept.remove(key) {
        None => None,
        Some(Kept::Whole(t)) => Some(*t),
        Some(Kept::Settled(s)) if s.holds(&release) => {
            rec.kept.insert(key.clone(), Kept::Settled(s));
            return;
        }
        Some(Kept::Unchanged(f)) if f == seen => {
            rec.kept.insert(key.clone(), Kept::Unchanged(f));
            return;
        }
        // It moved: read back all that was remembered.
        Some(Kept::Settled(_) | Kept::Unchanged(_)) => rec.remembered(store, key).await,
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
