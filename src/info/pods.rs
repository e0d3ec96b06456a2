//! Pod status exactly like kubectl's STATUS column (reference §2.8).

use crate::model::{ContainerStatus, Pod};

use super::meta::short_meta;
use super::types::PodInfo;

pub fn pod_info(pod: &Pod) -> PodInfo {
    let (status, ready, restarts) = pod_status(pod);
    PodInfo {
        object_meta: short_meta(&pod.metadata),
        icon: pod_icon(&status).to_string(),
        status,
        ready,
        restarts,
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

/// The pod icon (§2.8), first match wins.
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
