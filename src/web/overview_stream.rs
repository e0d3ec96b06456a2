//! `GET /stream/overview`: keeps one overview page current. It sends the
//! cards of the rollouts on that page (filter and page number as in the
//! page's URL), the counts, the attention list and the namespace rows when
//! they change, and nothing about the thousands of rollouts elsewhere.
//!
//! Most changes cost a lookup: a rollout on the page that still matches
//! gets its card sent; one that neither matched nor matches changes only
//! counts. Only a rollout entering or leaving the filter moves the page's
//! window, and only then is the page worked out again from the snapshot.
//!
//! Events: `card` `{id, ns, html}`, `resync` `{ids}` (the page holds these,
//! drops any other), `counts` `{Progressing, …, attention}`, `replace`
//! `{id, html}` (attention list, a namespace row, the pager), `state`, and
//! `ended` as the last event when the person's sign-in or access ends.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Extension, Query, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::auth::identity::Caller;
use super::auth::identity::ClientAddr;
use super::auth::limits::{outbox, spawn_stream, stream_slot};
use super::auth::permissions::{Permissions, Rights};
use super::auth::revocation::{Lapse, Tick};
use super::cards::card_html;
use super::error::AppError;
use super::overview::{attention_list, namespace_row, namespace_row_id, page_status};
use super::queries::rights_in;
use super::since::since_seq;
use super::sse::{EventName, Message, Tx, card, ended, event, replace, sse, state_event};
use super::templates::render;
use super::view::card_id;
use super::view::filter::STATUSES;
use super::view::overview::{ATTENTION_SHOWN, AttentionRow, Overview, OverviewQuery, attention_of};
use crate::cluster::health::Health;
use crate::cluster::hub::{Change, Counts, RolloutEntry, Snapshot, Summary};
use crate::info::attention::Attention;
use crate::model::RolloutKey;

/// A namespace row or an attention list, as rendered for one base path.
/// Pages that see the same counts share one rendering per change: with 200
/// pages open, a rollout changing status was 200 renderings of the same
/// row, most of a change's cost.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Fragment {
    Row {
        base: String,
        namespace: String,
        counts: Counts,
    },
    Attention {
        base: String,
        rows: Vec<AttentionRow>,
        total: usize,
    },
}

/// Bounded and short-lived: a request cannot grow it, and it holds only
/// what open pages show now.
fn rendered(fragment: Fragment, render_it: impl FnOnce() -> String) -> Arc<str> {
    static SHARED: OnceLock<moka::sync::Cache<Fragment, Arc<str>>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            moka::sync::Cache::builder()
                .max_capacity(1024)
                .time_to_live(Duration::from_secs(60))
                .build()
        })
        .get_with(fragment, || Arc::from(render_it()))
}

pub async fn overview(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(from): Extension<ClientAddr>,
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
    let page = Page::new(state.clone(), perms, query, tx);
    spawn_stream(
        &state.metrics,
        &state.shutdown,
        slot,
        page.follow(lapse, since),
    );
    Ok(sse(rx))
}

/// A short fingerprint of a rollout's key: the page's members are kept as
/// these (8 bytes each, not two strings) so a thousand open pages stay small.
fn fingerprint(key: &RolloutKey) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// What one open overview page shows, as its stream last sent it.
struct Page {
    state: AppState,
    perms: Permissions,
    query: OverviewQuery,
    tx: Tx,
    rights: Rights,
    /// The rollouts on the page.
    members: HashSet<u64>,
    counts: Counts,
    /// Per namespace, when the page has the namespace summary.
    namespaces: BTreeMap<String, Counts>,
    paged: bool,
    /// The attention list as sent: its rows and how many need a person.
    attention: (Vec<AttentionRow>, usize),
    /// The pager and empty state as sent.
    status: Arc<str>,
    /// The change the page is current with.
    known: u64,
}

type Sent = Result<(), ()>;

impl Page {
    fn new(state: AppState, perms: Permissions, query: OverviewQuery, tx: Tx) -> Page {
        Page {
            state,
            perms,
            query,
            tx,
            rights: Rights::Per(BTreeMap::new()),
            members: HashSet::new(),
            counts: Counts::default(),
            namespaces: BTreeMap::new(),
            paged: false,
            attention: (Vec::new(), 0),
            status: Arc::from(""),
            known: 0,
        }
    }

    async fn send(&self, e: Message) -> Sent {
        self.tx.send(e).await.map_err(|_| ())
    }

