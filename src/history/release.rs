//! PURE: what the recorder reads from one RolloutInfo, and each step in
//! words. No I/O, no clock: the recorder compares two of these.

use serde::{Deserialize, Serialize};

use crate::info::observed::ObservedTraffic;
use crate::info::pause_duration;
use crate::info::{EventInfo, PauseInfo};
use crate::model::{CanaryStep, IntOrString};

/// One rollout's release as it stands, in the terms history keeps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Release {
    pub uid: String,
    pub revision: i64,
    pub hash: String,
    pub images: Vec<String>,
    /// When the current revision's ReplicaSet was made (cluster time, ms).
    pub created_at: Option<i64>,
    pub phase: Phase,
    /// `status.currentStepIndex`; `None` without steps.
    pub step_index: Option<i32>,
    pub steps: Vec<String>,
    /// Each step's `setWeight`, where it has one.
    pub step_weights: Vec<Option<i32>>,
    /// `spec.paused`.
    pub manual_pause: bool,
    /// The controller's pause (a pause step, an inconclusive analysis).
    pub pause: Option<Pause>,
    pub restarted_at: String,
    /// The canary's weight as the router has it (the controller's when no
    /// router object is read).
    pub weight: Option<i32>,
    /// The canary's share of requests per Prometheus, in whole percent
    /// (finer would write a change at every refresh).
    pub observed_percent: Option<f64>,
    /// Analysis runs of the current revision that have a verdict.
    pub verdicts: Vec<Verdict>,
    /// `(revision, hash)` of every ReplicaSet the rollout still has.
    pub known: Vec<(i64, String)>,
    /// The status message (an abort's reason).
    pub message: String,
    /// The stable revision when it is not the current one: an earlier
    /// release that was fully promoted.
    pub stable: Option<EarlierRevision>,
    /// The latest time the cluster has written (its newest Event, the
    /// start of a pause): its clock is at least there.
    pub cluster_now: Option<i64>,
}

/// Where the current revision is, in the words of its outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    #[default]
    Progressing,
    /// Healthy and the current revision is stable: fully promoted.
    Promoted,
    /// `RolloutAborted`; `by_controller` when an analysis or experiment
    /// failed (the abort message names why), not a person.
    Aborted { by_controller: bool },
    /// Degraded for another reason (progress deadline, invalid spec).
    Degraded,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EarlierRevision {
    pub revision: i64,
    pub hash: String,
    pub images: Vec<String>,
    pub created_at: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub reason: String,
    /// When it began and ends by itself (cluster time, ms).
    pub since: Option<i64>,
    pub until: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub run: String,
    pub status: String,
    /// The metrics that failed or erred, by name.
    pub failing: Vec<String>,
}

