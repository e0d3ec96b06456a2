//! PURE: what an AnalysisRun's metric measures and how it is judged, as
//! its template has it (the run's `spec.metrics`): the provider and its
//! query (Prometheus's as resolved, a web URL, a Datadog query, a Job's
//! command, …), the success and failure conditions, the limits, count and
//! interval; the threshold a simple condition draws on the chart; and why
//! a run stopped, in words.

use serde_json::Value;

use crate::web::text::{PAGE_CHARS, clip};

/// A metric's definition, as the Analysis panel shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSpecView {
    /// `Prometheus`, `Web`, `Datadog`, `Job`, …
    pub provider: String,
    /// What it asks (the query, the URL, the Job's command).
    pub query: Option<String>,
    pub success_condition: Option<String>,
    pub failure_condition: Option<String>,
    /// `3 measurements, every 10s, after an initial delay of 30s`.
    pub schedule: String,
    /// The value a simple condition compares against (`result[0] >= 0.95`).
    pub threshold: Option<f64>,
}

/// Providers by their key in `provider`, as people name them.
const PROVIDERS: [(&str, &str); 14] = [
    ("prometheus", "Prometheus"),
    ("web", "Web"),
    ("datadog", "Datadog"),
    ("job", "Job"),
    ("newRelic", "New Relic"),
    ("wavefront", "Wavefront"),
    ("kayenta", "Kayenta"),
    ("cloudWatch", "CloudWatch"),
    ("graphite", "Graphite"),
    ("influxdb", "InfluxDB"),
    ("skywalking", "SkyWalking"),
    ("plugin", "Plugin"),
    ("opensearch", "OpenSearch"),
    ("apm", "APM"),
];

/// `name`'s definition in the run's `spec`, with Prometheus's query as the
/// provider resolved it (`resolved`) when it did.
pub fn metric_spec(
    spec: Option<&Value>,
    name: &str,
    resolved: Option<&str>,
) -> Option<MetricSpecView> {
    let metric = spec?
        .get("metrics")?
        .as_array()?
        .iter()
        .find(|m| m.get("name").and_then(Value::as_str) == Some(name))?;
    let text = |k: &str| {
        metric
            .get(k)
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
    };
    let (provider, query) = provider_and_query(metric.get("provider"));
    let success_condition = text("successCondition");
    let failure_condition = text("failureCondition");
    let threshold = success_condition
        .as_deref()
        .or(failure_condition.as_deref())
        .and_then(threshold);
    let count = text("count");
    let mut schedule = match count.as_deref() {
        Some("1") => "1 measurement".to_string(),
        Some(n) => format!("{n} measurements"),
        None if text("interval").is_some() => "measured until the run ends".to_string(),
        None => "1 measurement".to_string(),
    };
    if let Some(i) = text("interval") {
        schedule.push_str(&format!(", every {i}"));
    }
    if let Some(d) = text("initialDelay") {
        schedule.push_str(&format!(", after an initial delay of {d}"));
    }
    Some(MetricSpecView {
        provider,
        query: resolved
            .filter(|q| !q.is_empty())
            .map(str::to_string)
            .or(query)
            .map(|q| clip(&q, PAGE_CHARS).into_owned()),
        success_condition,
        failure_condition,
        schedule,
        threshold,
    })
}

/// The provider's name and what it asks.
fn provider_and_query(provider: Option<&Value>) -> (String, Option<String>) {
    let Some(p) = provider.and_then(Value::as_object) else {
        return ("unknown".into(), None);
    };
    let Some((key, body)) = p.iter().next() else {
        return ("unknown".into(), None);
    };
    let name = PROVIDERS
        .iter()
        .find(|(k, _)| k == key)
        .map_or_else(|| key.clone(), |(_, n)| n.to_string());
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let query = match key.as_str() {
        "web" => field("url").map(|u| match field("jsonPath") {
            Some(j) => format!(
                "{} {u} → {j}",
                field("method").unwrap_or_else(|| "GET".into())
            ),
            None => format!("{} {u}", field("method").unwrap_or_else(|| "GET".into())),
        }),
        "job" => body.pointer("/spec/template/spec/containers/0").map(|c| {
            let words: Vec<String> = ["command", "args"]
                .iter()
                .filter_map(|k| c.get(*k).and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            format!("{image} {}", words.join(" ")).trim().to_string()
        }),
        "datadog" => field("query").or_else(|| body.get("queries").map(Value::to_string)),
        _ => field("query").or_else(|| Some(body.to_string()).filter(|b| b != "{}")),
    };
    (name, query)
}

/// The number a simple condition compares the first result with:
/// `result[0] >= 0.95`, `result < 100`, `len(result) == 0 || result[0] > 5`
/// (its last comparison). `None` for anything else.
pub fn threshold(condition: &str) -> Option<f64> {
    let last = condition.rsplit("||").next()?.rsplit("&&").next()?;
    let (left, right) = ["<=", ">=", "==", "<", ">"]
        .iter()
        .find_map(|op| last.split_once(op))?;
    let left = left.trim();
    let is_result = left == "result" || left == "result[0]" || left == "asFloat(result)";
    let value: f64 = right.trim().parse().ok()?;
    (is_result && value.is_finite()).then_some(value)
}

/// What a metric result says of why a run stopped.
pub struct StoppedMetric<'a> {
    pub name: &'a str,
    pub phase: &'a str,
    pub successful: i32,
    pub failed: i32,
    pub inconclusive: i32,
    pub errors: i32,
    pub failure_limit: i32,
    pub inconclusive_limit: i32,
}

