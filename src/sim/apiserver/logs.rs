//! `GET /api/v1/namespaces/{ns}/pods/{name}/log` as the Kubernetes API
//! serves it (`kubectl logs` works against it): `container` (required when
//! the pod has several), `follow`, `tailLines`, `sinceSeconds`/`sinceTime`,
//! `timestamps`, `previous`, `limitBytes`; plain text, streamed while
//! following until the pod goes, the watches are dropped or the server
//! stops. What the containers write is `sim/logs.rs`.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use tokio::sync::mpsc;

use super::server::ApiServer;
use crate::sim::logs::{LogLine, previous_lines, restarts};
use crate::sim::mesh::traffic_of;
use crate::sim::resources;
use crate::sim::store::ApiError;

/// How often a follower looks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// The query of a log request, as the API server reads it.
#[derive(Debug, Default)]
pub struct LogQuery {
    pub container: Option<String>,
    pub follow: bool,
    pub tail_lines: Option<i64>,
    pub since_seconds: Option<i64>,
    pub since_time: Option<String>,
    pub timestamps: bool,
    pub previous: bool,
    pub limit_bytes: Option<i64>,
}

/// Which lines, and how they are written out.
struct Selection {
    since: Option<Timestamp>,
    tail: Option<usize>,
    timestamps: bool,
    limit: Option<usize>,
}

pub(super) fn pod_log(
    server: &ApiServer,
    namespace: &str,
    name: &str,
    query: LogQuery,
) -> Result<Response, ApiError> {
    let pods = resources::find("", "v1", "pods").ok_or_else(|| ApiError::bad_request("no pods"))?;
    let pod = server.store.get(pods, namespace, name)?;
    let container = container_of(&pod, name, query.container.as_deref())?;
    let now = server.store.clock.now();
    let selection = selection(&query, now)?;
    if query.previous {
        if restarts(&pod, &container) == 0 {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        let text = render(&previous_lines(&pod, &container), &selection, None);
        return Ok(plain(Body::from(text)));
    }
    let lines = server.store.logs.read(
        &pod,
        &container,
        traffic_of(&server.store, namespace, name),
        now,
        None,
    );
    let first = render(&lines, &selection, None);
    if !query.follow {
        return Ok(plain(Body::from(first)));
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(16);
    let stop = server
        .watches
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let server = server.clone();
    let (namespace, name) = (namespace.to_string(), name.to_string());
    tokio::spawn(async move {
        let mut sent = first.len();
        let mut last = lines.last().map(|l| l.at);
        if tx.send(Ok(Bytes::from(first))).await.is_err() {
            return;
        }
        let follow = Selection {
            tail: None,
            ..selection
        };
        loop {
            if follow.limit.is_some_and(|l| sent >= l) {
                return;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tx.closed() => return,
                _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            }
            // The container stops with its pod.
            let Ok(pod) = server.store.get(pods, &namespace, &name) else {
                return;
            };
            let now = server.store.clock.now();
            let traffic = traffic_of(&server.store, &namespace, &name);
            let new: Vec<LogLine> = server.store.logs.read(&pod, &container, traffic, now, last);
            if new.is_empty() {
                continue;
            }
            last = new.last().map(|l| l.at);
            let text = render(&new, &follow, follow.limit.map(|l| l - sent));
            sent += text.len();
            if tx.send(Ok(Bytes::from(text))).await.is_err() {
                return;
            }
        }
    });
    Ok(plain(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    )))
}

/// The container asked for, or the pod's only one.
fn container_of(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let names: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    match asked {
        Some(c) if names.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if names.len() == 1 => Ok(names[0].to_string()),
        None => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            names.join(" ")
        ))),
    }
}

