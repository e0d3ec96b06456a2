//! Observed traffic: request metrics from Prometheus, and each pod's CPU,
//! memory and restarts, every refresh one query per metric for every
//! rollout in scope. The answers go to the hub
//! as one more input; the hub maps pods to revisions through its index
//! (`info::observed`, pure) and streams carry the result like any change.
//! A slow or failing Prometheus shows its error in that panel only.

pub mod answer;
pub mod prometheus;
pub mod queries;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::backoff::Backoff;
use crate::cluster::hub::{Observation, ObservedSource};
use crate::info::comparison::ComparisonSettings;
use crate::info::observed::{HISTORY_SECONDS, HISTORY_STEP_SECONDS, PodHistory, PodSamples};
use crate::info::usage::PodUsages;
use crate::net::CallError;
use answer::{Labels, Point};
use prometheus::{Prometheus, PrometheusAccess};
use queries::{QueryScope, Usage, add_usage};

/// How the dashboard asks Prometheus.
#[derive(Clone, Debug)]
pub struct ObservedSettings {
    pub access: PrometheusAccess,
    pub scope: QueryScope,
    /// Between two refreshes.
    pub interval: Duration,
    /// How the canary is judged against stable.
    pub comparison: ComparisonSettings,
}

/// Answers kept in flight towards the hub: it takes one per refresh.
const QUEUE: usize = 4;
/// After failures, refreshes are spaced out, up to this many intervals.
const MOST_INTERVALS_BETWEEN_TRIES: u32 = 4;

/// Checks `settings`, then asks Prometheus every interval until `shutdown`,
/// sending each answer (or error) to the returned receiver.
pub fn start(
    settings: ObservedSettings,
    shutdown: CancellationToken,
) -> Result<(ObservedSource, mpsc::Receiver<Observation>), String> {
    for label in [&settings.scope.pod_label, &settings.scope.namespace_label] {
        if !queries::is_label_name(label) {
            return Err(format!(
                "--prometheus-pod-label and --prometheus-namespace-label must be Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*), not {label:?}"
            ));
        }
    }
    if let Some((label, _)) = &settings.scope.cluster
        && !queries::is_label_name(label)
    {
        return Err(format!(
            "--prometheus-cluster-label must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*), not {label:?}"
        ));
    }
    let prometheus = Prometheus::new(&settings.access)?;
    let source = ObservedSource {
        url: prometheus.shown_url(),
        window_seconds: settings.scope.window.as_secs().max(1),
        comparison: settings.comparison.clone(),
    };
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(refresh_loop(prometheus, settings, tx, shutdown));
    Ok((source, rx))
}

async fn refresh_loop(
    prometheus: Prometheus,
    settings: ObservedSettings,
    tx: mpsc::Sender<Observation>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new();
    let mut needs_history = true;
    let interval = settings.interval.max(Duration::from_millis(200));
    loop {
        let at = Timestamp::now();
        let samples = tokio::select! {
            _ = shutdown.cancelled() => return,
            s = samples(&prometheus, &settings.scope, at) => s,
        };
        let history = match (&samples, needs_history) {
            (Ok(_), true) => tokio::select! {
                _ = shutdown.cancelled() => return,
                h = history(&prometheus, &settings.scope, at) => match h {
                    Ok(h) => {
                        needs_history = false;
                        Some(Arc::new(h))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the canary share's last 30 minutes could not be read");
                        None
                    }
                },
            },
            _ => None,
        };
        let wait = match &samples {
            Ok(_) => {
                backoff.reset();
                interval
            }
            Err(e) => {
                tracing::warn!(error = %e, "Prometheus did not answer the traffic queries");
                // After an outage the sparkline's gap is filled again.
                needs_history = true;
                backoff
                    .step()
                    .clamp(interval, interval * MOST_INTERVALS_BETWEEN_TRIES)
            }
        };
        let (samples, usage) = match samples {
            Ok((traffic, usage)) => (Ok(Arc::new(traffic)), Some(Arc::new(usage))),
            // Shown on the page as it is: the cause's chain is in the text.
            Err(e) => (Err(e.to_string()), None),
        };
        let observation = Observation {
            at,
            samples,
            usage,
            history,
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            sent = tx.send(observation) => if sent.is_err() { return },
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The five instant queries at once: requests, latency, CPU, memory,
/// restarts. A Prometheus without cAdvisor or kube-state-metrics answers
/// the last three with nothing, which is no error.
async fn samples(
    prometheus: &Prometheus,
    scope: &QueryScope,
    at: Timestamp,
) -> Result<(PodSamples, PodUsages), CallError> {
    let time = at.as_millisecond() as f64 / 1000.0;
    let queries = [
        scope.requests(),
        scope.latency(),
        scope.cpu(),
        scope.memory(),
        scope.restarts(),
    ];
    let [requests, latency, cpu, memory, restarts] = &queries;
    let usage = |which: Usage| {
        move |u: &mut PodUsages, l: &Labels<'_>, p: Point<'_>| add_usage(u, which, l, p)
    };
    let (s1, s2) = (scope.clone(), scope.clone());
    // At once, each answer added up as it arrives, never held whole.
    let (requests, latency, cpu, memory, restarts) = tokio::join!(
        prometheus.query(requests, time, PodSamples::new(), move |m, l, p| s1
            .add_requests(m, l, p)),
        prometheus.query(latency, time, PodSamples::new(), move |m, l, p| s2
            .add_latency(m, l, p)),
        prometheus.query(cpu, time, PodUsages::new(), usage(Usage::Cpu)),
        prometheus.query(memory, time, PodUsages::new(), usage(Usage::Memory)),
        prometheus.query(restarts, time, PodUsages::new(), usage(Usage::Restarts)),
    );
    let mut traffic = requests?;
    for (ns, keys) in latency? {
        let into = traffic.entry(ns).or_default();
        for (key, t) in keys {
            into.entry(key).or_default().buckets = t.buckets;
        }
    }
    let mut usage = cpu?;
    for more in [memory?, restarts?] {
        for (ns, pods) in more {
            let into = usage.entry(ns).or_default();
            for (pod, u) in pods {
                let at = into.entry(pod).or_default();
                at.memory_bytes = at.memory_bytes.or(u.memory_bytes);
                at.restarts = at.restarts.or(u.restarts);
                at.age_seconds = at.age_seconds.or(u.age_seconds);
            }
        }
    }
    Ok((traffic, usage))
}

/// The request rates of the last 30 minutes per ReplicaSet, one point a
/// minute.
async fn history(
    prometheus: &Prometheus,
    scope: &QueryScope,
    at: Timestamp,
) -> Result<PodHistory, CallError> {
    let end = at.as_second();
    let scope = scope.clone();
    prometheus
        .query_range(
            &scope.history(),
            (end - HISTORY_SECONDS, end, HISTORY_STEP_SECONDS),
            PodHistory::new(),
            move |h, l, p| scope.add_history(h, l, p),
        )
        .await
}