    async fn follow(mut self, mut lapse: Lapse, since: Option<u64>) {
        let mut changes = self.state.view.subscribe();
        {
            let snap = self.state.view.snapshot();
            if self
                .send(state_event(&self.perms, &snap.health).await)
                .await
                .is_err()
            {
                return;
            }
            // Rights that cannot be checked now end the stream; the page
            // reconnects with backoff and asks again.
            let Ok(rights) = rights_in(&self.perms, &snap, None).await else {
                return;
            };
            self.rights = rights;
            if self.sync(&snap, since, true).await.is_err() {
                return;
            }
            // Holding the snapshot would keep every entry it names alive.
        }
        loop {
            let sent = tokio::select! {
                _ = self.tx.closed() => return,
                change = changes.recv() => match change {
                    Ok(c) if c.seq() <= self.known => continue,
                    // Boxed like `sync`: a page waits far longer than it
                    // works.
                    Ok(c) => Box::pin(self.apply(&c)).await,
                    Err(RecvError::Lagged(_)) => {
                        let snap = self.state.view.snapshot();
                        self.sync(&snap, Some(self.known), false).await
                    }
                    Err(RecvError::Closed) => return,
                },
                tick = lapse.next() => match tick {
                    Tick::Ended(message) => {
                        let _ = self.send(ended(&message)).await;
                        return;
                    }
                    // Namespaces whose rights changed: the page gets what
                    // it may now see, and drops the rest.
                    Tick::Recheck => {
                        let snap = self.state.view.snapshot();
                        match rights_in(&self.perms, &snap, None).await {
                            Ok(now) if now == self.rights => Ok(()),
                            Ok(now) => {
                                self.rights = now;
                                self.sync(&snap, None, true).await
                            }
                            Err(_) => return,
                        }
                    }
                },
            };
            if sent.is_err() {
                return;
            }
        }
    }

