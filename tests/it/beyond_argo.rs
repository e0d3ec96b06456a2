//! What the dashboard adds to Argo's RolloutInfo: the traffic split as Istio
//! has it, pause state and the actions that apply now. Built on the seed's
//! manifest-gen release (`tests/fixtures/seed/`).

use crate::common;

use common::{Objects, fixture};
use rollouts_dashboard::info::RolloutInfo;
use serde_json::json;

/// The seed release, with the status the controller writes while it waits at
/// the indefinite pause (step 2 of 5, 20% canary), and the VirtualService and
/// DestinationRule as the controller has set them.
fn seed_at_pause(vs_canary: i32) -> Objects {
    let mut objs = Objects::load_file(&fixture("seed/manifest-gen.yaml"));
    let ro = &mut objs.rollouts[0];
    ro.metadata.uid = Some("ro-uid".to_string());
    ro.metadata.generation = Some(2);
    ro.status = Some(
        serde_json::from_value(json!({
            "observedGeneration": "2",
            "currentPodHash": "v2hash", "stableRS": "v1hash",
            "currentStepIndex": 1,
            "controllerPause": true,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-28T10:00:00Z"}],
            "phase": "Paused", "message": "CanaryPauseStep",
            "replicas": 2, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2,
            "canary": {"weights": {
                "canary": {"weight": 20, "podTemplateHash": "v2hash"},
                "stable": {"weight": 80, "podTemplateHash": "v1hash"}}}
        }))
        .unwrap(),
    );
    for (hash, rev) in [("v1hash", "1"), ("v2hash", "2")] {
        objs.add(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("manifest-gen-{hash}"), "namespace": "manifest-gen",
                         "uid": format!("rs-{hash}"), "generation": 1,
                         "labels": {"rollouts-pod-template-hash": hash},
                         "annotations": {"rollout.argoproj.io/revision": rev},
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                              "name": "manifest-gen", "uid": "ro-uid", "controller": true}]},
            "spec": {"replicas": 1},
            "status": {"replicas": 1, "availableReplicas": 1, "observedGeneration": 1}
        }));
    }
    let vs = &mut objs.virtual_services[0];
    let route = vs.spec.as_mut().unwrap().http.as_mut().unwrap()[0]
        .route
        .as_mut()
        .unwrap();
    route[0].weight = Some(100 - vs_canary);
    route[1].weight = Some(vs_canary);
    let dr = &mut objs.destination_rules[0];
    for s in dr.spec.as_mut().unwrap().subsets.as_mut().unwrap() {
        let hash = if s.name.as_deref() == Some("canary") {
            "v2hash"
        } else {
            "v1hash"
        };
        s.labels
            .as_mut()
            .unwrap()
            .insert("rollouts-pod-template-hash".into(), hash.into());
    }
    objs
}

fn seed_info(vs_canary: i32) -> RolloutInfo {
    seed_at_pause(vs_canary).info("manifest-gen", "manifest-gen")
}

#[test]
fn seed_at_the_pause_shows_istio_80_20_in_agreement() {
    let info = seed_info(20);
    assert_eq!(info.status, "Paused");
    assert_eq!(info.step, "1/5");
    assert_eq!(info.set_weight, "20");
    assert_eq!(info.actual_weight, "20");
    let t = info
        .traffic
        .as_ref()
        .expect("Istio rollout has a traffic split");
    assert_eq!(t.desired_canary_weight, 20);
    assert_eq!((t.canary_weight, t.stable_weight), (Some(20), Some(80)));
    assert!(t.matches_desired);
    let vs = &t.virtual_services[0];
    assert_eq!(
        (vs.name.as_str(), vs.namespace.as_str(), vs.found),
        ("manifest-gen-vs", "manifest-gen", true)
    );
    let route = &vs.routes[0];
    assert_eq!(route.name, "primary");
    let dests: Vec<(&str, &str, i32, &str)> = route
        .destinations
        .iter()
        .map(|d| {
            (
                d.host.as_str(),
                d.subset.as_str(),
                d.weight,
                d.role.as_str(),
            )
        })
        .collect();
    assert_eq!(
        dests,
        [
            ("manifest-gen-stable", "stable", 80, "stable"),
            ("manifest-gen-stable", "canary", 20, "canary")
        ]
    );
    let dr = t.destination_rule.as_ref().unwrap();
    assert!(dr.found);
    let subsets: Vec<(&str, &str, &str)> = dr
        .subsets
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.pod_template_hash.as_str(),
                s.role.as_str(),
            )
        })
        .collect();
    assert_eq!(
        subsets,
        [
            ("stable", "v1hash", "stable"),
            ("canary", "v2hash", "canary")
        ]
    );
}

