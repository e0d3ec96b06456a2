//! The simulated node's own metrics, beside the mesh's: what the kubelet's
//! cAdvisor reports of each running pod's containers
//! (`container_cpu_usage_seconds_total`, a counter of CPU seconds, and
//! `container_memory_working_set_bytes`), and what kube-state-metrics
//! reads from the API (`kube_pod_container_status_restarts_total` from each
//! container's `restartCount`, `kube_pod_start_time` from the pod's
//! `status.startTime`). Served at `GET /sim/v1/node/metrics`, labelled as
//! those exporters label them (`namespace`, `pod`, `container`).
//!
//! A pod uses what the mesh's load gives it (sim/mesh: per role, or by the
//! requests it answers), idle when it receives nothing; each pod differs
//! from its siblings by a few percent, fixed by its name, as real pods do.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use jiff::Timestamp;
use serde_json::Value;

use super::controller::rt;
use super::json::text;
use super::mesh::{DEFAULT_MEMORY_MIB, IDLE_MILLICORES, traffic_all};
use super::store::{Filter, Store};

/// CPU seconds each container has used so far, by (namespace, pod,
/// container).
#[derive(Debug, Default)]
pub struct NodeMetrics {
    cpu_seconds: BTreeMap<(String, String, String), f64>,
    last: Option<Instant>,
}

/// How far a pod's usage is from its revision's: ±5% for CPU, ±3% for
/// memory, fixed by the pod's name (FNV-1a).
fn spread(name: &str, percent: f64) -> f64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let unit = (hash % 10_001) as f64 / 10_000.0; // 0..=1
    1.0 + (unit * 2.0 - 1.0) * percent / 100.0
}

impl NodeMetrics {
    /// Counts the CPU used since the last scrape and writes every series.
    pub fn scrape(&mut self, store: &Store) -> String {
        let at = Instant::now();
        let elapsed = self
            .last
            .map_or(0.0, |l| at.duration_since(l).as_secs_f64());
        self.last = Some(at);
        let pods = store
            .list(rt("pods"), &Filter::default(), None, None)
            .map(|p| p.items)
            .unwrap_or_default();
        let traffic = traffic_all(store);
        let mut cpu = String::new();
        let mut memory = String::new();
        let mut restarts = String::new();
        let mut started = String::new();
        let mut live = std::collections::HashSet::new();
        for pod in pods
            .iter()
            .filter(|p| text(p, "/status/phase") == "Running")
        {
            let (ns, name) = (
                text(pod, "/metadata/namespace"),
                text(pod, "/metadata/name"),
            );
            let load = traffic.get(&(ns.clone(), name.clone()));
            let statuses = pod
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            let containers = statuses.len().max(1) as f64;
            let millicores = load.map_or(IDLE_MILLICORES, |t| t.cpu_millicores);
            let mib = load.map_or(DEFAULT_MEMORY_MIB, |t| t.memory_mib);
            for status in statuses {
                let container = text(status, "/name");
                let labels = format!(r#"namespace="{ns}",pod="{name}",container="{container}""#);
                let key = (ns.clone(), name.clone(), container.clone());
                live.insert(key.clone());
                let used = self.cpu_seconds.entry(key).or_default();
                *used += elapsed * millicores * spread(&name, 5.0) / 1000.0 / containers;
                let _ = writeln!(cpu, "container_cpu_usage_seconds_total{{{labels}}} {used}");
                let bytes = mib * spread(&name, 3.0) * 1024.0 * 1024.0 / containers;
                let _ = writeln!(
                    memory,
                    "container_memory_working_set_bytes{{{labels}}} {bytes:.0}"
                );
                let count = status
                    .get("restartCount")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let _ = writeln!(
                    restarts,
                    "kube_pod_container_status_restarts_total{{{labels}}} {count}"
                );
            }
            if let Ok(start) = text(pod, "/status/startTime").parse::<Timestamp>() {
                let _ = writeln!(
                    started,
                    r#"kube_pod_start_time{{namespace="{ns}",pod="{name}"}} {}"#,
                    start.as_second()
                );
            }
        }
        // Pods gone stop being reported, as cAdvisor's would.
        self.cpu_seconds.retain(|k, _| live.contains(k));
        let mut out = String::new();
        for (name, kind, help, body) in [
            (
                "container_cpu_usage_seconds_total",
                "counter",
                "Cumulative cpu time consumed in seconds.",
                cpu,
            ),
            (
                "container_memory_working_set_bytes",
                "gauge",
                "Current working set in bytes.",
                memory,
            ),
            (
                "kube_pod_container_status_restarts_total",
                "counter",
                "The number of container restarts per container.",
                restarts,
            ),
            (
                "kube_pod_start_time",
                "gauge",
                "Start time in unix timestamp for a pod.",
                started,
            ),
        ] {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{body}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_differ_by_a_few_percent_fixed_by_their_names() {
        let a = spread("web-6c5d9f8b7-abcde", 5.0);
        assert_eq!(a, spread("web-6c5d9f8b7-abcde", 5.0));
        assert!((0.95..=1.05).contains(&a));
        let names = ["a", "b", "c", "d", "e", "f"];
        let values: Vec<f64> = names.iter().map(|n| spread(n, 5.0)).collect();
        assert!(
            values.windows(2).any(|w| w[0] != w[1]),
            "siblings differ: {values:?}"
        );
    }
}
