//! The simulated cluster's clock: wall time plus an offset that tests (and
//! the demo) can advance, so pause durations and readiness delays pass
//! without waiting. A test can also freeze it, so that nothing timed
//! happens until it advances the clock itself.

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

/// `frozen_at_nanos` when the clock runs.
const RUNNING: i64 = i64::MIN;

#[derive(Debug)]
pub struct SimClock {
    offset_nanos: AtomicI64,
    /// The wall time (ns since the epoch) the clock stopped at, or RUNNING.
    frozen_at_nanos: AtomicI64,
}

impl Default for SimClock {
    fn default() -> Self {
        SimClock {
            offset_nanos: AtomicI64::new(0),
            frozen_at_nanos: AtomicI64::new(RUNNING),
        }
    }
}

impl SimClock {
    pub fn now(&self) -> Timestamp {
        let offset = SignedDuration::from_nanos(self.offset_nanos.load(Ordering::Relaxed));
        let base = match self.frozen_at_nanos.load(Ordering::Relaxed) {
            RUNNING => Timestamp::now(),
            at => Timestamp::from_nanosecond(i128::from(at)).unwrap_or_else(|_| Timestamp::now()),
        };
        base.checked_add(offset).unwrap_or(Timestamp::MAX)
    }

    /// Stops time where it is: from now on only `advance` moves it.
    pub fn freeze(&self) {
        let now = i64::try_from(Timestamp::now().as_nanosecond()).unwrap_or(0);
        let _ = self.frozen_at_nanos.compare_exchange(
            RUNNING,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Moves simulated time forward by `by`.
    pub fn advance(&self, by: SignedDuration) {
        let nanos = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// `metav1.Time` text: RFC3339 UTC, whole seconds.
    pub fn now_rfc3339(&self) -> String {
        rfc3339(self.now())
    }
}

/// `metav1.Time` as the API server writes it: RFC 3339, UTC, whole seconds.
pub fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let c = SimClock::default();
        c.freeze();
        let t = c.now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(c.now(), t, "frozen");
        c.advance(SignedDuration::from_secs(30));
        assert_eq!(
            c.now(),
            t.checked_add(SignedDuration::from_secs(30)).unwrap()
        );
    }
}
