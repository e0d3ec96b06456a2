//! A rollout page's live stream (Server-Sent Events), and what both pages'
//! streams share (the overview's is in overview_stream.rs). A rollout page
//! gets each of its fragments that changed, the connection state, and
//! after connecting (or falling behind) everything.
//!
//! Events: `replace` `{id, html}`, `state` `{state, headline, html}`,
//! `gone` `{message}`, and `ended` `{message}` as the last event when the
//! person's sign-in ends or their access is withdrawn (the page stops
//! following then).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Extension, Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::StreamExt;

use super::AppState;
use super::auth::identity::Caller;
use super::auth::identity::ClientAddr;
use super::auth::limits::{Inbox, Outbox, Weighed, outbox, spawn_stream, stream_slot};
use super::auth::permissions::Permissions;
use super::auth::revocation::{Lapse, Tick, no_longer};
use super::error::AppError;
use super::templates::{BannerPartial, detail_fragments, render};
use super::view::detail::DetailView;
use crate::cluster::health::Health;
use crate::cluster::hub::{Change, RolloutEntry};
use crate::model::RolloutKey;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One Server-Sent Event, as queued for its page (sized, so a page that
/// does not read holds a bounded backlog).
pub(super) struct Message {
    name: &'static str,
    data: String,
}

impl Weighed for Message {
    fn bytes(&self) -> usize {
        // `event: …\ndata: …\n\n`
        self.name.len() + self.data.len() + 16
    }
}

pub(super) type Tx = Outbox<Message>;

pub(super) fn event(name: &'static str, data: serde_json::Value) -> Message {
    Message {
        name,
        data: data.to_string(),
    }
}

pub(super) fn sse(rx: Inbox<Message>) -> Response {
    let events = rx.map(|m| Ok::<_, Infallible>(Event::default().event(m.name).data(m.data)));
    let mut r = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    let h = r.headers_mut();
    h.insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    h.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-store"),
    );
    r
}

/// The connection state as this person may see it.
pub(super) async fn state_event(perms: &Permissions, health: &Health) -> Message {
    let banner = perms.banner(health).await;
    event(
        "state",
        json!({"state": banner.state, "headline": banner.headline,
               "html": render(&BannerPartial { banner: &banner })}),
    )
}

pub(super) fn ended(message: &str) -> Message {
    event("ended", json!({ "message": message }))
}

/// `GET /stream/rollouts/{ns}/{name}`.
pub async fn rollout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(from): Extension<ClientAddr>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let perms = Permissions::of(&state, &caller);
    perms
        .require_sees(&state.view.snapshot(), &namespace)
        .await?;
    let slot = stream_slot(&state.streams, &caller, from)?;
    let (tx, rx) = outbox(&state.streams);
    let key = RolloutKey::new(namespace, name);
    let lapse = Lapse::new(&state, &caller);
    let follow = follow_rollout(state.clone(), perms, lapse, key, tx);
    spawn_stream(&state.metrics, &state.shutdown, slot, follow);
    Ok(sse(rx))
}

/// Sends the fragments that differ from what this page has.
async fn send_fragments(
    state: &AppState,
    perms: &Permissions,
    key: &RolloutKey,
    entry: &RolloutEntry,
    sent: &mut HashMap<&'static str, String>,
    tx: &Tx,
) -> Result<(), ()> {
    let access = perms.access(&key.namespace).await.map_err(|_| ())?;
    let d = DetailView::of(entry, &entry.info(key)).restricted(state.read_only, access);
    let base = state.base_path.clone();
    for (id, html) in detail_fragments(&d, &base, state.read_only || !access.patch) {
        if sent.get(id) == Some(&html) {
            continue;
        }
        tx.send(event("replace", json!({"id": id, "html": html})))
            .await
            .map_err(|_| ())?;
        sent.insert(id, html);
    }
    Ok(())
}

async fn follow_rollout(
    state: AppState,
    perms: Permissions,
    mut lapse: Lapse,
    key: RolloutKey,
    tx: Tx,
) {
    let mut changes = state.view.subscribe();
    let snap = state.view.snapshot();
    let mut known = snap.seq;
    // What the page has: after (re)connecting, assume nothing.
    let mut sent: HashMap<&'static str, String> = HashMap::new();
    let gone = |key: &RolloutKey| {
        event(
            "gone",
            json!({"message": format!("Rollout {key} was deleted or is no longer shown.")}),
        )
    };
    if tx
        .send(state_event(&perms, &snap.health).await)
        .await
        .is_err()
    {
        return;
    }
    let first = match snap.rollouts.get(&key) {
        Some(e) => send_fragments(&state, &perms, &key, e, &mut sent, &tx).await,
        None if snap.health.ready() => tx.send(gone(&key)).await.map_err(|_| ()),
        None => Ok(()),
    };
    drop(snap);
    if first.is_err() {
        return;
    }
    loop {
        let change = tokio::select! {
            _ = tx.closed() => return,
            c = changes.recv() => c,
            tick = lapse.next() => {
                let last = match tick {
                    Tick::Ended(message) => message,
                    Tick::Recheck => match perms.access(&key.namespace).await {
                        Ok(a) if a.list => continue,
                        Ok(_) => no_longer(&key.namespace),
                        // Not checkable now: end; the page reconnects.
                        Err(_) => return,
                    },
                };
                let _ = tx.send(ended(&last)).await;
                return;
            }
        };
        let result = match change {
            Ok(c) if c.seq() <= known => continue,
            Ok(c) => match &*c {
                Change::Rollout { key: k, entry, .. } if *k == key => match entry {
                    Some(e) => send_fragments(&state, &perms, &key, e, &mut sent, &tx).await,
                    None => tx.send(gone(&key)).await.map_err(|_| ()),
                },
                Change::Rollout { .. } => continue,
                Change::Health { health, .. } => tx
                    .send(state_event(&perms, health).await)
                    .await
                    .map_err(|_| ()),
            },
            Err(RecvError::Lagged(_)) => {
                let snap = state.view.snapshot();
                known = snap.seq;
                sent.clear();
                let r = tx
                    .send(state_event(&perms, &snap.health).await)
                    .await
                    .map_err(|_| ());
                match (r, snap.rollouts.get(&key)) {
                    (Err(()), _) => Err(()),
                    (Ok(()), Some(e)) => {
                        send_fragments(&state, &perms, &key, e, &mut sent, &tx).await
                    }
                    (Ok(()), None) => tx.send(gone(&key)).await.map_err(|_| ()),
                }
            }
            Err(RecvError::Closed) => return,
        };
        if result.is_err() {
            return;
        }
    }
}
