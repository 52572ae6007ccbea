//! The user agent: one account's registration and INVITE sessions over one flow to the
//! outbound proxy (RFC 7118 §5: everything goes over the WebSocket connection).
//!
//! Sans-IO, like quinn-proto's `Connection`:
//! - inputs: [`UserAgent::handle_input`] (one received message), [`UserAgent::handle_timeout`];
//! - API calls: [`UserAgent::register`], [`UserAgent::invite`], [`UserAgent::answer`],
//!   [`UserAgent::reinvite`], [`UserAgent::refer`], ...;
//! - outputs, drained after every input: [`UserAgent::poll_transmit`],
//!   [`UserAgent::poll_event`], [`UserAgent::poll_timeout`].

mod call;
mod refer;
mod register;
mod reinvite;
mod replaces;
mod request;
#[cfg(test)]
mod tests;

use crate::auth::{Authenticator, Challenge, ChallengeCount, Credentials};
use crate::dialog::{contact_uri, Dialog};
use crate::error::SipError;
use crate::ids::IdGen;
use crate::message::{self, HeadersExt, Message, Request, Response};
use crate::registration::{self, RegState, Registration};
use crate::transaction::{ClientEvent, ClientTx, ServerTx, T1, T2};
use crate::wire::{Branch, SipCallId, StatusCode, Tag};
use bytes::Bytes;
use call::{Ack, Call, CallState, Unacked};
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::{Headers, Method, Name};
use refer::{Referred, Transfer};
use reinvite::{Reinvite, Reoffer};
use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The transport of the flow to the outbound proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ws,
    Wss,
    Udp,
    Tcp,
}

impl Transport {
    pub(super) fn via(self) -> &'static str {
        match self {
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
    pub(super) fn uri_param(self) -> &'static str {
        match self {
            // RFC 7118 §5.2: both WS and WSS are `transport=ws` in URIs.
            Transport::Ws | Transport::Wss => "ws",
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
    /// Reliable transports need no retransmissions.
    pub fn reliable(self) -> bool {
        self != Transport::Udp
    }
}

/// One account, as the UA needs it.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// User part of the address of record.
    pub user: String,
    /// Host part of the address of record (the SIP domain).
    pub domain: String,
    pub display_name: Option<String>,
    pub credentials: Credentials,
    pub transport: Transport,
    /// RFC 5626 instance id (`urn:uuid:...`), stable per account across runs.
    pub instance_id: String,
    /// Registration expiry to ask for, seconds.
    pub register_expires: u32,
    pub user_agent: String,
}

/// Our handle for a call (not the SIP Call-ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

impl fmt::Display for CallHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up (BYE) after the call was answered.
    LocalHangup,
    /// The far end sent BYE.
    RemoteHangup,
    /// We cancelled while it was ringing (487).
    Cancelled,
    /// The caller cancelled before we answered.
    RemoteCancelled,
    /// The INVITE got a final failure response (4xx-6xx).
    Rejected(StatusCode),
    /// We declined an incoming call with this status.
    Declined(StatusCode),
    /// Something failed: timeout, auth, missing ACK...
    Failed(SipError),
    /// The far end took the call over after our REFER succeeded, and we hung up (RFC 3515).
    Transferred,
}

