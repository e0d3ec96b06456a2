//! A rollout's pod logs, read as the person may read them: the pods of
//! each revision that has pods (canary, stable, preview, active) through
//! the API server with the person's client, so `pods/log` rights are
//! theirs. `GET {base}/api/v1/rollouts/{ns}/{name}/logs` answers
//! newline-delimited JSON (Server-Sent Events with `Accept:
//! text/event-stream`), one object per line: `{pod, container, revision,
//! role, time, line}`; with `follow=true` it stays open, new pods join as
//! they appear, and it ends when the viewer leaves, their right to read
//! logs is withdrawn, their sign-in ends, or the dashboard stops.
//!
//! Bounded everywhere: at most `MOST_PODS` pods and `MAX_TAIL` lines a pod,
//! each line at most `cluster::logs::MAX_LINE` bytes, 4 MiB of text a view
//! that does not follow, a followed stream at
//! most `LINES_PER_SECOND` lines a second (the rest dropped and counted in
//! a `{"dropped": n}` object), its queue bounded in bytes like every live
//! view, and followed streams capped per person and in total
//! (`--max-log-streams-per-client`, `--max-log-streams`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_stream::StreamExt;

use super::AppState;
use super::auth::identity::{Caller, ClientAddr};
use super::auth::limits::{Outbox, outbox, spawn_stream, stream_slot};
use super::auth::permissions::{Permissions, no_logs};
use super::auth::revocation::{Lapse, Tick};
use super::error::AppError;
use super::queries::{find_rollout, require_sees};
use crate::cluster::logs::{LogRequest, PodLine, open};
use crate::info::logs::{LogTarget, Role, is_error_line, log_targets};
use crate::model::RolloutKey;

/// Pods read at once for one view.
pub const MOST_PODS: usize = 20;
/// Lines a pod gives when none are asked for.
pub const DEFAULT_TAIL: i64 = 100;
/// The most lines a pod gives.
pub const MAX_TAIL: i64 = 1000;
/// Lines a followed stream sends a second; more are dropped and counted.
pub const LINES_PER_SECOND: u32 = 200;
/// A view that does not follow gives up on pods that have not ended by then.
const READ_DEADLINE: Duration = Duration::from_secs(15);
/// How often a followed stream looks for new pods.
const NEW_PODS_EVERY: Duration = Duration::from_secs(2);
/// The most text one view that does not follow reads (20 pods × 1,000
/// lines × 8 KiB would be 160 MB): past it, the rest is not read.
const MAX_VIEW_BYTES: usize = 4 << 20;
/// Lines read ahead of the stream per view: with lines of at most
/// `MAX_LINE` bytes, what a view holds before its queue is bounded by this.
const READ_AHEAD: usize = 32;
/// The longest text filter.
const MAX_FILTER: usize = 200;

/// What a Logs view asks for (the API's query, the page's form).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogsQuery {
    pub role: Option<String>,
    pub revision: Option<i64>,
    pub container: Option<String>,
    pub tail_lines: Option<i64>,
    /// The page's "any time" sends it empty.
    #[serde(deserialize_with = "empty_is_none")]
    pub since_seconds: Option<i64>,
    pub follow: Option<bool>,
    pub errors_only: Option<bool>,
    pub previous: Option<bool>,
    /// Only lines that contain this text (case-insensitive).
    pub filter: Option<String>,
}

/// A number, or nothing for an empty value (a form's first option).
fn empty_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(n) => n.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// One line as the API gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub pod: String,
    pub container: String,
    pub revision: i64,
    pub role: &'static str,
    /// RFC 3339, as the kubelet stamped it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub line: String,
    /// The line reports an error (`info::logs::is_error_line`), so a page
    /// marks it as the server-rendered one does.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
}

/// A view's request, checked: whose logs, which, filtered how.
#[derive(Clone, Debug)]
pub struct LogsPlan {
    key: RolloutKey,
    container: String,
    /// The rollout's containers, to choose from.
    containers: Vec<String>,
    targets: Vec<LogTarget>,
    role: Option<Role>,
    revision: Option<i64>,
    tail: i64,
    since_seconds: Option<i64>,
    previous: bool,
    errors_only: bool,
    filter: Option<String>,
}