    /// Brings the page up to `snap`: the cards on it changed after `since`
    /// (all when `None`), the ids it holds, and every part that differs
    /// from what was sent (all of them when `everything`).
    ///
    /// Boxed: what a page's task holds while it waits is all an open page
    /// costs, and a sync's working state (the overview worked out, its
    /// sends) is needed only while it runs.
    fn sync<'a>(
        &'a mut self,
        snap: &'a Snapshot,
        since: Option<u64>,
        everything: bool,
    ) -> Pin<Box<dyn Future<Output = Sent> + Send + 'a>> {
        Box::pin(self.sync_now(snap, since, everything))
    }

    async fn sync_now(&mut self, snap: &Snapshot, since: Option<u64>, everything: bool) -> Sent {
        let o = Overview::of(snap, |ns| self.rights.sees(ns), &self.query);
        let members: HashSet<u64> = o.cards.iter().map(|(k, _)| fingerprint(k)).collect();
        for (key, entry) in &o.cards {
            // When connecting, the page has the cards it was rendered with;
            // later, a card that moved onto the page is new to it.
            let new_here = !everything && !self.members.contains(&fingerprint(key));
            if new_here || since.is_none_or(|s| entry.seq > s) {
                self.send(self.card(key, entry)).await?;
            }
        }
        let ids: Vec<String> = o
            .cards
            .iter()
            .map(|(k, _)| card_id(&k.namespace, &k.name))
            .collect();
        self.send(event(EventName::Resync, json!({ "ids": ids })))
            .await?;
        self.members = members;
        self.known = snap.seq;
        self.paged = o.paged();
        if everything || o.counts != self.counts {
            self.counts = o.counts.clone();
            self.send(self.counts_event()).await?;
        }
        if self.paged {
            for (ns, c) in &o.namespaces {
                if everything || self.namespaces.get(ns) != Some(c) {
                    self.send_row(ns, c).await?;
                }
            }
            self.send_attention((o.attention.clone(), o.counts.attention), everything)
                .await?;
        }
        self.namespaces = o.namespaces.clone();
        let status: Arc<str> = render(&page_status(
            &self.state.base_path,
            &o,
            &self.query,
            &snap.health,
        ))
        .into();
        if everything || status != self.status {
            self.send(replace("page-status", status.clone())).await?;
            self.status = status;
        }
        Ok(())
    }

    /// One change from the hub.
    async fn apply(&mut self, change: &Change) -> Sent {
        let (key, entry, previous) = match change {
            Change::Rollout {
                key,
                entry,
                previous,
                ..
            } => (key, entry, previous),
            Change::Health { health, seq } => {
                self.known = *seq;
                return self.health(health).await;
            }
        };
        let since = self.known;
        self.known = change.seq();
        let on_page = self.members.contains(&fingerprint(key));
        let sees = self
            .perms
            .access(&key.namespace)
            .await
            .is_ok_and(|a| a.list);
        if !sees {
            // Not theirs (or no longer: RBAC changed under an open page).
            if on_page {
                let snap = self.state.view.snapshot();
                return self.sync(&snap, Some(since), false).await;
            }
            return Ok(());
        }
        let matches = |s: Option<&Summary>| s.is_some_and(|s| self.query.filter.matches(key, s));
        let before = previous.as_ref();
        let after = entry.as_ref().map(|e| &e.summary);
        let (matched, matching) = (matches(before), matches(after));
        if matched != matching {
            // It entered or left the filter: the page's window moves.
            let snap = self.state.view.snapshot();
            return self.sync(&snap, Some(since), false).await;
        }
        if let Some(e) = entry.as_ref().filter(|_| on_page) {
            self.send(self.card(key, e)).await?;
        }
        let unchanged = match (before, after) {
            (Some(b), Some(a)) => b.status == a.status && b.attention == a.attention,
            (None, None) => true,
            _ => false,
        };
        if unchanged {
            return Ok(());
        }
        if let Some(s) = before {
            self.counts.remove(s);
        }
        if let Some(s) = after {
            self.counts.add(s);
        }
        self.send(self.counts_event()).await?;
        if !self.paged {
            return Ok(());
        }
        let row = self.namespaces.entry(key.namespace.clone()).or_default();
        if let Some(s) = before {
            row.remove(s);
        }
        if let Some(s) = after {
            row.add(s);
        }
        let row = row.clone();
        self.send_row(&key.namespace, &row).await?;
        // The list shows the first rows in (urgency, key) order; its total
        // is a count (sent above). Only a change among or before the rows
        // shown can change them.
        let (shown, _) = &self.attention;
        let among_shown = |why: Option<Attention>| {
            why.is_some_and(|why| {
                shown.len() < ATTENTION_SHOWN
                    || shown
                        .last()
                        .is_none_or(|last| (why, key) <= (last.why, &last.key))
            })
        };
        if before.and_then(|s| s.attention) != after.and_then(|s| s.attention)
            && (among_shown(before.and_then(|s| s.attention))
                || among_shown(after.and_then(|s| s.attention)))
            || shown.iter().any(|r| r.key == *key)
        {
            let snap = self.state.view.snapshot();
            let now = attention_of(&snap, |ns| self.rights.sees(ns));
            self.send_attention(now, false).await?;
        }
        Ok(())
    }

    /// The attention list, when it differs from what was sent (or always).
    async fn send_attention(&mut self, now: (Vec<AttentionRow>, usize), always: bool) -> Sent {
        // The total alone is updated as a count.
        if always || now.0 != self.attention.0 {
            let base = &self.state.base_path;
            let html = rendered(
                Fragment::Attention {
                    base: base.clone(),
                    rows: now.0.clone(),
                    total: now.1,
                },
                || render(&attention_list(base, &now.0, now.1)),
            );
            self.send(replace("attention", html)).await?;
            self.attention = now;
        }
        Ok(())
    }

    /// The connection state; the empty state follows it ("Loading…").
    async fn health(&mut self, health: &Health) -> Sent {
        self.send(state_event(&self.perms, health).await).await?;
        let snap = self.state.view.snapshot();
        self.sync(&snap, Some(self.known), false).await
    }

    fn card(&self, key: &RolloutKey, entry: &RolloutEntry) -> Message {
        let html = card_html(&self.state, key, entry, self.rights.access(&key.namespace));
        card(card_id(&key.namespace, &key.name), &key.namespace, html)
    }

    fn counts_event(&self) -> Message {
        let mut m = Map::new();
        for s in STATUSES {
            m.insert(s.to_string(), Value::from(self.counts.of(s)));
        }
        m.insert("attention".into(), Value::from(self.counts.attention));
        event(EventName::Counts, Value::Object(m))
    }

    async fn send_row(&self, namespace: &str, counts: &Counts) -> Sent {
        let base = &self.state.base_path;
        let html = rendered(
            Fragment::Row {
                base: base.clone(),
                namespace: namespace.to_string(),
                counts: counts.clone(),
            },
            || render(&namespace_row(base, namespace, counts)),
        );
        self.send(replace(&namespace_row_id(namespace), html)).await
    }
}
