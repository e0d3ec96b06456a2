//! The recorder: follows the hub's changes (no watch of its own), turns
//! each rollout's new state into facts, and writes them in batches. It
//! records only while it leads (the Lease); on taking over it resumes from
//! what the database remembers and fills in what the cluster shows now.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::facts::{Fact, Settled, Tracked, observe, release_fingerprint};
use super::log_capture::{Captures, capture_for};
use super::records::Gap;
use super::release::Release;
use super::store::{Batch, Store, now_ms};
use super::template_capture::{TemplateReads, reads_for};
use crate::cluster::backoff::Backoff;
use crate::cluster::health::HistoryTrouble;
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
/// States of one rollout kept while what was remembered of it cannot be
/// read (the database is down), to replay in order when it can; beyond,
/// the oldest go and the history records a gap for that rollout.
const UNREAD_PER_ROLLOUT: usize = 64;
/// The same, across all rollouts.
const UNREAD_MAX: usize = 20_000;
/// Gaps waiting to be written; beyond, one rollout's are merged.
const GAPS_MAX: usize = 1_000;
/// How often the banner's count of what is kept is brought up to date
/// while the database fails.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// How the recorder keeps the history.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long revisions are kept after they end.
    pub retention: Duration,
    /// Where an aborted or degraded revision's pods are sent to have their
    /// last lines kept (`--history-pod-logs`).
    pub captures: Option<Captures>,
    /// Where a new revision's ReplicaSets are sent to have their pod
    /// templates kept.
    pub templates: Option<TemplateReads>,
}

/// Records while `leading` says so, until `shutdown`.
pub async fn run(
    store: Store,
    view: LiveView,
    mut leading: watch::Receiver<bool>,
    settings: Settings,
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
        lead(&store, &view, &mut leading, &settings, &shutdown).await;
        if shutdown.is_cancelled() {
            return;
        }
        tracing::info!("no longer recording the release history (another replica leads)");
    }
}

struct Recording {
    captures: Option<Captures>,
    templates: Option<TemplateReads>,
    kept: HashMap<RolloutKey, Kept>,
    pending: Vec<Batch>,
    dropped: u64,
    /// Rollouts that changed while what was remembered of them could not
    /// be read: each state seen since (and our clock then), replayed in
    /// order once it can be read.
    unread: HashMap<RolloutKey, VecDeque<(Release, i64)>>,
    unread_len: usize,
    /// Since when, and why, the database fails; `None` while it works.
    outage: Option<Outage>,
    /// Gaps to write with the next batches.
    gaps: Vec<Gap>,
}

struct Outage {
    since: i64,
    error: String,
    /// Changes dropped since it began.
    lost: u64,
    reported: Option<tokio::time::Instant>,
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

    fn new(captures: Option<Captures>) -> Recording {
        Recording {
            captures,
            templates: None,
            kept: HashMap::new(),
            pending: Vec::new(),
            dropped: 0,
            unread: HashMap::new(),
            unread_len: 0,
            outage: None,
            gaps: Vec::new(),
        }
    }

    /// What was last remembered of `key`: its newest pending batch, else
    /// what the database has; `Err` when the database cannot say.
    async fn remembered(&mut self, store: &Store, key: &RolloutKey) -> Result<Option<Tracked>, ()> {
        if let Some(b) = self.pending.iter().rev().find(|b| &b.key == key) {
            return Ok(Some(b.tracked.clone()));
        }
        let asked = now_ms();
        match store.tracked_of(key).await {
            Ok(t) => Ok(t),
            Err(e) => {
                self.failing(&e.to_string(), asked);
                Err(())
            }
        }
    }

    /// The database failed a call made at `asked` (ms): the outage begins
    /// then (a call can take its whole deadline to fail; one log line), or
    /// goes on.
    fn failing(&mut self, error: &str, asked: i64) {
        match &mut self.outage {
            Some(o) => o.error = error.to_string(),
            None => {
                tracing::warn!(error = %error, "the history database fails; keeping what happens in memory to write when it returns");
                self.outage = Some(Outage {
                    since: asked,
                    error: error.to_string(),
                    lost: 0,
                    reported: None,
                });
            }
        }
    }

