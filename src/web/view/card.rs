//! One rollout on the overview.

use crate::actions::Action;
use crate::info::RolloutInfo;
use crate::info::observed::{ObservedTraffic, canary_percent};

use crate::web::text::{CARD_CHARS, LABEL_CHARS, clip};

use super::{card_id, clock_time, status_class, step_kind, step_label, step_position, step_state};

#[derive(Clone, Debug, PartialEq)]
pub struct CardView {
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub message: String,
    pub strategy: String,
    pub position: Option<String>,
    pub segments: Vec<Segment>,
    pub traffic: Option<TrafficBar>,
    pub ready: i32,
    pub desired: i32,
    pub stable_image: Option<String>,
    pub canary_image: Option<String>,
    pub pause: Option<PauseView>,
    pub can_promote: bool,
    pub can_abort: bool,
    pub pod_hash: String,
    pub step_index: String,
    /// The actions of a selection that apply now (path segments, by
    /// spaces): the overview's bar counts them for the ticked cards.
    pub acts: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub label: String,
    pub state: &'static str,
    pub kind: &'static str,
}

/// Stable and canary shares of traffic, as an SVG bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficBar {
    pub stable: i32,
    pub canary: i32,
    /// The controller's target, when the split has not reached it.
    pub desired: Option<i32>,
    /// A replica-based share (no traffic router): an estimate.
    pub estimate: bool,
    pub label: String,
    /// The canary's share of requests per Prometheus (%), when known.
    pub observed: Option<i32>,
}

