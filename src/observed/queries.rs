//! The PromQL the dashboard sends, and how Prometheus's answers become
//! per-pod traffic. One query per metric for every rollout in scope, never
//! asked per rollout or per viewer, in both of Istio's data planes: a
//! sidecar's series (`reporter="destination"`) grouped by namespace and
//! pod, `or` a waypoint's (ambient mode, `reporter="waypoint"`) grouped by
//! destination workload and canonical revision. A waypoint's series is
//! kept under the key `info::observed::waypoint_key` gives it. Beside
//! them, each pod's CPU, memory and restarts from cAdvisor and
//! kube-state-metrics, which label a pod by its own `namespace` and `pod`
//! whatever the mesh's scrape does.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

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
    fn selector(&self, reporter: &str, namespace_label: &str) -> String {
        let mut s = reporter.to_string();
        if let Some(ns) = &self.namespaces {
            let alternatives: Vec<String> = ns.iter().map(|n| regex_escape(n)).collect();
            s.push_str(&format!(
                r#",{namespace_label}=~"{}""#,
                alternatives.join("|")
            ));
        }
        s
    }

    /// `sum by (sidecar grouping, extra) (rate(metric[w])) or` the same by
    /// waypoint grouping.
    fn both_planes(&self, metric: &str, extra: &str) -> String {
        let w = promql_duration(self.window);
        format!(
            "sum by ({ns}, {pod}{extra}) (rate({metric}{{{sidecar}}}[{w}])) or sum by ({WORKLOAD_NAMESPACE}, {WORKLOAD}, {REVISION}{extra}) (rate({metric}{{{waypoint}}}[{w}]))",
            ns = self.namespace_label,
            pod = self.pod_label,
            sidecar = self.selector(REPORTER, &self.namespace_label),
            waypoint = self.selector(WAYPOINT, WORKLOAD_NAMESPACE),
        )
    }

    /// Requests per second per pod (or workload) and response code.
    pub fn requests(&self) -> String {
        self.both_planes(REQUESTS, ", response_code")
    }

    /// Latency buckets per pod (or workload), as rates.
    pub fn latency(&self) -> String {
        self.both_planes(DURATION_BUCKETS, ", le")
    }

    /// Requests per second per pod (or workload), for a range query (the
    /// sparkline).
    pub fn history(&self) -> String {
        self.both_planes(REQUESTS, "")
    }

    /// `namespace=~"a|b"` when narrowed to namespaces, after `prefix`.
    fn in_namespaces(&self, prefix: &str) -> String {
        match &self.namespaces {
            Some(ns) => {
                let alternatives: Vec<String> = ns.iter().map(|n| regex_escape(n)).collect();
                format!(r#"{prefix}namespace=~"{}""#, alternatives.join("|"))
            }
            None => String::new(),
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

/// Prometheus's answer envelope.
#[derive(Debug, Deserialize)]
pub struct Answer {
    pub status: String,
    #[serde(default)]
    pub data: Option<Data>,
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum Data {
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
pub struct Sample {
    #[serde(default)]
    pub metric: HashMap<String, String>,
    /// `[time, "value"]`.
    pub value: (f64, String),
}

#[derive(Debug, Deserialize)]
pub struct Series {
    #[serde(default)]
    pub metric: HashMap<String, String>,
    #[serde(default)]
    pub values: Vec<(f64, String)>,
}

/// A sample's value as a number: Prometheus sends numbers as strings,
/// `NaN` and `±Inf` included. NaN (no requests in a ratio) counts as none.
fn number(text: &str) -> f64 {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        _ => 0.0,
    }
}

impl QueryScope {
    /// (namespace, pod) of a sidecar's series; (namespace, waypoint key)
    /// of a waypoint's.
    fn pod_of(&self, metric: &HashMap<String, String>) -> Option<(String, String)> {
        if let Some(workload) = metric.get(WORKLOAD) {
            let ns = metric.get(WORKLOAD_NAMESPACE)?;
            let revision = metric.get(REVISION).map_or("", String::as_str);
            return Some((ns.clone(), waypoint_key(workload, revision)));
        }
        let ns = metric.get(&self.namespace_label)?;
        let pod = metric.get(&self.pod_label)?;
        Some((ns.clone(), pod.clone()))
    }

    /// Per-pod traffic from the answers to `requests()` and `latency()`.
    /// Series without a namespace or pod label are skipped.
    pub fn pod_samples(&self, requests: &[Sample], latency: &[Sample]) -> PodSamples {
        let mut samples: PodSamples = HashMap::new();
        fn at(samples: &mut PodSamples, ns: String, pod: String) -> &mut PodTraffic {
            samples.entry(ns).or_default().entry(pod).or_default()
        }
        for s in requests {
            let Some((ns, pod)) = self.pod_of(&s.metric) else {
                continue;
            };
            let rate = number(&s.value.1);
            let t = at(&mut samples, ns, pod);
            t.requests_per_second += rate;
            if s.metric
                .get("response_code")
                .is_some_and(|c| c.starts_with('5'))
            {
                t.errors_per_second += rate;
            }
        }
        for s in latency {
            let Some((ns, pod)) = self.pod_of(&s.metric) else {
                continue;
            };
            let Some(le) = s.metric.get("le").and_then(|l| l.parse::<f64>().ok()) else {
                continue;
            };
            at(&mut samples, ns, pod)
                .buckets
                .push((le, number(&s.value.1)));
        }
        samples
    }

    /// Per-pod usage from the answers to `cpu()`, `memory()` and
    /// `restarts()`. Series without a namespace or pod are skipped.
    pub fn pod_usage(&self, cpu: &[Sample], memory: &[Sample], restarts: &[Sample]) -> PodUsages {
        let mut usages: PodUsages = HashMap::new();
        let mut each = |samples: &[Sample], set: &dyn Fn(&mut PodUsage, &Sample, f64)| {
            for s in samples {
                let (Some(ns), Some(pod)) = (s.metric.get("namespace"), s.metric.get("pod")) else {
                    continue;
                };
                let usage = usages
                    .entry(ns.clone())
                    .or_default()
                    .entry(pod.clone())
                    .or_default();
                set(usage, s, number(&s.value.1));
            }
        };
        each(cpu, &|u, _, v| u.cpu_cores = Some(v));
        each(memory, &|u, _, v| u.memory_bytes = Some(v));
        each(restarts, &|u, s, v| match s.metric.get(STAT).map(String::as_str) {
            Some("restarts") => u.restarts = Some(v),
            Some("age") => u.age_seconds = Some(v),
            _ => {}
        });
        usages
    }

    /// Per-pod request rates over time from the answer to `history()`.
    pub fn pod_history(&self, series: &[Series]) -> PodHistory {
        let mut history: PodHistory = HashMap::new();
        for s in series {
            let Some((ns, pod)) = self.pod_of(&s.metric) else {
                continue;
            };
            let points = s
                .values
                .iter()
                .map(|(at, v)| (*at as i64, number(v)))
                .collect();
            history.entry(ns).or_default().insert(pod, points);
        }
        history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(namespaces: Option<Vec<String>>) -> QueryScope {
        QueryScope {
            pod_label: "pod".into(),
            namespace_label: "namespace".into(),
            window: Duration::from_secs(60),
            namespaces,
        }
    }

    #[test]
    fn the_request_query_groups_every_pod_in_scope_by_response_code() {
        assert_eq!(
            scope(None).requests(),
            r#"sum by (namespace, pod, response_code) (rate(istio_requests_total{reporter="destination"}[60s])) or sum by (destination_workload_namespace, destination_workload, destination_canonical_revision, response_code) (rate(istio_requests_total{reporter="waypoint"}[60s]))"#
        );
        let narrowed = scope(Some(vec!["shop".into(), "manifest-gen".into()]));
        assert_eq!(
            narrowed.requests(),
            r#"sum by (namespace, pod, response_code) (rate(istio_requests_total{reporter="destination",namespace=~"shop|manifest-gen"}[60s])) or sum by (destination_workload_namespace, destination_workload, destination_canonical_revision, response_code) (rate(istio_requests_total{reporter="waypoint",destination_workload_namespace=~"shop|manifest-gen"}[60s]))"#
        );
    }

    #[test]
    fn the_latency_query_keeps_the_buckets_per_pod() {
        let mut s = scope(None);
        s.pod_label = "kubernetes_pod_name".into();
        s.window = Duration::from_millis(500);
        assert_eq!(
            s.latency(),
            r#"sum by (namespace, kubernetes_pod_name, le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[1s])) or sum by (destination_workload_namespace, destination_workload, destination_canonical_revision, le) (rate(istio_request_duration_milliseconds_bucket{reporter="waypoint"}[1s]))"#
        );
    }

    #[test]
    fn the_history_query_is_requests_per_pod() {
        assert_eq!(
            scope(Some(vec!["a.b".into()])).history(),
            r#"sum by (namespace, pod) (rate(istio_requests_total{reporter="destination",namespace=~"a\\.b"}[60s])) or sum by (destination_workload_namespace, destination_workload, destination_canonical_revision) (rate(istio_requests_total{reporter="waypoint",destination_workload_namespace=~"a\\.b"}[60s]))"#
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
        let vector = |text: &str| -> Vec<Sample> {
            let answer: Answer = serde_json::from_str(&format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{text}]}}}}"#
            ))
            .unwrap_or_else(|e| panic!("{e}"));
            match answer.data {
                Some(Data::Vector(v)) => v,
                _ => panic!("a vector"),
            }
        };
        let cpu = vector(
            r#"{"metric":{"namespace":"shop","pod":"web-a"},"value":[1,"0.25"]},{"metric":{"pod":"no-namespace"},"value":[1,"1"]}"#,
        );
        let memory = vector(r#"{"metric":{"namespace":"shop","pod":"web-a"},"value":[1,"1048576"]}"#);
        let restarts = vector(
            r#"{"metric":{"namespace":"shop","pod":"web-a","stat":"restarts"},"value":[1,"3"]},
               {"metric":{"namespace":"shop","pod":"web-a","stat":"age"},"value":[1,"600.5"]},
               {"metric":{"namespace":"shop","pod":"web-b","stat":"restarts"},"value":[1,"0"]}"#,
        );
        let usages = scope(None).pod_usage(&cpu, &memory, &restarts);
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
    fn answers_become_traffic_per_pod_with_5xx_as_errors() {
        let requests: Answer = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"vector","result":[
              {"metric":{"namespace":"shop","pod":"web-a","response_code":"200"},"value":[1700000000.1,"9"]},
              {"metric":{"namespace":"shop","pod":"web-a","response_code":"503"},"value":[1700000000.1,"1"]},
              {"metric":{"namespace":"shop","pod":"web-b","response_code":"200"},"value":[1700000000.1,"NaN"]},
              {"metric":{"pod":"no-namespace","response_code":"200"},"value":[1700000000.1,"5"]},
              {"metric":{"destination_workload_namespace":"shop","destination_workload":"web","destination_canonical_revision":"v2","response_code":"200"},"value":[1700000000.1,"4"]}]}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let latency: Answer = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"vector","result":[
              {"metric":{"namespace":"shop","pod":"web-a","le":"25"},"value":[1700000000.1,"5"]},
              {"metric":{"namespace":"shop","pod":"web-a","le":"+Inf"},"value":[1700000000.1,"10"]}]}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let (Some(Data::Vector(requests)), Some(Data::Vector(latency))) =
            (requests.data, latency.data)
        else {
            panic!("two vectors");
        };
        let samples = scope(None).pod_samples(&requests, &latency);
        let shop = &samples["shop"];
        assert_eq!(shop.len(), 3, "series without a namespace are skipped");
        assert_eq!(
            shop[&waypoint_key("web", "v2")].requests_per_second,
            4.0,
            "a waypoint's series is kept per workload and revision"
        );
        assert_eq!(shop["web-a"].requests_per_second, 10.0);
        assert_eq!(shop["web-a"].errors_per_second, 1.0);
        assert_eq!(
            shop["web-a"].buckets,
            vec![(25.0, 5.0), (f64::INFINITY, 10.0)]
        );
        assert_eq!(shop["web-b"].requests_per_second, 0.0, "NaN is no traffic");
    }

    #[test]
    fn a_range_answer_becomes_each_pods_rates_over_time() {
        let answer: Answer = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"matrix","result":[
              {"metric":{"namespace":"shop","pod":"web-a"},"values":[[1700000000,"1.5"],[1700000060,"2"]]}]}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let Some(Data::Matrix(series)) = answer.data else {
            panic!("a matrix");
        };
        let history = scope(None).pod_history(&series);
        assert_eq!(
            history["shop"]["web-a"],
            vec![(1_700_000_000, 1.5), (1_700_000_060, 2.0)]
        );
    }
}
