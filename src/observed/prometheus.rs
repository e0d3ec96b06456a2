//! Prometheus's HTTP API (`/api/v1/query`, `/api/v1/query_range`) over
//! HTTP or HTTPS, with an optional bearer token (managed Prometheus,
//! Thanos, Mimir) and extra CA. Every call has a deadline and a size limit.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;

use super::answer::{Labels, Point, read_from};
use crate::net::CallError;

/// Every query gives up after this long.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// An answer for thousands of pods is a few MB (the latency buckets of
/// 5,000 rollouts' 10,000 ReplicaSets: 25 MB); more is refused.
const MAX_BODY: usize = 64 * 1024 * 1024;

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
    /// One answer is parsed at a time (the others wait in their sockets):
    /// each parsing thread would keep an allocator arena of its own, about
    /// 8 MB each at 5,000 rollouts.
    parsing: std::sync::Arc<tokio::sync::Semaphore>,
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
            parsing: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    /// The URL without any credentials in it, for people to see.
    pub fn shown_url(&self) -> String {
        shown_url(&self.base)
    }

    /// An instant query at `time` (seconds since the epoch): each sample
    /// of the vector it answers is added to `into` by `add`, as it arrives.
    pub async fn query<T: Send + 'static>(
        &self,
        promql: &str,
        time: f64,
        into: T,
        add: impl Add<T>,
    ) -> Result<T, CallError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .append_pair("time", &format!("{time:.3}"))
            .finish();
        self.post("/api/v1/query", form, "vector", into, add).await
    }

    /// A range query from `start` to `end` every `step` seconds, each
    /// series of the matrix added to `into` by `add`.
    pub async fn query_range<T: Send + 'static>(
        &self,
        promql: &str,
        (start, end, step): (i64, i64, i64),
        into: T,
        add: impl Add<T>,
    ) -> Result<T, CallError> {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .append_pair("start", &start.to_string())
            .append_pair("end", &end.to_string())
            .append_pair("step", &step.max(1).to_string())
            .finish();
        self.post("/api/v1/query_range", form, "matrix", into, add)
            .await
    }

    /// POST (a query of thousands of namespaces does not fit in a URL);
    /// the answer, of result type `expected`, is read as it arrives.
    async fn post<T: Send + 'static>(
        &self,
        path: &str,
        form: String,
        expected: &'static str,
        into: T,
        mut add: impl Add<T>,
    ) -> Result<T, CallError> {
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
        let deadline = tokio::time::Instant::now() + QUERY_TIMEOUT;
        let res = tokio::time::timeout_at(deadline, self.client.request(req))
            .await
            .map_err(|_| timed_out(&url))?
            .map_err(|source| CallError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = res.status();
        let permit = tokio::time::timeout_at(deadline, self.parsing.clone().acquire_owned())
            .await
            .map_err(|_| timed_out(&url))?
            .map_err(|_| CallError::Unexpected {
                url: url.clone(),
                what: "an answer read while shutting down",
            })?;
        // The body's chunks go from here, within the deadline, to a parser
        // beside the runtime that only waits on the channel: when this
        // call is dropped (shutdown) or gives up, the channel closes and
        // the parser ends.
        let (chunks, received) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
        let parse = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut into = into;
            let mut reader = ChannelReader {
                received,
                chunk: Bytes::new(),
                head: Vec::new(),
            };
            // serde_json reads a byte at a time: from a buffer, not a call
            // into the channel each.
            let buffered = std::io::BufReader::with_capacity(64 * 1024, &mut reader);
            let envelope = read_from(buffered, &mut |l, p| add(&mut into, l, p));
            (envelope, into, reader.head)
        });
        let pumped = pump(res.into_body(), chunks, deadline).await;
        let (envelope, into, head) = parse.await.map_err(|_| CallError::Unexpected {
            url: url.clone(),
            what: "an answer whose reading stopped",
        })?;
        if let Some(failure) = pumped {
            return Err(failure.into_error(&url));
        }
        let envelope = envelope.map_err(|_| CallError::Refused {
            url: url.clone(),
            status,
            said: String::from_utf8_lossy(&head).into_owned(),
        })?;
        if envelope.status != "success" {
            return Err(CallError::Refused {
                url,
                status,
                said: envelope.error.unwrap_or(envelope.status),
            });
        }
        match envelope.result_type.as_deref() {
            Some(t) if t == expected => Ok(into),
            None => Err(CallError::Unexpected {
                url,
                what: "without data",
            }),
            Some(_) => Err(CallError::Unexpected {
                url,
                what: if expected == "vector" {
                    "an instant query with something other than a vector"
                } else {
                    "a range query with something other than a matrix"
                },
            }),
        }
    }
}

