//! The accept loop: a place per connection (beyond the cap a connection
//! gets a 503 and is closed at once), each connection served by hyper's
//! HTTP/1 with a bounded buffer, and watched: closed when it sits idle,
//! takes too long over a request's head, or leaves our writes unread.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::body::{Answering, Deadline};
use super::hosts::AllowedHosts;
use super::io::{Activity, WRITE_STALLED, Waiting, Watched};
use super::{Closed, ConnectionLimits};
use crate::web::metrics::EdgeMetrics;

/// What the edge needs besides the router.
#[derive(Clone, Debug)]
pub struct Edge {
    pub limits: ConnectionLimits,
    pub hosts: AllowedHosts,
    pub metrics: EdgeMetrics,
}

/// How long open requests may finish after shutdown begins (streams end
/// on the same token at once).
const GRACE: Duration = Duration::from_secs(5);
/// At most one "connection cap reached" line this often.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    edge: Edge,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let limits = edge.limits;
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Refusals::default();
    let edge = Arc::new(edge);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors or memory: wait, do not spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(place) = places.clone().try_acquire_owned() else {
            refuse(stream, &edge, &refusals);
            continue;
        };
        let _ = stream.set_nodelay(true);
        bound_unsent(&stream);
        tokio::spawn(connection(
            stream,
            peer,
            router.clone(),
            edge.clone(),
            place,
            shutdown.clone(),
        ));
    }
    // Every place back means every connection has ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(GRACE + Duration::from_secs(1), places.acquire_many(all)).await;
    Ok(())
}

/// What the kernel may hold unsent for one connection. Without it Linux
/// grows a socket's send buffer to 4 MB for a reader that never reads;
/// with it a stuck reader's writes wait (and the write timeout ends them)
/// while bytes in flight to a reader that does read are not limited.
pub const UNSENT_BYTES: u32 = 128 * 1024;

fn bound_unsent(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_notsent_lowat(UNSENT_BYTES) {
        tracing::debug!(error = %e, "cannot bound a connection's unsent bytes");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
}

/// Counts refusals between log lines.
#[derive(Default)]
struct Refusals {
    since_logged: AtomicU64,
    last_logged: std::sync::Mutex<Option<Instant>>,
}

/// The cap is reached: a short 503 if the socket takes it now, then close.
fn refuse(stream: TcpStream, edge: &Edge, refusals: &Refusals) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 49\r\n\r\nthis dashboard holds all the connections it may\n";
    let _ = stream.try_write(BUSY);
    drop(stream);
    edge.metrics.refused();
    let n = refusals.since_logged.fetch_add(1, Ordering::Relaxed) + 1;
    let mut last = refusals
        .last_logged
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if last.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY) {
        *last = Some(Instant::now());
        refusals.since_logged.store(0, Ordering::Relaxed);
        tracing::warn!(
            max_connections = edge.limits.max_connections,
            refused = n,
            "connection cap reached: refusing new connections (--max-connections)"
        );
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    edge: Arc<Edge>,
    _place: OwnedSemaphorePermit,
    shutdown: CancellationToken,
) {
    let limits = edge.limits;
    let _open = edge.metrics.open();
    let _reclaim = Reclaim;
    let activity = Activity::new();
    let io = TokioIo::new(Watched::new(stream, activity.clone(), limits.write_timeout));
    let requests = activity.clone();
    let hosts = edge.hosts.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let in_flight = requests.begin();
        let deadline = Instant::now() + limits.header_read_timeout;
        let router = router.clone();
        let allowed = hosts.allows(
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok()),
        );
        async move {
            let mut req = req.map(|b| axum::body::Body::new(Deadline::new(b, deadline)));
            req.extensions_mut().insert(ConnectInfo(peer));
            let res = if allowed {
                match router.oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                }
            } else {
                misdirected()
            };
            Ok::<_, Infallible>(res.map(|b| Answering::new(b, in_flight)))
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_buf_size(limits.max_header_bytes.max(super::MIN_HEADER_BYTES))
        .header_read_timeout(None);
    let conn = http.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                if is_stalled(&e) {
                    edge.metrics.closed(Closed::WriteStalled);
                    tracing::debug!(%peer, "closed a connection: {WRITE_STALLED}");
                } else {
                    tracing::debug!(%peer, error = %e, "a connection ended with an error");
                }
            }
        }
        why = overdue(&activity, limits) => {
            edge.metrics.closed(why);
            tracing::debug!(%peer, reason = why.label(), "closed a connection");
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(GRACE, conn.as_mut()).await;
        }
    }
}

/// Asks for the connection's memory to go back to the system when it ends.
struct Reclaim;

impl Drop for Reclaim {
    fn drop(&mut self) {
        super::reclaim::soon();
    }
}

/// Resolves when the connection has sat idle, or over a head, too long.
async fn overdue(activity: &Activity, limits: ConnectionLimits) -> Closed {
    loop {
        let (until, why) = match activity.waiting() {
            Waiting::Busy => {
                activity.changed().await;
                continue;
            }
            Waiting::Idle(since) => (since + limits.idle_timeout, Closed::Idle),
            Waiting::Head(at) => (at + limits.header_read_timeout, Closed::SlowHead),
        };
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {
                // Only if nothing moved meanwhile.
                let still = match (activity.waiting(), why) {
                    (Waiting::Idle(s), Closed::Idle) => s + limits.idle_timeout <= Instant::now(),
                    (Waiting::Head(a), Closed::SlowHead) => a + limits.header_read_timeout <= Instant::now(),
                    _ => false,
                };
                if still {
                    return why;
                }
            }
            _ = activity.changed() => {}
        }
    }
}

fn is_stalled(e: &hyper::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// A `Host` this dashboard does not answer to (see `hosts`).
fn misdirected() -> Response<axum::body::Body> {
    (
        StatusCode::MISDIRECTED_REQUEST,
        "this dashboard does not answer to the host name this request names: open it by the address it prints at start, or name the host with --allowed-host or --public-url\n",
    )
        .into_response()
}
