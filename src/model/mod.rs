//! The Kubernetes objects as this program reads them.
//!
//! Hand-written serde types that hold only what the dashboard uses. Every field
//! is optional (a `null` or missing field is `None`), unknown fields are
//! ignored, so objects written by any controller version deserialize. The
//! `info/` layer applies Kubernetes' defaults where it reads them.

mod analysis;
mod de;
mod deployment;
mod documents;
mod event;
mod experiment;
mod gateway;
mod ingress;
mod istio;
mod key;
mod pod;
mod pod_template;
mod replicaset;
mod resource;
mod rollout;

pub use analysis::{
    AnalysisRun, AnalysisRunSpecView, AnalysisRunStatusView, Measurement, MetricResult, MetricSpec,
};
pub use deployment::{Deployment, DeploymentSpec};
pub use documents::{DocumentError, parse_yaml_documents};
pub use event::{Event, InvolvedObject};
pub use experiment::{Experiment, ExperimentStatus};
pub use gateway::{
    BackendRef, GATEWAY_GROUP, GatewayRoute, GatewayRouteSpec, RouteKind, RouteRule,
};
pub use ingress::{Ingress, IngressSpec};
pub use istio::{
    DestinationRule, DestinationRuleSpec, HttpRoute, IstioDestination, RouteDestination, Subset,
    TcpRoute, TlsRoute, VirtualService, VirtualServiceSpec,
};
pub use key::{ObjectKey, RolloutKey};
pub use pod::{
    ContainerState, ContainerStatus, Pod, PodContainer, PodSpec, PodStatus, StateTerminated,
    StateWaiting,
};
pub use pod_template::{Container, PodTemplate, PodTemplateSpec};
pub use replicaset::{
    ReplicaSet, ReplicaSetCondition, ReplicaSetSpec, ReplicaSetStatus,
    SCALE_DOWN_DEADLINE_ANNOTATION, TEMPLATE_NAME_ANNOTATION,
};
pub use rollout::*;

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
pub use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Label that carries a ReplicaSet's (and its pods') pod template hash.
pub const POD_TEMPLATE_HASH_LABEL: &str = "rollouts-pod-template-hash";
/// Annotation with the rollout revision of a ReplicaSet, AnalysisRun or Experiment.
pub const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";

/// True when any owner reference of `meta` (controller or not) has `uid`.
pub fn is_owned_by(meta: &ObjectMeta, uid: &str) -> bool {
    !uid.is_empty()
        && meta
            .owner_references
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|o| o.uid == uid)
}

/// The `rollout.argoproj.io/revision` annotation as a number; 0 when missing
/// or not a number (as Argo does).
pub fn revision_of(meta: &ObjectMeta) -> i64 {
    revision_number(
        meta.annotations
            .as_ref()
            .and_then(|a| a.get(REVISION_ANNOTATION))
            .map(String::as_str),
    )
}

/// A revision annotation's value as a number; 0 when missing or not a
/// number (as Argo does).
pub fn revision_number(value: Option<&str>) -> i64 {
    value.and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Whether `s` is a namespace name (see `namespace_name`), without making
/// an error text: paths are checked on every request.
pub fn is_namespace_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A namespace is a DNS-1123 label: lowercase alphanumerics and '-', at most
/// 63 characters, starting and ending with an alphanumeric.
pub fn namespace_name(s: &str) -> Result<String, String> {
    if is_namespace_name(s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a namespace name (lowercase letters, digits and '-', at most 63)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kube_api_urls_come_from_the_resource_impls() {
        use kube::Resource;
        assert_eq!(
            Rollout::url_path(&(), Some("team-a")),
            "/apis/argoproj.io/v1alpha1/namespaces/team-a/rollouts"
        );
        assert_eq!(Pod::url_path(&(), None), "/api/v1/pods");
        assert_eq!(
            VirtualService::url_path(&(), Some("n")),
            "/apis/networking.istio.io/v1/namespaces/n/virtualservices"
        );
        assert_eq!(
            <AnalysisRun as k8s_openapi::ListableResource>::LIST_KIND,
            "AnalysisRunList"
        );
    }

    #[test]
    fn crd_quirks_are_read_as_written() {
        let ro: Rollout = serde_json::from_value(json!({
            "status": {"HPAReplicas": 6, "observedGeneration": "429", "stableRS": "abc",
                       "unknownField": {"ignored": true}},
            "spec": {"strategy": {"canary": {"maxSurge": "25%", "steps": [{"pause": {"duration": 30}}]}}}
        }))
        .unwrap();
        let status = ro.status.as_ref().unwrap();
        assert_eq!(status.hpa_replicas, Some(6));
        assert_eq!(status.observed_generation.as_deref(), Some("429"));
        assert_eq!(ro.status().stable_rs(), "abc");
        let pause = ro.steps()[0].pause.as_ref().unwrap();
        assert_eq!(pause.duration, Some(IntOrString::Int(30)));
        // Old objects store observedGeneration as a number.
        let old: Rollout =
            serde_json::from_value(json!({"status": {"observedGeneration": 7}})).unwrap();
        assert_eq!(old.status().observed_generation(), "7");
        // Nulls read as absent, as in Go.
        let nulls: Rollout = serde_json::from_value(
            json!({"metadata": null, "spec": null, "status": {"pauseConditions": null}}),
        )
        .unwrap();
        assert!(nulls.status().pause_conditions().is_empty());
    }

    #[test]
    fn ownership_and_revision_helpers() {
        let meta: ObjectMeta = serde_json::from_value(json!({
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u1"}],
            "annotations": {"rollout.argoproj.io/revision": "12"}
        }))
        .unwrap();
        assert!(is_owned_by(&meta, "u1"));
        assert!(!is_owned_by(&meta, "u2"));
        assert!(!is_owned_by(&meta, ""));
        assert_eq!(revision_of(&meta), 12);
        assert_eq!(revision_of(&ObjectMeta::default()), 0);
    }
}
