//! Prometheus's HTTP API (`/api/v1/query`, `/api/v1/query_range`) over
//! HTTP or HTTPS, with an optional bearer token (managed Prometheus,
//! Thanos, Mimir) and extra CA. Every call has a deadline and a size limit.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;

use super::answer::{Labels, Point, read};
use crate::net::CallError;

/// Every query gives up after this long.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// An answer for thousands of pods is a few MB (the latency buckets of
/// 5,000 rollouts' 10,000 ReplicaSets: 25 MB); more is refused.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What Prometheus answered a query, not yet read.
pub struct Answer {
    url: String,
    status: hyper::StatusCode,
    body: Bytes,
}

impl Answer {
    /// Reads the answer, calling `sink` with each sample; an answer of
    /// another type than `expected` (`vector`, `matrix`) is an error.
    pub fn read(
        &self,
        expected: &'static str,
        sink: &mut dyn FnMut(&Labels<'_>, Point<'_>),
    ) -> Result<(), CallError> {
        let envelope = read(&self.body, sink).map_err(|_| CallError::Refused {
            url: self.url.clone(),
            status: self.status,
            said: String::from_utf8_lossy(&self.body)
                .chars()
                .take(200)
                .collect(),
        })?;
        if envelope.status != "success" {
            return Err(CallError::Refused {
                url: self.url.clone(),
                status: self.status,
                said: envelope.error.unwrap_or(envelope.status),
            });
        }
        match envelope.result_type.as_deref() {
            Some(t) if t == expected => Ok(()),
            None => Err(CallError::Unexpected {
                url: self.url.clone(),
                what: "without data",
            }),
            Some(_) => Err(CallError::Unexpected {
                url: self.url.clone(),
                what: if expected == "vector" {
                    "an instant query with something other than a vector"
                } else {
                    "a range query with something other than a matrix"
                },
            }),
        }
    }
}

/// Where Prometheus is and how to reach it.
#[derive(Clone, Debug, Default)]
pub struct PrometheusAccess {
    /// The base URL, e.g. `http://prometheus.monitoring:9090` (a path
    /// prefix such as Thanos' or Mimir's `/prometheus` included).
    pub url: String,
    pub ca_pem: Option<Vec<u8>>,
    /// Read before each refresh, so a rotated token is picked up.
    pub bearer_token_file: Option<PathBuf>,
}

#[derive(Clone)]
pub struct Prometheus {
    client: crate::net::HttpClient,
    base: String,
    token_file: Option<PathBuf>,
}

impl Prometheus {
    pub fn new(access: &PrometheusAccess) -> Result<Prometheus, String> {
        let base = access.url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "--prometheus-url must be an http(s):// URL, not {:?}",
                access.url
            ));
        }
        Ok(Prometheus {
            client: crate::net::http_client(access.ca_pem.as_deref(), false, QUERY_TIMEOUT)
                .map_err(|e| format!("--prometheus-ca-file: {e}"))?,
            base,
            token_file: access.bearer_token_file.clone(),
        })
    }

    /// The URL without any credentials in it, for people to see.
    pub fn shown_url(&self) -> String {
        shown_url(&self.base)
    }

    /// An instant query at `time` (seconds since the epoch).
    pub async fn query(&self, promql: &str, time: f64) -> Result<Answer, CallError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .append_pair("time", &format!("{time:.3}"))
            .finish();
        self.post("/api/v1/query", form).await
    }

    /// A range query from `start` to `end` every `step` seconds.
    pub async fn query_range(
        &self,
        promql: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Answer, CallError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .append_pair("start", &start.to_string())
            .append_pair("end", &end.to_string())
            .append_pair("step", &step.max(1).to_string())
            .finish();
        self.post("/api/v1/query_range", form).await
    }

    /// POST (a query of thousands of namespaces does not fit in a URL).
    async fn post(&self, path: &str, form: String) -> Result<Answer, CallError> {
        let url = self.shown_url();
        let mut req = hyper::Request::post(format!("{}{path}", self.base))
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(hyper::header::ACCEPT, "application/json");
        if let Some(file) = &self.token_file {
            let token = std::fs::read_to_string(file).map_err(|source| CallError::Credentials {
                what: "--prometheus-bearer-token-file",
                path: file.clone(),
                source,
            })?;
            req = req.header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", token.trim()),
            );
        }
        let req = req
            .body(Full::new(Bytes::from(form)))
            .map_err(|source| CallError::Request {
                url: url.clone(),
                source,
            })?;
        let (status, body) =
            crate::net::exchange(&self.client, &url, req, MAX_BODY, QUERY_TIMEOUT).await?;
        Ok(Answer { url, status, body })
    }
}

/// `url` without `user:password@`.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_url_are_never_shown() {
        assert_eq!(
            shown_url("https://user:secret@mimir.example/prometheus"),
            "https://mimir.example/prometheus"
        );
        assert_eq!(shown_url("http://127.0.0.1:9090"), "http://127.0.0.1:9090");
    }

    #[test]
    fn only_http_urls_are_taken() {
        let access = |url: &str| PrometheusAccess {
            url: url.into(),
            ..PrometheusAccess::default()
        };
        assert!(Prometheus::new(&access("file:///etc/passwd")).is_err());
        assert!(Prometheus::new(&access("prometheus:9090")).is_err());
        assert!(Prometheus::new(&access("http://127.0.0.1:9090/")).is_ok());
    }
}
