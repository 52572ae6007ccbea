//! The four transaction machines of RFC 3261 §17 (with RFC 6026's Accepted state), driven by
//! named timers. Over a reliable transport (WS, TCP) the retransmit timers never start and the
//! linger timers are zero; over UDP the same machines retransmit.

use crate::message::{Request, Response};
use crate::wire::Branch;
use bytes::Bytes;
use ezk_sip_types::Method;
use std::time::{Duration, Instant};

/// RTT estimate (RFC 3261 §17.1.1.1).
pub const T1: Duration = Duration::from_millis(500);
/// Maximum retransmit interval for non-INVITE requests and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);
/// Maximum time a message stays in the network.
pub const T4: Duration = Duration::from_secs(5);

/// RFC 3261 §17 timers by their letters (RFC 6026 adds L and M).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// INVITE client: retransmit request.
    A,
    /// INVITE client: transaction timeout.
    B,
    /// INVITE client: wait for response retransmissions after a non-2xx.
    D,
    /// Non-INVITE client: retransmit request.
    E,
    /// Non-INVITE client: transaction timeout.
    F,
    /// Non-INVITE client: wait for response retransmissions.
    K,
    /// INVITE server: retransmit non-2xx final response.
    G,
    /// INVITE server: wait for ACK.
    H,
    /// INVITE server: absorb ACK retransmissions.
    I,
    /// Non-INVITE server: absorb request retransmissions.
    J,
    /// INVITE server: absorb INVITE retransmissions after a 2xx (RFC 6026).
    L,
    /// INVITE client: accept 2xx retransmissions (RFC 6026).
    M,
}

/// A set of armed timers; the next deadline is their minimum.
#[derive(Debug, Default, Clone)]
pub struct Timers(Vec<(Timer, Instant)>);

impl Timers {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.clear(timer);
        self.0.push((timer, at));
    }
    pub fn clear(&mut self, timer: Timer) {
        self.0.retain(|(t, _)| *t != timer);
    }
    pub fn next(&self) -> Option<Instant> {
        self.0.iter().map(|(_, at)| *at).min()
    }
    /// Removes and returns the timers due at `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<Timer> {
        let mut due: Vec<_> = self
            .0
            .iter()
            .filter(|(_, at)| *at <= now)
            .copied()
            .collect();
        due.sort_by_key(|(_, at)| *at);
        self.0.retain(|(_, at)| *at > now);
        due.into_iter().map(|(t, _)| t).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    /// Calling (INVITE) or Trying (non-INVITE).
    Trying,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

/// What the client transaction hands the transaction user.
#[derive(Debug)]
pub enum ClientEvent {
    Response(Response),
    /// Timer B or F fired: act as if a 408 arrived (RFC 3261 §8.1.3.1).
    Timeout,
}

/// An INVITE or non-INVITE client transaction (RFC 3261 §17.1).
#[derive(Debug)]
pub struct ClientTx {
    pub branch: Branch,
    /// The request as sent, for authentication retries and CANCEL.
    pub request: Request,
    wire: Bytes,
    state: ClientState,
    timers: Timers,
    interval: Duration,
    reliable: bool,
    ack: Option<Bytes>,
}

impl ClientTx {
    /// Starts the transaction; the request goes out through `out`.
    pub fn start(
        now: Instant,
        branch: Branch,
        request: Request,
        reliable: bool,
        out: &mut Vec<Bytes>,
    ) -> Self {
        let wire = request.to_bytes();
        out.push(wire.clone());
        let mut timers = Timers::default();
        let invite = request.method == Method::INVITE;
        if !reliable {
            timers.set(if invite { Timer::A } else { Timer::E }, now + T1);
        }
        timers.set(if invite { Timer::B } else { Timer::F }, now + 64 * T1);
        Self {
            branch,
            request,
            wire,
            state: ClientState::Trying,
            timers,
            interval: T1,
            reliable,
            ack: None,
        }
    }

