//! The hub's side of observed traffic: the latest answer from Prometheus
//! (sent by `observed/`), each rollout's revisions and pods as last built,
//! and the observed view of one rollout made from both. Rebuilding a
//! rollout's info is not needed for a new answer: only this.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use crate::info::compare::{compare, judge_comparison};
use crate::info::comparison::ComparisonSettings;
use crate::info::observed::{
    ObservedTraffic, PodHistory, PodSamples, RevisionPods, SharePoint, add_share_point,
    canary_share, judge, observe, share_history,
};
use crate::info::usage::{PodUsages, usage_of};
use crate::model::RolloutKey;

/// One refresh of request metrics, as `observed/` sends it to the hub.
#[derive(Debug)]
pub struct Observation {
    pub at: Timestamp,
    /// Per-pod traffic, or why there is none (unreachable, refused).
    pub samples: Result<Arc<PodSamples>, String>,
    /// Per-pod CPU, memory and restarts, from the same refresh.
    pub usage: Option<Arc<PodUsages>>,
    /// Per-pod rates of the last 30 minutes, after a (re)start, for the
    /// canary's sparkline.
    pub history: Option<Arc<PodHistory>>,
}

/// Where observations come from, as the page names it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedSource {
    pub url: String,
    pub window_seconds: u64,
    /// How the canary is judged against stable.
    pub comparison: ComparisonSettings,
}

/// What a rollout's observed view is made against.
struct Target {
    revisions: Arc<[RevisionPods]>,
    /// The canary's weight as the router has it, and since when.
    configured: Option<i32>,
    configured_since: Timestamp,
}

/// Shown until Prometheus first answers.
pub const WAITING: &str = "waiting for the first answer from Prometheus";

pub(super) struct Observing {
    source: ObservedSource,
    latest: Option<Observation>,
    /// When Prometheus last answered.
    answered_at: Option<Timestamp>,
    /// History not yet merged into every rollout's sparkline.
    history: Option<Arc<PodHistory>>,
    /// Each rollout's revisions and their pods, as last built.
    targets: HashMap<RolloutKey, Target>,
    /// A new observation arrived: every rollout's view is to be remade.
    pub(super) dirty: bool,
}

impl Observing {
    pub(super) fn new(source: ObservedSource) -> Observing {
        Observing {
            source,
            latest: None,
            answered_at: None,
            history: None,
            targets: HashMap::new(),
            dirty: false,
        }
    }

    pub(super) fn take(&mut self, observation: Observation) {
        if observation.samples.is_ok() {
            self.answered_at = Some(observation.at);
        }
        if observation.history.is_some() {
            self.history = observation.history.clone();
        }
        self.latest = Some(observation);
        self.dirty = true;
    }

    /// Keeps `key`'s revisions and the canary's configured weight (or
    /// forgets them when it is gone); `now` dates a change of weight.
    pub(super) fn set_targets(
        &mut self,
        key: &RolloutKey,
        targets: Option<(Vec<RevisionPods>, Option<i32>)>,
        now: Timestamp,
    ) {
        let Some((revisions, configured)) = targets else {
            self.targets.remove(key);
            return;
        };
        match self.targets.get_mut(key) {
            Some(t) => {
                if *t.revisions != *revisions {
                    t.revisions = revisions.into();
                }
                if t.configured != configured {
                    t.configured = configured;
                    t.configured_since = now;
                }
            }
            None => {
                self.targets.insert(
                    key.clone(),
                    Target {
                        revisions: revisions.into(),
                        configured,
                        configured_since: now,
                    },
                );
            }
        }
    }

    /// Every rollout that has revisions to observe.
    pub(super) fn keys(&self) -> impl Iterator<Item = &RolloutKey> {
        self.targets.keys()
    }

    /// The history was merged everywhere it could be.
    pub(super) fn history_merged(&mut self) {
        self.history = None;
        self.dirty = false;
    }

    /// `key`'s observed traffic now, its sparkline continued from `before`.
    pub(super) fn view(
        &self,
        key: &RolloutKey,
        before: Option<&ObservedTraffic>,
    ) -> ObservedTraffic {
        let mut history: Vec<SharePoint> = before
            .map(|b| b.canary_share_history.clone())
            .unwrap_or_default();
        let target = self.targets.get(key);
        let targets: &[RevisionPods] = target.map_or(&[], |t| &t.revisions);
        if let Some(h) = &self.history {
            for point in share_history(&key.namespace, targets, h) {
                add_share_point(&mut history, point);
            }
        }
        let mut view = ObservedTraffic {
            source: self.source.url.clone(),
            window_seconds: self.source.window_seconds,
            updated_at: self.answered_at.map(|t| t.to_string()),
            configured_canary_weight: target.and_then(|t| t.configured),
            ..ObservedTraffic::default()
        };
        let window = jiff::SignedDuration::from_secs(
            i64::try_from(self.source.window_seconds).unwrap_or(i64::MAX),
        );
        match self.latest.as_ref().map(|o| (o.at, &o.samples)) {
            None => view.error = Some(WAITING.to_string()),
            Some((_, Err(e))) => view.error = Some(e.clone()),
            Some((at, Ok(samples))) => match observe(&key.namespace, targets, samples) {
                Ok(revisions) => {
                    if let Some(share) = canary_share(&revisions) {
                        add_share_point(
                            &mut history,
                            SharePoint {
                                at: at.as_second(),
                                share,
                            },
                        );
                    }
                    view.revisions = revisions;
                    if let Some(usage) = self.latest.as_ref().and_then(|o| o.usage.as_deref()) {
                        attach_usage(&key.namespace, &mut view, targets, usage);
                    }
                }
                Err(e) => view.error = Some(e.to_string()),
            },
        }
        view.canary_share_history = history;
        let settled = match (target, self.latest.as_ref()) {
            (Some(t), Some(latest)) => latest.at.duration_since(t.configured_since) >= window,
            _ => false,
        };
        judge(&mut view, settled);
        let comparison = compare(&view, &self.source.comparison);
        judge_comparison(&mut view, comparison);
        // What the comparison was computed from is not kept: 20 numbers
        // per revision of every rollout.
        for r in &mut view.revisions {
            r.buckets = Vec::new();
            r.usage = Vec::new();
        }
        view
    }
}

/// Each observed revision's pods' usage, found through the revision's pods.
fn attach_usage(
    namespace: &str,
    view: &mut ObservedTraffic,
    targets: &[RevisionPods],
    usage: &PodUsages,
) {
    for row in &mut view.revisions {
        if let Some(t) = targets
            .iter()
            .find(|t| t.revision == row.revision && t.pod_template_hash == row.pod_template_hash)
        {
            row.usage = usage_of(namespace, &t.pods, usage);
        }
    }
}
