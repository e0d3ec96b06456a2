//! Step position and weights: `setWeight` (the weight the current step
//! asks for) and `actualWeight` (what the controller last applied).

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
/// (the branches of Argo's canary reconcile for a traffic router;
/// dynamicStableScale's gradual rollback is not modelled). While the canary scales up the controller may still hold
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::info::types::ReplicaSetInfo;

    fn ro(v: Value) -> Rollout {
        serde_json::from_value(v).unwrap()
    }

    /// Steps 10 → pause → (analysis) → 40; `extra` is merged into the canary strategy.
    fn canary(index: Option<i32>, status: Value, extra: Value) -> Rollout {
        let mut strategy = json!({"steps": [
            {"setWeight": 10}, {"pause": {}}, {"analysis": {"templates": []}}, {"setWeight": 40}
        ]});
        if let (Some(s), Some(e)) = (strategy.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let mut st = status;
        if let Some(i) = index {
            st["currentStepIndex"] = json!(i);
        }
        ro(json!({"spec": {"strategy": {"canary": strategy}}, "status": st}))
    }

    // setWeight
    #[test]
    fn set_weight_is_zero_when_aborted() {
        assert_eq!(
            set_weight(&canary(Some(3), json!({"abort": true}), json!({}))),
            0
        );
    }

    #[test]
    fn set_weight_is_max_when_no_steps_or_all_done() {
        assert_eq!(
            set_weight(&ro(json!({"spec": {"strategy": {"canary": {}}}}))),
            100
        );
        assert_eq!(set_weight(&canary(Some(4), json!({}), json!({}))), 100);
        let capped = json!({"trafficRouting": {"maxTrafficWeight": 1000}});
        assert_eq!(set_weight(&canary(Some(4), json!({}), capped)), 1000);
    }

    #[test]
    fn set_weight_searches_back_from_the_current_step() {
        assert_eq!(set_weight(&canary(Some(0), json!({}), json!({}))), 10);
        assert_eq!(set_weight(&canary(Some(2), json!({}), json!({}))), 10);
        assert_eq!(set_weight(&canary(Some(3), json!({}), json!({}))), 40);
        // A nil index reads as 0.
        assert_eq!(set_weight(&canary(None, json!({}), json!({}))), 10);
    }

    #[test]
    fn set_weight_is_zero_when_no_earlier_step_sets_one() {
        let r = ro(
            json!({"spec": {"strategy": {"canary": {"steps": [{"pause": {}}, {"setWeight": 50}]}}},
                          "status": {"currentStepIndex": 0}}),
        );
        assert_eq!(set_weight(&r), 0);
    }

    fn canary_rs(available: i32) -> ReplicaSetInfo {
        ReplicaSetInfo {
            canary: true,
            available,
            ..ReplicaSetInfo::default()
        }
    }

    // actualWeight
    #[test]
    fn actual_weight_is_max_without_a_current_step_even_with_nothing_available() {
        assert_eq!(
            actual_weight(&canary(Some(4), json!({}), json!({})), &[]),
            "100"
        );
        assert_eq!(
            actual_weight(&ro(json!({"spec": {"strategy": {"canary": {}}}})), &[]),
            "100"
        );
    }

    #[test]
    fn actual_weight_is_zero_with_nothing_available() {
        let with_router = json!({"trafficRouting": {"istio": {}}});
        let st = json!({"availableReplicas": 0, "canary": {"weights": {"canary": {"weight": 30}}}});
        assert_eq!(actual_weight(&canary(Some(0), st, with_router), &[]), "0");
    }

    #[test]
    fn basic_canary_uses_the_replica_ratio_rounded_down() {
        let r = canary(Some(0), json!({"availableReplicas": 3}), json!({}));
        assert_eq!(actual_weight(&r, &[canary_rs(1)]), "33");
        assert_eq!(
            actual_weight(
                &r,
                &[ReplicaSetInfo {
                    available: 2,
                    ..Default::default()
                }]
            ),
            "0"
        );
    }

    #[test]
    fn traffic_routed_canary_uses_status_weights_else_set_weight() {
        let router = json!({"trafficRouting": {"smi": {}}});
        let st = json!({"availableReplicas": 5, "canary": {"weights": {"canary": {"weight": 7}}}});
        assert_eq!(
            actual_weight(&canary(Some(0), st, router.clone()), &[canary_rs(5)]),
            "7"
        );
        let st =
            json!({"availableReplicas": 5, "canary": {"weights": {"stable": {"weight": 100}}}});
        assert_eq!(
            actual_weight(&canary(Some(0), st, router.clone()), &[]),
            "0"
        );
        let st = json!({"availableReplicas": 5});
        assert_eq!(actual_weight(&canary(Some(3), st, router), &[]), "40");
    }

    // the weight the router is steered to
    #[test]
    fn desired_weight_follows_the_controller() {
        let router = json!({"trafficRouting": {"istio": {}}});
        let moving = json!({"currentPodHash": "new", "stableRS": "old"});
        let at = |i: i32, extra: Value| {
            let mut st = moving.clone();
            if let (Some(s), Some(e)) = (st.as_object_mut(), extra.as_object()) {
                s.extend(e.clone());
            }
            canary(Some(i), st, router.clone())
        };
        assert_eq!(desired_canary_weight(&at(0, json!({})), Some(1)), 10);
        assert_eq!(desired_canary_weight(&at(3, json!({})), Some(1)), 40);
        assert_eq!(desired_canary_weight(&at(4, json!({})), Some(1)), 100);
        assert_eq!(
            desired_canary_weight(&at(3, json!({})), Some(0)),
            0,
            "no canary pod available"
        );
        assert_eq!(
            desired_canary_weight(&at(3, json!({})), None),
            0,
            "no canary ReplicaSet"
        );
        assert_eq!(
            desired_canary_weight(&at(3, json!({"abort": true})), Some(1)),
            0
        );
        let full = json!({"promoteFull": true, "canary": {"weights": {"canary": {"weight": 10}}}});
        assert_eq!(desired_canary_weight(&at(0, full), Some(1)), 10);
        let promoted = canary(
            Some(4),
            json!({"currentPodHash": "a", "stableRS": "a"}),
            router.clone(),
        );
        assert_eq!(desired_canary_weight(&promoted, Some(1)), 0);
        let no_index = canary(None, moving.clone(), router);
        assert_eq!(desired_canary_weight(&no_index, Some(1)), 0);
    }

    #[test]
    fn negative_or_huge_step_index_is_out_of_range_not_a_panic() {
        assert!(current_step(&canary(Some(-1), json!({}), json!({}))).is_none());
        assert!(current_step(&canary(Some(i32::MAX), json!({}), json!({}))).is_none());
        assert_eq!(set_weight(&canary(Some(-5), json!({}), json!({}))), 100);
    }
}
