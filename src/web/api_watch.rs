//! The watch endpoints of Argo's dashboard API: Server-Sent Events
//! when the client accepts `text/event-stream`, newline-delimited JSON
//! otherwise; every message is `{"result": ...}`. Better than Argo (whose list stream says
//! only `Updated`, and whose single stream resends every second):
//! the list stream sends `Added`, `Updated` and `Deleted`; the single stream
//! sends only when the rollout's view changed, including its pods and
//! analysis runs; a subscriber that falls behind gets a full resync.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::StreamExt;

use crate::cluster::hub::{Change, RolloutEntry, Snapshot};
use crate::info::{InfoMeta, RolloutInfo};
use crate::model::RolloutKey;

use super::AppState;
use super::auth::identity::Caller;
use super::auth::identity::ClientAddr;
use super::auth::limits::{Inbox, Outbox, outbox, spawn_stream, stream_slot};
use super::auth::permissions::{Permissions, shown_namespace};
use super::auth::revocation::{Lapse, Tick, no_longer};
use super::error::AppError;
use super::queries::{
    find_rollout, in_namespace, namespace_filter, require_sees, rights_in, rollouts_listed,
};

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// grpc-gateway v1's error chunk.
#[derive(Serialize)]
struct StreamError<'a> {
    error: StreamErrorBody<'a>,
}

#[derive(Serialize)]
struct StreamErrorBody<'a> {
    grpc_code: i32,
    http_code: u16,
    message: &'a str,
    http_status: &'a str,
}

/// `{"result":{"type":…,"rolloutInfo":…}}` around a rollout's JSON as the
/// hub serialized it (once per change, for every client).
fn event_json(type_: &'static str, info_json: &str) -> String {
    format!(r#"{{"result":{{"type":"{type_}","rolloutInfo":{info_json}}}}}"#)
}

/// A rollout added or updated, as the watch sends it.
fn entry_event(type_: &'static str, entry: &RolloutEntry) -> Option<String> {
    let info_json = entry.json.list().map_err(lost).ok()?;
    Some(event_json(type_, &info_json))
}

/// `{"result":…}` around a rollout's JSON.
fn result_json(entry: &RolloutEntry) -> Option<String> {
    let info_json = entry.json.full().map_err(lost).ok()?;
    Some(format!(r#"{{"result":{info_json}}}"#))
}

/// A rollout whose kept JSON does not read back is left out of the
/// stream (and said in the log) rather than sent broken.
fn lost(e: crate::cluster::deflated::Inflate) {
    tracing::error!(error = %e, "cannot read a rollout's kept JSON for a watch");
}

fn deleted_message(key: &RolloutKey) -> Option<String> {
    serde_json::to_string(&deleted(key))
        .map_err(|e| tracing::error!(error = %e, "cannot encode a watch message"))
        .ok()
        .map(|info| event_json("Deleted", &info))
}

/// How a watch was let in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    /// The caller's rights in the namespace were checked.
    Checked,
    /// A namespace in scope with no rollouts yet: the stream opens (as
    /// Argo's does, sending rollouts as they are created), and the rights
    /// are asked only once a rollout appears there, so a made-up name
    /// costs the API server nothing.
    Deferred,
}

/// 404 only for what can never have rollouts here: not a namespace name,
/// or outside the dashboard's `-n` scope.
async fn watch_gate(state: &AppState, caller: &Caller, namespace: &str) -> Result<Gate, AppError> {
    match require_sees(state, caller, namespace).await {
        Ok(()) => Ok(Gate::Checked),
        Err(AppError::NotFound(why)) => {
            let in_scope = crate::model::is_namespace_name(namespace)
                && state.view.snapshot().health.scope.includes(namespace);
            if in_scope {
                Ok(Gate::Deferred)
            } else {
                Err(AppError::NotFound(why))
            }
        }
        Err(e) => Err(e),
    }
}

/// `GET /api/v1/rollouts/{ns}/info/watch`.
pub async fn watch_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(from): Extension<ClientAddr>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let perms = Permissions::of(&state, &caller);
    if let Some(ns) = namespace_filter(&namespace) {
        watch_gate(&state, &caller, ns).await?;
    }
    let slot = stream_slot(&state.streams, &caller, from)?;
    let changes = state.view.subscribe();
    let snapshot = rollouts_listed(&state, namespace_filter(&namespace)).await?;
    let (tx, rx) = outbox(&state.streams);
    let ns = namespace_filter(&namespace).map(str::to_string);
    let lapse = Lapse::new(&state, &caller);
    let follow = follow_list(state.clone(), perms, lapse, ns, snapshot, changes, tx);
    spawn_stream(&state.metrics, &state.shutdown, slot, follow);
    Ok(stream_response(&headers, rx))
}

/// `GET /api/v1/rollouts/{ns}/{name}/info/watch`.
pub async fn watch_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(from): Extension<ClientAddr>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let gate = watch_gate(&state, &caller, &namespace).await?;
    let slot = stream_slot(&state.streams, &caller, from)?;
    let changes = state.view.subscribe();
    // A rollout not created yet: the stream waits for it, as Argo's does.
    let snapshot = match find_rollout(&state, &namespace, &name).await {
        Ok((snapshot, _)) => snapshot,
        Err(AppError::NotFound(_)) => state.view.snapshot(),
        Err(e) => return Err(e),
    };
    let key = RolloutKey::new(namespace, name);
    let (tx, rx) = outbox(&state.streams);
    let perms = Permissions::of(&state, &caller);
    let lapse = Lapse::new(&state, &caller);
    let follow = follow_one(
        state.clone(),
        perms,
        lapse,
        gate,
        key,
        snapshot,
        changes,
        tx,
    );
    spawn_stream(&state.metrics, &state.shutdown, slot, follow);
    Ok(stream_response(&headers, rx))
}

