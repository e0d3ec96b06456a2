//! The PromQL the dashboard sends, and how Prometheus's answers become
//! traffic per ReplicaSet. One query per metric for every rollout in
//! scope, never asked per rollout or per viewer, in both of Istio's data
//! planes: a sidecar's series (`reporter="destination"`) summed by
//! namespace and the ReplicaSet its pod's name says (`<replicaset>-<id>`:
//! a revision's traffic is its pods' sum, and Prometheus sums them five
//! times fewer series than it would send per pod), `or` a waypoint's
//! (ambient mode, `reporter="waypoint"`) grouped by destination workload
//! and canonical revision. A waypoint's series is kept under the key
//! `info::observed::waypoint_key` gives it. Beside
//! them, each pod's CPU, memory and restarts from cAdvisor and
//! kube-state-metrics, which label a pod by its own `namespace` and `pod`
//! whatever the mesh's scrape does.

use std::time::Duration;

use super::answer::{Labels, Point};
use crate::info::observed::{PodHistory, PodSamples, PodTraffic, waypoint_key};
use crate::info::usage::{PodUsage, PodUsages};

/// Istio's standard metrics, counted where the request arrives.
const REQUESTS: &str = "istio_requests_total";
const DURATION_BUCKETS: &str = "istio_request_duration_milliseconds_bucket";
const REPORTER: &str = r#"reporter="destination""#;
const WAYPOINT: &str = r#"reporter="waypoint""#;
/// Istio's own labels for the workload a waypoint counts a request for.
const WORKLOAD_NAMESPACE: &str = "destination_workload_namespace";
const WORKLOAD: &str = "destination_workload";
const REVISION: &str = "destination_canonical_revision";

/// cAdvisor's (the kubelet's) and kube-state-metrics' series.
const CPU: &str = "container_cpu_usage_seconds_total";
const MEMORY: &str = "container_memory_working_set_bytes";
const RESTARTS: &str = "kube_pod_container_status_restarts_total";
const STARTED: &str = "kube_pod_start_time";
/// A container's own series: not the pod's cgroup (`container=""`) nor
/// its pause container (`POD`, before containerd).
const CONTAINERS: &str = r#"container!="",container!="POD""#;
/// How the restarts query tells its two answers apart.
const STAT: &str = "stat";
/// The label a sidecar's series gets its pod's ReplicaSet in.
const REPLICA_SET: &str = "replicaset";

/// What the queries group and filter by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryScope {
    /// The labels Prometheus's scrape put the pod and namespace names in
    /// (Istio's recommended scrape: `pod`, `namespace`). Checked names.
    pub pod_label: String,
    pub namespace_label: String,
    pub window: Duration,
    /// Only these namespaces; `None`: all.
    pub namespaces: Option<Vec<String>>,
    /// In a Prometheus several clusters share: the label that tells them
    /// apart (checked name) and this cluster's value; every series asked
    /// for is this cluster's.
    pub cluster: Option<(String, String)>,
}

