//! PURE: objects in, RolloutInfo out. The Argo-compatible view model of a
//! rollout (what `kubectl argo rollouts get` and the dashboard show), plus
//! what Argo lacks: the actions that apply now,
//! the pause state, and the traffic split as Istio has it. No I/O, no clock.

mod analysis;
pub mod attention;
pub mod available;
mod classify;
pub mod compare;
mod compare_usage;
pub mod comparison;
mod events;
mod experiments;
pub mod links;
pub mod logs;
mod meta;
pub mod observed;
mod pods;
mod replicasets;
pub mod routers;
mod special_functions;
pub mod statistics;
mod status;
mod steps;
pub mod template_diff;
mod traffic;
mod types;
pub mod usage;
mod weights;
pub mod words;

pub use analysis::{analysis_icon, analysis_run_info};
pub use events::{EventInfo, recent_events};
pub use meta::{go_time_string, rfc3339};
pub use pods::{PodRecord, pod_icon, pod_info, pod_status};
pub use replicasets::{replica_set_health, replica_set_icon};
pub use status::{
    DEGRADED, HEALTHY, PAUSED, PROGRESSING, calculate_rollout_phase, rollout_icon, rollout_phase,
};
pub use steps::{parse_go_duration, pause_duration, pauses, step_text};
pub use traffic::{IstioRefs, istio_references, traffic_split};
pub use types::*;
pub use weights::{actual_weight, current_step, desired_canary_weight, set_weight};

use crate::model::{
    AnalysisRun, Deployment, DestinationRule, Experiment, GatewayRoute, Ingress, ReplicaSet,
    Rollout, VirtualService, revision_of,
};
use available::availability;

/// Everything RolloutInfo is computed from. The lists may hold a whole
/// namespace: each part selects what the rollout owns (by owner uid) or names.
#[derive(Clone, Copy, Debug)]
pub struct RolloutObjects<'a> {
    pub rollout: &'a Rollout,
    pub replica_sets: &'a [&'a ReplicaSet],
    pub pods: &'a [&'a PodRecord],
    pub analysis_runs: &'a [&'a AnalysisRun],
    pub experiments: &'a [&'a Experiment],
    pub virtual_services: &'a [&'a VirtualService],
    pub destination_rules: &'a [&'a DestinationRule],
    /// NGINX canary Ingresses and ALB Ingresses.
    pub ingresses: &'a [&'a Ingress],
    /// Gateway API routes.
    pub routes: &'a [&'a GatewayRoute],
    /// Candidates for `spec.workloadRef` (looked up by name, as Argo does).
    pub deployments: &'a [&'a Deployment],
}

impl<'a> RolloutObjects<'a> {
    /// Just the rollout; attach related objects with struct update syntax.
    pub fn new(rollout: &'a Rollout) -> Self {
        RolloutObjects {
            rollout,
            replica_sets: &[],
            pods: &[],
            analysis_runs: &[],
            experiments: &[],
            virtual_services: &[],
            destination_rules: &[],
            ingresses: &[],
            routes: &[],
            deployments: &[],
        }
    }
}

