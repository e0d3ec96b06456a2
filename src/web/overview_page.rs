//! What one overview page shows (filter and page number as in its URL),
//! kept current change by change: the events that bring a page that
//! showed the last state to the next one. An overview feed keeps one for
//! all the pages that show the same thing; a page connecting works out
//! its own first view with one.
//!
//! Most changes cost a lookup: a rollout on the page that still matches
//! gets its card sent; one that neither matched nor matches changes only
//! counts. Only a rollout entering or leaving the filter moves the page's
//! window, and only then is the page worked out again from the snapshot.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::AppState;
use super::auth::permissions::Rights;
use super::cards::card_html;
use super::overview::{attention_list, namespace_row, namespace_row_id, page_status};
use super::sse::{EventName, Message, card, event, replace};
use super::templates::render;
use super::view::card_id;
use super::view::filter::STATUSES;
use super::view::overview::{ATTENTION_SHOWN, AttentionRow, Overview, OverviewQuery, attention_of};
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

/// A short fingerprint of a rollout's key: the page's members are kept as
/// these (8 bytes each, not two strings).
fn fingerprint(key: &RolloutKey) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// What a change asks of the people whose pages follow it, beyond the
/// events it made.
#[derive(Debug, PartialEq, Eq)]
pub enum Asks {
    Nothing,
    /// A rollout in a namespace the page's rights do not cover yet (it is
    /// new): each person's rights are looked at again.
    Rights,
}

/// What one overview page shows, as its events last said it.
pub struct Page {
    state: AppState,
    query: OverviewQuery,
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

impl Page {
    pub fn new(state: AppState, query: OverviewQuery, rights: Rights) -> Page {
        Page {
            state,
            query,
            rights,
            members: HashSet::new(),
            counts: Counts::default(),
            namespaces: BTreeMap::new(),
            paged: false,
            attention: (Vec::new(), 0),
            status: Arc::from(""),
            known: 0,
        }
    }

    pub fn known(&self) -> u64 {
        self.known
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state.view.snapshot()
    }

    /// Brings the page up to `snap`: the cards on it changed after `since`
    /// (all when `None`), the ids it holds, and every part that differs
    /// from what was sent (all of them when `everything`).
    pub fn sync(
        &mut self,
        snap: &Snapshot,
        since: Option<u64>,
        everything: bool,
        out: &mut Vec<Message>,
    ) {
        let o = Overview::of(snap, |ns| self.rights.sees(ns), &self.query);
        let members: HashSet<u64> = o.cards.iter().map(|(k, _)| fingerprint(k)).collect();
        for (key, entry) in &o.cards {
            // When connecting, the page has the cards it was rendered with;
            // later, a card that moved onto the page is new to it.
            let new_here = !everything && !self.members.contains(&fingerprint(key));
            if new_here || since.is_none_or(|s| entry.seq > s) {
                out.push(self.card(key, entry));
            }
        }
        let ids: Vec<String> = o
            .cards
            .iter()
            .map(|(k, _)| card_id(&k.namespace, &k.name))
            .collect();
        out.push(event(EventName::Resync, json!({ "ids": ids })));
        self.members = members;
        self.known = snap.seq;
        self.paged = o.paged();
        if everything || o.counts != self.counts {
            self.counts = o.counts.clone();
            out.push(self.counts_event());
        }
        if self.paged {
            for (ns, c) in &o.namespaces {
                if everything || self.namespaces.get(ns) != Some(c) {
                    out.push(self.row(ns, c));
                }
            }
            self.attention_now((o.attention.clone(), o.counts.attention), everything, out);
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
            out.push(replace("page-status", status.clone()));
            self.status = status;
        }
    }

    /// One change from the hub (the connection state's included: the
    /// empty state follows it, "Loading…").
    pub fn apply(&mut self, change: &Change, out: &mut Vec<Message>) -> Asks {
        let (key, entry, previous) = match change {
            Change::Rollout {
                key,
                entry,
                previous,
                ..
            } => (key, entry, previous),
            Change::Health { .. } => {
                let snap = self.state.view.snapshot();
                self.sync(&snap, Some(self.known), false, out);
                return Asks::Nothing;
            }
        };
        let since = self.known;
        self.known = change.seq();
        if let Rights::Per(map) = &self.rights
            && !map.contains_key(&key.namespace)
        {
            return Asks::Rights;
        }
        if !self.rights.sees(&key.namespace) {
            return Asks::Nothing;
        }
        let on_page = self.members.contains(&fingerprint(key));
        let matches = |s: Option<&Summary>| s.is_some_and(|s| self.query.filter.matches(key, s));
        let before = previous.as_ref();
        let after = entry.as_ref().map(|e| &e.summary);
        let (matched, matching) = (matches(before), matches(after));
        if matched != matching {
            // It entered or left the filter: the page's window moves.
            let snap = self.state.view.snapshot();
            self.sync(&snap, Some(since), false, out);
            return Asks::Nothing;
        }
        if let Some(e) = entry.as_ref().filter(|_| on_page) {
            out.push(self.card(key, e));
        }
        let unchanged = match (before, after) {
            (Some(b), Some(a)) => b.status == a.status && b.attention == a.attention,
            (None, None) => true,
            _ => false,
        };
        if !unchanged {
            self.counted(key, before, after, out);
        }
        Asks::Nothing
    }

    /// A rollout's status or attention changed: the counts, its
    /// namespace's row, and the attention list if the change is among the
    /// rows it shows.
    fn counted(
        &mut self,
        key: &RolloutKey,
        before: Option<&Summary>,
        after: Option<&Summary>,
        out: &mut Vec<Message>,
    ) {
        if let Some(s) = before {
            self.counts.remove(s);
        }
        if let Some(s) = after {
            self.counts.add(s);
        }
        out.push(self.counts_event());
        if !self.paged {
            return;
        }
        let row = self.namespaces.entry(key.namespace.clone()).or_default();
        if let Some(s) = before {
            row.remove(s);
        }
        if let Some(s) = after {
            row.add(s);
        }
        let row = row.clone();
        out.push(self.row(&key.namespace, &row));
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
            self.attention_now(now, false, out);
        }
    }

    /// The attention list, when it differs from what was sent (or always).
    fn attention_now(
        &mut self,
        now: (Vec<AttentionRow>, usize),
        always: bool,
        out: &mut Vec<Message>,
    ) {
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
            out.push(replace("attention", html));
            self.attention = now;
        }
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

    fn row(&self, namespace: &str, counts: &Counts) -> Message {
        let base = &self.state.base_path;
        let html = rendered(
            Fragment::Row {
                base: base.clone(),
                namespace: namespace.to_string(),
                counts: counts.clone(),
            },
            || render(&namespace_row(base, namespace, counts)),
        );
        replace(&namespace_row_id(namespace), html)
    }
}
