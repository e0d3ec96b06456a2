//! Pod status exactly like kubectl's STATUS column.

use std::borrow::Cow;
use std::sync::Arc;

use crate::model::{ContainerStatus, ObjectKey, Pod, Time};

use super::meta::rfc3339;
use super::types::{InfoMeta, PodInfo};

pub fn pod_info(pod: &Pod) -> PodInfo {
    PodRecord::of(pod).info()
}

/// A pod as the dashboard keeps it: its row worked out once when it is
/// read (kubectl's STATUS, READY and RESTARTS depend on the pod alone), and
/// what finds and orders it. Pods are most of what is watched; a whole Pod
/// held about 1.2 KB, this about a fifth of that: its key is the one the
/// index files it under, and the words most pods share are not copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRecord {
    pub key: Arc<ObjectKey>,
    pub uid: String,
    pub created: Option<Time>,
    /// The uids of its owners (its ReplicaSet).
    pub owners: Box<[String]>,
    pub status: Cow<'static, str>,
    pub ready: Cow<'static, str>,
    pub restarts: i32,
}

/// STATUS and READY as most pods have them: one static copy, not a string
/// in each of 100,000 pods.
const COMMON: &[&str] = &[
    "Running",
    "Pending",
    "Succeeded",
    "Failed",
    "Unknown",
    "Completed",
    "Terminating",
    "ContainerCreating",
    "PodInitializing",
    "CrashLoopBackOff",
    "Error",
    "0/1",
    "1/1",
    "0/2",
    "1/2",
    "2/2",
    "0/3",
    "1/3",
    "2/3",
    "3/3",
];

fn shared(word: String) -> Cow<'static, str> {
    match COMMON.iter().find(|c| **c == word) {
        Some(c) => Cow::Borrowed(c),
        None => Cow::Owned(word),
    }
}

impl PodRecord {
    pub fn of(pod: &Pod) -> PodRecord {
        let (status, ready, restarts) = pod_status(pod);
        let m = &pod.metadata;
        PodRecord {
            key: Arc::new(ObjectKey::new(
                m.namespace.as_deref().unwrap_or_default(),
                m.name.as_deref().unwrap_or_default(),
            )),
            uid: m.uid.clone().unwrap_or_default(),
            created: m.creation_timestamp.clone(),
            owners: m
                .owner_references
                .iter()
                .flatten()
                .map(|o| o.uid.clone())
                .collect(),
            status: shared(status),
            ready: shared(ready),
            restarts,
        }
    }

    pub fn is_owned_by(&self, uid: &str) -> bool {
        !uid.is_empty() && self.owners.iter().any(|o| o == uid)
    }

    /// The row as `pod_info` gives it for the pod it was read from.
    pub fn info(&self) -> PodInfo {
        PodInfo {
            object_meta: InfoMeta {
                name: self.key.name.clone(),
                namespace: self.key.namespace.clone(),
                uid: self.uid.clone(),
                creation_timestamp: self.created.as_ref().map(rfc3339),
                ..InfoMeta::default()
            },
            icon: pod_icon(&self.status).to_string(),
            status: self.status.to_string(),
            ready: self.ready.to_string(),
            restarts: self.restarts,
        }
    }
}

