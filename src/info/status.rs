//! Rollout status and message, by the rules of Argo's `info` package, and
//! its icon.

use crate::model::{Rollout, RolloutStatusRef};

pub const HEALTHY: &str = "Healthy";
pub const DEGRADED: &str = "Degraded";
pub const PROGRESSING: &str = "Progressing";
pub const PAUSED: &str = "Paused";

/// Analysis phases that count as finished for blue-green post-promotion.
const COMPLETED_ANALYSIS: [&str; 4] = ["Successful", "Failed", "Error", "Inconclusive"];

/// `GetRolloutPhase`: what Argo's dashboard and CLI show as status and message.
pub fn rollout_phase(ro: &Rollout) -> (String, String) {
    let status = ro.status();
    // 1. The controller has not seen the current spec yet. A non-numeric
    //    observedGeneration (a v0.9 hash) counts as observed.
    if let (Ok(observed), Some(generation)) = (
        status.observed_generation().parse::<i64>(),
        ro.metadata.generation,
    ) && observed < generation
    {
        return phase(
            PROGRESSING,
            "waiting for rollout spec update to be observed",
        );
    }
    // 2. A promote cleared the pause conditions; the controller has not yet
    //    released its pause.
    if status.controller_pause() && status.pause_conditions().is_empty() {
        return phase(PROGRESSING, "waiting for rollout to unpause");
    }
    // 3. The workload-ref generation check needs a field never set on objects
    //    read from the API, so it never applies here.
    // 4. The controller's own verdict.
    if !status.phase().is_empty() {
        return (status.phase().to_string(), status.message().to_string());
    }
    // 5. Controllers before v1.0 did not write a phase: compute it.
    calculate_rollout_phase(ro)
}

/// `CalculateRolloutPhase`: the controller's own algorithm.
pub fn calculate_rollout_phase(ro: &Rollout) -> (String, String) {
    let status = ro.status();
    for c in status.conditions() {
        if c.type_.as_deref() == Some("InvalidSpec") {
            return phase(
                DEGRADED,
                &format!("InvalidSpec: {}", c.message.as_deref().unwrap_or_default()),
            );
        }
        if let Some(reason @ ("RolloutAborted" | "ProgressDeadlineExceeded")) = c.reason.as_deref()
        {
            return phase(
                DEGRADED,
                &format!("{reason}: {}", c.message.as_deref().unwrap_or_default()),
            );
        }
    }
    if ro.is_paused_by_spec() {
        return phase(PAUSED, "manually paused");
    }
    if let Some(first) = status.pause_conditions().first() {
        return phase(PAUSED, first.reason.as_deref().unwrap_or_default());
    }
    if let Some(restart_at) = ro.spec().restart_at.as_ref()
        && status.restarted_at() != Some(restart_at)
    {
        return phase(PROGRESSING, "rollout is restarting");
    }
    if status.updated_replicas() < ro.desired_replicas() {
        return phase(PROGRESSING, "more replicas need to be updated");
    }
    if status.available_replicas() < status.updated_replicas() {
        return phase(PROGRESSING, "updated replicas are still becoming available");
    }
    if let Some(bg) = ro.blue_green() {
        let current = status.current_pod_hash();
        if status.active_selector().is_empty() || status.active_selector() != current {
            return phase(PROGRESSING, "active service cutover pending");
        }
        if status.stable_rs().is_empty() || status.stable_rs() != current {
            if bg.post_promotion_analysis.is_some() && !post_promotion_completed(status) {
                return phase(PROGRESSING, "waiting for analysis to complete");
            }
            return phase(
                PROGRESSING,
                "waiting for post-promotion verification to complete",
            );
        }
    }
    if let Some(canary) = ro.canary() {
        if canary.traffic_routing.is_none() && status.replicas() > status.updated_replicas() {
            return phase(PROGRESSING, "old replicas are pending termination");
        }
        if status.stable_rs().is_empty() || status.stable_rs() != status.current_pod_hash() {
            return phase(PROGRESSING, "waiting for all steps to complete");
        }
    }
    phase(HEALTHY, "")
}

fn post_promotion_completed(status: RolloutStatusRef<'_>) -> bool {
    status
        .blue_green()
        .and_then(|b| b.post_promotion_analysis_run_status.as_ref())
        .and_then(|s| s.status.as_deref())
        .is_some_and(|s| COMPLETED_ANALYSIS.contains(&s))
}

fn phase(status: &str, message: &str) -> (String, String) {
    (status.to_string(), message.to_string())
}