/// grpc-gateway's error chunk, the stream's last message.
async fn end_with(tx: &Outbox<String>, http_code: u16, message: &str) {
    let (grpc_code, http_status) = match http_code {
        401 => (16, "Unauthorized"),
        403 => (7, "Forbidden"),
        _ => (5, "Not Found"),
    };
    let chunk = StreamError {
        error: StreamErrorBody {
            grpc_code,
            http_code,
            message,
            http_status,
        },
    };
    if let Ok(m) = serde_json::to_string(&chunk) {
        let _ = tx.send(m).await;
    }
}

async fn follow_list(
    state: AppState,
    perms: Permissions,
    mut lapse: Lapse,
    ns: Option<String>,
    snapshot: Snapshot,
    mut changes: tokio::sync::broadcast::Receiver<Arc<Change>>,
    tx: Outbox<String>,
) {
    let mut sent: BTreeSet<RolloutKey> = BTreeSet::new();
    let Ok(mut known_seq) = resync(&snapshot, &perms, ns.as_deref(), &mut sent, &tx).await else {
        return;
    };
    // Holding the snapshot would make the hub copy the whole map on every
    // change for as long as this client stays.
    drop(snapshot);
    loop {
        let change = tokio::select! {
            _ = tx.closed() => return,
            change = changes.recv() => change,
            tick = lapse.next() => {
                match tick {
                    Tick::Ended(message) => return end_with(&tx, 401, &message).await,
                    Tick::Recheck => {
                        let snapshot = state.view.snapshot();
                        // A namespace with no rollouts has nothing to
                        // withdraw: its rights are asked once one appears.
                        if let Some(n) = ns.as_deref().filter(|n| shown_namespace(&snapshot, n)) {
                            match perms.access(n).await {
                                Ok(a) if a.list => {}
                                Ok(_) => return end_with(&tx, 403, &no_longer(n)).await,
                                Err(_) => return,
                            }
                        }
                        // Rollouts of namespaces no longer theirs go as
                        // `Deleted`; newly visible ones come as `Added`.
                        match resync(&snapshot, &perms, ns.as_deref(), &mut sent, &tx).await {
                            Ok(seq) => known_seq = seq,
                            Err(()) => return,
                        }
                    }
                }
                continue;
            }
        };
        let change = match change {
            Ok(c) => c,
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "list watcher fell behind; resyncing");
                let snapshot = state.view.snapshot();
                match resync(&snapshot, &perms, ns.as_deref(), &mut sent, &tx).await {
                    Ok(seq) => known_seq = seq,
                    Err(()) => return,
                }
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if change.seq() <= known_seq {
            continue;
        }
        let Change::Rollout { key, entry, .. } = &*change else {
            continue;
        };
        if ns.as_deref().is_some_and(|n| n != key.namespace) {
            continue;
        }
        let sees = perms.access(&key.namespace).await.is_ok_and(|a| a.list);
        if !sees && !sent.contains(key) {
            continue;
        }
        // Deleted, or no longer theirs to see.
        let entry = if sees { entry.as_ref() } else { None };
        let msg = match entry {
            Some(e) => {
                let type_ = if sent.insert(key.clone()) {
                    "Added"
                } else {
                    "Updated"
                };
                entry_event(type_, e)
            }
            None => {
                if !sent.remove(key) {
                    continue;
                }
                deleted_message(key)
            }
        };
        if let Some(m) = msg
            && tx.send(m).await.is_err()
        {
            return;
        }
    }
}

