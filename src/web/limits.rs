//! Bounds on what one person can hold open: live streams (each holds a
//! task, a queue and a broadcast subscription).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::AppState;
use super::error::AppError;
use super::identity::Caller;

/// Streams one signed-in person may have open at once (pages and API
/// watches together); a browser with a dozen tabs stays well under it.
pub const STREAMS_PER_PERSON: usize = 32;

/// Open streams per person. Only people with open streams have an entry,
/// so it is bounded by the streams themselves.
#[derive(Default)]
pub struct StreamSlots {
    open: Mutex<HashMap<String, usize>>,
}

/// One open stream; frees its slot when dropped.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    who: String,
}

impl StreamSlots {
    /// A slot for `who`'s new stream, or 429 when they hold too many.
    pub fn take(self: &Arc<Self>, who: &str) -> Result<StreamSlot, AppError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(who.to_string()).or_default();
        if *n >= STREAMS_PER_PERSON {
            return Err(AppError::TooMany(format!(
                "you have {STREAMS_PER_PERSON} live views open already; close some tabs or watches"
            )));
        }
        *n += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            who: who.to_string(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.who) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.who);
            }
        }
    }
}

/// A stream slot for a signed-in person (429 past the limit); none is
/// counted for `--auth none`.
pub fn stream_slot(state: &AppState, caller: &Caller) -> Result<Option<StreamSlot>, AppError> {
    caller
        .user()
        .map(|u| state.streams.take(&u.name))
        .transpose()
}

/// Runs a stream's `follow` in a task of its own, holding its `slot` and
/// counted as an open stream, until it ends or the dashboard shuts down.
pub fn spawn_stream(
    state: &AppState,
    slot: Option<StreamSlot>,
    follow: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let open = state.metrics.stream();
    let stop = state.shutdown.clone();
    tokio::spawn(async move {
        let _open = open;
        let _slot = slot;
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = follow => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_holds_at_most_the_limit_and_slots_come_back() {
        let slots = Arc::new(StreamSlots::default());
        let held: Vec<StreamSlot> = (0..STREAMS_PER_PERSON)
            .map(|_| slots.take("alice").unwrap())
            .collect();
        assert!(matches!(slots.take("alice"), Err(AppError::TooMany(_))));
        assert!(slots.take("bob").is_ok(), "others are not affected");
        drop(held);
        assert!(slots.take("alice").is_ok());
        assert!(
            slots.open.lock().unwrap().len() <= 1,
            "entries go with their streams"
        );
    }
}
