//! The edge: what every connection may hold before anyone has signed in.
//! Our own accept loop (not `axum::serve`) so that each bound holds at the
//! socket: how many connections, how long one may sit idle or take over a
//! request's head and body, how much of a head it may send, how long a
//! reader may leave our writes unread. Host names are checked in `hosts`.

pub mod body;
pub mod hosts;
pub mod io;
pub mod reclaim;
pub mod server;

use std::time::Duration;

/// Bounds on connections, from `--max-connections`, `--header-read-timeout`,
/// `--idle-timeout`, `--write-timeout` and `--max-header-bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From a request's first byte to its whole head, and from its head
    /// to the end of its body.
    pub header_read_timeout: Duration,
    /// How long a connection may stay open with no request in flight and
    /// no byte of a new one.
    pub idle_timeout: Duration,
    /// How long a response (or stream) may wait for the reader to take
    /// any of its bytes; then the connection is closed.
    pub write_timeout: Duration,
    /// Connections held at once; beyond, new ones get a 503 and are closed.
    pub max_connections: usize,
    /// hyper's buffer for one connection: the largest request head, and
    /// what it queues ahead of a slow reader.
    pub max_header_bytes: usize,
}

/// hyper will not buffer less than this.
pub const MIN_HEADER_BYTES: usize = 8192;

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_header_bytes: 32 * 1024,
        }
    }
}

/// Why the edge closed a connection, as logged and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Closed {
    /// A request's head did not arrive within the header timeout.
    SlowHead,
    /// No request for the idle timeout.
    Idle,
    /// The reader took none of our bytes for the write timeout.
    WriteStalled,
}

impl Closed {
    pub fn label(self) -> &'static str {
        match self {
            Closed::SlowHead => "header_timeout",
            Closed::Idle => "idle",
            Closed::WriteStalled => "write_timeout",
        }
    }
}
