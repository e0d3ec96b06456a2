//! A slim `apps/v1` Deployment: the pod template a `workloadRef` rollout runs.

use serde::{Deserialize, Serialize};

use super::de;
use super::resource::namespaced_resource;
use super::{ObjectMeta, PodTemplate};

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct Deployment {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<DeploymentSpec>,
}
namespaced_resource!(
    Deployment,
    group = "apps",
    version = "v1",
    kind = "Deployment",
    plural = "deployments"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct DeploymentSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplate>,
}
