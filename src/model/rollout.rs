//! `argoproj.io/v1alpha1` Rollout, the fields the dashboard reads (as in the Rollout CRD's schema).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::resource::namespaced_resource;
use std::collections::BTreeMap;

use super::{
    IntOrString, ObjectMeta, PodTemplate, REVISION_ANNOTATION, Time, de, revision_number,
    revision_of,
};

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Rollout {
    #[serde(default, deserialize_with = "de::null_as_default")]
    pub metadata: ObjectMeta,
    pub spec: Option<RolloutSpec>,
    pub status: Option<RolloutStatus>,
    /// Its labels and annotations as lists, once `slim` has taken them out
    /// of `metadata` (a map node each was about 1 KB per rollout).
    #[serde(skip)]
    marks: Option<Box<Marks>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Marks {
    labels: Box<[(String, String)]>,
    annotations: Box<[(String, String)]>,
}

fn to_list(map: Option<BTreeMap<String, String>>) -> Box<[(String, String)]> {
    map.into_iter().flatten().collect()
}
namespaced_resource!(
    Rollout,
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Rollout",
    plural = "rollouts"
);

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    pub replicas: Option<i32>,
    pub template: Option<PodTemplate>,
    pub workload_ref: Option<WorkloadRef>,
    pub paused: Option<bool>,
    pub restart_at: Option<Time>,
    pub progress_deadline_seconds: Option<i32>,
    pub strategy: Option<Strategy>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    // Boxed: a rollout has one of the two, and both inline made every
    // Rollout kilobytes larger than it needs to be.
    pub canary: Option<Box<CanaryStrategy>>,
    pub blue_green: Option<Box<BlueGreenStrategy>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    pub canary_service: Option<String>,
    pub stable_service: Option<String>,
    pub steps: Option<Vec<CanaryStep>>,
    pub traffic_routing: Option<TrafficRouting>,
    pub ping_pong: Option<PingPong>,
    pub analysis: Option<Value>,
    pub dynamic_stable_scale: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PingPong {
    pub ping_service: Option<String>,
    pub pong_service: Option<String>,
}

/// One canary step. Exactly one key is set in a valid object; the structured
/// ones the dashboard does not interpret are kept as JSON so the step list can
/// be shown (and re-served by the API) as the user wrote it (boxed: a step
/// holds one of them, and five inline made each step 216 bytes).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_weight: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<PauseStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Box<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Box<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_canary_scale: Option<SetCanaryScale>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_header_route: Option<Box<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_mirror_route: Option<Box<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Box<Value>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct PauseStep {
    /// Seconds as a number, or a string such as "30", "30s", "5m", "1h".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<IntOrString>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetCanaryScale {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_traffic_weight: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRouting {
    pub max_traffic_weight: Option<i32>,
    pub istio: Option<IstioTrafficRouting>,
    pub nginx: Option<NginxTrafficRouting>,
    pub alb: Option<AlbTrafficRouting>,
    /// Router plugins by name, each with its own configuration.
    pub plugins: Option<BTreeMap<String, serde_json::Value>>,
    pub managed_routes: Option<Vec<ManagedRoute>>,
}

/// The Gateway API plugin's name under `trafficRouting.plugins`.
pub const GATEWAY_API_PLUGIN: &str = "argoproj-labs/gatewayAPI";

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NginxTrafficRouting {
    pub annotation_prefix: Option<String>,
    pub stable_ingress: Option<String>,
    pub stable_ingresses: Option<Vec<String>>,
    pub additional_ingress_annotations: Option<BTreeMap<String, String>>,
}

impl NginxTrafficRouting {
    /// `stableIngress` and `stableIngresses` together.
    pub fn stable_ingress_names(&self) -> Vec<&str> {
        one_and_many(&self.stable_ingress, &self.stable_ingresses)
    }

    pub fn prefix(&self) -> &str {
        prefix_or(&self.annotation_prefix, "nginx.ingress.kubernetes.io")
    }
}

