//! `argoproj.io/v1alpha1` Experiment: phase and message (reference §2.10).

use serde::{Deserialize, Serialize};

use super::ObjectMeta;
use super::de;
use super::resource::namespaced_resource;

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct Experiment {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ExperimentStatus>,
}
namespaced_resource!(
    Experiment,
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Experiment",
    plural = "experiments"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct ExperimentStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
