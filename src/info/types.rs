//! The RolloutInfo view model, serialised exactly like Argo's dashboard API
//! (its protobuf JSON): lowerCamelCase names, every field `omitempty`
//! (zero numbers, `false`, empty strings and lists are absent), int64 numbers
//! as JSON numbers, times as RFC3339 UTC seconds. Fields Argo does not have are
//! added at the end; Argo clients ignore them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::available::ActionState;
use crate::model::CanaryStep;

pub(crate) fn is_zero_i32(v: &i32) -> bool {
    *v == 0
}
pub(crate) fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
pub(crate) fn is_false(v: &bool) -> bool {
    !*v
}

/// Argo's trimmed `ObjectMeta`. `creationTimestamp` is a struct in Go, so
/// `omitempty` never drops it: a missing time is `null`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct InfoMeta {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub generation: i64,
    /// RFC3339 UTC seconds, or `null`.
    pub creation_timestamp: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct RolloutInfo {
    pub object_meta: InfoMeta,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub strategy: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub step: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub set_weight: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub actual_weight: String,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub ready: i32,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub current: i32,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub desired: i32,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub updated: i32,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub available: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub restarted_at: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub generation: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replica_sets: Vec<ReplicaSetInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub experiments: Vec<ExperimentInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub analysis_runs: Vec<AnalysisRunInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<CanaryStep>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<ContainerInfo>,

    // ---- beyond Argo ----
    /// The rollout's current revision (annotation), for people and for
    /// "act on what you saw" checks.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub revision: i64,
    /// `status.currentPodHash` as the page saw it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod_hash: String,
    /// `status.currentStepIndex` as a number (`step` keeps Argo's text form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_index: Option<i32>,
    /// Every action, whether it applies now, and why not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionState>,
    /// What the rollout waits for, since when, and until when.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pauses: Vec<PauseInfo>,
    /// The split as Istio has it now, next to the controller's target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<TrafficSplit>,
    /// What each step plugin's calls reported (`status.canary.stepPluginStatuses`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub step_plugin_statuses: Vec<crate::model::StepPluginStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetInfo {
    pub object_meta: InfoMeta,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub revision: i64,
    #[serde(skip_serializing_if = "is_false")]
    pub stable: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub canary: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub active: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub preview: bool,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub replicas: i32,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub available: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub template: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scale_down_deadline: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<PodInfo>,
    #[serde(skip_serializing_if = "is_false")]
    pub ping: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub pong: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_container_images: Vec<String>,
    // ---- beyond Argo ----
    /// The `rollouts-pod-template-hash` label.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod_template_hash: String,
    /// Beyond Argo: the labels of its pods Istio names their workload and
    /// revision by (`model::ISTIO_WORKLOAD_LABELS`), when set.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub istio_labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct PodInfo {
    pub object_meta: InfoMeta,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ready: String,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub restarts: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentInfo {
    pub object_meta: InfoMeta,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub revision: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replica_sets: Vec<ReplicaSetInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub analysis_runs: Vec<AnalysisRunInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunInfo {
    pub object_meta: InfoMeta,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub revision: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub successful: i32,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub failed: i32,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub inconclusive: i32,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub error: i32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_job_info: Vec<NonJobInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_and_status: Option<SpecAndStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpecAndStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct JobInfo {
    pub object_meta: InfoMeta,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub icon: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metric_name: String,
    /// A `*metav1.Time` in Go: absent when nil.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct NonJobInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metric_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct MetricInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub success_condition: String,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub count: i32,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub inconclusive_limit: i32,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub failure_limit: i32,
}

/// One reason the rollout is paused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct PauseInfo {
    /// `Manual` (spec.paused), or the pause condition's reason:
    /// `CanaryPauseStep`, `BlueGreenPause`, `InconclusiveAnalysisRun`,
    /// `InconclusiveExperiment`.
    pub reason: String,
    /// When the pause began (RFC3339), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// When a timed pause ends by itself (RFC3339); absent for pauses that
    /// wait for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// What ends it, in words.
    pub waits_for: String,
}

/// The traffic split as the Istio objects have it now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSplit {
    /// The canary weight the controller is steering to now.
    pub desired_canary_weight: i32,
    /// `maxTrafficWeight` (100 unless set).
    pub max_weight: i32,
    /// The canary and stable weights of the first route found, for a bar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_weight: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_weight: Option<i32>,
    /// True when every route found has the desired weights.
    pub matches_desired: bool,
    pub virtual_services: Vec<VirtualServiceSplit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_rule: Option<DestinationRuleSubsets>,
    /// Where the split above was read: `istio`, `nginx`, `alb` or
    /// `gatewayAPI` (the first router configured whose object was found).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub router: String,
    /// Every router configured, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routers: Vec<String>,
    /// The NGINX, ALB and Gateway API objects, each as its router has it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub router_objects: Vec<RouterObjectSplit>,
}

/// One router object other than Istio's (an NGINX canary Ingress, an
/// Ingress with ALB actions, a Gateway API route) as the router has it now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct RouterObjectSplit {
    /// `nginx`, `alb` or `gatewayAPI`.
    pub router: String,
    /// `Ingress`, `HTTPRoute`, `GRPCRoute`, `TCPRoute` or `TLSRoute`.
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub found: bool,
    /// Why its split cannot be read (a warning; the rest still shows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per rule: each backend's weight and role.
    pub rules: Vec<RouteSplit>,
    /// Requests sent to the canary whatever the weight (by header, cookie
    /// or an injected rule), in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub header_routes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSplit {
    pub name: String,
    pub namespace: String,
    pub found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub routes: Vec<RouteSplit>,
    /// The rollout's managed routes found here (setHeaderRoute,
    /// setMirrorRoute), in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub managed_routes: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct RouteSplit {
    /// The route's name ("" for an unnamed route).
    pub name: String,
    /// `http`, `tls` or `tcp`.
    pub protocol: String,
    pub destinations: Vec<DestinationWeight>,
    pub canary_weight: i32,
    pub stable_weight: i32,
    pub matches_desired: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct DestinationWeight {
    pub host: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subset: String,
    pub weight: i32,
    /// `canary`, `stable` or `other`.
    pub role: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleSubsets {
    pub name: String,
    pub namespace: String,
    pub found: bool,
    /// Subset name → the pod template hash it selects ("" when none).
    pub subsets: Vec<SubsetHash>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
pub struct SubsetHash {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod_template_hash: String,
    /// `canary`, `stable` or `other`.
    pub role: String,
}