/// The query checked as the API server checks it.
fn selection(q: &LogQuery, now: Timestamp) -> Result<Selection, ApiError> {
    if q.since_seconds.is_some() && q.since_time.is_some() {
        return Err(ApiError::bad_request(
            "at most one of sinceTime or sinceSeconds may be specified",
        ));
    }
    let positive = |v: Option<i64>, what: &str, least: i64| match v {
        Some(n) if n < least => Err(ApiError::bad_request(format!(
            "{what}: Invalid value: {n}: must be greater than {}",
            if least == 0 { "or equal to 0" } else { "0" }
        ))),
        other => Ok(other),
    };
    let since_seconds = positive(q.since_seconds, "sinceSeconds", 1)?;
    let tail = positive(q.tail_lines, "tailLines", 0)?;
    let limit = positive(q.limit_bytes, "limitBytes", 1)?;
    let since = match (&q.since_time, since_seconds) {
        (Some(t), _) => Some(
            t.parse::<Timestamp>()
                .map_err(|e| ApiError::bad_request(format!("sinceTime: {e}")))?,
        ),
        (None, Some(s)) => Some(now - SignedDuration::from_secs(s)),
        (None, None) => None,
    };
    Ok(Selection {
        since,
        tail: tail.map(|t| usize::try_from(t).unwrap_or(usize::MAX)),
        timestamps: q.timestamps,
        limit: limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
    })
}

/// The selected lines as the response carries them; at most `room` bytes
/// (else the selection's limit).
fn render(lines: &[LogLine], s: &Selection, room: Option<usize>) -> String {
    let kept: Vec<&LogLine> = lines
        .iter()
        .filter(|l| s.since.is_none_or(|t| l.at >= t))
        .collect();
    let from = s.tail.map_or(0, |t| kept.len().saturating_sub(t));
    let mut out = String::new();
    for line in &kept[from..] {
        if s.timestamps {
            // RFC 3339 with nanoseconds, trailing zeros dropped, as Go's
            // RFC3339Nano writes it.
            out.push_str(&line.at.to_string());
            out.push(' ');
        }
        out.push_str(&line.text);
        out.push('\n');
    }
    if let Some(limit) = room.or(s.limit)
        && out.len() > limit
    {
        let mut cut = limit;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

fn plain(body: Body) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines() -> Vec<LogLine> {
        (0..5)
            .map(|i| LogLine {
                at: Timestamp::from_second(1_800_000_000 + i).unwrap_or(Timestamp::UNIX_EPOCH),
                text: format!("line {i}"),
            })
            .collect()
    }

    #[test]
    fn tail_since_timestamps_and_limit_select_as_kubernetes_does() {
        let all = Selection {
            since: None,
            tail: None,
            timestamps: false,
            limit: None,
        };
        assert_eq!(render(&lines(), &all, None).lines().count(), 5);
        let tail = Selection {
            tail: Some(2),
            ..all
        };
        assert_eq!(render(&lines(), &tail, None), "line 3\nline 4\n");
        let since = Selection {
            since: Timestamp::from_second(1_800_000_003).ok(),
            tail: None,
            timestamps: true,
            limit: None,
        };
        assert_eq!(
            render(&lines(), &since, None),
            "2027-01-15T08:00:03Z line 3\n2027-01-15T08:00:04Z line 4\n"
        );
        let limited = Selection {
            since: None,
            tail: None,
            timestamps: false,
            limit: Some(9),
        };
        assert_eq!(render(&lines(), &limited, None), "line 0\nli");
    }

    #[test]
    fn bad_queries_are_refused_as_the_api_server_refuses_them() {
        let now = Timestamp::UNIX_EPOCH;
        let q = |f: fn(&mut LogQuery)| {
            let mut q = LogQuery::default();
            f(&mut q);
            selection(&q, now).err().map(|e| e.message)
        };
        assert!(q(|q| q.tail_lines = Some(-1)).is_some_and(|m| m.contains("tailLines")));
        assert!(q(|q| q.since_seconds = Some(0)).is_some_and(|m| m.contains("sinceSeconds")));
        assert!(q(|q| q.limit_bytes = Some(0)).is_some_and(|m| m.contains("limitBytes")));
        assert!(
            q(|q| {
                q.since_seconds = Some(5);
                q.since_time = Some("2026-01-01T00:00:00Z".into());
            })
            .is_some_and(|m| m.contains("at most one"))
        );
        assert!(q(|q| q.tail_lines = Some(0)).is_none());
    }
}