#[test]
fn a_virtual_service_behind_the_controller_is_flagged() {
    let info = seed_info(0);
    let t = info.traffic.unwrap();
    assert_eq!(t.desired_canary_weight, 20);
    assert_eq!((t.canary_weight, t.stable_weight), (Some(0), Some(100)));
    assert!(!t.matches_desired);
    assert!(!t.virtual_services[0].routes[0].matches_desired);
}

#[test]
fn a_missing_virtual_service_or_route_is_reported_not_hidden() {
    let mut objs = seed_at_pause(20);
    objs.virtual_services.clear();
    let t = objs.info("manifest-gen", "manifest-gen").traffic.unwrap();
    assert!(!t.virtual_services[0].found);
    assert_eq!(
        t.virtual_services[0].error.as_deref(),
        Some("VirtualService manifest-gen/manifest-gen-vs not found")
    );
    assert_eq!(t.canary_weight, None);
    assert!(!t.matches_desired);

    let mut objs = seed_at_pause(20);
    objs.virtual_services[0]
        .spec
        .as_mut()
        .unwrap()
        .http
        .as_mut()
        .unwrap()[0]
        .name = Some("other".into());
    let t = objs.info("manifest-gen", "manifest-gen").traffic.unwrap();
    assert_eq!(
        t.virtual_services[0].error.as_deref(),
        Some("HTTP Route 'primary' is not found in the defined Virtual Service.")
    );
}

#[test]
fn host_level_split_classifies_by_service_name() {
    // The reference's worked example (§7.8): Services, no DestinationRule.
    let mut objs = Objects::default();
    objs.add(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u"},
        "spec": {"strategy": {"canary": {
            "canaryService": "web-canary", "stableService": "web-stable",
            "trafficRouting": {"istio": {"virtualService": {"name": "web-vs.shop", "routes": ["primary"]}}},
            "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "30s"}}]}}},
        "status": {"currentPodHash": "new", "stableRS": "old", "currentStepIndex": 2, "availableReplicas": 2}
    }));
    objs.add(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-new", "namespace": "shop", "uid": "rs",
                     "labels": {"rollouts-pod-template-hash": "new"}, "ownerReferences": [{"uid": "u"}]},
        "status": {"availableReplicas": 1}
    }));
    objs.add(json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "web-vs", "namespace": "shop"},
        "spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "web-stable.shop.svc.cluster.local"}, "weight": 40},
            {"destination": {"host": "web-canary"}, "weight": 60},
            {"destination": {"host": "mirror-svc"}, "weight": 0}]}]}
    }));
    let t = objs.info("shop", "web").traffic.unwrap();
    let roles: Vec<&str> = t.virtual_services[0].routes[0]
        .destinations
        .iter()
        .map(|d| d.role.as_str())
        .collect();
    assert_eq!(roles, ["stable", "canary", "other"]);
    assert_eq!(t.desired_canary_weight, 60);
    assert!(t.matches_desired);
}