/// What the UA tells its owner.
#[derive(Debug, Clone)]
pub enum UaEvent {
    Registered {
        expires: u32,
    },
    Unregistered,
    RegistrationFailed {
        error: SipError,
        /// Last SIP status (408 for a timeout).
        status: Option<StatusCode>,
    },
    IncomingCall {
        call: CallHandle,
        from: String,
        offer: Bytes,
        /// The INVITE carries Replaces (RFC 3891) naming this confirmed call of ours: answer
        /// it in that call's place and end that one. (A Replaces naming no call of ours was
        /// answered 481 and never reported.)
        replaces: Option<CallHandle>,
    },
    /// 180/183 for an outgoing call, with early SDP if any.
    Ringing {
        call: CallHandle,
        status: StatusCode,
        sdp: Option<Bytes>,
    },
    /// The call is established; `sdp` is the answer (caller) or empty (callee, we answered).
    Answered {
        call: CallHandle,
        sdp: Bytes,
    },
    /// The far end's SDP answer, sent in the ACK to our 200 for its offerless re-INVITE
    /// (our offer went out through [`UserAgent::answer_reoffer`]).
    RemoteSdp {
        call: CallHandle,
        sdp: Bytes,
    },
    /// The far end sent a re-INVITE (hold, resume, new media); `sdp` is its offer, or empty
    /// for an offerless re-INVITE (then answer with an offer). Reply with
    /// [`UserAgent::answer_reoffer`] or [`UserAgent::reject_reoffer`] within 32 s, or the UA
    /// answers 500 itself.
    Reoffer {
        call: CallHandle,
        sdp: Bytes,
    },
    /// Our re-INVITE was accepted; `sdp` is the far end's answer.
    ReinviteAnswered {
        call: CallHandle,
        sdp: Bytes,
    },
    /// Our re-INVITE was refused (after one retry on 491); the call stays up with the media
    /// it had.
    ReinviteFailed {
        call: CallHandle,
        status: StatusCode,
        /// Set when the UA gave up on a challenge (loop, unsupported, refused).
        error: Option<SipError>,
    },
    /// The far end asks us to call `target` (the Refer-To URI) in its place (RFC 3515).
    /// Report the new call's outcome with [`UserAgent::transfer_result`].
    TransferRequested {
        call: CallHandle,
        target: String,
    },
    /// Our transfer's new call progressed (a provisional status from the far end's NOTIFY).
    TransferProgress {
        call: CallHandle,
        status: StatusCode,
    },
    /// Our transfer succeeded; the UA hangs up and [`EndReason::Transferred`] follows.
    Transferred {
        call: CallHandle,
    },
    /// Our transfer failed; the call stays up. `status` is the REFER's final response (408
    /// for a timeout), the failed call's final status from the NOTIFY, 487 when the far end
    /// ended its subscription without reporting an outcome, 500 when it ended it with a
    /// report we can't read.
    TransferFailed {
        call: CallHandle,
        status: StatusCode,
        /// Set when the UA gave up on a challenge to the REFER (loop, unsupported, refused).
        error: Option<SipError>,
    },
    Ended {
        call: CallHandle,
        reason: EndReason,
        status: Option<StatusCode>,
    },
}

/// What went wrong with an API call.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UaError {
    #[error("invalid SIP address: {0}")]
    InvalidUri(String),
    #[error("no such call")]
    NoSuchCall,
    #[error("not possible in the call's state")]
    InvalidState,
    /// A re-INVITE (either direction) or REFER of the call is still under way.
    #[error("another request of the call is still pending")]
    Pending,
}

impl UaError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            UaError::InvalidUri(_) => "sip.invalid_uri",
            UaError::NoSuchCall => "sip.no_such_call",
            UaError::InvalidState => "sip.invalid_state",
            UaError::Pending => "sip.request_pending",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    Register,
    Invite(CallHandle),
    Bye(CallHandle),
    Cancel,
    Reinvite(CallHandle),
    Refer(CallHandle),
    Notify(CallHandle),
}

/// One client transaction of ours, and who gets its outcome.
#[derive(Debug)]
pub(super) struct Client {
    tx: ClientTx,
    owner: Owner,
    /// The challenges the request was re-sent for before this transaction.
    challenges: ChallengeCount,
}

/// A request of ours as sent, handed to its owner with the outcome.
#[derive(Debug)]
pub(super) struct Sent {
    pub(super) req: Request,
    /// The challenges it was re-sent for so far: a re-send after another one carries this on.
    pub(super) challenges: ChallengeCount,
}

/// The SIP user agent of one account.
#[derive(Debug)]
pub struct UserAgent {
    cfg: UaConfig,
    ids: IdGen,
    via_host: String,
    contact_user: String,
    reg: Registration,
    /// Whether we want to be registered (refresh timers run only then).
    want_registered: bool,
    clients: Vec<Client>,
    servers: Vec<ServerTx>,
    calls: Vec<Call>,
    next_call: u64,
    transmits: VecDeque<Bytes>,
    events: VecDeque<UaEvent>,
}

