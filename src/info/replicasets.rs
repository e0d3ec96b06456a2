//! ReplicaSets of a rollout with their roles, health and pods.

use super::pods::PodRecord;
use crate::model::{
    ReplicaSet, Rollout, SCALE_DOWN_DEADLINE_ANNOTATION, TEMPLATE_NAME_ANNOTATION, is_owned_by,
};

use super::meta::{short_meta, uid};
use super::types::ReplicaSetInfo;

/// Every ReplicaSet owned by the rollout (any owner reference with its uid),
/// with role flags, sorted revision descending then name ascending.
pub fn rollout_replica_sets(
    ro: &Rollout,
    rs: &[&ReplicaSet],
    pods: &[&PodRecord],
) -> Vec<ReplicaSetInfo> {
    let owner = uid(&ro.metadata);
    let mut infos: Vec<ReplicaSetInfo> = rs
        .iter()
        .filter(|r| is_owned_by(&r.metadata, owner))
        .map(|r| {
            let mut info = replica_set_info(r, pods);
            set_roles(ro, &mut info);
            info
        })
        .collect();
    sort_replica_sets(&mut infos);
    infos
}

/// ReplicaSets owned by an experiment: no roles, `template` set.
pub fn experiment_replica_sets(
    owner_uid: &str,
    rs: &[&ReplicaSet],
    pods: &[&PodRecord],
) -> Vec<ReplicaSetInfo> {
    let mut infos: Vec<ReplicaSetInfo> = rs
        .iter()
        .filter(|r| is_owned_by(&r.metadata, owner_uid))
        .map(|r| replica_set_info(r, pods))
        .collect();
    sort_replica_sets(&mut infos);
    infos
}

fn sort_replica_sets(infos: &mut [ReplicaSetInfo]) {
    // Argo's comparator also looks at creationTimestamp but discards the
    // result, so only revision and name order.
    infos.sort_by(|a, b| {
        b.revision
            .cmp(&a.revision)
            .then_with(|| a.object_meta.name.cmp(&b.object_meta.name))
    });
}

fn replica_set_info(rs: &ReplicaSet, pods: &[&PodRecord]) -> ReplicaSetInfo {
    let annotation = |key: &str| rs.annotation(key).unwrap_or_default().to_string();
    let status = replica_set_health(rs);
    let template = rs.template();
    let images = |containers: &[crate::model::Container]| {
        containers
            .iter()
            .map(|c| c.image.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let rs_status = rs.status.as_ref();
    ReplicaSetInfo {
        object_meta: short_meta(&rs.metadata),
        icon: replica_set_icon(status).to_string(),
        status: status.to_string(),
        revision: rs.revision(),
        replicas: rs_status.and_then(|s| s.replicas).unwrap_or(0),
        available: rs_status.and_then(|s| s.available_replicas).unwrap_or(0),
        template: annotation(TEMPLATE_NAME_ANNOTATION),
        scale_down_deadline: annotation(SCALE_DOWN_DEADLINE_ANNOTATION),
        images: template.map(|t| images(t.containers())).unwrap_or_default(),
        init_container_images: template
            .map(|t| images(t.init_containers()))
            .unwrap_or_default(),
        pods: rs_pods(rs, pods),
        pod_template_hash: rs.pod_template_hash().to_string(),
        // Argo labels a ReplicaSet as its pod template (hash included).
        istio_labels: rs.istio_labels(),
        ..ReplicaSetInfo::default()
    }
}

/// Pods owned by this ReplicaSet, oldest first, then by name.
fn rs_pods(rs: &ReplicaSet, pods: &[&PodRecord]) -> Vec<super::types::PodInfo> {
    let owner = uid(&rs.metadata);
    let mut owned: Vec<&PodRecord> = pods
        .iter()
        .copied()
        .filter(|p| p.is_owned_by(owner))
        .collect();
    owned.sort_by(|a, b| {
        let ta = a.created.as_ref().map(|t| t.0);
        let tb = b.created.as_ref().map(|t| t.0);
        ta.cmp(&tb).then_with(|| a.key.name.cmp(&b.key.name))
    });
    owned.into_iter().map(PodRecord::info).collect()
}

/// `getReplicaSetHealth`.
pub fn replica_set_health(rs: &ReplicaSet) -> &'static str {
    let generation = rs.metadata.generation.unwrap_or(0);
    let status = rs.status.as_ref();
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    let spec_replicas = rs.spec.as_ref().and_then(|s| s.replicas);
    if generation <= observed {
        let failure = status
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default()
            .iter()
            .any(|c| {
                c.type_.as_deref() == Some("ReplicaFailure") && c.status.as_deref() == Some("True")
            });
        if failure {
            return "ReplicaFailure";
        }
        let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
        if spec_replicas.is_some_and(|want| available < want) {
            return "Progressing";
        }
    } else {
        return "Progressing";
    }
    if spec_replicas == Some(0) {
        return "ScaledDown";
    }
    "Healthy"
}

pub fn replica_set_icon(status: &str) -> &'static str {
    match status {
        "Progressing" => "◌",
        "Healthy" => "✔",
        "ReplicaFailure" => "✖",
        "ScaledDown" => "•",
        _ => " ",
    }
}

/// Role flags: stable/canary (and ping/pong) or stable/active/preview.
fn set_roles(ro: &Rollout, info: &mut ReplicaSetInfo) {
    let status = ro.status();
    let hash = info.pod_template_hash.as_str();
    if let Some(canary) = ro.canary() {
        let ping_pong = canary.ping_pong.is_some();
        let stable_is_ping = status.stable_ping_pong() == "ping";
        if hash == status.stable_rs() {
            info.stable = true;
            if ping_pong {
                info.ping = stable_is_ping;
                info.pong = !stable_is_ping;
            }
        } else if hash == status.current_pod_hash() {
            info.canary = true;
            if ping_pong {
                info.ping = !stable_is_ping;
                info.pong = stable_is_ping;
            }
        }
    } else if ro.blue_green().is_some() {
        if hash == status.stable_rs() {
            info.stable = true;
        }
        if hash == status.active_selector() {
            info.active = true;
        } else if hash == status.preview_selector() {
            info.preview = true;
        }
    }
}