/// kubectl's pod status: (STATUS, READY "r/t", RESTARTS).
pub fn pod_status(pod: &Pod) -> (String, String, i32) {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let init_specs = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    let total_containers = spec.and_then(|s| s.containers.as_ref()).map_or(0, Vec::len);
    let pod_reason = status.and_then(|s| s.reason.as_deref()).unwrap_or_default();

    let mut reason = status
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
        .to_string();
    if !pod_reason.is_empty() {
        reason = pod_reason.to_string();
    }

    let is_sidecar = |name: Option<&str>| {
        init_specs
            .iter()
            .any(|c| c.name.as_deref() == name && c.restart_policy.as_deref() == Some("Always"))
    };

    let mut initializing = false;
    let mut restarts: i32 = 0;
    let init_statuses = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    for (i, cs) in init_statuses.iter().enumerate() {
        restarts = restarts.saturating_add(cs.restart_count.unwrap_or(0));
        let state = cs.state.as_ref();
        if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            let exit_code = t.exit_code.unwrap_or(0);
            if exit_code == 0 {
                continue;
            }
            let signal = t.signal.unwrap_or(0);
            reason = match t.reason.as_deref() {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ if signal != 0 => format!("Init:Signal:{signal}"),
                _ => format!("Init:ExitCode:{exit_code}"),
            };
            initializing = true;
            break;
        }
        if is_sidecar(cs.name.as_deref()) && cs.started == Some(true) {
            if cs.ready.unwrap_or(false) {
                continue;
            }
            break;
        }
        if let Some(w) = waiting_reason(cs)
            && w != "PodInitializing"
        {
            reason = format!("Init:{w}");
            initializing = true;
            break;
        }
        reason = format!("Init:{i}/{}", init_specs.len());
        initializing = true;
        break;
    }

    let mut ready = 0;
    if !initializing {
        restarts = 0;
        let mut has_running = false;
        let statuses = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default();
        // From last to first, so the first container's state wins.
        for cs in statuses.iter().rev() {
            restarts = restarts.saturating_add(cs.restart_count.unwrap_or(0));
            let state = cs.state.as_ref();
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if let Some(w) = waiting_reason(cs) {
                reason = w.to_string();
            } else if let Some(r) = terminated
                .and_then(|t| t.reason.as_deref())
                .filter(|r| !r.is_empty())
            {
                reason = r.to_string();
            } else if let Some(t) = terminated {
                let signal = t.signal.unwrap_or(0);
                reason = if signal != 0 {
                    format!("Signal:{signal}")
                } else {
                    format!("ExitCode:{}", t.exit_code.unwrap_or(0))
                };
            } else if cs.ready.unwrap_or(false) && state.is_some_and(|s| s.running.is_some()) {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".to_string();
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        reason = if pod_reason == "NodeLost" {
            "Unknown".to_string()
        } else {
            "Terminating".to_string()
        };
    }
    (reason, format!("{ready}/{total_containers}"), restarts)
}

fn waiting_reason(cs: &ContainerStatus) -> Option<&str> {
    cs.state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .as_deref()
        .filter(|r| !r.is_empty())
}

/// The pod icon, as Argo's dashboard picks it; first match wins.
pub fn pod_icon(status: &str) -> &'static str {
    if status.starts_with("Init:") {
        return "◌";
    }
    if status.starts_with("Signal:") || status.starts_with("ExitCode:") {
        return "✖";
    }
    if status.ends_with("Error") || status.starts_with("Err") {
        return "⚠";
    }
    match status {
        "Pending" | "Terminating" | "ContainerCreating" => "◌",
        "Running" | "Completed" => "✔",
        "Failed" | "InvalidImageName" | "CrashLoopBackOff" => "✖",
        "ImagePullBackOff" | "RegistryUnavailable" => "⚠",
        "Unknown" => "?",
        _ => " ",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn status_of(v: Value) -> (String, String, i32) {
        pod_status(&pod(v))
    }

    fn two_containers(statuses: Value) -> Value {
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
               "status": {"phase": "Running", "containerStatuses": statuses}})
    }

    fn running(name: &str, restarts: i32) -> Value {
        json!({"name": name, "ready": true, "restartCount": restarts, "state": {"running": {}}})
    }

    #[test]
    fn phase_then_pod_reason() {
        assert_eq!(
            status_of(json!({"status": {"phase": "Pending"}})).0,
            "Pending"
        );
        assert_eq!(
            status_of(json!({"status": {"phase": "Failed", "reason": "Evicted"}})).0,
            "Evicted"
        );
    }

    #[test]
    fn running_and_ready_counts_and_restarts() {
        let s = status_of(two_containers(json!([running("a", 1), running("b", 2)])));
        assert_eq!(s, ("Running".to_string(), "2/2".to_string(), 3));
        assert_eq!(pod_icon(&s.0), "✔");
    }

    #[test]
    fn first_container_state_wins() {
        let statuses = json!([
            {"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
            {"name": "b", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]);
        let s = status_of(two_containers(statuses));
        assert_eq!(s, ("ImagePullBackOff".to_string(), "0/2".to_string(), 0));
        assert_eq!(pod_icon(&s.0), "⚠");
    }

    #[test]
    fn terminated_reason_signal_and_exit_code() {
        let t = |term: Value| {
            status_of(two_containers(
                json!([{"name": "a", "state": {"terminated": term}}, running("b", 0)]),
            ))
            .0
        };
        assert_eq!(
            t(json!({"reason": "OOMKilled", "exitCode": 137})),
            "OOMKilled"
        );
        assert_eq!(t(json!({"signal": 9, "exitCode": 137})), "Signal:9");
        assert_eq!(t(json!({"exitCode": 3})), "ExitCode:3");
        assert_eq!(pod_icon("Signal:9"), "✖");
        assert_eq!(pod_icon("ExitCode:3"), "✖");
    }

    #[test]
    fn completed_with_a_running_container_reads_running() {
        let statuses = json!([
            {"name": "a", "state": {"terminated": {"reason": "Completed"}}},
            running("b", 0)
        ]);
        assert_eq!(status_of(two_containers(statuses)).0, "Running");
        let only_done = json!([{"name": "a", "state": {"terminated": {"reason": "Completed"}}},
                               {"name": "b", "state": {"terminated": {"reason": "Completed"}}}]);
        assert_eq!(status_of(two_containers(only_done)).0, "Completed");
    }

    fn with_init(init_specs: Value, init_statuses: Value) -> Value {
        json!({"spec": {"containers": [{"name": "app"}], "initContainers": init_specs},
               "status": {"phase": "Pending", "initContainerStatuses": init_statuses,
                          "containerStatuses": [running("app", 5)]}})
    }

    #[test]
    fn init_container_failed_with_reason_signal_or_exit_code() {
        let specs = json!([{"name": "i"}]);
        let t = |term: Value| {
            status_of(with_init(
                specs.clone(),
                json!([{"name": "i", "restartCount": 2, "state": {"terminated": term}}]),
            ))
        };
        let s = t(json!({"reason": "Error", "exitCode": 1}));
        // Initializing: ready is not counted and restarts are the init ones.
        assert_eq!(s, ("Init:Error".to_string(), "0/1".to_string(), 2));
        assert_eq!(pod_icon(&s.0), "◌");
        assert_eq!(t(json!({"signal": 15, "exitCode": 1})).0, "Init:Signal:15");
        assert_eq!(t(json!({"exitCode": 4})).0, "Init:ExitCode:4");
    }

    #[test]
    fn finished_init_containers_are_skipped() {
        let specs = json!([{"name": "i"}]);
        let statuses =
            json!([{"name": "i", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]);
        // Not initializing: containers are counted; the phase stays the reason.
        let s = status_of(with_init(specs, statuses));
        assert_eq!(s, ("Pending".to_string(), "1/1".to_string(), 5));
    }

    #[test]
    fn init_container_waiting_with_a_reason() {
        let specs = json!([{"name": "i"}]);
        let waiting = |r: &str| json!([{"name": "i", "state": {"waiting": {"reason": r}}}]);
        assert_eq!(
            status_of(with_init(specs.clone(), waiting("ErrImagePull"))).0,
            "Init:ErrImagePull"
        );
        // PodInitializing is not a reason to show: count the progress instead.
        assert_eq!(
            status_of(with_init(specs, waiting("PodInitializing"))).0,
            "Init:0/1"
        );
    }

    #[test]
    fn init_container_running_shows_progress() {
        let specs = json!([{"name": "i0"}, {"name": "i1"}]);
        let statuses = json!([
            {"name": "i0", "state": {"terminated": {"exitCode": 0}}},
            {"name": "i1", "state": {"running": {}}}
        ]);
        assert_eq!(status_of(with_init(specs, statuses)).0, "Init:1/2");
    }

    #[test]
    fn started_sidecars_do_not_hold_initialization() {
        let specs = json!([{"name": "proxy", "restartPolicy": "Always"}, {"name": "i"}]);
        // Ready sidecar: move on to the next init container.
        let ready = json!([
            {"name": "proxy", "started": true, "ready": true, "state": {"running": {}}},
            {"name": "i", "state": {"running": {}}}
        ]);
        assert_eq!(status_of(with_init(specs.clone(), ready)).0, "Init:1/2");
        // Started but not ready: stop looking, not initializing, phase stays.
        let unready = json!([
            {"name": "proxy", "started": true, "ready": false, "state": {"running": {}}},
            {"name": "i", "state": {"running": {}}}
        ]);
        let s = status_of(with_init(specs, unready));
        assert_eq!(s, ("Pending".to_string(), "1/1".to_string(), 5));
    }

    #[test]
    fn deleted_pods_are_terminating_or_unknown_when_the_node_is_lost() {
        let deleting = json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"},
                              "status": {"phase": "Running"}});
        assert_eq!(status_of(deleting.clone()).0, "Terminating");
        let mut lost = deleting;
        lost["status"]["reason"] = json!("NodeLost");
        assert_eq!(status_of(lost).0, "Unknown");
        assert_eq!(pod_icon("Terminating"), "◌");
        assert_eq!(pod_icon("Unknown"), "?");
    }

    #[test]
    fn icons_first_match_wins() {
        assert_eq!(pod_icon("Init:0/1"), "◌");
        assert_eq!(pod_icon("CreateContainerConfigError"), "⚠");
        assert_eq!(pod_icon("ErrImagePull"), "⚠");
        assert_eq!(pod_icon("Pending"), "◌");
        assert_eq!(pod_icon("ContainerCreating"), "◌");
        assert_eq!(pod_icon("Completed"), "✔");
        assert_eq!(pod_icon("Failed"), "✖");
        assert_eq!(pod_icon("InvalidImageName"), "✖");
        assert_eq!(pod_icon("CrashLoopBackOff"), "✖");
        assert_eq!(pod_icon("RegistryUnavailable"), "⚠");
        assert_eq!(pod_icon("Evicted"), " ");
    }
}
