//! One reconcile of a canary, section by section in the order Argo's
//! rollout/canary.go and sync.go take it: a new pod template resets the
//! progress, promote-full skips to the end, the canary and stable are
//! scaled, an abort and a missed progress deadline are recorded, the
//! current step runs, traffic follows, and the counts and conditions are
//! written.

use jiff::SignedDuration;
use serde_json::{Value, json};

use super::abort_delay::{abort_delay, held_replicas};
use super::analysis::AnalysisOutcome;
use super::experiment::ExperimentOutcome;
use super::{Controller, Current, progressing, rfc3339, rs_hash, step_string};
use crate::model::{CanaryStep, PauseStep, Rollout};
use crate::sim::json::text;
use crate::sim::store::ApiError;

/// What one pass over a canary reads and writes.
struct Pass<'a> {
    ro: &'a Rollout,
    cur: Current,
    steps: Vec<CanaryStep>,
    status: Value,
    conditions: Vec<Value>,
    index: Option<usize>,
    stable: String,
    aborted: bool,
    promoted: bool,
    paused: bool,
    /// The canary's weight (%) and replicas for where the rollout stands.
    weight: i64,
    canary_replicas: i64,
    canary_available: i64,
}

/// What the ReplicaSets are scaled to in this pass.
struct Target<'a> {
    stable: &'a str,
    promoted: bool,
    canary_replicas: i64,
    /// Set while an abort's scale-down of the canary waits.
    abort_delay: Option<SignedDuration>,
}

