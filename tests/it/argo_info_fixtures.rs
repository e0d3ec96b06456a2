//! Argo's own test objects (`tests/fixtures/argo-info/`) through `info/`:
//! every value of `argo-info/EXPECTED.md`, field by field.

use crate::common;

use common::{Objects, fixture, image_lines};
use rollouts_dashboard::info::RolloutInfo;

fn canary() -> Objects {
    Objects::load_dir(&fixture("argo-info/canary"))
}

fn blue_green() -> Objects {
    Objects::load_dir(&fixture("argo-info/blue-green"))
}

/// One ReplicaSet as the CLI tree shows it: name, status, revision, role
/// flags, and (status, ready) of each pod.
type RsSummary = (
    String,
    String,
    i64,
    Vec<&'static str>,
    Vec<(String, String)>,
);

fn rs_summary(info: &RolloutInfo) -> Vec<RsSummary> {
    info.replica_sets
        .iter()
        .map(|rs| {
            let mut roles = Vec::new();
            for (on, name) in [
                (rs.stable, "stable"),
                (rs.canary, "canary"),
                (rs.active, "active"),
                (rs.preview, "preview"),
                (rs.ping, "ping"),
                (rs.pong, "pong"),
            ] {
                if on {
                    roles.push(name);
                }
            }
            (
                rs.object_meta.name.clone(),
                rs.status.clone(),
                rs.revision,
                roles,
                rs.pods
                    .iter()
                    .map(|p| (p.status.clone(), p.ready.clone()))
                    .collect(),
            )
        })
        .collect()
}

fn pods(status: &str, ready: &str, n: usize) -> Vec<(String, String)> {
    vec![(status.to_string(), ready.to_string()); n]
}

#[test]
fn canary_demo_matches_argo() {
    let info = canary().info("jesse-test", "canary-demo");
    assert_eq!(info.status, "Degraded");
    assert_eq!(
        info.message,
        r#"ProgressDeadlineExceeded: ReplicaSet "canary-demo-65fb5ffc84" has timed out progressing."#
    );
    assert_eq!(info.icon, "✖");
    assert_eq!(info.strategy, "Canary");
    assert_eq!(info.step, "0/8");
    assert_eq!(info.steps.len(), 8);
    assert_eq!(info.set_weight, "20");
    assert_eq!(info.actual_weight, "0");
    assert_eq!(
        (
            info.desired,
            info.current,
            info.updated,
            info.ready,
            info.available
        ),
        (5, 6, 1, 5, 5)
    );
    assert_eq!(
        image_lines(&info),
        [
            "argoproj/rollouts-demo:does-not-exist (canary)",
            "argoproj/rollouts-demo:green (stable)"
        ]
    );
    assert_eq!(
        rs_summary(&info),
        vec![
            (
                "canary-demo-65fb5ffc84".to_string(),
                "Progressing".to_string(),
                31,
                vec!["canary"],
                pods("ImagePullBackOff", "0/1", 1)
            ),
            (
                "canary-demo-877894d5b".to_string(),
                "Healthy".to_string(),
                30,
                vec!["stable"],
                pods("Running", "1/1", 5)
            ),
            (
                "canary-demo-859c99b45c".to_string(),
                "ScaledDown".to_string(),
                29,
                vec![],
                vec![]
            ),
        ]
    );
    let canary_pod = &info.replica_sets[0].pods[0];
    assert_eq!(canary_pod.object_meta.name, "canary-demo-65fb5ffc84-9wf5r");
    assert_eq!(canary_pod.icon, "⚠");
    assert_eq!(info.replica_sets[0].icon, "◌");
    assert_eq!(info.replica_sets[1].icon, "✔");
    assert_eq!(info.replica_sets[2].icon, "•");
    assert_eq!(info.containers.len(), 1);
    assert_eq!(
        info.containers[0].image,
        "argoproj/rollouts-demo:does-not-exist"
    );
    assert_eq!(info.restarted_at, "Never");
    assert_eq!(info.generation, "429");
}

#[test]
fn canary_demo_pingpong_marks_ping_and_pong() {
    let info = canary().info("jesse-test", "canary-demo-pingpong");
    assert_eq!(info.status, "Degraded");
    assert_eq!(info.step, "0/8");
    assert_eq!(info.set_weight, "20");
    assert_eq!(
        image_lines(&info),
        [
            "argoproj/rollouts-demo:does-not-exist (canary, ping)",
            "argoproj/rollouts-demo:green (pong, stable)"
        ]
    );
    let summary = rs_summary(&info);
    assert_eq!(summary[0].3, vec!["canary", "ping"]);
    assert_eq!(summary[1].3, vec!["stable", "pong"]);
    assert_eq!(summary[2].3, Vec::<&str>::new());
}

