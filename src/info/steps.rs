//! Canary steps in words, pause durations, and what a paused rollout waits
//! for.

use jiff::SignedDuration;

use crate::model::{CanaryStep, IntOrString, Rollout};

use super::meta::rfc3339;
use super::types::PauseInfo;
use super::weights::current_step;

/// The CLI's text for a step (`CanaryStepString`).
pub fn step_text(step: &CanaryStep) -> String {
    if let Some(w) = step.set_weight {
        return format!("setWeight: {w}");
    }
    if let Some(p) = &step.pause {
        return match &p.duration {
            Some(IntOrString::Int(s)) => format!("pause: {s}"),
            Some(IntOrString::String(s)) => format!("pause: {s}"),
            None => "pause".to_string(),
        };
    }
    if step.experiment.is_some() {
        return "experiment".to_string();
    }
    if step.analysis.is_some() {
        return "analysis".to_string();
    }
    if let Some(s) = &step.set_canary_scale {
        if let Some(w) = s.weight {
            return format!("setCanaryScale{{weight: {w}}}");
        }
        if s.match_traffic_weight == Some(true) {
            return "setCanaryScale{matchTrafficWeight: true}".to_string();
        }
        if let Some(r) = s.replicas {
            return format!("setCanaryScale{{replicas: {r}}}");
        }
    }
    if let Some(name) = named(step.plugin.as_deref()) {
        return format!("plugin: {name}");
    }
    if let Some(name) = named(step.set_header_route.as_deref()) {
        return format!("setHeaderRoute: {name}");
    }
    if let Some(name) = named(step.set_mirror_route.as_deref()) {
        return format!("setMirrorRoute: {name}");
    }
    "invalid".to_string()
}

fn named(v: Option<&serde_json::Value>) -> Option<&str> {
    v?.get("name")?.as_str()
}

/// A pause step's duration: an integer is seconds; a string is either an
/// integer (seconds) or a Go duration ("30s", "5m", "1h30m"). `None` for an
/// indefinite pause or a value that does not parse.
pub fn pause_duration(d: &IntOrString) -> Option<SignedDuration> {
    match d {
        IntOrString::Int(s) => Some(SignedDuration::from_secs(i64::from(*s))),
        IntOrString::String(s) => match s.trim().parse::<i64>() {
            Ok(secs) => Some(SignedDuration::from_secs(secs)),
            Err(_) => parse_go_duration(s.trim()),
        },
    }
}

/// Go's `time.ParseDuration`: an optional sign and a sequence of decimal
/// numbers, each with a unit (ns, us, µs, ms, s, m, h), e.g. "1h30m", "1.5s".
pub fn parse_go_duration(s: &str) -> Option<SignedDuration> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(SignedDuration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total_nanos += value * scale;
        rest = tail;
    }
    if !total_nanos.is_finite() || total_nanos > i64::MAX as f64 {
        return None;
    }
    let nanos = total_nanos as i64;
    Some(SignedDuration::from_nanos(if negative {
        -nanos
    } else {
        nanos
    }))
}

