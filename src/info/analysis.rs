//! AnalysisRuns of a rollout or experiment, with Argo's counts and icons.

use crate::model::{AnalysisRun, IntOrString, is_owned_by, revision_of};

use super::meta::{rfc3339, short_meta};
use super::types::{AnalysisRunInfo, InfoMeta, JobInfo, MetricInfo, NonJobInfo, SpecAndStatus};

/// Runs owned by `owner_uid`, sorted revision descending, then oldest first,
/// then name descending.
pub fn analysis_runs(owner_uid: &str, runs: &[&AnalysisRun]) -> Vec<AnalysisRunInfo> {
    let mut owned: Vec<&AnalysisRun> = runs
        .iter()
        .copied()
        .filter(|r| is_owned_by(&r.metadata, owner_uid))
        .collect();
    owned.sort_by(|a, b| {
        revision_of(&b.metadata)
            .cmp(&revision_of(&a.metadata))
            .then_with(|| {
                let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
                let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
                ta.cmp(&tb)
            })
            .then_with(|| b.metadata.name.cmp(&a.metadata.name))
    });
    owned.into_iter().map(analysis_run_info).collect()
}

pub fn analysis_run_info(run: &AnalysisRun) -> AnalysisRunInfo {
    let spec = run.spec_view();
    let status = run.status_view();
    let namespace = run.metadata.namespace.clone().unwrap_or_default();
    let phase = status.phase.clone().unwrap_or_default();
    let mut info = AnalysisRunInfo {
        object_meta: short_meta(&run.metadata),
        icon: analysis_icon(&phase).to_string(),
        revision: revision_of(&run.metadata),
        status: phase,
        spec_and_status: Some(SpecAndStatus {
            spec: run.spec.clone(),
            status: run.status.clone(),
        }),
        metrics: spec
            .metrics
            .unwrap_or_default()
            .into_iter()
            .map(|m| MetricInfo {
                name: m.name.unwrap_or_default(),
                success_condition: m.success_condition.unwrap_or_default(),
                count: int_val(m.count.as_ref()),
                inconclusive_limit: int_val(m.inconclusive_limit.as_ref()),
                failure_limit: int_val(m.failure_limit.as_ref()),
            })
            .collect(),
        ..AnalysisRunInfo::default()
    };
    for result in status.metric_results.unwrap_or_default() {
        info.successful = info
            .successful
            .saturating_add(result.successful.unwrap_or(0));
        info.failed = info.failed.saturating_add(result.failed.unwrap_or(0));
        info.inconclusive = info
            .inconclusive
            .saturating_add(result.inconclusive.unwrap_or(0));
        info.error = info.error.saturating_add(result.error.unwrap_or(0));
        let metric_name = result.name.unwrap_or_default();
        for m in result.measurements.unwrap_or_default() {
            let measurement_phase = m.phase.unwrap_or_default();
            let started_at = m.started_at.as_ref().map(rfc3339);
            match &m.metadata {
                Some(meta) => {
                    if let Some(job) = meta.get("job-name") {
                        info.jobs.push(JobInfo {
                            object_meta: InfoMeta {
                                name: job.clone(),
                                namespace: meta
                                    .get("job-namespace")
                                    .cloned()
                                    .unwrap_or_else(|| namespace.clone()),
                                creation_timestamp: started_at.clone(),
                                ..InfoMeta::default()
                            },
                            icon: analysis_icon(&measurement_phase).to_string(),
                            status: measurement_phase,
                            metric_name: metric_name.clone(),
                            started_at,
                        });
                    }
                }
                None => info.non_job_info.push(NonJobInfo {
                    value: m.value.unwrap_or_default(),
                    status: measurement_phase,
                    metric_name: metric_name.clone(),
                    started_at,
                }),
            }
        }
    }
    info
}

/// IntOrString's IntVal: 0 when nil, and 0 when the value is a string.
fn int_val(v: Option<&IntOrString>) -> i32 {
    match v {
        Some(IntOrString::Int(i)) => *i,
        _ => 0,
    }
}

/// The analysis icon of a run or measurement phase.
pub fn analysis_icon(phase: &str) -> &'static str {
    match phase {
        "Successful" => "✔",
        "Inconclusive" => "?",
        "Failed" => "✖",
        "Error" => "⚠",
        "Running" => "◌",
        "Pending" => "◷",
        _ => " ",
    }
}