impl LogsPlan {
    fn keeps(&self, line: &str) -> bool {
        (!self.errors_only || is_error_line(line))
            && self
                .filter
                .as_deref()
                .is_none_or(|f| line.to_lowercase().contains(f))
    }

    pub fn targets(&self) -> &[LogTarget] {
        &self.targets
    }

    pub fn container(&self) -> &str {
        &self.container
    }

    pub fn containers(&self) -> &[String] {
        &self.containers
    }
}

/// Checks the request: 404 for what this dashboard does not show, 403
/// unless the caller may see the rollout and read pod logs in its
/// namespace, 400 for a bad query.
pub async fn plan(
    state: &AppState,
    caller: &Caller,
    namespace: &str,
    name: &str,
    q: &LogsQuery,
) -> Result<LogsPlan, AppError> {
    require_sees(state, caller, namespace).await?;
    if !Permissions::of(state, caller)
        .may_read_logs(namespace)
        .await?
    {
        return Err(no_logs(namespace));
    }
    let (_, entry) = find_rollout(state, namespace, name).await?;
    let key = RolloutKey::new(namespace, name);
    let info = entry.info(&key);
    let role = match q.role.as_deref().filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => Some(Role::parse(r).ok_or_else(|| {
            AppError::BadRequest(format!(
                "role {r:?} is none of canary, stable, preview, active, other"
            ))
        })?),
    };
    let containers: Vec<&str> = info.containers.iter().map(|c| c.name.as_str()).collect();
    let container = match q.container.as_deref().filter(|c| !c.is_empty()) {
        Some(c) if containers.contains(&c) => c.to_string(),
        Some(c) => {
            return Err(AppError::BadRequest(format!(
                "{key} has no container {c:?}; it has {}",
                containers.join(", ")
            )));
        }
        None => containers
            .first()
            .map(|c| c.to_string())
            .ok_or_else(|| AppError::NotFound(format!("{key} names no container")))?,
    };
    let tail = q.tail_lines.unwrap_or(DEFAULT_TAIL);
    if !(0..=MAX_TAIL).contains(&tail) {
        return Err(AppError::BadRequest(format!(
            "tailLines must be from 0 to {MAX_TAIL}"
        )));
    }
    if q.since_seconds.is_some_and(|s| s < 1) {
        return Err(AppError::BadRequest(
            "sinceSeconds must be at least 1".into(),
        ));
    }
    let filter = q
        .filter
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| {
            f.chars()
                .take(MAX_FILTER)
                .collect::<String>()
                .to_lowercase()
        });
    Ok(LogsPlan {
        containers: containers.iter().map(|c| c.to_string()).collect(),
        targets: log_targets(&info, role, q.revision, MOST_PODS),
        key,
        container,
        role,
        revision: q.revision,
        tail,
        since_seconds: q.since_seconds,
        previous: q.previous == Some(true),
        errors_only: q.errors_only == Some(true),
        filter,
    })
}

/// The person's client: their rights decide what the API server gives.
fn client_for(state: &AppState, caller: &Caller) -> Result<kube::Client, AppError> {
    super::auth::permissions::actor_for(state, caller).map(|a| a.client())
}

/// The lines each pod has now, oldest first (not following).
pub async fn read_now(
    state: &AppState,
    caller: &Caller,
    plan: &LogsPlan,
) -> Result<Vec<LogEntry>, AppError> {
    let client = client_for(state, caller)?;
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    let mut readers = JoinSet::new();
    for target in &plan.targets {
        readers.spawn(read_pod(
            client.clone(),
            plan.request(target, false, plan.tail),
            target.clone(),
            tx.clone(),
        ));
    }
    drop(tx);
    let mut entries = Vec::new();
    let mut bytes = 0;
    let mut refused = None;
    let deadline = tokio::time::sleep(READ_DEADLINE);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(Ok((target, line))) => {
                    if plan.keeps(&line.text) {
                        bytes += line.text.len();
                        entries.push(plan.entry(&target, line));
                        if bytes > MAX_VIEW_BYTES {
                            break;
                        }
                    }
                }
                Some(Err(e)) => refused = Some(e),
                None => break,
            },
            _ = &mut deadline => break,
        }
    }
    // Every pod refused (the same reason for each, as a rule): say why.
    if entries.is_empty()
        && let Some(e) = refused
    {
        return Err(e);
    }
    entries.sort_by_key(|e| {
        e.time
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    });
    Ok(entries)
}