/// How a sample is added to what a query gathers.
pub trait Add<T>: FnMut(&mut T, &Labels<'_>, Point<'_>) + Send + 'static {}
impl<T, F: FnMut(&mut T, &Labels<'_>, Point<'_>) + Send + 'static> Add<T> for F {}

/// The first bytes of an answer are kept to show when it is no JSON.
const HEAD: usize = 200;

/// Why reading an answer's body stopped early.
enum ReadFailure {
    Timeout,
    Body(Box<dyn std::error::Error + Send + Sync>),
}

impl ReadFailure {
    fn into_error(self, url: &str) -> CallError {
        match self {
            ReadFailure::Timeout => timed_out(url),
            ReadFailure::Body(source) => CallError::Read {
                url: url.to_string(),
                source,
            },
        }
    }
}

/// A query that passed its deadline.
fn timed_out(url: &str) -> CallError {
    CallError::Timeout {
        url: url.to_string(),
        after: QUERY_TIMEOUT,
    }
}

/// Chunks of an answer on their way to its parser.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Sends `body`'s chunks to `chunks` until it ends, fails, grows past the
/// size limit or the deadline passes (or the parser stops taking them).
async fn pump(
    body: hyper::body::Incoming,
    chunks: tokio::sync::mpsc::Sender<Bytes>,
    deadline: tokio::time::Instant,
) -> Option<ReadFailure> {
    use http_body_util::BodyExt;
    let mut body = http_body_util::Limited::new(body, MAX_BODY);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Some(ReadFailure::Timeout),
            Ok(None) => return None,
            Ok(Some(Err(e))) => return Some(ReadFailure::Body(e)),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        match tokio::time::timeout_at(deadline, chunks.send(data)).await {
            Err(_) => return Some(ReadFailure::Timeout),
            // The parser has stopped (a malformed answer): it says why.
            Ok(Err(_)) => return None,
            Ok(Ok(())) => {}
        }
    }
}

/// An answer's chunks as `std::io::Read`, for the blocking parser: the
/// end of the channel is the end of the answer.
struct ChannelReader {
    received: tokio::sync::mpsc::Receiver<Bytes>,
    chunk: Bytes,
    head: Vec<u8>,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            let Some(data) = self.received.blocking_recv() else {
                return Ok(0);
            };
            if self.head.len() < HEAD {
                let more = (HEAD - self.head.len()).min(data.len());
                self.head.extend_from_slice(&data[..more]);
            }
            self.chunk = data;
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        hyper::body::Buf::advance(&mut self.chunk, n);
        Ok(n)
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

    /// A server on a free loopback port answering every request with
    /// `status` and `body`.
    async fn answering(status: u16, body: &'static str) -> Prometheus {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("bound");
        let app = axum::Router::new().fallback(move || async move {
            (
                axum::http::StatusCode::from_u16(status).expect("a status"),
                body,
            )
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Prometheus::new(&PrometheusAccess {
            url: format!("http://{addr}"),
            ..PrometheusAccess::default()
        })
        .expect("an http URL")
    }

    fn count(n: &mut usize, _: &Labels<'_>, _: Point<'_>) {
        *n += 1;
    }

    #[tokio::test]
    async fn an_answer_is_read_as_it_arrives_and_a_bad_one_says_what_it_was() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"pod":"a"},"value":[1,"1"]},{"metric":{"pod":"b"},"value":[1,"2"]}]}}"#;
        let p = answering(200, vector).await;
        assert_eq!(p.query("up", 1.0, 0usize, count).await.ok(), Some(2));
        let wrong_type = p.query_range("up", (0, 1, 1), 0usize, count).await;
        assert!(
            matches!(wrong_type, Err(CallError::Unexpected { .. })),
            "{wrong_type:?}"
        );

        let proxy = answering(502, "<html>bad gateway</html>").await;
        match proxy.query("up", 1.0, 0usize, count).await {
            Err(CallError::Refused { status, said, .. }) => {
                assert_eq!(status, 502);
                assert_eq!(said, "<html>bad gateway</html>");
            }
            other => panic!("{other:?}"),
        }
        let refused = answering(
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
        )
        .await;
        match refused.query("up{", 1.0, 0usize, count).await {
            Err(CallError::Refused { said, .. }) => assert_eq!(said, "parse error at char 3"),
            other => panic!("{other:?}"),
        }
    }
}
