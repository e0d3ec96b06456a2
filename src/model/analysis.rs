//! `argoproj.io/v1alpha1` AnalysisRun: phase, message, metrics and their measurements.
//!
//! `spec` and `status` are kept as JSON: the JSON API re-serves them whole
//! (`specAndStatus`), and metric providers carry arbitrary structures. The
//! typed views below read the parts the dashboard interprets, borrowing from
//! that JSON without copying it.

use serde::Deserialize;
use serde_json::Value;

use super::de;
use super::resource::namespaced_resource;
use super::{IntOrString, ObjectMeta, Time};

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct AnalysisRun {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<Value>,
    pub status: Option<Value>,
}
namespaced_resource!(
    AnalysisRun,
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "AnalysisRun",
    plural = "analysisruns"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct AnalysisRunSpecView {
    pub metrics: Option<Vec<MetricSpec>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricSpec {
    pub name: Option<String>,
    pub success_condition: Option<String>,
    pub failure_condition: Option<String>,
    pub count: Option<IntOrString>,
    pub inconclusive_limit: Option<IntOrString>,
    pub failure_limit: Option<IntOrString>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStatusView {
    pub phase: Option<String>,
    pub message: Option<String>,
    pub metric_results: Option<Vec<MetricResult>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    pub name: Option<String>,
    pub phase: Option<String>,
    pub measurements: Option<Vec<Measurement>>,
    pub successful: Option<i32>,
    pub failed: Option<i32>,
    pub inconclusive: Option<i32>,
    pub error: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    pub phase: Option<String>,
    pub value: Option<String>,
    pub started_at: Option<Time>,
    pub finished_at: Option<Time>,
    /// `None` and `Some(empty)` differ: Argo lists a measurement as a
    /// non-job result only when its metadata is absent.
    pub metadata: Option<std::collections::BTreeMap<String, String>>,
}

impl AnalysisRun {
    /// The typed view of `spec`; a spec of the wrong shape reads as empty.
    pub fn spec_view(&self) -> AnalysisRunSpecView {
        self.spec
            .as_ref()
            .and_then(|v| AnalysisRunSpecView::deserialize(v).ok())
            .unwrap_or_default()
    }

    /// The typed view of `status`; a status of the wrong shape reads as empty.
    pub fn status_view(&self) -> AnalysisRunStatusView {
        self.status
            .as_ref()
            .and_then(|v| AnalysisRunStatusView::deserialize(v).ok())
            .unwrap_or_default()
    }
}
