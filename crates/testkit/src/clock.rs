//! Simulated time: a fixed `Instant` base plus an offset that only the simulation moves.

use std::time::{Duration, Instant};

/// The simulation's clock. It never reads the system clock after construction, so an hour of
/// simulated time costs nothing.
#[derive(Debug, Clone)]
pub struct SimClock {
    base: Instant,
    offset: Duration,
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SimClock {
    pub fn new() -> Self {
        // The only real clock read: `Instant` has no other constructor. Everything after is
        // offsets, so runs are identical whatever this value is.
        Self {
            base: Instant::now(),
            offset: Duration::ZERO,
        }
    }

    pub fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// Time since the simulation started.
    pub fn elapsed(&self) -> Duration {
        self.offset
    }

    /// Moves to `at`; the clock never goes backwards.
    pub fn advance_to(&mut self, at: Instant) {
        if at > self.now() {
            self.offset = at - self.base;
        }
    }

    pub fn advance(&mut self, by: Duration) {
        self.offset += by;
    }
}
