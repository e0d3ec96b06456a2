//! Counters of what the watches delivered, per kind, for `/metrics`. Plain
//! atomics: the hub counts, the metrics endpoint reads.

use std::sync::atomic::{AtomicU64, Ordering};

use super::object::Kind;

#[derive(Debug, Default)]
pub struct WatchStats {
    events: [AtomicU64; Kind::ALL.len()],
    errors: [AtomicU64; Kind::ALL.len()],
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

    /// Objects added, changed or deleted, as delivered for `kind`.
    pub fn events(&self, kind: Kind) -> u64 {
        self.events[slot(kind)].load(Ordering::Relaxed)
    }

    /// Failed lists and watches of `kind`.
    pub fn errors(&self, kind: Kind) -> u64 {
        self.errors[slot(kind)].load(Ordering::Relaxed)
    }
}
