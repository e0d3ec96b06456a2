//! PURE: the canary's pods against stable's by what they use and how often
//! they restart (`info::usage`). CPU and memory per pod by Student's
//! t-test with pooled variance, which can judge a single canary pod
//! against the spread of stable's; CPU per request a pod serves when both
//! sides serve requests, since a canary pod seldom serves as many as a
//! stable one (Argo keeps stable's pods while the canary takes its
//! weight: at 20% of five replicas one canary pod takes 20% of the
//! requests, each of five stable pods 16%); restarts by the exact test of
//! two Poisson rates over the pods' lifetimes, so a young canary's
//! restarts weigh against stable's days. A metric Prometheus has no series for on
//! either side is left out: not every Prometheus scrapes cAdvisor and
//! kube-state-metrics.

use super::classify::{Direction, Measured, classify, no_data};
use super::comparison::{ComparisonSettings, MetricComparison, Samples};
use super::statistics::{poisson_rates, pooled_t};
use super::usage::PodUsage;
use super::words::{mebibytes, millicores};

/// Requests a second each side's pods serve on average.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Load {
    pub canary_per_pod: f64,
    pub stable_per_pod: f64,
}

/// The CPU, memory and restarts rows, those Prometheus has series for;
/// CPU judged per request served when `load` says both sides serve some.
pub fn usage_metrics(
    canary: &[PodUsage],
    stable: &[PodUsage],
    load: Option<Load>,
    settings: &ComparisonSettings,
) -> Vec<MetricComparison> {
    let mut rows = Vec::new();
    let cpu = |u: &PodUsage| u.cpu_cores;
    let memory = |u: &PodUsage| u.memory_bytes;
    let per_request = load.filter(|l| l.canary_per_pod > 0.0 && l.stable_per_pod > 0.0);
    for (name, unit, value, percent, words, load) in [
        (
            "cpu",
            "cores",
            &cpu as &dyn Fn(&PodUsage) -> Option<f64>,
            settings.cpu_percent,
            &millicores as &dyn Fn(f64) -> String,
            per_request,
        ),
        (
            "memory",
            "bytes",
            &memory,
            settings.memory_percent,
            &mebibytes,
            None,
        ),
    ] {
        let c: Vec<f64> = canary.iter().filter_map(value).collect();
        let s: Vec<f64> = stable.iter().filter_map(value).collect();
        let metric = PerPod {
            name,
            unit,
            percent,
            words,
            load,
        };
        if let Some(row) = metric.compare(&c, &s, settings.confidence) {
            rows.push(row);
        }
    }
    rows.extend(restarts(canary, stable, settings));
    rows
}

/// A value each pod has, and how it is judged.
struct PerPod<'a> {
    name: &'static str,
    unit: &'static str,
    /// The tolerance, in percent of stable's.
    percent: f64,
    words: &'a dyn Fn(f64) -> String,
    /// Judged per request a second each side's pods serve.
    load: Option<Load>,
}

impl PerPod<'_> {
    /// Canary's pods against stable's; `None` when neither side has any.
    fn compare(&self, canary: &[f64], stable: &[f64], confidence: f64) -> Option<MetricComparison> {
        let (name, unit) = (self.name, self.unit);
        let samples = Samples {
            canary: canary.len() as f64,
            stable: stable.len() as f64,
        };
        let label = if name == "cpu" { "CPU" } else { name };
        if canary.is_empty() && stable.is_empty() {
            return None;
        }
        let missing =
            |side: &str| format!("Prometheus has no {label} series for the {side}'s pods");
        if canary.is_empty() {
            return Some(no_data(name, unit, missing("canary"), samples));
        }
        if stable.is_empty() {
            return Some(no_data(name, unit, missing("stable revision"), samples));
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (c, s) = (mean(canary), mean(stable));
        let words = self.words;
        let mut values = format!(
            "{label} {} per pod against {} on stable",
            words(c),
            words(s)
        );
        // What is tested: each pod's value, or its value per request a
        // second its side's pods serve.
        let (tested_c, tested_s): (Vec<f64>, Vec<f64>) = match self.load {
            Some(l) => {
                values.push_str(&format!(
                    "; per request a second {} against {}",
                    per_request_words(c / l.canary_per_pod),
                    per_request_words(s / l.stable_per_pod)
                ));
                (
                    canary.iter().map(|v| v / l.canary_per_pod).collect(),
                    stable.iter().map(|v| v / l.stable_per_pod).collect(),
                )
            }
            None => (canary.to_vec(), stable.to_vec()),
        };
        let Some(test) = pooled_t(&tested_c, &tested_s) else {
            // The values are still worth seeing; only no test can judge them.
            return Some(MetricComparison {
                canary: Some(c),
                stable: Some(s),
                difference: Some(c - s),
                ..no_data(
                    name,
                    unit,
                    format!("{values}: one pod on each side, too few to judge"),
                    samples,
                )
            });
        };
        let (mc, ms) = (mean(&tested_c), mean(&tested_s));
        let relative = if ms > 0.0 {
            (mc - ms) / ms * 100.0
        } else if mc > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        Some(classify(
            Measured {
                name,
                unit,
                canary: c,
                stable: s,
                values,
                over: format!(
                    "over {} and {}",
                    pods(canary.len(), "canary"),
                    pods(stable.len(), "stable")
                ),
                within_tolerance: relative.abs() <= self.percent,
                tolerance: format!("{}%", self.percent),
                direction: Direction::of(&test),
                test,
                samples,
            },
            confidence,
        ))
    }
}

