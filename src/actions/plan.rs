//! The exact Kubernetes calls of each action (those of `kubectl argo
//! rollouts`), planned from
//! the rollout as it is now. Pure: the caller fetches the objects, sends the
//! plan, and re-plans if the rollout changed in between.

use serde_json::{Value, json};

use crate::info::rollout_phase;
use crate::model::Rollout;

use crate::info::available::{Action, refusal_now};

/// Why an action is not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The rollout is not (or no longer) in a state where the action
    /// applies, or it changed since the person looked: 409.
    Conflict(String),
    /// The request itself is wrong (no such container or revision): 422.
    Invalid(String),
}

impl Refusal {
    pub fn message(&self) -> &str {
        match self {
            Refusal::Conflict(m) | Refusal::Invalid(m) => m,
        }
    }
}

/// Which object a call goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Rollout,
    /// The `spec.workloadRef` object (kind as the reference names it).
    Workload {
        kind: String,
        name: String,
    },
}

/// What to send, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum PatchPlan {
    /// Merge patches, as the plugin sends them: `status` to the `/status`
    /// subresource first, then `spec` to the rollout; if the status patch
    /// gets 404 (a CRD without the status subresource), `unified` is sent to
    /// the rollout instead of `spec`.
    Merge {
        status: Option<Value>,
        spec: Option<Value>,
        unified: Value,
    },
    /// A full update (PUT) of the object, as `set image` does.
    Update { target: Target, object: Value },
    /// A JSON patch, as `undo` does.
    JsonPatch { target: Target, ops: Value },
    /// Nothing to send; `message` says why (e.g. the rollback target
    /// already matches).
    Nothing { message: String },
}

/// The merge-patch actions: promote (full or not), abort, retry, restart,
/// pause and resume. `now` is RFC 3339 UTC with whole seconds (restart).
pub fn plan(action: Action, ro: &Rollout, now: &str) -> Result<PatchPlan, Refusal> {
    let (status, _) = rollout_phase(ro);
    if let Some(why) = refusal_now(action, ro, &status) {
        return Err(Refusal::Conflict(format!("cannot {}: {why}", verb(action))));
    }
    let status_then_main = |body: Value| PatchPlan::Merge {
        status: Some(body.clone()),
        spec: None,
        unified: body,
    };
    let main_only = |body: Value| PatchPlan::Merge {
        status: None,
        spec: Some(body.clone()),
        unified: body,
    };
    match action {
        Action::Promote => promote(ro),
        Action::PromoteFull => Ok(promote_full(ro)),
        Action::Abort => Ok(status_then_main(json!({"status": {"abort": true}}))),
        Action::Retry => Ok(status_then_main(json!({"status": {"abort": false}}))),
        Action::Restart => Ok(main_only(json!({"spec": {"restartAt": now}}))),
        Action::Pause => Ok(main_only(json!({"spec": {"paused": true}}))),
        Action::Resume => Ok(main_only(json!({"spec": {"paused": false}}))),
        Action::SetImage | Action::Rollback => Err(Refusal::Invalid(format!(
            "{} is planned with its own arguments",
            verb(action)
        ))),
    }
}

/// Default promote, every branch of `kubectl argo rollouts promote`, plus
/// one refusal Argo lacks: a promote that
/// lands while an earlier one is in flight (the pause condition is already
/// gone but the controller has not moved on) would skip the next step, so it
/// is refused instead.
fn promote(ro: &Rollout) -> Result<PatchPlan, Refusal> {
    let st = ro.status();
    let spec = ro
        .is_paused_by_spec()
        .then(|| json!({"spec": {"paused": false}}));
    let mut unified = json!({"spec": {"paused": false}, "status": {"pauseConditions": null}});
    let steps = ro.steps().len();
    let next_index = || {
        let idx = st.current_step_index().unwrap_or(0);
        if (idx as usize) < steps { idx + 1 } else { idx }
    };
    let inconclusive = ro.canary().is_some()
        && st
            .canary()
            .and_then(|c| c.current_step_analysis_run_status.as_ref())
            .and_then(|a| a.status.as_deref())
            == Some("Inconclusive");
    let paused_by_controller = !st.pause_conditions().is_empty();
    let status = if inconclusive && paused_by_controller && st.controller_pause() {
        Some(
            json!({"status": {"pauseConditions": null, "controllerPause": false,
                               "currentStepIndex": next_index()}}),
        )
    } else if paused_by_controller {
        Some(json!({"status": {"pauseConditions": null}}))
    } else if ro.canary().is_some() && steps > 0 {
        if st.controller_pause() && !ro.is_paused_by_spec() {
            return Err(Refusal::Conflict(
                "this pause was already promoted; the controller has not moved on yet".into(),
            ));
        }
        let body = json!({"status": {"pauseConditions": null, "currentStepIndex": next_index()}});
        unified["status"] = body["status"].clone();
        Some(body)
    } else {
        None
    };
    Ok(PatchPlan::Merge {
        status,
        spec,
        unified,
    })
}

