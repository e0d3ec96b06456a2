//! Services follow the ReplicaSets, as Argo's controller keeps them: the controller points
//! each Service the rollout names at a pod template hash through the
//! `rollouts-pod-template-hash` selector.

use serde_json::{Value, json};

use crate::model::POD_TEMPLATE_HASH_LABEL;

use super::{Controller, rt};
use crate::sim::store::{ApiError, Subresource};

impl Controller {
    /// Points Service `name` (if the rollout names one and it exists) at
    /// `hash`. A missing Service is left to the user, as Argo reports it
    /// rather than creating it.
    pub(super) fn point_service(
        &self,
        ns: &str,
        name: Option<&str>,
        hash: &str,
    ) -> Result<(), ApiError> {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Ok(());
        };
        if hash.is_empty() {
            return Ok(());
        }
        let Ok(svc) = self.store.get(rt("services"), ns, name) else {
            return Ok(());
        };
        let current = svc
            .pointer("/spec/selector")
            .and_then(|s| s.get(POD_TEMPLATE_HASH_LABEL))
            .and_then(Value::as_str);
        if current == Some(hash) {
            return Ok(());
        }
        self.store
            .patch(rt("services"), ns, name, Subresource::Main, |o| {
                o["spec"]["selector"][POD_TEMPLATE_HASH_LABEL] = json!(hash);
                Ok(())
            })?;
        Ok(())
    }
}
