//! Whether a rollout needs a person now, and why: what the overview lists
//! first when there are too many rollouts to look at each. Pure.

use super::RolloutInfo;

/// Why a rollout needs a person, most urgent first (the order the
/// overview's attention list sorts by).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attention {
    /// Degraded, errored, invalid or of unknown state.
    Degraded,
    /// An analysis (or an experiment's) of the current revision failed or
    /// errored, or came back inconclusive.
    AnalysisFailing,
    /// Prometheus sees the canary answer worse than stable: more 5xx, or
    /// slower (`info::compare`).
    CanaryFailing,
    /// Istio's split is not what the controller set, or the canary
    /// receives another share of requests than the router says.
    TrafficMismatch,
    /// Paused until someone promotes it (a pause step without a duration,
    /// a blue-green pause, an inconclusive analysis).
    WaitingForPromotion,
    /// Paused by a person (`spec.paused`) until someone resumes it.
    PausedByPerson,
}

impl Attention {
    /// What the attention list says, in a few words.
    pub fn text(self) -> &'static str {
        match self {
            Attention::Degraded => "Degraded",
            Attention::AnalysisFailing => "Analysis failing",
            Attention::CanaryFailing => "Canary worse than stable",
            Attention::TrafficMismatch => "Traffic not at the set weight",
            Attention::WaitingForPromotion => "Waiting for promotion",
            Attention::PausedByPerson => "Paused by a person",
        }
    }
}

/// The most urgent reason `info` needs a person, if any.
pub fn attention(info: &RolloutInfo) -> Option<Attention> {
    if matches!(
        info.status.as_str(),
        "Degraded" | "Error" | "Unknown" | "InvalidSpec"
    ) {
        return Some(Attention::Degraded);
    }
    let failing = |status: &str| matches!(status, "Failed" | "Error" | "Inconclusive");
    let current = |revision: i64| revision == info.revision;
    if info
        .analysis_runs
        .iter()
        .any(|a| current(a.revision) && failing(&a.status))
        || info
            .experiments
            .iter()
            .any(|e| current(e.revision) && failing(&e.status))
    {
        return Some(Attention::AnalysisFailing);
    }
    if info.traffic.as_ref().is_some_and(|t| !t.matches_desired) {
        return Some(Attention::TrafficMismatch);
    }
    if info.status == "Paused" {
        // A timed pause ends by itself; every other pause waits for someone.
        let waits_for_someone =
            info.pauses.is_empty() || info.pauses.iter().any(|p| p.until.is_none());
        if info.pauses.iter().any(|p| p.reason == "Manual") {
            return Some(Attention::PausedByPerson);
        }
        if waits_for_someone {
            return Some(Attention::WaitingForPromotion);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{AnalysisRunInfo, PauseInfo, TrafficSplit};

    fn paused(reason: &str, until: Option<&str>) -> RolloutInfo {
        RolloutInfo {
            status: "Paused".into(),
            revision: 2,
            pauses: vec![PauseInfo {
                reason: reason.into(),
                until: until.map(str::to_string),
                ..PauseInfo::default()
            }],
            ..RolloutInfo::default()
        }
    }

    #[test]
    fn a_pause_that_ends_by_itself_needs_nobody() {
        assert_eq!(
            attention(&paused("CanaryPauseStep", Some("2026-01-01T00:00:30Z"))),
            None
        );
        assert_eq!(
            attention(&paused("CanaryPauseStep", None)),
            Some(Attention::WaitingForPromotion)
        );
        assert_eq!(
            attention(&paused("Manual", None)),
            Some(Attention::PausedByPerson)
        );
    }

    #[test]
    fn failing_analysis_of_the_current_revision_comes_before_the_pause() {
        let mut info = paused("CanaryPauseStep", None);
        let run = |revision, status: &str| AnalysisRunInfo {
            revision,
            status: status.into(),
            ..AnalysisRunInfo::default()
        };
        info.analysis_runs = vec![run(1, "Failed")];
        assert_eq!(
            attention(&info),
            Some(Attention::WaitingForPromotion),
            "an old revision's failure is history"
        );
        info.analysis_runs.push(run(2, "Inconclusive"));
        assert_eq!(attention(&info), Some(Attention::AnalysisFailing));
        info.status = "Degraded".into();
        assert_eq!(attention(&info), Some(Attention::Degraded));
    }

    #[test]
    fn traffic_off_the_set_weight_needs_a_look() {
        let mut info = RolloutInfo {
            status: "Progressing".into(),
            ..RolloutInfo::default()
        };
        assert_eq!(attention(&info), None);
        info.traffic = Some(TrafficSplit {
            matches_desired: false,
            ..TrafficSplit::default()
        });
        assert_eq!(attention(&info), Some(Attention::TrafficMismatch));
        info.status = "Healthy".into();
        info.traffic = None;
        assert_eq!(attention(&info), None);
    }
}
