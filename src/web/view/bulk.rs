//! Acting on several rollouts at once: which actions a selection can take,
//! what each does to a rollout from where it is now (the preview's words),
//! and the outcome of each in people's words. Pure.

use crate::actions::{Action, step_words};
use crate::info::RolloutInfo;

use super::{status_class, step_label};
use crate::web::text::{LABEL_CHARS, clip};

/// The actions a selection can take: those that move a release along or
/// hold it, each sent per rollout exactly as the single action.
pub const BULK_ACTIONS: [BulkAction; 6] = [
    BulkAction::Promote,
    BulkAction::PromoteFull,
    BulkAction::Abort,
    BulkAction::Retry,
    BulkAction::Pause,
    BulkAction::Resume,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BulkAction {
    Promote,
    PromoteFull,
    Abort,
    Retry,
    Pause,
    Resume,
}

impl BulkAction {
    /// From its path segment (`promote`, `promote-full`, …).
    pub fn parse(segment: &str) -> Option<BulkAction> {
        BULK_ACTIONS.into_iter().find(|a| a.segment() == segment)
    }

    pub fn segment(self) -> &'static str {
        match self {
            BulkAction::Promote => "promote",
            BulkAction::PromoteFull => "promote-full",
            BulkAction::Abort => "abort",
            BulkAction::Retry => "retry",
            BulkAction::Pause => "pause",
            BulkAction::Resume => "resume",
        }
    }

    /// Its button's word.
    pub fn label(self) -> &'static str {
        match self {
            BulkAction::Promote => "Promote",
            BulkAction::PromoteFull => "Promote fully",
            BulkAction::Abort => "Abort",
            BulkAction::Retry => "Retry",
            BulkAction::Pause => "Pause",
            BulkAction::Resume => "Resume",
        }
    }

    pub fn action(self) -> Action {
        match self {
            BulkAction::Promote => Action::Promote,
            BulkAction::PromoteFull => Action::PromoteFull,
            BulkAction::Abort => Action::Abort,
            BulkAction::Retry => Action::Retry,
            BulkAction::Pause => Action::Pause,
            BulkAction::Resume => Action::Resume,
        }
    }

    /// Why it does not apply to `info` as it is now, or `None` when it
    /// does (the rules of the single action's button).
    pub fn refusal(self, info: &RolloutInfo) -> Option<String> {
        match info.actions.iter().find(|s| s.action == self.action()) {
            Some(s) if s.allowed => None,
            Some(s) => Some(
                s.reason
                    .clone()
                    .unwrap_or_else(|| "does not apply now".to_string()),
            ),
            None => Some("does not apply now".to_string()),
        }
    }

    /// What it will do to `info`, from its current step.
    pub fn effect(self, info: &RolloutInfo) -> String {
        let steps = info.steps.len();
        let canary_steps = info.strategy == "Canary" && steps > 0;
        let at = info.step_index.filter(|_| canary_steps);
        match self {
            BulkAction::Promote => match at {
                Some(i) if i >= 0 && (i as usize) < steps => {
                    // A tenant names its steps' templates and plugins: cut.
                    let label = |s| clip(&step_label(s), LABEL_CHARS).into_owned();
                    let here = label(&info.steps[i as usize]);
                    let next = match info.steps.get(i as usize + 1) {
                        Some(s) => format!("step {} of {steps}: {}", i + 2, label(s)),
                        None => "the end of its steps: the new version becomes stable".to_string(),
                    };
                    format!("leaves step {} of {steps} ({here}) for {next}", i + 1)
                }
                Some(_) => "ends its last pause: the new version becomes stable".to_string(),
                None if info.strategy == "BlueGreen" => {
                    "switches the active Service to the new version".to_string()
                }
                None => "lets the update go on".to_string(),
            },
            BulkAction::PromoteFull => {
                "skips every step left: the new version takes all the traffic and becomes stable"
                    .to_string()
            }
            BulkAction::Abort => {
                "sends all traffic back to the stable version and scales the canary down"
                    .to_string()
            }
            BulkAction::Retry => "starts the aborted update again from its first step".to_string(),
            BulkAction::Pause => match at {
                Some(i) => format!("holds it at {}", step_words(Some(i), steps)),
                None => "holds it where it is".to_string(),
            },
            BulkAction::Resume => match at {
                Some(i) => format!("lets it go on from {}", step_words(Some(i), steps)),
                None => "lets it go on".to_string(),
            },
        }
    }
}

/// Where a rollout is now, for the preview's "Now" column.
pub fn now_words(info: &RolloutInfo) -> String {
    let steps = info.steps.len();
    match info.step_index {
        Some(i) if info.strategy == "Canary" && steps > 0 => {
            format!("{}, {}", info.status, step_words(Some(i), steps))
        }
        _ => info.status.clone(),
    }
}

/// One rollout of a preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewRow {
    pub namespace: String,
    pub name: String,
    /// Whether a page of it can be linked (it exists and they may see it).
    pub known: bool,
    pub status_class: &'static str,
    pub now: String,
    /// What the action will do, or why it will not be sent.
    pub effect: String,
    pub applies: bool,
    /// What the person saw, sent with the action: `ns/name/step/hash`.
    pub item: String,
}

impl PreviewRow {
    /// `action` on `info` for someone whose RBAC lets them act (`may_act`)
    /// or not.
    pub fn of(action: BulkAction, info: &RolloutInfo, may_act: bool) -> PreviewRow {
        let refusal = if may_act {
            action.refusal(info)
        } else {
            Some(format!(
                "your Kubernetes RBAC does not let you {} here",
                crate::actions::verb(action.action())
            ))
        };
        let ns = &info.object_meta.namespace;
        let name = &info.object_meta.name;
        PreviewRow {
            namespace: ns.clone(),
            name: name.clone(),
            known: true,
            status_class: status_class(&info.status),
            now: now_words(info),
            applies: refusal.is_none(),
            effect: match refusal {
                None => action.effect(info),
                Some(why) => format!("Not sent: {why}"),
            },
            item: item_value(ns, name, info.step_index, &info.pod_hash),
        }
    }