#[test]
fn indefinite_pause_waits_for_a_person() {
    let info = seed_info(20);
    assert_eq!(info.pauses.len(), 1);
    let p = &info.pauses[0];
    assert_eq!(p.reason, "CanaryPauseStep");
    assert_eq!(p.since.as_deref(), Some("2026-11-28T10:00:00Z"));
    assert_eq!(p.until, None);
    assert_eq!(p.waits_for, "someone to promote it");
}

#[test]
fn timed_pause_says_when_it_ends() {
    let mut objs = seed_at_pause(50);
    let st = objs.rollouts[0].status.as_mut().unwrap();
    st.current_step_index = Some(3); // pause: {duration: 30s}
    let info = objs.info("manifest-gen", "manifest-gen");
    assert_eq!(
        info.pauses[0].until.as_deref(),
        Some("2026-11-28T10:00:30Z")
    );
}

#[test]
fn manual_pause_comes_first() {
    let mut objs = seed_at_pause(20);
    objs.rollouts[0].spec.as_mut().unwrap().paused = Some(true);
    let info = objs.info("manifest-gen", "manifest-gen");
    let reasons: Vec<&str> = info.pauses.iter().map(|p| p.reason.as_str()).collect();
    assert_eq!(reasons, ["Manual", "CanaryPauseStep"]);
}

fn allowed(info: &RolloutInfo) -> Vec<String> {
    info.actions
        .iter()
        .filter(|a| a.allowed)
        .map(|a| {
            serde_json::to_value(a.action)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn actions_follow_argo_rules_plus_pause_resume_rollback() {
    let info = seed_info(20);
    assert_eq!(
        allowed(&info),
        [
            "promote",
            "promoteFull",
            "abort",
            "restart",
            "pause",
            "setImage",
            "rollback"
        ]
    );
    let retry = info.actions.iter().find(|a| !a.allowed).unwrap();
    assert_eq!(
        retry.reason.as_deref(),
        Some("only a Degraded rollout can be retried; this one is Paused")
    );

    let degraded =
        Objects::load_dir(&fixture("argo-info/canary")).info("jesse-test", "canary-demo");
    assert_eq!(
        allowed(&degraded),
        ["retry", "restart", "pause", "setImage", "rollback"]
    );

    let mut objs = seed_at_pause(20);
    objs.rollouts[0].spec.as_mut().unwrap().paused = Some(true);
    let info = objs.info("manifest-gen", "manifest-gen");
    assert!(allowed(&info).contains(&"resume".to_string()));
    assert!(!allowed(&info).contains(&"pause".to_string()));
}

#[test]
fn json_uses_argo_names_and_omits_empty_values() {
    let info = Objects::load_dir(&fixture("argo-info/canary")).info("jesse-test", "canary-demo");
    let v = serde_json::to_value(&info).unwrap();
    assert_eq!(v["objectMeta"]["name"], "canary-demo");
    assert_eq!(v["objectMeta"]["generation"], 429);
    assert_eq!(v["objectMeta"]["creationTimestamp"], "2019-10-25T06:07:18Z");
    assert_eq!(v["setWeight"], "20");
    assert_eq!(v["actualWeight"], "0");
    assert_eq!(v["step"], "0/8");
    assert_eq!(v["steps"][1], json!({"pause": {}}));
    assert_eq!(v["steps"][3], json!({"pause": {"duration": "10s"}}));
    assert_eq!(v["replicaSets"][0]["revision"], 31);
    assert_eq!(v["replicaSets"][0]["canary"], true);
    // omitempty: false flags, zero counts and empty lists are absent.
    assert!(v["replicaSets"][0].get("stable").is_none());
    assert!(v["replicaSets"][2].get("replicas").is_none());
    assert!(v["replicaSets"][2].get("pods").is_none());
    assert!(v.get("analysisRuns").is_none());
    assert!(v.get("initContainers").is_none());
    assert_eq!(v["replicaSets"][0]["pods"][0]["ready"], "0/1");
    assert!(v["replicaSets"][0]["pods"][0].get("restarts").is_none());
}
