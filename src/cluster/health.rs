//! How fresh the view is: for every watch (kind, namespace), whether its
//! data is in and live, and if not, the API's answer and since when. Pages
//! show this as a banner so stale data is never presented as live.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use super::index::Malformed;
use super::object::Kind;

/// Where one watch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum WatchState {
    /// Listing for the first time.
    Starting,
    /// Listed and watching: the data is live.
    Live,
    /// The API refuses or cannot be reached; the data (if any) is from
    /// `lastSuccess`.
    Failing,
    /// The API does not serve this kind (CRD not installed).
    NotInstalled,
}

/// Why a watch fails, in the words a person needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Problem {
    Forbidden,
    NotInstalled,
    Unreachable,
    /// The API answered with an error (5xx, 429, a bad response).
    ApiError,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchHealth {
    pub kind: Kind,
    /// `None` for a cluster-wide watch.
    pub namespace: Option<String>,
    pub state: WatchState,
    pub problem: Option<Problem>,
    pub error: Option<String>,
    /// When `state` began.
    pub since: Timestamp,
    /// Last time the watch delivered data.
    pub last_success: Option<Timestamp>,
    /// The initial list is in (stays true across later failures).
    pub synced: bool,
}

/// Which namespaces are shown, once known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum ScopeState {
    /// Checking whether cluster-wide listing is allowed; `error` is why the
    /// check has not been answered yet.
    Resolving {
        error: Option<String>,
    },
    All,
    Namespaces {
        namespaces: Vec<String>,
        /// Set when the dashboard fell back to fewer namespaces than asked,
        /// with the reason shown to people.
        notice: Option<String>,
    },
}

impl Default for ScopeState {
    fn default() -> Self {
        ScopeState::Resolving { error: None }
    }
}

impl ScopeState {
    /// Whether `namespace` is shown (true while resolving: the answer is
    /// then "not yet", which readiness covers).
    pub fn includes(&self, namespace: &str) -> bool {
        match self {
            ScopeState::Resolving { .. } | ScopeState::All => true,
            ScopeState::Namespaces { namespaces, .. } => namespaces.iter().any(|n| n == namespace),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub scope: ScopeState,
    pub watches: Vec<WatchHealth>,
    /// Objects that could not be read (shown, never silently dropped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub malformed: Vec<MalformedObject>,
    /// The release history's database, while it cannot be written or read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryTrouble>,
}

/// The release history's database fails: since when, the last error, what
/// is kept in memory to write when it returns, and what could not be kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryTrouble {
    pub since: Timestamp,
    pub error: String,
    /// Changes kept in memory, waiting to be written.
    pub kept: usize,
    /// Changes dropped since the outage began (shown as a gap).
    pub lost: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MalformedObject {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub error: String,
}

impl From<Malformed> for MalformedObject {
    fn from(m: Malformed) -> Self {
        MalformedObject {
            kind: m.kind,
            namespace: m.key.namespace,
            name: m.key.name,
            error: m.error,
        }
    }
}

/// The kinds without which a rollout cannot be shown at all.
const ESSENTIAL: [Kind; 3] = [Kind::Rollout, Kind::ReplicaSet, Kind::Pod];

impl Health {
    /// `/readyz`: the scope is known and the initial lists of Rollouts,
    /// ReplicaSets and Pods are in. A kind the API definitively refuses
    /// (forbidden, not installed) counts as answered: waiting would never
    /// end, and the banner says what is missing.
    pub fn ready(&self) -> bool {
        if matches!(self.scope, ScopeState::Resolving { .. }) {
            return false;
        }
        ESSENTIAL.iter().all(|kind| {
            let mut watches = self.watches.iter().filter(|w| w.kind == *kind).peekable();
            watches.peek().is_some()
                && watches.all(|w| {
                    w.synced
                        || w.state == WatchState::NotInstalled
                        || w.problem == Some(Problem::Forbidden)
                })
        })
    }

    /// Every watch whose data is not live, for the banner.
    pub fn problems(&self) -> impl Iterator<Item = &WatchHealth> {
        self.watches
            .iter()
            .filter(|w| matches!(w.state, WatchState::Failing | WatchState::NotInstalled))
    }

    /// The first failing (or not installed) watch of `kind` that covers
    /// `namespace`.
    pub fn failure(&self, kind: Kind, namespace: Option<&str>) -> Option<&WatchHealth> {
        self.watches.iter().find(|w| {
            w.kind == kind
                && matches!(w.state, WatchState::Failing | WatchState::NotInstalled)
                && match (namespace, &w.namespace) {
                    (_, None) => true,
                    (Some(ns), Some(w_ns)) => ns == w_ns,
                    (None, Some(_)) => true,
                }
        })
    }

    /// Whether `kind` has been listed for `namespace` at least once.
    pub fn synced(&self, kind: Kind, namespace: Option<&str>) -> bool {
        let mut relevant = self.watches.iter().filter(|w| {
            w.kind == kind
                && match (namespace, &w.namespace) {
                    (Some(ns), Some(w_ns)) => ns == w_ns,
                    _ => true,
                }
        });
        let mut any = false;
        let all = relevant.all(|w| {
            any = true;
            w.synced
        });
        any && all
    }
}

/// Identifies one watch.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatchId {
    pub kind: Kind,
    pub namespace: Option<String>,
}

/// The hub's record of every watch, turned into [`Health`] when it changes.
#[derive(Default)]
pub struct HealthTracker {
    watches: BTreeMap<WatchId, WatchHealth>,
    pub scope: ScopeState,
    pub history: Option<HistoryTrouble>,
}

impl HealthTracker {
    fn entry(&mut self, id: &WatchId, now: Timestamp) -> &mut WatchHealth {
        self.watches
            .entry(id.clone())
            .or_insert_with(|| WatchHealth {
                kind: id.kind,
                namespace: id.namespace.clone(),
                state: WatchState::Starting,
                problem: None,
                error: None,
                since: now,
                last_success: None,
                synced: false,
            })
    }

