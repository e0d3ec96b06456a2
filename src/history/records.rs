//! The history as read back: revisions with their steps and events, and
//! releases across rollouts. Times are milliseconds since the epoch here;
//! the API writes them as RFC 3339.

use super::facts::{EventKind, Outcome};
use crate::model::RolloutKey;

#[derive(Clone, Debug, PartialEq)]
pub struct RevisionRecord {
    pub revision: i64,
    pub pod_template_hash: String,
    pub images: Vec<String>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub outcome: Outcome,
    pub steps: Vec<StepRecord>,
    pub events: Vec<EventRecord>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub attempt: i64,
    pub index: i64,
    pub description: String,
    pub entered_at: i64,
    pub left_at: Option<i64>,
    pub weight: Option<i64>,
    pub observed_percent: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub at: i64,
    pub kind: EventKind,
    /// `controller`, `dashboard` or `outside`.
    pub via: String,
    pub by: Option<String>,
    pub message: String,
}

impl EventRecord {
    /// Who, in words: a name, or where it came from.
    pub fn who(&self) -> String {
        who(&self.via, self.by.as_deref())
    }
}

/// One revision as the Releases page lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseRow {
    pub key: RolloutKey,
    pub revision: i64,
    pub pod_template_hash: String,
    pub images: Vec<String>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub outcome: Outcome,
    pub promoted_by: Option<String>,
    pub aborted_by: Option<String>,
    /// When it was aborted (it may have been retried since).
    pub aborts: Vec<i64>,
}

/// A person's name, or where an unnamed change came from.
pub fn who(via: &str, by: Option<&str>) -> String {
    match (via, by) {
        (_, Some(name)) => name.to_string(),
        ("dashboard", None) => "this dashboard (no sign-in)".to_string(),
        ("controller", None) => "Argo Rollouts".to_string(),
        _ => "outside the dashboard".to_string(),
    }
}

/// A time the history could not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// `None`: the database as a whole was unavailable; else the one
    /// rollout whose changes could not be kept.
    pub key: Option<RolloutKey>,
    pub from: i64,
    pub to: i64,
    /// Whether changes in it are missing (else they were kept and written
    /// after).
    pub lost: bool,
    pub reason: String,
}

impl Gap {
    /// What the History panel and the Releases page say of it.
    pub fn sentence(&self, from: &str, to: &str) -> String {
        if self.lost {
            format!("History incomplete from {from} to {to}: {}", self.reason)
        } else {
            format!(
                "The history database was unavailable from {from} to {to} ({}); what happened meanwhile was kept and written when it returned",
                self.reason
            )
        }
    }
}