impl TrafficBar {
    /// With the canary's observed share marked, when Prometheus has one.
    pub fn observed(mut self, observed: Option<&ObservedTraffic>) -> TrafficBar {
        if let Some(pct) = observed.and_then(canary_percent) {
            self.observed = Some(pct);
            self.label
                .push_str(&format!(", {pct}% of requests observed at the canary"));
        }
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseView {
    pub waits_for: String,
    pub since: Option<String>,
    pub since_text: Option<String>,
    /// RFC 3339: a timed pause ends then (the page counts down).
    pub until: Option<String>,
    pub until_text: Option<String>,
}

/// A rendered card without its Promote/Abort block (`<div class="actions">`,
/// which holds no other `div`), for a person RBAC does not let act.
pub fn without_actions(html: &str) -> String {
    let Some(start) = html.find("<div class=\"actions\">") else {
        return html.to_string();
    };
    match html[start..].find("</div>") {
        Some(len) => format!(
            "{}{}",
            &html[..start],
            &html[start + len + "</div>".len()..]
        ),
        None => html.to_string(),
    }
}

impl CardView {
    pub fn of(info: &RolloutInfo, observed: Option<&ObservedTraffic>) -> CardView {
        let segments = info
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| Segment {
                label: clip(&step_label(s), LABEL_CHARS).into_owned(),
                state: step_state(info, i),
                kind: step_kind(s),
            })
            .collect();
        let allowed = |a: Action| info.actions.iter().any(|s| s.action == a && s.allowed);
        let stable_image = info
            .replica_sets
            .iter()
            .find(|r| r.stable || r.active)
            .and_then(|r| r.images.first())
            .map(|i| clip(i, LABEL_CHARS).into_owned());
        let canary_image = info
            .replica_sets
            .iter()
            .find(|r| (r.canary || r.preview) && !r.stable)
            .and_then(|r| r.images.first())
            .map(|i| clip(i, LABEL_CHARS).into_owned());
        CardView {
            id: card_id(&info.object_meta.namespace, &info.object_meta.name),
            namespace: info.object_meta.namespace.clone(),
            name: info.object_meta.name.clone(),
            status: info.status.clone(),
            status_class: status_class(&info.status),
            // A tenant writes it, everyone's overview shows it: cut.
            message: if info.message == "CanaryPauseStep" {
                String::new()
            } else {
                clip(&info.message, CARD_CHARS).into_owned()
            },
            strategy: info.strategy.clone(),
            position: step_position(info),
            segments,
            traffic: traffic_bar(info).map(|b| b.observed(observed)),
            ready: info.ready,
            desired: info.desired,
            stable_image,
            canary_image,
            pause: pause_view(info),
            can_promote: allowed(Action::Promote),
            can_abort: allowed(Action::Abort),
            pod_hash: info.pod_hash.clone(),
            step_index: info.step_index.map(|i| i.to_string()).unwrap_or_default(),
            acts: super::bulk::BULK_ACTIONS
                .iter()
                .filter(|a| a.refusal(info).is_none())
                .map(|a| a.segment())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

pub fn pause_view(info: &RolloutInfo) -> Option<PauseView> {
    let p = info.pauses.first()?;
    Some(PauseView {
        waits_for: p.waits_for.clone(),
        since_text: p.since.as_deref().map(clock_time),
        since: p.since.clone(),
        until_text: p.until.as_deref().map(clock_time),
        until: p.until.clone(),
    })
}

/// Istio's split when the rollout routes with Istio; otherwise, for a
/// canary, the share of available replicas (an estimate).
pub fn traffic_bar(info: &RolloutInfo) -> Option<TrafficBar> {
    if info.strategy != "Canary" {
        return None;
    }
    if let Some(t) = &info.traffic {
        let (stable, canary) = (t.stable_weight?, t.canary_weight?);
        let desired = (!t.matches_desired).then_some(t.desired_canary_weight);
        let mut label = format!("Traffic: {stable}% stable, {canary}% canary");
        if let Some(d) = desired {
            label.push_str(&format!(", moving to {d}% canary"));
        }
        return Some(TrafficBar {
            stable,
            canary,
            desired,
            estimate: false,
            label,
            observed: None,
        });
    }
    let canary: i32 = info
        .replica_sets
        .iter()
        .filter(|r| r.canary && !r.stable)
        .map(|r| r.available)
        .sum();
    let total: i32 = info.replica_sets.iter().map(|r| r.available).sum();
    if total == 0 {
        return None;
    }
    let canary = (canary * 100 + total / 2) / total;
    Some(TrafficBar {
        stable: 100 - canary,
        canary,
        desired: None,
        estimate: true,
        observed: None,
        label: format!(
            "Estimated from replicas: {}% stable, {canary}% canary",
            100 - canary
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{ReplicaSetInfo, TrafficSplit};

    fn canary() -> RolloutInfo {
        RolloutInfo {
            strategy: "Canary".into(),
            status: "Paused".into(),
            message: "CanaryPauseStep".into(),
            ..RolloutInfo::default()
        }
    }

    #[test]
    fn the_bar_shows_istios_split_and_marks_the_target_when_it_differs() {
        let mut info = canary();
        info.traffic = Some(TrafficSplit {
            desired_canary_weight: 50,
            canary_weight: Some(20),
            stable_weight: Some(80),
            matches_desired: false,
            ..TrafficSplit::default()
        });
        let Some(bar) = traffic_bar(&info) else {
            panic!("a canary with a split has a bar");
        };
        assert_eq!((bar.stable, bar.canary, bar.desired), (80, 20, Some(50)));
        assert_eq!(
            bar.label,
            "Traffic: 80% stable, 20% canary, moving to 50% canary"
        );
        assert!(!bar.estimate);
    }

    #[test]
    fn any_routers_split_moving_to_the_desired_weight_is_marked() {
        let mut info = canary();
        info.traffic = Some(TrafficSplit {
            router: "gatewayAPI".into(),
            desired_canary_weight: 30,
            canary_weight: Some(0),
            stable_weight: Some(100),
            matches_desired: false,
            ..TrafficSplit::default()
        });
        let Some(bar) = traffic_bar(&info) else {
            panic!("a canary with a split has a bar");
        };
        assert_eq!((bar.canary, bar.desired), (0, Some(30)));
        assert_eq!(
            bar.label,
            "Traffic: 100% stable, 0% canary, moving to 30% canary"
        );
    }

    #[test]
    fn without_a_router_the_share_of_replicas_is_an_estimate() {
        let mut info = canary();
        let rs = |canary, stable, available| ReplicaSetInfo {
            canary,
            stable,
            available,
            ..ReplicaSetInfo::default()
        };
        info.replica_sets = vec![rs(true, false, 1), rs(false, true, 3)];
        let Some(bar) = traffic_bar(&info) else {
            panic!("a canary with a split has a bar");
        };
        assert_eq!((bar.stable, bar.canary, bar.estimate), (75, 25, true));
        info.strategy = "BlueGreen".into();
        assert_eq!(traffic_bar(&info), None, "blue-green has no split");
    }
}
