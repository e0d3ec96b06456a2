//! A slim `apps/v1` ReplicaSet: what the revision list shows.

use serde::{Deserialize, Serialize};

use super::de;
use super::resource::namespaced_resource;
use super::{ObjectMeta, POD_TEMPLATE_HASH_LABEL, PodTemplate};

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct ReplicaSet {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ReplicaSetSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ReplicaSetStatus>,
}
namespaced_resource!(
    ReplicaSet,
    group = "apps",
    version = "v1",
    kind = "ReplicaSet",
    plural = "replicasets"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct ReplicaSetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PodTemplate>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<ReplicaSetCondition>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct ReplicaSetCondition {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
