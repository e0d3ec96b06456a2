//! A slim `apps/v1` ReplicaSet: what the revision list shows.

use serde::Deserialize;

use super::de;
use super::resource::namespaced_resource;
use super::{
    ObjectMeta, POD_TEMPLATE_HASH_LABEL, PodTemplate, REVISION_ANNOTATION, revision_number,
};

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ReplicaSet {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<ReplicaSetSpec>,
    pub status: Option<ReplicaSetStatus>,
    /// What is read of its labels and annotations, once `slim` has dropped
    /// the maps (two maps were about 1 KB per ReplicaSet).
    #[serde(skip)]
    marks: Option<Box<Marks>>,
}

/// The annotations the dashboard reads of a ReplicaSet.
pub const TEMPLATE_NAME_ANNOTATION: &str = "experiment.argoproj.io/template-name";
pub const SCALE_DOWN_DEADLINE_ANNOTATION: &str = "scale-down-deadline";
const READ_ANNOTATIONS: [&str; 3] = [
    REVISION_ANNOTATION,
    TEMPLATE_NAME_ANNOTATION,
    SCALE_DOWN_DEADLINE_ANNOTATION,
];

#[derive(Clone, Debug, Default, PartialEq)]
struct Marks {
    hash: Option<String>,
    annotations: Vec<(&'static str, String)>,
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
        match &self.marks {
            Some(m) => m.hash.as_deref(),
            None => self
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
                .map(String::as_str),
        }
        .unwrap_or_default()
    }

    /// One of the annotations the dashboard reads (`READ_ANNOTATIONS`).
    pub fn annotation(&self, key: &str) -> Option<&str> {
        match &self.marks {
            Some(m) => m
                .annotations
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.as_str()),
            None => self
                .metadata
                .annotations
                .as_ref()?
                .get(key)
                .map(String::as_str),
        }
    }

    /// The rollout revision it belongs to (0 when not a number, as Argo).
    pub fn revision(&self) -> i64 {
        revision_number(self.annotation(REVISION_ANNOTATION))
    }

    /// Keeps only what is read of its labels and annotations.
    pub fn slim(&mut self) {
        if self.marks.is_some() {
            return;
        }
        let marks = Marks {
            hash: self
                .metadata
                .labels
                .take()
                .and_then(|mut l| l.remove(POD_TEMPLATE_HASH_LABEL)),
            annotations: match self.metadata.annotations.take() {
                Some(mut a) => READ_ANNOTATIONS
                    .iter()
                    .filter_map(|k| a.remove(*k).map(|v| (*k, v)))
                    .collect(),
                None => Vec::new(),
            },
        };
        self.marks = Some(Box::new(marks));
    }

    pub fn template(&self) -> Option<&PodTemplate> {
        self.spec.as_ref()?.template.as_ref()
    }
}
