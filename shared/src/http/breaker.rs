//! A circuit breaker: after [`CircuitBreaker::new`]'s number of consecutive failed calls the
//! circuit opens and calls fail at once, sparing the service and the caller's time; after the
//! cool-down one probe call is let through (half-open), which closes the circuit if it succeeds
//! and opens it for another cool-down if not. Time comes from the clock port, so tests move it.

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use crate::clock::Clock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: OffsetDateTime,
    },
    /// The probe is in flight: everything else waits for its answer, or for another cool-down
    /// if it never comes (the probing call was dropped).
    HalfOpen {
        until: OffsetDateTime,
    },
}

/// What a call may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// The circuit is closed: the call may retry as usual.
    Call,
    /// The one call that tests a half-open circuit: a single attempt.
    Probe,
}

pub struct CircuitBreaker {
    failures_to_open: u32,
    cool_down: time::Duration,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(
        failures_to_open: u32,
        cool_down: std::time::Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            failures_to_open: failures_to_open.max(1),
            cool_down: time::Duration::try_from(cool_down).unwrap_or(time::Duration::MAX),
            clock,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `None` while the circuit is open (or its probe is in flight).
    pub fn permit(&self) -> Option<Permit> {
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Some(Permit::Call),
            State::Open { until } | State::HalfOpen { until } if self.clock.now() >= until => {
                *state = State::HalfOpen {
                    until: self.clock.now() + self.cool_down,
                };
                Some(Permit::Probe)
            }
            State::Open { .. } | State::HalfOpen { .. } => None,
        }
    }

    pub fn succeeded(&self) {
        *self.state() = State::Closed { failures: 0 };
    }

    pub fn failed(&self) {
        let mut state = self.state();
        let failures = match *state {
            State::Closed { failures } => failures + 1,
            State::Open { .. } | State::HalfOpen { .. } => self.failures_to_open,
        };
        *state = if failures >= self.failures_to_open {
            State::Open {
                until: self.clock.now() + self.cool_down,
            }
        } else {
            State::Closed { failures }
        };
    }

    pub fn is_open(&self) -> bool {
        !matches!(*self.state(), State::Closed { .. })
    }
}
