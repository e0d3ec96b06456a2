//! The simulated controller's blue-green strategy:
//! the new version comes up as the preview, waits in `BlueGreenPause` unless
//! auto-promotion applies, then becomes active; the old ReplicaSet scales
//! down after `scaleDownDelaySeconds`.

use crate::sim::json::text;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::model::Rollout;

use super::abort_delay::{SCALE_DOWN_DEADLINE, deadline_of};
use super::{Controller, Current, rfc3339, rs_hash, rt};
use crate::sim::store::{ApiError, Subresource};

impl Controller {
    pub(super) fn reconcile_blue_green(&self, ro: &Rollout, obj: &Value) -> Result<(), ApiError> {
        let Some(bg) = ro.blue_green() else {
            return Ok(());
        };
        let (
            Current {
                ns,
                name,
                uid,
                now,
                hash,
                replicas,
                ..
            },
            _,
        ) = self.current(ro, obj)?;
        let mut status = obj.get("status").cloned().unwrap_or_else(|| json!({}));

        if status.get("currentPodHash").and_then(Value::as_str) != Some(hash.as_str()) {
            status["currentPodHash"] = json!(hash);
            for field in ["pauseConditions", "controllerPause", "abort", "promoteFull"] {
                status[field] = Value::Null;
            }
        }

        let active = text(&status, "/blueGreen/activeSelector");
        let preview_replicas = replicas;
        let available = |h: &str| -> i64 {
            self.owned_replica_sets(&ns, &uid)
                .ok()
                .and_then(|l| l.into_iter().find(|r| rs_hash(r) == h))
                .and_then(|r| {
                    r.pointer("/status/availableReplicas")
                        .and_then(Value::as_i64)
                })
                .unwrap_or(0)
        };

        self.scale_blue_green(&ns, &uid, &hash, &active, replicas, now)?;
        self.sync_pods(&ns, &uid, now)?;
        self.restart_crashing(ro, now)?;

        let paused = ro.is_paused_by_spec();
        if active.is_empty() {
            // First version: it is active and stable as soon as it is up.
            if available(&hash) >= replicas {
                status["blueGreen"]["activeSelector"] = json!(hash);
                status["stableRS"] = json!(hash);
            }
        } else if active != hash && !paused {
            status["blueGreen"]["previewSelector"] = json!(hash);
            if available(&hash) >= preview_replicas {
                let conds = status
                    .get("pauseConditions")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let controller_pause = status
                    .get("controllerPause")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let auto = bg.auto_promotion_enabled.unwrap_or(true);
                let auto_after = bg
                    .auto_promotion_seconds
                    .map(|s| SignedDuration::from_secs(i64::from(s)));
                let started = conds
                    .iter()
                    .find(|c| c["reason"] == "BlueGreenPause")
                    .and_then(|c| c["startTime"].as_str())
                    .and_then(|t| t.parse::<Timestamp>().ok());
                let promote = status.get("promoteFull").and_then(Value::as_bool) == Some(true)
                    || (controller_pause && conds.is_empty())
                    || (auto && auto_after.is_none())
                    || (auto
                        && started
                            .zip(auto_after)
                            .and_then(|(s, d)| s.checked_add(d).ok())
                            .is_some_and(|t| now >= t));
                if promote {
                    self.promote_preview(
                        &ns,
                        &uid,
                        &active,
                        bg.scale_down_delay_seconds.unwrap_or(30),
                        now,
                    )?;
                    status["blueGreen"]["activeSelector"] = json!(hash);
                    status["stableRS"] = json!(hash);
                    for field in ["pauseConditions", "controllerPause", "promoteFull"] {
                        status[field] = Value::Null;
                    }
                    self.event(
                        &ns,
                        &name,
                        "Normal",
                        "SwitchService",
                        &format!(
                            "Switched selector for service '{}' from '{active}' to '{hash}'",
                            bg.active_service.clone().unwrap_or_default()
                        ),
                    )?;
                } else if started.is_none() && !controller_pause {
                    status["pauseConditions"] =
                        json!([{"reason": "BlueGreenPause", "startTime": rfc3339(now)}]);
                    status["controllerPause"] = json!(true);
                    self.event(
                        &ns,
                        &name,
                        "Normal",
                        "RolloutPaused",
                        "Rollout is paused (BlueGreenPause)",
                    )?;
                }
            }
        }

        let rs_now = self.owned_replica_sets(&ns, &uid)?;
        let of = |h: &str, f: &str| {
            rs_now
                .iter()
                .find(|r| rs_hash(r) == h)
                .and_then(|r| r.pointer(f))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        let sum = |f: &str| {
            rs_now
                .iter()
                .map(|r| r.pointer(f).and_then(Value::as_i64).unwrap_or(0))
                .sum::<i64>()
        };
        let active_now = text(&status, "/blueGreen/activeSelector");
        let preview_now = text(&status, "/blueGreen/previewSelector");
        self.point_service(&ns, bg.active_service.as_deref(), &active_now)?;
        let preview_target = if preview_now.is_empty() {
            &active_now
        } else {
            &preview_now
        };
        self.point_service(&ns, bg.preview_service.as_deref(), preview_target)?;
        status["replicas"] = json!(sum("/status/replicas"));
        status["readyReplicas"] = json!(sum("/status/readyReplicas"));
        status["availableReplicas"] = json!(of(&active_now, "/status/availableReplicas"));
        status["updatedReplicas"] = json!(of(&hash, "/status/replicas"));
        status["HPAReplicas"] = json!(of(&active_now, "/status/replicas"));
        self.write_status(ro, obj, &ns, &name, status)
    }

    /// The active and the new (preview) ReplicaSet run; older ones go to
    /// zero once their scale-down deadline has passed.
    fn scale_blue_green(
        &self,
        ns: &str,
        uid: &str,
        hash: &str,
        active: &str,
        replicas: i64,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        for rs in self.owned_replica_sets(ns, uid)? {
            let h = rs_hash(&rs);
            let want = if h == hash || h == active {
                replicas
            } else {
                match deadline_of(&rs) {
                    Some(d) if now < d => rs
                        .pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                    _ => 0,
                }
            };
            self.scale_replica_set(&rs, want)?;
        }
        Ok(())
    }

    /// Marks the previously active ReplicaSet for scale-down after the delay.
    fn promote_preview(
        &self,
        ns: &str,
        uid: &str,
        old_active: &str,
        delay_seconds: i32,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let deadline = now
            .checked_add(SignedDuration::from_secs(i64::from(delay_seconds)))
            .map(rfc3339)
            .unwrap_or_default();
        for rs in self.owned_replica_sets(ns, uid)? {
            if rs_hash(&rs) == old_active {
                let n = text(&rs, "/metadata/name");
                let deadline = deadline.clone();
                self.store
                    .patch(rt("replicasets"), ns, &n, Subresource::Main, move |o| {
                        o["metadata"]["annotations"][SCALE_DOWN_DEADLINE] = json!(deadline);
                        Ok(())
                    })?;
            }
        }
        Ok(())
    }
}
