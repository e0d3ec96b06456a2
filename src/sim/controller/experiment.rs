//! Experiments in the simulated cluster, as Argo's two controllers run
//! them: the rollout's `experiment` step creates one
//! (rollout/experiment.go: GetExperimentFromTemplate, reconcileExperiments)
//! and waits on its phase; the experiment controller (experiments/) runs
//! each template as a ReplicaSet `<experiment>-<template>`, each analysis as
//! an AnalysisRun `<experiment>-<analysis>`, for `spec.duration`, and then
//! scales the templates down.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::analysis::{OUTCOME_ANNOTATION, measure};
use super::{Controller, owned_by, owner, rfc3339, rs_hash, rt, template_hash};
use crate::model::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, Rollout};
use crate::sim::json::text;
use crate::sim::store::{ApiError, Filter, Subresource};

const EXPERIMENT_NAME_ANNOTATION: &str = "experiment.argoproj.io/name";
const TEMPLATE_NAME_ANNOTATION: &str = "experiment.argoproj.io/template-name";

/// Where an experiment step stands, for the rollout.
pub enum ExperimentOutcome {
    Running,
    Successful,
    /// Failed or errored; the abort's message comes from `failed_experiment`.
    Failed,
    Inconclusive,
}

impl Controller {
    /// Creates the experiment of step `index` (once) and reads its phase.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn step_experiment(
        &self,
        ro: &Rollout,
        step: &Value,
        hash: &str,
        index: usize,
        revision: i64,
        replica_sets: &[Value],
        stable: &str,
    ) -> Result<(ExperimentOutcome, String), ApiError> {
        let ns = ro.metadata.namespace.clone().unwrap_or_default();
        let ro_name = ro.metadata.name.clone().unwrap_or_default();
        let name = format!("{ro_name}-{hash}-{revision}-{index}");
        let experiment = match self.store.get(rt("experiments"), &ns, &name) {
            Ok(e) => (*e).clone(),
            Err(_) => {
                let of = |h: &str| replica_sets.iter().find(|r| rs_hash(r) == h);
                let (Some(canary), Some(stable)) = (of(hash), of(stable)) else {
                    // Argo waits for the stable ReplicaSet before creating one.
                    return Ok((ExperimentOutcome::Running, name));
                };
                let templates: Vec<Value> = step
                    .get("templates")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        let from = if text(t, "/specRef") == "stable" {
                            stable
                        } else {
                            canary
                        };
                        let mut template =
                            from.pointer("/spec/template").cloned().unwrap_or(json!({}));
                        let mut selector = t
                            .get("selector")
                            .cloned()
                            .or_else(|| from.pointer("/spec/selector").cloned())
                            .unwrap_or(json!({}));
                        for (k, v) in t
                            .pointer("/metadata/labels")
                            .and_then(Value::as_object)
                            .into_iter()
                            .flatten()
                        {
                            template["metadata"]["labels"][k] = v.clone();
                            selector["matchLabels"][k] = v.clone();
                        }
                        let mut out =
                            json!({"name": t["name"], "template": template, "selector": selector});
                        if let Some(r) = t.get("replicas") {
                            out["replicas"] = r.clone();
                        }
                        out
                    })
                    .collect();
                let mut spec = json!({"templates": templates});
                if let Some(d) = step.get("duration") {
                    spec["duration"] = d.clone();
                }
                if let Some(a) = step.get("analyses") {
                    spec["analyses"] = a.clone();
                }
                if let Some(p) = ro.spec().progress_deadline_seconds {
                    spec["progressDeadlineSeconds"] = json!(p);
                }
                let experiment = json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment",
                    "metadata": {"name": name, "namespace": ns,
                        "labels": {POD_TEMPLATE_HASH_LABEL: hash},
                        "annotations": {REVISION_ANNOTATION: revision.to_string()},
                        "ownerReferences": [owner("argoproj.io/v1alpha1", "Rollout", &ro_name, ro.metadata.uid.as_deref().unwrap_or_default())]},
                    "spec": spec
                });
                let created = (*self
                    .store
                    .create(rt("experiments"), &ns, experiment, true)?)
                .clone();
                self.event(
                    &ns,
                    &ro_name,
                    "Normal",
                    "ExperimentCreated",
                    &format!("Created Experiment '{name}'"),
                )?;
                created
            }
        };
        let outcome = match text(&experiment, "/status/phase").as_str() {
            "Successful" => ExperimentOutcome::Successful,
            "Inconclusive" => ExperimentOutcome::Inconclusive,
            "Failed" | "Error" => ExperimentOutcome::Failed,
            _ => ExperimentOutcome::Running,
        };
        Ok((outcome, name))
    }

    /// Ends the rollout's unfinished experiments (an abort, a full
    /// promotion, a new revision): `spec.terminate`, as cancelExperiments.
    pub(super) fn cancel_experiments(
        &self,
        ns: &str,
        rollout_uid: &str,
        keep: Option<&str>,
    ) -> Result<(), ApiError> {
        for e in self
            .experiments_in(ns)?
            .iter()
            .filter(|e| owned_by(e, rollout_uid))
        {
            let name = text(e, "/metadata/name");
            let done = matches!(
                text(e, "/status/phase").as_str(),
                "Successful" | "Failed" | "Error" | "Inconclusive"
            );
            if Some(name.as_str()) == keep
                || done
                || e.pointer("/spec/terminate") == Some(&json!(true))
            {
                continue;
            }
            self.store
                .patch(rt("experiments"), ns, &name, Subresource::Main, |o| {
                    o["spec"]["terminate"] = json!(true);
                    Ok(())
                })?;
        }
        Ok(())
    }

    /// Why the rollout's experiment for `hash` failed, as the abort says it.
    pub(super) fn failed_experiment(
        &self,
        ns: &str,
        rollout_uid: &str,
        hash: &str,
    ) -> Result<Option<String>, ApiError> {
        Ok(self
            .experiments_in(ns)?
            .iter()
            .filter(|e| {
                owned_by(e, rollout_uid)
                    && text(e, "/metadata/labels/rollouts-pod-template-hash") == hash
            })
            .find(|e| matches!(text(e, "/status/phase").as_str(), "Failed" | "Error"))
            .map(|e| {
                let message = text(e, "/status/message");
                if message.is_empty() {
                    "Experiment analysis phase is error/failed".to_string()
                } else {
                    format!("Experiment analysis phase is error/failed: {message}")
                }
            }))
    }

    fn experiments_in(&self, ns: &str) -> Result<Vec<Value>, ApiError> {
        let filter = Filter {
            namespace: Some(ns.to_string()),
            ..Filter::default()
        };
        Ok(self
            .store
            .list(rt("experiments"), &filter, None, None)?
            .items
            .iter()
            .map(|e| (**e).clone())
            .collect())
    }

    /// The experiment controller: one pass over every Experiment.
    pub(super) fn reconcile_experiments(&self) {
        let Ok(page) = self
            .store
            .list(rt("experiments"), &Filter::default(), None, None)
        else {
            return;
        };
        for e in page.items {
            if let Err(err) = self.reconcile_experiment(&e) {
                tracing::debug!(experiment = %text(&e, "/metadata/name"), error = %err, "sim experiment controller: retrying next pass");
            }
        }
    }

    fn reconcile_experiment(&self, e: &Value) -> Result<(), ApiError> {
        let (ns, name, uid) = (
            text(e, "/metadata/namespace"),
            text(e, "/metadata/name"),
            text(e, "/metadata/uid"),
        );
        let now = self.store.clock.now();
        let mut status = e.get("status").cloned().unwrap_or_else(|| json!({}));
        let phase = text(&status, "/phase");
        if phase.is_empty() {
            status["phase"] = json!("Pending");
            return self.write_experiment_status(&ns, &name, e, status);
        }
        let completed = is_completed(&phase);
        let terminating = completed || e.pointer("/spec/terminate") == Some(&json!(true));
        let duration = e
            .pointer("/spec/duration")
            .map(super::phase::pause_seconds)
            .map(SignedDuration::from_secs);
        let available_at = status
            .get("availableAt")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok());
        let passed = match (duration, available_at) {
            (Some(d), Some(at)) => at.checked_add(d).is_ok_and(|end| now > end),
            _ => false,
        };
        let previous: Vec<Value> = status
            .get("templateStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let template_statuses =
            self.run_templates(e, &previous, terminating || passed, terminating, now)?;
        self.sync_pods(&ns, &uid, now)?;
        let all_running = !template_statuses.is_empty()
            && template_statuses
                .iter()
                .all(|t| matches!(t["status"].as_str(), Some("Running" | "Successful")));
        if all_running && available_at.is_none() {
            status["availableAt"] = json!(rfc3339(now));
        }
        status["templateStatuses"] = json!(template_statuses);
        // Analyses start once the templates are available.
        let (runs, worst) = if status.get("availableAt").is_some() {
            self.run_analyses(e, terminating, now)?
        } else {
            (Vec::new(), None)
        };
        if !runs.is_empty() {
            status["analysisRuns"] = json!(runs);
        }
        if !completed {
            let templates_done = passed || (terminating && !template_statuses.is_empty());
            let (next, message) = next_phase(templates_done, all_running, worst);
            status["phase"] = json!(next);
            status["message"] = if message.is_empty() {
                Value::Null
            } else {
                json!(message)
            };
        }
        set_progressing(&mut status, &previous, &name, passed, now);
        self.write_experiment_status(&ns, &name, e, status)
    }

    /// Each template as a ReplicaSet `<experiment>-<template>`, scaled to
    /// its replicas (none once `ended`), and its status
    /// (experiments/experiment.go: reconcileTemplate).
    fn run_templates(
        &self,
        e: &Value,
        previous: &[Value],
        ended: bool,
        terminating: bool,
        now: Timestamp,
    ) -> Result<Vec<Value>, ApiError> {
        let (ns, name) = (text(e, "/metadata/namespace"), text(e, "/metadata/name"));
        let mut template_statuses = Vec::new();
        for t in e
            .pointer("/spec/templates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let t_name = text(t, "/name");
            let rs_name = format!("{name}-{t_name}");
            let want = if ended {
                0
            } else {
                t.get("replicas").and_then(Value::as_i64).unwrap_or(1)
            };
            let rs = match self.store.get(rt("replicasets"), &ns, &rs_name) {
                Ok(rs) => (*rs).clone(),
                Err(_) if terminating => continue,
                Err(_) => self.create_template_replica_set(e, t, &rs_name)?,
            };
            self.scale_replica_set(&rs, want)?;
            let prev = previous
                .iter()
                .find(|p| p["name"] == t_name.as_str())
                .cloned()
                .unwrap_or(json!({}));
            let count = |v: &Value, k: &str| v.pointer(k).and_then(Value::as_i64).unwrap_or(0);
            let rs_now = self
                .store
                .get(rt("replicasets"), &ns, &rs_name)
                .map(|r| (*r).clone())
                .unwrap_or(rs);
            let mut ts = json!({
                "name": t_name,
                "replicas": count(&rs_now, "/status/replicas"),
                "updatedReplicas": count(&rs_now, "/status/replicas"),
                "readyReplicas": count(&rs_now, "/status/readyReplicas"),
                "availableReplicas": count(&rs_now, "/status/availableReplicas"),
                "podTemplateHash": rs_hash(&rs_now),
                "lastTransitionTime": prev.get("lastTransitionTime").cloned().unwrap_or(json!(rfc3339(now))),
            });
            let moved = ["replicas", "readyReplicas", "availableReplicas"]
                .iter()
                .any(|k| prev.get(*k) != ts.get(*k));
            if moved {
                ts["lastTransitionTime"] = json!(rfc3339(now));
            }
            let prev_status = text(&prev, "/status");
            let done = matches!(prev_status.as_str(), "Successful" | "Failed" | "Error");
            ts["status"] = json!(if done {
                prev_status
            } else if want == count(&ts, "/availableReplicas") && !ended {
                "Running".into()
            } else if ended {
                "Successful".into()
            } else {
                "Progressing".into()
            });
            template_statuses.push(ts);
        }
        Ok(template_statuses)
    }

    /// Each analysis as an AnalysisRun `<experiment>-<analysis>`, measured
    /// as the scenario sets it; the entries for `status.analysisRuns` and
    /// the worst phase with its message (assessAnalysisRuns).
    #[allow(clippy::type_complexity)]
    fn run_analyses(
        &self,
        e: &Value,
        terminating: bool,
        now: Timestamp,
    ) -> Result<(Vec<Value>, Option<(String, String)>), ApiError> {
        let (ns, name, uid) = (
            text(e, "/metadata/namespace"),
            text(e, "/metadata/name"),
            text(e, "/metadata/uid"),
        );
        let mut runs = Vec::new();
        let mut worst: Option<(String, String)> = None;
        {
            let outcome = self.owner_outcome(e);
            for a in e
                .pointer("/spec/analyses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let a_name = text(a, "/name");
                let run_name = format!("{name}-{a_name}");
                let run = match self.store.get(rt("analysisruns"), &ns, &run_name) {
                    Ok(r) => (*r).clone(),
                    Err(_) if terminating => continue,
                    Err(_) => {
                        let run = json!({
                            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
                            "metadata": {"name": run_name, "namespace": ns,
                                "labels": e.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
                                "annotations": {REVISION_ANNOTATION: text(e, "/metadata/annotations/rollout.argoproj.io~1revision")},
                                "ownerReferences": [owner("argoproj.io/v1alpha1", "Experiment", &name, &uid)]},
                            "spec": {"metrics": [super::analysis::metric(&text(a, "/templateName"))], "args": a.get("args").cloned().unwrap_or(json!([]))},
                            "status": {"phase": "Running", "startedAt": rfc3339(now), "runSummary": {}, "dryRunSummary": {}}
                        });
                        (*self.store.create(rt("analysisruns"), &ns, run, true)?).clone()
                    }
                };
                let run = if text(&run, "/status/phase") == "Running" && !terminating {
                    let next = measure(&run, &outcome, now);
                    if next != run {
                        self.store.update(
                            rt("analysisruns"),
                            &ns,
                            &run_name,
                            next.clone(),
                            Subresource::Main,
                        )?;
                    }
                    next
                } else {
                    run
                };
                let (run_phase, message) =
                    (text(&run, "/status/phase"), text(&run, "/status/message"));
                let rank = |p: &str| match p {
                    "Error" => 4,
                    "Failed" => 3,
                    "Inconclusive" => 2,
                    "Running" | "Pending" => 1,
                    _ => 0,
                };
                if worst
                    .as_ref()
                    .is_none_or(|(p, _)| rank(&run_phase) > rank(p))
                {
                    worst = Some((run_phase.clone(), message.clone()));
                }
                let mut entry =
                    json!({"name": a_name, "analysisRun": run_name, "phase": run_phase});
                if !message.is_empty() {
                    entry["message"] = json!(message);
                }
                runs.push(entry);
            }
        }
        Ok((runs, worst))
    }

    /// `newReplicaSetFromTemplate`: the template's pods under their own hash.
    fn create_template_replica_set(
        &self,
        e: &Value,
        t: &Value,
        rs_name: &str,
    ) -> Result<Value, ApiError> {
        let ns = text(e, "/metadata/namespace");
        let mut template = t.get("template").cloned().unwrap_or(json!({}));
        if let Some(l) = template
            .pointer_mut("/metadata/labels")
            .and_then(Value::as_object_mut)
        {
            l.remove(POD_TEMPLATE_HASH_LABEL);
        }
        let hash = template_hash(&template);
        template["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] = json!(hash);
        let mut selector = t.get("selector").cloned().unwrap_or(json!({}));
        selector["matchLabels"][POD_TEMPLATE_HASH_LABEL] = json!(hash);
        let rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": ns, "labels": template["metadata"]["labels"].clone(),
                "annotations": {EXPERIMENT_NAME_ANNOTATION: text(e, "/metadata/name"), TEMPLATE_NAME_ANNOTATION: text(t, "/name")},
                "ownerReferences": [owner("argoproj.io/v1alpha1", "Experiment", &text(e, "/metadata/name"), &text(e, "/metadata/uid"))]},
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0}
        });
        Ok((*self.store.create(rt("replicasets"), &ns, rs, true)?).clone())
    }

    /// The analysis outcome the scenario set on the experiment's rollout.
    fn owner_outcome(&self, e: &Value) -> String {
        let ns = text(e, "/metadata/namespace");
        let owner = text(e, "/metadata/ownerReferences/0/name");
        self.store
            .get(rt("rollouts"), &ns, &owner)
            .ok()
            .and_then(|r| {
                r.pointer("/metadata/annotations")
                    .and_then(|a| a.get(OUTCOME_ANNOTATION))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "Successful".into())
    }

    fn write_experiment_status(
        &self,
        ns: &str,
        name: &str,
        read: &Value,
        status: Value,
    ) -> Result<(), ApiError> {
        if read.get("status") == Some(&status) {
            return Ok(());
        }
        self.store
            .patch(rt("experiments"), ns, name, Subresource::Main, |o| {
                if o.get("status") != read.get("status") {
                    return Err(ApiError::conflict(rt("experiments"), name));
                }
                o["status"] = status;
                Ok(())
            })?;
        Ok(())
    }
}

