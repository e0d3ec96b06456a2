//! PURE: whose logs a rollout's Logs view reads (each pod of a revision
//! that has pods, with the revision's role), and which lines are errors.

use super::types::RolloutInfo;

/// What a revision is to its rollout, as the Logs view names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Canary,
    Stable,
    Preview,
    Active,
    /// A revision that is neither (an old one still scaling down).
    Other,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Canary => "canary",
            Role::Stable => "stable",
            Role::Preview => "preview",
            Role::Active => "active",
            Role::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::Canary,
            Role::Stable,
            Role::Preview,
            Role::Active,
            Role::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One pod whose log is read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogTarget {
    pub pod: String,
    pub revision: i64,
    pub role: Role,
}

/// Which pods: only `role`'s or `revision`'s when given; at most `most`,
/// newest revisions first.
pub fn log_targets(
    info: &RolloutInfo,
    role: Option<Role>,
    revision: Option<i64>,
    most: usize,
) -> Vec<LogTarget> {
    let mut sets: Vec<_> = info.replica_sets.iter().collect();
    sets.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
    let mut targets = Vec::new();
    for rs in sets {
        // A blue-green's active revision is its stable one too: active wins.
        let this = if rs.canary {
            Role::Canary
        } else if rs.preview {
            Role::Preview
        } else if rs.active {
            Role::Active
        } else if rs.stable {
            Role::Stable
        } else {
            Role::Other
        };
        if role.is_some_and(|r| r != this) || revision.is_some_and(|r| r != rs.revision) {
            continue;
        }
        for pod in &rs.pods {
            targets.push(LogTarget {
                pod: pod.object_meta.name.clone(),
                revision: rs.revision,
                role: this,
            });
        }
    }
    targets.truncate(most);
    targets
}

/// Whether a log line reports an error: an error or fatal level, a panic
/// or exception, or an HTTP 5xx status (access logs).
pub fn is_error_line(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let levels = [
        "level=error",
        "level=fatal",
        "level=panic",
        "\"level\":\"error\"",
        "\"level\":\"fatal\"",
        "\"severity\":\"error\"",
        "[error]",
        " error:",
        "panic:",
        "exception",
        "traceback",
    ];
    if lower.starts_with("error") || levels.iter().any(|l| lower.contains(l)) {
        return true;
    }
    server_error_status(&lower)
}

/// `status=503`, `"status":503`, `" 503 "` after a request line.
fn server_error_status(lower: &str) -> bool {
    let after = |key: &str| {
        lower
            .match_indices(key)
            .any(|(i, k)| five_hundred(&lower[i + k.len()..]))
    };
    after("status=")
        || after("\"status\":")
        || after("\"status\": ")
        || after("code=")
        || after("http/1.1\" ")
        || after("http/2\" ")
        || after("http/2.0\" ")
}

fn five_hundred(rest: &str) -> bool {
    let digits: Vec<u8> = rest.bytes().take_while(u8::is_ascii_digit).collect();
    digits.len() == 3 && digits[0] == b'5'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::types::{InfoMeta, PodInfo, ReplicaSetInfo};

    fn rs(revision: i64, canary: bool, stable: bool, pods: &[&str]) -> ReplicaSetInfo {
        ReplicaSetInfo {
            revision,
            canary,
            stable,
            pods: pods
                .iter()
                .map(|p| PodInfo {
                    object_meta: InfoMeta {
                        name: p.to_string(),
                        ..InfoMeta::default()
                    },
                    ..PodInfo::default()
                })
                .collect(),
            ..ReplicaSetInfo::default()
        }
    }

    #[test]
    fn canary_and_stable_pods_with_their_revisions_newest_first() {
        let info = RolloutInfo {
            replica_sets: vec![
                rs(1, false, true, &["app-1-a", "app-1-b"]),
                rs(2, true, false, &["app-2-a"]),
                rs(0, false, false, &[]),
            ],
            ..RolloutInfo::default()
        };
        let all = log_targets(&info, None, None, 10);
        let shown: Vec<(&str, i64, Role)> = all
            .iter()
            .map(|t| (t.pod.as_str(), t.revision, t.role))
            .collect();
        assert_eq!(
            shown,
            [
                ("app-2-a", 2, Role::Canary),
                ("app-1-a", 1, Role::Stable),
                ("app-1-b", 1, Role::Stable)
            ]
        );
        assert_eq!(log_targets(&info, Some(Role::Stable), None, 10).len(), 2);
        assert_eq!(log_targets(&info, None, Some(2), 10).len(), 1);
        assert_eq!(log_targets(&info, None, None, 2).len(), 2);
        assert!(log_targets(&info, Some(Role::Preview), None, 10).is_empty());
    }

    #[test]
    fn error_lines_by_level_and_by_5xx_status() {
        for line in [
            "level=error method=GET path=/ status=503 duration_ms=900",
            "level=info method=GET path=/ status=502 duration_ms=9",
            r#"{"level":"error","msg":"db down"}"#,
            r#"{"status":500}"#,
            r#"10.0.0.1 - - [07/Dec/2026] "GET / HTTP/1.1" 503 12"#,
            "ERROR connection refused",
            "thread 'main' panicked at src/main.rs: panic: boom",
        ] {
            assert!(is_error_line(line), "{line}");
        }
        for line in [
            "level=info method=GET path=/ status=200 duration_ms=40",
            r#"10.0.0.1 - - [07/Dec/2026] "GET / HTTP/1.1" 200 5003"#,
            "listening on :8080, 5000 workers",
            "status=5000",
            r#"{"level":"warn","msg":"slow"}"#,
        ] {
            assert!(!is_error_line(line), "{line}");
        }
    }
}
