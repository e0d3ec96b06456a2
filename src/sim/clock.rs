//! The simulated cluster's clock: wall time plus an offset that tests (and
//! the demo) can advance, so pause durations and readiness delays pass
//! without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Default)]
pub struct SimClock {
    offset_nanos: AtomicI64,
}

impl SimClock {
    pub fn now(&self) -> Timestamp {
        let offset = SignedDuration::from_nanos(self.offset_nanos.load(Ordering::Relaxed));
        Timestamp::now()
            .checked_add(offset)
            .unwrap_or(Timestamp::MAX)
    }

    /// Moves simulated time forward by `by`.
    pub fn advance(&self, by: SignedDuration) {
        let nanos = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// `metav1.Time` text: RFC3339 UTC, whole seconds.
    pub fn now_rfc3339(&self) -> String {
        crate::info::rfc3339(&crate::model::Time(self.now()))
    }
}
