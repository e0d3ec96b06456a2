//! Writing something that belongs to a revision the recorder may not have
//! written yet (its row comes with the next batch) into a database that
//! may be failing: tried again with backoff until it is written, a
//! deadline passes, or the dashboard stops.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::store::StoreError;
use crate::cluster::backoff::Backoff;

/// How a write for a revision ended.
pub enum Written {
    Yes,
    /// Not within the deadline: the last reason.
    GaveUp(String),
    Stopping,
}

/// Calls `write` (`Ok(false)`: the revision is not recorded yet) until it
/// writes, for at most `within`, or until `shutdown`.
pub async fn write_for_a_revision<F, Fut>(
    within: Duration,
    shutdown: &CancellationToken,
    mut write: F,
) -> Written
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, StoreError>>,
{
    let give_up = tokio::time::Instant::now() + within;
    let mut backoff = Backoff::new();
    loop {
        let why = match write().await {
            Ok(true) => return Written::Yes,
            Ok(false) => "its revision is not recorded".to_string(),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() >= give_up {
            return Written::GaveUp(why);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Written::Stopping,
            _ = tokio::time::sleep(backoff.step()) => {}
        }
    }
}