/// The part of a RolloutInfo's JSON the recorder reads: a rollout's
/// pods, analysis measurements and router objects are skipped, not
/// allocated (the recorder reads every change of every rollout).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Slim {
    pub object_meta: SlimMeta,
    pub status: String,
    pub message: String,
    pub actual_weight: String,
    pub restarted_at: String,
    pub replica_sets: Vec<SlimReplicaSet>,
    pub analysis_runs: Vec<SlimRun>,
    pub containers: Vec<SlimContainer>,
    pub steps: Vec<CanaryStep>,
    pub revision: i64,
    pub pod_hash: String,
    pub step_index: Option<i32>,
    pub pauses: Vec<PauseInfo>,
    pub traffic: Option<SlimTraffic>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimMeta {
    pub name: String,
    pub uid: String,
    pub creation_timestamp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimReplicaSet {
    pub object_meta: SlimMeta,
    pub revision: i64,
    pub stable: bool,
    pub images: Vec<String>,
    pub pod_template_hash: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimRun {
    pub object_meta: SlimMeta,
    pub revision: i64,
    pub status: String,
    pub jobs: Vec<SlimMetric>,
    pub non_job_info: Vec<SlimMetric>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimMetric {
    pub status: String,
    pub metric_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SlimContainer {
    pub image: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimTraffic {
    pub canary_weight: Option<i32>,
}

const ABORTED: &str = "RolloutAborted: ";

impl Release {
    /// The weight the steps have set by step `index`: its own `setWeight`,
    /// or the last one before it (a pause holds the weight it came with).
    pub fn configured_weight(&self, index: i32) -> Option<i32> {
        let through = usize::try_from(index).ok()?.checked_add(1)?;
        self.step_weights
            .iter()
            .take(through)
            .rev()
            .find_map(|w| *w)
    }

    /// From a RolloutInfo's JSON as the live view keeps it.
    pub fn of_json(
        json: &str,
        observed: Option<&ObservedTraffic>,
        events: &[EventInfo],
    ) -> Result<Release, serde_json::Error> {
        let info: Slim = serde_json::from_str(json)?;
        Ok(Release::of(&info, observed, events))
    }

    pub fn of(info: &Slim, observed: Option<&ObservedTraffic>, events: &[EventInfo]) -> Release {
        // The ReplicaSet of the current revision: the rollout's revision
        // can move before its status names the new hash.
        let current = info
            .replica_sets
            .iter()
            .find(|rs| rs.revision == info.revision && info.revision > 0)
            .or_else(|| {
                info.replica_sets
                    .iter()
                    .find(|rs| !info.pod_hash.is_empty() && rs.pod_template_hash == info.pod_hash)
                    .filter(|_| info.revision == 0)
            });
        let images = match current {
            Some(rs) if !rs.images.is_empty() => rs.images.clone(),
            _ => info.containers.iter().map(|c| c.image.clone()).collect(),
        };
        let stable = info.replica_sets.iter().find(|rs| rs.stable);
        let phase = phase(info, stable.map(|rs| rs.pod_template_hash.as_str()));
        let manual_pause = info.pauses.iter().any(|p| p.reason == "Manual");
        let pause = info
            .pauses
            .iter()
            .find(|p| p.reason != "Manual")
            .map(|p| Pause {
                reason: p.reason.clone(),
                since: p.since.as_deref().and_then(millis),
                until: p.until.as_deref().and_then(millis),
            });
        let traffic = info.traffic.as_ref();
        let weight = traffic
            .and_then(|t| t.canary_weight)
            .or_else(|| info.actual_weight.parse().ok());
        let observed_percent = observed.and_then(|o| {
            o.revisions
                .iter()
                .find(|r| r.role == Some("canary"))
                .map(|r| (r.share * 100.0).round())
        });
        let verdicts = info
            .analysis_runs
            .iter()
            .filter(|r| r.revision == info.revision && is_verdict(&r.status))
            .map(|r| Verdict {
                run: r.object_meta.name.clone(),
                status: r.status.clone(),
                failing: failing_metrics(r),
            })
            .collect();
        let cluster_now = events
            .iter()
            .filter_map(|e| millis(&e.last_seen))
            .chain(pause.as_ref().and_then(|p| p.since))
            .max();
        Release {
            stable: stable
                .filter(|rs| rs.revision != info.revision && rs.revision > 0)
                .map(|rs| EarlierRevision {
                    revision: rs.revision,
                    hash: rs.pod_template_hash.clone(),
                    images: rs.images.clone(),
                    created_at: rs
                        .object_meta
                        .creation_timestamp
                        .as_deref()
                        .and_then(millis),
                }),
            message: info.message.clone(),
            cluster_now,
            uid: info.object_meta.uid.clone(),
            revision: info.revision,
            // Empty until the revision's ReplicaSet is there.
            hash: current
                .map(|rs| rs.pod_template_hash.clone())
                .unwrap_or_default(),
            images,
            created_at: current
                .and_then(|rs| rs.object_meta.creation_timestamp.as_deref())
                .and_then(millis),
            phase,
            step_index: info.step_index,
            steps: info.steps.iter().map(step_description).collect(),
            step_weights: info.steps.iter().map(|s| s.set_weight).collect(),
            manual_pause,
            pause,
            restarted_at: info.restarted_at.clone(),
            weight,
            observed_percent,
            verdicts,
            known: info
                .replica_sets
                .iter()
                .map(|rs| (rs.revision, rs.pod_template_hash.clone()))
                .collect(),
        }
    }

    /// The step the rollout is in: an index below the number of steps.
    pub fn open_step(&self) -> Option<i32> {
        self.step_index
            .filter(|i| usize::try_from(*i).is_ok_and(|i| i < self.steps.len()))
    }
}

fn phase(info: &Slim, stable_hash: Option<&str>) -> Phase {
    match info.status.as_str() {
        "Degraded" => match info.message.strip_prefix(ABORTED) {
            // "Rollout aborted update to revision N" alone is a person's
            // abort; ": <why>" after it is the controller's (§2.3).
            Some(rest) => Phase::Aborted {
                by_controller: rest
                    .strip_prefix("Rollout aborted update to revision ")
                    .is_some_and(|r| r.contains(':')),
            },
            None => Phase::Degraded,
        },
        "Healthy" if stable_hash.is_none_or(|s| s == info.pod_hash) => Phase::Promoted,
        _ => Phase::Progressing,
    }
}

fn is_verdict(status: &str) -> bool {
    matches!(status, "Successful" | "Failed" | "Error" | "Inconclusive")
}

fn failing_metrics(run: &SlimRun) -> Vec<String> {
    let bad = |s: &str| matches!(s, "Failed" | "Error");
    let mut names: Vec<String> = run
        .non_job_info
        .iter()
        .filter(|m| bad(&m.status))
        .map(|m| m.metric_name.clone())
        .chain(
            run.jobs
                .iter()
                .filter(|j| bad(&j.status))
                .map(|j| j.metric_name.clone()),
        )
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// RFC 3339 to milliseconds since the epoch.
pub fn millis(text: &str) -> Option<i64> {
    let t: jiff::Timestamp = text.parse().ok()?;
    Some(t.as_millisecond())
}

/// A canary step as people say it: "Set weight 20%", "Pause 30s".
pub fn step_description(step: &CanaryStep) -> String {
    if let Some(w) = step.set_weight {
        return format!("Set weight {w}%");
    }
    if let Some(p) = &step.pause {
        return match &p.duration {
            None => "Pause until promoted".to_string(),
            Some(d) => match pause_duration(d) {
                Some(_) => format!(
                    "Pause {}",
                    match d {
                        IntOrString::Int(s) => format!("{s}s"),
                        IntOrString::String(s) if s.chars().all(|c| c.is_ascii_digit()) =>
                            format!("{s}s"),
                        IntOrString::String(s) => s.clone(),
                    }
                ),
                None => "Pause".to_string(),
            },
        };
    }
    if step.analysis.is_some() {
        return "Analysis".to_string();
    }
    if step.experiment.is_some() {
        return "Experiment".to_string();
    }
    if let Some(s) = &step.set_canary_scale {
        if let Some(w) = s.weight {
            return format!("Scale canary to {w}%");
        }
        if let Some(r) = s.replicas {
            return format!("Scale canary to {r} replicas");
        }
        return "Scale canary with traffic".to_string();
    }
    // setHeaderRoute, setMirrorRoute, plugin: the CLI's words.
    crate::info::step_text(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::RolloutInfo;
    use crate::model::PauseStep;

    fn release_of(info: &RolloutInfo) -> Release {
        Release::of_json(&serde_json::to_string(info).expect("JSON"), None, &[]).expect("reads")
    }

    #[test]
    fn steps_read_as_people_say_them() {
        let weight = CanaryStep {
            set_weight: Some(20),
            ..CanaryStep::default()
        };
        assert_eq!(step_description(&weight), "Set weight 20%");
        let pause = |d: Option<IntOrString>| CanaryStep {
            pause: Some(PauseStep { duration: d }),
            ..CanaryStep::default()
        };
        assert_eq!(step_description(&pause(None)), "Pause until promoted");
        assert_eq!(
            step_description(&pause(Some(IntOrString::String("30s".into())))),
            "Pause 30s"
        );
        assert_eq!(
            step_description(&pause(Some(IntOrString::Int(45)))),
            "Pause 45s"
        );
        assert_eq!(
            step_description(&pause(Some(IntOrString::String("90".into())))),
            "Pause 90s"
        );
    }

    #[test]
    fn an_abort_with_a_reason_is_the_controllers_and_without_one_a_persons() {
        let mut info = RolloutInfo {
            status: "Degraded".into(),
            message: "RolloutAborted: Rollout aborted update to revision 2".into(),
            ..RolloutInfo::default()
        };
        assert_eq!(
            release_of(&info).phase,
            Phase::Aborted {
                by_controller: false
            }
        );
        info.message = "RolloutAborted: Rollout aborted update to revision 2: metric \"web\" assessed Failed due to failed (1) > failureLimit (0)".into();
        assert_eq!(
            release_of(&info).phase,
            Phase::Aborted {
                by_controller: true
            }
        );
        info.message =
            "ProgressDeadlineExceeded: ReplicaSet \"web-1\" has timed out progressing.".into();
        assert_eq!(release_of(&info).phase, Phase::Degraded);
    }
}