    /// A rollout named in the selection that is not there (or not theirs
    /// to see: the same words, so a selection cannot probe for names).
    pub fn unknown(namespace: &str, name: &str) -> PreviewRow {
        PreviewRow {
            namespace: namespace.to_string(),
            name: name.to_string(),
            known: false,
            status_class: "unknown",
            now: "not found".to_string(),
            effect: "Not sent: no such rollout that you may see".to_string(),
            applies: false,
            item: String::new(),
        }
    }
}

/// A form's item: `namespace/name/stepIndex/podTemplateHash` (neither a
/// Kubernetes name nor a hash holds `/`; an absent step is empty).
pub fn item_value(namespace: &str, name: &str, step: Option<i32>, hash: &str) -> String {
    let step = step.map(|i| i.to_string()).unwrap_or_default();
    format!("{namespace}/{name}/{step}/{hash}")
}

/// How many of a selection each action applies to, for someone whom RBAC
/// lets take an action on a rollout when `may` says so.
pub fn applicable_counts(
    infos: &[&RolloutInfo],
    may: impl Fn(&RolloutInfo, Action) -> bool,
) -> Vec<(BulkAction, usize)> {
    BULK_ACTIONS
        .iter()
        .map(|&a| {
            let applies = infos
                .iter()
                .filter(|info| may(info, a.action()) && a.refusal(info).is_none())
                .count();
            (a, applies)
        })
        .collect()
}

/// An outcome's code in people's words.
pub fn outcome_words(code: u16) -> &'static str {
    match code {
        200 => "Done",
        403 => "Refused: not allowed",
        404 => "Refused: not found",
        409 => "Refused: changed since you looked",
        422 => "Refused: does not apply",
        429 => "Refused: too many at once",
        504 => "No answer in time",
        _ => "Failed",
    }
}

/// The CSS class of an outcome.
pub fn outcome_class(code: u16) -> &'static str {
    match code {
        200 => "done",
        403 | 404 | 409 | 422 | 429 => "refused",
        _ => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ActionState;
    use crate::model::CanaryStep;

    fn paused_at(index: i32) -> RolloutInfo {
        let steps: Vec<CanaryStep> = serde_json::from_value(serde_json::json!([
            {"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": 30}}
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let mut info = RolloutInfo {
            status: "Paused".to_string(),
            strategy: "Canary".to_string(),
            steps,
            step_index: Some(index),
            pod_hash: "abc".to_string(),
            ..RolloutInfo::default()
        };
        info.object_meta.namespace = "team-a".to_string();
        info.object_meta.name = "web".to_string();
        info.actions = vec![
            ActionState {
                action: Action::Promote,
                allowed: true,
                reason: None,
            },
            ActionState {
                action: Action::Retry,
                allowed: false,
                reason: Some("only a Degraded rollout can be retried; this one is Paused".into()),
            },
        ];
        info
    }

    #[test]
    fn the_preview_says_what_each_action_does_from_the_current_step() {
        let info = paused_at(1);
        assert_eq!(
            BulkAction::Promote.effect(&info),
            "leaves step 2 of 4 (Pause until promoted) for step 3 of 4: Set weight 50%"
        );
        assert_eq!(
            BulkAction::Promote.effect(&paused_at(3)),
            "leaves step 4 of 4 (Pause 30 s) for the end of its steps: the new version becomes stable"
        );
        assert_eq!(BulkAction::Pause.effect(&info), "holds it at step 2 of 4");
        assert_eq!(now_words(&info), "Paused, step 2 of 4");
        let row = PreviewRow::of(BulkAction::Promote, &info, true);
        assert!(row.applies);
        assert_eq!(row.item, "team-a/web/1/abc");
    }

    #[test]
    fn a_rollout_it_does_not_apply_to_says_why_and_is_not_sent() {
        let info = paused_at(1);
        let row = PreviewRow::of(BulkAction::Retry, &info, true);
        assert!(!row.applies);
        assert_eq!(
            row.effect,
            "Not sent: only a Degraded rollout can be retried; this one is Paused"
        );
        let row = PreviewRow::of(BulkAction::Promote, &info, false);
        assert!(!row.applies);
        assert_eq!(
            row.effect,
            "Not sent: your Kubernetes RBAC does not let you promote here"
        );
        assert_eq!(
            PreviewRow::of(BulkAction::Abort, &info, true).effect,
            "Not sent: does not apply now",
            "an action the info does not list does not apply"
        );
        let mut elsewhere = paused_at(1);
        elsewhere.object_meta.namespace = "team-b".to_string();
        let counts = applicable_counts(&[&info, &elsewhere], |i, _| {
            i.object_meta.namespace == "team-a"
        });
        assert_eq!(counts[0], (BulkAction::Promote, 1));
        assert_eq!(counts[3], (BulkAction::Retry, 0));
    }

    #[test]
    fn actions_are_named_by_their_path_segment() {
        for a in BULK_ACTIONS {
            assert_eq!(BulkAction::parse(a.segment()), Some(a));
        }
        assert_eq!(BulkAction::parse("restart"), None);
        assert_eq!(BulkAction::parse("set-image"), None);
        assert_eq!(outcome_class(409), "refused");
        assert_eq!(outcome_words(504), "No answer in time");
    }
}
