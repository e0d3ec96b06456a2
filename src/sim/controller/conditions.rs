//! Status fields Argo's controller writes on every rollout besides the
//! step machine: the Available, Completed and Healthy conditions
//! (rollout/sync.go: calculateRolloutConditions), `selector`
//! (metav1.FormatLabelSelector) and `currentStepHash`
//! (conditions.ComputeStepHash).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::rfc3339;

/// `conditions.SetRolloutCondition`: nothing when the same status, reason
/// and message are there; else the condition replaces its type's, keeping
/// its lastTransitionTime while the status holds.
pub fn set_condition(
    conditions: &mut Vec<Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let current = conditions.iter().find(|c| c["type"] == type_).cloned();
    if let Some(c) = &current
        && c["status"] == status
        && c["reason"] == reason
        && c["message"] == message
    {
        return;
    }
    let transition = current
        .as_ref()
        .filter(|c| c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(rfc3339(now)));
    conditions.retain(|c| c["type"] != type_);
    conditions.push(
        json!({"type": type_, "status": status, "reason": reason, "message": message,
        "lastUpdateTime": rfc3339(now), "lastTransitionTime": transition}),
    );
}

/// What the canary's conditions depend on.
pub struct CanaryState {
    pub desired: i64,
    pub replicas: i64,
    pub updated: i64,
    pub available: i64,
    pub all_steps_done: bool,
    pub stable_is_current: bool,
    pub paused: bool,
    pub generation_observed: bool,
}

/// Available, Completed and Healthy for a canary, as Argo sets them.
pub fn canary_conditions(conditions: &mut Vec<Value>, s: &CanaryState, now: Timestamp) {
    let healthy = s.updated == s.desired
        && s.available == s.desired
        && s.generation_observed
        && s.all_steps_done
        && s.stable_is_current
        && s.replicas == s.desired;
    if !s.paused && healthy {
        set_condition(
            conditions,
            "Healthy",
            "True",
            "RolloutHealthy",
            "Rollout is healthy",
            now,
        );
    } else if conditions.iter().any(|c| c["type"] == "Healthy") {
        set_condition(
            conditions,
            "Healthy",
            "False",
            "RolloutHealthy",
            "Rollout is not healthy",
            now,
        );
    }
    if s.available >= s.desired {
        set_condition(
            conditions,
            "Available",
            "True",
            "AvailableReason",
            "Rollout has minimum availability",
            now,
        );
    } else {
        set_condition(
            conditions,
            "Available",
            "False",
            "AvailableReason",
            "Rollout does not have minimum availability",
            now,
        );
    }
    let completed = if s.stable_is_current { "True" } else { "False" };
    set_condition(
        conditions,
        "Completed",
        completed,
        "RolloutCompleted",
        "RolloutCompleted",
        now,
    );
}

/// `metav1.FormatLabelSelector`: requirements sorted by key, `<none>`
/// when there are none.
pub fn format_label_selector(selector: &Value) -> String {
    let mut parts: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            parts.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for e in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
        let mut values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match e.get("operator").and_then(Value::as_str) {
            Some("In") => format!("{key} in ({})", values.join(",")),
            Some("NotIn") => format!("{key} notin ({})", values.join(",")),
            Some("Exists") => key.to_string(),
            Some("DoesNotExist") => format!("!{key}"),
            _ => continue,
        };
        parts.push((key.to_string(), text));
    }
    parts.sort();
    if parts.is_empty() {
        return "<none>".into();
    }
    parts
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

/// `ComputeStepHash`: FNV-32a of the steps' JSON, its decimal digits
/// written with Kubernetes' `rand.SafeEncodeString`.
pub fn step_hash(steps: &Value) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in steps.to_string().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_print_as_kubectl_prints_them() {
        assert_eq!(
            format_label_selector(&json!({"matchLabels": {"b": "2", "app": "web"}})),
            "app=web,b=2"
        );
        assert_eq!(
            format_label_selector(&json!({"matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "api"]},
                {"key": "legacy", "operator": "DoesNotExist"}]})),
            "legacy,tier in (api,web)".replace("legacy", "!legacy")
        );
        assert_eq!(format_label_selector(&json!({})), "<none>");
    }

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let t0: Timestamp = "2024-05-01T12:00:00Z".parse().expect("a time");
        let t1: Timestamp = "2024-05-01T12:05:00Z".parse().expect("a time");
        let mut c = Vec::new();
        set_condition(&mut c, "Available", "False", "AvailableReason", "no", t0);
        set_condition(
            &mut c,
            "Available",
            "False",
            "AvailableReason",
            "still no",
            t1,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["lastTransitionTime"], "2024-05-01T12:00:00Z");
        assert_eq!(c[0]["lastUpdateTime"], "2024-05-01T12:05:00Z");
        set_condition(&mut c, "Available", "True", "AvailableReason", "yes", t1);
        assert_eq!(c[0]["lastTransitionTime"], "2024-05-01T12:05:00Z");
    }

    #[test]
    fn the_step_hash_is_in_the_safe_alphabet_and_follows_the_steps() {
        let a = step_hash(&json!([{"setWeight": 20}]));
        assert!(
            a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{a}"
        );
        assert_ne!(a, step_hash(&json!([{"setWeight": 30}])));
    }
}
