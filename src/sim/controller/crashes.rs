//! The kubelet's part in a crashing revision: a rollout annotated
//! `sim.rollouts-dashboard.io/{canary,stable}-restarts-per-hour` has the
//! running pods of that revision restart their containers at that rate,
//! counted from each pod's start (so the count is the same whenever it is
//! read), shown as the kubelet shows it: `restartCount` and the last
//! state's `terminated` (exit code 1, `Error`). kube-state-metrics reads
//! the counts from there (sim/node_metrics.rs), `kubectl get pods` and the
//! dashboard from the pods.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{Controller, rt};
use crate::model::{POD_TEMPLATE_HASH_LABEL, Rollout};

use crate::sim::clock::rfc3339;
use crate::sim::json::text;
use crate::sim::store::{ApiError, Subresource};

const ANNOTATION: &str = "sim.rollouts-dashboard.io/";

fn restarts_per_hour(annotations: &BTreeMap<String, String>, role: &str) -> Option<f64> {
    annotations
        .get(&format!("{ANNOTATION}{role}-restarts-per-hour"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
}

impl Controller {
    /// Restarts the containers of `ro`'s crashing revisions' pods that are
    /// due a restart by `now`.
    pub(super) fn restart_crashing(&self, ro: &Rollout, now: Timestamp) -> Result<(), ApiError> {
        let annotations = ro.annotations();
        let status = ro.status();
        let (stable, current) = (status.stable_rs(), status.current_pod_hash());
        let mut crashing = Vec::new();
        if let Some(rate) = restarts_per_hour(&annotations, "stable").filter(|_| !stable.is_empty())
        {
            crashing.push((stable, rate));
        }
        if let Some(rate) = restarts_per_hour(&annotations, "canary")
            .filter(|_| !current.is_empty() && current != stable)
        {
            crashing.push((current, rate));
        }
        if crashing.is_empty() {
            return Ok(());
        }
        let ns = ro.metadata.namespace.clone().unwrap_or_default();
        let pods = self.pods_in(&ns)?;
        for pod in &pods {
            let hash = pod
                .pointer("/metadata/labels")
                .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some((_, rate)) = crashing.iter().find(|(h, _)| *h == hash) else {
                continue;
            };
            let Ok(started) = text(pod, "/status/startTime").parse::<Timestamp>() else {
                continue; // not running yet
            };
            let hours = now.duration_since(started).as_secs_f64().max(0.0) / 3600.0;
            let due = (hours * rate).floor() as i64;
            let restarted = pod
                .pointer("/status/containerStatuses/0/restartCount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if due <= restarted {
                continue;
            }
            let at = rfc3339(now);
            self.store.patch(
                rt("pods"),
                &ns,
                &text(pod, "/metadata/name"),
                Subresource::Status,
                move |o| {
                    if let Some(statuses) = o
                        .pointer_mut("/status/containerStatuses")
                        .and_then(Value::as_array_mut)
                    {
                        for s in statuses {
                            s["restartCount"] = json!(due);
                            s["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": at}});
                            s["state"] = json!({"running": {"startedAt": at}});
                        }
                    }
                    Ok(())
                },
            )?;
        }
        Ok(())
    }
}