    fn invite(&self) -> bool {
        self.request.method == Method::INVITE
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Feeds a matching response; returns what the TU must see (retransmissions are absorbed).
    pub fn on_response(
        &mut self,
        now: Instant,
        resp: Response,
        out: &mut Vec<Bytes>,
    ) -> Option<ClientEvent> {
        let code = resp.code().as_u16();
        let linger = |d: Duration| if self.reliable { Duration::ZERO } else { d };
        match (self.state, code) {
            (ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                self.state = ClientState::Proceeding;
                if self.invite() {
                    // RFC 3261 §17.1.1.2: Timer B times out only the Calling state; once the
                    // far end rings, the call may ring for minutes (proxies end it with Timer C).
                    self.timers.clear(Timer::A);
                    self.timers.clear(Timer::B);
                } else if !self.reliable {
                    // RFC 3261 §17.1.2.2: keep retransmitting at T2 in Proceeding.
                    self.interval = T2;
                }
                Some(ClientEvent::Response(resp))
            }
            (ClientState::Trying | ClientState::Proceeding, 200..=299) if self.invite() => {
                self.state = ClientState::Accepted;
                self.timers = Timers::default();
                self.timers.set(Timer::M, now + 64 * T1);
                Some(ClientEvent::Response(resp))
            }
            (ClientState::Accepted, 200..=299) => Some(ClientEvent::Response(resp)),
            (ClientState::Trying | ClientState::Proceeding, _) => {
                self.timers = Timers::default();
                self.state = ClientState::Completed;
                if self.invite() {
                    let ack = self.non_2xx_ack(&resp).to_bytes();
                    out.push(ack.clone());
                    self.ack = Some(ack);
                    self.timers
                        .set(Timer::D, now + linger(Duration::from_secs(32)));
                } else {
                    self.timers.set(Timer::K, now + linger(T4));
                }
                Some(ClientEvent::Response(resp))
            }
            (ClientState::Completed, 300..=699) => {
                // A retransmitted final response: the ACK was lost.
                out.extend(self.ack.clone());
                None
            }
            _ => None,
        }
    }

    /// RFC 3261 §17.1.1.3: the ACK for a non-2xx final response, inside the transaction.
    fn non_2xx_ack(&self, resp: &Response) -> Request {
        use ezk_sip_types::Name;
        let req = &self.request;
        let mut headers = ezk_sip_types::Headers::new();
        if let Some(via) = req.headers.get_raw(&Name::VIA).next() {
            headers.insert(Name::VIA, via.clone());
        }
        for name in [Name::ROUTE, Name::FROM] {
            for v in req.headers.get_raw(&name) {
                headers.insert(name.clone(), v.clone());
            }
        }
        for v in resp.headers.get_raw(&Name::TO) {
            headers.insert(Name::TO, v.clone());
        }
        for v in req.headers.get_raw(&Name::CALL_ID) {
            headers.insert(Name::CALL_ID, v.clone());
        }
        let cseq = crate::message::HeadersExt::cseq(req).map_or(1, |c| c.cseq);
        headers.insert(Name::CSEQ, format!("{cseq} ACK"));
        headers.insert(Name::MAX_FORWARDS, "70");
        Request {
            method: Method::ACK,
            uri: req.uri.clone(),
            headers,
            body: Bytes::new(),
        }
    }

    /// Fires due timers; returns `Some(Timeout)` when the request timed out.
    pub fn on_timeout(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Option<ClientEvent> {
        let mut event = None;
        for timer in self.timers.take_due(now) {
            match timer {
                Timer::A | Timer::E => {
                    out.push(self.wire.clone());
                    self.interval = if timer == Timer::A {
                        self.interval * 2
                    } else {
                        (self.interval * 2).min(T2)
                    };
                    self.timers.set(timer, now + self.interval);
                }
                Timer::B | Timer::F => {
                    self.state = ClientState::Terminated;
                    self.timers = Timers::default();
                    event = Some(ClientEvent::Timeout);
                }
                Timer::D | Timer::K | Timer::M => self.state = ClientState::Terminated,
                _ => {}
            }
        }
        event
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    /// Trying (non-INVITE) or Proceeding before any response.
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// An INVITE or non-INVITE server transaction (RFC 3261 §17.2).
#[derive(Debug)]
pub struct ServerTx {
    pub branch: Branch,
    pub request: Request,
    state: ServerState,
    last: Option<Bytes>,
    timers: Timers,
    interval: Duration,
    reliable: bool,
}

/// What a server transaction's timers decided.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerTimeout {
    /// Timer H: no ACK for our final response.
    NoAck,
}

impl ServerTx {
    pub fn new(branch: Branch, request: Request, reliable: bool) -> Self {
        Self {
            branch,
            request,
            state: ServerState::Trying,
            last: None,
            timers: Timers::default(),
            interval: T1,
            reliable,
        }
    }

    fn invite(&self) -> bool {
        self.request.method == Method::INVITE
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ServerState::Terminated
    }

    /// Whether a final response has been sent.
    pub fn is_final(&self) -> bool {
        !matches!(self.state, ServerState::Trying | ServerState::Proceeding)
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The request arrived again: resend the last response (RFC 3261 §17.2.1, §17.2.2).
    pub fn on_retransmission(&mut self, out: &mut Vec<Bytes>) {
        if matches!(self.state, ServerState::Proceeding | ServerState::Completed) {
            out.extend(self.last.clone());
        }
    }

    /// The TU responds.
    pub fn respond(&mut self, now: Instant, resp: &Response, out: &mut Vec<Bytes>) {
        if self.is_final() {
            return;
        }
        let wire = resp.to_bytes();
        out.push(wire.clone());
        self.last = Some(wire);
        let code = resp.code().as_u16();
        let linger = |d: Duration| if self.reliable { Duration::ZERO } else { d };
        match code {
            100..=199 => self.state = ServerState::Proceeding,
            200..=299 if self.invite() => {
                // RFC 6026: the TU retransmits the 2xx; we only absorb INVITE copies.
                self.state = ServerState::Accepted;
                self.last = None;
                self.timers.set(Timer::L, now + 64 * T1);
            }
            _ if self.invite() => {
                self.state = ServerState::Completed;
                if !self.reliable {
                    self.timers.set(Timer::G, now + T1);
                }
                self.timers.set(Timer::H, now + 64 * T1);
            }
            _ => {
                self.state = ServerState::Completed;
                self.timers.set(Timer::J, now + linger(64 * T1));
            }
        }
    }

    /// An ACK matched this INVITE transaction (non-2xx final).
    pub fn on_ack(&mut self, now: Instant) {
        if self.state == ServerState::Completed && self.invite() {
            self.state = ServerState::Confirmed;
            self.timers = Timers::default();
            let linger = if self.reliable { Duration::ZERO } else { T4 };
            self.timers.set(Timer::I, now + linger);
        }
    }

    pub fn on_timeout(&mut self, now: Instant, out: &mut Vec<Bytes>) -> Option<ServerTimeout> {
        let mut result = None;
        for timer in self.timers.take_due(now) {
            match timer {
                Timer::G => {
                    out.extend(self.last.clone());
                    self.interval = (self.interval * 2).min(T2);
                    self.timers.set(Timer::G, now + self.interval);
                }
                Timer::H => {
                    self.state = ServerState::Terminated;
                    self.timers = Timers::default();
                    result = Some(ServerTimeout::NoAck);
                }
                Timer::I | Timer::J | Timer::L => self.state = ServerState::Terminated,
                _ => {}
            }
        }
        result
    }
}