/// Every reason the rollout is paused, the manual pause first, with when it
/// began and (for timed pauses) when it ends by itself.
pub fn pauses(ro: &Rollout) -> Vec<PauseInfo> {
    let status = ro.status();
    let mut out = Vec::new();
    if ro.is_paused_by_spec() {
        let since = status
            .conditions()
            .iter()
            .find(|c| c.type_.as_deref() == Some("Paused") && c.status.as_deref() == Some("True"))
            .and_then(|c| c.last_transition_time.as_ref())
            .map(rfc3339);
        out.push(PauseInfo {
            reason: "Manual".to_string(),
            since,
            until: None,
            waits_for: "someone to resume or promote it".to_string(),
        });
    }
    for pc in status.pause_conditions() {
        let reason = pc.reason.clone().unwrap_or_default();
        let start = pc.start_time.as_ref();
        let mut until = None;
        let waits_for = match reason.as_str() {
            "CanaryPauseStep" => {
                let timed = current_step(ro)
                    .and_then(|(_, step)| step.pause.as_ref())
                    .and_then(|p| p.duration.as_ref())
                    .and_then(pause_duration);
                match (timed, start) {
                    (Some(d), Some(s)) => {
                        until =
                            s.0.checked_add(d)
                                .ok()
                                .map(|t| rfc3339(&crate::model::Time(t)));
                        "the pause duration to pass, or someone to promote it".to_string()
                    }
                    _ => "someone to promote it".to_string(),
                }
            }
            "BlueGreenPause" => {
                let bg = ro.blue_green();
                let auto = bg.and_then(|b| b.auto_promotion_enabled).unwrap_or(true);
                let seconds = bg.and_then(|b| b.auto_promotion_seconds).unwrap_or(0);
                match start {
                    Some(s) if auto && seconds > 0 => {
                        until =
                            s.0.checked_add(SignedDuration::from_secs(i64::from(seconds)))
                                .ok()
                                .map(|t| rfc3339(&crate::model::Time(t)));
                        "auto-promotion, or someone to promote it".to_string()
                    }
                    _ => "someone to promote the preview to active".to_string(),
                }
            }
            "InconclusiveAnalysisRun" => {
                "a person to judge the inconclusive analysis: promote or abort".to_string()
            }
            "InconclusiveExperiment" => {
                "a person to judge the inconclusive experiment: promote or abort".to_string()
            }
            _ => "someone to promote it".to_string(),
        };
        out.push(PauseInfo {
            reason,
            since: start.map(rfc3339),
            until,
            waits_for,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn step(v: serde_json::Value) -> CanaryStep {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn steps_read_like_the_cli() {
        let cases = [
            (json!({"setWeight": 20}), "setWeight: 20"),
            (json!({"pause": {}}), "pause"),
            (json!({"pause": {"duration": 30}}), "pause: 30"),
            (json!({"pause": {"duration": "5m"}}), "pause: 5m"),
            (json!({"experiment": {}}), "experiment"),
            (json!({"analysis": {}}), "analysis"),
            (
                json!({"setCanaryScale": {"weight": 5}}),
                "setCanaryScale{weight: 5}",
            ),
            (
                json!({"setCanaryScale": {"matchTrafficWeight": true}}),
                "setCanaryScale{matchTrafficWeight: true}",
            ),
            (
                json!({"setCanaryScale": {"replicas": 2}}),
                "setCanaryScale{replicas: 2}",
            ),
            (json!({"plugin": {"name": "p"}}), "plugin: p"),
            (
                json!({"setHeaderRoute": {"name": "h"}}),
                "setHeaderRoute: h",
            ),
            (
                json!({"setMirrorRoute": {"name": "m"}}),
                "setMirrorRoute: m",
            ),
            (json!({}), "invalid"),
        ];
        for (v, want) in cases {
            assert_eq!(step_text(&step(v.clone())), want, "{v}");
        }
    }

    #[test]
    fn pause_durations_are_seconds_or_go_durations() {
        let secs = |d: IntOrString| pause_duration(&d).map(|d| d.as_secs_f64());
        assert_eq!(secs(IntOrString::Int(30)), Some(30.0));
        assert_eq!(secs(IntOrString::String("30".into())), Some(30.0));
        assert_eq!(secs(IntOrString::String("30s".into())), Some(30.0));
        assert_eq!(secs(IntOrString::String("5m".into())), Some(300.0));
        assert_eq!(secs(IntOrString::String("1h30m".into())), Some(5400.0));
        assert_eq!(secs(IntOrString::String("1.5s".into())), Some(1.5));
        assert_eq!(secs(IntOrString::String("500ms".into())), Some(0.5));
        for bad in ["", "s", "5x", "5 m", "1e9h", "..s", "99999999999999999999h"] {
            assert_eq!(secs(IntOrString::String(bad.into())), None, "{bad:?}");
        }
    }
}