impl Controller {
    pub(super) fn reconcile_canary(&self, ro: &Rollout, obj: &Value) -> Result<(), ApiError> {
        let (cur, rs_list) = self.current(ro, obj)?;
        let mut status = obj.get("status").cloned().unwrap_or_else(|| json!({}));
        let steps = ro.steps().to_vec();
        reset_for_new_template(&mut status, &steps, &cur);
        let stable = text(&status, "/stableRS");
        let mut index = status
            .get("currentStepIndex")
            .and_then(Value::as_u64)
            .map(|i| i as usize);
        if let Some(end) = promote_full(&mut status, steps.len()) {
            index = Some(end);
        }
        let aborted = status
            .get("abort")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let promoted = stable == cur.hash;
        let (weight, canary_replicas) =
            canary_target(&steps, index, promoted, aborted, cur.replicas);
        let abort_delay = abort_delay(obj).filter(|_| aborted && !stable.is_empty());
        let target = Target {
            stable: &stable,
            promoted,
            canary_replicas,
            abort_delay,
        };
        self.scale_canary_and_stable(ro, &rs_list, &cur, &target)?;
        self.sync_pods(&cur.ns, &cur.uid, cur.now)?;
        self.restart_crashing(ro, cur.now)?;
        let rs_now = self.owned_replica_sets(&cur.ns, &cur.uid)?;
        let canary_available = rs_now
            .iter()
            .find(|r| rs_hash(r) == cur.hash)
            .and_then(|r| r.pointer("/status/availableReplicas"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let mut conditions: Vec<Value> = status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        conditions.retain(|c| {
            c.get("reason").and_then(Value::as_str) != Some("RolloutAborted") || aborted
        });
        let mut pass = Pass {
            ro,
            cur,
            steps,
            status,
            conditions,
            index,
            stable,
            aborted,
            promoted,
            paused: ro.is_paused_by_spec(),
            weight,
            canary_replicas,
            canary_available,
        };
        self.record_abort(&mut pass)?;
        self.check_progress_deadline(&mut pass)?;
        if !pass.promoted && !pass.aborted && !pass.paused {
            self.advance_steps(&mut pass, &rs_now)?;
        }
        pass.status["conditions"] = json!(pass.conditions);
        // Only the current step's experiment runs on (reconcileExperiments).
        let running_experiment = pass
            .index
            .filter(|i| !pass.aborted && !pass.promoted && *i < pass.steps.len())
            .filter(|i| pass.steps[*i].experiment.is_some())
            .map(|i| {
                let c = &pass.cur;
                format!("{}-{}-{}-{i}", c.name, c.hash, c.revision)
            });
        self.cancel_experiments(&pass.cur.ns, &pass.cur.uid, running_experiment.as_deref())?;
        self.route_traffic(&mut pass)?;
        self.write_counts(&mut pass, obj)?;
        let (ns, name) = (pass.cur.ns.clone(), pass.cur.name.clone());
        self.write_status(ro, obj, &ns, &name, pass.status)
    }

    /// The canary at its replicas; stable at all of them with a router
    /// (the router splits the traffic), else at the rest; older ones at 0.
    /// An aborted canary keeps its pods until its scale-down deadline.
    fn scale_canary_and_stable(
        &self,
        ro: &Rollout,
        rs_list: &[Value],
        cur: &Current,
        target: &Target<'_>,
    ) -> Result<(), ApiError> {
        let traffic_routed = ro.traffic_routing().is_some();
        let stable_available = rs_list
            .iter()
            .find(|r| rs_hash(r) == target.stable)
            .and_then(|r| r.pointer("/status/availableReplicas"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        for rs in rs_list {
            let h = rs_hash(rs);
            let want = if h == cur.hash {
                match target.abort_delay {
                    Some(delay) if h != target.stable => {
                        match held_replicas(rs, cur.now) {
                            Some(keep) => {
                                // Marked only once stable can serve everyone:
                                // the deadline scales the canary to zero
                                // whatever it then runs.
                                if stable_available >= cur.replicas {
                                    self.mark_scale_down(rs, delay, cur.now)?;
                                }
                                keep
                            }
                            None => target.canary_replicas,
                        }
                    }
                    _ => {
                        self.unmark_scale_down(rs)?;
                        target.canary_replicas
                    }
                }
            } else if h == target.stable && !target.promoted {
                self.unmark_scale_down(rs)?;
                if traffic_routed {
                    cur.replicas
                } else {
                    (cur.replicas - target.canary_replicas).max(0)
                }
            } else {
                0
            };
            self.scale_replica_set(rs, want)?;
        }
        Ok(())
    }

    /// An abort (a person's, or a failed analysis' or experiment's) as a
    /// RolloutAborted condition, once, back to the first step.
    fn record_abort(&self, pass: &mut Pass<'_>) -> Result<(), ApiError> {
        if !pass.aborted {
            pass.status["abortedAt"] = Value::Null;
            return Ok(());
        }
        let c = &pass.cur;
        // An automatic abort carries the failed analysis' message.
        let why = pass
            .status
            .pointer("/canary/currentStepAnalysisRunStatus")
            .filter(|a| a["status"] == "Failed")
            .and_then(|a| a["message"].as_str())
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .or(self.failed_experiment(&c.ns, &c.uid, &c.hash)?)
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        let aborted_message = format!("Rollout aborted update to revision {}{why}", c.revision);
        if pass
            .conditions
            .iter()
            .any(|c| c.get("reason").and_then(Value::as_str) == Some("RolloutAborted"))
        {
            return Ok(());
        }
        pass.conditions.push(
            json!({"type": "Progressing", "status": "False", "reason": "RolloutAborted",
            "message": aborted_message,
            "lastUpdateTime": rfc3339(c.now), "lastTransitionTime": rfc3339(c.now)}),
        );
        pass.status["abortedAt"] = json!(rfc3339(c.now));
        pass.status["currentStepIndex"] = if pass.steps.is_empty() {
            Value::Null
        } else {
            json!(0)
        };
        pass.status["pauseConditions"] = Value::Null;
        pass.status["controllerPause"] = Value::Null;
        self.event(
            &c.ns,
            &c.name,
            "Warning",
            "RolloutAborted",
            &aborted_message,
        )
    }

    /// A canary that cannot become available in time (e.g. an image that
    /// cannot be pulled) exceeds its progress deadline: Degraded.
    fn check_progress_deadline(&self, pass: &mut Pass<'_>) -> Result<(), ApiError> {
        if pass.promoted
            || pass.aborted
            || pass.paused
            || pass.canary_available >= pass.canary_replicas
        {
            return Ok(());
        }
        let c = &pass.cur;
        let deadline = SignedDuration::from_secs(i64::from(
            pass.ro.spec().progress_deadline_seconds.unwrap_or(600),
        ));
        let timed_out = format!(
            "ReplicaSet \"{}-{}\" has timed out progressing.",
            c.name, c.hash
        );
        for cond in pass.conditions.iter_mut() {
            let since = cond
                .get("lastUpdateTime")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            if cond["reason"] == "ReplicaSetUpdated"
                && since
                    .and_then(|t| t.checked_add(deadline).ok())
                    .is_some_and(|t| c.now >= t)
            {
                *cond = progressing("False", "ProgressDeadlineExceeded", &timed_out, c.now);
                self.event(
                    &c.ns,
                    &c.name,
                    "Warning",
                    "ProgressDeadlineExceeded",
                    &timed_out,
                )?;
            }
        }
        Ok(())
    }

    /// Runs the current step; past the last one, once the canary is fully
    /// available, it becomes stable.
    fn advance_steps(&self, pass: &mut Pass<'_>, rs_now: &[Value]) -> Result<(), ApiError> {
        if let Some(i) = pass.index.filter(|i| *i < pass.steps.len()) {
            let step = pass.steps[i].clone();
            if self.run_step(pass, &step, i, rs_now)? {
                let c = &pass.cur;
                let completed = format!(
                    "Rollout step {}/{} completed ({})",
                    i + 1,
                    pass.steps.len(),
                    step_string(&step)
                );
                self.event(&c.ns, &c.name, "Normal", "RolloutStepCompleted", &completed)?;
                pass.status["currentStepIndex"] = json!(i + 1);
                pass.status["pauseConditions"] = Value::Null;
                pass.status["controllerPause"] = Value::Null;
                pass.index = Some(i + 1);
            }
        }
        let c = &pass.cur;
        if pass.index.is_none_or(|i| i >= pass.steps.len()) && pass.canary_available >= c.replicas {
            pass.status["stableRS"] = json!(c.hash);
            pass.status["promoteFull"] = Value::Null;
            let message = format!(
                "Rollout completed update to revision {} ({})",
                c.revision, c.hash
            );
            self.event(&c.ns, &c.name, "Normal", "RolloutCompleted", &message)?;
        }
        Ok(())
    }

    /// Step `i`; whether it is done.
    fn run_step(
        &self,
        pass: &mut Pass<'_>,
        step: &CanaryStep,
        i: usize,
        rs_now: &[Value],
    ) -> Result<bool, ApiError> {
        if step.set_weight.is_some() || step.set_canary_scale.is_some() {
            return Ok(pass.canary_available >= pass.canary_replicas);
        }
        if let Some(p) = &step.pause {
            return self.pause_step(pass, p);
        }
        let c = &pass.cur;
        if let Some(analysis) = &step.analysis {
            let (outcome, run) =
                self.step_analysis(pass.ro, analysis, &c.hash, i, c.revision, c.now)?;
            return Ok(analysis_done(&mut pass.status, outcome, &run, c.now));
        }
        if let Some(experiment) = &step.experiment {
            let (outcome, run) = self.step_experiment(
                pass.ro,
                experiment,
                &c.hash,
                i,
                c.revision,
                rs_now,
                &pass.stable,
            )?;
            return Ok(experiment_done(&mut pass.status, outcome, &run, c.now));
        }
        // route and plugin steps: sim/controller/routes.rs
        let now = c.now;
        self.other_step(pass.ro, &mut pass.status, step, i, now)
    }

    /// A pause step (rollout/pause.go): a CanaryPauseStep condition once;
    /// done when a person removed it, or its duration has passed.
    fn pause_step(&self, pass: &mut Pass<'_>, p: &PauseStep) -> Result<bool, ApiError> {
        let c = &pass.cur;
        let status = &mut pass.status;
        let conds = status
            .get("pauseConditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let controller_pause = status
            .get("controllerPause")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let start = conds
            .iter()
            .find(|c| c["reason"] == "CanaryPauseStep")
            .and_then(|c| c["startTime"].as_str())
            .and_then(|s| s.parse::<jiff::Timestamp>().ok());
        if controller_pause && conds.is_empty() {
            return Ok(true); // promoted by a person
        }
        if let Some(start) = start {
            // `pause: {}` waits for a person; a duration ends it.
            let ends = p
                .duration
                .as_ref()
                .and_then(|d| serde_json::to_value(d).ok())
                .map(|d| super::phase::pause_seconds(&d))
                .and_then(|s| start.checked_add(SignedDuration::from_secs(s)).ok());
            return Ok(ends.is_some_and(|e| c.now > e));
        }
        if !controller_pause {
            status["pauseConditions"] =
                json!([{"reason": "CanaryPauseStep", "startTime": rfc3339(c.now)}]);
            status["controllerPause"] = json!(true);
            self.event(
                &c.ns,
                &c.name,
                "Normal",
                "RolloutPaused",
                "Rollout is paused (CanaryPauseStep)",
            )?;
        }
        Ok(false)
    }

    /// Services, router weights and `status.canary.weights`
    /// (rollout/trafficrouting.go, service.go).
    fn route_traffic(&self, pass: &mut Pass<'_>) -> Result<(), ApiError> {
        let (ro, c) = (pass.ro, &pass.cur);
        let stable_now = text(&pass.status, "/stableRS");
        // Services: stable at once; canary only once the canary is fully
        // available, and back to stable after an abort or promotion.
        let canary_spec = ro.canary();
        self.point_service(
            &c.ns,
            canary_spec.and_then(|c| c.stable_service.as_deref()),
            &stable_now,
        )?;
        let done = pass.aborted || stable_now == c.hash;
        let canary_target = if done {
            Some(stable_now.as_str())
        } else if pass.canary_replicas > 0 && pass.canary_available >= pass.canary_replicas {
            Some(c.hash.as_str())
        } else {
            None
        };
        if let Some(target) = canary_target {
            self.point_service(
                &c.ns,
                canary_spec.and_then(|c| c.canary_service.as_deref()),
                target,
            )?;
        }
        let weight = if done || pass.canary_available == 0 {
            0
        } else {
            pass.weight
        };
        let Some(routing) = ro.traffic_routing() else {
            return Ok(());
        };
        if done
            && routing
                .managed_routes
                .as_ref()
                .is_some_and(|m| !m.is_empty())
        {
            self.remove_managed_routes(ro)?;
        }
        let previous = pass
            .status
            .pointer("/canary/weights/canary/weight")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if previous != weight {
            self.logs_up_to_now(&c.ns, &c.uid, c.now);
        }
        if let Some(istio) = routing.istio.as_ref() {
            self.apply_istio(ro, istio, &c.ns, weight, &c.hash, &stable_now)?;
        }
        self.apply_routers(ro, &c.ns, weight)?;
        let service = |f: fn(&crate::model::CanaryStrategy) -> Option<String>| {
            canary_spec.and_then(f).unwrap_or_default()
        };
        pass.status["canary"]["weights"] = json!({
            "canary": {"weight": weight, "podTemplateHash": c.hash, "serviceName": service(|s| s.canary_service.clone())},
            "stable": {"weight": 100 - weight, "podTemplateHash": stable_now, "serviceName": service(|s| s.stable_service.clone())}
        });
        if previous != weight {
            let message = format!("Traffic weight updated from {previous} to {weight}");
            self.event(&c.ns, &c.name, "Normal", "TrafficWeightUpdated", &message)?;
        }
        Ok(())
    }

    /// Replica counts, selector, step hash and the Available, Completed
    /// and Healthy conditions.
    fn write_counts(&self, pass: &mut Pass<'_>, obj: &Value) -> Result<(), ApiError> {
        let c = &pass.cur;
        let rs_now = self.owned_replica_sets(&c.ns, &c.uid)?;
        let sum = |f: &str| {
            rs_now
                .iter()
                .map(|r| r.pointer(f).and_then(Value::as_i64).unwrap_or(0))
                .sum::<i64>()
        };
        let status = &mut pass.status;
        status["replicas"] = json!(sum("/status/replicas"));
        status["readyReplicas"] = json!(sum("/status/readyReplicas"));
        status["availableReplicas"] = json!(sum("/status/availableReplicas"));
        status["updatedReplicas"] = json!(
            rs_now
                .iter()
                .find(|r| rs_hash(r) == c.hash)
                .and_then(|r| r.pointer("/status/replicas"))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        );
        status["HPAReplicas"] = status["replicas"].clone();
        status["selector"] = json!(super::conditions::format_label_selector(
            obj.pointer("/spec/selector").unwrap_or(&Value::Null)
        ));
        status["currentStepHash"] = json!(super::conditions::step_hash(
            obj.pointer("/spec/strategy/canary/steps")
                .unwrap_or(&json!([]))
        ));
        let count = |k: &str| status.get(k).and_then(Value::as_i64).unwrap_or(0);
        let state = super::conditions::CanaryState {
            desired: c.replicas,
            replicas: count("replicas"),
            updated: count("updatedReplicas"),
            available: count("availableReplicas"),
            all_steps_done: pass.steps.is_empty()
                || status.get("currentStepIndex").and_then(Value::as_u64)
                    == Some(pass.steps.len() as u64),
            stable_is_current: !text(status, "/stableRS").is_empty()
                && text(status, "/stableRS") == c.hash,
            paused: pass.paused
                || status
                    .get("pauseConditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| !c.is_empty()),
            generation_observed: obj
                .pointer("/status/observedGeneration")
                .and_then(Value::as_str)
                == Some(
                    pass.ro
                        .metadata
                        .generation
                        .unwrap_or(0)
                        .to_string()
                        .as_str(),
                ),
        };
        let mut conditions: Vec<Value> = status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        super::conditions::canary_conditions(&mut conditions, &state, c.now);
        status["conditions"] = json!(conditions);
        Ok(())
    }
}

/// A new pod template resets the rollout's progress, as in Argo
/// (resetRolloutStatus); back on the stable template the steps are skipped.
fn reset_for_new_template(status: &mut Value, steps: &[CanaryStep], cur: &Current) {
    if status.get("currentPodHash").and_then(Value::as_str) == Some(cur.hash.as_str()) {
        return;
    }
    let stable = text(status, "/stableRS");
    let skip_steps = stable.is_empty() || stable == cur.hash;
    status["currentPodHash"] = json!(cur.hash);
    status["currentStepIndex"] = if steps.is_empty() {
        Value::Null
    } else {
        json!(if skip_steps { steps.len() } else { 0 })
    };
    status["pauseConditions"] = Value::Null;
    status["controllerPause"] = Value::Null;
    status["abort"] = Value::Null;
    status["promoteFull"] = Value::Null;
    status["conditions"] = json!([progressing(
        "True",
        "ReplicaSetUpdated",
        &format!("ReplicaSet \"{}-{}\" is progressing.", cur.name, cur.hash),
        cur.now
    )]);
    if stable.is_empty() {
        status["stableRS"] = json!(cur.hash);
    }
}

/// A full promotion skips what is left: no pause, no analysis, the last
/// step (rollout/canary.go: syncRolloutStatusCanary). The new index.
fn promote_full(status: &mut Value, steps: usize) -> Option<usize> {
    if status.get("promoteFull").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    status["pauseConditions"] = Value::Null;
    status["controllerPause"] = Value::Null;
    status["abort"] = Value::Null;
    if steps == 0 {
        return None;
    }
    status["currentStepIndex"] = json!(steps);
    Some(steps)
}

/// The canary's weight (%) and replicas at step `index`.
fn canary_target(
    steps: &[CanaryStep],
    index: Option<usize>,
    promoted: bool,
    aborted: bool,
    replicas: i64,
) -> (i64, i64) {
    let weight = if promoted || aborted {
        0
    } else {
        match index {
            Some(i) if i < steps.len() => steps[..=i]
                .iter()
                .rev()
                .find_map(|s| s.set_weight)
                .map_or(0, i64::from),
            _ => 100,
        }
    };
    let canary_replicas = if promoted {
        replicas
    } else if aborted {
        0
    } else {
        let scale = index
            .and_then(|i| steps.get(..=i.min(steps.len().saturating_sub(1))))
            .and_then(|s| s.iter().rev().find_map(|st| st.set_canary_scale.as_ref()))
            .and_then(|s| {
                s.replicas
                    .map(i64::from)
                    .or(s.weight.map(|w| ceil_div(replicas * i64::from(w), 100)))
            });
        scale.unwrap_or_else(|| ceil_div(replicas * weight, 100))
    };
    (weight, canary_replicas)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    if b == 0 { 0 } else { (a + b - 1).div_euclid(b) }
}

/// Sets a pause condition `reason` unless one is there.
fn pause_for(
    status: &mut Value,
    reason: &str,
    now: jiff::Timestamp,
    unless_controller_paused: bool,
) {
    let controller_pause = status
        .get("controllerPause")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let conds = status
        .get("pauseConditions")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if conds == 0 && !(unless_controller_paused && controller_pause) {
        status["pauseConditions"] = json!([{"reason": reason, "startTime": rfc3339(now)}]);
        status["controllerPause"] = json!(true);
    }
}

/// An analysis step's run recorded in the status; whether the step is done.
fn analysis_done(
    status: &mut Value,
    outcome: AnalysisOutcome,
    run: &str,
    now: jiff::Timestamp,
) -> bool {
    let (state, message) = match &outcome {
        AnalysisOutcome::Running => ("Running", String::new()),
        AnalysisOutcome::Successful => ("Successful", String::new()),
        AnalysisOutcome::Failed(m) => ("Failed", m.clone()),
        AnalysisOutcome::Inconclusive => ("Inconclusive", String::new()),
    };
    status["canary"]["currentStepAnalysisRunStatus"] =
        json!({"name": run, "status": state, "message": message});
    match outcome {
        AnalysisOutcome::Successful => return true,
        AnalysisOutcome::Failed(_) => status["abort"] = json!(true),
        AnalysisOutcome::Inconclusive => pause_for(status, "InconclusiveAnalysisRun", now, true),
        AnalysisOutcome::Running => {}
    }
    false
}

/// An experiment step's experiment recorded in the status; whether the
/// step is done (rollout/experiment.go: reconcileExperiments).
fn experiment_done(
    status: &mut Value,
    outcome: ExperimentOutcome,
    run: &str,
    now: jiff::Timestamp,
) -> bool {
    match outcome {
        ExperimentOutcome::Successful => {
            status["canary"]["currentExperiment"] = Value::Null;
            return true;
        }
        ExperimentOutcome::Failed => {
            status["abort"] = json!(true);
            status["canary"]["currentExperiment"] = Value::Null;
        }
        ExperimentOutcome::Inconclusive => pause_for(status, "InconclusiveExperiment", now, false),
        ExperimentOutcome::Running => status["canary"]["currentExperiment"] = json!(run),
    }
    false
}