/// Why a run with `phase` stopped, in words; `None` while it runs.
pub fn stopped_words(phase: &str, message: &str, metrics: &[StoppedMetric<'_>]) -> Option<String> {
    let times = |n: i32| {
        if n == 1 {
            "once".to_string()
        } else {
            format!("{n} times")
        }
    };
    let of = |p: &str| metrics.iter().find(|m| m.phase == p);
    match phase {
        "Failed" => Some(match of("Failed") {
            Some(m) => format!(
                "It stopped because {} failed {}, more than its failure limit of {} allows; the rollout was aborted.",
                m.name,
                times(m.failed),
                m.failure_limit
            ),
            None => "It failed.".to_string(),
        }),
        "Error" => Some(match of("Error") {
            Some(m) => format!(
                "It stopped because measuring {} failed {} in a row (the provider could not be asked or answered nothing usable).",
                m.name,
                times(m.errors)
            ),
            None => "It stopped on an error.".to_string(),
        }),
        "Inconclusive" => Some(match of("Inconclusive") {
            Some(m) => format!(
                "It stopped because {} was inconclusive {}, more than its limit of {} allows; the rollout waits for a person to promote or abort.",
                m.name,
                times(m.inconclusive),
                m.inconclusive_limit
            ),
            None => "It was inconclusive; the rollout waits for a person.".to_string(),
        }),
        "Successful" if message.to_ascii_lowercase().contains("terminated") => Some(
            "It was stopped early (terminated) before every measurement was taken.".to_string(),
        ),
        "Successful" => Some(format!(
            "Every metric passed: {}.",
            metrics
                .iter()
                .map(|m| format!(
                    "{} {} of {}",
                    m.name,
                    m.successful,
                    m.successful + m.failed + m.inconclusive + m.errors
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_prometheus_metric_reads_with_its_query_conditions_and_schedule() {
        let spec = json!({"metrics": [{"name": "success-rate", "interval": "10s", "count": 3,
            "failureLimit": 0, "successCondition": "result[0] >= 0.95",
            "provider": {"prometheus": {"address": "http://prometheus:9090",
                "query": "sum(rate(x{app=\"{{args.service}}\"}[1m]))"}}}]});
        let v = metric_spec(
            Some(&spec),
            "success-rate",
            Some("sum(rate(x{app=\"search\"}[1m]))"),
        )
        .expect("the metric");
        assert_eq!(v.provider, "Prometheus");
        assert_eq!(
            v.query.as_deref(),
            Some("sum(rate(x{app=\"search\"}[1m]))"),
            "as resolved"
        );
        assert_eq!(v.success_condition.as_deref(), Some("result[0] >= 0.95"));
        assert_eq!(v.threshold, Some(0.95));
        assert_eq!(v.schedule, "3 measurements, every 10s");
        let unresolved = metric_spec(Some(&spec), "success-rate", None).expect("the metric");
        assert_eq!(
            unresolved.query.as_deref(),
            Some("sum(rate(x{app=\"{{args.service}}\"}[1m]))")
        );
        assert_eq!(metric_spec(Some(&spec), "latency", None), None);
    }

    #[test]
    fn web_and_job_providers_say_what_they_ask() {
        let spec = json!({"metrics": [
            {"name": "web", "provider": {"web": {"url": "https://checks.example/{{args.host}}", "jsonPath": "{$.ok}"}},
             "successCondition": "result == true"},
            {"name": "job", "provider": {"job": {"spec": {"template": {"spec": {"containers": [
                {"name": "load", "image": "busybox", "command": ["sh", "-c"], "args": ["wget -q http://search"]}]}}}}}}]});
        let web = metric_spec(Some(&spec), "web", None).expect("web");
        assert_eq!(
            (web.provider.as_str(), web.query.as_deref()),
            (
                "Web",
                Some("GET https://checks.example/{{args.host}} → {$.ok}")
            )
        );
        assert_eq!(web.threshold, None, "not a number");
        let job = metric_spec(Some(&spec), "job", None).expect("job");
        assert_eq!(
            job.query.as_deref(),
            Some("busybox sh -c wget -q http://search")
        );
    }

    #[test]
    fn thresholds_of_simple_conditions_only() {
        assert_eq!(threshold("result[0] >= 0.95"), Some(0.95));
        assert_eq!(
            threshold("len(result) == 0 || result[0] < 500"),
            Some(500.0)
        );
        assert_eq!(threshold("result > 1 && result[0] <= 3"), Some(3.0));
        assert_eq!(threshold("result.successRate >= 0.9"), None);
        assert_eq!(threshold("isNaN(result)"), None);
    }

    #[test]
    fn why_a_run_stopped() {
        let m = |phase, failed, inconclusive| StoppedMetric {
            name: "success-rate",
            phase,
            successful: 2,
            failed,
            inconclusive,
            errors: 0,
            failure_limit: 0,
            inconclusive_limit: 0,
        };
        assert_eq!(
            stopped_words("Failed", "", &[m("Failed", 1, 0)]).as_deref(),
            Some(
                "It stopped because success-rate failed once, more than its failure limit of 0 allows; the rollout was aborted."
            )
        );
        assert_eq!(
            stopped_words("Successful", "", &[m("Successful", 0, 0)]).as_deref(),
            Some("Every metric passed: success-rate 2 of 2.")
        );
        assert!(
            stopped_words("Inconclusive", "", &[m("Inconclusive", 0, 1)])
                .is_some_and(|w| w.contains("waits for a person"))
        );
        assert_eq!(stopped_words("Running", "", &[]), None);
    }
}
