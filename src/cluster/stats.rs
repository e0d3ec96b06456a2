//! Counters of what the watches delivered, per kind, for `/metrics`. Plain
//! atomics: the hub counts, the metrics endpoint reads.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;

use super::health::WatchId;
use super::object::Kind;

#[derive(Debug, Default)]
pub struct WatchStats {
    events: [AtomicU64; Kind::ALL.len()],
    errors: [AtomicU64; Kind::ALL.len()],
    /// When each watch last heard from the API (an object, a bookmark, a
    /// completed list, an established watch): kept per event, where the
    /// health's own times are published only when a watch's state changes.
    heard: Mutex<BTreeMap<WatchId, Timestamp>>,
}

fn slot(kind: Kind) -> usize {
    Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl WatchStats {
    pub fn event(&self, kind: Kind) {
        self.events[slot(kind)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn error(&self, kind: Kind) {
        self.errors[slot(kind)].fetch_add(1, Ordering::Relaxed);
    }

    /// `id` heard from the API at `now`.
    pub fn heard(&self, id: &WatchId, now: Timestamp) {
        let mut heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        match heard.get_mut(id) {
            Some(t) => *t = now,
            None => {
                heard.insert(id.clone(), now);
            }
        }
    }

    /// When each watch last heard from the API.
    pub fn last_heard(&self) -> Vec<(WatchId, Timestamp)> {
        let heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        heard.iter().map(|(id, t)| (id.clone(), *t)).collect()
    }

    /// Objects added, changed or deleted, as delivered for `kind`.
    pub fn events(&self, kind: Kind) -> u64 {
        self.events[slot(kind)].load(Ordering::Relaxed)
    }

    /// Failed lists and watches of `kind`.
    pub fn errors(&self, kind: Kind) -> u64 {
        self.errors[slot(kind)].load(Ordering::Relaxed)
    }
}
