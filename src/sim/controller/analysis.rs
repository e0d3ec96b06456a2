//! Analysis steps in the simulated controller: an AnalysisRun per step,
//! measurements taken every 10 s of sim time whose outcome the scenario
//! chooses with the rollout annotation `sim.rollouts-dashboard.io/analysis`
//! (`Successful` (default), `Failed` or `Inconclusive`).

use crate::sim::json::text;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::model::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, Rollout};

use super::{Controller, rfc3339, rt};
use crate::sim::store::{ApiError, Subresource};

pub const OUTCOME_ANNOTATION: &str = "sim.rollouts-dashboard.io/analysis";
const INTERVAL: SignedDuration = SignedDuration::from_secs(10);
const COUNT: usize = 3;

/// Where a step's analysis stands.
pub enum AnalysisOutcome {
    Running,
    Successful,
    /// The run's message, e.g. `metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)`.
    Failed(String),
    Inconclusive,
}

impl Controller {
    /// Creates or advances the AnalysisRun of step `index` for pod hash `hash`;
    /// returns its outcome and name.
    pub(super) fn step_analysis(
        &self,
        ro: &Rollout,
        step: &Value,
        hash: &str,
        index: usize,
        revision: i64,
        now: Timestamp,
    ) -> Result<(AnalysisOutcome, String), ApiError> {
        let ns = ro.metadata.namespace.clone().unwrap_or_default();
        let ro_name = ro.metadata.name.clone().unwrap_or_default();
        let name = format!("{ro_name}-{hash}-{index}");
        let run = match self.store.get(rt("analysisruns"), &ns, &name) {
            Ok(run) => (*run).clone(),
            Err(_) => {
                let metrics: Vec<Value> = step
                    .get("templates")
                    .and_then(Value::as_array)
                    .map(|ts| {
                        ts.iter()
                            .filter_map(|t| t.get("templateName").and_then(Value::as_str))
                            .map(metric)
                            .collect()
                    })
                    .unwrap_or_default();
                let run = json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
                    "metadata": {"name": name, "namespace": ns,
                        "labels": {"rollout-type": "Step", "step-index": index.to_string(), POD_TEMPLATE_HASH_LABEL: hash},
                        "annotations": {REVISION_ANNOTATION: revision.to_string()},
                        "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": ro_name,
                            "uid": ro.metadata.uid.clone().unwrap_or_default(), "controller": true}]},
                    "spec": {"metrics": metrics},
                    "status": {"phase": "Running", "startedAt": rfc3339(now), "runSummary": {}, "dryRunSummary": {}}
                });
                (*self.store.create(rt("analysisruns"), &ns, run, true)?).clone()
            }
        };
        let phase = text(&run, "/status/phase");
        let message = text(&run, "/status/message");
        match phase.as_str() {
            "Successful" => return Ok((AnalysisOutcome::Successful, name)),
            "Failed" | "Error" => return Ok((AnalysisOutcome::Failed(message), name)),
            "Inconclusive" => return Ok((AnalysisOutcome::Inconclusive, name)),
            _ => {}
        }
        let outcome = ro
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(OUTCOME_ANNOTATION))
            .map_or("Successful", String::as_str)
            .to_string();
        let next = measure(&run, &outcome, now);
        if next != run {
            self.store
                .update(rt("analysisruns"), &ns, &name, next, Subresource::Main)?;
        }
        Ok((AnalysisOutcome::Running, name))
    }
}

pub(super) fn metric(template: &str) -> Value {
    json!({
        "name": template, "interval": "10s", "count": COUNT, "failureLimit": 0,
        "successCondition": "result[0] >= 0.95",
        "provider": {"prometheus": {"address": "http://prometheus.istio-system:9090",
            "query": "sum(irate(istio_requests_total{response_code!~\"5.*\"}[1m])) / sum(irate(istio_requests_total[1m]))"}}
    })
}

