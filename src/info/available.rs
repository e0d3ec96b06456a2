//! Which actions apply now (the buttons of Argo's UI, plus pause/resume, set image and
//! rollback). The page shows buttons from this list and the server checks
//! the same rules again before it sends anything.

use serde::{Deserialize, Serialize};

use crate::model::Rollout;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Promote,
    PromoteFull,
    Abort,
    Retry,
    Restart,
    Pause,
    Resume,
    SetImage,
    Rollback,
}

impl Action {
    /// The subresource RBAC must let the person `patch` for this action:
    /// `status` for what moves the steps, the rollout itself for the rest.
    pub fn rbac_subresource(self) -> &'static str {
        match self {
            Action::Promote | Action::PromoteFull | Action::Abort | Action::Retry => "status",
            _ => "",
        }
    }

    pub const ALL: [Action; 9] = [
        Action::Promote,
        Action::PromoteFull,
        Action::Abort,
        Action::Retry,
        Action::Restart,
        Action::Pause,
        Action::Resume,
        Action::SetImage,
        Action::Rollback,
    ];
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionState {
    pub action: Action,
    #[serde(default)]
    pub allowed: bool,
    /// Why the action does not apply now (absent when it does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The state of every action for a rollout whose computed status is `status`
/// (info/status.rs). `older_revisions` counts ReplicaSet revisions below the
/// current one (what rollback can go back to); `containers` counts the
/// containers set image can change.
pub fn availability(
    ro: &Rollout,
    status: &str,
    older_revisions: usize,
    containers: usize,
) -> Vec<ActionState> {
    Action::ALL
        .iter()
        .map(|&action| {
            let reason = refusal(action, ro, status, older_revisions, containers);
            ActionState {
                action,
                allowed: reason.is_none(),
                reason,
            }
        })
        .collect()
}

/// Why `action` does not apply to `ro` (whose computed status is `status`)
/// now, for the actions that depend only on the rollout's state; `None`
/// when it applies. The server's check before it sends anything.
pub fn refusal_now(action: Action, ro: &Rollout, status: &str) -> Option<String> {
    match action {
        // Judged by their planners against the containers and revisions.
        Action::SetImage | Action::Rollback => None,
        _ => refusal(action, ro, status, 1, 1),
    }
}

fn refusal(
    action: Action,
    ro: &Rollout,
    status: &str,
    older_revisions: usize,
    containers: usize,
) -> Option<String> {
    let in_flight = matches!(status, "Progressing" | "Paused");
    match action {
        Action::Restart => None,
        Action::Retry if status == "Degraded" => None,
        Action::Retry => Some(format!(
            "only a Degraded rollout can be retried; this one is {}",
            describe(status)
        )),
        Action::Abort | Action::Promote | Action::PromoteFull if in_flight => None,
        Action::Abort => Some(format!(
            "only a Progressing or Paused rollout can be aborted; this one is {}",
            describe(status)
        )),
        Action::Promote | Action::PromoteFull => Some(format!(
            "only a Progressing or Paused rollout can be promoted; this one is {}",
            describe(status)
        )),
        Action::Pause if ro.is_paused_by_spec() => Some("already paused".to_string()),
        Action::Pause => None,
        Action::Resume if ro.is_paused_by_spec() => None,
        Action::Resume => {
            Some("not manually paused (a pause step is left with Promote)".to_string())
        }
        Action::SetImage if containers > 0 => None,
        Action::SetImage => Some("the rollout has no containers".to_string()),
        Action::Rollback if older_revisions > 0 => None,
        Action::Rollback => Some("there is no earlier revision to roll back to".to_string()),
    }
}

fn describe(status: &str) -> &str {
    if status.is_empty() {
        "in an unknown state"
    } else {
        status
    }
}
