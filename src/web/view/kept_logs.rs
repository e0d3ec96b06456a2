//! PURE: the last lines an aborted or degraded revision's pods left, as
//! shown: a few on its History entry (the newest revision that kept any),
//! all of them on the revision's own page, and the JSON of both.

use serde::Serialize;

use crate::history::{KeptLog, KeptSummary};
use crate::web::text::rfc3339;

/// Lines per container on a History entry.
pub const PREVIEW_LINES: usize = 10;

/// What a History entry says of its kept lines.
pub struct KeptOnEntry {
    pub sentence: String,
    /// The revision's page of all its lines.
    pub href: String,
    /// The last few lines per container (the newest revision that kept
    /// any; older ones link only).
    pub preview: Vec<KeptContainerView>,
}

/// One container's lines.
pub struct KeptContainerView {
    pub pod: String,
    pub container: String,
    pub problem: Option<String>,
    /// Lines of it not shown here (left out of the preview, or beyond the
    /// bound when kept).
    pub more: String,
    pub lines: Vec<KeptLineView>,
}

pub struct KeptLineView {
    pub datetime: String,
    /// `HH:MM:SS.mmm` UTC.
    pub time: String,
    pub text: String,
    pub error: bool,
}

fn plural(n: i64, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

impl KeptOnEntry {
    pub fn of(s: &KeptSummary, href: String, preview: &[KeptLog]) -> KeptOnEntry {
        let read = s.logs - s.unread;
        let mut sentence = format!(
            "Kept at {}: the last {} of {} of its pods",
            rfc3339(s.captured_at),
            plural(s.lines, "line", "lines"),
            plural(read, "container", "containers"),
        );
        if s.error_lines > 0 {
            sentence.push_str(&format!(
                ", {} among them",
                plural(s.error_lines, "error", "errors")
            ));
        }
        if s.unread > 0 {
            sentence.push_str(&format!(
                "; {} could not be read",
                plural(s.unread, "container", "containers")
            ));
        }
        sentence.push('.');
        KeptOnEntry {
            sentence,
            href,
            preview: preview
                .iter()
                .map(|l| KeptContainerView::of(l, PREVIEW_LINES))
                .collect(),
        }
    }
}

impl KeptContainerView {
    /// `l` with its last `most` lines.
    pub fn of(l: &KeptLog, most: usize) -> KeptContainerView {
        let skip = l.lines.len().saturating_sub(most);
        let more = skip as u64 + l.dropped;
        KeptContainerView {
            pod: l.pod.clone(),
            container: l.container.clone(),
            problem: l.problem.clone(),
            more: match more {
                0 => String::new(),
                1 => "1 earlier line not shown".to_string(),
                n => format!("{n} earlier lines not shown"),
            },
            lines: l.lines[skip..]
                .iter()
                .map(|line| {
                    let datetime = line.time.map(|t| t.to_string()).unwrap_or_default();
                    KeptLineView {
                        time: line
                            .time
                            .map(|t| t.strftime("%H:%M:%S%.3f").to_string())
                            .unwrap_or_default(),
                        datetime,
                        text: line.text.clone(),
                        error: line.is_error(),
                    }
                })
                .collect(),
        }
    }
}

// ---- JSON ----

/// On each revision of the history API, for those who may read logs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptSummaryJson {
    captured_at: String,
    containers: i64,
    unread: i64,
    lines: i64,
    error_lines: i64,
}

impl KeptSummaryJson {
    pub fn of(s: &KeptSummary) -> KeptSummaryJson {
        KeptSummaryJson {
            captured_at: rfc3339(s.captured_at),
            containers: s.logs,
            unread: s.unread,
            lines: s.lines,
            error_lines: s.error_lines,
        }
    }
}

/// `GET /api/v1/rollouts/{ns}/{name}/history/{revision}/logs`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptLogsJson {
    pub revision: String,
    pub logs: Vec<KeptLogJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptLogJson {
    pod: String,
    container: String,
    captured_at: String,
    /// `aborted` or `degraded`.
    reason: &'static str,
    lines: Vec<KeptLineJson>,
    /// Lines read but beyond the bound.
    dropped: u64,
    problem: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeptLineJson {
    time: Option<String>,
    line: String,
    is_error: bool,
}

impl KeptLogJson {
    pub fn of(l: &KeptLog) -> KeptLogJson {
        KeptLogJson {
            pod: l.pod.clone(),
            container: l.container.clone(),
            captured_at: rfc3339(l.captured_at),
            reason: l.reason.as_str(),
            lines: l
                .lines
                .iter()
                .map(|line| KeptLineJson {
                    time: line.time.map(|t| t.to_string()),
                    line: line.text.clone(),
                    is_error: line.is_error(),
                })
                .collect(),
            dropped: l.dropped,
            problem: l.problem.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::facts::Outcome;
    use crate::history::kept_logs::KeptLine;

    #[test]
    fn an_entry_says_what_was_kept_and_shows_the_last_lines() {
        let s = KeptSummary {
            revision: 2,
            logs: 3,
            unread: 1,
            lines: 40,
            error_lines: 7,
            captured_at: 1_700_000_000_000,
        };
        let log = KeptLog {
            pod: "search-2-a".into(),
            container: "search".into(),
            captured_at: 1_700_000_000_000,
            reason: Outcome::Aborted,
            lines: (0..20)
                .map(|i| KeptLine {
                    time: jiff::Timestamp::from_second(1_700_000_000 + i).ok(),
                    text: format!(
                        "method=GET status={} duration_ms=12",
                        if i % 2 == 0 { 200 } else { 503 }
                    ),
                })
                .collect(),
            dropped: 5,
            problem: None,
        };
        let e = KeptOnEntry::of(&s, "x".into(), std::slice::from_ref(&log));
        assert_eq!(
            e.sentence,
            "Kept at 2023-11-14T22:13:20Z: the last 40 lines of 2 containers of its pods, 7 errors among them; 1 container could not be read."
        );
        let c = &e.preview[0];
        assert_eq!(c.lines.len(), PREVIEW_LINES);
        assert_eq!(c.more, "15 earlier lines not shown");
        assert_eq!(c.lines[9].text, "method=GET status=503 duration_ms=12");
        assert!(c.lines[9].error && !c.lines[8].error);
        assert_eq!(c.lines[9].time, "22:13:39.000");
    }
}