/// Takes the next due measurement of every metric and settles the run's
/// phase like Argo's analysis controller.
pub(super) fn measure(run: &Value, outcome: &str, now: Timestamp) -> Value {
    let mut run = run.clone();
    let metrics: Vec<String> = run
        .pointer("/spec/metrics")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|x| x.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut results: Vec<Value> = run
        .pointer("/status/metricResults")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut run_phase = "Successful";
    let mut message = String::new();
    for m in &metrics {
        let pos = match results.iter().position(|r| r["name"] == m.as_str()) {
            Some(p) => p,
            None => {
                // The Prometheus provider's GetMetadata.
                let query = run
                    .pointer("/spec/metrics")
                    .and_then(Value::as_array)
                    .and_then(|ms| ms.iter().find(|x| x["name"] == m.as_str()))
                    .map(|x| text(x, "/provider/prometheus/query"))
                    .unwrap_or_default();
                results.push(json!({"name": m, "phase": "Running", "measurements": [],
                    "metadata": {"ResolvedPrometheusQuery": query}}));
                results.len() - 1
            }
        };
        let r = &mut results[pos];
        let taken = r["measurements"].as_array().map_or(0, Vec::len);
        let last = r["measurements"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|x| x["finishedAt"].as_str())
            .and_then(|t| t.parse::<Timestamp>().ok());
        let due = last.is_none_or(|t| t.checked_add(INTERVAL).is_ok_and(|d| now >= d));
        if r["phase"] == "Running" && taken < COUNT && due {
            let (phase, value) = match outcome {
                "Failed" => ("Failed", "[0.42]"),
                "Inconclusive" => ("Inconclusive", "[0.93]"),
                _ => ("Successful", "[0.99]"),
            };
            if let Some(a) = r["measurements"].as_array_mut() {
                a.push(json!({"phase": phase, "value": value, "startedAt": rfc3339(now), "finishedAt": rfc3339(now)}));
            }
            let key = match phase {
                "Failed" => "failed",
                "Inconclusive" => "inconclusive",
                _ => "successful",
            };
            r[key] = json!(r[key].as_i64().unwrap_or(0) + 1);
            r["count"] = json!(taken + 1);
            // analysis.go: runMeasurements.
            r["consecutiveSuccess"] = if phase == "Successful" {
                json!(r["consecutiveSuccess"].as_i64().unwrap_or(0) + 1)
            } else {
                Value::Null
            };
            r["phase"] = json!(match phase {
                "Failed" => "Failed",
                "Inconclusive" => "Inconclusive",
                _ if taken + 1 >= COUNT => "Successful",
                _ => "Running",
            });
            if phase == "Failed" {
                // analysis.go: assessRunStatus's worst message.
                message =
                    format!("Metric \"{m}\" assessed Failed due to failed (1) > failureLimit (0)");
            }
        }
        match r["phase"].as_str() {
            Some("Failed") => run_phase = "Failed",
            Some("Inconclusive") if run_phase != "Failed" => run_phase = "Inconclusive",
            Some("Running") if run_phase == "Successful" => run_phase = "Running",
            _ => {}
        }
    }
    // analysis.go: assessRunStatus counts every metric, and each completed
    // one by its phase; the dry-run summary is written even when empty.
    let mut summary = serde_json::Map::new();
    let mut add = |k: &str| {
        let n = summary.get(k).and_then(Value::as_i64).unwrap_or(0) + 1;
        summary.insert(k.into(), json!(n));
    };
    for r in &results {
        add("count");
        match r["phase"].as_str() {
            Some("Failed") => add("failed"),
            Some("Error") => add("error"),
            Some("Inconclusive") => add("inconclusive"),
            Some("Successful") => add("successful"),
            _ => {}
        }
    }
    for r in results.iter_mut() {
        if let Some(m) = r.as_object_mut() {
            m.retain(|_, v| !v.is_null());
        }
    }
    run["status"]["metricResults"] = json!(results);
    run["status"]["runSummary"] = Value::Object(summary);
    run["status"]["dryRunSummary"] = json!({});
    run["status"]["phase"] = json!(run_phase);
    if !message.is_empty() {
        run["status"]["message"] = json!(message);
    }
    if run_phase != "Running" {
        run["status"]["completedAt"] = json!(rfc3339(now));
    }
    run
}
