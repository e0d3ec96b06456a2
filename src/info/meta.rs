//! Object metadata and times in the shape Argo's API serves them.

use crate::model::{ObjectMeta, Time};

use super::types::InfoMeta;

/// `metav1.Time` as Go's JSON encoder writes it: RFC3339, UTC, whole seconds.
pub fn rfc3339(t: &Time) -> String {
    t.0.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Go's `time.Time.String()` in UTC, as Argo formats `restartedAt`:
/// `2024-05-01 12:00:00 +0000 UTC`, with nanoseconds only when non-zero and
/// their trailing zeros trimmed. (Argo uses the server's local zone; ours is
/// always UTC, which is what in-cluster containers run with.)
pub fn go_time_string(t: &Time) -> String {
    let secs = t.0.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.0.subsec_nanosecond();
    let frac = if nanos > 0 {
        let digits = format!("{nanos:09}");
        format!(".{}", digits.trim_end_matches('0'))
    } else {
        String::new()
    };
    format!("{secs}{frac} +0000 UTC")
}

/// The rollout's metadata as RolloutInfo carries it: name, namespace, labels,
/// annotations, uid, generation, creationTimestamp, resourceVersion.
pub fn rollout_meta(m: &ObjectMeta) -> InfoMeta {
    InfoMeta {
        labels: m.labels.clone().unwrap_or_default(),
        annotations: m.annotations.clone().unwrap_or_default(),
        resource_version: m.resource_version.clone().unwrap_or_default(),
        generation: m.generation.unwrap_or(0),
        ..short_meta(m)
    }
}

/// Name, namespace, creationTimestamp and uid only (ReplicaSets, pods, runs).
pub fn short_meta(m: &ObjectMeta) -> InfoMeta {
    InfoMeta {
        name: m.name.clone().unwrap_or_default(),
        namespace: m.namespace.clone().unwrap_or_default(),
        uid: m.uid.clone().unwrap_or_default(),
        creation_timestamp: m.creation_timestamp.as_ref().map(rfc3339),
        ..InfoMeta::default()
    }
}

pub fn uid(m: &ObjectMeta) -> &str {
    m.uid.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    #[test]
    fn times_print_like_go() {
        assert_eq!(
            rfc3339(&t("2024-05-01T12:00:00.750Z")),
            "2024-05-01T12:00:00Z"
        );
        assert_eq!(
            go_time_string(&t("2024-05-01T12:00:00Z")),
            "2024-05-01 12:00:00 +0000 UTC"
        );
        assert_eq!(
            go_time_string(&t("2024-05-01T12:00:00.120Z")),
            "2024-05-01 12:00:00.12 +0000 UTC"
        );
    }
}
