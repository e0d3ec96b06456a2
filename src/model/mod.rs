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
mod experiment;
mod istio;
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
pub use experiment::{Experiment, ExperimentStatus};
pub use istio::{
    DestinationRule, DestinationRuleSpec, HttpRoute, IstioDestination, RouteDestination, Subset,
    TcpRoute, TlsRoute, VirtualService, VirtualServiceSpec,
};
pub use pod::{
    ContainerState, ContainerStatus, Pod, PodContainer, PodSpec, PodStatus, StateTerminated,
    StateWaiting,
};
pub use pod_template::{Container, PodTemplate, PodTemplateSpec};
pub use replicaset::{ReplicaSet, ReplicaSetCondition, ReplicaSetSpec, ReplicaSetStatus};
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
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
