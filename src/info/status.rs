//! Rollout status and message (reference §2.3) and its icon (§2.4).

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

/// The rollout icon for a status (§2.4).
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