/// Sends the whole namespace as of `snapshot` (new rollouts as `Added`,
/// known ones as `Updated`, vanished ones as `Deleted`); returns its seq,
/// or `Err` when the stream must end (gone, or rights not checkable).
async fn resync(
    snapshot: &Snapshot,
    perms: &Permissions,
    ns: Option<&str>,
    sent: &mut BTreeSet<RolloutKey>,
    tx: &Outbox<String>,
) -> Result<u64, ()> {
    let rights = rights_in(perms, snapshot, ns).await.map_err(|_| ())?;
    let mut now: BTreeSet<RolloutKey> = BTreeSet::new();
    for (key, entry) in in_namespace(snapshot, ns).filter(|(k, _)| rights.sees(&k.namespace)) {
        now.insert(key.clone());
        let type_ = if sent.contains(key) {
            "Updated"
        } else {
            "Added"
        };
        if let Some(m) = entry_event(type_, entry)
            && tx.send(m).await.is_err()
        {
            return Err(());
        }
    }
    for gone in sent.difference(&now) {
        if let Some(m) = deleted_message(gone)
            && tx.send(m).await.is_err()
        {
            return Err(());
        }
    }
    *sent = now;
    Ok(snapshot.seq)
}

/// What a `Deleted` event carries: enough to find the rollout by name.
fn deleted(key: &RolloutKey) -> RolloutInfo {
    RolloutInfo {
        object_meta: InfoMeta {
            name: key.name.clone(),
            namespace: key.namespace.clone(),
            ..InfoMeta::default()
        },
        ..RolloutInfo::default()
    }
}

#[allow(clippy::too_many_arguments)]
async fn follow_one(
    state: AppState,
    perms: Permissions,
    mut lapse: Lapse,
    gate: Gate,
    key: RolloutKey,
    snapshot: Snapshot,
    mut changes: tokio::sync::broadcast::Receiver<Arc<Change>>,
    tx: Outbox<String>,
) {
    let first = snapshot.rollouts.get(&key).cloned();
    drop(snapshot);
    let mut checked = gate == Gate::Checked;
    let mut sent_seq = 0;
    if let Some(entry) = first {
        sent_seq = entry.seq;
        if let Some(m) = result_json(&entry)
            && tx.send(m).await.is_err()
        {
            return;
        }
    }
    loop {
        let change = tokio::select! {
            _ = tx.closed() => return,
            change = changes.recv() => change,
            tick = lapse.next() => {
                match tick {
                    Tick::Ended(message) => return end_with(&tx, 401, &message).await,
                    Tick::Recheck if !checked => continue,
                    Tick::Recheck => match perms.access(&key.namespace).await {
                        Ok(a) if a.list => continue,
                        Ok(_) => return end_with(&tx, 403, &no_longer(&key.namespace)).await,
                        Err(_) => return,
                    },
                }
            }
        };
        let entry = match change {
            Ok(c) => match &*c {
                Change::Rollout { key: k, entry, .. } if *k == key => entry.clone(),
                _ => continue,
            },
            Err(RecvError::Lagged(_)) => state.view.snapshot().rollouts.get(&key).cloned(),
            Err(RecvError::Closed) => return,
        };
        let Some(entry) = entry else {
            if sent_seq == 0 {
                continue; // never shown: nothing to take back
            }
            // Gone: say so and end; a reconnecting client waits for it anew.
            return end_with(&tx, 404, &format!("rollout {key} was deleted")).await;
        };
        if !checked {
            // It exists now: the caller's rights there are asked once.
            match perms.access(&key.namespace).await {
                Ok(a) if a.list => checked = true,
                Ok(_) => {
                    let why = format!("You may not see rollouts in namespace {}.", key.namespace);
                    return end_with(&tx, 403, &why).await;
                }
                Err(_) => return,
            }
        }
        if entry.seq <= sent_seq {
            continue;
        }
        sent_seq = entry.seq;
        if let Some(m) = result_json(&entry)
            && tx.send(m).await.is_err()
        {
            return;
        }
    }
}

/// SSE if the client asks for it (as `EventSource` does), else NDJSON.
fn stream_response(headers: &HeaderMap, rx: Inbox<String>) -> Response {
    let wants_sse = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    let messages = rx;
    let mut response = if wants_sse {
        let events = messages.map(|m| Ok::<_, Infallible>(Event::default().data(m)));
        Sse::new(events)
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
            .into_response()
    } else {
        let lines = messages.map(|mut m| {
            m.push('\n');
            Ok::<_, Infallible>(Bytes::from(m))
        });
        let mut r = Body::from_stream(lines).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    let h = response.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Proxies such as nginx must not buffer a live stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
