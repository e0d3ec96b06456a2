//! PURE: the canary against stable from the request metrics observed over
//! the window (`info::observed`): its success rate and its p50 and p99
//! latency, each tested at the stated confidence (`info::statistics`): the
//! success rate by a two-proportion test on the 5xx answers, a latency
//! quantile by the same test on the share of requests slower than stable's
//! quantile's bucket. The verdict: `fail` when a metric is worse in its bad
//! direction, `nodata` when either side answered too few requests to
//! judge, else `pass`.

use super::attention::Attention;
use super::classify::{Direction, Measured, classify, no_data};
use super::compare_usage::{Load, usage_metrics};
use super::comparison::{
    Classification, Comparison, ComparisonSettings, MetricComparison, Samples, Verdict, is_worse,
};
use super::observed::{ObservedRevision, ObservedTraffic, histogram_quantile};
use super::statistics::{above, quantile_bucket, two_proportions};
use super::usage::PodUsage;
use super::words::{count, ms, window_words};

/// One side's requests over the window, and its pods' usage.
struct Side<'a> {
    revision: String,
    requests: f64,
    errors: f64,
    buckets: Vec<(f64, f64)>,
    usage: &'a [PodUsage],
}

impl Side<'_> {
    fn of(r: &ObservedRevision, window: f64) -> Side<'_> {
        Side {
            revision: r.revision.clone(),
            requests: r.requests_per_second * window,
            errors: r.errors_per_second * window,
            buckets: r.buckets.iter().map(|(le, c)| (*le, c * window)).collect(),
            usage: &r.usage,
        }
    }
}

/// The canary (or preview) against stable (or active) in `observed`.
pub fn compare(observed: &ObservedTraffic, settings: &ComparisonSettings) -> Comparison {
    let window = observed.window_seconds.max(1) as f64;
    let role = |names: [&str; 2]| {
        observed
            .revisions
            .iter()
            .find(|r| r.role == Some(names[0]))
            .or_else(|| observed.revisions.iter().find(|r| r.role == Some(names[1])))
    };
    let canary = role(["canary", "preview"]).map(|r| Side::of(r, window));
    let stable = role(["stable", "active"]).map(|r| Side::of(r, window));
    let mut c = Comparison {
        verdict: Verdict::NoData,
        window_seconds: observed.window_seconds,
        confidence: settings.confidence,
        canary_revision: canary.as_ref().map(|s| s.revision.clone()),
        stable_revision: stable.as_ref().map(|s| s.revision.clone()),
        reason: None,
        metrics: Vec::new(),
    };
    let (canary, stable) = match (canary, stable, &observed.error) {
        (_, _, Some(e)) => {
            c.reason = Some(format!("no observed traffic: {e}"));
            return c;
        }
        (Some(canary), Some(stable), None) => (canary, stable),
        _ => {
            c.reason = Some("there is no canary beside a stable revision to compare".into());
            return c;
        }
    };
    let judge = Judge {
        settings,
        canary: &canary,
        stable: &stable,
    };
    c.metrics = vec![
        judge.success_rate(),
        judge.latency("latency-p50", "p50", 0.5, settings.p50_percent),
        judge.latency("latency-p99", "p99", 0.99, settings.p99_percent),
    ];
    // CPU per request only where the requests are enough to judge by.
    let per_pod = |side: &Side| side.requests / window / side.usage.len().max(1) as f64;
    let load = (canary.requests >= settings.min_requests
        && stable.requests >= settings.min_requests)
        .then(|| Load {
            canary_per_pod: per_pod(&canary),
            stable_per_pod: per_pod(&stable),
        });
    c.metrics
        .extend(usage_metrics(canary.usage, stable.usage, load, settings));
    let few = |side: &Side, name: &str| {
        (side.requests < settings.min_requests).then(|| {
            format!(
                "only {} {name} requests in the last {}; at least {} are needed to judge",
                count(side.requests),
                window_words(observed.window_seconds),
                count(settings.min_requests)
            )
        })
    };
    c.reason = few(&canary, "canary").or_else(|| few(&stable, "stable"));
    // A canary that restarts or eats memory fails however few requests
    // reach it (a crashing pod is seldom Ready to take any).
    c.verdict = if c.metrics.iter().any(is_worse) {
        Verdict::Fail
    } else if c.reason.is_some()
        || c.metrics
            .iter()
            .all(|m| m.classification == Classification::NoData)
    {
        Verdict::NoData
    } else {
        Verdict::Pass
    };
    c
}

