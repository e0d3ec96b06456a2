//! The simulated mesh's request metrics: every Ready pod of a rollout
//! receives requests at a steady rate, split as the router is set now (a
//! VirtualService's, a canary Ingress's, an ALB action's or a Gateway API
//! route's weights; without a router, by Ready pods as a Service would;
//! blue-green: the active revision), and answers with the error
//! rate and latency the scenario sets per role. Served at
//! `GET /sim/v1/istio/metrics` as Istio's `istio_requests_total` and
//! `istio_request_duration_milliseconds`, in the form the pod's data plane
//! reports them:
//! - a sidecar pod: its own proxy's series (`reporter="destination"`),
//!   labelled by Istio's recommended scrape with that pod (`namespace`,
//!   `pod`);
//! - an ambient pod (`istio.io/dataplane-mode: ambient` on the pod or its
//!   namespace): the namespace waypoint's series (`reporter="waypoint"`,
//!   scraped from the waypoint's pod), one per destination workload and
//!   canonical revision as Istio names them (sim/mesh/istio.rs).
//!
//! Rollout annotations set the traffic (defaults in brackets):
//! `sim.rollouts-dashboard.io/requests-per-second` [100],
//! `sim.rollouts-dashboard.io/{canary,stable}-error-rate` [0],
//! `sim.rollouts-dashboard.io/{canary,stable}-latency-ms` `p50,p99` [40,200];
//! and what its pods log of them (sim/logs.rs):
//! `sim.rollouts-dashboard.io/log-lines-per-second` [2, at most 4000],
//! `sim.rollouts-dashboard.io/log-line-bytes` [as written, at most 64 KiB];
//! and what they use doing it (sim/node_metrics.rs), per pod:
//! `sim.rollouts-dashboard.io/{canary,stable}-cpu-millicores` [20 plus 0.5
//! per request a second], `sim.rollouts-dashboard.io/{canary,stable}-memory-mib`
//! [128].

mod dataplane;
mod istio;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Instant;

use serde_json::Value;

use super::controller::rt;
use super::json::text;
pub use super::pod_traffic::Traffic;
use super::store::{Filter, Store};
use crate::model::{POD_TEMPLATE_HASH_LABEL, Rollout};

const ANNOTATION: &str = "sim.rollouts-dashboard.io/";
const DEFAULT_RPS: f64 = 100.0;
const DEFAULT_LATENCY: (f64, f64) = (40.0, 200.0);
/// Istio's default buckets for request duration (ms).
const BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// What a pod has answered so far.
#[derive(Clone, Debug, Default)]
struct PodCounters {
    /// Every label of the series but the response code and bucket.
    labels: String,
    ok: f64,
    errors: f64,
    /// Per `BUCKETS`, then the sum of durations.
    buckets: [f64; BUCKETS.len()],
    duration_sum: f64,
}

/// The counters of every series (a sidecar's pod, or a waypoint's
/// workload and revision) that has received requests.
#[derive(Debug, Default)]
pub struct Mesh {
    pods: BTreeMap<(String, String), PodCounters>,
    last: Option<Instant>,
}

/// How one pod is loaded now.
struct PodLoad {
    /// (namespace, name) of the pod.
    pod: (String, String),
    /// The series it counts into: (namespace, pod) for a sidecar,
    /// (namespace, workload/revision) for a waypoint.
    key: (String, String),
    labels: String,
    rps: f64,
    error_rate: f64,
    latency: (f64, f64),
    log_lines_per_second: f64,
    log_line_bytes: usize,
    cpu_millicores: f64,
    memory_mib: f64,
}

/// What a pod uses idle, and per request a second it answers.
pub const IDLE_MILLICORES: f64 = 20.0;
const MILLICORES_PER_RPS: f64 = 0.5;
pub const DEFAULT_MEMORY_MIB: f64 = 128.0;