    /// `key`'s changes from `from` to `to` could not be kept.
    fn lost(&mut self, key: &RolloutKey, from: i64, to: i64, why: &str) {
        self.dropped += 1;
        if let Some(o) = &mut self.outage {
            o.lost += 1;
        }
        if self.dropped.is_power_of_two() {
            tracing::error!(
                dropped = self.dropped,
                "the history database has not been written for a long time; the oldest changes are dropped"
            );
        }
        // One gap per rollout while they follow each other.
        if let Some(g) = self
            .gaps
            .iter_mut()
            .rev()
            .find(|g| g.key.as_ref() == Some(key))
        {
            g.from = g.from.min(from);
            g.to = g.to.max(to);
            return;
        }
        if self.gaps.len() >= GAPS_MAX {
            // Bounded: the database-wide gap still says the time was lost.
            return;
        }
        self.gaps.push(Gap {
            key: Some(key.clone()),
            from,
            to,
            lost: true,
            reason: why.to_string(),
        });
    }

    /// Keeps one state of `key` seen while what was remembered of it
    /// cannot be read.
    fn keep_unread(&mut self, key: &RolloutKey, release: Release, seen_at: i64) {
        if self.unread_len >= UNREAD_MAX && !self.unread.contains_key(key) {
            // Nothing of this rollout is kept: its time is lost.
            self.lost(
                key,
                seen_at,
                seen_at,
                "the history database was unavailable for too long to keep every change",
            );
            return;
        }
        let queue = self.unread.entry(key.clone()).or_default();
        if queue
            .back()
            .is_some_and(|(r, _)| release_fingerprint(r) == release_fingerprint(&release))
        {
            return;
        }
        queue.push_back((release, seen_at));
        self.unread_len += 1;
        if (queue.len() > UNREAD_PER_ROLLOUT || self.unread_len > UNREAD_MAX)
            && let Some((_, from)) = queue.pop_front()
        {
            self.unread_len -= 1;
            let to = queue.front().map_or(seen_at, |(_, t)| *t);
            self.lost(
                key,
                from,
                to,
                "the history database was unavailable for too long to keep every change",
            );
        }
    }

    /// What the banner, `/readyz` and `/metrics` say of the database.
    fn trouble(&self) -> Option<HistoryTrouble> {
        let o = self.outage.as_ref()?;
        Some(HistoryTrouble {
            since: jiff::Timestamp::from_millisecond(o.since)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
            error: o.error.clone(),
            kept: self.pending.len() + self.unread_len,
            lost: o.lost,
        })
    }

    /// Tells the live view how the database does: at once when an outage
    /// begins or ends, and every `REPORT_EVERY` while it lasts.
    fn report(&mut self, view: &LiveView) {
        let now = tokio::time::Instant::now();
        let trouble = self.trouble();
        match &mut self.outage {
            None => view.report_history(None),
            Some(o) => {
                if o.reported
                    .is_none_or(|t| now.duration_since(t) >= REPORT_EVERY)
                {
                    o.reported = Some(now);
                    view.report_history(trouble);
                }
            }
        }
    }

    /// The database answered: an outage ends, recorded as a gap (lost or
    /// not) once nothing it kept is left to write.
    fn recovered(&mut self) {
        if !self.pending.is_empty() || !self.unread.is_empty() {
            return;
        }
        if let Some(o) = self.outage.take() {
            let to = now_ms();
            tracing::info!(
                seconds = (to - o.since) / 1000,
                lost = o.lost,
                "the history database works again; what was kept is written"
            );
            self.gaps.push(Gap {
                key: None,
                from: o.since,
                to,
                lost: o.lost > 0,
                reason: format!("the database was unavailable: {}", o.error),
            });
        }
    }
}

