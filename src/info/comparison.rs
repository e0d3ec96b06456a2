//! PURE: the canary against stable, metric by metric, as the API and the
//! page show it: per metric the canary's value, stable's, the difference,
//! a classification (`Pass`, `High`, `Low`, `NoData`, as Kayenta names
//! them), how sure, and the reason in words; a verdict over them. Computed
//! by `info::compare`.

use serde::Serialize;

/// How the comparison judges (`--comparison-*`).
#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonSettings {
    /// How sure a difference must be to count, e.g. 0.98.
    pub confidence: f64,
    /// Requests each revision must have answered over the window.
    pub min_requests: f64,
    /// A success rate difference smaller than this many points counts as
    /// none, however sure.
    pub success_points: f64,
    /// A latency difference smaller than this percent counts as none.
    pub p50_percent: f64,
    pub p99_percent: f64,
    /// A difference in CPU or memory per pod smaller than this percent of
    /// stable's counts as none.
    pub cpu_percent: f64,
    pub memory_percent: f64,
    /// Restarts per canary pod beyond what stable's rate would give that
    /// count as none.
    pub restarts_per_pod: f64,
}

impl Default for ComparisonSettings {
    fn default() -> Self {
        ComparisonSettings {
            confidence: 0.98,
            min_requests: 100.0,
            success_points: 0.5,
            p50_percent: 10.0,
            p99_percent: 10.0,
            cpu_percent: 20.0,
            memory_percent: 20.0,
            restarts_per_pod: 1.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    #[serde(rename = "nodata")]
    NoData,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Classification {
    Pass,
    High,
    Low,
    NoData,
}

/// Requests each side answered over the window; for the pods' usage,
/// the pods measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Samples {
    pub canary: f64,
    pub stable: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricComparison {
    /// `success-rate`, `latency-p50`, `latency-p99`, `cpu`, `memory`,
    /// `restarts`.
    pub name: &'static str,
    /// `%`, `ms`, `cores` and `bytes` (per pod), `restarts` (all of a
    /// side's pods').
    pub unit: &'static str,
    pub canary: Option<f64>,
    pub stable: Option<f64>,
    /// Canary minus stable, in the unit.
    pub difference: Option<f64>,
    pub classification: Classification,
    /// How sure the test is that the two differ (1 − p), when it ran.
    pub confidence: Option<f64>,
    pub reason: String,
    pub samples: Samples,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub verdict: Verdict,
    pub window_seconds: u64,
    /// The confidence a difference needs.
    pub confidence: f64,
    pub canary_revision: Option<String>,
    pub stable_revision: Option<String>,
    /// Why there is no verdict, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub metrics: Vec<MetricComparison>,
}

impl Comparison {
    /// The metrics worse than stable in their bad direction.
    pub fn worse(&self) -> impl Iterator<Item = &MetricComparison> {
        self.metrics.iter().filter(|m| is_worse(m))
    }
}

pub(crate) fn is_worse(m: &MetricComparison) -> bool {
    match m.name {
        "success-rate" => m.classification == Classification::Low,
        _ => m.classification == Classification::High,
    }
}
