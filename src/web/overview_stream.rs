//! `GET /stream/overview`: keeps one overview page current. It sends the
//! cards of the rollouts on that page (filter and page number as in the
//! page's URL), the counts, the attention list and the namespace rows when
//! they change, and nothing about the thousands of rollouts elsewhere.
//!
//! The events are worked out once for every page showing the same thing,
//! by its feed (overview_feed.rs); a page's stream sends its first view,
//! passes the feed's changes on, and keeps what is the person's own: the
//! connection banner, their rights (a change moves the page to the feed of
//! its new rights), the end of their sign-in.
//!
//! Events: `card` `{id, ns, html}`, `resync` `{ids}` (the page holds these,
//! drops any other), `counts` `{Progressing, …, attention}`, `replace`
//! `{id, html}` (attention list, a namespace row, the pager), `state`, and
//! `ended` as the last event when the person's sign-in or access ends.

use std::sync::Arc;

use axum::extract::{Extension, Query, State};
use axum::response::Response;
use tokio::sync::broadcast::{self, error::RecvError};

use super::AppState;
use super::auth::identity::Caller;
use super::auth::identity::ClientAddr;
use super::auth::limits::{outbox, spawn_stream, stream_slot};
use super::auth::permissions::{Permissions, Rights};
use super::auth::revocation::{Lapse, Tick};
use super::error::AppError;
use super::overview_feed::{Batch, Feed, FeedKey, Feeds};
use super::overview_page::Asks;
use super::queries::rights_in;
use super::since::since_seq;
use super::sse::{Tx, ended, sse, state_event};
use super::view::overview::OverviewQuery;

pub async fn overview(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(from): Extension<ClientAddr>,
    Extension(feeds): Extension<Arc<Feeds>>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let since = pairs
        .iter()
        .find(|(k, _)| k == "since")
        .and_then(|(_, v)| since_seq(v));
    let query = OverviewQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let slot = stream_slot(&state.streams, &caller, from)?;
    let (tx, rx) = outbox(&state.streams);
    let perms = Permissions::of(&state, &caller);
    let lapse = Lapse::new(&state, &caller);
    let follow = follow(state.clone(), feeds, perms, query, tx, lapse, since);
    spawn_stream(&state.metrics, &state.shutdown, slot, follow);
    Ok(sse(rx))
}

/// One open page: what it holds while it waits is its feed and queue.
struct Viewer {
    perms: Permissions,
    tx: Tx,
    feed: Arc<Feed>,
    batches: broadcast::Receiver<Arc<Batch>>,
    /// The change the page is current with.
    known: u64,
}

type Sent = Result<(), ()>;

async fn follow(
    state: AppState,
    feeds: Arc<Feeds>,
    perms: Permissions,
    query: OverviewQuery,
    tx: Tx,
    mut lapse: Lapse,
    since: Option<u64>,
) {
    // Boxed, as is all the work below: what the task holds while it waits
    // is what an open page costs, and an access review's future is large.
    let Some(mut viewer) = Box::pin(Viewer::start(state, feeds, perms, query, tx, since)).await
    else {
        return;
    };
    loop {
        let sent = tokio::select! {
            _ = viewer.tx.closed() => return,
            batch = viewer.batches.recv() => match batch {
                Ok(b) if b.seq <= viewer.known => Ok(()),
                Ok(b) => Box::pin(viewer.pass_on(&b)).await,
                // Further behind than the feed keeps: start again.
                Err(RecvError::Lagged(_)) => Box::pin(viewer.first_view(None)).await,
                Err(RecvError::Closed) => return,
            },
            tick = lapse.next() => match tick {
                Tick::Ended(message) => {
                    let _ = Box::pin(viewer.tx.send(ended(&message))).await;
                    return;
                }
                Tick::Recheck => Box::pin(viewer.recheck()).await,
            },
        };
        if sent.is_err() {
            return;
        }
    }
}

impl Viewer {
    /// The connection state, the person's rights, the feed of what they
    /// see and the page's first view; `None` when the page has gone.
    async fn start(
        state: AppState,
        feeds: Arc<Feeds>,
        perms: Permissions,
        query: OverviewQuery,
        tx: Tx,
        since: Option<u64>,
    ) -> Option<Viewer> {
        let snap = state.view.snapshot();
        tx.send(state_event(&perms, &snap.health).await)
            .await
            .ok()?;
        // Rights that cannot be checked now end the stream; the page
        // reconnects with backoff and asks again.
        let rights = rights_in(&perms, &snap, None).await.ok()?;
        drop(snap);
        let (feed, batches) = feeds.join(&state, FeedKey { query, rights });
        let mut viewer = Viewer {
            perms,
            tx,
            feed,
            batches,
            known: 0,
        };
        viewer.first_view(since).await.ok()?;
        Some(viewer)
    }

    /// Everything the page shows, as of a snapshot taken after joining the
    /// feed: the cards changed after `since` (all when `None`), the rest
    /// whole. The feed's changes up to that snapshot are in it.
    async fn first_view(&mut self, since: Option<u64>) -> Sent {
        let snap = loop {
            let snap = self.feed.state().view.snapshot();
            // A namespace that appeared since the rights were asked (the
            // feed may have passed its change before this page joined).
            if self.feed.key().rights.cover(&snap) {
                break snap;
            }
            let rights = rights_in(&self.perms, &snap, None).await.map_err(|_| ())?;
            if rights == self.feed.key().rights {
                break snap;
            }
            self.join(rights);
        };
        let mut page = self.feed.page();
        let mut events = Vec::new();
        page.sync(&snap, since, true, &mut events);
        drop(page);
        self.known = snap.seq;
        drop(snap);
        for e in events {
            self.tx.send(e).await.map_err(|_| ())?;
        }
        Ok(())
    }

    /// Follows the feed of the same page seen with `rights`.
    fn join(&mut self, rights: Rights) {
        let query = self.feed.key().query.clone();
        let (feed, batches) = self
            .feed
            .feeds()
            .join(self.feed.state(), FeedKey { query, rights });
        self.feed = feed;
        self.batches = batches;
    }

    async fn pass_on(&mut self, batch: &Batch) -> Sent {
        self.known = batch.seq;
        if let Some(health) = &batch.health {
            let banner = state_event(&self.perms, health).await;
            self.tx.send(banner).await.map_err(|_| ())?;
        }
        if let Some(events) = batch.events.as_ref().and_then(|e| e.shared()) {
            self.tx.send(events).await.map_err(|_| ())?;
        }
        if batch.asks == Asks::Rights {
            return self.recheck().await;
        }
        Ok(())
    }

    /// The person's rights again: when they changed (RBAC changed under an
    /// open page, or a namespace is new), the page moves to the feed of
    /// what it may now see and drops the rest.
    async fn recheck(&mut self) -> Sent {
        let snap = self.feed.state().view.snapshot();
        let rights = rights_in(&self.perms, &snap, None).await.map_err(|_| ())?;
        drop(snap);
        if rights == self.feed.key().rights {
            return Ok(());
        }
        self.join(rights);
        self.first_view(None).await
    }
}