impl LogsPlan {
    fn request(&self, target: &LogTarget, follow: bool, tail: i64) -> LogRequest {
        LogRequest {
            namespace: self.key.namespace.clone(),
            pod: target.pod.clone(),
            container: Some(self.container.clone()),
            tail_lines: Some(tail),
            since_seconds: self.since_seconds,
            previous: self.previous,
            follow,
        }
    }

    fn entry(&self, target: &LogTarget, line: PodLine) -> LogEntry {
        LogEntry {
            pod: target.pod.clone(),
            container: self.container.clone(),
            revision: target.revision,
            role: target.role.as_str(),
            time: line.time.map(|t| t.to_string()),
            is_error: is_error_line(&line.text),
            line: line.text,
        }
    }
}

type Read = Result<(LogTarget, PodLine), AppError>;

/// Reads one pod's log into `tx` until it ends or nobody listens.
async fn read_pod(
    client: kube::Client,
    req: LogRequest,
    target: LogTarget,
    tx: mpsc::Sender<Read>,
) {
    let mut log = match open(client, &req).await {
        Ok(log) => log,
        Err(e) => {
            let error = match e.code() {
                Some(403) => AppError::Forbidden(e.to_string()),
                Some(404) => AppError::NotFound(e.to_string()),
                Some(400) => AppError::Unprocessable(e.to_string()),
                _ => AppError::BadGateway(e.to_string()),
            };
            tracing::debug!(pod = %target.pod, error = %e, "a pod's log could not be opened");
            let _ = tx.send(Err(error)).await;
            return;
        }
    };
    while let Some(line) = log.next_line().await {
        if tx.send(Ok((target.clone(), line))).await.is_err() {
            return;
        }
    }
}

/// `GET {base}/api/v1/rollouts/{ns}/{name}/logs`.
pub async fn api(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(from): Extension<ClientAddr>,
    Path((namespace, name)): Path<(String, String)>,
    Query(q): Query<LogsQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let plan = plan(&state, &caller, &namespace, &name, &q).await?;
    let sse = wants_sse(&headers);
    if q.follow != Some(true) {
        let entries = read_now(&state, &caller, &plan).await?;
        let mut body = String::new();
        for e in &entries {
            if let Ok(json) = serde_json::to_string(e) {
                body.push_str(&json);
                body.push('\n');
            }
        }
        return Ok(ndjson(Body::from(body)));
    }
    let slot = stream_slot(&state.log_streams, &caller, from)?;
    let client = client_for(&state, &caller)?;
    let (tx, rx) = outbox::<String>(&state.log_streams);
    let lapse = Lapse::new(&state, &caller);
    let perms = Permissions::of(&state, &caller);
    let follow = follow(state.clone(), client, perms, lapse, plan, tx);
    spawn_stream(&state.metrics, &state.shutdown, slot, follow);
    let messages = rx;
    Ok(if sse {
        let events = messages.map(|m| Ok::<_, Infallible>(Event::default().data(m)));
        let mut r = Sse::new(events)
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response();
        no_buffering(&mut r);
        r
    } else {
        let lines = messages.map(|mut m| {
            m.push('\n');
            Ok::<_, Infallible>(Bytes::from(m))
        });
        let mut r = ndjson(Body::from_stream(lines));
        no_buffering(&mut r);
        r
    })
}

