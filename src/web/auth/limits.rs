//! Bounds on live streams (each holds a task, a queue and a broadcast
//! subscription): how many one client may hold (a signed-in person, or
//! with `--auth none` an address), how many all may, and how far a
//! stream's reader may fall behind before the stream is dropped.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::identity::{Caller, ClientAddr};
use crate::web::error::AppError;
use crate::web::metrics::{EdgeMetrics, Metrics};

/// `--max-streams-per-client`, `--max-streams`, `--stream-backlog`, and
/// how long a stream may wait for its reader (`--write-timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// Per signed-in person; with `--auth none`, per client address.
    pub per_client: usize,
    pub total: usize,
    /// Bytes a stream queues for a reader that does not take them.
    pub backlog_bytes: usize,
    /// How long a stream may wait for room in its queue.
    pub wait: Duration,
    /// What the streams are, for the words of a refusal.
    pub what: StreamKind,
}

/// The streams a set of slots bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// Page streams and API watches (`--max-streams`).
    LiveViews,
    /// Followed pod logs (`--max-log-streams`).
    PodLogs,
    /// Actions running over a selection (a fixed bound).
    BulkRuns,
}

impl StreamKind {
    /// What they are, what bounds them in all, what one client can do
    /// about having too many.
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            StreamKind::LiveViews => (
                "live views open",
                "--max-streams",
                "close some tabs or watches",
            ),
            StreamKind::PodLogs => (
                "followed pod logs open",
                "--max-log-streams",
                "close some tabs or watches",
            ),
            StreamKind::BulkRuns => (
                "actions on selections running",
                "a fixed bound",
                "wait until one is through (at most a minute)",
            ),
        }
    }
}

/// A browser with a dozen tabs stays well under it.
pub const STREAMS_PER_CLIENT: usize = 32;

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            per_client: STREAMS_PER_CLIENT,
            total: 1000,
            backlog_bytes: 64 * 1024,
            wait: Duration::from_secs(30),
            what: StreamKind::LiveViews,
        }
    }
}

/// Open streams per client and in all. Only clients with open streams
/// have an entry, so it is bounded by the streams themselves.
#[derive(Default)]
pub struct StreamSlots {
    pub limits: StreamLimits,
    open: Mutex<Open>,
    metrics: EdgeMetrics,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_client: HashMap<String, usize>,
}

/// One open stream; frees its slot when dropped.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    who: String,
}

impl StreamSlots {
    pub fn new(limits: StreamLimits, metrics: EdgeMetrics) -> StreamSlots {
        StreamSlots {
            limits,
            open: Mutex::default(),
            metrics,
        }
    }

    pub fn metrics(&self) -> &EdgeMetrics {
        &self.metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for `who`'s new stream, or 429 when they, or all, hold too many.
    pub fn take(self: &Arc<Self>, who: &str) -> Result<StreamSlot, AppError> {
        let mut open = self.lock();
        let (what, flag, hint) = self.limits.what.words();
        if open.total >= self.limits.total {
            drop(open);
            self.metrics.stream_refused("total");
            return Err(AppError::TooMany(format!(
                "this dashboard has {} {what}, as many as it serves ({flag}); try again shortly",
                self.limits.total
            )));
        }
        let n = open.by_client.get(who).copied().unwrap_or(0);
        if n >= self.limits.per_client {
            drop(open);
            self.metrics.stream_refused("per_client");
            return Err(AppError::TooMany(format!(
                "you have {} {what} already; {hint}",
                self.limits.per_client
            )));
        }
        open.by_client.insert(who.to_string(), n + 1);
        open.total += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            who: who.to_string(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_client.get_mut(&self.who) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.by_client.remove(&self.who);
            }
        }
    }
}

/// A stream slot for this client: the signed-in person, or with
/// `--auth none` their address (429 past a limit).
pub fn stream_slot(
    slots: &Arc<StreamSlots>,
    caller: &Caller,
    from: ClientAddr,
) -> Result<StreamSlot, AppError> {
    match caller.user() {
        Some(u) => slots.take(&format!("user:{}", u.name)),
        None => slots.take(&format!("addr:{}", from.0)),
    }
}

/// Runs a stream's `follow` in a task of its own, holding its `slot` and
/// counted as an open stream, until it ends or the dashboard shuts down
/// (`stop`).
pub fn spawn_stream(
    metrics: &Arc<Metrics>,
    stop: &CancellationToken,
    slot: StreamSlot,
    follow: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let open = metrics.stream();
    let stop = stop.clone();
    // Boxed: moved into the task and then into `select!`, it took two
    // slots of its size in the task (13 KB for an overview page).
    let follow = Box::pin(follow);
    tokio::spawn(async move {
        let _open = open;
        let _slot = slot;
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = follow => {}
        }
        crate::web::edge::reclaim::soon();
    });
}

/// What a stream queues has a size in bytes.
pub trait Weighed {
    fn bytes(&self) -> usize;
}

impl Weighed for String {
    fn bytes(&self) -> usize {
        self.len()
    }
}

