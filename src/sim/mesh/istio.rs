//! How Istio names the workload behind a pod in its metrics, followed from
//! Istio's code (`pkg/kube/util.go: GetWorkloadMetaFromPod`,
//! `pkg/config/labels` canonical service and revision), and whether a pod
//! is in the ambient data plane.

use serde_json::Value;

use crate::sim::json::text;

/// A pod as Istio's telemetry labels it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub canonical_service: String,
    pub canonical_revision: String,
}

fn label<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
}

impl Workload {
    pub fn of(pod: &Value) -> Workload {
        let name = workload_name(pod);
        Workload {
            namespace: text(pod, "/metadata/namespace"),
            canonical_service: [
                "service.istio.io/canonical-name",
                "app.kubernetes.io/name",
                "app",
            ]
            .iter()
            .find_map(|k| label(pod, k))
            .unwrap_or(&name)
            .to_string(),
            canonical_revision: [
                "service.istio.io/canonical-revision",
                "app.kubernetes.io/version",
                "version",
            ]
            .iter()
            .find_map(|k| label(pod, k))
            .unwrap_or("latest")
            .to_string(),
            name,
        }
    }

    /// The `destination_*` labels of Istio's standard metrics.
    pub fn destination_labels(&self) -> String {
        format!(
            "destination_workload=\"{}\",destination_workload_namespace=\"{}\",destination_canonical_service=\"{}\",destination_canonical_revision=\"{}\"",
            self.name, self.namespace, self.canonical_service, self.canonical_revision
        )
    }
}

/// `GetWorkloadMetaFromPod`: the `service.istio.io/workload-name` label if
/// set; else, for a pod with a generated name, its controller's name, with
/// a Deployment's or an Argo Rollout's ReplicaSet trimmed to the owner's
/// name by the hash label it carries, and a CronJob's Job to the CronJob's;
/// else the pod's own name.
fn workload_name(pod: &Value) -> String {
    if let Some(name) = label(pod, "service.istio.io/workload-name") {
        return name.to_string();
    }
    let pod_name = text(pod, "/metadata/name");
    if text(pod, "/metadata/generateName").is_empty() {
        return pod_name;
    }
    let controller = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        });
    let Some(controller) = controller else {
        return pod_name;
    };
    let (kind, owner) = (text(controller, "/kind"), text(controller, "/name"));
    let trimmed = |hash_label: &str| {
        let hash = label(pod, hash_label)?;
        owner.ends_with(hash).then(|| {
            owner
                .strip_suffix(&format!("-{hash}"))
                .unwrap_or(&owner)
                .to_string()
        })
    };
    let name = match kind.as_str() {
        "ReplicaSet" => trimmed("pod-template-hash")
            .or_else(|| trimmed("rollouts-pod-template-hash"))
            .unwrap_or_else(|| owner.clone()),
        "ReplicationController" => label(pod, "deploymentconfig")
            .map(str::to_string)
            .unwrap_or_else(|| owner.clone()),
        "Job" => cron_job_of(&owner).unwrap_or_else(|| owner.clone()),
        _ => owner.clone(),
    };
    if name.is_empty() { pod_name } else { name }
}

/// `(.+)-\d{8,10}$`: a CronJob's Job is named after it and a timestamp.
fn cron_job_of(job: &str) -> Option<String> {
    let (base, stamp) = job.rsplit_once('-')?;
    let digits = (8..=10).contains(&stamp.len()) && stamp.bytes().all(|b| b.is_ascii_digit());
    (digits && !base.is_empty()).then(|| base.to_string())
}

/// `istio.io/dataplane-mode: ambient` on the object (a pod or namespace).
pub fn is_ambient(obj: &Value) -> bool {
    label(obj, "istio.io/dataplane-mode") == Some("ambient")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(labels: Value, owner_kind: &str, owner: &str) -> Value {
        json!({"metadata": {"name": format!("{owner}-x2k4q"), "generateName": format!("{owner}-"),
            "namespace": "manifest-gen", "labels": labels,
            "ownerReferences": [{"kind": owner_kind, "name": owner, "controller": true}]}})
    }

    #[test]
    fn istio_names_argo_pods_after_the_rollout_and_deployment_pods_after_the_deployment() {
        let argo = pod(
            json!({"app": "manifest-gen", "rollouts-pod-template-hash": "6f9c8"}),
            "ReplicaSet",
            "manifest-gen-6f9c8",
        );
        let w = Workload::of(&argo);
        assert_eq!(w.name, "manifest-gen");
        assert_eq!(w.canonical_service, "manifest-gen");
        assert_eq!(w.canonical_revision, "latest");
        let deployment = pod(
            json!({"app": "web", "pod-template-hash": "abc12", "version": "v2"}),
            "ReplicaSet",
            "web-abc12",
        );
        let w = Workload::of(&deployment);
        assert_eq!(
            (w.name.as_str(), w.canonical_revision.as_str()),
            ("web", "v2")
        );
        let bare = pod(json!({"app": "x"}), "ReplicaSet", "x-123");
        assert_eq!(
            Workload::of(&bare).name,
            "x-123",
            "no hash label: the ReplicaSet's own name"
        );
        let cron = pod(json!({}), "Job", "backup-28391040");
        assert_eq!(Workload::of(&cron).name, "backup");
        let named = pod(
            json!({"service.istio.io/workload-name": "custom", "rollouts-pod-template-hash": "h"}),
            "ReplicaSet",
            "r-h",
        );
        assert_eq!(Workload::of(&named).name, "custom");
        let mut fixed = argo.clone();
        fixed["metadata"]["generateName"] = json!(null);
        assert_eq!(Workload::of(&fixed).name, "manifest-gen-6f9c8-x2k4q");
    }
}
