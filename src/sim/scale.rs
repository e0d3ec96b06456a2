//! `sim --scale N`: N canary rollouts across 10 namespaces, each with a
//! stable and a canary ReplicaSet and 5 pods, whose state keeps changing
//! (step moves, pod readiness flips) so benchmarks have a steady stream of
//! changes that alter what a dashboard card shows. The full controller does
//! not run at this scale; the churn below writes the changes directly.

use super::json::text;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::resources::{self, ResourceType};
use super::store::{Store, Subresource};

pub const NAMESPACES: usize = 10;
const REPLICAS: usize = 5;
const STEPS: usize = 4;

fn rt(plural: &str) -> Option<&'static ResourceType> {
    resources::RESOURCES.iter().find(|r| r.plural == plural)
}

pub fn namespace(i: usize) -> String {
    format!("scale-{}", i % NAMESPACES)
}

pub fn rollout_name(i: usize) -> String {
    format!("app-{i:05}")
}

/// Creates the N rollouts and their ReplicaSets and pods; returns how many
/// objects were created.
pub fn generate(store: &Store, n: usize) -> usize {
    let (Some(ro_rt), Some(rs_rt), Some(pod_rt), Some(ns_rt)) = (
        rt("rollouts"),
        rt("replicasets"),
        rt("pods"),
        rt("namespaces"),
    ) else {
        return 0;
    };
    let mut created = 0;
    let started = store.clock.now_rfc3339();
    let mut ok = |r: Result<_, _>| {
        if r.is_ok() {
            created += 1;
        }
    };
    for i in 0..NAMESPACES.min(n.max(1)) {
        ok(store.create(
            ns_rt,
            "",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace(i)}}),
            true,
        ));
    }
    for i in 0..n {
        let ns = namespace(i);
        let name = rollout_name(i);
        let uid = format!("scale-rollout-{i:08}");
        let (stable, canary) = (format!("s{i:x}"), format!("c{i:x}"));
        let step = i % STEPS;
        ok(store.create(ro_rt, &ns, json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": ns, "uid": uid, "labels": {"app": name, "tier": if i % 3 == 0 { "frontend" } else { "backend" }},
                         "annotations": {"rollout.argoproj.io/revision": "2"}},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": name}},
                "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "30s"}}, {"setWeight": 60}, {"pause": {}}]}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": format!("registry.example/{name}:v2")}]}}},
            "status": rollout_status(step, &stable, &canary)
        }), true));
        for (hash, rev, pods) in [(&stable, "1", REPLICAS - 1), (&canary, "2", 1)] {
            let rs_name = format!("{name}-{hash}");
            let rs_uid = format!("{uid}-{hash}");
            ok(store.create(rs_rt, &ns, json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns, "uid": rs_uid, "generation": 1,
                    "labels": {"app": name, "rollouts-pod-template-hash": hash},
                    "annotations": {"rollout.argoproj.io/revision": rev},
                    "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": name, "uid": uid, "controller": true}]},
                "spec": {"replicas": pods, "template": {"metadata": {"labels": {"app": name, "rollouts-pod-template-hash": hash}},
                    "spec": {"containers": [{"name": "app", "image": format!("registry.example/{name}:v{rev}")}]}}},
                "status": {"replicas": pods, "readyReplicas": pods, "availableReplicas": pods, "observedGeneration": 1}
            }), true));
            for p in 0..pods {
                ok(store.create(pod_rt, &ns, json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("{rs_name}-{p}"), "namespace": ns,
                        "labels": {"app": name, "rollouts-pod-template-hash": hash},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "uid": rs_uid, "controller": true}]},
                    "spec": {"containers": [{"name": "app"}]},
                    "status": pod_status(true, &started)
                }), true));
            }
        }
    }
    created
}

fn rollout_status(step: usize, stable: &str, canary: &str) -> Value {
    let paused = step % 2 == 1;
    let mut s = json!({
        "currentPodHash": canary, "stableRS": stable, "currentStepIndex": step,
        "replicas": REPLICAS, "updatedReplicas": 1, "readyReplicas": REPLICAS, "availableReplicas": REPLICAS,
        "observedGeneration": "1",
        "phase": if paused { "Paused" } else { "Progressing" },
        "message": if paused { "CanaryPauseStep" } else { "waiting for all steps to complete" }
    });
    if paused {
        s["pauseConditions"] =
            json!([{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}]);
        s["controllerPause"] = json!(true);
    }
    s
}

/// A running pod's status as the kubelet writes it: the mesh sends
/// requests only to a pod whose `Ready` condition is true, and
/// kube-state-metrics dates it by `startTime`.
fn pod_status(ready: bool, started: &str) -> Value {
    let condition = if ready { "True" } else { "False" };
    json!({"phase": "Running", "startTime": started,
        "conditions": [{"type": "Ready", "status": condition}],
        "containerStatuses": [{"name": "app", "ready": ready, "restartCount": 0,
        "state": if ready { json!({"running": {}}) } else { json!({"waiting": {"reason": "ContainerCreating"}}) }}]})
}

/// Changes one rollout every `every`, round robin: even ticks move its step
/// (status patch), odd ticks flip its canary pod's readiness.
pub async fn churn(
    store: std::sync::Arc<Store>,
    n: usize,
    every: Duration,
    shutdown: CancellationToken,
) {
    let (Some(ro_rt), Some(pod_rt)) = (rt("rollouts"), rt("pods")) else {
        return;
    };
    if n == 0 {
        return;
    }
    let mut tick = tokio::time::interval(every);
    let mut k: usize = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let i = (k / 2) % n;
        let (ns, name) = (namespace(i), rollout_name(i));
        let result = if k.is_multiple_of(2) {
            store.patch(ro_rt, &ns, &name, Subresource::Status, |o| {
                let step = o
                    .pointer("/status/currentStepIndex")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as usize;
                let stable = text(o, "/status/stableRS");
                let canary = text(o, "/status/currentPodHash");
                o["status"] = rollout_status((step + 1) % STEPS, &stable, &canary);
                Ok(())
            })
        } else {
            let pod = format!("{name}-c{i:x}-0");
            store.patch(pod_rt, &ns, &pod, Subresource::Status, |o| {
                let ready = o
                    .pointer("/status/containerStatuses/0/ready")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let started = text(o, "/status/startTime");
                o["status"] = pod_status(!ready, &started);
                Ok(())
            })
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "scale churn: change skipped");
        }
        k = k.wrapping_add(1);
    }
}
