//! Step position and weights: `setWeight` (reference §2.5, the desired
//! weight) and `actualWeight` (§2.6, what the controller last applied).

use crate::model::{CanaryStep, Rollout};

use super::types::ReplicaSetInfo;

/// The current canary step and its index: `None` when there are no steps or
/// every step is done (index ≥ len). A negative index (never written by the
/// controller) is treated as out of range rather than trusted.
pub fn current_step(ro: &Rollout) -> Option<(usize, &CanaryStep)> {
    let steps = ro.steps();
    if steps.is_empty() {
        return None;
    }
    let idx = usize::try_from(ro.status().current_step_index().unwrap_or(0)).ok()?;
    steps.get(idx).map(|s| (idx, s))
}

/// `GetCurrentSetWeight`: the canary weight the current step asks for.
pub fn set_weight(ro: &Rollout) -> i32 {
    if ro.status().abort() {
        return 0;
    }
    let Some((idx, _)) = current_step(ro) else {
        return ro.max_traffic_weight();
    };
    ro.steps()[..=idx]
        .iter()
        .rev()
        .find_map(|s| s.set_weight)
        .unwrap_or(0)
}

/// `actualWeight` as Argo's info computes it.
pub fn actual_weight(ro: &Rollout, replica_sets: &[ReplicaSetInfo]) -> String {
    let status = ro.status();
    if current_step(ro).is_none() {
        return ro.max_traffic_weight().to_string();
    }
    let available = status.available_replicas();
    if available <= 0 {
        return "0".to_string();
    }
    if ro.traffic_routing().is_none() {
        // Basic canary: the share of available replicas in the canary RS.
        let max = i64::from(ro.max_traffic_weight());
        let mut actual = "0".to_string();
        for rs in replica_sets.iter().filter(|rs| rs.canary) {
            actual = (i64::from(rs.available) * max / i64::from(available)).to_string();
        }
        return actual;
    }
    match status.weights().and_then(|w| w.canary.as_ref()) {
        Some(canary) => canary.weight.unwrap_or(0).to_string(),
        None if status.weights().is_some() => "0".to_string(),
        None => set_weight(ro).to_string(),
    }
}

/// The canary weight the controller steers the traffic router to now
/// (reference §7.1, branches 2–7; dynamicStableScale's gradual rollback is
/// not modelled). While the canary scales up the controller may still hold
/// the previous weight: the page shows that as "moving to", not as an error.
pub fn desired_canary_weight(ro: &Rollout, canary_available: Option<i32>) -> i32 {
    let status = ro.status();
    if status.stable_rs() == status.current_pod_hash() {
        return 0;
    }
    if status.abort() {
        return 0;
    }
    if canary_available.unwrap_or(0) <= 0 {
        return 0;
    }
    if status.promote_full() {
        return status
            .weights()
            .and_then(|w| w.canary.as_ref())
            .and_then(|c| c.weight)
            .unwrap_or(0);
    }
    if status.current_step_index().is_some() {
        return match current_step(ro) {
            Some(_) => set_weight(ro),
            None => ro.max_traffic_weight(),
        };
    }
    0
}
