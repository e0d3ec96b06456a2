//! PURE: a rollout's Logs page as shown: a column per role (canary and
//! stable side by side), each with its pods and their lines in time order.

use crate::info::logs::{LogTarget, Role};
use crate::web::logs::LogEntry;

/// Choices of the page's "lines per pod".
pub const TAILS: [i64; 4] = [50, 100, 500, 1000];
/// Choices of the page's "from the last" (`sinceSeconds`).
pub const WINDOWS: [(i64, &str); 4] = [
    (300, "5 minutes"),
    (900, "15 minutes"),
    (3600, "hour"),
    (21600, "6 hours"),
];

/// One role's column.
pub struct LogColumn {
    pub role: &'static str,
    pub title: String,
    pub pods: String,
    pub lines: Vec<LogLineView>,
}

pub struct LogLineView {
    /// `HH:MM:SS.mmm` UTC, and the whole time for `datetime`.
    pub time: String,
    pub datetime: String,
    pub pod: String,
    pub text: String,
    pub error: bool,
}

/// The columns for `targets` (every role that has pods, canary first),
/// filled with `entries`.
pub fn columns(targets: &[LogTarget], entries: &[LogEntry]) -> Vec<LogColumn> {
    let mut roles: Vec<Role> = targets.iter().map(|t| t.role).collect();
    roles.sort();
    roles.dedup();
    roles
        .into_iter()
        .map(|role| {
            let mine: Vec<&LogTarget> = targets.iter().filter(|t| t.role == role).collect();
            let mut revisions: Vec<i64> = mine.iter().map(|t| t.revision).collect();
            revisions.dedup();
            let revisions: Vec<String> = revisions.iter().map(i64::to_string).collect();
            let name = role.as_str();
            let title = format!(
                "{}{} · revision {}",
                name[..1].to_uppercase(),
                &name[1..],
                revisions.join(", ")
            );
            let pods = match mine.len() {
                1 => "1 pod".to_string(),
                n => format!("{n} pods"),
            };
            let lines = entries
                .iter()
                .filter(|e| e.role == name)
                .map(|e| LogLineView {
                    time: e
                        .time
                        .as_deref()
                        .and_then(|t| t.get(11..))
                        .map(|t| t.trim_end_matches('Z').chars().take(12).collect())
                        .unwrap_or_default(),
                    datetime: e.time.clone().unwrap_or_default(),
                    pod: e.pod.clone(),
                    text: e.line.clone(),
                    error: e.is_error,
                })
                .collect();
            LogColumn {
                role: name,
                title,
                pods,
                lines,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(pod: &str, revision: i64, role: Role) -> LogTarget {
        LogTarget {
            pod: pod.into(),
            revision,
            role,
        }
    }

    fn entry(pod: &str, role: &'static str, time: &str, line: &str) -> LogEntry {
        LogEntry {
            pod: pod.into(),
            container: "app".into(),
            revision: 0,
            role,
            time: Some(time.into()),
            line: line.into(),
            is_error: crate::info::logs::is_error_line(line),
        }
    }

    #[test]
    fn canary_beside_stable_each_with_its_own_lines() {
        let targets = [
            target("web-2-a", 2, Role::Canary),
            target("web-1-a", 1, Role::Stable),
            target("web-1-b", 1, Role::Stable),
        ];
        let entries = [
            entry("web-1-a", "stable", "2026-12-07T01:00:00.5Z", "status=200"),
            entry(
                "web-2-a",
                "canary",
                "2026-12-07T01:00:01Z",
                "level=error status=503",
            ),
        ];
        let cols = columns(&targets, &entries);
        let shown: Vec<(&str, &str, &str, usize)> = cols
            .iter()
            .map(|c| (c.role, c.title.as_str(), c.pods.as_str(), c.lines.len()))
            .collect();
        assert_eq!(
            shown,
            [
                ("canary", "Canary · revision 2", "1 pod", 1),
                ("stable", "Stable · revision 1", "2 pods", 1)
            ]
        );
        assert!(cols[0].lines[0].error);
        assert_eq!(cols[0].lines[0].time, "01:00:01");
        assert_eq!(cols[1].lines[0].time, "01:00:00.5");
        assert!(!cols[1].lines[0].error);
    }
}
