//! `spec.restartAt` as Argo's controller plays it: once the
//! time has come, pods created before it are deleted one at a time (the
//! ReplicaSet brings each back), and when none is left,
//! `status.restartedAt = spec.restartAt`. Until then the phase says "rollout
//! is restarting".

use serde_json::{Value, json};

use crate::model::Rollout;

use super::{Controller, owned_by, rfc3339, rt};
use crate::sim::store::{ApiError, Filter};

impl Controller {
    pub(super) fn restart_pods(
        &self,
        ro: &Rollout,
        ns: &str,
        status: &mut Value,
    ) -> Result<(), ApiError> {
        let Some(restart_at) = ro.spec().restart_at.as_ref().map(|t| t.0) else {
            return Ok(());
        };
        let wanted = rfc3339(restart_at);
        if status.get("restartedAt").and_then(Value::as_str) == Some(wanted.as_str())
            || restart_at > self.store.clock.now()
        {
            return Ok(());
        }
        let uid = ro.metadata.uid.as_deref().unwrap_or_default();
        let rs_uids: Vec<String> = self
            .owned_replica_sets(ns, uid)?
            .iter()
            .filter_map(|r| r.pointer("/metadata/uid").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        let filter = Filter {
            namespace: Some(ns.to_string()),
            ..Filter::default()
        };
        let pods: Vec<Value> = self
            .store
            .list(rt("pods"), &filter, None, None)?
            .items
            .iter()
            .filter(|p| rs_uids.iter().any(|u| owned_by(p, u)))
            .map(|p| (**p).clone())
            .collect();
        let created = |p: &Value| {
            p.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        };
        let ready = |p: &Value| {
            p.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        };
        let old: Vec<&Value> = pods
            .iter()
            .filter(|p| created(p).is_none_or(|t| t < restart_at))
            .collect();
        match old.first() {
            None => status["restartedAt"] = json!(wanted),
            // One at a time: the next goes once every pod is Ready again.
            Some(pod) if pods.iter().all(ready) => {
                let name = pod
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.store.delete(rt("pods"), ns, name)?;
                let ro_name = ro.metadata.name.as_deref().unwrap_or_default();
                self.event(
                    ns,
                    ro_name,
                    "Normal",
                    "RolloutRestarted",
                    &format!("Restarted pod {name}"),
                )?;
            }
            Some(_) => {}
        }
        Ok(())
    }
}
