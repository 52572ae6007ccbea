//! The media timeout (issue 13): a call whose far end has gone silent (no RTP and no RTCP for
//! a configurable time) is reported through [`super::MediaSession::poll_event`], so the call
//! can end with that reason instead of lasting until the user notices.
//!
//! It runs only while both directions are negotiated: a held call (`sendonly`, `recvonly`
//! or `inactive`, whichever end holds) may be silent for as long as it likes. It counts from
//! the session's start, so a far end whose packets never arrive (a NAT or firewall eating
//! them) is reported too, and after a re-INVITE resumes from hold it counts afresh.

use std::time::{Duration, Instant};

/// How long the far end may be silent before [`super::MediaEvent::MediaTimeout`].
pub const DEFAULT_MEDIA_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct Watchdog {
    /// `None`: never fires.
    timeout: Option<Duration>,
    state: State,
}

enum State {
    /// Not expecting media (held, or closed), or already fired.
    Off,
    /// Expecting media again since a re-INVITE; counts from the next input with a `now`.
    Starting,
    /// Fires at `last_heard + timeout` unless something arrives first.
    Running { last_heard: Instant },
}

impl Watchdog {
    /// A watchdog started at `now` if `expecting`.
    pub fn new(now: Instant, expecting: bool) -> Self {
        Watchdog {
            timeout: Some(DEFAULT_MEDIA_TIMEOUT),
            state: if expecting {
                State::Running { last_heard: now }
            } else {
                State::Off
            },
        }
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// Whether media is expected now (a renegotiation's direction); a running count goes on.
    pub fn expect(&mut self, expecting: bool) {
        self.state = match (expecting, &self.state) {
            (false, _) => State::Off,
            (true, State::Running { last_heard }) => State::Running {
                last_heard: *last_heard,
            },
            (true, _) => State::Starting,
        };
    }

    /// Time passes: a count waiting to start starts.
    pub fn tick(&mut self, now: Instant) {
        if matches!(self.state, State::Starting) {
            self.state = State::Running { last_heard: now };
        }
    }

    /// Something came from the far end.
    pub fn heard(&mut self, now: Instant) {
        if !matches!(self.state, State::Off) {
            self.state = State::Running { last_heard: now };
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Running { last_heard } => self.timeout.map(|t| last_heard + t),
            State::Off | State::Starting => None,
        }
    }

    /// How long the far end has been silent, once, if that is past the timeout.
    pub fn expire(&mut self, now: Instant) -> Option<Duration> {
        let State::Running { last_heard } = self.state else {
            return None;
        };
        if self.deadline().is_some_and(|d| now >= d) {
            self.state = State::Off;
            return Some(now.saturating_duration_since(last_heard));
        }
        None
    }
}
