//! The PromQL the dashboard sends, and how Prometheus's answers become
//! per-pod traffic. One query per metric for every rollout in scope, never
//! asked per rollout or per viewer, in both of Istio's data planes: a
//! sidecar's series (`reporter="destination"`) grouped by namespace and
//! pod, `or` a waypoint's (ambient mode, `reporter="waypoint"`) grouped by
//! destination workload and canonical revision. A waypoint's series is
//! kept under the key `info::observed::waypoint_key` gives it.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use crate::info::observed::{PodHistory, PodSamples, PodTraffic, waypoint_key};

/// Istio's standard metrics, counted where the request arrives.
const REQUESTS: &str = "istio_requests_total";
const DURATION_BUCKETS: &str = "istio_request_duration_milliseconds_bucket";
const REPORTER: &str = r#"reporter="destination""#;
const WAYPOINT: &str = r#"reporter="waypoint""#;
/// Istio's own labels for the workload a waypoint counts a request for.
const WORKLOAD_NAMESPACE: &str = "destination_workload_namespace";
const WORKLOAD: &str = "destination_workload";
const REVISION: &str = "destination_canonical_revision";

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