#[test]
fn canary_demo_weights_takes_actual_weight_from_status() {
    let info = canary().info("jesse-test", "canary-demo-weights");
    assert_eq!(info.actual_weight, "20");
    assert_eq!(info.set_weight, "20");
}

#[test]
fn canary_demo_weights_na_falls_back_to_set_weight() {
    let info = canary().info("jesse-test", "canary-demo-weights-na");
    assert_eq!(info.set_weight, "20");
    assert_eq!(info.actual_weight, info.set_weight);
}

#[test]
fn workload_ref_rollout_takes_containers_from_the_deployment() {
    let objs = canary();
    let info = objs.info("jesse-test", "canary-demo-workloadRef-deploy");
    assert_eq!(info.containers.len(), 1);
    assert_eq!(info.containers[0].name, "canary-demo-deploy");
    assert_eq!(info.containers[0].image, "argoproj/rollouts-demo:red");
    // A workloadRef to a ReplicaSet is looked up among Deployments, as Argo
    // does: none is found, and the rollout has no template of its own.
    let info = objs.info("jesse-test", "canary-demo-workloadRef");
    assert!(info.containers.is_empty());
    // The ReplicaSets are still the rollout's (same uid in these fixtures).
    assert_eq!(info.replica_sets.len(), 3);
}

#[test]
fn bluegreen_demo_matches_argo() {
    let info = blue_green().info("jesse-test", "bluegreen-demo");
    assert_eq!(info.status, "Paused");
    assert_eq!(info.message, "BlueGreenPause");
    assert_eq!(info.icon, "॥");
    assert_eq!(info.strategy, "BlueGreen");
    assert_eq!(info.step, "");
    assert_eq!(info.set_weight, "");
    assert_eq!(info.actual_weight, "");
    assert!(info.steps.is_empty());
    assert_eq!(
        (
            info.desired,
            info.current,
            info.updated,
            info.ready,
            info.available
        ),
        (3, 6, 3, 6, 3)
    );
    assert_eq!(
        image_lines(&info),
        [
            "argoproj/rollouts-demo:blue (active, stable)",
            "argoproj/rollouts-demo:green (preview)"
        ]
    );
    assert_eq!(
        rs_summary(&info),
        vec![
            (
                "bluegreen-demo-74b948fccb".to_string(),
                "Healthy".to_string(),
                11,
                vec!["preview"],
                pods("Running", "1/1", 3)
            ),
            (
                "bluegreen-demo-6cbccd9f99".to_string(),
                "Healthy".to_string(),
                10,
                vec!["stable", "active"],
                pods("Running", "1/1", 3)
            ),
            (
                "bluegreen-demo-746d5fddf6".to_string(),
                "ScaledDown".to_string(),
                8,
                vec![],
                vec![]
            ),
        ]
    );
    // Beyond Argo: the pause is a blue-green pause waiting for a person.
    assert_eq!(info.pauses.len(), 1);
    assert_eq!(info.pauses[0].reason, "BlueGreenPause");
    assert_eq!(
        info.pauses[0].since.as_deref(),
        Some("2019-10-28T04:50:20Z")
    );
    assert_eq!(info.pauses[0].until, None);
}

#[test]
fn pods_are_sorted_oldest_first_then_by_name() {
    let info = canary().info("jesse-test", "canary-demo");
    let stable = &info.replica_sets[1];
    let keys: Vec<(Option<String>, String)> = stable
        .pods
        .iter()
        .map(|p| {
            (
                p.object_meta.creation_timestamp.clone(),
                p.object_meta.name.clone(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.len(), 5);
}

#[test]
fn actual_weight_follows_status_weights_not_set_weight() {
    // In the fixture both are 20; move the controller's weight to tell them apart.
    let mut objs = canary();
    let ro = objs
        .rollouts
        .iter_mut()
        .find(|r| r.metadata.name.as_deref() == Some("canary-demo-weights"))
        .unwrap();
    let weights = ro
        .status
        .as_mut()
        .and_then(|s| s.canary.as_mut())
        .and_then(|c| c.weights.as_mut())
        .unwrap();
    weights.canary.as_mut().unwrap().weight = Some(35);
    let info = objs.info("jesse-test", "canary-demo-weights");
    assert_eq!(info.set_weight, "20");
    assert_eq!(info.actual_weight, "35");
}