async fn lead(
    store: &Store,
    view: &LiveView,
    leading: &mut watch::Receiver<bool>,
    settings: &Settings,
    shutdown: &CancellationToken,
) {
    let retention = settings.retention;
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
    let mut rec = Recording::new(settings.captures.clone());
    rec.templates = settings.templates.clone();
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
                // While it fails, a quick question first: a write to a
                // database that is down would hold the recorder for its
                // whole timeout.
                let reachable = match &rec.outage {
                    None => true,
                    Some(_) => match store.ping().await {
                        Ok(()) => true,
                        Err(e) => {
                            rec.failing(&e.to_string(), now_ms());
                            false
                        }
                    },
                };
                if reachable && !rec.unread.is_empty() {
                    look_again(store, &mut rec).await;
                }
                look_when_time_decides(store, &mut rec, &view.snapshot()).await;
                let wrote = reachable && write(store, &mut rec).await;
                rec.report(view);
                if wrote && rec.outage.is_none() {
                    backoff.reset();
                } else {
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

/// Looks again at the rollouts whose last change only time can decide (a
/// timed pause that ended early: a promote, or the cluster's clock ahead),
/// so the decision does not wait for their next change.
async fn look_when_time_decides(store: &Store, rec: &mut Recording, snapshot: &Snapshot) {
    let waiting: Vec<RolloutKey> = rec
        .kept
        .iter()
        .filter(|(_, k)| matches!(k, Kept::Whole(t) if t.waits_on_time()))
        .map(|(key, _)| key.clone())
        .collect();
    for key in waiting {
        look(store, rec, &key, snapshot.rollouts.get(&key).map(|e| &**e)).await;
    }
}

/// Replays, in order and at the times they were seen, the states of the
/// rollouts whose remembered state could not be read; the first still
/// unreadable keeps the rest waiting.
async fn look_again(store: &Store, rec: &mut Recording) {
    let keys: Vec<RolloutKey> = rec.unread.keys().cloned().collect();
    for key in keys {
        let Ok(mut before) = rec.remembered(store, &key).await else {
            return;
        };
        let Some(queue) = rec.unread.remove(&key) else {
            continue;
        };
        rec.unread_len -= queue.len();
        rec.kept.remove(&key);
        let mut last = None;
        for (release, seen_at) in queue {
            let seen = release_fingerprint(&release);
            let (next, facts) = observe(before.as_ref(), &release, seen_at);
            if !facts.is_empty() || before.as_ref() != Some(&next) {
                queue_batch(rec, &key, next.clone(), facts, seen_at);
            }
            before = Some(next);
            last = Some(seen);
        }
        if let Some(t) = before {
            rec.keep(key, t, last);
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
    let info_json = match entry.json.full() {
        Ok(json) => json,
        Err(e) => {
            tracing::error!(rollout = %key, error = %e, "cannot read a rollout's info for its history");
            return;
        }
    };
    let release = match Release::of_json(&info_json, entry.observed.as_deref(), &entry.events) {
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
    let seen_at = now_ms();
    if rec.unread.contains_key(key) {
        // Earlier states wait to be replayed: this one after them.
        rec.keep_unread(key, release, seen_at);
        return;
    }
    let before: Option<Tracked> = match rec.kept.remove(key) {
        None => None,
        Some(Kept::Whole(t)) => Some(*t),
        // It moved while the database fails: replayed once it works.
        Some(kept) if rec.outage.is_some() => {
            rec.kept.insert(key.clone(), kept);
            rec.keep_unread(key, release, seen_at);
            return;
        }
        // It moved: read back all that was remembered.
        Some(kept) => match rec.remembered(store, key).await {
            Ok(t) => t,
            Err(()) => {
                // Not afresh (that would lose its open step): kept, and
                // replayed from what was remembered once it can be read.
                rec.kept.insert(key.clone(), kept);
                rec.keep_unread(key, release, seen_at);
                return;
            }
        },
    };
    let (next, facts) = observe(before.as_ref(), &release, seen_at);
    if facts.is_empty() && before.as_ref() == Some(&next) {
        rec.keep(key.clone(), next, Some(seen));
        return;
    }
    if let Some(captures) = &rec.captures
        && let Some(c) = capture_for(key, &release.uid, &info_json, &facts)
    {
        captures.ask(c);
    }
    if let (Some(templates), Some(before)) = (&rec.templates, &before) {
        for r in reads_for(key, &release.uid, &info_json, &facts, before.revision) {
            templates.ask(r);
        }
    }
    queue_batch(rec, key, next.clone(), facts, seen_at);
    rec.keep(key.clone(), next, Some(seen));
}

/// Queues `key`'s facts to write; past `MAX_PENDING` the oldest batch goes
/// and its rollout's history records a gap.
fn queue_batch(
    rec: &mut Recording,
    key: &RolloutKey,
    tracked: Tracked,
    facts: Vec<Fact>,
    seen_at: i64,
) {
    if rec.pending.len() >= MAX_PENDING {
        let gone = rec.pending.remove(0);
        let to = rec
            .pending
            .iter()
            .find(|b| b.key == gone.key)
            .map_or(seen_at, |b| b.seen_at);
        rec.lost(
            &gone.key,
            gone.seen_at,
            to,
            "the history database was unavailable for too long to keep every change",
        );
    }
    rec.pending.push(Batch {
        key: key.clone(),
        tracked,
        facts,
        seen_at,
    });
}

/// Writes what is pending, then the gaps; keeps them when the database
/// fails.
async fn write(store: &Store, rec: &mut Recording) -> bool {
    let asked = now_ms();
    if !rec.pending.is_empty() {
        if let Err(e) = store.write(&rec.pending).await {
            tracing::debug!(error = %e, pending = rec.pending.len(), "cannot write the release history; keeping it to try again");
            rec.failing(&e.to_string(), asked);
            return false;
        }
        rec.pending.clear();
    }
    rec.recovered();
    if !rec.gaps.is_empty() {
        let asked = now_ms();
        if let Err(e) = store.record_gaps(&rec.gaps).await {
            rec.failing(&e.to_string(), asked);
            return false;
        }
        rec.gaps.clear();
    }
    true
}

#[cfg(test)]
mod tests {
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
    async fn changes_while_the_database_cannot_be_read_are_replayed_in_order_when_it_can() {
        let store = Store::open("sqlite::memory:").await.expect("opens");
        let mut rec = Recording::new(None);
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

        // It moves on twice while what was remembered cannot be read.
        store
            .run_for_test("ALTER TABLE history_rollouts RENAME TO unreadable")
            .await;
        look(&store, &mut rec, &key, Some(&at_step(1))).await;
        assert!(rec.outage.is_some(), "the outage is noticed");
        look(&store, &mut rec, &key, Some(&at_step(2))).await;
        look(&store, &mut rec, &key, Some(&at_step(2))).await;
        assert!(rec.pending.is_empty(), "not looked at afresh");
        assert_eq!(rec.unread_len, 2, "each state seen once, kept in order");
        let trouble = rec.trouble().expect("the banner's word");
        assert_eq!((trouble.kept, trouble.lost), (2, 0));

        // Still unreadable: they wait on.
        look_again(&store, &mut rec).await;
        assert!(rec.pending.is_empty() && rec.unread.contains_key(&key));

        // Readable again: both steps follow the one remembered (read back
        // from the database), not a new first look, and the outage ends
        // as a gap in which nothing was lost.
        store
            .run_for_test("ALTER TABLE unreadable RENAME TO history_rollouts")
            .await;
        look_again(&store, &mut rec).await;
        assert!(rec.unread.is_empty());
        assert_eq!(entered(&rec.pending), [1, 2]);
        let facts = || rec.pending.iter().flat_map(|b| &b.facts);
        assert!(
            !facts().any(|f| matches!(f, Fact::Revision { .. })),
            "{:?}",
            rec.pending
        );
        assert!(facts().any(|f| matches!(f, Fact::StepLeft { index: 0, .. })));
        assert!(write(&store, &mut rec).await);
        assert!(rec.outage.is_none() && rec.trouble().is_none());
        let gaps = store.gaps(0, Some(&key)).await.expect("read");
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0].key.is_none() && !gaps[0].lost);
    }

    #[tokio::test]
    async fn past_what_can_be_kept_the_oldest_go_and_the_rollout_records_a_gap() {
        let store = Store::open("sqlite::memory:").await.expect("opens");
        let mut rec = Recording::new(None);
        let key = RolloutKey::new("shop", "web");
        look(&store, &mut rec, &key, Some(&at_step(0))).await;
        assert!(write(&store, &mut rec).await);
        store
            .run_for_test("ALTER TABLE history_rollouts RENAME TO unreadable")
            .await;
        // States that differ (the step goes back and forth), more than are kept.
        for i in 0..(UNREAD_PER_ROLLOUT + 3) {
            look(&store, &mut rec, &key, Some(&at_step(1 + (i % 2) as i32))).await;
        }
        assert_eq!(rec.unread_len, UNREAD_PER_ROLLOUT, "bounded");
        let trouble = rec.trouble().expect("failing");
        assert_eq!(trouble.lost, 3);
        store
            .run_for_test("ALTER TABLE unreadable RENAME TO history_rollouts")
            .await;
        look_again(&store, &mut rec).await;
        assert!(write(&store, &mut rec).await);
        let gaps = store.gaps(0, Some(&key)).await.expect("read");
        assert!(
            gaps.iter().any(|g| g.key.as_ref() == Some(&key) && g.lost),
            "the rollout's lost time: {gaps:?}"
        );
        assert!(
            gaps.iter().any(|g| g.key.is_none() && g.lost),
            "the outage, with something lost: {gaps:?}"
        );
    }
}