/// The rollout icon for a status, as Argo's dashboard shows it.
pub fn rollout_icon(status: &str) -> &'static str {
    match status {
        "Progressing" => "◌",
        "Error" | "InvalidSpec" => "⚠",
        "Paused" => "॥",
        "Healthy" => "✔",
        "Degraded" => "✖",
        "Unknown" => "?",
        "ScaledDown" => "•",
        _ => " ",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn ro(v: Value) -> Rollout {
        serde_json::from_value(v).unwrap()
    }

    fn phase_of(v: Value) -> (String, String) {
        rollout_phase(&ro(v))
    }

    fn is(status: &str, message: &str) -> (String, String) {
        (status.to_string(), message.to_string())
    }

    /// A canary that is fully done, so that each test changes one thing.
    fn healthy_canary() -> Value {
        json!({
            "metadata": {"name": "r", "namespace": "ns", "generation": 3},
            "spec": {"replicas": 2, "strategy": {"canary": {"steps": [{"setWeight": 20}]}}},
            "status": {"observedGeneration": "3", "currentPodHash": "abc", "stableRS": "abc",
                       "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
        })
    }

    #[test]
    fn healthy_when_nothing_is_pending() {
        assert_eq!(phase_of(healthy_canary()), is(HEALTHY, ""));
        assert_eq!(rollout_icon(HEALTHY), "✔");
    }

    // GetRolloutPhase rule 1.
    #[test]
    fn unobserved_spec_is_progressing() {
        let mut v = healthy_canary();
        v["metadata"]["generation"] = json!(4);
        v["status"]["phase"] = json!("Healthy");
        assert_eq!(
            phase_of(v.clone()),
            is(
                PROGRESSING,
                "waiting for rollout spec update to be observed"
            )
        );
        // A v0.9 hash counts as observed; so does a value ahead of generation.
        v["status"]["observedGeneration"] = json!("7d8f9c");
        assert_eq!(phase_of(v.clone()), is(HEALTHY, ""));
        v["status"]["observedGeneration"] = json!("9");
        assert_eq!(phase_of(v), is(HEALTHY, ""));
    }

    // Rule 2.
    #[test]
    fn controller_pause_without_conditions_is_unpausing() {
        let mut v = healthy_canary();
        v["status"]["controllerPause"] = json!(true);
        v["status"]["phase"] = json!("Paused");
        assert_eq!(
            phase_of(v.clone()),
            is(PROGRESSING, "waiting for rollout to unpause")
        );
        v["status"]["pauseConditions"] = json!([{"reason": "CanaryPauseStep"}]);
        assert_eq!(phase_of(v), is(PAUSED, ""));
    }

    // Rule 4.
    #[test]
    fn controller_phase_and_message_are_taken_verbatim() {
        let mut v = healthy_canary();
        v["status"]["phase"] = json!("Degraded");
        v["status"]["message"] = json!("RolloutAborted: Rollout aborted update to revision 2");
        assert_eq!(
            phase_of(v),
            is(
                DEGRADED,
                "RolloutAborted: Rollout aborted update to revision 2"
            )
        );
    }

    // Rule 5 → CalculateRolloutPhase 1: InvalidSpec, in list order.
    #[test]
    fn invalid_spec_condition_is_degraded() {
        let mut v = healthy_canary();
        v["status"]["conditions"] = json!([
            {"type": "Available", "status": "True", "reason": "AvailableReason", "message": "ok"},
            {"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec", "message": "bad steps"},
            {"type": "Progressing", "status": "False", "reason": "RolloutAborted", "message": "later"}
        ]);
        assert_eq!(phase_of(v), is(DEGRADED, "InvalidSpec: bad steps"));
    }

    #[test]
    fn aborted_or_timed_out_is_degraded_whatever_the_condition_type() {
        for reason in ["RolloutAborted", "ProgressDeadlineExceeded"] {
            let mut v = healthy_canary();
            v["status"]["conditions"] = json!([
                {"type": "Whatever", "status": "Unknown", "reason": reason, "message": "m"}
            ]);
            assert_eq!(phase_of(v), is(DEGRADED, &format!("{reason}: m")));
        }
        assert_eq!(rollout_icon(DEGRADED), "✖");
    }

    // CalculateRolloutPhase 2.
    #[test]
    fn spec_paused_is_manually_paused() {
        let mut v = healthy_canary();
        v["spec"]["paused"] = json!(true);
        v["status"]["pauseConditions"] = json!([{"reason": "CanaryPauseStep"}]);
        assert_eq!(phase_of(v), is(PAUSED, "manually paused"));
        assert_eq!(rollout_icon(PAUSED), "॥");
    }

    // CalculateRolloutPhase 3.
    #[test]
    fn first_pause_condition_names_the_pause() {
        let mut v = healthy_canary();
        v["status"]["pauseConditions"] = json!([
            {"reason": "InconclusiveAnalysisRun"}, {"reason": "CanaryPauseStep"}
        ]);
        assert_eq!(phase_of(v), is(PAUSED, "InconclusiveAnalysisRun"));
    }

    // CalculateRolloutPhase 4.
    #[test]
    fn pending_restart_is_progressing() {
        let mut v = healthy_canary();
        v["spec"]["restartAt"] = json!("2024-05-01T12:00:00Z");
        assert_eq!(
            phase_of(v.clone()),
            is(PROGRESSING, "rollout is restarting")
        );
        v["status"]["restartedAt"] = json!("2024-04-01T12:00:00Z");
        assert_eq!(
            phase_of(v.clone()),
            is(PROGRESSING, "rollout is restarting")
        );
        v["status"]["restartedAt"] = json!("2024-05-01T12:00:00Z");
        assert_eq!(phase_of(v), is(HEALTHY, ""));
    }

    // CalculateRolloutPhase 5, with spec.replicas defaulting to 1.
    #[test]
    fn too_few_updated_replicas_is_progressing() {
        let mut v = healthy_canary();
        v["status"]["updatedReplicas"] = json!(1);
        assert_eq!(
            phase_of(v.clone()),
            is(PROGRESSING, "more replicas need to be updated")
        );
        v["spec"].as_object_mut().unwrap().remove("replicas");
        v["status"]["availableReplicas"] = json!(1);
        assert_eq!(
            phase_of(v),
            is(PROGRESSING, "old replicas are pending termination")
        );
    }

    // CalculateRolloutPhase 6.
    #[test]
    fn unavailable_updated_replicas_is_progressing() {
        let mut v = healthy_canary();
        v["status"]["availableReplicas"] = json!(1);
        assert_eq!(
            phase_of(v),
            is(PROGRESSING, "updated replicas are still becoming available")
        );
    }

    fn healthy_blue_green() -> Value {
        json!({
            "metadata": {"name": "bg", "generation": 1},
            "spec": {"replicas": 1, "strategy": {"blueGreen": {"activeService": "a"}}},
            "status": {"observedGeneration": "1", "currentPodHash": "new", "stableRS": "new",
                       "blueGreen": {"activeSelector": "new"},
                       "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
        })
    }

    // CalculateRolloutPhase 7.
    #[test]
    fn blue_green_waits_for_cutover_then_verification() {
        assert_eq!(phase_of(healthy_blue_green()), is(HEALTHY, ""));

        let mut v = healthy_blue_green();
        v["status"]["blueGreen"]["activeSelector"] = json!("old");
        assert_eq!(
            phase_of(v.clone()),
            is(PROGRESSING, "active service cutover pending")
        );
        v["status"]["blueGreen"] = json!({});
        assert_eq!(
            phase_of(v),
            is(PROGRESSING, "active service cutover pending")
        );

        let mut v = healthy_blue_green();
        v["status"]["stableRS"] = json!("old");
        assert_eq!(
            phase_of(v.clone()),
            is(
                PROGRESSING,
                "waiting for post-promotion verification to complete"
            )
        );
        v["spec"]["strategy"]["blueGreen"]["postPromotionAnalysis"] = json!({"templates": []});
        assert_eq!(
            phase_of(v.clone()),
            is(PROGRESSING, "waiting for analysis to complete")
        );
        v["status"]["blueGreen"]["postPromotionAnalysisRunStatus"] = json!({"status": "Running"});
        assert_eq!(
            phase_of(v.clone()),
            is(PROGRESSING, "waiting for analysis to complete")
        );
        for done in ["Successful", "Failed", "Error", "Inconclusive"] {
            v["status"]["blueGreen"]["postPromotionAnalysisRunStatus"] = json!({"status": done});
            assert_eq!(
                phase_of(v.clone()),
                is(
                    PROGRESSING,
                    "waiting for post-promotion verification to complete"
                )
            );
        }
    }

    // CalculateRolloutPhase 8.
    #[test]
    fn canary_waits_for_old_replicas_then_for_steps() {
        let mut v = healthy_canary();
        v["status"]["replicas"] = json!(3);
        assert_eq!(
            phase_of(v.clone()),
            is(PROGRESSING, "old replicas are pending termination")
        );
        // With a traffic router old replicas may linger (scale-down delay).
        v["spec"]["strategy"]["canary"]["trafficRouting"] = json!({"istio": {}});
        assert_eq!(phase_of(v.clone()), is(HEALTHY, ""));

        let mut v = healthy_canary();
        v["status"]["stableRS"] = json!("old");
        assert_eq!(
            phase_of(v.clone()),
            is(PROGRESSING, "waiting for all steps to complete")
        );
        v["status"].as_object_mut().unwrap().remove("stableRS");
        assert_eq!(
            phase_of(v),
            is(PROGRESSING, "waiting for all steps to complete")
        );
        assert_eq!(rollout_icon(PROGRESSING), "◌");
    }

    #[test]
    fn icons_for_every_status() {
        assert_eq!(rollout_icon("Error"), "⚠");
        assert_eq!(rollout_icon("InvalidSpec"), "⚠");
        assert_eq!(rollout_icon("Unknown"), "?");
        assert_eq!(rollout_icon("ScaledDown"), "•");
        assert_eq!(rollout_icon(""), " ");
    }

    #[test]
    fn an_empty_rollout_is_computed_not_refused() {
        // No spec, no status: desired defaults to 1, nothing updated.
        assert_eq!(
            phase_of(json!({})),
            is(PROGRESSING, "more replicas need to be updated")
        );
    }
}
