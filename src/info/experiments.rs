//! Experiments of a rollout with their ReplicaSets and runs.

use std::cmp::Ordering;

use super::pods::PodRecord;
use crate::model::{AnalysisRun, Experiment, ReplicaSet, is_owned_by, revision_of};

use super::analysis::{analysis_icon, analysis_runs};
use super::meta::{short_meta, uid};
use super::replicasets::experiment_replica_sets;
use super::types::ExperimentInfo;

pub fn experiments(
    owner_uid: &str,
    experiments: &[&Experiment],
    rs: &[&ReplicaSet],
    pods: &[&PodRecord],
    runs: &[&AnalysisRun],
) -> Vec<ExperimentInfo> {
    let mut infos: Vec<(Option<jiff::Timestamp>, ExperimentInfo)> = experiments
        .iter()
        .filter(|e| is_owned_by(&e.metadata, owner_uid))
        .map(|e| {
            let status = e.status.as_ref();
            let phase = status.and_then(|s| s.phase.clone()).unwrap_or_default();
            let exp_uid = uid(&e.metadata);
            let info = ExperimentInfo {
                object_meta: short_meta(&e.metadata),
                icon: analysis_icon(&phase).to_string(),
                revision: revision_of(&e.metadata),
                status: phase,
                message: status.and_then(|s| s.message.clone()).unwrap_or_default(),
                replica_sets: experiment_replica_sets(exp_uid, rs, pods),
                analysis_runs: analysis_runs(exp_uid, runs),
            };
            (e.metadata.creation_timestamp.as_ref().map(|t| t.0), info)
        })
        .collect();
    // Argo's comparator ("higher revision first, else older first") is not a
    // strict order; this is the total order it approximates.
    infos.sort_by(|(ta, a), (tb, b)| match b.revision.cmp(&a.revision) {
        Ordering::Equal => ta.cmp(tb),
        other => other,
    });
    infos.into_iter().map(|(_, i)| i).collect()
}
