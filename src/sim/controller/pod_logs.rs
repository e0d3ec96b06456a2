//! The sim writes a container's log lines when they are read, from what
//! the pod receives then (sim/logs.rs). Before the controller changes what
//! a rollout's pods receive (a new weight, an abort), their logs are
//! written up to now with what they received until now: else an aborted
//! canary's 503s would be written as the silence that follows the abort.

use jiff::Timestamp;
use serde_json::Value;

use super::Controller;
use crate::sim::json::text;
use crate::sim::mesh::traffic_in;

impl Controller {
    /// Writes the logs of the pods of the rollout with uid `owner` up to `now`.
    pub(super) fn logs_up_to_now(&self, ns: &str, owner: &str, now: Timestamp) {
        let Ok(sets) = self.owned_replica_sets(ns, owner) else {
            return;
        };
        let set_uids: Vec<String> = sets.iter().map(|rs| text(rs, "/metadata/uid")).collect();
        let Ok(pods) = self.pods_in(ns) else {
            return;
        };
        let traffic = traffic_in(&self.store, ns);
        for pod in pods
            .iter()
            .filter(|p| set_uids.contains(&text(p, "/metadata/ownerReferences/0/uid")))
        {
            let traffic = traffic.get(&text(pod, "/metadata/name")).copied();
            let containers = pod
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for c in containers {
                self.store
                    .logs
                    .read(pod, &text(&c, "/name"), traffic, now, Some(now));
            }
        }
    }
}
