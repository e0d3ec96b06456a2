//! One reconnect backoff for every loop that talks to the API server:
//! exponential from 0.8 s, doubling, with up to as much again of random
//! jitter (so many watches failing together do not retry together), never
//! more than 30 s; reset by a success. backon does the arithmetic.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

const FIRST: Duration = Duration::from_millis(800);
/// With jitter a step is at most twice this.
const CAP: Duration = Duration::from_secs(15);

pub struct Backoff {
    steps: ExponentialBackoff,
}

impl Backoff {
    pub fn new() -> Self {
        Backoff {
            steps: Self::builder().build(),
        }
    }

    fn builder() -> ExponentialBuilder {
        ExponentialBuilder::new()
            .with_min_delay(FIRST)
            .with_max_delay(CAP)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
    }

    /// Back to the first step, after a success.
    pub fn reset(&mut self) {
        self.steps = Self::builder().build();
    }

    /// How long to wait before the next try.
    pub fn step(&mut self) -> Duration {
        self.steps.next().unwrap_or(CAP * 2)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_from_under_two_seconds_to_at_most_thirty_and_resets() {
        let mut b = Backoff::new();
        let first = b.step();
        assert!(first >= FIRST && first <= FIRST * 2, "{first:?}");
        let later: Vec<Duration> = (0..20).map(|_| b.step()).collect();
        assert!(
            later.iter().all(|d| *d <= Duration::from_secs(30)),
            "{later:?}"
        );
        assert!(later[19] >= CAP, "it reaches the cap: {later:?}");
        b.reset();
        assert!(b.step() <= FIRST * 2);
    }
}
