//! The pages' live streams (Server-Sent Events). The overview gets each
//! changed card as the hub rendered it (once, for every client); a rollout
//! page gets each of its fragments that changed. Both get the connection
//! state, and after connecting (or falling behind) everything, followed by
//! `resync`, so a reconnected page is current again.
//!
//! Events: `card` `{id, ns, html}`, `remove` `{id}`, `replace` `{id, html}`,
//! `state` `{state, headline, html}`, `resync` `{ids}`, `gone` `{message}`,
//! and `ended` `{message}` as the last event when the person's sign-in
//! ends or their access is withdrawn (the page stops following then).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Extension, Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use super::cards::card_html;
use super::error::AppError;
use super::identity::Caller;
use super::limits::stream_slot;
use super::permissions::{Permissions, Rights};
use super::queries::rights_in;
use super::revocation::{Lapse, Tick, no_longer};
use super::since::{Since, since_seq};
use super::templates::{BannerPartial, detail_fragments, render};
use super::view::card_id;
use super::view::detail::DetailView;
use crate::cluster::access::NamespaceAccess;
use crate::cluster::health::Health;
use crate::cluster::hub::{Change, RolloutEntry, Snapshot};
use crate::model::RolloutKey;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

type Tx = mpsc::Sender<Event>;

fn event(name: &str, data: serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

fn sse(rx: mpsc::Receiver<Event>) -> Response {
    let events = ReceiverStream::new(rx).map(Ok::<_, Infallible>);
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
async fn state_event(perms: &Permissions, health: &Health) -> Event {
    let banner = perms.banner(health).await;
    event(
        "state",
        json!({"state": banner.state, "headline": banner.headline,
               "html": render(&BannerPartial { banner: &banner })}),
    )
}

/// `GET /stream/overview`.
/// Card events queued for one overview page. Each holds its own copy of
/// the card, and 200 pages taking 5000 cards at once held 256 each (about
/// 120 MB); a short queue only makes that page's sender wait its turn.
const OVERVIEW_BUFFER: usize = 16;

pub async fn overview(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(Since { since }): Query<Since>,
) -> Result<Response, AppError> {
    let since = since.as_deref().and_then(since_seq);
    let slot = stream_slot(&state, &caller)?;
    let (tx, rx) = mpsc::channel(OVERVIEW_BUFFER);
    let perms = Permissions::of(&state, &caller);
    let lapse = Lapse::new(&state, &caller);
    tokio::spawn(async move {
        let _open = state.metrics.stream();
        let _slot = slot;
        let stop = state.shutdown.clone();
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = follow_overview(state, perms, lapse, since, tx) => {}
        }
    });
    Ok(sse(rx))
}

fn ended(message: &str) -> Event {
    event("ended", json!({ "message": message }))
}

/// The card as this page may show it (`access`: its namespace's rights).
fn card_event(
    state: &AppState,
    access: NamespaceAccess,
    key: &RolloutKey,
    entry: &RolloutEntry,
) -> Event {
    let html = card_html(state, entry, access);
    event(
        "card",
        json!({"id": card_id(&key.namespace, &key.name), "ns": key.namespace, "html": &*html}),
    )
}

/// Every card the page may show (those changed after `since` when the page
/// has the rest), then the ids of all of them, so it drops any other.
async fn send_all_cards(
    state: &AppState,
    perms: &Permissions,
    snap: &Snapshot,
    since: Option<u64>,
    tx: &Tx,
) -> Result<Rights, ()> {
    tx.send(state_event(perms, &snap.health).await)
        .await
        .map_err(|_| ())?;
    // Rights that cannot be checked now end the stream; the page
    // reconnects with backoff and asks again.
    let rights = rights_in(perms, snap, None).await.map_err(|_| ())?;
    let shown = || {
        snap.rollouts
            .iter()
            .filter(|(k, _)| rights.sees(&k.namespace))
    };
    let changed = |entry: &RolloutEntry| since.is_none_or(|s| entry.seq > s);
    for (key, entry) in shown().filter(|(_, e)| changed(e)) {
        tx.send(card_event(state, rights.access(&key.namespace), key, entry))
            .await
            .map_err(|_| ())?;
    }
    let ids: Vec<String> = shown()
        .map(|(k, _)| card_id(&k.namespace, &k.name))
        .collect();
    tx.send(event("resync", json!({ "ids": ids })))
        .await
        .map_err(|_| ())?;
    Ok(rights)
}

async fn follow_overview(
    state: AppState,
    perms: Permissions,
    mut lapse: Lapse,
    since: Option<u64>,
    tx: Tx,
) {
    let mut changes = state.view.subscribe();
    let snap = state.view.snapshot();
    let mut known = snap.seq;
    let Ok(mut rights) = send_all_cards(&state, &perms, &snap, since, &tx).await else {
        return;
    };
    // Holding the snapshot would make the hub copy the whole map on every
    // change for as long as this page stays open.
    drop(snap);
    loop {
        let change = tokio::select! {
            _ = tx.closed() => return,
            c = changes.recv() => c,
            tick = lapse.next() => {
                match tick {
                    Tick::Ended(message) => {
                        let _ = tx.send(ended(&message)).await;
                        return;
                    }
                    // Namespaces whose rights changed: the page gets
                    // everything it may now see, and drops the rest.
                    Tick::Recheck => {
                        let snap = state.view.snapshot();
                        match rights_in(&perms, &snap, None).await {
                            Ok(now) if now == rights => {}
                            Ok(_) => {
                                known = snap.seq;
                                match send_all_cards(&state, &perms, &snap, None, &tx).await {
                                    Ok(r) => rights = r,
                                    Err(()) => return,
                                }
                            }
                            Err(_) => return,
                        }
                    }
                }
                continue;
            }
        };
        let sent = match change {
            Ok(c) if c.seq() <= known => continue,
            Ok(c) => match &*c {
                Change::Rollout { key, entry, .. } => {
                    let access = perms.access(&key.namespace).await.unwrap_or_default();
                    match entry {
                        Some(e) if access.list => tx.send(card_event(&state, access, key, e)).await,
                        // Deleted, or no longer theirs to see (RBAC changed).
                        _ => {
                            tx.send(event(
                                "remove",
                                json!({"id": card_id(&key.namespace, &key.name)}),
                            ))
                            .await
                        }
                    }
                }
                Change::Health { health, .. } => tx.send(state_event(&perms, health).await).await,
            },
            Err(RecvError::Lagged(_)) => {
                let snap = state.view.snapshot();
                known = snap.seq;
                match send_all_cards(&state, &perms, &snap, None, &tx).await {
                    Ok(r) => rights = r,
                    Err(()) => return,
                }
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// `GET /stream/rollouts/{ns}/{name}`.
pub async fn rollout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((namespace, name)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let perms = Permissions::of(&state, &caller);
    perms
        .require_sees(&state.view.snapshot(), &namespace)
        .await?;
    let slot = stream_slot(&state, &caller)?;
    let (tx, rx) = mpsc::channel(64);
    let key = RolloutKey::new(namespace, name);
    let lapse = Lapse::new(&state, &caller);
    tokio::spawn(async move {
        let _open = state.metrics.stream();
        let _slot = slot;
        let stop = state.shutdown.clone();
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = follow_rollout(state, perms, lapse, key, tx) => {}
        }
    });
    Ok(sse(rx))
}

/// Sends the fragments that differ from what this page has.
async fn send_fragments(
    state: &AppState,
    perms: &Permissions,
    entry: &RolloutEntry,
    sent: &mut HashMap<&'static str, String>,
    tx: &Tx,
) -> Result<(), ()> {
    let access = perms
        .access(&entry.info.object_meta.namespace)
        .await
        .map_err(|_| ())?;
    let d = DetailView::of(entry).restricted(state.read_only, access);
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
        Some(e) => send_fragments(&state, &perms, e, &mut sent, &tx).await,
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
                    Some(e) => send_fragments(&state, &perms, e, &mut sent, &tx).await,
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
                    (Ok(()), Some(e)) => send_fragments(&state, &perms, e, &mut sent, &tx).await,
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
