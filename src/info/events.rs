//! Recent Kubernetes Events about a rollout, newest first, for the detail
//! page (Argo's dashboard does not show them; `kubectl describe` does).

use serde::Serialize;

use crate::model::{Event, Time};

use super::meta::rfc3339;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventInfo {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    /// RFC 3339; empty when the event carries no time at all.
    pub last_seen: String,
}

/// The `limit` most recent events, newest first (ties by name, so the order
/// is stable).
pub fn recent_events(events: &[&Event], limit: usize) -> Vec<EventInfo> {
    let mut sorted: Vec<&&Event> = events.iter().collect();
    sorted.sort_by(|a, b| {
        b.last_seen()
            .cmp(&a.last_seen())
            .then_with(|| b.metadata.name.cmp(&a.metadata.name))
    });
    sorted
        .into_iter()
        .take(limit)
        .map(|e| EventInfo {
            type_: e.type_.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default(),
            count: e.count.unwrap_or(1),
            last_seen: e.last_seen().map(|t| rfc3339(&Time(t))).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, reason: &str, last: Option<&str>, event_time: Option<&str>) -> Event {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ns"},
            "reason": reason, "type": "Normal", "message": format!("{reason} happened"),
            "lastTimestamp": last, "eventTime": event_time,
        }))
        .unwrap_or_else(|e| panic!("test event: {e}"))
    }

    #[test]
    fn newest_first_and_limited_whatever_the_timestamp_field() {
        let a = event("a", "Old", Some("2024-01-01T00:00:00Z"), None);
        let b = event("b", "Newest", None, Some("2024-01-03T00:00:00.000000Z"));
        let c = event("c", "Middle", Some("2024-01-02T00:00:00Z"), None);
        let got = recent_events(&[&a, &b, &c], 2);
        let reasons: Vec<&str> = got.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["Newest", "Middle"]);
        assert_eq!(got[0].last_seen, "2024-01-03T00:00:00Z");
        assert_eq!(got[1].count, 1, "a missing count means it happened once");
    }
}
