//! PURE: one metric measured on both sides and tested becomes a
//! classification and a reason in words, the same way for every metric
//! the comparison has (`info::compare` for requests, `info::compare_usage`
//! for the pods' CPU, memory and restarts).

use super::comparison::{Classification, MetricComparison, Samples};
use super::statistics::TestResult;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Direction {
    Higher,
    Lower,
}

impl Direction {
    /// Higher when the test's difference (canary minus stable) is positive.
    pub fn of(test: &TestResult) -> Direction {
        if test.z > 0.0 {
            Direction::Higher
        } else {
            Direction::Lower
        }
    }

    fn word(self) -> &'static str {
        match self {
            Direction::Higher => "higher",
            Direction::Lower => "lower",
        }
    }
}

/// One metric measured on both sides, and its test.
pub struct Measured {
    pub name: &'static str,
    pub unit: &'static str,
    pub canary: f64,
    pub stable: f64,
    /// Both values in words: "success 97.0% against 99.8% on stable".
    pub values: String,
    /// What the test ran over: "over 1,200 canary requests" (or empty).
    pub over: String,
    pub within_tolerance: bool,
    /// The tolerance in words: "0.5 point", "10%".
    pub tolerance: String,
    pub direction: Direction,
    pub test: TestResult,
    pub samples: Samples,
}

/// `Pass` without a sure difference or within the tolerance; else `High`
/// or `Low`; the reason says which and why.
pub fn classify(m: Measured, confidence: f64) -> MetricComparison {
    let sure = m.test.p_value < 1.0 - confidence;
    let at = format!("{}% confidence", trim(confidence * 100.0));
    let over = if m.over.is_empty() {
        String::new()
    } else {
        format!(" {}", m.over)
    };
    let values = &m.values;
    let (classification, reason) = match (sure, m.within_tolerance) {
        (false, _) => (
            Classification::Pass,
            format!("{values}: no difference at {at}{over}"),
        ),
        (true, true) => (
            Classification::Pass,
            format!(
                "{values}: {} at {at}{over}, but within the {} tolerance",
                m.direction.word(),
                m.tolerance
            ),
        ),
        (true, false) => (
            match m.direction {
                Direction::Higher => Classification::High,
                Direction::Lower => Classification::Low,
            },
            format!("{values}, {} at {at}{over}", m.direction.word()),
        ),
    };
    MetricComparison {
        name: m.name,
        unit: m.unit,
        canary: Some(round(m.canary)),
        stable: Some(round(m.stable)),
        difference: Some(round(m.canary - m.stable)),
        classification,
        confidence: Some(round(1.0 - m.test.p_value)),
        reason,
        samples: m.samples,
    }
}

/// A metric that cannot be judged, and why.
pub fn no_data(
    name: &'static str,
    unit: &'static str,
    why: String,
    samples: Samples,
) -> MetricComparison {
    MetricComparison {
        name,
        unit,
        canary: None,
        stable: None,
        difference: None,
        classification: Classification::NoData,
        confidence: None,
        reason: why,
        samples,
    }
}

/// 98.0 → "98", 99.5 → "99.5".
pub fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn round(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidences_read_without_trailing_zeros() {
        assert_eq!(trim(98.0), "98");
        assert_eq!(trim(99.5), "99.5");
    }
}