/// CPU cores per request a second, in millicores: `0.73m`.
fn per_request_words(cores: f64) -> String {
    format!("{:.2}m", cores * 1000.0)
}

/// Restarts of each side's pods over their lifetimes.
fn restarts(
    canary: &[PodUsage],
    stable: &[PodUsage],
    settings: &ComparisonSettings,
) -> Option<MetricComparison> {
    let (name, unit) = ("restarts", "restarts");
    // (restarts, pod-seconds, pods, mean age) of the pods with both series.
    let side = |pods: &[PodUsage]| {
        let known: Vec<(f64, f64)> = pods
            .iter()
            .filter_map(|u| Some((u.restarts?, u.age_seconds?.max(0.0))))
            .collect();
        let restarts: f64 = known.iter().map(|(r, _)| r.max(0.0)).sum();
        let exposure: f64 = known.iter().map(|(_, a)| a).sum();
        let n = known.len();
        (
            restarts.round() as u64,
            exposure,
            n,
            exposure / n.max(1) as f64,
        )
    };
    let (c, s) = (side(canary), side(stable));
    let samples = Samples {
        canary: c.2 as f64,
        stable: s.2 as f64,
    };
    if c.2 == 0 && s.2 == 0 {
        return None;
    }
    let Some(test) = poisson_rates(c.0, c.1, s.0, s.1) else {
        return Some(no_data(
            name,
            unit,
            "no restart count and start time from kube-state-metrics for both sides' pods".into(),
            samples,
        ));
    };
    // What the canary's pods would have restarted at stable's rate.
    let expected = s.0 as f64 * c.1 / s.1;
    let excess_per_pod = (c.0 as f64 - expected) / c.2.max(1) as f64;
    let tolerance = settings.restarts_per_pod;
    Some(classify(
        Measured {
            name,
            unit,
            canary: c.0 as f64,
            stable: s.0 as f64,
            values: format!(
                "{} of {} up {} against {} of {} up {}",
                restart_words(c.0),
                pods(c.2, "canary"),
                age(c.3),
                s.0,
                pods(s.2, "stable"),
                age(s.3)
            ),
            over: String::new(),
            within_tolerance: excess_per_pod.abs() <= tolerance,
            tolerance: format!(
                "{} restart{} per pod",
                super::classify::trim(tolerance),
                if tolerance == 1.0 { "" } else { "s" }
            ),
            direction: Direction::of(&test),
            test,
            samples,
        },
        settings.confidence,
    ))
}

fn restart_words(n: u64) -> String {
    if n == 1 {
        "1 restart".into()
    } else {
        format!("{n} restarts")
    }
}

fn pods(n: usize, role: &str) -> String {
    if n == 1 {
        format!("1 {role} pod")
    } else {
        format!("{n} {role} pods")
    }
}

