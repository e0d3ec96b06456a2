//! The hub: watch events go into the index and mark rollouts dirty; at most
//! once per 20 ms window (at once after a quiet spell) every dirty rollout is
//! rebuilt once, an unchanged result is dropped, and a changed one is stored
//! in the snapshot with a sequence number and broadcast once. Pages and the JSON API
//! read the snapshot; streams follow the broadcast.
//!
//! Readers never wait for a rebuild: the next snapshot's map is made from
//! the current one (a persistent map: a copy costs nothing, a change only
//! its path) while readers go on reading, and swapped in at the end.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::info::invalid_rollout_info;
use crate::info::observed::{canary_percent, configured_canary_weight, revision_pods};
use crate::model::{ObjectKey, RolloutKey};

pub use super::entry::{InfoJson, RolloutEntry, Summary};
use super::health::{Health, HealthTracker, HistoryTrouble, ScopeState, WatchId};
use super::index::{Built, Index, Malformed, Wants};
use super::observing::Observing;
pub use super::observing::{Observation, ObservedSource};
use super::stats::WatchStats;
pub use super::tallies::{Counts, STATUSES, Tallies};
use super::watch::{WatchEvent, WatchMsg};

/// The shortest time between two rebuilds: a burst of changes is gathered
/// into one rebuild per rollout per window.
const COALESCE: Duration = Duration::from_millis(20);
/// Changes a slow subscriber may fall behind before it must resync.
pub const BROADCAST_CAPACITY: usize = 4096;

/// Everything shown, as of change `seq`. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub seq: u64,
    pub rollouts: imbl::OrdMap<RolloutKey, Arc<RolloutEntry>>,
    /// Counts of `rollouts`, kept with them.
    pub tallies: Tallies,
    pub health: Arc<Health>,
}

#[derive(Debug)]
pub enum Change {
    /// `entry` is `None` when the rollout is gone, `previous` (what it was
    /// filtered and counted by) when it is new, so a page can tell what
    /// left or entered its filter. Not the previous entry: the channel
    /// keeps its last changes, and would keep old entries alive with them.
    Rollout {
        seq: u64,
        key: RolloutKey,
        entry: Option<Arc<RolloutEntry>>,
        previous: Option<Summary>,
    },
    Health {
        seq: u64,
        health: Arc<Health>,
    },
}

impl Change {
    pub fn seq(&self) -> u64 {
        match self {
            Change::Rollout { seq, .. } | Change::Health { seq, .. } => *seq,
        }
    }
}

/// A handle on the live view: read the snapshot, follow the changes.
#[derive(Clone)]
pub struct LiveView {
    snapshot: Arc<RwLock<Snapshot>>,
    changes: broadcast::Sender<Arc<Change>>,
    stats: Arc<WatchStats>,
    /// The history recorder's word on its database, shown with the health.
    history: Arc<watch::Sender<Option<HistoryTrouble>>>,
}

impl LiveView {
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Subscribe first, then read the snapshot, and skip changes whose
    /// `seq` the snapshot already holds: nothing is lost in between.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// What the watches delivered, per kind.
    pub fn stats(&self) -> &WatchStats {
        &self.stats
    }

    /// The history's database fails (`Some`) or works again (`None`): the
    /// banner, `/readyz` and `/metrics` say so.
    pub fn report_history(&self, trouble: Option<HistoryTrouble>) {
        self.history.send_if_modified(|now| {
            let changed = *now != trouble;
            *now = trouble;
            changed
        });
    }
}

pub struct Hub {
    index: Index,
    health: HealthTracker,
    health_dirty: bool,
    malformed: Vec<Malformed>,
    dirty: BTreeSet<RolloutKey>,
    /// Keys seen since each watch's (re)list began.
    relists: HashMap<WatchId, HashSet<ObjectKey>>,
    seq: u64,
    view: LiveView,
    /// Optional kinds some rollout needs watched.
    wants: watch::Sender<Wants>,
    /// Observed traffic, when a Prometheus is configured.
    observing: Option<Observing>,
    /// Called as each rollout is rebuilt (tests hold a rebuild mid-way).
    #[cfg(test)]
    on_rebuild: Option<Box<dyn Fn() + Send>>,
}