/// A router's single name field and its list field, as one list.
fn one_and_many<'a>(one: &'a Option<String>, many: &'a Option<Vec<String>>) -> Vec<&'a str> {
    one.iter()
        .chain(many.iter().flatten())
        .map(String::as_str)
        .filter(|n| !n.is_empty())
        .collect()
}

/// An annotation prefix, or the router's default when unset or empty.
fn prefix_or<'a>(prefix: &'a Option<String>, default: &'static str) -> &'a str {
    prefix
        .as_deref()
        .filter(|p| !p.is_empty())
        .unwrap_or(default)
}

/// The canary Ingress Argo's controller makes for a stable Ingress:
/// `<rollout>-<stable>-canary`, the first part cut to fit 253 characters.
pub fn nginx_canary_ingress_name(rollout: &str, stable_ingress: &str) -> String {
    const SUFFIX: &str = "-canary";
    let mut base = format!("{rollout}-{stable_ingress}");
    let limit = 253 - SUFFIX.len();
    if base.len() > limit {
        let mut cut = limit;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base.truncate(cut);
    }
    base + SUFFIX
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlbTrafficRouting {
    pub ingress: Option<String>,
    pub ingresses: Option<Vec<String>>,
    pub service_port: Option<i32>,
    pub root_service: Option<String>,
    pub annotation_prefix: Option<String>,
}

impl AlbTrafficRouting {
    /// `ingress` and `ingresses` together.
    pub fn ingress_names(&self) -> Vec<&str> {
        one_and_many(&self.ingress, &self.ingresses)
    }

    pub fn prefix(&self) -> &str {
        prefix_or(&self.annotation_prefix, "alb.ingress.kubernetes.io")
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ManagedRoute {
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioTrafficRouting {
    pub virtual_service: Option<IstioVirtualServiceRef>,
    pub virtual_services: Option<Vec<IstioVirtualServiceRef>>,
    pub destination_rule: Option<IstioDestinationRuleRef>,
}

impl IstioTrafficRouting {
    /// `virtualService` and `virtualServices[]` are mutually exclusive; either
    /// way this lists the referenced VirtualServices.
    pub fn virtual_service_refs(&self) -> Vec<&IstioVirtualServiceRef> {
        self.virtual_service
            .iter()
            .chain(self.virtual_services.iter().flatten())
            .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioVirtualServiceRef {
    pub name: Option<String>,
    pub routes: Option<Vec<String>>,
    pub tls_routes: Option<Vec<TlsRouteRef>>,
    pub tcp_routes: Option<Vec<TcpRouteRef>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRouteRef {
    pub port: Option<i64>,
    pub sni_hosts: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TcpRouteRef {
    pub port: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioDestinationRuleRef {
    pub name: Option<String>,
    pub canary_subset_name: Option<String>,
    pub stable_subset_name: Option<String>,
    pub additional_subset_names: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    pub active_service: Option<String>,
    pub preview_service: Option<String>,
    pub auto_promotion_enabled: Option<bool>,
    pub auto_promotion_seconds: Option<i32>,
    pub pre_promotion_analysis: Option<Value>,
    pub post_promotion_analysis: Option<Value>,
    pub scale_down_delay_seconds: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    pub abort: Option<bool>,
    pub pause_conditions: Option<Vec<PauseCondition>>,
    pub controller_pause: Option<bool>,
    pub aborted_at: Option<Time>,
    pub current_pod_hash: Option<String>,
    pub current_step_hash: Option<String>,
    pub current_step_index: Option<i32>,
    #[serde(rename = "stableRS")]
    pub stable_rs: Option<String>,
    pub replicas: Option<i32>,
    pub updated_replicas: Option<i32>,
    pub ready_replicas: Option<i32>,
    pub available_replicas: Option<i32>,
    #[serde(
        default,
        rename = "HPAReplicas",
        skip_serializing_if = "Option::is_none"
    )]
    pub hpa_replicas: Option<i32>,
    pub selector: Option<String>,
    /// A string in the CRD (e.g. `"7"`); a hash in v0.9 controllers.
    #[serde(default, deserialize_with = "de::string_or_number")]
    pub observed_generation: Option<String>,
    pub restarted_at: Option<Time>,
    pub promote_full: Option<bool>,
    pub phase: Option<String>,
    pub message: Option<String>,
    pub conditions: Option<Vec<RolloutCondition>>,
    pub canary: Option<Box<CanaryStatus>>,
    pub blue_green: Option<Box<BlueGreenStatus>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseCondition {
    pub reason: Option<String>,
    pub start_time: Option<Time>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutCondition {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_update_time: Option<Time>,
    pub last_transition_time: Option<Time>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    pub current_step_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    pub current_background_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    pub current_experiment: Option<String>,
    pub weights: Option<TrafficWeights>,
    pub stable_ping_pong: Option<String>,
    pub step_plugin_statuses: Option<Vec<StepPluginStatus>>,
}

/// One call of a step plugin, as the controller records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StepPluginStatus {
    pub index: i32,
    pub name: String,
    pub operation: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phase: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisRunStatus {
    pub name: Option<String>,
    pub status: Option<String>,
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficWeights {
    pub canary: Option<WeightDestination>,
    pub stable: Option<WeightDestination>,
    pub additional: Option<Vec<WeightDestination>>,
    pub verified: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightDestination {
    pub weight: Option<i32>,
    pub service_name: Option<String>,
    pub pod_template_hash: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    pub preview_selector: Option<String>,
    pub active_selector: Option<String>,
    pub pre_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    pub post_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
}

/// Accessors that apply the defaults Argo applies when it reads these fields.
impl Rollout {
    /// Keeps its labels and annotations as lists instead of maps.
    pub fn slim(&mut self) {
        if self.marks.is_none() {
            self.marks = Some(Box::new(Marks {
                labels: to_list(self.metadata.labels.take()),
                annotations: to_list(self.metadata.annotations.take()),
            }));
        }
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        match &self.marks {
            Some(m) => m.labels.iter().cloned().collect(),
            None => self.metadata.labels.clone().unwrap_or_default(),
        }
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        match &self.marks {
            Some(m) => m.annotations.iter().cloned().collect(),
            None => self.metadata.annotations.clone().unwrap_or_default(),
        }
    }

    /// The `rollout.argoproj.io/revision` annotation (0 when not a number).
    pub fn revision(&self) -> i64 {
        match &self.marks {
            Some(m) => revision_number(
                m.annotations
                    .iter()
                    .find(|(k, _)| k == REVISION_ANNOTATION)
                    .map(|(_, v)| v.as_str()),
            ),
            None => revision_of(&self.metadata),
        }
    }

    pub fn spec(&self) -> &RolloutSpec {
        static EMPTY: RolloutSpec = RolloutSpec {
            replicas: None,
            template: None,
            workload_ref: None,
            paused: None,
            restart_at: None,
            progress_deadline_seconds: None,
            strategy: None,
        };
        self.spec.as_ref().unwrap_or(&EMPTY)
    }

    pub fn status(&self) -> RolloutStatusRef<'_> {
        RolloutStatusRef(self.status.as_ref())
    }

    pub fn canary(&self) -> Option<&CanaryStrategy> {
        self.spec().strategy.as_ref()?.canary.as_deref()
    }

    pub fn blue_green(&self) -> Option<&BlueGreenStrategy> {
        self.spec().strategy.as_ref()?.blue_green.as_deref()
    }

    /// `spec.replicas`, defaulting to 1.
    pub fn desired_replicas(&self) -> i32 {
        self.spec().replicas.unwrap_or(1)
    }

    pub fn steps(&self) -> &[CanaryStep] {
        self.canary()
            .and_then(|c| c.steps.as_deref())
            .unwrap_or_default()
    }

    pub fn traffic_routing(&self) -> Option<&TrafficRouting> {
        self.canary()?.traffic_routing.as_ref()
    }

    /// `trafficRouting.maxTrafficWeight`, or 100.
    pub fn max_traffic_weight(&self) -> i32 {
        self.traffic_routing()
            .and_then(|t| t.max_traffic_weight)
            .unwrap_or(100)
    }

    pub fn is_paused_by_spec(&self) -> bool {
        self.spec().paused.unwrap_or(false)
    }
}

/// A view of `status` in which every missing field reads as Go's zero value.
#[derive(Clone, Copy, Debug)]
pub struct RolloutStatusRef<'a>(pub Option<&'a RolloutStatus>);

impl<'a> RolloutStatusRef<'a> {
    pub fn raw(self) -> Option<&'a RolloutStatus> {
        self.0
    }
    pub fn abort(self) -> bool {
        self.0.and_then(|s| s.abort).unwrap_or(false)
    }
    pub fn controller_pause(self) -> bool {
        self.0.and_then(|s| s.controller_pause).unwrap_or(false)
    }
    pub fn promote_full(self) -> bool {
        self.0.and_then(|s| s.promote_full).unwrap_or(false)
    }
    pub fn pause_conditions(self) -> &'a [PauseCondition] {
        self.0
            .and_then(|s| s.pause_conditions.as_deref())
            .unwrap_or_default()
    }
    pub fn conditions(self) -> &'a [RolloutCondition] {
        self.0
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default()
    }
    pub fn current_step_index(self) -> Option<i32> {
        self.0.and_then(|s| s.current_step_index)
    }
    pub fn current_pod_hash(self) -> &'a str {
        self.0
            .and_then(|s| s.current_pod_hash.as_deref())
            .unwrap_or_default()
    }
    pub fn stable_rs(self) -> &'a str {
        self.0
            .and_then(|s| s.stable_rs.as_deref())
            .unwrap_or_default()
    }
    pub fn replicas(self) -> i32 {
        self.0.and_then(|s| s.replicas).unwrap_or(0)
    }
    pub fn updated_replicas(self) -> i32 {
        self.0.and_then(|s| s.updated_replicas).unwrap_or(0)
    }
    pub fn ready_replicas(self) -> i32 {
        self.0.and_then(|s| s.ready_replicas).unwrap_or(0)
    }
    pub fn available_replicas(self) -> i32 {
        self.0.and_then(|s| s.available_replicas).unwrap_or(0)
    }
    pub fn phase(self) -> &'a str {
        self.0.and_then(|s| s.phase.as_deref()).unwrap_or_default()
    }
    pub fn message(self) -> &'a str {
        self.0
            .and_then(|s| s.message.as_deref())
            .unwrap_or_default()
    }
    pub fn observed_generation(self) -> &'a str {
        self.0
            .and_then(|s| s.observed_generation.as_deref())
            .unwrap_or_default()
    }
    pub fn restarted_at(self) -> Option<&'a Time> {
        self.0.and_then(|s| s.restarted_at.as_ref())
    }
    pub fn canary(self) -> Option<&'a CanaryStatus> {
        self.0.and_then(|s| s.canary.as_deref())
    }
    pub fn blue_green(self) -> Option<&'a BlueGreenStatus> {
        self.0.and_then(|s| s.blue_green.as_deref())
    }
    pub fn weights(self) -> Option<&'a TrafficWeights> {
        self.canary().and_then(|c| c.weights.as_ref())
    }
    pub fn step_plugin_statuses(self) -> &'a [StepPluginStatus] {
        self.canary()
            .and_then(|c| c.step_plugin_statuses.as_deref())
            .unwrap_or_default()
    }
    pub fn stable_ping_pong(self) -> &'a str {
        self.canary()
            .and_then(|c| c.stable_ping_pong.as_deref())
            .unwrap_or_default()
    }
    pub fn active_selector(self) -> &'a str {
        self.blue_green()
            .and_then(|b| b.active_selector.as_deref())
            .unwrap_or_default()
    }
    pub fn preview_selector(self) -> &'a str {
        self.blue_green()
            .and_then(|b| b.preview_selector.as_deref())
            .unwrap_or_default()
    }
}
