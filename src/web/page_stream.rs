//! A rollout page's live stream (Server-Sent Events; the overview's is in
//! overview_stream.rs, what both share in sse.rs). A rollout page gets each
//! of its fragments that changed, the connection state, and after
//! connecting (or falling behind) everything: `replace`, `state`, `gone`,
//! and `ended` as the last event when the person's sign-in ends or their
//! access is withdrawn (the page stops following then).

use std::collections::HashMap;

use axum::extract::{Extension, Path, State};
use axum::response::Response;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::auth::identity::Caller;
use super::auth::identity::ClientAddr;
use super::auth::limits::{outbox, spawn_stream, stream_slot};
use super::auth::permissions::Permissions;
use super::auth::revocation::{Lapse, Tick, no_longer};
use super::error::AppError;
use super::sse::{EventName, Tx, ended, event, sse, state_event};
use super::templates::detail_fragments;
use super::view::detail::DetailView;
use crate::cluster::hub::{Change, RolloutEntry};
use crate::model::RolloutKey;

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
    let info = entry.info(key);
    let d = DetailView::of(entry, &info)
        .restricted(state.read_only, access)
        .with_links(&state.links, &info);
    let base = state.base_path.clone();
    for (id, html) in detail_fragments(&d, &base, state.read_only || !access.patch) {
        if sent.get(id) == Some(&html) {
            continue;
        }
        tx.send(event(EventName::Replace, json!({"id": id, "html": html})))
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
            EventName::Gone,
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