/// Computes the RolloutInfo Argo's dashboard would show, and more.
pub fn rollout_info(objs: RolloutObjects<'_>) -> RolloutInfo {
    let ro = objs.rollout;
    let st = ro.status();
    let uid = meta::uid(&ro.metadata);
    let (status, message) = rollout_phase(ro);
    let replica_sets = replicasets::rollout_replica_sets(ro, objs.replica_sets, objs.pods);

    let mut info = RolloutInfo {
        object_meta: InfoMeta {
            labels: ro.labels(),
            annotations: ro.annotations(),
            ..meta::rollout_meta(&ro.metadata)
        },
        icon: rollout_icon(&status).to_string(),
        desired: ro.desired_replicas(),
        ready: st.ready_replicas(),
        current: st.replicas(),
        updated: st.updated_replicas(),
        available: st.available_replicas(),
        restarted_at: st
            .restarted_at()
            .map(go_time_string)
            .unwrap_or_else(|| "Never".to_string()),
        generation: st.observed_generation().to_string(),
        revision: ro.revision(),
        pod_hash: st.current_pod_hash().to_string(),
        step_index: st.current_step_index(),
        step_plugin_statuses: st.step_plugin_statuses().to_vec(),
        ..RolloutInfo::default()
    };

    if ro.canary().is_some() {
        info.strategy = "Canary".to_string();
        let steps = ro.steps();
        if let Some(idx) = st.current_step_index()
            && !steps.is_empty()
        {
            info.step = format!("{idx}/{}", steps.len());
            info.steps = steps.to_vec();
        }
        info.set_weight = set_weight(ro).to_string();
        info.actual_weight = actual_weight(ro, &replica_sets);
        let canary_available = replica_sets
            .iter()
            .find(|r| {
                !r.pod_template_hash.is_empty() && r.pod_template_hash == st.current_pod_hash()
            })
            .map(|r| r.available);
        let desired = desired_canary_weight(ro, canary_available);
        info.traffic = traffic_split(ro, desired, &objs);
    } else if ro.blue_green().is_some() {
        info.strategy = "BlueGreen".to_string();
    }

    let template = workload_template(ro, objs.deployments).or_else(|| ro.spec().template.as_ref());
    let containers = |list: &[crate::model::Container]| {
        list.iter()
            .map(|c| ContainerInfo {
                name: c.name.clone().unwrap_or_default(),
                image: c.image.clone().unwrap_or_default(),
            })
            .collect::<Vec<_>>()
    };
    if let Some(t) = template {
        info.containers = containers(t.containers());
        info.init_containers = containers(t.init_containers());
    }

    info.analysis_runs = analysis::analysis_runs(uid, objs.analysis_runs);
    info.experiments = experiments::experiments(
        uid,
        objs.experiments,
        objs.replica_sets,
        objs.pods,
        objs.analysis_runs,
    );

    let current_revision = replica_sets
        .iter()
        .find(|r| r.pod_template_hash == st.current_pod_hash())
        .map_or(info.revision, |r| r.revision);
    let older_revisions = replica_sets
        .iter()
        .filter(|r| r.revision > 0 && r.revision != current_revision)
        .count();
    info.actions = availability(ro, &status, older_revisions, info.containers.len());
    info.pauses = pauses(ro);
    info.replica_sets = replica_sets;
    info.status = status;
    info.message = message;
    info
}

/// What is shown for a Rollout that cannot be read (a wrongly typed field,
/// say): its name, status `Error` and why, so it appears as an error card
/// instead of vanishing.
pub fn invalid_rollout_info(metadata: &crate::model::ObjectMeta, error: &str) -> RolloutInfo {
    let status = "Error".to_string();
    RolloutInfo {
        object_meta: meta::rollout_meta(metadata),
        icon: rollout_icon(&status).to_string(),
        message: format!("cannot read this Rollout: {error}"),
        status,
        restarted_at: "Never".to_string(),
        revision: revision_of(metadata),
        ..RolloutInfo::default()
    }
}

/// The pod template of the Deployment named by `spec.workloadRef`, if it is
/// among `deployments` (Argo looks the name up among Deployments whatever the
/// kind says).
fn workload_template<'a>(
    ro: &Rollout,
    deployments: &[&'a Deployment],
) -> Option<&'a crate::model::PodTemplate> {
    let name = ro.spec().workload_ref.as_ref()?.name.as_deref()?;
    let namespace = ro.metadata.namespace.as_deref();
    deployments
        .iter()
        .find(|d| {
            d.metadata.name.as_deref() == Some(name) && d.metadata.namespace.as_deref() == namespace
        })?
        .spec
        .as_ref()?
        .template
        .as_ref()
}
