//! How long an aborted canary's pods stay up, as Argo's controller keeps
//! them (rollout/replicaset.go: reconcileNewReplicaSet,
//! shouldDelayScaleDownOnAbort; utils/defaults:
//! GetAbortScaleDownDelaySecondsOrDefault): with traffic routing the canary
//! ReplicaSet keeps its pods once the abort sends all traffic to stable,
//! and is marked with a scale-down deadline `abortScaleDownDelaySeconds`
//! (30 by default) ahead once stable is fully available; at the deadline it
//! goes to zero. Without traffic routing it goes at once.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{Controller, rfc3339, rt};
use crate::sim::json::text;
use crate::sim::store::{ApiError, Subresource};

/// v1alpha1.DefaultReplicaSetScaleDownDeadlineAnnotationKey.
pub(super) const SCALE_DOWN_DEADLINE: &str = "scale-down-deadline";
/// defaults.DefaultAbortScaleDownDelaySeconds.
const DEFAULT_ABORT_DELAY_SECONDS: i64 = 30;

/// The delay an aborted canary's scale-down waits, or `None` when it does
/// not wait (no traffic routing; `abortScaleDownDelaySeconds: 0`, which
/// leaves the scale to the steps; dynamic stable scaling without an
/// explicit delay).
pub(super) fn abort_delay(rollout: &Value) -> Option<SignedDuration> {
    let canary = rollout.pointer("/spec/strategy/canary")?;
    canary.get("trafficRouting").filter(|t| !t.is_null())?;
    let explicit = canary
        .get("abortScaleDownDelaySeconds")
        .and_then(Value::as_i64);
    if explicit == Some(0) {
        return None;
    }
    let dynamic = canary
        .get("dynamicStableScale")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if dynamic && explicit.is_none() {
        return None;
    }
    Some(SignedDuration::from_secs(
        explicit.unwrap_or(DEFAULT_ABORT_DELAY_SECONDS),
    ))
}

/// When `rs` is to be scaled down, if it is marked.
pub(super) fn deadline_of(rs: &Value) -> Option<Timestamp> {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(SCALE_DOWN_DEADLINE))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok())
}

/// What the aborted canary ReplicaSet `rs` should run while its scale-down
/// waits: `Some(replicas it has)` until its deadline, `None` once due (and
/// then the abort's target, zero, applies).
pub(super) fn held_replicas(rs: &Value, now: Timestamp) -> Option<i64> {
    let keep = rs
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    match deadline_of(rs) {
        Some(at) if at <= now => None,
        _ => Some(keep),
    }
}

impl Controller {
    /// Marks `rs` to be scaled down `delay` after `now` (addScaleDownDelay),
    /// unless it is marked already.
    pub(super) fn mark_scale_down(
        &self,
        rs: &Value,
        delay: SignedDuration,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        if deadline_of(rs).is_some() {
            return Ok(());
        }
        let Ok(at) = now.checked_add(delay) else {
            return Ok(());
        };
        let at = rfc3339(at);
        let (ns, name) = (text(rs, "/metadata/namespace"), text(rs, "/metadata/name"));
        self.store
            .patch(rt("replicasets"), &ns, &name, Subresource::Main, move |o| {
                o["metadata"]["annotations"][SCALE_DOWN_DEADLINE] = json!(at);
                Ok(())
            })?;
        Ok(())
    }

    /// Takes the mark off `rs` (removeScaleDownDelay): a retried canary, or
    /// a ReplicaSet that is current or stable again.
    pub(super) fn unmark_scale_down(&self, rs: &Value) -> Result<(), ApiError> {
        if deadline_of(rs).is_none() {
            return Ok(());
        }
        let (ns, name) = (text(rs, "/metadata/namespace"), text(rs, "/metadata/name"));
        self.store
            .patch(rt("replicasets"), &ns, &name, Subresource::Main, |o| {
                if let Some(a) = o
                    .pointer_mut("/metadata/annotations")
                    .and_then(Value::as_object_mut)
                {
                    a.remove(SCALE_DOWN_DEADLINE);
                }
                Ok(())
            })?;
        Ok(())
    }
}
