//! A slim `apps/v1` ReplicaSet: what the revision list shows.

use serde::Deserialize;

use super::de;
use super::resource::namespaced_resource;
use super::{ObjectMeta, POD_TEMPLATE_HASH_LABEL, PodTemplate};

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ReplicaSet {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<ReplicaSetSpec>,
    pub status: Option<ReplicaSetStatus>,
}
namespaced_resource!(
    ReplicaSet,
    group = "apps",
    version = "v1",
    kind = "ReplicaSet",
    plural = "replicasets"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ReplicaSetSpec {
    pub replicas: Option<i32>,
    pub template: Option<PodTemplate>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetStatus {
    pub replicas: Option<i32>,
    pub available_replicas: Option<i32>,
    pub ready_replicas: Option<i32>,
    pub observed_generation: Option<i64>,
    pub conditions: Option<Vec<ReplicaSetCondition>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ReplicaSetCondition {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub status: Option<String>,
    pub message: Option<String>,
}

impl ReplicaSet {
    /// The `rollouts-pod-template-hash` label, or "".
    pub fn pod_template_hash(&self) -> &str {
        self.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn template(&self) -> Option<&PodTemplate> {
        self.spec.as_ref()?.template.as_ref()
    }
}
