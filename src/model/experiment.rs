//! `argoproj.io/v1alpha1` Experiment: phase and message.

use serde::Deserialize;

use super::ObjectMeta;
use super::de;
use super::resource::namespaced_resource;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Experiment {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<serde_json::Value>,
    pub status: Option<ExperimentStatus>,
}
namespaced_resource!(
    Experiment,
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Experiment",
    plural = "experiments"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ExperimentStatus {
    pub phase: Option<String>,
    pub message: Option<String>,
}
