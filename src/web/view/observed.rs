//! The rollout page's "Observed traffic" panel: each revision's share,
//! rate, success rate and latency per Prometheus, next to the router's
//! weight, with warnings when the canary receives another share than set or
//! answers worse than stable, and a sparkline of the canary's share. Pure.

use crate::info::comparison::{Classification, Comparison, Verdict};
use crate::info::observed::ObservedTraffic;
use crate::info::words::{self, window_words};

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedView {
    pub source: String,
    pub window: String,
    /// When Prometheus last answered (RFC 3339, and as a clock time).
    pub updated: Option<(String, String)>,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    pub rows: Vec<ObservedRow>,
    pub sparkline: Option<Sparkline>,
    pub comparison: Option<ComparisonView>,
}

/// The canary against stable, as the panel shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonView {
    /// `pass`, `fail`, `nodata`.
    pub verdict: &'static str,
    pub verdict_words: &'static str,
    /// Which revisions, and how they are judged.
    pub about: String,
    pub reason: Option<String>,
    pub rows: Vec<ComparisonRow>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonRow {
    pub label: &'static str,
    pub canary: String,
    pub stable: String,
    pub difference: String,
    /// `Pass`, `High`, `Low`, `NoData`.
    pub classification: &'static str,
    pub worse: bool,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedRow {
    pub revision: String,
    pub role: String,
    /// 0..100, for the meter.
    pub share: f64,
    pub share_text: String,
    /// The router's weight for this revision, when it has one.
    pub weight_text: String,
    pub rate: String,
    pub success: String,
    /// The canary answers worse than stable.
    pub success_worse: bool,
    pub p50: String,
    pub p99: String,
    pub latency_worse: bool,
}

/// The canary's share over time: an SVG polyline in a 100×30 box.
#[derive(Clone, Debug, PartialEq)]
pub struct Sparkline {
    pub points: String,
    pub label: String,
}

/// How much slower (p99) a canary may be than stable before it is marked.
const SLOWER: f64 = 1.5;

impl ObservedView {
    pub fn of(observed: &ObservedTraffic) -> ObservedView {
        let configured = observed.configured_canary_weight;
        let baseline = observed
            .revisions
            .iter()
            .find(|r| matches!(r.role, Some("stable" | "active")));
        let rows = observed
            .revisions
            .iter()
            .map(|r| {
                let is_new = matches!(r.role, Some("canary" | "preview"));
                let compare = baseline.filter(|_| is_new);
                let weight = match (r.role, configured) {
                    (Some("canary"), Some(w)) => format!("{w}%"),
                    (Some("stable"), Some(w)) => format!("{}%", 100 - w),
                    _ => String::new(),
                };
                ObservedRow {
                    revision: r.revision.clone(),
                    role: r.role.unwrap_or("older").to_string(),
                    share: (r.share * 100.0).clamp(0.0, 100.0),
                    share_text: format!("{:.1}%", r.share * 100.0),
                    weight_text: weight,
                    rate: format!("{:.1}/s", r.requests_per_second),
                    success: r
                        .success_rate
                        .map_or("–".to_string(), |s| format!("{:.1}%", s * 100.0)),
                    success_worse: compare
                        .and_then(|b| Some((b.success_rate? - r.success_rate?) * 100.0 > 1.0))
                        .unwrap_or(false),
                    p50: ms(r.latency_p50_ms),
                    p99: ms(r.latency_p99_ms),
                    latency_worse: compare
                        .and_then(|b| Some(r.latency_p99_ms? > b.latency_p99_ms? * SLOWER))
                        .unwrap_or(false),
                }
            })
            .collect();
        ObservedView {
            source: observed.source.clone(),
            window: window_words(observed.window_seconds),
            updated: observed
                .updated_at
                .as_ref()
                .map(|u| (u.clone(), super::clock_time(u))),
            error: observed.error.clone(),
            warnings: observed.warnings.clone(),
            rows,
            sparkline: sparkline(observed),
            comparison: observed.comparison.as_ref().map(ComparisonView::of),
        }
    }
}

impl ComparisonView {
    pub fn of(c: &Comparison) -> ComparisonView {
        let (verdict, verdict_words) = match c.verdict {
            Verdict::Pass => ("pass", "Pass: nothing worse than stable"),
            Verdict::Fail => ("fail", "Fail: worse than stable"),
            Verdict::NoData => ("nodata", "No data: nothing to judge yet"),
        };
        let revisions = match (&c.canary_revision, &c.stable_revision) {
            (Some(a), Some(b)) => format!(
                "Revision {a} against revision {b} over the last {}. ",
                window_words(c.window_seconds)
            ),
            _ => String::new(),
        };
        let pods = if c.metrics.iter().any(|m| USAGE.contains(&m.name)) {
            " CPU and memory per pod by Student's t-test; restarts by the exact test of two Poisson rates over the pods' lifetimes."
        } else {
            ""
        };
        let about = format!(
            "{revisions}Success rate by a two-proportion test on the 5xx answers; p50 and p99 by the same test on the share of requests slower than the faster side's percentile.{pods} A difference counts at {}% confidence and past its tolerance.",
            (c.confidence * 100.0).round()
        );
        let rows = c
            .metrics
            .iter()
            .map(|m| ComparisonRow {
                label: match m.name {
                    "success-rate" => "Success",
                    "latency-p50" => "p50",
                    "latency-p99" => "p99",
                    "cpu" => "CPU per pod",
                    "memory" => "Memory per pod",
                    _ => "Restarts",
                },
                canary: m.canary.map_or("–".to_string(), |v| shown(v, m.unit)),
                stable: m.stable.map_or("–".to_string(), |v| shown(v, m.unit)),
                difference: match (m.difference, m.unit) {
                    (None, _) => "–".to_string(),
                    (Some(d), "%") => format!("{d:+.1} points"),
                    (Some(d), "ms") => format!("{d:+.1} ms"),
                    (Some(d), unit) => {
                        let sign = if d < 0.0 { "−" } else { "+" };
                        format!("{sign}{}", shown(d.abs(), unit))
                    }
                },
                classification: match m.classification {
                    Classification::Pass => "Pass",
                    Classification::High => "High",
                    Classification::Low => "Low",
                    Classification::NoData => "NoData",
                },
                worse: c.worse().any(|w| w.name == m.name),
                reason: m.reason.clone(),
            })
            .collect::<Vec<_>>();
        // With too few requests every request metric says the same: the
        // reason once, and the rows that could be judged all the same.
        let rows = match &c.reason {
            Some(_) => rows
                .into_iter()
                .filter(|r| r.classification != "NoData")
                .collect(),
            None => rows,
        };
        ComparisonView {
            verdict,
            verdict_words,
            about,
            reason: c.reason.as_deref().map(sentence_case),
            rows,
        }
    }
}

/// The metrics of the pods' usage (`info::compare_usage`).
const USAGE: [&str; 3] = ["cpu", "memory", "restarts"];

/// A comparison's value in its unit, as people read it.
fn shown(v: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{v:.1}%"),
        "ms" => words::ms(v),
        "cores" => words::millicores(v),
        "bytes" => words::mebibytes(v),
        _ => format!("{v:.0}"),
    }
}