/// Full promote (`promote --full`).
fn promote_full(ro: &Rollout) -> PatchPlan {
    let st = ro.status();
    PatchPlan::Merge {
        status: (st.current_pod_hash() != st.stable_rs())
            .then(|| json!({"status": {"promoteFull": true}})),
        spec: ro
            .is_paused_by_spec()
            .then(|| json!({"spec": {"paused": false}})),
        unified: json!({"spec": {"paused": false}, "status": {"promoteFull": true}}),
    }
}

/// The action as a person says it.
pub fn verb(action: Action) -> &'static str {
    match action {
        Action::Promote => "promote",
        Action::PromoteFull => "promote fully",
        Action::Abort => "abort",
        Action::Retry => "retry",
        Action::Restart => "restart",
        Action::Pause => "pause",
        Action::Resume => "resume",
        Action::SetImage => "set the image",
        Action::Rollback => "roll back",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A canary of `steps` steps with `status`.
    fn canary(steps: usize, status: Value) -> Rollout {
        let steps: Vec<Value> = (0..steps).map(|_| json!({"setWeight": 20})).collect();
        serde_json::from_value(json!({
            "metadata": {"name": "r", "namespace": "ns", "generation": 1},
            "spec": {"replicas": 1, "strategy": {"canary": {"steps": steps}}},
            "status": status,
        }))
        .unwrap_or_else(|e| panic!("test rollout: {e}"))
    }

    fn paused_at(index: i32) -> Value {
        json!({"currentStepIndex": index, "controllerPause": true, "observedGeneration": "1",
               "currentPodHash": "new", "stableRS": "old",
               "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2024-01-01T00:00:00Z"}]})
    }

    fn merge(status: Option<Value>, spec: Option<Value>, unified: Value) -> PatchPlan {
        PatchPlan::Merge {
            status,
            spec,
            unified,
        }
    }

    #[test]
    fn promote_at_a_pause_clears_the_pause_conditions() {
        let plan = plan(Action::Promote, &canary(3, paused_at(1)), "");
        assert_eq!(
            plan,
            Ok(merge(
                Some(json!({"status": {"pauseConditions": null}})),
                None,
                json!({"spec": {"paused": false}, "status": {"pauseConditions": null}})
            ))
        );
    }

    #[test]
    fn promote_after_an_inconclusive_analysis_moves_to_the_next_step() {
        let mut status = paused_at(1);
        status["canary"] = json!({"currentStepAnalysisRunStatus": {"status": "Inconclusive"}});
        status["pauseConditions"] = json!([{"reason": "InconclusiveAnalysisRun"}]);
        let got = plan(Action::Promote, &canary(3, status), "");
        assert_eq!(
            got,
            Ok(merge(
                Some(
                    json!({"status": {"pauseConditions": null, "controllerPause": false,
                                       "currentStepIndex": 2}})
                ),
                None,
                json!({"spec": {"paused": false}, "status": {"pauseConditions": null}})
            ))
        );
    }

    #[test]
    fn promote_mid_step_skips_the_step_and_never_past_the_end() {
        let status = json!({"currentStepIndex": 1, "currentPodHash": "new", "stableRS": "old",
                            "observedGeneration": "1"});
        let body = json!({"status": {"pauseConditions": null, "currentStepIndex": 2}});
        assert_eq!(
            plan(Action::Promote, &canary(3, status), ""),
            Ok(merge(
                Some(body.clone()),
                None,
                json!({"spec": {"paused": false}, "status": body["status"]})
            ))
        );
        // An index already at the end stays there (nil counts as 0).
        let at_end = json!({"currentStepIndex": 3, "currentPodHash": "new", "stableRS": "old",
                            "observedGeneration": "1"});
        let Ok(PatchPlan::Merge {
            status: Some(s), ..
        }) = plan(Action::Promote, &canary(3, at_end), "")
        else {
            panic!("a status patch");
        };
        assert_eq!(s["status"]["currentStepIndex"], 3);
    }

    #[test]
    fn a_second_promote_in_flight_is_refused_instead_of_skipping_a_step() {
        let mut status = paused_at(1);
        status["pauseConditions"] = Value::Null; // the first promote landed
        let got = plan(Action::Promote, &canary(3, status), "");
        assert!(matches!(got, Err(Refusal::Conflict(m)) if m.contains("already promoted")));
    }

    #[test]
    fn promote_of_a_manually_paused_rollout_unpauses_the_spec_too() {
        let mut ro = canary(3, paused_at(1));
        if let Some(s) = ro.spec.as_mut() {
            s.paused = Some(true);
        }
        let Ok(PatchPlan::Merge { spec, status, .. }) = plan(Action::Promote, &ro, "") else {
            panic!("a merge plan");
        };
        assert_eq!(spec, Some(json!({"spec": {"paused": false}})));
        assert_eq!(status, Some(json!({"status": {"pauseConditions": null}})));
    }

    #[test]
    fn promote_of_a_blue_green_without_pause_sends_nothing() {
        let ro: Rollout = serde_json::from_value(json!({
            "metadata": {"name": "bg", "generation": 1},
            "spec": {"strategy": {"blueGreen": {"activeService": "a"}}},
            "status": {"currentPodHash": "new", "stableRS": "old", "observedGeneration": "1",
                       "blueGreen": {"activeSelector": "old"}}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan(Action::Promote, &ro, ""),
            Ok(merge(
                None,
                None,
                json!({"spec": {"paused": false}, "status": {"pauseConditions": null}})
            ))
        );
    }

    #[test]
    fn promote_full_asks_for_promote_full_unless_already_stable() {
        let body = json!({"spec": {"paused": false}, "status": {"promoteFull": true}});
        assert_eq!(
            plan(Action::PromoteFull, &canary(3, paused_at(1)), ""),
            Ok(merge(
                Some(json!({"status": {"promoteFull": true}})),
                None,
                body.clone()
            ))
        );
        let mut status = paused_at(1);
        status["stableRS"] = json!("new");
        assert_eq!(
            plan(Action::PromoteFull, &canary(3, status), ""),
            Ok(merge(None, None, body))
        );
    }

    #[test]
    fn abort_retry_restart_pause_and_resume_send_argos_bodies() {
        let ro = canary(3, paused_at(1));
        assert_eq!(
            plan(Action::Abort, &ro, ""),
            Ok(merge(
                Some(json!({"status": {"abort": true}})),
                None,
                json!({"status": {"abort": true}})
            ))
        );
        let restart = json!({"spec": {"restartAt": "2024-05-01T12:00:00Z"}});
        assert_eq!(
            plan(Action::Restart, &ro, "2024-05-01T12:00:00Z"),
            Ok(merge(None, Some(restart.clone()), restart))
        );
        let pause = json!({"spec": {"paused": true}});
        assert_eq!(
            plan(Action::Pause, &ro, ""),
            Ok(merge(None, Some(pause.clone()), pause))
        );

        let mut degraded = paused_at(0);
        degraded["pauseConditions"] = Value::Null;
        degraded["controllerPause"] = Value::Null;
        degraded["abort"] = json!(true);
        degraded["conditions"] = json!([{"type": "Progressing", "status": "False",
                                         "reason": "RolloutAborted", "message": "aborted"}]);
        assert_eq!(
            plan(Action::Retry, &canary(3, degraded), ""),
            Ok(merge(
                Some(json!({"status": {"abort": false}})),
                None,
                json!({"status": {"abort": false}})
            ))
        );

        let mut manually = canary(3, paused_at(1));
        if let Some(s) = manually.spec.as_mut() {
            s.paused = Some(true);
        }
        let resume = json!({"spec": {"paused": false}});
        assert_eq!(
            plan(Action::Resume, &manually, ""),
            Ok(merge(None, Some(resume.clone()), resume))
        );
    }

    #[test]
    fn actions_that_do_not_apply_now_are_refused_with_the_reason() {
        let healthy = canary(
            3,
            json!({"currentStepIndex": 3, "currentPodHash": "a", "stableRS": "a",
                   "observedGeneration": "1", "replicas": 1, "updatedReplicas": 1,
                   "availableReplicas": 1, "readyReplicas": 1, "phase": "Healthy"}),
        );
        for action in [
            Action::Promote,
            Action::Abort,
            Action::Retry,
            Action::Resume,
        ] {
            let got = plan(action, &healthy, "");
            assert!(
                matches!(got, Err(Refusal::Conflict(_))),
                "{action:?}: {got:?}"
            );
        }
        let Err(Refusal::Conflict(m)) = plan(Action::Abort, &healthy, "") else {
            panic!("refused");
        };
        assert!(
            m.starts_with("cannot abort: only a Progressing or Paused rollout"),
            "{m}"
        );
    }
}
