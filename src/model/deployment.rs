//! A slim `apps/v1` Deployment: the pod template a `workloadRef` rollout runs.

use serde::Deserialize;

use super::de;
use super::resource::namespaced_resource;
use super::{ObjectMeta, PodTemplate};

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Deployment {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<DeploymentSpec>,
}
namespaced_resource!(
    Deployment,
    group = "apps",
    version = "v1",
    kind = "Deployment",
    plural = "deployments"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct DeploymentSpec {
    pub replicas: Option<i32>,
    pub template: Option<PodTemplate>,
}