/// Keeps `comparison` in `observed`; a canary worse than stable needs a
/// person (the overview's attention list), and each worse metric is a
/// warning (a lower success rate only when the success warning of
/// `observed::judge` has not said so already).
pub fn judge_comparison(observed: &mut ObservedTraffic, comparison: Comparison) {
    if comparison.verdict == Verdict::Fail {
        let success_warned = observed.attention == Some(Attention::CanaryFailing);
        for m in comparison.worse() {
            if m.name == "success-rate" && success_warned {
                continue;
            }
            observed
                .warnings
                .push(format!("The canary is worse than stable: {}.", m.reason));
        }
        observed.attention = Some(Attention::CanaryFailing);
    }
    observed.comparison = Some(comparison);
}

struct Judge<'a> {
    settings: &'a ComparisonSettings,
    canary: &'a Side<'a>,
    stable: &'a Side<'a>,
}

impl Judge<'_> {
    fn samples(&self) -> Samples {
        Samples {
            canary: self.canary.requests.round(),
            stable: self.stable.requests.round(),
        }
    }

    /// A metric that cannot be judged, and why.
    fn no_data(&self, name: &'static str, unit: &'static str, why: String) -> MetricComparison {
        no_data(name, unit, why, self.samples())
    }

    /// "over 1,200 canary requests".
    fn over(&self) -> String {
        format!("over {} canary requests", count(self.canary.requests))
    }

    fn enough(&self) -> Option<String> {
        let min = self.settings.min_requests;
        [(self.canary, "canary"), (self.stable, "stable")]
            .into_iter()
            .find(|(s, _)| s.requests < min)
            .map(|(s, name)| {
                format!(
                    "only {} {name} requests; at least {} are needed",
                    count(s.requests),
                    count(min)
                )
            })
    }

    /// The share of answers that were not 5xx, tested on the 5xx answers.
    fn success_rate(&self) -> MetricComparison {
        let (name, unit) = ("success-rate", "%");
        if let Some(why) = self.enough() {
            return self.no_data(name, unit, why);
        }
        let (c, s) = (self.canary, self.stable);
        let canary = 100.0 * (1.0 - c.errors / c.requests).clamp(0.0, 1.0);
        let stable = 100.0 * (1.0 - s.errors / s.requests).clamp(0.0, 1.0);
        let Some(test) = two_proportions(c.errors, c.requests, s.errors, s.requests) else {
            return self.no_data(name, unit, "no requests to compare".into());
        };
        // More 5xx is a lower success rate.
        let direction = match Direction::of(&test) {
            Direction::Higher => Direction::Lower,
            Direction::Lower => Direction::Higher,
        };
        classify(
            Measured {
                name,
                unit,
                canary,
                stable,
                values: format!("success {canary:.1}% against {stable:.1}% on stable"),
                over: self.over(),
                within_tolerance: (canary - stable).abs() <= self.settings.success_points,
                tolerance: format!("{} point", self.settings.success_points),
                direction,
                test,
                samples: self.samples(),
            },
            self.settings.confidence,
        )
    }

    /// The `q` quantile, tested on the share of requests slower than the
    /// faster side's `q` quantile's bucket.
    fn latency(
        &self,
        name: &'static str,
        label: &'static str,
        q: f64,
        percent: f64,
    ) -> MetricComparison {
        let unit = "ms";
        if let Some(why) = self.enough() {
            return self.no_data(name, unit, why);
        }
        let (c, s) = (self.canary, self.stable);
        let (Some(canary), Some(stable)) = (
            histogram_quantile(q, &c.buckets),
            histogram_quantile(q, &s.buckets),
        ) else {
            return self.no_data(name, unit, "no latency histogram for both".into());
        };
        // The faster side's quantile bucket: the slower side has more of
        // its requests above it when the difference is real.
        let bound = match (
            quantile_bucket(q, &c.buckets),
            quantile_bucket(q, &s.buckets),
        ) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => {
                return self.no_data(
                    name,
                    unit,
                    format!("both {label}s are beyond the histogram's last bucket"),
                );
            }
        };
        let (Some((slow_c, all_c)), Some((slow_s, all_s))) =
            (above(bound, &c.buckets), above(bound, &s.buckets))
        else {
            return self.no_data(name, unit, "no latency histogram for both".into());
        };
        let Some(test) = two_proportions(slow_c, all_c, slow_s, all_s) else {
            return self.no_data(name, unit, "no requests to compare".into());
        };
        let relative = if stable > 0.0 {
            (canary - stable) / stable * 100.0
        } else {
            f64::INFINITY
        };
        classify(
            Measured {
                name,
                unit,
                canary,
                stable,
                values: format!("{label} {} against {} on stable", ms(canary), ms(stable)),
                over: self.over(),
                within_tolerance: relative.abs() <= percent,
                tolerance: format!("{percent}%"),
                direction: Direction::of(&test),
                test,
                samples: self.samples(),
            },
            self.settings.confidence,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A revision answering `rps` requests a second, `error_rate` of them
    /// 5xx, with a latency histogram that puts `slow_share` of them under
    /// `slow_ms`, the rest under 50 ms, half of those under 25 ms (Istio's
    /// bucket bounds 25, 50, 100, 250, 500).
    fn revision(
        role: &'static str,
        rps: f64,
        error_rate: f64,
        slow_ms: f64,
        slow_share: f64,
    ) -> ObservedRevision {
        let fast = rps * (1.0 - slow_share);
        let le = |bound: f64| {
            if bound >= slow_ms {
                rps
            } else if bound >= 50.0 {
                fast
            } else {
                fast * 0.5
            }
        };
        ObservedRevision {
            revision: if matches!(role, "canary" | "preview") {
                "2"
            } else {
                "1"
            }
            .into(),
            role: Some(role),
            requests_per_second: rps,
            errors_per_second: rps * error_rate,
            buckets: [25.0, 50.0, 100.0, 250.0, 500.0, f64::INFINITY]
                .into_iter()
                .map(|b| (b, if b.is_infinite() { rps } else { le(b) }))
                .collect(),
            ..ObservedRevision::default()
        }
    }

    fn observed(canary: ObservedRevision, stable: ObservedRevision) -> ObservedTraffic {
        ObservedTraffic {
            window_seconds: 60,
            revisions: vec![canary, stable],
            ..ObservedTraffic::default()
        }
    }

    #[test]
    fn a_canary_failing_3_percent_and_slow_fails_on_both() {
        // 20/s for a minute: 1,200 canary requests, 3% of them 503 and a
        // tenth of them at up to 500 ms; stable 80/s, 0.2% failing, all fast.
        let o = observed(
            revision("canary", 20.0, 0.03, 500.0, 0.1),
            revision("stable", 80.0, 0.002, 50.0, 0.0),
        );
        let c = compare(&o, &ComparisonSettings::default());
        assert_eq!(c.verdict, Verdict::Fail, "{c:#?}");
        let success = &c.metrics[0];
        assert_eq!(success.classification, Classification::Low);
        assert_eq!(
            success.samples,
            Samples {
                canary: 1200.0,
                stable: 4800.0
            }
        );
        assert_eq!(
            success.reason,
            "success 97.0% against 99.8% on stable, lower at 98% confidence over 1,200 canary requests"
        );
        assert_eq!(success.difference, Some(-2.8));
        let p99 = &c.metrics[2];
        assert_eq!(p99.classification, Classification::High, "{p99:#?}");
        assert!(
            p99.reason.starts_with("p99 ") && p99.reason.contains("higher at 98% confidence"),
            "{}",
            p99.reason
        );
        // A tenth of the requests slow moves the median too: by buckets,
        // 25 + (10 − 9) / (18 − 9) · 25 = 27.8 ms against 25 ms (11%,
        // over the 10% tolerance), and 55% of the canary's requests above
        // 25 ms against 50% of stable's is sure over these counts.
        let p50 = &c.metrics[1];
        assert_eq!((p50.canary, p50.stable), (Some(27.7778), Some(25.0)));
        assert_eq!(p50.classification, Classification::High);
        assert_eq!(c.worse().count(), 3);
    }

    #[test]
    fn equal_revisions_pass_and_a_trickle_has_no_data() {
        let o = observed(
            revision("canary", 20.0, 0.002, 50.0, 0.0),
            revision("stable", 80.0, 0.002, 50.0, 0.0),
        );
        let c = compare(&o, &ComparisonSettings::default());
        assert_eq!(c.verdict, Verdict::Pass, "{c:#?}");
        assert!(
            c.metrics
                .iter()
                .all(|m| m.classification == Classification::Pass)
        );
        assert_eq!(
            c.metrics[0].reason,
            "success 99.8% against 99.8% on stable: no difference at 98% confidence over 1,200 canary requests"
        );
        // One request a second for a minute: 60, under the 100 needed.
        let o = observed(
            revision("canary", 1.0, 0.5, 500.0, 0.5),
            revision("stable", 80.0, 0.0, 50.0, 0.0),
        );
        let c = compare(&o, &ComparisonSettings::default());
        assert_eq!(c.verdict, Verdict::NoData);
        assert_eq!(
            c.reason.as_deref(),
            Some("only 60 canary requests in the last 1 min; at least 100 are needed to judge")
        );
        assert!(
            c.metrics
                .iter()
                .all(|m| m.classification == Classification::NoData)
        );
    }

    #[test]
    fn a_sure_difference_within_the_tolerance_passes() {
        // 0.6% against 0.2% over 48,000 and 192,000 requests: sure, but
        // 0.4 points, under the 0.5-point tolerance.
        let o = observed(
            revision("canary", 800.0, 0.006, 50.0, 0.0),
            revision("stable", 3200.0, 0.002, 50.0, 0.0),
        );
        let c = compare(&o, &ComparisonSettings::default());
        let success = &c.metrics[0];
        assert_eq!(success.classification, Classification::Pass);
        assert!(
            success
                .reason
                .ends_with("but within the 0.5 point tolerance"),
            "{}",
            success.reason
        );
        assert_eq!(c.verdict, Verdict::Pass);
        // Stricter: it fails.
        let strict = ComparisonSettings {
            success_points: 0.1,
            ..ComparisonSettings::default()
        };
        assert_eq!(compare(&o, &strict).verdict, Verdict::Fail);
    }

    #[test]
    fn a_faster_canary_is_low_and_passes() {
        let o = observed(
            revision("canary", 20.0, 0.0, 50.0, 0.0),
            revision("stable", 80.0, 0.0, 500.0, 0.2),
        );
        let c = compare(&o, &ComparisonSettings::default());
        assert_eq!(
            c.metrics[2].classification,
            Classification::Low,
            "{:#?}",
            c.metrics[2]
        );
        assert_eq!(c.verdict, Verdict::Pass);
    }

    #[test]
    fn without_a_stable_or_with_an_error_there_is_no_verdict() {
        let mut o = observed(
            revision("canary", 20.0, 0.0, 50.0, 0.0),
            revision("stable", 80.0, 0.0, 50.0, 0.0),
        );
        o.revisions.pop();
        assert_eq!(
            compare(&o, &ComparisonSettings::default()).verdict,
            Verdict::NoData
        );
        o.error = Some("Prometheus unreachable".into());
        let c = compare(&o, &ComparisonSettings::default());
        assert_eq!(
            c.reason.as_deref(),
            Some("no observed traffic: Prometheus unreachable")
        );
    }
}
