//! What the pages show, computed from RolloutInfo: plain structs the
//! templates print (no logic in templates beyond loops and ifs). Pure.

pub mod analysis_metric;
pub mod bulk;
pub mod card;
pub mod changes;
pub mod clusters;
pub mod detail;
pub mod filter;
pub mod health;
pub mod history;
pub mod kept_logs;
pub mod logs;
pub mod observed;
pub mod overview;

use crate::info::RolloutInfo;
use crate::model::CanaryStep;

/// The element id of a rollout's card (Kubernetes names are DNS labels, so
/// the id is always valid).
pub fn card_id(namespace: &str, name: &str) -> String {
    format!("r-{namespace}--{name}")
}

/// (status, CSS class, how many) for every status of `counts`.
pub fn status_counts(
    counts: &crate::cluster::tallies::Counts,
) -> Vec<(&'static str, &'static str, usize)> {
    filter::STATUSES
        .iter()
        .map(|s| (*s, status_class(s), counts.of(s)))
        .collect()
}

/// CSS class of a status.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "Progressing" => "progressing",
        "Paused" => "paused",
        "Degraded" | "Error" | "InvalidSpec" => "degraded",
        "Healthy" => "healthy",
        _ => "unknown",
    }
}

/// One step in people's words.
pub fn step_label(step: &CanaryStep) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    if let Some(w) = step.set_weight {
        return format!("Set weight {w}%");
    }
    if let Some(p) = &step.pause {
        return match &p.duration {
            None => "Pause until promoted".to_string(),
            Some(IntOrString::Int(s)) => format!("Pause {s} s"),
            Some(IntOrString::String(s)) if s.chars().all(|c| c.is_ascii_digit()) => {
                format!("Pause {s} s")
            }
            Some(IntOrString::String(s)) => format!("Pause {s}"),
        };
    }
    if let Some(a) = &step.analysis {
        let names: Vec<&str> = a
            .get("templates")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("templateName").and_then(|n| n.as_str()))
            .collect();
        return if names.is_empty() {
            "Analysis".to_string()
        } else {
            format!("Analysis ({})", names.join(", "))
        };
    }
    if step.experiment.is_some() {
        return "Experiment".to_string();
    }
    if let Some(s) = &step.set_canary_scale {
        if let Some(w) = s.weight {
            return format!("Canary scale {w}%");
        }
        if let Some(r) = s.replicas {
            return format!("Canary scale {r} replicas");
        }
        return "Canary scale follows traffic".to_string();
    }
    let named = |v: &Option<Box<serde_json::Value>>| {
        v.as_ref()
            .and_then(|v| v.get("name"))
            .and_then(|n| n.as_str())
            .map(str::to_string)
    };
    if let Some(n) = named(&step.set_header_route) {
        return format!("Header route {n}");
    }
    if let Some(n) = named(&step.set_mirror_route) {
        return format!("Mirror route {n}");
    }
    crate::info::step_text(step)
}

/// The short kind of a step (for the segment's class).
pub fn step_kind(step: &CanaryStep) -> &'static str {
    if step.set_weight.is_some() {
        "weight"
    } else if step.pause.is_some() {
        "pause"
    } else if step.analysis.is_some() {
        "analysis"
    } else if step.experiment.is_some() {
        "experiment"
    } else {
        "other"
    }
}

/// Where the rollout stands among its steps, as Argo's API and UI say it
/// (`index/len`, the steps done), so both dashboards read alike.
pub fn step_position(info: &RolloutInfo) -> Option<String> {
    let n = info.steps.len();
    let i = info.step_index?;
    if n == 0 {
        return None;
    }
    Some(format!("{}/{n} steps done", (i.max(0) as usize).min(n)))
}

/// Done / current / to do, for step `i` (0-based).
pub fn step_state(info: &RolloutInfo, i: usize) -> &'static str {
    match info.step_index {
        Some(cur) if (cur as usize) > i => "done",
        Some(cur) if cur as usize == i => "current",
        _ => "todo",
    }
}

/// The `HH:MM UTC` of an RFC 3339 time, for "since 14:02".
pub fn clock_time(rfc3339: &str) -> String {
    rfc3339
        .parse::<jiff::Timestamp>()
        .map(|t| t.strftime("%H:%M UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}