/// A pod's age as kubectl's AGE column rounds it: `45s`, `12m`, `3h`, `3d`.
fn age(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::comparison::Classification;

    fn pod(cpu: f64, memory_mib: f64, restarts: f64, age: f64) -> PodUsage {
        PodUsage {
            cpu_cores: Some(cpu),
            memory_bytes: Some(memory_mib * 1024.0 * 1024.0),
            restarts: Some(restarts),
            age_seconds: Some(age),
        }
    }

    fn stable() -> Vec<PodUsage> {
        // Four pods up three days, 118–122m CPU, 126–130 MiB, no restarts.
        [
            (0.118, 126.0),
            (0.120, 128.0),
            (0.122, 130.0),
            (0.120, 128.0),
        ]
        .into_iter()
        .map(|(c, m)| pod(c, m, 0.0, 259_200.0))
        .collect()
    }

    #[test]
    fn a_canary_pod_using_three_times_the_cpu_and_restarting_is_high_on_both() {
        let canary = [pod(0.410, 129.0, 3.0, 720.0)];
        let rows = usage_metrics(&canary, &stable(), None, &ComparisonSettings::default());
        let names: Vec<_> = rows.iter().map(|r| (r.name, r.classification)).collect();
        assert_eq!(
            names,
            [
                ("cpu", Classification::High),
                ("memory", Classification::Pass),
                ("restarts", Classification::High)
            ]
        );
        assert_eq!(
            rows[0].reason,
            "CPU 410m per pod against 120m on stable, higher at 98% confidence over 1 canary pod and 4 stable pods"
        );
        assert_eq!(
            rows[0].samples,
            Samples {
                canary: 1.0,
                stable: 4.0
            }
        );
        assert_eq!(
            rows[2].reason,
            "3 restarts of 1 canary pod up 12m against 0 of 4 stable pods up 3d, higher at 98% confidence"
        );
        // Memory 129 MiB against 126–130: t = 1 / (1.633 · √1.25) = 0.55.
        assert!(
            rows[1].reason.contains("no difference at 98% confidence"),
            "{}",
            rows[1].reason
        );
    }

    #[test]
    fn one_restart_of_a_young_canary_is_within_the_tolerance() {
        // Sure (p ≈ 0.0006), but one restart per pod is tolerated.
        let canary = [pod(0.12, 128.0, 1.0, 600.0)];
        let rows = usage_metrics(&canary, &stable(), None, &ComparisonSettings::default());
        let restarts = &rows[2];
        assert_eq!(restarts.classification, Classification::Pass);
        assert!(
            restarts
                .reason
                .ends_with("but within the 1 restart per pod tolerance"),
            "{}",
            restarts.reason
        );
        let strict = ComparisonSettings {
            restarts_per_pod: 0.0,
            ..ComparisonSettings::default()
        };
        let rows = usage_metrics(&canary, &stable(), None, &strict);
        assert_eq!(rows[2].classification, Classification::High);
    }

    #[test]
    fn without_cadvisor_or_kube_state_metrics_the_rows_are_left_out() {
        assert!(usage_metrics(&[], &[], None, &ComparisonSettings::default()).is_empty());
        let only_restarts = PodUsage {
            restarts: Some(0.0),
            age_seconds: Some(60.0),
            ..PodUsage::default()
        };
        let rows = usage_metrics(
            &[only_restarts],
            &[only_restarts, only_restarts],
            None,
            &ComparisonSettings::default(),
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "restarts");
        assert_eq!(rows[0].classification, Classification::Pass);
        // The canary's pods not scraped yet: no data, said so.
        let rows = usage_metrics(&[], &stable(), None, &ComparisonSettings::default());
        assert_eq!(rows[0].classification, Classification::NoData);
        assert_eq!(
            rows[0].reason,
            "Prometheus has no CPU series for the canary's pods"
        );
    }

    #[test]
    fn a_canary_pod_serving_more_requests_is_judged_per_request() {
        // Argo at 20% of five replicas: one canary pod serves 100 requests
        // a second, each of five stable pods 80. Per pod 70m against 60m
        // (+17%), per request 0.70m against 0.75m: the same code.
        let stable: Vec<PodUsage> = [0.059, 0.060, 0.061, 0.060, 0.060]
            .into_iter()
            .map(|c| pod(c, 128.0, 0.0, 600.0))
            .collect();
        let canary = [pod(0.070, 128.0, 0.0, 600.0)];
        let load = Load {
            canary_per_pod: 100.0,
            stable_per_pod: 80.0,
        };
        let rows = usage_metrics(&canary, &stable, Some(load), &ComparisonSettings::default());
        assert_eq!(
            rows[0].classification,
            Classification::Pass,
            "{:#?}",
            rows[0]
        );
        assert_eq!(
            rows[0].reason,
            "CPU 70m per pod against 60m on stable; per request a second 0.70m against 0.75m: lower at 98% confidence over 1 canary pod and 5 stable pods, but within the 20% tolerance"
        );
        assert_eq!((rows[0].canary, rows[0].stable), (Some(0.07), Some(0.06)));
        // A canary that costs twice as much per request is High either way.
        let hungry = [pod(0.140, 128.0, 0.0, 600.0)];
        let rows = usage_metrics(&hungry, &stable, Some(load), &ComparisonSettings::default());
        assert_eq!(rows[0].classification, Classification::High);
        // Without requests on a side, each pod's CPU as it is.
        let idle = Load {
            canary_per_pod: 0.0,
            ..load
        };
        let rows = usage_metrics(&canary, &stable, Some(idle), &ComparisonSettings::default());
        assert!(
            !rows[0].reason.contains("per request"),
            "{}",
            rows[0].reason
        );
    }

    #[test]
    fn one_pod_each_is_too_few_to_judge_cpu() {
        let rows = usage_metrics(
            &[pod(0.5, 128.0, 0.0, 60.0)],
            &[pod(0.1, 128.0, 0.0, 60.0)],
            None,
            &ComparisonSettings::default(),
        );
        assert_eq!(rows[0].classification, Classification::NoData);
        assert_eq!(
            rows[0].reason,
            "CPU 500m per pod against 100m on stable: one pod on each side, too few to judge"
        );
        assert_eq!((rows[0].canary, rows[0].stable), (Some(0.5), Some(0.1)));
    }

    #[test]
    fn ages_read_as_kubectl_rounds_them() {
        assert_eq!(age(45.0), "45s");
        assert_eq!(age(720.0), "12m");
        assert_eq!(age(3.0 * 3600.0), "3h");
        assert_eq!(age(259_200.0), "3d");
    }
}