/// A stream's sending side: at most `backlog_bytes` queued for its reader
/// (one larger message alone); a send that waits longer than the limit
/// for room fails, and the stream ends (its reader fell behind).
///
/// Each queued item carries its size, not a semaphore permit: a queue's
/// slots are allocated 32 at a time and live as long as the stream, so
/// every byte of a slot is paid by each open page.
pub struct Outbox<T> {
    tx: mpsc::Sender<(T, u32)>,
    room: Arc<Semaphore>,
    backlog: u32,
    wait: Duration,
    metrics: EdgeMetrics,
}

/// Why a send failed: the reader left, or fell behind and was dropped.
#[derive(Debug, PartialEq, Eq)]
pub struct Gone;

impl<T: Weighed> Outbox<T> {
    pub async fn send(&self, item: T) -> Result<(), Gone> {
        let want = u32::try_from(item.bytes())
            .unwrap_or(u32::MAX)
            .clamp(1, self.backlog);
        let queued = async {
            let room = self
                .room
                .clone()
                .acquire_many_owned(want)
                .await
                .map_err(|_| Gone)?;
            let slot = self.tx.reserve().await.map_err(|_| Gone)?;
            // The reader gives the room back as it takes the item.
            room.forget();
            slot.send((item, want));
            Ok(())
        };
        tokio::select! {
            r = queued => r,
            _ = self.tx.closed() => Err(Gone),
            _ = tokio::time::sleep(self.wait) => {
                self.metrics.stream_dropped("slow_reader");
                tracing::debug!(backlog_bytes = self.backlog, "dropped a live stream whose reader fell behind");
                Err(Gone)
            }
        }
    }

    /// Resolves when the reader has gone.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// A stream's receiving side, what the response body reads; taking an
/// item gives its room back.
pub struct Inbox<T> {
    rx: mpsc::Receiver<(T, u32)>,
    room: Arc<Semaphore>,
}

impl<T> tokio_stream::Stream for Inbox<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx).map(|o| {
            o.map(|(item, room)| {
                self.room.add_permits(room as usize);
                item
            })
        })
    }
}

/// A stream's queue, bounded as the stream limits say.
pub fn outbox<T>(slots: &StreamSlots) -> (Outbox<T>, Inbox<T>) {
    let limits = slots.limits;
    bounded(limits.backlog_bytes, limits.wait, slots.metrics().clone())
}

fn bounded<T>(backlog_bytes: usize, wait: Duration, metrics: EdgeMetrics) -> (Outbox<T>, Inbox<T>) {
    let backlog = u32::try_from(backlog_bytes).unwrap_or(u32::MAX).max(1);
    // Messages are counted by their bytes; the count bound only keeps
    // many tiny ones from piling up.
    let (tx, rx) = mpsc::channel(256);
    let room = Arc::new(Semaphore::new(backlog as usize));
    (
        Outbox {
            tx,
            room: room.clone(),
            backlog,
            wait,
            metrics,
        },
        Inbox { rx, room },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    fn slots(per_client: usize, total: usize) -> Arc<StreamSlots> {
        Arc::new(StreamSlots::new(
            StreamLimits {
                per_client,
                total,
                ..StreamLimits::default()
            },
            EdgeMetrics::default(),
        ))
    }

    #[test]
    fn a_client_holds_at_most_the_limit_and_slots_come_back() {
        let slots = slots(STREAMS_PER_CLIENT, 1000);
        let held: Vec<StreamSlot> = (0..STREAMS_PER_CLIENT)
            .map(|_| slots.take("alice").unwrap())
            .collect();
        assert!(matches!(slots.take("alice"), Err(AppError::TooMany(_))));
        assert!(slots.take("bob").is_ok(), "others are not affected");
        drop(held);
        assert!(slots.take("alice").is_ok());
        assert!(
            slots.lock().by_client.len() <= 1,
            "entries go with their streams"
        );
    }

    #[test]
    fn all_clients_together_hold_at_most_the_total() {
        let slots = slots(2, 3);
        let a = [slots.take("a").unwrap(), slots.take("a").unwrap()];
        let b = slots.take("b").unwrap();
        assert!(
            matches!(slots.take("c"), Err(AppError::TooMany(_))),
            "the total is reached"
        );
        drop(b);
        assert!(slots.take("c").is_ok());
        drop(a);
        assert_eq!(slots.lock().total, 0, "every slot came back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_falls_behind_is_dropped_and_its_backlog_is_bounded() {
        let (out, inbox) = bounded::<String>(1000, Duration::from_secs(5), EdgeMetrics::default());
        let mut queued = 0;
        let started = tokio::time::Instant::now();
        let result = loop {
            match out.send("x".repeat(300)).await {
                Ok(()) => queued += 300,
                Err(e) => break e,
            }
        };
        assert_eq!(result, Gone);
        assert_eq!(queued, 900, "no more than the backlog was queued");
        assert!(started.elapsed() >= Duration::from_secs(5));
        drop(inbox);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_keeps_up_gets_everything_even_large_messages() {
        let (out, mut inbox) =
            bounded::<String>(1000, Duration::from_secs(5), EdgeMetrics::default());
        let reader = tokio::spawn(async move {
            let mut total = 0;
            while let Some(m) = inbox.next().await {
                total += m.len();
            }
            total
        });
        for _ in 0..50 {
            out.send("y".repeat(5000))
                .await
                .expect("a message larger than the backlog goes alone");
        }
        drop(out);
        assert_eq!(reader.await.unwrap(), 50 * 5000);
    }
}