/// Whether `name` is a Prometheus label name (so it can go into a query
/// as it is: nothing from outside is ever spliced in unchecked).
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A PromQL duration: whole seconds, at least one.
pub fn promql_duration(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

impl QueryScope {
    /// What narrows every series to this scope: its namespaces (in
    /// `namespace_label`) and its cluster.
    fn matchers(&self, namespace_label: &str) -> Vec<String> {
        let mut m = Vec::new();
        if let Some(ns) = &self.namespaces {
            let alternatives: Vec<String> = ns.iter().map(|n| regex_escape(n)).collect();
            m.push(format!(
                r#"{namespace_label}=~"{}""#,
                alternatives.join("|")
            ));
        }
        if let Some((label, value)) = &self.cluster {
            m.push(format!(r#"{label}="{}""#, string_escape(value)));
        }
        m
    }

    fn selector(&self, reporter: &str, namespace_label: &str) -> String {
        let mut s = vec![reporter.to_string()];
        s.extend(self.matchers(namespace_label));
        s.join(",")
    }

    /// `sum by (namespace, replicaset, extra) (rate(metric[w]))` with the
    /// ReplicaSet read off the pod's name, `or` the same by waypoint
    /// grouping.
    fn both_planes(&self, metric: &str, extra: &str) -> String {
        let w = promql_duration(self.window);
        format!(
            r#"sum by ({ns}, {REPLICA_SET}{extra}) (label_replace(rate({metric}{{{sidecar}}}[{w}]), "{REPLICA_SET}", "$1", "{pod}", "(.+)-[^-]+")) or sum by ({WORKLOAD_NAMESPACE}, {WORKLOAD}, {REVISION}{extra}) (rate({metric}{{{waypoint}}}[{w}]))"#,
            ns = self.namespace_label,
            pod = self.pod_label,
            sidecar = self.selector(REPORTER, &self.namespace_label),
            waypoint = self.selector(WAYPOINT, WORKLOAD_NAMESPACE),
        )
    }

    /// Requests per second per ReplicaSet (or workload) and response code.
    pub fn requests(&self) -> String {
        self.both_planes(REQUESTS, ", response_code")
    }

    /// Latency buckets per ReplicaSet (or workload), as rates.
    pub fn latency(&self) -> String {
        self.both_planes(DURATION_BUCKETS, ", le")
    }

    /// Requests per second per ReplicaSet (or workload), for a range query
    /// (the sparkline).
    pub fn history(&self) -> String {
        self.both_planes(REQUESTS, "")
    }

    /// `namespace=~"a|b"` when narrowed to namespaces, and the cluster's
    /// matcher, after `prefix`; nothing when neither.
    fn in_namespaces(&self, prefix: &str) -> String {
        let m = self.matchers("namespace");
        if m.is_empty() {
            String::new()
        } else {
            format!("{prefix}{}", m.join(","))
        }
    }

    /// CPU cores per pod, on average over the window.
    pub fn cpu(&self) -> String {
        format!(
            "sum by (namespace, pod) (rate({CPU}{{{CONTAINERS}{}}}[{}]))",
            self.in_namespaces(","),
            promql_duration(self.window)
        )
    }

    /// Working-set bytes per pod, on average over the window.
    pub fn memory(&self) -> String {
        format!(
            "sum by (namespace, pod) (avg_over_time({MEMORY}{{{CONTAINERS}{}}}[{}]))",
            self.in_namespaces(","),
            promql_duration(self.window)
        )
    }

    /// Restarts per pod and, in the same answer, each pod's age in
    /// seconds: a restart counts against the time the pod had to make it.
    pub fn restarts(&self) -> String {
        let ns = self.in_namespaces("");
        format!(
            r#"label_replace(sum by (namespace, pod) ({RESTARTS}{{{ns}}}), "{STAT}", "restarts", "", "") or label_replace(time() - max by (namespace, pod) ({STARTED}{{{ns}}}), "{STAT}", "age", "", "")"#
        )
    }
}

/// `text` as a PromQL string's content: quotes and backslashes escaped.
fn string_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `text` with every regular-expression metacharacter escaped, and quotes
/// and backslashes escaped for the PromQL string it goes in.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r".+*?()|[]{}^$\".contains(c) {
            // A regex escape, itself escaped for the string literal.
            out.push_str("\\\\");
        } else if c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl QueryScope {
    /// (namespace, ReplicaSet) of a sidecar's series; (namespace, waypoint
    /// key) of a waypoint's.
    fn key_of(&self, labels: &Labels<'_>) -> Option<(String, String)> {
        if let Some(workload) = labels.get(WORKLOAD) {
            let ns = labels.get(WORKLOAD_NAMESPACE)?;
            let revision = labels.get(REVISION).unwrap_or_default();
            return Some((ns.to_string(), waypoint_key(workload, revision)));
        }
        let ns = labels.get(&self.namespace_label)?;
        let replica_set = labels.get(REPLICA_SET).filter(|r| !r.is_empty())?;
        Some((ns.to_string(), replica_set.to_string()))
    }

    /// Adds a sample of the `requests()` answer to `samples`. Series
    /// without a namespace or ReplicaSet are skipped.
    pub fn add_requests(&self, samples: &mut PodSamples, labels: &Labels<'_>, point: Point<'_>) {
        let (Some((ns, key)), Point::Instant(rate)) = (self.key_of(labels), point) else {
            return;
        };
        let t = traffic_at(samples, ns, key);
        t.requests_per_second += rate;
        if labels
            .get("response_code")
            .is_some_and(|c| c.starts_with('5'))
        {
            t.errors_per_second += rate;
        }
    }

    /// Adds a sample of the `latency()` answer to `samples`.
    pub fn add_latency(&self, samples: &mut PodSamples, labels: &Labels<'_>, point: Point<'_>) {
        let (Some((ns, key)), Point::Instant(rate)) = (self.key_of(labels), point) else {
            return;
        };
        let Some(le) = labels.get("le").and_then(|l| l.parse::<f64>().ok()) else {
            return;
        };
        traffic_at(samples, ns, key).buckets.push((le, rate));
    }

    /// Adds a series of the `history()` answer to `history`.
    pub fn add_history(&self, history: &mut PodHistory, labels: &Labels<'_>, point: Point<'_>) {
        let (Some((ns, key)), Point::Range(points)) = (self.key_of(labels), point) else {
            return;
        };
        history.entry(ns).or_default().insert(key, points.to_vec());
    }
}

fn traffic_at(samples: &mut PodSamples, ns: String, key: String) -> &mut PodTraffic {
    samples.entry(ns).or_default().entry(key).or_default()
}

/// Which of a pod's usage a sample of the `cpu()`, `memory()` or
/// `restarts()` answer gives.
#[derive(Clone, Copy, Debug)]
pub enum Usage {
    Cpu,
    Memory,
    /// Restarts or age, as the sample's `stat` label says.
    Restarts,
}

/// Adds a sample of a usage answer to `usages`; series without a
/// namespace or pod are skipped.
pub fn add_usage(usages: &mut PodUsages, which: Usage, labels: &Labels<'_>, point: Point<'_>) {
    let (Some(ns), Some(pod), Point::Instant(v)) =
        (labels.get("namespace"), labels.get("pod"), point)
    else {
        return;
    };
    let usage: &mut PodUsage = usages
        .entry(ns.to_string())
        .or_default()
        .entry(pod.to_string())
        .or_default();
    match (which, labels.get(STAT)) {
        (Usage::Cpu, _) => usage.cpu_cores = Some(v),
        (Usage::Memory, _) => usage.memory_bytes = Some(v),
        (Usage::Restarts, Some("restarts")) => usage.restarts = Some(v),
        (Usage::Restarts, Some("age")) => usage.age_seconds = Some(v),
        (Usage::Restarts, _) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::answer::read_from;
    use super::*;

    fn scope(namespaces: Option<Vec<String>>) -> QueryScope {
        QueryScope {
            pod_label: "pod".into(),
            namespace_label: "namespace".into(),
            window: Duration::from_secs(60),
            namespaces,
            cluster: None,
        }
    }

    /// Every sample of `body` into `sink`.
    fn each(body: &str, sink: &mut dyn FnMut(&Labels<'_>, Point<'_>)) {
        read_from(body.as_bytes(), sink).unwrap_or_else(|e| panic!("{e}"));
    }

    fn vector(result: &str) -> String {
        format!(r#"{{"status":"success","data":{{"resultType":"vector","result":[{result}]}}}}"#)
    }

    #[test]
    fn in_a_shared_prometheus_every_series_asked_for_is_the_clusters_own() {
        let mut one = scope(Some(vec!["shop".into()]));
        one.cluster = Some(("cluster".into(), "prod-eu".into()));
        let requests = one.requests();
        assert!(
            requests.contains(r#"{reporter="destination",namespace=~"shop",cluster="prod-eu"}"#),
            "{requests}"
        );
        assert!(
            requests.contains(
                r#"{reporter="waypoint",destination_workload_namespace=~"shop",cluster="prod-eu"}"#
            ),
            "{requests}"
        );
        for q in [
            one.cpu(),
            one.memory(),
            one.restarts(),
            one.latency(),
            one.history(),
        ] {
            assert!(q.contains(r#"cluster="prod-eu""#), "{q}");
        }
        // Every namespace: the cluster alone narrows the node's series.
        let mut all = scope(None);
        all.cluster = Some(("k8s_cluster".into(), "a\"}) or vector(1".into()));
        assert!(
            all.restarts().contains(
                r#"kube_pod_container_status_restarts_total{k8s_cluster="a\"}) or vector(1"}"#
            ),
            "a value cannot close the string: {}",
            all.restarts()
        );
    }

    #[test]
    fn the_request_query_sums_every_replica_set_in_scope_by_response_code() {
        assert_eq!(
            scope(None).requests(),
            r#"sum by (namespace, replicaset, response_code) (label_replace(rate(istio_requests_total{reporter="destination"}[60s]), "replicaset", "$1", "pod", "(.+)-[^-]+")) or sum by (destination_workload_namespace, destination_workload, destination_canonical_revision, response_code) (rate(istio_requests_total{reporter="waypoint"}[60s]))"#
        );
        let narrowed = scope(Some(vec!["shop".into(), "manifest-gen".into()]));
        assert_eq!(
            narrowed.requests(),
            r#"sum by (namespace, replicaset, response_code) (label_replace(rate(istio_requests_total{reporter="destination",namespace=~"shop|manifest-gen"}[60s]), "replicaset", "$1", "pod", "(.+)-[^-]+")) or sum by (destination_workload_namespace, destination_workload, destination_canonical_revision, response_code) (rate(istio_requests_total{reporter="waypoint",destination_workload_namespace=~"shop|manifest-gen"}[60s]))"#
        );
    }

    #[test]
    fn the_latency_query_keeps_the_buckets_per_replica_set() {
        let mut s = scope(None);
        s.pod_label = "kubernetes_pod_name".into();
        s.window = Duration::from_millis(500);
        assert_eq!(
            s.latency(),
            r#"sum by (namespace, replicaset, le) (label_replace(rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[1s]), "replicaset", "$1", "kubernetes_pod_name", "(.+)-[^-]+")) or sum by (destination_workload_namespace, destination_workload, destination_canonical_revision, le) (rate(istio_request_duration_milliseconds_bucket{reporter="waypoint"}[1s]))"#
        );
    }

    #[test]
    fn the_history_query_is_requests_per_replica_set() {
        assert_eq!(
            scope(Some(vec!["a.b".into()])).history(),
            r#"sum by (namespace, replicaset) (label_replace(rate(istio_requests_total{reporter="destination",namespace=~"a\\.b"}[60s]), "replicaset", "$1", "pod", "(.+)-[^-]+")) or sum by (destination_workload_namespace, destination_workload, destination_canonical_revision) (rate(istio_requests_total{reporter="waypoint",destination_workload_namespace=~"a\\.b"}[60s]))"#
        );
    }

    #[test]
    fn the_usage_queries_read_cadvisor_and_kube_state_metrics_per_pod() {
        assert_eq!(
            scope(None).cpu(),
            r#"sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!="",container!="POD"}[60s]))"#
        );
        assert_eq!(
            scope(Some(vec!["shop".into()])).memory(),
            r#"sum by (namespace, pod) (avg_over_time(container_memory_working_set_bytes{container!="",container!="POD",namespace=~"shop"}[60s]))"#
        );
        assert_eq!(
            scope(Some(vec!["a.b".into(), "c".into()])).restarts(),
            r#"label_replace(sum by (namespace, pod) (kube_pod_container_status_restarts_total{namespace=~"a\\.b|c"}), "stat", "restarts", "", "") or label_replace(time() - max by (namespace, pod) (kube_pod_start_time{namespace=~"a\\.b|c"}), "stat", "age", "", "")"#
        );
    }

    #[test]
    fn usage_answers_become_each_pods_cpu_memory_and_restarts() {
        let mut usages = PodUsages::new();
        let mut add = |which: Usage, body: &str| {
            each(&vector(body), &mut |l, p| {
                add_usage(&mut usages, which, l, p)
            });
        };
        add(
            Usage::Cpu,
            r#"{"metric":{"namespace":"shop","pod":"web-a"},"value":[1,"0.25"]},{"metric":{"pod":"no-namespace"},"value":[1,"1"]}"#,
        );
        add(
            Usage::Memory,
            r#"{"metric":{"namespace":"shop","pod":"web-a"},"value":[1,"1048576"]}"#,
        );
        add(
            Usage::Restarts,
            r#"{"metric":{"namespace":"shop","pod":"web-a","stat":"restarts"},"value":[1,"3"]},
               {"metric":{"namespace":"shop","pod":"web-a","stat":"age"},"value":[1,"600.5"]},
               {"metric":{"namespace":"shop","pod":"web-b","stat":"restarts"},"value":[1,"0"]}"#,
        );
        assert_eq!(usages.len(), 1, "series without a namespace are skipped");
        assert_eq!(
            usages["shop"]["web-a"],
            PodUsage {
                cpu_cores: Some(0.25),
                memory_bytes: Some(1_048_576.0),
                restarts: Some(3.0),
                age_seconds: Some(600.5),
            }
        );
        assert_eq!(usages["shop"]["web-b"].restarts, Some(0.0));
        assert_eq!(usages["shop"]["web-b"].cpu_cores, None);
    }

    #[test]
    fn label_names_are_checked_before_they_go_into_a_query() {
        assert!(is_label_name("pod"));
        assert!(is_label_name("_kubernetes_pod_name2"));
        for bad in [
            "",
            "2pod",
            "pod}",
            r#"pod="x"} or vector(1) #"#,
            "pod name",
            "pöd",
        ] {
            assert!(!is_label_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn answers_become_traffic_per_replica_set_with_5xx_as_errors() {
        let s = scope(None);
        let mut samples = PodSamples::new();
        each(
            &vector(
                r#"{"metric":{"namespace":"shop","replicaset":"web-7d4b9","response_code":"200"},"value":[1700000000.1,"9"]},
              {"metric":{"namespace":"shop","replicaset":"web-7d4b9","response_code":"503"},"value":[1700000000.1,"1"]},
              {"metric":{"namespace":"shop","replicaset":"web-55c6f","response_code":"200"},"value":[1700000000.1,"NaN"]},
              {"metric":{"replicaset":"no-namespace","response_code":"200"},"value":[1700000000.1,"5"]},
              {"metric":{"namespace":"shop","replicaset":"","response_code":"200"},"value":[1700000000.1,"5"]},
              {"metric":{"destination_workload_namespace":"shop","destination_workload":"web","destination_canonical_revision":"v2","response_code":"200"},"value":[1700000000.1,"4"]}"#,
            ),
            &mut |l, p| s.add_requests(&mut samples, l, p),
        );
        each(
            &vector(
                r#"{"metric":{"namespace":"shop","replicaset":"web-7d4b9","le":"25"},"value":[1700000000.1,"5"]},
              {"metric":{"namespace":"shop","replicaset":"web-7d4b9","le":"+Inf"},"value":[1700000000.1,"10"]}"#,
            ),
            &mut |l, p| s.add_latency(&mut samples, l, p),
        );
        let shop = &samples["shop"];
        assert_eq!(
            shop.len(),
            3,
            "series without a namespace or a ReplicaSet (a pod name without '-') are skipped"
        );
        assert_eq!(
            shop[&waypoint_key("web", "v2")].requests_per_second,
            4.0,
            "a waypoint's series is kept per workload and revision"
        );
        assert_eq!(shop["web-7d4b9"].requests_per_second, 10.0);
        assert_eq!(shop["web-7d4b9"].errors_per_second, 1.0);
        assert_eq!(
            shop["web-7d4b9"].buckets,
            vec![(25.0, 5.0), (f64::INFINITY, 10.0)]
        );
        assert_eq!(
            shop["web-55c6f"].requests_per_second, 0.0,
            "NaN is no traffic"
        );
    }

    #[test]
    fn a_range_answer_becomes_each_replica_sets_rates_over_time() {
        let s = scope(None);
        let mut history = PodHistory::new();
        each(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"namespace":"shop","replicaset":"web-7d4b9"},"values":[[1700000000,"1.5"],[1700000060,"2"]]}]}}"#,
            &mut |l, p| s.add_history(&mut history, l, p),
        );
        assert_eq!(
            history["shop"]["web-7d4b9"],
            vec![(1_700_000_000, 1.5), (1_700_000_060, 2.0)]
        );
    }
}
