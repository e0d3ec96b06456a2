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

/// The labels Istio names a pod's workload and revision by (kept for
/// observed traffic from a waypoint; ReplicaSets carry their pods' labels).
pub const ISTIO_WORKLOAD_LABELS: [&str; 4] = [
    "service.istio.io/workload-name",
    "service.istio.io/canonical-revision",
    "app.kubernetes.io/version",
    "version",
];

#[derive(Clone, Debug, Default, PartialEq)]
struct Marks {
    hash: Option<String>,
    annotations: Vec<(&'static str, String)>,
    istio: Vec<(&'static str, String)>,
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

    /// Its `ISTIO_WORKLOAD_LABELS` that are set.
    pub fn istio_labels(&self) -> std::collections::BTreeMap<String, String> {
        match &self.marks {
            Some(m) => m
                .istio
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            None => self
                .metadata
                .labels
                .iter()
                .flatten()
                .filter(|(k, _)| ISTIO_WORKLOAD_LABELS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
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
        let mut labels = self.metadata.labels.take().unwrap_or_default();
        let marks = Marks {
            istio: ISTIO_WORKLOAD_LABELS
                .iter()
                .filter_map(|k| labels.remove(*k).map(|v| (*k, v)))
                .collect(),
            hash: labels.remove(POD_TEMPLATE_HASH_LABEL),
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
