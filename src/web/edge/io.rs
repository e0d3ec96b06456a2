//! One connection's socket as the edge watches it: what was read and when
//! (so the connection's watcher knows whether it is idle or amid a head),
//! and writes that the reader leaves waiting fail after the write timeout.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// Where a connection stands, shared by its socket, its requests and its
/// watcher.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<State>,
    /// Wakes the watcher when the deadline that applies may have changed.
    changed: Notify,
}

#[derive(Debug)]
struct State {
    /// Requests whose response has not ended.
    in_flight: usize,
    /// Since when nothing is in flight.
    idle_since: Instant,
    /// The first byte read while nothing was in flight: a head is coming.
    head_started: Option<Instant>,
}

/// What the watcher waits for now.
#[derive(Debug, PartialEq, Eq)]
pub enum Waiting {
    /// A request is being answered: no read deadline.
    Busy,
    /// No request since then.
    Idle(Instant),
    /// A request's head began then.
    Head(Instant),
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new(State {
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn waiting(&self) -> Waiting {
        let s = self.lock();
        match (s.in_flight, s.head_started) {
            (0, Some(at)) => Waiting::Head(at),
            (0, None) => Waiting::Idle(s.idle_since),
            _ => Waiting::Busy,
        }
    }

    /// Resolves when `waiting` may say something new.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    fn read(&self) {
        let mut s = self.lock();
        if s.in_flight == 0 && s.head_started.is_none() {
            s.head_started = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// A request's head was read: it is in flight until the guard drops
    /// (when its response has been sent or abandoned).
    pub fn begin(self: &Arc<Self>) -> InFlight {
        let mut s = self.lock();
        s.in_flight += 1;
        s.head_started = None;
        drop(s);
        self.changed.notify_one();
        InFlight(self.clone())
    }
}

/// A request in flight; its end makes the connection idle again.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
            s.head_started = None;
        }
        drop(s);
        self.0.changed.notify_one();
    }
}

/// The socket, watched.
pub struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
    write_timeout: Duration,
    /// Running while a write waits for the reader.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> Watched<T> {
    pub fn new(inner: T, activity: Arc<Activity>, write_timeout: Duration) -> Watched<T> {
        Watched {
            inner,
            activity,
            write_timeout,
            stalled: None,
        }
    }

    /// After a write that could not proceed: fails once the reader has
    /// taken nothing for the write timeout.
    fn stall(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let timeout = self.write_timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                WRITE_STALLED,
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<R>(
        &mut self,
        r: Poll<std::io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<R>> {
        match r {
            Poll::Pending => match self.stall(cx) {
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                _ => Poll::Pending,
            },
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

/// The error text a stalled write fails with (the server counts it).
pub const WRITE_STALLED: &str = "the reader took none of the response for the write timeout";

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progressed(r, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progressed(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.progressed(r, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_reads_fails_after_the_timeout() {
        let (ours, _theirs) = tokio::io::duplex(64);
        let mut w = Watched::new(ours, Activity::new(), Duration::from_secs(5));
        let started = Instant::now();
        let mut sent = 0usize;
        let err = loop {
            match w.write(&[0u8; 32]).await {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(sent, 64, "what the pipe holds was written first");
        assert!(started.elapsed() >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_that_keeps_reading_is_never_cut() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut w = Watched::new(ours, Activity::new(), Duration::from_secs(5));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let mut got = 0;
            while got < 64 * 20 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                got += theirs.read(&mut buf).await.unwrap();
            }
            got
        });
        for _ in 0..20 {
            w.write_all(&[1u8; 64])
                .await
                .expect("each write waits less than the timeout");
        }
        assert_eq!(reader.await.unwrap(), 64 * 20);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_tell_idle_from_a_head_and_requests_make_it_busy() {
        let (ours, mut theirs) = tokio::io::duplex(64);
        let activity = Activity::new();
        let mut w = Watched::new(ours, activity.clone(), Duration::from_secs(5));
        assert!(matches!(activity.waiting(), Waiting::Idle(_)));
        theirs.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0u8; 16];
        let _ = w.read(&mut buf).await.unwrap();
        let Waiting::Head(at) = activity.waiting() else {
            panic!("a head began: {:?}", activity.waiting());
        };
        let request = activity.begin();
        assert_eq!(activity.waiting(), Waiting::Busy);
        theirs.write_all(b"body").await.unwrap();
        let _ = w.read(&mut buf).await.unwrap();
        assert_eq!(
            activity.waiting(),
            Waiting::Busy,
            "a body is not a new head"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(request);
        match activity.waiting() {
            Waiting::Idle(since) => assert!(since > at),
            other => panic!("idle again after the answer: {other:?}"),
        }
    }
}