fn is_completed(phase: &str) -> bool {
    matches!(phase, "Successful" | "Failed" | "Error" | "Inconclusive")
}

/// experiments/experiment.go: calculateStatus, for a running experiment.
fn next_phase(
    templates_done: bool,
    all_running: bool,
    worst: Option<(String, String)>,
) -> (String, String) {
    let (analyses, message) = worst.unwrap_or_else(|| ("Successful".into(), String::new()));
    let analyses_done = is_completed(&analyses);
    if templates_done {
        if analyses_done {
            (analyses, message)
        } else {
            ("Successful".into(), String::new())
        }
    } else if analyses_done && analyses != "Successful" {
        (analyses, message)
    } else if all_running {
        ("Running".into(), String::new())
    } else {
        ("Pending".into(), String::new())
    }
}

/// experiments/conditions.go: calculateExperimentConditions.
fn set_progressing(
    status: &mut Value,
    previous: &[Value],
    name: &str,
    passed: bool,
    now: Timestamp,
) {
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let progressed = {
        let counts = |list: &[Value]| -> Vec<(String, i64, i64, i64, i64)> {
            list.iter()
                .map(|t| {
                    let n = |k: &str| t.get(k).and_then(Value::as_i64).unwrap_or(0);
                    (
                        text(t, "/name"),
                        n("replicas"),
                        n("updatedReplicas"),
                        n("readyReplicas"),
                        n("availableReplicas"),
                    )
                })
                .collect()
        };
        let now_list = status["templateStatuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        counts(previous) != counts(&now_list)
    };
    let quoted = format!("{name:?}");
    if text(status, "/phase") == "Successful" {
        super::conditions::set_condition(
            &mut conditions,
            "Progressing",
            "False",
            "ExperimentCompleted",
            &format!("Experiment {quoted} has successfully ran and completed."),
            now,
        );
    } else if progressed {
        super::conditions::set_condition(
            &mut conditions,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            &format!("Experiment {quoted} is progressing."),
            now,
        );
    } else if status.get("availableAt").is_some() && !passed {
        super::conditions::set_condition(
            &mut conditions,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("Experiment {quoted} is running."),
            now,
        );
    }
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
}
