//! AnalysisRuns and Experiments of a rollout (reference §2.9, §2.10).

use crate::common;

use common::Objects;
use serde_json::json;

fn rollout_with_runs() -> Objects {
    let mut objs = Objects::default();
    objs.add(
        json!({"kind": "Rollout", "metadata": {"name": "r", "namespace": "ns", "uid": "ro"},
                    "spec": {"strategy": {"canary": {"steps": [{"analysis": {}}]}}}}),
    );
    let owned = |name: &str, rev: &str, created: &str| {
        json!({
            "name": name, "namespace": "ns", "uid": name, "creationTimestamp": created,
            "annotations": {"rollout.argoproj.io/revision": rev},
            "ownerReferences": [{"uid": "ro"}]
        })
    };
    objs.add(json!({
        "kind": "AnalysisRun", "metadata": owned("r-2-1", "2", "2024-01-02T00:00:00Z"),
        "spec": {"metrics": [
            {"name": "success-rate", "successCondition": "result[0] >= 0.95", "count": 3,
             "failureLimit": "1", "inconclusiveLimit": 2, "provider": {"prometheus": {"query": "q"}}},
            {"name": "job", "provider": {"job": {}}}
        ]},
        "status": {"phase": "Failed", "metricResults": [
            {"name": "success-rate", "phase": "Failed", "successful": 1, "failed": 2,
             "measurements": [
                {"phase": "Successful", "value": "[0.99]", "startedAt": "2024-01-02T00:01:00Z"},
                {"phase": "Failed", "value": "[0.5]", "startedAt": "2024-01-02T00:02:00Z", "metadata": {}}
             ]},
            {"name": "job", "phase": "Error", "error": 1, "inconclusive": 1, "measurements": [
                {"phase": "Error", "startedAt": "2024-01-02T00:03:00Z",
                 "metadata": {"job-name": "r-2-1-job", "job-namespace": "jobs"}},
                {"phase": "Running", "metadata": {"job-name": "r-2-1-job2"}}
            ]}
        ]}
    }));
    objs.add(
        json!({"kind": "AnalysisRun", "metadata": owned("r-1-a", "1", "2024-01-01T00:00:00Z"),
                    "status": {"phase": "Successful"}}),
    );
    objs.add(
        json!({"kind": "AnalysisRun", "metadata": owned("r-2-0", "2", "2024-01-01T00:00:00Z"),
                    "status": {"phase": "Running"}}),
    );
    objs.add(
        json!({"kind": "AnalysisRun", "metadata": owned("r-2-z", "2", "2024-01-01T00:00:00Z"),
                    "status": {"phase": "Pending"}}),
    );
    objs.add(
        json!({"kind": "AnalysisRun", "metadata": {"name": "someone-else", "namespace": "ns",
                    "ownerReferences": [{"uid": "other"}]}}),
    );
    objs
}

#[test]
fn runs_are_counted_and_sorted_like_argo() {
    let info = rollout_with_runs().info("ns", "r");
    let order: Vec<(&str, &str, &str)> = info
        .analysis_runs
        .iter()
        .map(|a| {
            (
                a.object_meta.name.as_str(),
                a.status.as_str(),
                a.icon.as_str(),
            )
        })
        .collect();
    // Revision descending, then oldest first, then name descending.
    assert_eq!(
        order,
        [
            ("r-2-z", "Pending", "◷"),
            ("r-2-0", "Running", "◌"),
            ("r-2-1", "Failed", "✖"),
            ("r-1-a", "Successful", "✔")
        ]
    );
    let run = &info.analysis_runs[2];
    assert_eq!(
        (run.successful, run.failed, run.inconclusive, run.error),
        (1, 2, 1, 1)
    );
    assert_eq!(run.revision, 2);
}

#[test]
fn metrics_take_integer_limits_only() {
    let info = rollout_with_runs().info("ns", "r");
    let m = &info.analysis_runs[2].metrics;
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].name, "success-rate");
    assert_eq!(m[0].success_condition, "result[0] >= 0.95");
    assert_eq!(
        (m[0].count, m[0].failure_limit, m[0].inconclusive_limit),
        (3, 0, 2)
    );
}

#[test]
fn measurements_split_into_jobs_and_non_jobs() {
    let info = rollout_with_runs().info("ns", "r");
    let run = &info.analysis_runs[2];
    // Only the measurement without metadata is a non-job result.
    assert_eq!(run.non_job_info.len(), 1);
    assert_eq!(run.non_job_info[0].value, "[0.99]");
    assert_eq!(run.non_job_info[0].metric_name, "success-rate");
    assert_eq!(
        run.non_job_info[0].started_at.as_deref(),
        Some("2024-01-02T00:01:00Z")
    );
    let jobs: Vec<(&str, &str, &str, &str)> = run
        .jobs
        .iter()
        .map(|j| {
            (
                j.object_meta.name.as_str(),
                j.object_meta.namespace.as_str(),
                j.status.as_str(),
                j.icon.as_str(),
            )
        })
        .collect();
    assert_eq!(
        jobs,
        [
            ("r-2-1-job", "jobs", "Error", "⚠"),
            ("r-2-1-job2", "ns", "Running", "◌")
        ]
    );
    assert_eq!(
        run.jobs[0].object_meta.creation_timestamp.as_deref(),
        Some("2024-01-02T00:03:00Z")
    );
    // The full spec and status are served as they are.
    let sas = run.spec_and_status.as_ref().unwrap();
    assert_eq!(
        sas.spec.as_ref().unwrap()["metrics"][0]["provider"]["prometheus"]["query"],
        "q"
    );
}

#[test]
fn experiments_carry_their_replica_sets_and_runs() {
    let mut objs = rollout_with_runs();
    objs.add(json!({"kind": "Experiment", "metadata": {"name": "exp-1", "namespace": "ns", "uid": "exp",
                    "annotations": {"rollout.argoproj.io/revision": "2"}, "ownerReferences": [{"uid": "ro"}]},
                    "status": {"phase": "Running", "message": "waiting"}}));
    objs.add(json!({"kind": "ReplicaSet", "metadata": {"name": "exp-1-baseline", "namespace": "ns", "uid": "ers",
                    "annotations": {"experiment.argoproj.io/template-name": "baseline"},
                    "labels": {"rollouts-pod-template-hash": "h"},
                    "ownerReferences": [{"uid": "exp"}]},
                    "spec": {"replicas": 1}, "status": {"replicas": 1, "availableReplicas": 1}}));
    objs.add(
        json!({"kind": "AnalysisRun", "metadata": {"name": "exp-1-run", "namespace": "ns",
                    "ownerReferences": [{"uid": "exp"}]}, "status": {"phase": "Inconclusive"}}),
    );
    let info = objs.info("ns", "r");
    assert_eq!(info.experiments.len(), 1);
    let e = &info.experiments[0];
    assert_eq!(
        (
            e.status.as_str(),
            e.message.as_str(),
            e.icon.as_str(),
            e.revision
        ),
        ("Running", "waiting", "◌", 2)
    );
    assert_eq!(e.replica_sets.len(), 1);
    assert_eq!(e.replica_sets[0].template, "baseline");
    assert!(!e.replica_sets[0].stable && !e.replica_sets[0].canary);
    assert_eq!(e.analysis_runs.len(), 1);
    assert_eq!(e.analysis_runs[0].icon, "?");
    // Experiment-owned ReplicaSets are not the rollout's own.
    assert!(info.replica_sets.is_empty());
}