impl Hub {
    /// `wants` names the optional kinds once some rollout needs them;
    /// `capacity` is how many changes a subscriber may fall behind.
    pub fn new(wants: watch::Sender<Wants>, capacity: usize) -> (Hub, LiveView) {
        let (changes, _) = broadcast::channel(capacity.max(1));
        let view = LiveView {
            snapshot: Arc::default(),
            changes,
            stats: Arc::default(),
            history: Arc::new(watch::channel(None).0),
        };
        let hub = Hub {
            index: Index::default(),
            health: HealthTracker::default(),
            health_dirty: true,
            malformed: Vec::new(),
            dirty: BTreeSet::new(),
            relists: HashMap::new(),
            seq: 0,
            view: view.clone(),
            wants,
            observing: None,
            #[cfg(test)]
            on_rebuild: None,
        };
        (hub, view)
    }

    /// Shows each rollout's observed traffic from `source`, whose answers
    /// come to `run` as observations.
    pub fn observe_from(&mut self, source: ObservedSource) {
        self.observing = Some(Observing::new(source));
    }

    /// Runs until `shutdown` or until every watcher and the scope resolver
    /// have gone.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<WatchMsg>,
        mut scope: watch::Receiver<ScopeState>,
        mut observations: Option<mpsc::Receiver<Observation>>,
        shutdown: CancellationToken,
    ) {
        let mut deadline: Option<Instant> = None;
        // At most one flush per window: a change after a quiet spell goes
        // out at once, a burst is gathered until the window has passed.
        let mut last_flush = Instant::now()
            .checked_sub(COALESCE)
            .unwrap_or_else(Instant::now);
        let mut scope_open = true;
        let mut history = self.view.history.subscribe();
        loop {
            let flush_at = deadline;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = async { tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)).await },
                    if flush_at.is_some() => {
                    self.flush();
                    last_flush = Instant::now();
                    deadline = None;
                    continue;
                }
                changed = scope.changed(), if scope_open => {
                    if changed.is_err() {
                        scope_open = false;
                        continue;
                    }
                    self.health.scope = scope.borrow_and_update().clone();
                    self.health_dirty = true;
                }
                // The sender lives in the view the hub holds: never closed.
                Ok(()) = history.changed() => {
                    self.health.history = history.borrow_and_update().clone();
                    self.health_dirty = true;
                }
                msg = events.recv() => match msg {
                    Some(msg) => self.handle(msg, Timestamp::now()),
                    None => return,
                },
                observation = async {
                    match observations.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => match (observation, self.observing.as_mut()) {
                    (Some(o), Some(observing)) => observing.take(o),
                    _ => observations = None,
                },
            }
            let observed_dirty = self.observing.as_ref().is_some_and(|o| o.dirty);
            if deadline.is_none() && (self.health_dirty || !self.dirty.is_empty() || observed_dirty)
            {
                deadline = Some((last_flush + COALESCE).max(Instant::now()));
            }
        }
    }

    fn handle(&mut self, msg: WatchMsg, now: Timestamp) {
        let WatchMsg { id, event } = msg;
        match &event {
            WatchEvent::Started | WatchEvent::Init => {}
            WatchEvent::Failed { .. } => self.view.stats.error(id.kind),
            _ => self.view.stats.heard(&id, now),
        }
        let health_changed = match event {
            WatchEvent::Started => self.health.started(&id, now),
            WatchEvent::Watching => self.health.succeeded(&id, false, now),
            WatchEvent::Bookmark => self.health.succeeded(&id, false, now),
            WatchEvent::Init => {
                self.relists.insert(id, HashSet::new());
                false
            }
            WatchEvent::Apply(obj) => {
                self.view.stats.event(id.kind);
                if let Some(seen) = self.relists.get_mut(&id) {
                    seen.insert(obj.key());
                }
                let affected = self.index.apply(obj);
                self.dirty.extend(affected);
                let wants = self.wants.borrow().or(self.index.wants());
                if wants != *self.wants.borrow() {
                    self.wants.send_replace(wants);
                }
                self.health.succeeded(&id, false, now)
            }
            WatchEvent::Delete(obj) => {
                self.view.stats.event(id.kind);
                let affected = self.index.delete(obj.kind(), &obj.key());
                self.dirty.extend(affected);
                self.health.succeeded(&id, false, now)
            }
            WatchEvent::InitDone => {
                // A relist may have dropped objects without a Delete event.
                let seen = self.relists.remove(&id).unwrap_or_default();
                for key in self.index.unseen(id.kind, id.namespace.as_deref(), &seen) {
                    let affected = self.index.delete(id.kind, &key);
                    self.dirty.extend(affected);
                }
                self.health.succeeded(&id, true, now)
            }
            WatchEvent::Failed { problem, error } => self.health.failed(&id, problem, error, now),
        };
        self.health_dirty |= health_changed;
    }

    /// Rebuilds every dirty rollout and publishes what changed.
    fn flush(&mut self) {
        let malformed = self.index.malformed();
        if malformed != self.malformed {
            self.malformed = malformed;
            self.health_dirty = true;
        }
        // Built and rendered without holding the lock; the hub is the only
        // writer, so nothing changes the map meanwhile.
        let (mut rollouts, mut tallies) = {
            let now = self.view.snapshot.read().unwrap_or_else(|p| p.into_inner());
            (now.rollouts.clone(), now.tallies.clone())
        };
        let mut changes = Vec::new();
        let mut rebuilt = HashSet::new();
        for key in std::mem::take(&mut self.dirty) {
            let Some(built) = self.index.build(&key) else {
                if let Some(o) = self.observing.as_mut() {
                    o.set_targets(&key, None, Timestamp::now());
                }
                if let Some(previous) = rollouts.remove(&key) {
                    tallies.change(&key, Some(&previous.summary), None);
                    self.seq += 1;
                    changes.push(Change::Rollout {
                        seq: self.seq,
                        key,
                        entry: None,
                        previous: Some(previous.summary.clone()),
                    });
                }
                continue;
            };
            let (mut info, error, events) = match built {
                Built::Info { info, events } => (*info, None, events),
                Built::Invalid {
                    meta,
                    error,
                    events,
                } => (invalid_rollout_info(&meta, &error), Some(error), events),
            };
            let old = rollouts.get(&key);
            let observed = self.observing.as_mut().map(|o| {
                let targets = (revision_pods(&info), configured_canary_weight(&info));
                o.set_targets(&key, Some(targets), Timestamp::now());
                Arc::new(o.view(&key, old.and_then(|e| e.observed.as_deref())))
            });
            let summary =
                Summary::of(&info).with_observed(observed.as_ref().and_then(|o| o.attention));
            let json = match InfoJson::of(&mut info) {
                Ok(json) => json,
                Err(e) => {
                    tracing::error!(error = %e, rollout = %key, "cannot encode a rollout");
                    continue;
                }
            };
            if let Some(old) = old
                && old.json == json
                && old.error == error
                && old.events == events
                && old.observed == observed
            {
                continue;
            }
            self.seq += 1;
            #[cfg(test)]
            if let Some(hook) = &self.on_rebuild {
                hook();
            }
            let entry = Arc::new(RolloutEntry {
                seq: self.seq,
                summary,
                json,
                error,
                events,
                observed,
                card: OnceLock::new(),
            });
            rebuilt.insert(key.clone());
            let previous = rollouts
                .insert(key.clone(), entry.clone())
                .map(|p| p.summary.clone());
            tallies.change(&key, previous.as_ref(), Some(&entry.summary));
            changes.push(Change::Rollout {
                seq: self.seq,
                key,
                entry: Some(entry),
                previous,
            });
        }
        self.reobserve(&mut rollouts, &mut tallies, &rebuilt, &mut changes);
        let health = std::mem::take(&mut self.health_dirty).then(|| {
            self.seq += 1;
            let health = Arc::new(self.health.health(self.malformed.clone()));
            changes.push(Change::Health {
                seq: self.seq,
                health: health.clone(),
            });
            health
        });
        let mut snapshot = self
            .view
            .snapshot
            .write()
            .unwrap_or_else(|p| p.into_inner());
        snapshot.rollouts = rollouts;
        snapshot.tallies = tallies;
        if let Some(health) = health {
            snapshot.health = health;
        }
        snapshot.seq = self.seq;
        // Sent under the lock: a subscriber that reads the snapshot after
        // subscribing sees each change either there or on the channel.
        for change in changes {
            let _ = self.view.changes.send(Arc::new(change));
        }
    }

    /// After a new answer from Prometheus, remakes the observed view of
    /// every rollout not rebuilt just now, and publishes those that changed.
    fn reobserve(
        &mut self,
        rollouts: &mut imbl::OrdMap<RolloutKey, Arc<RolloutEntry>>,
        tallies: &mut Tallies,
        rebuilt: &HashSet<RolloutKey>,
        changes: &mut Vec<Change>,
    ) {
        let Some(observing) = self.observing.as_mut().filter(|o| o.dirty) else {
            return;
        };
        let keys: Vec<RolloutKey> = observing
            .keys()
            .filter(|k| !rebuilt.contains(*k))
            .cloned()
            .collect();
        for key in keys {
            let Some(old) = rollouts.get(&key) else {
                continue;
            };
            let observed = Arc::new(observing.view(&key, old.observed.as_deref()));
            if old.observed.as_deref() == Some(&*observed) {
                continue;
            }
            self.seq += 1;
            let summary = old.summary.clone().with_observed(observed.attention);
            // The card shows the canary's share in whole percent: while that
            // and the summary hold, the card rendered before is still right.
            let card = OnceLock::new();
            if let Some(html) = old.card.get()
                && summary == old.summary
                && old.observed.as_deref().and_then(canary_percent) == canary_percent(&observed)
            {
                let _ = card.set(html.clone());
            }
            let entry = Arc::new(RolloutEntry {
                seq: self.seq,
                summary,
                json: old.json.clone(),
                error: old.error.clone(),
                events: old.events.clone(),
                observed: Some(observed),
                card,
            });
            let previous = Some(old.summary.clone());
            tallies.change(&key, previous.as_ref(), Some(&entry.summary));
            rollouts.insert(key.clone(), entry.clone());
            changes.push(Change::Rollout {
                seq: self.seq,
                key,
                entry: Some(entry),
                previous,
            });
        }
        observing.history_merged();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};

    use serde_json::json;

    use super::*;
    use crate::cluster::object::{Kind, Object};

    /// A flag one thread raises and another waits for (with a limit).
    #[derive(Default)]
    struct Flag(Mutex<bool>, Condvar);

    impl Flag {
        fn raise(&self) {
            *self.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
            self.1.notify_all();
        }

        /// Whether it was raised within `limit`.
        fn wait(&self, limit: Duration) -> bool {
            let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let (raised, _) = self
                .1
                .wait_timeout_while(guard, limit, |up| !*up)
                .unwrap_or_else(|p| p.into_inner());
            *raised
        }
    }

    fn rollout(i: usize) -> Object {
        let ro = serde_json::from_value(json!({
            "metadata": {"name": format!("r{i:05}"), "namespace": format!("ns-{}", i % 10),
                         "uid": format!("uid-{i}"), "resourceVersion": "1"},
            "spec": {"replicas": 1, "strategy": {"canary": {"steps": [{"setWeight": 20}]}}},
        }))
        .expect("a valid rollout");
        Object::Rollout(Box::new(ro))
    }

    #[test]
    fn readers_are_answered_while_the_hub_rebuilds_a_large_relist() {
        let rendering = Arc::new(Flag::default());
        let reader_answered = Arc::new(Flag::default());
        let answered_in_time = Arc::new(Mutex::new(None::<bool>));
        let hook: Box<dyn Fn() + Send> = {
            let (rendering, reader_answered, answered_in_time) = (
                rendering.clone(),
                reader_answered.clone(),
                answered_in_time.clone(),
            );
            Box::new(move || {
                let mut first = answered_in_time.lock().unwrap_or_else(|p| p.into_inner());
                if first.is_none() {
                    // Mid-rebuild: hold it here until a reader was answered
                    // (or give up after 10 s, which fails the test).
                    rendering.raise();
                    *first = Some(reader_answered.wait(Duration::from_secs(10)));
                }
            })
        };
        let (wants, _) = watch::channel(Wants::default());
        let (mut hub, view) = Hub::new(wants, 16);
        hub.on_rebuild = Some(hook);
        let id = WatchId {
            kind: Kind::Rollout,
            namespace: None,
        };
        let now = Timestamp::now();
        hub.handle(
            WatchMsg {
                id: id.clone(),
                event: WatchEvent::Init,
            },
            now,
        );
        for i in 0..2000 {
            hub.handle(
                WatchMsg {
                    id: id.clone(),
                    event: WatchEvent::Apply(rollout(i)),
                },
                now,
            );
        }
        hub.handle(
            WatchMsg {
                id,
                event: WatchEvent::InitDone,
            },
            now,
        );
        let rebuild = std::thread::spawn(move || {
            hub.flush();
            hub
        });
        assert!(rendering.wait(Duration::from_secs(10)), "the rebuild began");
        let during = view.snapshot();
        reader_answered.raise();
        let _hub = rebuild.join().expect("the rebuild finished");
        assert_eq!(
            *answered_in_time.lock().unwrap_or_else(|p| p.into_inner()),
            Some(true),
            "a reader was answered while the rebuild was under way"
        );
        assert!(
            during.rollouts.is_empty(),
            "it saw the state before the relist"
        );
        let after = view.snapshot();
        assert_eq!(after.rollouts.len(), 2000, "then the whole relist at once");
        assert!(after.seq > during.seq);
    }

    /// A canary at 20% with one pod per revision, through the hub.
    fn canary_hub() -> (Hub, LiveView, broadcast::Receiver<Arc<Change>>) {
        let (wants, _) = watch::channel(Wants::default());
        let (mut hub, view) = Hub::new(wants, 64);
        hub.observe_from(ObservedSource {
            url: "http://prometheus:9090".into(),
            window_seconds: 60,
            comparison: Default::default(),
        });
        let changes = view.subscribe();
        let rollout: crate::model::Rollout = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop", "uid": "ro", "resourceVersion": "1"},
            "spec": {"replicas": 2, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}},
            "status": {"stableRS": "old", "currentPodHash": "new", "currentStepIndex": 1},
        }))
        .expect("a valid rollout");
        let mut objects = vec![Object::Rollout(Box::new(rollout))];
        for (hash, revision) in [("old", "1"), ("new", "2")] {
            let rs: crate::model::ReplicaSet = serde_json::from_value(json!({
                "metadata": {"name": format!("web-{hash}"), "namespace": "shop", "uid": format!("rs-{hash}"),
                    "labels": {"rollouts-pod-template-hash": hash},
                    "annotations": {"rollout.argoproj.io/revision": revision},
                    "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "web", "uid": "ro", "controller": true}]},
                "spec": {"replicas": 1}, "status": {"replicas": 1, "availableReplicas": 1, "readyReplicas": 1},
            }))
            .expect("a valid ReplicaSet");
            let pod: crate::model::Pod = serde_json::from_value(json!({
                "metadata": {"name": format!("web-{hash}-a"), "namespace": "shop", "uid": format!("pod-{hash}"),
                    "labels": {"rollouts-pod-template-hash": hash},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("web-{hash}"), "uid": format!("rs-{hash}"), "controller": true}]},
                "status": {"phase": "Running"},
            }))
            .expect("a valid pod");
            objects.push(Object::ReplicaSet(Box::new(rs)));
            objects.push(Object::Pod(Box::new(crate::info::PodRecord::of(&pod))));
        }
        let now = Timestamp::now();
        for obj in objects {
            let id = WatchId {
                kind: obj.kind(),
                namespace: None,
            };
            hub.handle(
                WatchMsg {
                    id,
                    event: WatchEvent::Apply(obj),
                },
                now,
            );
        }
        hub.flush();
        (hub, view, changes)
    }

    fn observed(view: &LiveView) -> Arc<crate::info::observed::ObservedTraffic> {
        view.snapshot()
            .rollouts
            .get(&RolloutKey::new("shop", "web"))
            .and_then(|e| e.observed.clone())
            .expect("the rollout is observed")
    }

    fn samples(canary: f64, stable: f64) -> Arc<crate::info::observed::PodSamples> {
        let pod = |rps: f64| crate::info::observed::PodTraffic {
            requests_per_second: rps,
            ..Default::default()
        };
        Arc::new(std::collections::HashMap::from([(
            "shop".to_string(),
            std::collections::HashMap::from([
                ("web-new".to_string(), pod(canary)),
                ("web-old".to_string(), pod(stable)),
                ("web-gone".to_string(), pod(1000.0)),
            ]),
        )]))
    }

    /// Prometheus answers, and the hub's next window comes.
    fn answer(
        hub: &mut Hub,
        at: Timestamp,
        samples: Result<Arc<crate::info::observed::PodSamples>, String>,
    ) {
        if let Some(o) = hub.observing.as_mut() {
            o.take(Observation {
                at,
                samples,
                usage: None,
                history: None,
            });
        }
        hub.flush();
    }

    #[test]
    fn an_answer_from_prometheus_reaches_the_rollout_as_one_change() {
        let (mut hub, view, mut changes) = canary_hub();
        assert_eq!(
            observed(&view).error.as_deref(),
            Some(super::super::observing::WAITING)
        );
        while changes.try_recv().is_ok() {}
        let at = Timestamp::now();
        let info_before = view
            .snapshot()
            .rollouts
            .get(&RolloutKey::new("shop", "web"))
            .map(|e| e.json.clone());

        answer(&mut hub, at, Ok(samples(20.0, 80.0)));
        let seen = observed(&view);
        assert_eq!(seen.error, None);
        let shares: Vec<(Option<&str>, f64)> =
            seen.revisions.iter().map(|r| (r.role, r.share)).collect();
        assert_eq!(shares, [(Some("canary"), 0.2), (Some("stable"), 0.8)]);
        assert_eq!(seen.updated_at, Some(at.to_string()));
        let Ok(change) = changes.try_recv() else {
            panic!("the new view was published");
        };
        assert!(matches!(&*change, Change::Rollout { key, .. } if key.name == "web"));
        assert!(changes.try_recv().is_err(), "once");
        assert_eq!(
            view.snapshot()
                .rollouts
                .get(&RolloutKey::new("shop", "web"))
                .map(|e| e.json.clone()),
            info_before,
            "the rollout's info itself was not rebuilt"
        );

        // The same answer again changes nothing, so nothing is sent.
        answer(&mut hub, at, Ok(samples(20.0, 80.0)));
        assert!(changes.try_recv().is_err(), "an unchanged view is not sent");

        // Prometheus fails: the panel says why and shows no numbers.
        answer(
            &mut hub,
            at,
            Err("http://prometheus:9090 is unreachable".into()),
        );
        let failed = observed(&view);
        assert_eq!(
            failed.error.as_deref(),
            Some("http://prometheus:9090 is unreachable")
        );
        assert!(failed.revisions.is_empty());
        assert_eq!(
            failed.updated_at,
            Some(at.to_string()),
            "when it last answered"
        );
    }
}