impl Mesh {
    /// Counts the requests since the last scrape and writes every counter.
    pub fn scrape(&mut self, store: &Store) -> String {
        let now = Instant::now();
        let elapsed = self
            .last
            .map_or(0.0, |l| now.duration_since(l).as_secs_f64());
        self.last = Some(now);
        let loads = loads(store);
        // Pods gone stop being reported, as Istio's would.
        let live: std::collections::HashSet<(String, String)> =
            loads.iter().map(|l| l.key.clone()).collect();
        self.pods.retain(|k, _| live.contains(k));
        for l in loads {
            let c = self.pods.entry(l.key.clone()).or_default();
            c.labels = l.labels;
            let requests = l.rps * elapsed;
            c.errors += requests * l.error_rate;
            c.ok += requests * (1.0 - l.error_rate);
            for (i, le) in BUCKETS.iter().enumerate() {
                c.buckets[i] += requests * latency_cdf(*le, l.latency);
            }
            // The mean of the piecewise-linear distribution below.
            let (p50, p99) = l.latency;
            c.duration_sum +=
                requests * (0.5 * p50 / 2.0 + 0.49 * (p50 + p99) / 2.0 + 0.01 * 1.5 * p99);
        }
        self.render()
    }

    fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP istio_requests_total Total requests.\n# TYPE istio_requests_total counter\n",
        );
        for c in self.pods.values() {
            let labels = &c.labels;
            for (code, count) in [("200", c.ok), ("503", c.errors)] {
                let _ = writeln!(
                    out,
                    "istio_requests_total{{{labels},response_code=\"{code}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP istio_request_duration_milliseconds Request duration.\n# TYPE istio_request_duration_milliseconds histogram\n");
        for c in self.pods.values() {
            let labels = &c.labels;
            for (le, count) in BUCKETS.iter().zip(c.buckets) {
                let _ = writeln!(
                    out,
                    "istio_request_duration_milliseconds_bucket{{{labels},le=\"{le}\"}} {count}"
                );
            }
            let total = c.ok + c.errors;
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_bucket{{{labels},le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_sum{{{labels}}} {}",
                c.duration_sum
            );
            let _ = writeln!(
                out,
                "istio_request_duration_milliseconds_count{{{labels}}} {total}"
            );
        }
        out
    }
}

/// The labels of a sidecar's series: its proxy reports as the
/// destination, the scrape adds the pod it was scraped from.
fn sidecar_labels(ns: &str, pod: &str, workload: &istio::Workload) -> String {
    format!(
        "reporter=\"destination\",namespace=\"{ns}\",pod=\"{pod}\",{}",
        workload.destination_labels()
    )
}

/// The labels of a waypoint's series: scraped from the namespace's
/// waypoint pod, about the destination workload.
fn waypoint_labels(ns: &str, workload: &istio::Workload) -> String {
    format!(
        "reporter=\"waypoint\",namespace=\"{ns}\",pod=\"{WAYPOINT_POD}\",{}",
        workload.destination_labels()
    )
}

/// The pod `istioctl waypoint apply` leaves in a namespace.
const WAYPOINT_POD: &str = "waypoint-5d9c7b8f4-k2x7q";

/// The share of requests answered within `le` ms: half by the median,
/// 99% by p99, all by twice p99, linear in between.
fn latency_cdf(le: f64, (p50, p99): (f64, f64)) -> f64 {
    if le <= p50 {
        0.5 * le / p50.max(f64::MIN_POSITIVE)
    } else if le <= p99 {
        0.5 + 0.49 * (le - p50) / (p99 - p50).max(f64::MIN_POSITIVE)
    } else if le <= 2.0 * p99 {
        0.99 + 0.01 * (le - p99) / p99.max(f64::MIN_POSITIVE)
    } else {
        1.0
    }
}

fn number(annotations: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    annotations
        .get(&format!("{ANNOTATION}{key}"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
}

fn latency(annotations: &BTreeMap<String, String>, role: &str) -> (f64, f64) {
    annotations
        .get(&format!("{ANNOTATION}{role}-latency-ms"))
        .and_then(|v| v.split_once(','))
        .and_then(|(a, b)| Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?)))
        .filter(|(a, b)| *a > 0.0 && b > a)
        .unwrap_or(DEFAULT_LATENCY)
}

/// What the pod `namespace/name` receives now; `None` when it receives
/// nothing (not Ready, or no rollout sends it traffic).
pub fn traffic_of(store: &Store, namespace: &str, name: &str) -> Option<Traffic> {
    loads(store)
        .into_iter()
        .find(|l| l.pod.0 == namespace && l.pod.1 == name)
        .map(|l| l.traffic())
}

/// What every pod that receives anything receives now, by (namespace,
/// pod name).
pub fn traffic_all(store: &Store) -> HashMap<(String, String), Traffic> {
    loads(store)
        .into_iter()
        .map(|l| {
            let traffic = l.traffic();
            (l.pod, traffic)
        })
        .collect()
}

/// What each pod of `namespace` that receives anything receives now, by
/// pod name.
pub fn traffic_in(store: &Store, namespace: &str) -> HashMap<String, Traffic> {
    loads(store)
        .into_iter()
        .filter(|l| l.pod.0 == namespace)
        .map(|l| (l.pod.1.clone(), l.traffic()))
        .collect()
}

impl PodLoad {
    fn traffic(&self) -> Traffic {
        Traffic {
            rps: self.rps,
            error_rate: self.error_rate,
            latency: self.latency,
            log_lines_per_second: self.log_lines_per_second,
            log_line_bytes: self.log_line_bytes,
            cpu_millicores: self.cpu_millicores,
            memory_mib: self.memory_mib,
        }
    }
}

/// Every Ready pod of every rollout, with its load now.
fn loads(store: &Store) -> Vec<PodLoad> {
    let all = Filter::default();
    let list = |plural: &str| {
        store
            .list(rt(plural), &all, None, None)
            .map(|p| p.items)
            .unwrap_or_default()
    };
    // Ready pods by (namespace, pod template hash).
    let mut ready: HashMap<(String, String), Vec<std::sync::Arc<Value>>> = HashMap::new();
    for pod in list("pods") {
        let is_ready = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("type").and_then(Value::as_str) == Some("Ready")
                        && c.get("status").and_then(Value::as_str) == Some("True")
                })
            });
        let hash = pod
            .pointer("/metadata/labels")
            .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
            .and_then(Value::as_str)
            .map(str::to_string);
        if let (true, Some(hash)) = (is_ready, hash) {
            ready
                .entry((text(&pod, "/metadata/namespace"), hash))
                .or_default()
                .push(pod);
        }
    }
    let ambient_namespaces: std::collections::HashSet<String> = list("namespaces")
        .iter()
        .filter(|n| istio::is_ambient(n))
        .map(|n| text(n, "/metadata/name"))
        .collect();
    let mut loads = Vec::new();
    for value in list("rollouts") {
        let Ok(ro) = serde_json::from_value::<Rollout>((*value).clone()) else {
            continue;
        };
        let ns = ro.metadata.namespace.clone().unwrap_or_default();
        let annotations = ro.annotations();
        let rps = number(&annotations, "requests-per-second").unwrap_or(DEFAULT_RPS);
        let pods_of = |hash: &str| -> &[std::sync::Arc<Value>] {
            ready
                .get(&(ns.clone(), hash.to_string()))
                .map_or(&[], Vec::as_slice)
        };
        let status = ro.status();
        let stable = status.stable_rs().to_string();
        let current = status.current_pod_hash().to_string();
        // (hash, role, share of the rollout's requests)
        let mut split: Vec<(String, &str, f64)> = Vec::new();
        if ro.blue_green().is_some() {
            split.push((status.active_selector().to_string(), "stable", 1.0));
        } else if current.is_empty() || current == stable {
            split.push((stable.clone(), "stable", 1.0));
        } else {
            let canary = match dataplane::canary_share(store, &ro) {
                Some(share) => share,
                None => {
                    let (c, s) = (pods_of(&current).len(), pods_of(&stable).len());
                    if c + s == 0 {
                        0.0
                    } else {
                        c as f64 / (c + s) as f64
                    }
                }
            };
            split.push((current.clone(), "canary", canary));
            split.push((stable.clone(), "stable", 1.0 - canary));
        }
        for (hash, role, share) in split {
            let pods = pods_of(&hash);
            if pods.is_empty() {
                continue;
            }
            let error_rate = number(&annotations, &format!("{role}-error-rate"))
                .unwrap_or(0.0)
                .min(1.0);
            let pod_rps = rps * share / pods.len() as f64;
            for pod in pods {
                let pod_ns = text(pod, "/metadata/namespace");
                let workload = istio::Workload::of(pod);
                let ambient = istio::is_ambient(pod) || ambient_namespaces.contains(&pod_ns);
                let (key, labels) = if ambient {
                    let series = format!("{}/{}", workload.name, workload.canonical_revision);
                    (
                        (pod_ns.clone(), series),
                        waypoint_labels(&pod_ns, &workload),
                    )
                } else {
                    let pod_name = text(pod, "/metadata/name");
                    (
                        (pod_ns.clone(), pod_name.clone()),
                        sidecar_labels(&pod_ns, &pod_name, &workload),
                    )
                };
                loads.push(PodLoad {
                    log_lines_per_second: number(&annotations, "log-lines-per-second")
                        .unwrap_or(2.0)
                        .clamp(0.0, 4000.0),
                    log_line_bytes: number(&annotations, "log-line-bytes")
                        .unwrap_or(0.0)
                        .clamp(0.0, 65536.0) as usize,
                    pod: (pod_ns.clone(), text(pod, "/metadata/name")),
                    key,
                    labels,
                    rps: pod_rps,
                    error_rate,
                    latency: latency(&annotations, role),
                    cpu_millicores: number(&annotations, &format!("{role}-cpu-millicores"))
                        .unwrap_or(IDLE_MILLICORES + MILLICORES_PER_RPS * pod_rps),
                    memory_mib: number(&annotations, &format!("{role}-memory-mib"))
                        .unwrap_or(DEFAULT_MEMORY_MIB),
                });
            }
        }
    }
    loads
}