/// `text` with a capital first letter and a full stop.
fn sentence_case(text: &str) -> String {
    let mut chars = text.chars();
    let first: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    format!("{first}{}.", chars.as_str().trim_end_matches('.'))
}

/// A latency, or `–` without one.
fn ms(v: Option<f64>) -> String {
    v.map_or("–".to_string(), words::ms)
}

fn sparkline(observed: &ObservedTraffic) -> Option<Sparkline> {
    let h = &observed.canary_share_history;
    let (first, last) = (h.first()?, h.last()?);
    if h.len() < 2 {
        return None;
    }
    let span = (last.at - first.at).max(1) as f64;
    let points = h
        .iter()
        .map(|p| {
            let x = (p.at - first.at) as f64 * 100.0 / span;
            let y = 30.0 - p.share.clamp(0.0, 1.0) * 30.0;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let minutes = ((last.at - first.at) as f64 / 60.0).round();
    Some(Sparkline {
        points,
        label: format!(
            "Canary share over the last {minutes:.0} minutes: from {:.0}% to {:.0}%",
            first.share * 100.0,
            last.share * 100.0
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::observed::{ObservedRevision, SharePoint, judge};

    fn revision(role: &'static str, rps: f64, success: f64, p99: f64) -> ObservedRevision {
        ObservedRevision {
            revision: if role == "canary" { "2" } else { "1" }.into(),
            role: Some(role),
            requests_per_second: rps,
            share: rps / 100.0,
            success_rate: Some(success),
            latency_p50_ms: Some(40.0),
            latency_p99_ms: Some(p99),
            ..ObservedRevision::default()
        }
    }

    #[test]
    fn a_canary_off_its_weight_and_failing_is_marked_next_to_the_routers_weight() {
        let mut observed = ObservedTraffic {
            configured_canary_weight: Some(20),
            source: "http://prometheus:9090".into(),
            window_seconds: 60,
            revisions: vec![
                revision("canary", 35.0, 0.75, 900.0),
                revision("stable", 65.0, 0.999, 200.0),
            ],
            canary_share_history: vec![
                SharePoint { at: 0, share: 0.2 },
                SharePoint {
                    at: 600,
                    share: 0.35,
                },
            ],
            ..ObservedTraffic::default()
        };
        judge(&mut observed, true);
        let v = ObservedView::of(&observed);
        assert_eq!(v.window, "1 min");
        assert_eq!(
            v.warnings,
            [
                "The canary receives 35.0% of requests, but the router is set to 20%.",
                "The canary answers 75.0% of requests successfully, stable 99.9%."
            ]
        );
        let canary = &v.rows[0];
        assert_eq!(
            (
                canary.share_text.as_str(),
                canary.weight_text.as_str(),
                canary.success.as_str()
            ),
            ("35.0%", "20%", "75.0%")
        );
        assert!(canary.success_worse && canary.latency_worse);
        assert!(!v.rows[1].success_worse, "stable is the baseline");
        assert_eq!(v.rows[1].weight_text, "80%");
        let Some(s) = v.sparkline else {
            panic!("two points make a line");
        };
        assert_eq!(s.points, "0.0,24.0 100.0,19.5");
        assert_eq!(
            s.label,
            "Canary share over the last 10 minutes: from 20% to 35%"
        );
    }

    #[test]
    fn without_a_verdict_the_reason_is_said_once() {
        let c = Comparison {
            verdict: Verdict::NoData,
            window_seconds: 60,
            confidence: 0.98,
            canary_revision: Some("2".into()),
            stable_revision: Some("1".into()),
            reason: Some(
                "only 40 canary requests in the last 1 min; at least 100 are needed to judge"
                    .into(),
            ),
            metrics: vec![crate::info::comparison::MetricComparison {
                name: "success-rate",
                unit: "%",
                canary: None,
                stable: None,
                difference: None,
                classification: Classification::NoData,
                confidence: None,
                reason: "only 40 canary requests".into(),
                samples: Default::default(),
            }],
        };
        let v = ComparisonView::of(&c);
        assert_eq!(
            v.reason.as_deref(),
            Some("Only 40 canary requests in the last 1 min; at least 100 are needed to judge.")
        );
        assert!(v.rows.is_empty());
        assert_eq!(v.verdict, "nodata");
        assert!(
            v.about
                .starts_with("Revision 2 against revision 1 over the last 1 min."),
            "{}",
            v.about
        );
    }
}