fn wants_sse(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

fn ndjson(body: Body) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

fn no_buffering(r: &mut Response) {
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
}

/// A followed view: every pod's new lines, new pods as they appear, until
/// the viewer leaves or may no longer read them.
async fn follow(
    state: AppState,
    client: kube::Client,
    perms: Permissions,
    mut lapse: Lapse,
    plan: LogsPlan,
    tx: Outbox<String>,
) {
    let (lines_tx, mut lines) = mpsc::channel::<Read>(READ_AHEAD);
    let mut readers = JoinSet::new();
    let mut reading: HashMap<String, ()> = HashMap::new();
    let mut start = |target: &LogTarget, tail: i64, readers: &mut JoinSet<()>| {
        if reading.len() < MOST_PODS && reading.insert(target.pod.clone(), ()).is_none() {
            readers.spawn(read_pod(
                client.clone(),
                plan.request(target, true, tail),
                target.clone(),
                lines_tx.clone(),
            ));
        }
    };
    for target in &plan.targets {
        start(target, plan.tail, &mut readers);
    }
    let mut budget = Budget::new(LINES_PER_SECOND);
    let mut look_for_pods = tokio::time::interval(NEW_PODS_EVERY);
    let mut report = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            got = lines.recv() => {
                let Some(got) = got else { return };
                let (target, line) = match got {
                    Ok(read) => read,
                    Err(e) => {
                        send(&tx, &serde_json::json!({"error": e.to_string()})).await;
                        continue;
                    }
                };
                if !plan.keeps(&line.text) {
                    continue;
                }
                if !budget.take() {
                    continue;
                }
                if !send(&tx, &plan.entry(&target, line)).await {
                    return;
                }
            }
            _ = report.tick() => {
                let dropped = budget.refill();
                if dropped > 0 && !send(&tx, &serde_json::json!({"dropped": dropped})).await {
                    return;
                }
            }
            _ = look_for_pods.tick() => {
                // New pods join from their first lines.
                let snapshot = state.view.snapshot();
                if let Some(entry) = snapshot.rollouts.get(&plan.key) {
                    let info = entry.info(&plan.key);
                    for target in log_targets(&info, plan.role, plan.revision, MOST_PODS) {
                        start(&target, MAX_TAIL, &mut readers);
                    }
                }
            }
            tick = lapse.next() => {
                let ended = match tick {
                    Tick::Ended(message) => Some(message),
                    Tick::Recheck => match perms.may_read_logs(&plan.key.namespace).await {
                        Ok(true) => None,
                        Ok(false) => Some(format!(
                            "You may no longer read pod logs in namespace {}.",
                            plan.key.namespace
                        )),
                        // Not known now: keep going, ask again next time.
                        Err(_) => None,
                    },
                };
                if let Some(message) = ended {
                    send(&tx, &serde_json::json!({"ended": message})).await;
                    return;
                }
            }
        }
    }
}

/// Sends one JSON object; `false` once the viewer has gone.
async fn send(tx: &Outbox<String>, value: &impl Serialize) -> bool {
    match serde_json::to_string(value) {
        Ok(json) => tx.send(json).await.is_ok(),
        Err(_) => true,
    }
}

/// Lines a stream may still send this second, and those it dropped.
struct Budget {
    per_second: u32,
    left: u32,
    dropped: u64,
}

impl Budget {
    fn new(per_second: u32) -> Budget {
        Budget {
            per_second,
            left: per_second,
            dropped: 0,
        }
    }

    fn take(&mut self) -> bool {
        if self.left == 0 {
            self.dropped += 1;
            return false;
        }
        self.left -= 1;
        true
    }

    /// A new second: the lines dropped in the last one.
    fn refill(&mut self) -> u64 {
        self.left = self.per_second;
        std::mem::take(&mut self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;

    #[test]
    fn a_stream_sends_its_rate_and_counts_the_rest() {
        let mut b = Budget::new(3);
        let sent = (0..10).filter(|_| b.take()).count();
        assert_eq!(sent, 3);
        assert_eq!(b.refill(), 7);
        assert!(b.take());
        assert_eq!(b.refill(), 0);
    }
}
