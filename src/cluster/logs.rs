//! A pod's log read through the API server as the person (their client,
//! so `pods/log` rights are theirs): opened under a deadline, read line by
//! line with every line's length bounded (a pod that writes a megabyte
//! without a newline costs `MAX_LINE`), each line with the time the
//! kubelet stamped on it.

use std::time::Duration;

use futures_util::io::{AsyncBufRead, AsyncBufReadExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use kube::{Client, Error as KubeError};

/// Opening a log gives up after this long.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest line kept; the rest of a longer one is dropped.
pub const MAX_LINE: usize = 8 * 1024;

/// What to read of one container.
#[derive(Clone, Debug, Default)]
pub struct LogRequest {
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
    pub tail_lines: Option<i64>,
    pub since_seconds: Option<i64>,
    pub previous: bool,
    pub follow: bool,
}

/// One line as the pod wrote it, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodLine {
    pub time: Option<Timestamp>,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The API server refused (`403`: no `pods/log`; `404`; `400`: e.g. no
    /// previous container): its own words.
    #[error("{}", .0.message)]
    Refused(#[source] Box<kube::core::Status>),
    #[error("the Kubernetes API did not open the log within {0:?}")]
    Timeout(Duration),
    #[error("the Kubernetes API failed: {0}")]
    Failed(#[source] KubeError),
}

impl LogError {
    /// The API server's status code, when it answered with one.
    pub fn code(&self) -> Option<u16> {
        match self {
            LogError::Refused(s) => Some(s.code),
            _ => None,
        }
    }
}

/// An open log: its lines as they come.
pub struct PodLog {
    reader: Box<dyn AsyncBufRead + Send + Unpin>,
    /// A line longer than `MAX_LINE` is being skipped to its end.
    skipping: bool,
}

/// Opens `req`'s log with `client` (the person's).
pub async fn open(client: Client, req: &LogRequest) -> Result<PodLog, LogError> {
    let api: Api<Pod> = Api::namespaced(client, &req.namespace);
    let params = LogParams {
        container: req.container.clone(),
        follow: req.follow,
        previous: req.previous,
        since_seconds: req.since_seconds,
        tail_lines: req.tail_lines,
        timestamps: true,
        ..LogParams::default()
    };
    match tokio::time::timeout(OPEN_TIMEOUT, api.log_stream(&req.pod, &params)).await {
        Err(_) => Err(LogError::Timeout(OPEN_TIMEOUT)),
        Ok(Err(KubeError::Api(status))) => Err(LogError::Refused(status)),
        Ok(Err(e)) => Err(LogError::Failed(e)),
        Ok(Ok(reader)) => Ok(PodLog {
            reader: Box::new(reader),
            skipping: false,
        }),
    }
}

impl PodLog {
    /// The next line; `None` when the log ends (the pod went, the server
    /// closed it) or cannot be read further.
    pub async fn next_line(&mut self) -> Option<PodLine> {
        let mut line: Vec<u8> = Vec::new();
        loop {
            let buf = match self.reader.fill_buf().await {
                Ok([]) | Err(_) => {
                    return (!line.is_empty()).then(|| parse(&line));
                }
                Ok(buf) => buf,
            };
            let (chunk, ended) = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            if !self.skipping {
                let room = MAX_LINE.saturating_sub(line.len());
                line.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    self.skipping = true;
                }
            }
            let used = ended.unwrap_or(buf.len());
            self.reader.consume_unpin(used);
            if ended.is_some() {
                self.skipping = false;
                return Some(parse(&line));
            }
        }
    }
}

/// `2026-12-07T01:31:12.5Z text` as the kubelet writes it with
/// `timestamps=true`.
fn parse(line: &[u8]) -> PodLine {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    match text.split_once(' ') {
        Some((at, rest)) if at.parse::<Timestamp>().is_ok() => PodLine {
            time: at.parse().ok(),
            text: rest.to_string(),
        },
        _ => PodLine {
            time: None,
            text: text.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(bytes: &'static [u8]) -> PodLog {
        PodLog {
            reader: Box::new(futures_util::io::BufReader::with_capacity(7, bytes)),
            skipping: false,
        }
    }

    #[tokio::test]
    async fn lines_with_their_time_and_no_line_past_the_bound() {
        let mut long = b"2026-12-07T01:00:00Z ".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE * 3));
        long.extend_from_slice(b"\n2026-12-07T01:00:01.5Z after\nno time here");
        let long: &'static [u8] = Box::leak(long.into_boxed_slice());
        let mut l = log(long);
        let first = l.next_line().await.expect("the long line");
        assert!(first.text.len() <= MAX_LINE, "{}", first.text.len());
        assert_eq!(
            first.time.map(|t| t.to_string()).as_deref(),
            Some("2026-12-07T01:00:00Z")
        );
        let second = l.next_line().await.expect("the next line");
        assert_eq!(second.text, "after");
        assert_eq!(
            second.time.map(|t| t.to_string()).as_deref(),
            Some("2026-12-07T01:00:01.5Z")
        );
        let third = l.next_line().await.expect("the last, unterminated line");
        assert_eq!((third.time, third.text.as_str()), (None, "no time here"));
        assert_eq!(l.next_line().await, None);
    }
}