// No Allow-Events: that would promise to take SUBSCRIBE for the package (RFC 6665 §8.2.2);
// we only take the NOTIFYs of the subscription our own REFER creates.
pub(super) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY";

/// Methods standardised for SIP that we recognise even where we don't allow them.
const KNOWN_METHODS: [Method; 10] = [
    Method::BYE,
    Method::REGISTER,
    Method::MESSAGE,
    Method::UPDATE,
    Method::PRACK,
    Method::SUBSCRIBE,
    Method::NOTIFY,
    Method::PUBLISH,
    Method::INFO,
    Method::REFER,
];

impl UserAgent {
    /// A new UA; `seed` feeds tags, branches and Call-IDs (pass OS randomness).
    pub fn new(cfg: UaConfig, seed: u64) -> Self {
        let mut ids = IdGen::new(seed);
        let via_host = format!("{}.invalid", ids.token(12));
        let contact_user = ids.token(8);
        let reg = Registration {
            call_id: ids.call_id(),
            cseq: 0,
            expires: cfg.register_expires,
            auth: Authenticator::new(&cfg.credentials),
            state: RegState::Idle,
            failures: 0,
        };
        Self {
            cfg,
            ids,
            via_host,
            contact_user,
            reg,
            want_registered: false,
            clients: Vec::new(),
            servers: Vec::new(),
            calls: Vec::new(),
            next_call: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    // ---- outputs ----

    /// Next message to send on the flow.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// When [`UserAgent::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let clients = self.clients.iter().filter_map(|c| c.tx.next_timeout());
        let servers = self.servers.iter().filter_map(ServerTx::next_timeout);
        let calls = self.calls.iter().filter_map(Call::next_timeout);
        let reg = if self.want_registered {
            self.reg.next_timeout()
        } else {
            None
        };
        clients.chain(servers).chain(calls).chain(reg).min()
    }

    /// Whether any call exists (a UI or CLI waits for this before shutting down).
    pub fn has_calls(&self) -> bool {
        !self.calls.is_empty()
    }

    /// Whether a registration or unregistration is in flight.
    pub fn registration_pending(&self) -> bool {
        matches!(self.reg.state, RegState::Pending { .. })
    }

    // ---- API ----

    /// Starts (or refreshes) registration.
    pub fn register(&mut self, now: Instant) {
        self.want_registered = true;
        self.reg.expires = self.cfg.register_expires;
        self.reg.auth = Authenticator::new(&self.cfg.credentials);
        self.send_register(now, false);
    }

    /// Removes our binding (Expires: 0); [`UaEvent::Unregistered`] follows.
    pub fn unregister(&mut self, now: Instant) {
        self.want_registered = false;
        self.send_register(now, true);
    }

    /// The flow to the proxy was replaced (WS reconnect): in-flight transactions are lost.
    pub fn flow_reset(&mut self, now: Instant) {
        let owners: Vec<Owner> = self.clients.drain(..).map(|c| c.owner).collect();
        self.servers.clear();
        for owner in owners {
            self.client_event(now, owner, None, ClientEvent::Timeout);
        }
        if matches!(self.reg.state, RegState::Pending { .. }) {
            self.reg.state = RegState::Idle;
        }
    }

    // ---- inputs ----

    /// Feeds one received message.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            return; // CRLF keep-alive
        }
        match message::parse(data) {
            Ok(Message::Response(resp)) => self.on_response(now, resp),
            Ok(Message::Request(req)) => self.on_request(now, req),
            Err(err) => {
                tracing::debug!(reason = err.reason, "dropping malformed message");
                let code = err.status();
                if let Some((method, headers)) = err.partial {
                    if method != Method::ACK && headers.contains(&Name::VIA) {
                        let mut resp = Response::to_request(&method, &headers, code, None);
                        let text = ezk_sip_types::StatusCode::from(code.as_u16())
                            .text()
                            .unwrap_or("Bad Request");
                        resp.reason = Some(format!("{text} ({})", err.reason).into());
                        self.transmits.push_back(resp.to_bytes());
                    }
                }
            }
        }
    }

    /// Fires whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut out = Vec::new();
        let mut fired = Vec::new();
        for c in &mut self.clients {
            if c.tx.next_timeout().is_some_and(|t| t <= now) {
                if let Some(ev) = c.tx.on_timeout(now, &mut out) {
                    let sent = Sent {
                        req: c.tx.request.clone(),
                        challenges: c.challenges,
                    };
                    fired.push((c.owner, sent, ev));
                }
            }
        }
        for tx in &mut self.servers {
            if tx.next_timeout().is_some_and(|t| t <= now) {
                tx.on_timeout(now, &mut out);
            }
        }
        self.transmits.extend(out);
        for (owner, sent, ev) in fired {
            self.client_event(now, owner, Some(sent), ev);
        }
        self.call_timers(now);
        if self.want_registered && self.reg.next_timeout().is_some_and(|t| t <= now) {
            self.send_register(now, false);
        }
        self.collect_garbage();
    }

    // ---- internals: requests out ----

    /// Gives the request a fresh branch and starts a client transaction for it.
    pub(super) fn send_client(&mut self, now: Instant, req: Request, owner: Owner) -> Branch {
        self.resend_client(now, req, owner, ChallengeCount::default())
    }

    /// [`UserAgent::send_client`] for a re-send after a challenge, `challenges` counting it.
    pub(super) fn resend_client(
        &mut self,
        now: Instant,
        mut req: Request,
        owner: Owner,
        challenges: ChallengeCount,
    ) -> Branch {
        let branch = self.stamp_via(&mut req);
        let mut out = Vec::new();
        let tx = ClientTx::start(
            now,
            branch.clone(),
            req,
            self.cfg.transport.reliable(),
            &mut out,
        );
        self.transmits.extend(out);
        self.clients.push(Client {
            tx,
            owner,
            challenges,
        });
        branch
    }

    /// Gives the request our Via with a fresh branch; returns the branch.
    pub(super) fn stamp_via(&mut self, req: &mut Request) -> Branch {
        let branch = self.ids.branch();
        let via = format!(
            "SIP/2.0/{} {};branch={branch}",
            self.cfg.transport.via(),
            self.via_host
        );
        set_header(&mut req.headers, Name::VIA, via);
        branch
    }

    pub(super) fn respond_server(&mut self, now: Instant, branch: &Branch, resp: &Response) {
        let mut out = Vec::new();
        if let Some(tx) = self.servers.iter_mut().find(|t| t.branch == *branch) {
            tx.respond(now, resp, &mut out);
        } else {
            out.push(resp.to_bytes());
        }
        self.transmits.extend(out);
    }

    /// Responds statelessly-in-a-transaction: creates the server transaction if needed.
    pub(super) fn reply(
        &mut self,
        now: Instant,
        req: &Request,
        code: StatusCode,
        extra: &[(Name, String)],
    ) {
        let mut resp = Response::to_request(&req.method, &req.headers, code, None);
        if code.is_final() && req.header_to().is_some_and(|t| t.tag.is_none()) {
            let tag = self.ids.tag();
            resp = Response::to_request(&req.method, &req.headers, code, Some(&tag));
        }
        for (name, value) in extra {
            resp.headers.insert(name.clone(), value.clone());
        }
        let branch = req.top_branch().unwrap_or_default();
        if !self
            .servers
            .iter()
            .any(|t| t.branch == branch && t.request.method == req.method)
        {
            self.servers.push(ServerTx::new(
                branch.clone(),
                req.clone(),
                self.cfg.transport.reliable(),
            ));
        }
        let mut out = Vec::new();
        if let Some(tx) = self
            .servers
            .iter_mut()
            .find(|t| t.branch == branch && t.request.method == req.method)
        {
            tx.respond(now, &resp, &mut out);
        }
        self.transmits.extend(out);
    }

    // ---- internals: responses in ----

    pub(super) fn on_response(&mut self, now: Instant, resp: Response) {
        let (Some(branch), Some(cseq)) = (resp.top_branch(), resp.cseq()) else {
            return;
        };
        let Some(idx) = self
            .clients
            .iter()
            .position(|c| c.tx.branch == branch && c.tx.request.method == cseq.method)
        else {
            tracing::debug!(
                code = resp.code().as_u16(),
                "response matches no transaction"
            );
            return;
        };
        let mut out = Vec::new();
        let c = &mut self.clients[idx];
        let owner = c.owner;
        let sent = Sent {
            req: c.tx.request.clone(),
            challenges: c.challenges,
        };
        let event = c.tx.on_response(now, resp, &mut out);
        self.transmits.extend(out);
        if let Some(event) = event {
            self.client_event(now, owner, Some(sent), event);
        }
        self.collect_garbage();
    }

    /// A client transaction reports a response (or timeout, as 408) to its owner.
    pub(super) fn client_event(
        &mut self,
        now: Instant,
        owner: Owner,
        sent: Option<Sent>,
        ev: ClientEvent,
    ) {
        match owner {
            Owner::Register => self.on_register_result(now, sent, ev),
            Owner::Invite(h) => self.on_invite_result(now, h, sent, ev),
            Owner::Bye(h) => {
                if matches!(&ev, ClientEvent::Response(r) if !r.code().is_final()) {
                    return;
                }
                if let (ClientEvent::Response(r), Some(sent)) = (&ev, sent) {
                    if is_auth_challenge(r.code()) {
                        match self.retry_authorized(now, h, sent, r, owner) {
                            Ok(_) => return,
                            // The call ends here all the same: our side is done with it.
                            Err(verdict) => {
                                tracing::info!(call = %h, ?verdict, "BYE challenge not answered")
                            }
                        }
                    }
                }
                let reason = self
                    .call_mut(h)
                    .ok()
                    .and_then(|c| c.ending.take())
                    .unwrap_or(EndReason::LocalHangup);
                let status = match ev {
                    ClientEvent::Response(r) => Some(r.code()),
                    ClientEvent::Timeout => Some(StatusCode::REQUEST_TIMEOUT),
                };
                self.end(h, reason, status);
            }
            Owner::Cancel => {}
            Owner::Reinvite(h) => self.on_reinvite_result(now, h, sent, ev),
            Owner::Refer(h) => self.on_refer_result(now, h, sent, ev),
            Owner::Notify(h) => self.on_notify_result(now, h, sent, ev),
        }
    }

    /// Answers a 401/407 to a request of call `h` (RFC 3261 §22.2): sends it again with
    /// credentials and a fresh CSeq (the dialog's next one while the dialog lives), unless
    /// it has had its re-sends (§22.3). Returns the new CSeq number, or the challenge's
    /// verdict when it isn't answered.
    pub(super) fn retry_authorized(
        &mut self,
        now: Instant,
        h: CallHandle,
        sent: Sent,
        resp: &Response,
        owner: Owner,
    ) -> Result<u32, Challenge> {
        let Sent {
            mut req,
            mut challenges,
        } = sent;
        let Ok(idx) = self.call_index(h) else {
            return Err(Challenge::Rejected);
        };
        let call = &mut self.calls[idx];
        match call.auth.handle_challenge(&req, resp, &mut challenges) {
            Challenge::Retry => {}
            verdict => return Err(verdict),
        }
        let seq = match call.dialog_mut() {
            Some(dialog) => dialog.next_seq(),
            None => req.cseq().map_or(1, |c| c.cseq + 1),
        };
        set_header(
            &mut req.headers,
            Name::CSEQ,
            format!("{seq} {}", req.method),
        );
        call.auth.authorize(&mut req);
        self.resend_client(now, req, owner, challenges);
        Ok(seq)
    }

    // ---- internals: requests in ----

    pub(super) fn on_request(&mut self, now: Instant, req: Request) {
        let branch = req.top_branch().unwrap_or_default();
        if req.method == Method::ACK {
            return self.on_ack(now, &req, &branch);
        }
        if let Some(tx) = self
            .servers
            .iter_mut()
            .find(|t| t.branch == branch && t.request.method == req.method)
        {
            let mut out = Vec::new();
            tx.on_retransmission(&mut out);
            self.transmits.extend(out);
            return;
        }
        if req.method == Method::CANCEL {
            return self.on_cancel(now, &req, &branch);
        }
        let in_dialog = req.header_to().is_some_and(|t| t.tag.is_some());
        if in_dialog {
            return self.on_in_dialog(now, req);
        }
        match req.method {
            Method::INVITE => self.on_invite(now, req, branch),
            Method::OPTIONS => self.reply(now, &req, StatusCode::OK, &options_headers()),
            // A BYE without a To tag matches no dialog (RFC 3261 §15.1.2), a NOTIFY without
            // one no subscription of ours (RFC 6665 §4.1.3).
            Method::BYE | Method::NOTIFY => {
                self.reply(now, &req, StatusCode::CALL_DOES_NOT_EXIST, &[])
            }
            // We take REFER only inside a call (blind transfer), not to start one.
            Method::REFER => self.reply(now, &req, StatusCode::FORBIDDEN, &[]),
            // RFC 3261 §8.2.1: 405 for a method we know but don't allow, 501 for one we don't
            // know at all (RFC 4475 §3.1.1.2 and §3.1.1.5 expect 501 for the unknown ones).
            ref m if KNOWN_METHODS.contains(m) => self.reply(
                now,
                &req,
                StatusCode::METHOD_NOT_ALLOWED,
                &[(Name::ALLOW, ALLOW.into())],
            ),
            _ => self.reply(
                now,
                &req,
                StatusCode::NOT_IMPLEMENTED,
                &[(Name::ALLOW, ALLOW.into())],
            ),
        }
    }

    // ---- internals: bookkeeping ----

    pub(super) fn collect_garbage(&mut self) {
        self.clients.retain(|c| !c.tx.is_terminated());
        self.servers.retain(|t| !t.is_terminated());
        self.calls.retain(|c| !c.ended);
    }
}

