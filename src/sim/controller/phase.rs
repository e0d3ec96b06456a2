//! The phase and message the simulated controller writes into a rollout's
//! status, computed as Argo's controller computes them
//! (`utils/rollout/rolloututil.go: CalculateRolloutPhase`), and the length
//! of a pause step (`RolloutPause.DurationSeconds`). Written from Argo's
//! code over the JSON the controller keeps, never from the dashboard's
//! reading of it: an end-to-end test compares two independent readings.

use serde_json::Value;

fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn string<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `CalculateRolloutPhase(spec, status)`: (phase, message).
pub fn rollout_phase(spec: &Value, status: &Value) -> (&'static str, String) {
    for cond in status
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let message = string(cond, "/message");
        if string(cond, "/type") == "InvalidSpec" {
            return ("Degraded", format!("InvalidSpec: {message}"));
        }
        let reason = string(cond, "/reason");
        if reason == "RolloutAborted" || reason == "ProgressDeadlineExceeded" {
            return ("Degraded", format!("{reason}: {message}"));
        }
    }
    if spec.get("paused").and_then(Value::as_bool) == Some(true) {
        return ("Paused", "manually paused".into());
    }
    if let Some(first) = status
        .get("pauseConditions")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
    {
        return ("Paused", string(first, "/reason").to_string());
    }
    let restart_at = string(spec, "/restartAt");
    if !restart_at.is_empty() && !same_time(restart_at, string(status, "/restartedAt")) {
        return ("Progressing", "rollout is restarting".into());
    }
    let desired = spec.get("replicas").and_then(Value::as_i64).unwrap_or(1);
    let updated = int(status, "/updatedReplicas");
    if updated < desired {
        return ("Progressing", "more replicas need to be updated".into());
    }
    if int(status, "/availableReplicas") < updated {
        return (
            "Progressing",
            "updated replicas are still becoming available".into(),
        );
    }
    let stable = string(status, "/stableRS");
    let fully_promoted = stable == string(status, "/currentPodHash");
    if let Some(blue_green) = spec.pointer("/strategy/blueGreen") {
        let active = string(status, "/blueGreen/activeSelector");
        if active.is_empty() || active != string(status, "/currentPodHash") {
            return ("Progressing", "active service cutover pending".into());
        }
        if stable.is_empty() || !fully_promoted {
            let analysis_done = matches!(
                string(status, "/blueGreen/postPromotionAnalysisRunStatus/status"),
                "Successful" | "Failed" | "Error" | "Inconclusive"
            );
            if blue_green.get("postPromotionAnalysis").is_some() && !analysis_done {
                return ("Progressing", "waiting for analysis to complete".into());
            }
            return (
                "Progressing",
                "waiting for post-promotion verification to complete".into(),
            );
        }
    } else if let Some(canary) = spec.pointer("/strategy/canary") {
        if canary.get("trafficRouting").is_none_or(Value::is_null)
            && int(status, "/replicas") > updated
        {
            return ("Progressing", "old replicas are pending termination".into());
        }
        if stable.is_empty() || !fully_promoted {
            return ("Progressing", "waiting for all steps to complete".into());
        }
    }
    ("Healthy", String::new())
}

/// Two `metav1.Time` texts name the same instant.
fn same_time(a: &str, b: &str) -> bool {
    match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `RolloutPause.DurationSeconds()`: an integer (or a string of one) is
/// seconds; other text is a Go duration (`30s`, `1h5m`); text that is
/// neither gives -1, which ends the pause at once, as in Argo.
pub fn pause_seconds(duration: &Value) -> i64 {
    match duration {
        Value::Number(n) => n.as_i64().unwrap_or(-1),
        Value::String(s) => match s.parse::<i32>() {
            Ok(n) => i64::from(n),
            Err(_) => go_duration_seconds(s).unwrap_or(-1),
        },
        _ => 0,
    }
}

/// Go's `time.ParseDuration`, truncated to whole seconds.
fn go_duration_seconds(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += value * scale;
        rest = next;
    }
    let seconds = (nanos / 1e9).trunc() as i64;
    Some(if negative { -seconds } else { seconds })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pause_lengths_read_as_argo_reads_them() {
        assert_eq!(pause_seconds(&json!(30)), 30);
        assert_eq!(pause_seconds(&json!("45")), 45);
        assert_eq!(pause_seconds(&json!("30s")), 30);
        assert_eq!(pause_seconds(&json!("1h5m")), 3900);
        assert_eq!(pause_seconds(&json!("1.5m")), 90);
        assert_eq!(pause_seconds(&json!("500ms")), 0);
        assert_eq!(pause_seconds(&json!("soon")), -1);
        assert_eq!(pause_seconds(&json!("10d")), -1, "Go has no day unit");
    }

    /// The rules in Argo's order: a condition beats a pause, a pause beats
    /// replica counts, and a canary is Healthy only once stable.
    #[test]
    fn the_phase_follows_argos_rules_in_order() {
        let canary = json!({"replicas": 2, "strategy": {"canary": {"steps": [{"pause": {}}]}}});
        let aborted = json!({"conditions": [{"type": "Progressing", "reason": "RolloutAborted",
            "message": "Rollout aborted update to revision 2"}],
            "pauseConditions": [{"reason": "CanaryPauseStep"}]});
        assert_eq!(
            rollout_phase(&canary, &aborted),
            (
                "Degraded",
                "RolloutAborted: Rollout aborted update to revision 2".into()
            )
        );
        let paused = json!({"pauseConditions": [{"reason": "CanaryPauseStep"}]});
        assert_eq!(
            rollout_phase(&canary, &paused),
            ("Paused", "CanaryPauseStep".into())
        );
        let updating = json!({"updatedReplicas": 1, "availableReplicas": 1});
        assert_eq!(
            rollout_phase(&canary, &updating).1,
            "more replicas need to be updated"
        );
        let stepping = json!({"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
            "currentPodHash": "b", "stableRS": "a"});
        assert_eq!(
            rollout_phase(&canary, &stepping).1,
            "waiting for all steps to complete"
        );
        let done = json!({"replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
            "currentPodHash": "b", "stableRS": "b"});
        assert_eq!(rollout_phase(&canary, &done), ("Healthy", String::new()));
        let restarting = json!({"replicas": 2, "restartAt": "2024-05-01T12:00:00Z",
            "strategy": {"canary": {}}});
        assert_eq!(rollout_phase(&restarting, &done).1, "rollout is restarting");
    }

    #[test]
    fn blue_green_waits_for_the_cutover_then_the_post_promotion_analysis() {
        let spec = json!({"strategy": {"blueGreen": {"postPromotionAnalysis": {}}}});
        let pending = json!({"updatedReplicas": 1, "availableReplicas": 1,
            "currentPodHash": "b", "stableRS": "a", "blueGreen": {"activeSelector": "a"}});
        assert_eq!(
            rollout_phase(&spec, &pending).1,
            "active service cutover pending"
        );
        let cut = json!({"updatedReplicas": 1, "availableReplicas": 1,
            "currentPodHash": "b", "stableRS": "a", "blueGreen": {"activeSelector": "b"}});
        assert_eq!(
            rollout_phase(&spec, &cut).1,
            "waiting for analysis to complete"
        );
    }
}