    /// A watch was started. Returns whether anything changed.
    pub fn started(&mut self, id: &WatchId, now: Timestamp) -> bool {
        let before = self.watches.len();
        let w = self.entry(id, now);
        if w.state == WatchState::NotInstalled {
            // Discovery found it after all.
            w.state = WatchState::Starting;
            w.problem = None;
            w.error = None;
            w.since = now;
            return true;
        }
        self.watches.len() != before
    }

    /// The watch delivered data; `listed` when its (re)list completed.
    pub fn succeeded(&mut self, id: &WatchId, listed: bool, now: Timestamp) -> bool {
        let w = self.entry(id, now);
        let before = (w.state, w.synced, w.error.is_some());
        w.last_success = Some(now);
        w.synced |= listed;
        let state = if w.synced {
            WatchState::Live
        } else {
            WatchState::Starting
        };
        if w.state != state {
            w.state = state;
            w.since = now;
        }
        w.problem = None;
        w.error = None;
        (w.state, w.synced, w.error.is_some()) != before
    }

    pub fn failed(
        &mut self,
        id: &WatchId,
        problem: Problem,
        error: String,
        now: Timestamp,
    ) -> bool {
        let w = self.entry(id, now);
        let state = if problem == Problem::NotInstalled {
            WatchState::NotInstalled
        } else {
            WatchState::Failing
        };
        let changed = w.state != state || w.error.as_deref() != Some(error.as_str());
        if w.state != state {
            w.since = now;
        }
        w.state = state;
        w.problem = Some(problem);
        w.error = Some(error);
        changed
    }

    pub fn health(&self, malformed: Vec<Malformed>) -> Health {
        Health {
            scope: self.scope.clone(),
            watches: self.watches.values().cloned().collect(),
            malformed: malformed.into_iter().map(MalformedObject::from).collect(),
            history: self.history.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: Kind) -> WatchId {
        WatchId {
            kind,
            namespace: None,
        }
    }

    #[test]
    fn ready_only_once_rollouts_replicasets_and_pods_are_listed() {
        let now = Timestamp::UNIX_EPOCH;
        let mut t = HealthTracker::default();
        assert!(!t.health(vec![]).ready(), "scope not resolved yet");
        t.scope = ScopeState::All;
        for k in ESSENTIAL {
            t.started(&id(k), now);
        }
        t.succeeded(&id(Kind::Rollout), true, now);
        t.succeeded(&id(Kind::ReplicaSet), true, now);
        t.succeeded(&id(Kind::Pod), false, now);
        assert!(!t.health(vec![]).ready(), "pods are still listing");
        t.failed(&id(Kind::Pod), Problem::Forbidden, "forbidden".into(), now);
        let h = t.health(vec![]);
        assert!(h.ready(), "a definitive refusal is an answer");
        assert_eq!(h.problems().count(), 1);
        assert_eq!(h.problems().next().map(|w| w.kind), Some(Kind::Pod));
    }

    #[test]
    fn a_failure_keeps_its_start_time_and_recovery_clears_it() {
        let t0 = Timestamp::UNIX_EPOCH;
        let t1 = t0 + jiff::SignedDuration::from_secs(5);
        let mut t = HealthTracker::default();
        t.succeeded(&id(Kind::Rollout), true, t0);
        assert!(t.failed(
            &id(Kind::Rollout),
            Problem::Unreachable,
            "refused".into(),
            t0
        ));
        assert!(!t.failed(
            &id(Kind::Rollout),
            Problem::Unreachable,
            "refused".into(),
            t1
        ));
        let h = t.health(vec![]);
        assert_eq!(h.watches[0].since, t0);
        assert!(h.failure(Kind::Rollout, Some("any")).is_some());
        assert!(
            h.synced(Kind::Rollout, Some("any")),
            "old data is still there"
        );
        assert!(t.succeeded(&id(Kind::Rollout), false, t1));
        let h = t.health(vec![]);
        assert_eq!(h.watches[0].state, WatchState::Live);
        assert_eq!(h.watches[0].error, None);
    }
}