/// A Prometheus scrape configuration for the simulated mesh and node at
/// `addr`: scraped every second, their `namespace` and `pod` labels kept
/// as sent (one target speaks for every pod, as kube-state-metrics does).
pub fn scrape_config(addr: std::net::SocketAddr, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    let tls_config = if tls {
        "\n    tls_config:\n      insecure_skip_verify: true"
    } else {
        ""
    };
    format!(
        "# The simulated cluster's mesh and node (rollouts-dashboard sim).\nglobal:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: simulated-istio-mesh\n    honor_labels: true\n    scheme: {scheme}\n    metrics_path: /sim/v1/istio/metrics{tls_config}\n    static_configs:\n      - targets: [\"{addr}\"]\n  - job_name: simulated-node\n    honor_labels: true\n    scheme: {scheme}\n    metrics_path: /sim/v1/node/metrics{tls_config}\n    static_configs:\n      - targets: [\"{addr}\"]\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latency_distribution_has_the_set_median_and_p99() {
        let l = (40.0, 200.0);
        assert_eq!(latency_cdf(40.0, l), 0.5);
        assert!((latency_cdf(200.0, l) - 0.99).abs() < 1e-12);
        assert_eq!(latency_cdf(400.0, l), 1.0);
        assert_eq!(latency_cdf(0.0, l), 0.0);
    }
}
