//! One follower of the hub for every overview page that shows the same
//! thing (the same filter and page number, seen with the same rights):
//! it works out each change's events once, writes them out once, and each
//! open page's stream only passes them on. A thousand people on twenty
//! pages cost twenty followers' work per change, not a thousand, and each
//! open page holds only its queue.
//!
//! A page joins its feed before it works out its first view from a
//! snapshot taken after joining, and passes on only the feed's changes
//! after that snapshot: what the feed sent before is in its first view.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::auth::permissions::Rights;
use super::metrics::FeedGuard;
use super::overview_page::{Asks, Page};
use super::sse::Message;
use super::view::overview::OverviewQuery;
use crate::cluster::health::Health;
use crate::cluster::hub::Change;

/// The changes a feed keeps for pages that have not passed them on yet;
/// a page further behind starts again from a snapshot.
const KEPT: usize = 32;

/// What pages that show the same thing have in common.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FeedKey {
    pub query: OverviewQuery,
    pub rights: Rights,
}

/// One change, as every page following the feed gets it.
pub struct Batch {
    pub seq: u64,
    /// The events, written out; `None` when the page does not change.
    pub events: Option<Message>,
    /// The connection state changed: each page sends its own banner (it
    /// depends on the person).
    pub health: Option<Arc<Health>>,
    pub asks: Asks,
}

/// An open feed, held by the pages that follow it; when the last one
/// goes, its task stops.
pub struct Feed {
    key: FeedKey,
    /// Where the page finds the feed of other rights.
    feeds: Arc<Feeds>,
    _open: FeedGuard,
    /// The dashboard, for the pages that follow the feed (one copy here,
    /// not one per page).
    state: AppState,
    batches: broadcast::Sender<Arc<Batch>>,
    stop: CancellationToken,
}

impl Feed {
    pub fn key(&self) -> &FeedKey {
        &self.key
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn feeds(&self) -> &Arc<Feeds> {
        &self.feeds
    }

    /// A page as the feed shows it, not yet worked out.
    pub fn page(&self) -> Page {
        Page::new(
            self.state.clone(),
            self.key.query.clone(),
            self.key.rights.clone(),
        )
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The open feeds, at most one per key; as many as there are distinct
/// open pages, each held only while a page follows it. The router keeps
/// one for the overview's stream.
#[derive(Default)]
pub struct Feeds {
    open: Mutex<HashMap<FeedKey, Weak<Feed>>>,
}

impl Feeds {
    /// The feed for `key`, opened if none is, and its batches from now on.
    pub fn join(
        self: &Arc<Self>,
        state: &AppState,
        key: FeedKey,
    ) -> (Arc<Feed>, broadcast::Receiver<Arc<Batch>>) {
        if let Some(feed) = self.find(&key) {
            let batches = feed.batches.subscribe();
            return (feed, batches);
        }
        // Worked out outside the lock; another page may open the same
        // feed meanwhile, and then this one is dropped unstarted.
        let (feed, follow) = open(self, state, key.clone());
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, f| f.strong_count() > 0);
        if let Some(theirs) = open.get(&key).and_then(Weak::upgrade) {
            let batches = theirs.batches.subscribe();
            return (theirs, batches);
        }
        open.insert(key, Arc::downgrade(&feed));
        let batches = feed.batches.subscribe();
        tokio::spawn(follow);
        (feed, batches)
    }

    fn find(&self, key: &FeedKey) -> Option<Arc<Feed>> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(key).and_then(Weak::upgrade)
    }
}

/// A feed and the task that follows the hub for it, not yet started.
fn open(
    feeds: &Arc<Feeds>,
    state: &AppState,
    key: FeedKey,
) -> (Arc<Feed>, impl Future<Output = ()> + Send + 'static) {
    let (batches, _) = broadcast::channel(KEPT);
    let stop = state.shutdown.child_token();
    // Subscribed before the snapshot, so no change falls between them.
    let changes = state.view.subscribe();
    let feed = Arc::new(Feed {
        key,
        feeds: feeds.clone(),
        _open: state.metrics.overview_feed(),
        state: state.clone(),
        batches: batches.clone(),
        stop: stop.clone(),
    });
    let mut page = feed.page();
    page.sync(&state.view.snapshot(), None, true, &mut Vec::new());
    let follow = async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = follow(page, changes, batches) => {}
        }
    };
    (feed, follow)
}

async fn follow(
    mut page: Page,
    mut changes: broadcast::Receiver<Arc<Change>>,
    batches: broadcast::Sender<Arc<Batch>>,
) {
    loop {
        let mut events = Vec::new();
        let (seq, health, asks) = match changes.recv().await {
            Ok(c) if c.seq() <= page.known() => continue,
            Ok(c) => {
                let asks = page.apply(&c, &mut events);
                let health = match &*c {
                    Change::Health { health, .. } => Some(health.clone()),
                    Change::Rollout { .. } => None,
                };
                (c.seq(), health, asks)
            }
            Err(RecvError::Lagged(_)) => {
                let snap = page.snapshot();
                page.sync(&snap, Some(page.known()), false, &mut events);
                (snap.seq, None, Asks::Nothing)
            }
            Err(RecvError::Closed) => return,
        };
        if events.is_empty() && health.is_none() && asks == Asks::Nothing {
            continue;
        }
        let batch = Batch {
            seq,
            events: (!events.is_empty()).then(|| Message::all_written(events)),
            health,
            asks,
        };
        // No page listening is not an error: the last one may be leaving.
        let _ = batches.send(Arc::new(batch));
    }
}