/// The failure a challenge we don't answer again stands for.
pub(super) fn challenge_error(verdict: Challenge) -> SipError {
    match verdict {
        Challenge::Retry | Challenge::Rejected => SipError::AuthFailed,
        Challenge::Unsupported(why) => SipError::AuthUnsupported(why),
        Challenge::Loop => SipError::AuthLoop,
    }
}

/// 401 or 407: a digest challenge (RFC 3261 §22.2, §22.3).
pub(super) fn is_auth_challenge(code: StatusCode) -> bool {
    matches!(
        code,
        StatusCode::UNAUTHORIZED | StatusCode::PROXY_AUTHENTICATION_REQUIRED
    )
}

pub(super) fn options_headers() -> Vec<(Name, String)> {
    vec![
        (Name::ALLOW, ALLOW.into()),
        (Name::ACCEPT, "application/sdp".into()),
        (Name::SUPPORTED, "outbound, replaces".into()),
    ]
}

pub(super) fn set_header(headers: &mut Headers, name: Name, value: String) {
    let rest: Vec<_> = headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let mut fresh = Headers::new();
    let mut done = false;
    for (n, v) in rest {
        if n == name {
            if !done {
                fresh.insert(n, value.clone());
                done = true;
            }
        } else {
            fresh.insert(n, v);
        }
    }
    if !done {
        fresh.insert_front(name, value);
    }
    *headers = fresh;
}

pub(super) fn bump_cseq(req: &mut Request) {
    let seq = req.cseq().map_or(1, |c| c.cseq + 1);
    set_header(
        &mut req.headers,
        Name::CSEQ,
        format!("{seq} {}", req.method),
    );
}

pub(super) fn uri_string(uri: &SipUri, method: &Method) -> String {
    use ezk_sip_types::print::{AppendCtx, PrintCtx};
    uri.print_ctx(PrintCtx {
        method: Some(method),
        uri: None,
    })
    .to_string()
}
