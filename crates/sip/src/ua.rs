//! The user agent: one account's registration and INVITE sessions over one flow to the
//! outbound proxy (RFC 7118 §5: everything goes over the WebSocket connection).
//!
//! Sans-IO, like quinn-proto's `Connection`:
//! - inputs: [`UserAgent::handle_input`] (one received message), [`UserAgent::handle_timeout`];
//! - API calls: [`UserAgent::register`], [`UserAgent::invite`], [`UserAgent::answer`], ...;
//! - outputs, drained after every input: [`UserAgent::poll_transmit`],
//!   [`UserAgent::poll_event`], [`UserAgent::poll_timeout`].

use crate::auth::{Authenticator, Challenge, Credentials};
use crate::dialog::Dialog;
use crate::error::SipError;
use crate::ids::IdGen;
use crate::message::{self, HeadersExt, Message, Request, Response};
use crate::registration::{self, RegState, Registration};
use crate::transaction::{ClientEvent, ClientTx, ServerTx, T1, T2};
use bytes::Bytes;
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::{Headers, Method, Name};
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
    fn via(self) -> &'static str {
        match self {
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
    fn uri_param(self) -> &'static str {
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
    Rejected(u16),
    /// We declined an incoming call with this status.
    Declined(u16),
    /// Something failed: timeout, auth, missing ACK...
    Failed(SipError),
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
        status: Option<u16>,
    },
    IncomingCall {
        call: CallHandle,
        from: String,
        offer: Bytes,
    },
    /// 180/183 for an outgoing call, with early SDP if any.
    Ringing {
        call: CallHandle,
        status: u16,
        sdp: Option<Bytes>,
    },
    /// The call is established; `sdp` is the answer (caller) or empty (callee, we answered).
    Answered {
        call: CallHandle,
        sdp: Bytes,
    },
    /// The far end sent a new offer in a re-INVITE; we answered with our current SDP.
    RemoteSdp {
        call: CallHandle,
        sdp: Bytes,
    },
    Ended {
        call: CallHandle,
        reason: EndReason,
        status: Option<u16>,
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
}

impl UaError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            UaError::InvalidUri(_) => "sip.invalid_uri",
            UaError::NoSuchCall => "sip.no_such_call",
            UaError::InvalidState => "sip.invalid_state",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Register,
    Invite(CallHandle),
    Bye(CallHandle),
    Cancel,
}

#[derive(Debug)]
enum CancelState {
    None,
    /// Hung up before any provisional response: CANCEL goes out on the first one.
    Pending,
    Sent,
}

#[derive(Debug)]
enum CallState {
    /// Our INVITE is in flight (transaction `branch`).
    Calling {
        branch: String,
        local_tag: String,
        cancel: CancelState,
        provisional: bool,
    },
    /// An INVITE arrived in server transaction `branch`; not answered yet.
    Incoming {
        branch: String,
        invite: Request,
        local_tag: String,
    },
    /// We sent 200 and wait for the ACK, retransmitting (RFC 3261 §13.3.1.4).
    Answering {
        dialog: Dialog,
        ok: Bytes,
        retransmit_at: Instant,
        interval: Duration,
        give_up_at: Instant,
    },
    Confirmed {
        dialog: Dialog,
        /// ACK for the 2xx, resent when the 2xx is retransmitted.
        ack: Option<Bytes>,
    },
    /// Our BYE is in flight.
    Terminating,
}

#[derive(Debug)]
struct Call {
    handle: CallHandle,
    call_id: String,
    state: CallState,
    auth: Authenticator,
    local_sdp: Bytes,
    /// Why we are ending it, reported when the BYE transaction ends.
    ending: Option<EndReason>,
    last_status: Option<u16>,
    ended: bool,
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
    clients: Vec<(ClientTx, Owner)>,
    servers: Vec<ServerTx>,
    calls: Vec<Call>,
    next_call: u64,
    transmits: VecDeque<Bytes>,
    events: VecDeque<UaEvent>,
}

const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";

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
            call_id: ids.hex(20),
            cseq: 0,
            expires: cfg.register_expires,
            auth: Authenticator::new(&cfg.credentials),
            state: RegState::Idle,
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
        let clients = self.clients.iter().filter_map(|(t, _)| t.next_timeout());
        let servers = self.servers.iter().filter_map(ServerTx::next_timeout);
        let calls = self.calls.iter().filter_map(|c| match &c.state {
            CallState::Answering {
                retransmit_at,
                give_up_at,
                ..
            } => Some((*retransmit_at).min(*give_up_at)),
            _ => None,
        });
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
        let owners: Vec<Owner> = self.clients.drain(..).map(|(_, o)| o).collect();
        self.servers.clear();
        for owner in owners {
            self.client_event(now, owner, None, ClientEvent::Timeout);
        }
        if matches!(self.reg.state, RegState::Pending { .. }) {
            self.reg.state = RegState::Idle;
        }
    }

    /// Places a call to `target` (`user`, `user@host`, `sip:...` or `sips:...`) with an SDP offer.
    pub fn invite(
        &mut self,
        now: Instant,
        target: &str,
        offer: Bytes,
    ) -> Result<CallHandle, UaError> {
        let uri = self.target_uri(target)?;
        let handle = CallHandle(self.next_call);
        self.next_call += 1;
        let local_tag = self.ids.hex(10);
        let call_id = self.ids.hex(20);
        let from = format!("{};tag={local_tag}", self.aor_name_addr());
        let to = format!("<{}>", uri_string(&uri, &Method::INVITE));
        let mut req = self.new_request(Method::INVITE, uri, &from, &to, &call_id, 1, &[]);
        req.headers.insert(Name::CONTACT, self.dialog_contact());
        req.headers.insert(Name::ALLOW, ALLOW);
        req.headers.insert(Name::SUPPORTED, "outbound");
        req.headers.insert(Name::CONTENT_TYPE, "application/sdp");
        req.body = offer.clone();
        let mut call = Call {
            handle,
            call_id,
            state: CallState::Calling {
                branch: String::new(),
                local_tag,
                cancel: CancelState::None,
                provisional: false,
            },
            auth: Authenticator::new(&self.cfg.credentials),
            local_sdp: offer,
            ending: None,
            last_status: None,
            ended: false,
        };
        let branch = self.send_client(now, req, Owner::Invite(handle));
        if let CallState::Calling { branch: b, .. } = &mut call.state {
            *b = branch;
        }
        self.calls.push(call);
        Ok(handle)
    }

    /// Sends 180 Ringing for an incoming call.
    pub fn ringing(&mut self, now: Instant, handle: CallHandle) -> Result<(), UaError> {
        let call = self.call_mut(handle)?;
        let CallState::Incoming {
            branch,
            invite,
            local_tag,
        } = &call.state
        else {
            return Err(UaError::InvalidState);
        };
        let (branch, mut resp) = (
            branch.clone(),
            Response::to_request(&invite.method, &invite.headers, 180, Some(local_tag)),
        );
        resp.headers.insert(Name::CONTACT, self.dialog_contact());
        self.respond_server(now, &branch, &resp);
        Ok(())
    }

    /// Answers an incoming call with our SDP.
    pub fn answer(&mut self, now: Instant, handle: CallHandle, sdp: Bytes) -> Result<(), UaError> {
        let contact = self.dialog_contact();
        let seq = (self.ids.next() % 10_000) as u32 + 1;
        let call = self.call_mut(handle)?;
        let CallState::Incoming {
            branch,
            invite,
            local_tag,
        } = &call.state
        else {
            return Err(UaError::InvalidState);
        };
        let dialog = Dialog::as_uas(invite, local_tag, seq).ok_or(UaError::InvalidState)?;
        let mut ok = Response::to_request(&invite.method, &invite.headers, 200, Some(local_tag));
        ok.headers.insert(Name::CONTACT, contact);
        ok.headers.insert(Name::ALLOW, ALLOW);
        ok.headers.insert(Name::CONTENT_TYPE, "application/sdp");
        ok.body = sdp.clone();
        let branch = branch.clone();
        call.local_sdp = sdp;
        let wire = ok.to_bytes();
        call.state = CallState::Answering {
            dialog,
            ok: wire,
            retransmit_at: now + T1,
            interval: T1,
            give_up_at: now + 64 * T1,
        };
        self.respond_server(now, &branch, &ok);
        self.events.push_back(UaEvent::Answered {
            call: handle,
            sdp: Bytes::new(),
        });
        Ok(())
    }

    /// Declines an incoming call (486 Busy Here, 603 Decline...).
    pub fn reject(&mut self, now: Instant, handle: CallHandle, code: u16) -> Result<(), UaError> {
        let call = self.call_mut(handle)?;
        let CallState::Incoming {
            branch,
            invite,
            local_tag,
        } = &call.state
        else {
            return Err(UaError::InvalidState);
        };
        let code = if (400..700).contains(&code) {
            code
        } else {
            603
        };
        let resp = Response::to_request(&invite.method, &invite.headers, code, Some(local_tag));
        let branch = branch.clone();
        self.respond_server(now, &branch, &resp);
        self.end(handle, EndReason::Declined(code), Some(code));
        Ok(())
    }

    /// Ends a call whatever its state: CANCEL, decline with 603, or BYE.
    pub fn hangup(&mut self, now: Instant, handle: CallHandle) -> Result<(), UaError> {
        let idx = self.call_index(handle)?;
        match &mut self.calls[idx].state {
            CallState::Calling {
                cancel,
                provisional,
                ..
            } => {
                if !matches!(cancel, CancelState::None) {
                    return Ok(());
                }
                *cancel = CancelState::Pending;
                if *provisional {
                    self.send_cancel(now, handle);
                }
                Ok(())
            }
            CallState::Incoming { .. } => self.reject(now, handle, 603),
            CallState::Answering { .. } | CallState::Confirmed { .. } => {
                self.send_bye(now, handle, EndReason::LocalHangup);
                Ok(())
            }
            CallState::Terminating => Ok(()),
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
                        let text = resp.status.text().unwrap_or("Bad Request");
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
        for (tx, owner) in &mut self.clients {
            if tx.next_timeout().is_some_and(|t| t <= now) {
                if let Some(ev) = tx.on_timeout(now, &mut out) {
                    fired.push((*owner, tx.request.clone(), ev));
                }
            }
        }
        for tx in &mut self.servers {
            if tx.next_timeout().is_some_and(|t| t <= now) {
                tx.on_timeout(now, &mut out);
            }
        }
        self.transmits.extend(out);
        for (owner, req, ev) in fired {
            self.client_event(now, owner, Some(req), ev);
        }
        self.call_timers(now);
        if self.want_registered && self.reg.next_timeout().is_some_and(|t| t <= now) {
            self.send_register(now, false);
        }
        self.collect_garbage();
    }

    // ---- internals: requests out ----

    fn aor_name_addr(&self) -> String {
        let uri = format!("sip:{}@{}", self.cfg.user, self.cfg.domain);
        match &self.cfg.display_name {
            Some(name) if !name.is_empty() => {
                format!("\"{}\" <{uri}>", name.replace(['"', '\\'], ""))
            }
            _ => format!("<{uri}>"),
        }
    }

    fn contact_uri(&self) -> String {
        format!(
            "sip:{}@{};transport={}",
            self.contact_user,
            self.via_host,
            self.cfg.transport.uri_param()
        )
    }

    /// Contact for dialog-forming requests and responses: `;ob` (RFC 5626 §5.4, RFC 7118).
    fn dialog_contact(&self) -> String {
        format!("<{};ob>", self.contact_uri())
    }

    fn target_uri(&self, target: &str) -> Result<SipUri, UaError> {
        let t = target.trim();
        let text = if t.starts_with("sip:") || t.starts_with("sips:") {
            t.to_owned()
        } else if t.contains(':') && !t.contains('@') {
            return Err(UaError::InvalidUri(target.to_owned()));
        } else if t.contains('@') {
            format!("sip:{t}")
        } else {
            format!("sip:{t}@{}", self.cfg.domain)
        };
        let bad = || UaError::InvalidUri(target.to_owned());
        if t.is_empty() || text.contains(char::is_whitespace) {
            return Err(bad());
        }
        SipUri::from_str(&text).map_err(|_| bad())
    }

    #[allow(clippy::too_many_arguments)]
    fn new_request(
        &mut self,
        method: Method,
        uri: SipUri,
        from: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
        routes: &[String],
    ) -> Request {
        let mut headers = Headers::new();
        // The branch is filled in when the transaction starts.
        headers.insert(Name::VIA, String::new());
        headers.insert(Name::MAX_FORWARDS, "70");
        for r in routes {
            headers.insert(Name::ROUTE, r.clone());
        }
        headers.insert(Name::FROM, from.to_owned());
        headers.insert(Name::TO, to.to_owned());
        headers.insert(Name::CALL_ID, call_id.to_owned());
        headers.insert(Name::CSEQ, format!("{cseq} {method}"));
        headers.insert(Name::USER_AGENT, self.cfg.user_agent.clone());
        Request {
            method,
            uri,
            headers,
            body: Bytes::new(),
        }
    }

    /// Gives the request a fresh branch and starts a client transaction for it.
    fn send_client(&mut self, now: Instant, mut req: Request, owner: Owner) -> String {
        let branch = format!("z9hG4bK{}", self.ids.hex(16));
        let via = format!(
            "SIP/2.0/{} {};branch={branch}",
            self.cfg.transport.via(),
            self.via_host
        );
        set_header(&mut req.headers, Name::VIA, via);
        let mut out = Vec::new();
        let tx = ClientTx::start(
            now,
            branch.clone(),
            req,
            self.cfg.transport.reliable(),
            &mut out,
        );
        self.transmits.extend(out);
        self.clients.push((tx, owner));
        branch
    }

    fn send_register(&mut self, now: Instant, unregister: bool) {
        if let RegState::Pending { branch, .. } = &self.reg.state {
            let branch = branch.clone();
            self.clients.retain(|(t, _)| t.branch != branch);
        }
        self.reg.cseq += 1;
        let aor = self.aor_name_addr();
        let uri = SipUri::from_str(&format!("sip:{}", self.cfg.domain)).unwrap_or_else(|_| {
            // The domain was validated when the config was built; fall back to a literal.
            SipUri::from_str("sip:invalid.invalid").expect("literal URI parses")
        });
        let from = format!("{aor};tag={}", self.ids.hex(10));
        let call_id = self.reg.call_id.clone();
        let mut req = self.new_request(
            Method::REGISTER,
            uri,
            &from,
            &aor,
            &call_id,
            self.reg.cseq,
            &[],
        );
        let expires = if unregister { 0 } else { self.reg.expires };
        req.headers.insert(
            Name::CONTACT,
            format!(
                "<{}>;+sip.instance=\"<{}>\";reg-id=1;expires={expires}",
                self.contact_uri(),
                self.cfg.instance_id
            ),
        );
        req.headers.insert(Name::EXPIRES, expires.to_string());
        req.headers.insert(Name::SUPPORTED, "path, outbound, gruu");
        req.headers.insert(Name::ALLOW, ALLOW);
        self.reg.auth.authorize(&mut req);
        let branch = self.send_client(now, req, Owner::Register);
        self.reg.state = RegState::Pending { branch, unregister };
    }

    fn send_cancel(&mut self, now: Instant, handle: CallHandle) {
        let Some(call) = self.calls.iter_mut().find(|c| c.handle == handle) else {
            return;
        };
        let CallState::Calling { branch, cancel, .. } = &mut call.state else {
            return;
        };
        *cancel = CancelState::Sent;
        let Some((tx, _)) = self.clients.iter().find(|(t, _)| &t.branch == branch) else {
            return;
        };
        // RFC 3261 §9.1: same Request-URI, Call-ID, To, From, CSeq number, top Via and Route.
        let inv = &tx.request;
        let mut headers = Headers::new();
        for name in [Name::VIA, Name::ROUTE, Name::FROM, Name::TO, Name::CALL_ID] {
            for v in inv
                .headers
                .get_raw(&name)
                .take(if name == Name::VIA { 1 } else { usize::MAX })
            {
                headers.insert(name.clone(), v.clone());
            }
        }
        let seq = inv.cseq().map_or(1, |c| c.cseq);
        headers.insert(Name::CSEQ, format!("{seq} CANCEL"));
        headers.insert(Name::MAX_FORWARDS, "70");
        let req = Request {
            method: Method::CANCEL,
            uri: inv.uri.clone(),
            headers,
            body: Bytes::new(),
        };
        let mut out = Vec::new();
        let branch = tx.branch.clone();
        let tx = ClientTx::start(now, branch, req, self.cfg.transport.reliable(), &mut out);
        self.transmits.extend(out);
        self.clients.push((tx, Owner::Cancel));
    }

    /// Builds an in-dialog request (RFC 3261 §12.2.1.1).
    fn dialog_request(&mut self, dialog: &mut Dialog, method: Method, seq: u32) -> Request {
        let routes = dialog.route_set.clone();
        let mut req = self.new_request(
            method,
            dialog.remote_target.clone(),
            &dialog.local,
            &dialog.remote,
            &dialog.call_id.clone(),
            seq,
            &routes,
        );
        if req.method == Method::INVITE {
            req.headers.insert(Name::CONTACT, self.dialog_contact());
        }
        req
    }

    fn send_bye(&mut self, now: Instant, handle: CallHandle, reason: EndReason) {
        let Ok(idx) = self.call_index(handle) else {
            return;
        };
        let state = std::mem::replace(&mut self.calls[idx].state, CallState::Terminating);
        let mut dialog = match state {
            CallState::Answering { dialog, .. } | CallState::Confirmed { dialog, .. } => dialog,
            other => {
                self.calls[idx].state = other;
                return;
            }
        };
        let seq = dialog.next_seq();
        // No credentials up front: the INVITE's digest is for INVITE, not BYE. A proxy that
        // challenges the BYE gets a fresh answer below (Owner::Bye).
        let bye = self.dialog_request(&mut dialog, Method::BYE, seq);
        self.calls[idx].ending = Some(reason);
        self.send_client(now, bye, Owner::Bye(handle));
    }

    fn respond_server(&mut self, now: Instant, branch: &str, resp: &Response) {
        let mut out = Vec::new();
        if let Some(tx) = self.servers.iter_mut().find(|t| t.branch == branch) {
            tx.respond(now, resp, &mut out);
        } else {
            out.push(resp.to_bytes());
        }
        self.transmits.extend(out);
    }

    /// Responds statelessly-in-a-transaction: creates the server transaction if needed.
    fn reply(&mut self, now: Instant, req: &Request, code: u16, extra: &[(Name, String)]) {
        let mut resp = Response::to_request(&req.method, &req.headers, code, None);
        if code >= 200 && req.header_to().is_some_and(|t| t.tag.is_none()) {
            let tag = self.ids.hex(10);
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

    fn on_response(&mut self, now: Instant, resp: Response) {
        let (Some(branch), Some(cseq)) = (resp.top_branch(), resp.cseq()) else {
            return;
        };
        let Some(idx) = self
            .clients
            .iter()
            .position(|(t, _)| t.branch == branch && t.request.method == cseq.method)
        else {
            tracing::debug!(code = resp.code(), "response matches no transaction");
            return;
        };
        let mut out = Vec::new();
        let (tx, owner) = &mut self.clients[idx];
        let owner = *owner;
        let request = tx.request.clone();
        let event = tx.on_response(now, resp, &mut out);
        self.transmits.extend(out);
        if let Some(event) = event {
            self.client_event(now, owner, Some(request), event);
        }
        self.collect_garbage();
    }

    /// A client transaction reports a response (or timeout, as 408) to its owner.
    fn client_event(&mut self, now: Instant, owner: Owner, req: Option<Request>, ev: ClientEvent) {
        match owner {
            Owner::Register => self.on_register_result(now, req, ev),
            Owner::Invite(h) => self.on_invite_result(now, h, req, ev),
            Owner::Bye(h) => {
                if matches!(&ev, ClientEvent::Response(r) if r.code() < 200) {
                    return;
                }
                if let ClientEvent::Response(r) = &ev {
                    if matches!(r.code(), 401 | 407) {
                        if let (Some(req), Ok(idx)) = (req, self.call_index(h)) {
                            if self.calls[idx].auth.handle_challenge(&req, r) == Challenge::Retry {
                                let mut bye = req;
                                bump_cseq(&mut bye);
                                self.calls[idx].auth.authorize(&mut bye);
                                self.send_client(now, bye, Owner::Bye(h));
                                return;
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
                    ClientEvent::Timeout => Some(408),
                };
                self.end(h, reason, status);
            }
            Owner::Cancel => {}
        }
    }

    fn on_register_result(&mut self, now: Instant, req: Option<Request>, ev: ClientEvent) {
        let RegState::Pending { unregister, .. } = self.reg.state else {
            return;
        };
        let resp = match ev {
            ClientEvent::Timeout => {
                return self.registration_failed(now, SipError::Timeout, Some(408), true)
            }
            ClientEvent::Response(r) if r.code() < 200 => return,
            ClientEvent::Response(r) => r,
        };
        let code = resp.code();
        match code {
            200..=299 if unregister => {
                self.reg.state = RegState::Idle;
                self.events.push_back(UaEvent::Unregistered);
            }
            200..=299 => {
                self.reg.auth.accepted();
                let expires =
                    registration::granted_expires(&resp, &self.via_host, self.reg.expires);
                if expires == 0 {
                    return self.registration_failed(
                        now,
                        SipError::Rejected(code),
                        Some(code),
                        true,
                    );
                }
                self.reg.state = RegState::Registered {
                    refresh_at: now + registration::refresh_delay(expires),
                };
                self.events.push_back(UaEvent::Registered { expires });
            }
            401 | 407 => {
                let Some(req) = req else { return };
                match self.reg.auth.handle_challenge(&req, &resp) {
                    Challenge::Retry => self.send_register(now, unregister),
                    Challenge::Rejected => {
                        self.registration_failed(now, SipError::AuthFailed, Some(code), false)
                    }
                    Challenge::Unsupported(why) => self.registration_failed(
                        now,
                        SipError::AuthUnsupported(why),
                        Some(code),
                        false,
                    ),
                }
            }
            423 => match registration::min_expires(&resp) {
                Some(min) if min > self.reg.expires && !unregister => {
                    self.reg.expires = min;
                    self.send_register(now, false);
                }
                _ => self.registration_failed(now, SipError::Rejected(code), Some(code), false),
            },
            _ => {
                let transient = code >= 500 || code == 408;
                self.registration_failed(now, SipError::Rejected(code), Some(code), transient)
            }
        }
    }

    fn registration_failed(
        &mut self,
        now: Instant,
        error: SipError,
        status: Option<u16>,
        retry: bool,
    ) {
        let unregistering = matches!(
            self.reg.state,
            RegState::Pending {
                unregister: true,
                ..
            }
        );
        let retry_at =
            (retry && self.want_registered).then(|| now + registration::RETRY_AFTER_FAILURE);
        self.reg.state = RegState::Failed { retry_at };
        if unregistering {
            // An unregister that fails still ends our interest in the binding.
            self.events.push_back(UaEvent::Unregistered);
        } else {
            self.events
                .push_back(UaEvent::RegistrationFailed { error, status });
        }
    }

    fn on_invite_result(
        &mut self,
        now: Instant,
        h: CallHandle,
        req: Option<Request>,
        ev: ClientEvent,
    ) {
        let Ok(idx) = self.call_index(h) else { return };
        let resp = match ev {
            ClientEvent::Timeout => {
                if matches!(self.calls[idx].state, CallState::Calling { .. }) {
                    self.end(h, EndReason::Failed(SipError::Timeout), Some(408));
                }
                return;
            }
            ClientEvent::Response(r) => r,
        };
        let code = resp.code();
        self.calls[idx].last_status = Some(code);
        let call = &mut self.calls[idx];
        match (&mut call.state, code) {
            (
                CallState::Calling {
                    provisional,
                    cancel,
                    ..
                },
                100..=199,
            ) => {
                let first = !*provisional;
                *provisional = true;
                let cancel_now = first && matches!(cancel, CancelState::Pending);
                if code > 100 {
                    let sdp = (!resp.body.is_empty()).then(|| resp.body.clone());
                    self.events.push_back(UaEvent::Ringing {
                        call: h,
                        status: code,
                        sdp,
                    });
                }
                if cancel_now {
                    self.send_cancel(now, h);
                }
            }
            (
                CallState::Calling {
                    local_tag, cancel, ..
                },
                200..=299,
            ) => {
                let cancelled = !matches!(cancel, CancelState::None);
                let Some(req) = req else { return };
                let Some(mut dialog) = Dialog::as_uac(&req, &resp, local_tag) else {
                    // A 2xx we can't build a dialog from (no Contact or To tag): ACK is
                    // impossible to route; give up on the call.
                    self.end(h, EndReason::Failed(SipError::Malformed), Some(code));
                    return;
                };
                let seq = dialog.local_seq;
                let mut ack = self.dialog_request(&mut dialog, Method::ACK, seq);
                // RFC 3261 §22.1: the ACK for a 2xx carries the INVITE's credentials.
                for name in [Name::AUTHORIZATION, Name::PROXY_AUTHORIZATION] {
                    for v in req.headers.get_raw(&name) {
                        ack.headers.insert(name.clone(), v.clone());
                    }
                }
                let branch = format!("z9hG4bK{}", self.ids.hex(16));
                set_header(
                    &mut ack.headers,
                    Name::VIA,
                    format!(
                        "SIP/2.0/{} {};branch={branch}",
                        self.cfg.transport.via(),
                        self.via_host
                    ),
                );
                let wire = ack.to_bytes();
                self.transmits.push_back(wire.clone());
                let Ok(idx) = self.call_index(h) else { return };
                self.calls[idx].state = CallState::Confirmed {
                    dialog,
                    ack: Some(wire),
                };
                if cancelled {
                    // CANCEL lost the race with 200 OK (RFC 3261 §9.1): end with BYE.
                    self.send_bye(now, h, EndReason::Cancelled);
                } else {
                    self.events.push_back(UaEvent::Answered {
                        call: h,
                        sdp: resp.body.clone(),
                    });
                }
            }
            (CallState::Confirmed { ack, .. }, 200..=299) => {
                // 2xx retransmission: our ACK was lost.
                self.transmits.extend(ack.clone());
            }
            (
                CallState::Calling {
                    cancel: CancelState::None,
                    ..
                },
                401 | 407,
            ) => {
                let Some(req) = req else { return };
                match call.auth.handle_challenge(&req, &resp) {
                    Challenge::Retry => {
                        let mut invite = req;
                        bump_cseq(&mut invite);
                        call.auth.authorize(&mut invite);
                        let branch = self.send_client(now, invite, Owner::Invite(h));
                        if let Ok(idx) = self.call_index(h) {
                            if let CallState::Calling {
                                branch: b,
                                provisional,
                                ..
                            } = &mut self.calls[idx].state
                            {
                                *b = branch;
                                *provisional = false;
                            }
                        }
                    }
                    Challenge::Rejected => {
                        self.end(h, EndReason::Failed(SipError::AuthFailed), Some(code))
                    }
                    Challenge::Unsupported(why) => self.end(
                        h,
                        EndReason::Failed(SipError::AuthUnsupported(why)),
                        Some(code),
                    ),
                }
            }
            (CallState::Calling { cancel, .. }, 300..=699) => {
                let reason = if code == 487 && !matches!(cancel, CancelState::None) {
                    EndReason::Cancelled
                } else {
                    EndReason::Rejected(code)
                };
                self.end(h, reason, Some(code));
            }
            _ => {}
        }
    }

    // ---- internals: requests in ----

    fn on_request(&mut self, now: Instant, req: Request) {
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
            Method::OPTIONS => self.reply(now, &req, 200, &options_headers()),
            // A BYE without a To tag matches no dialog (RFC 3261 §15.1.2).
            Method::BYE => self.reply(now, &req, 481, &[]),
            // RFC 3261 §8.2.1: 405 for a method we know but don't allow, 501 for one we don't
            // know at all (RFC 4475 §3.1.1.2 and §3.1.1.5 expect 501 for the unknown ones).
            ref m if KNOWN_METHODS.contains(m) => {
                self.reply(now, &req, 405, &[(Name::ALLOW, ALLOW.into())])
            }
            _ => self.reply(now, &req, 501, &[(Name::ALLOW, ALLOW.into())]),
        }
    }

    fn on_ack(&mut self, now: Instant, req: &Request, branch: &str) {
        if let Some(tx) = self
            .servers
            .iter_mut()
            .find(|t| t.branch == branch && t.request.method == Method::INVITE && t.is_final())
        {
            tx.on_ack(now);
            return;
        }
        for call in &mut self.calls {
            if let CallState::Answering { dialog, .. } = &call.state {
                if dialog.matches(req) {
                    let CallState::Answering { dialog, .. } =
                        std::mem::replace(&mut call.state, CallState::Terminating)
                    else {
                        unreachable!("matched Answering just above")
                    };
                    call.state = CallState::Confirmed { dialog, ack: None };
                    return;
                }
            }
        }
    }

    fn on_cancel(&mut self, now: Instant, req: &Request, branch: &str) {
        let pending = self.servers.iter().position(|t| {
            t.branch == branch && t.request.method == Method::INVITE && !t.is_final()
        });
        let Some(idx) = pending else {
            return self.reply(now, req, 481, &[]);
        };
        self.reply(now, req, 200, &[]);
        let invite_branch = self.servers[idx].branch.clone();
        let call = self.calls.iter().find_map(|c| match &c.state {
            CallState::Incoming {
                branch,
                invite,
                local_tag,
            } if *branch == invite_branch => Some((c.handle, invite.clone(), local_tag.clone())),
            _ => None,
        });
        if let Some((handle, invite, tag)) = call {
            let resp = Response::to_request(&invite.method, &invite.headers, 487, Some(&tag));
            self.respond_server(now, &invite_branch, &resp);
            self.end(handle, EndReason::RemoteCancelled, Some(487));
        }
    }

    fn on_invite(&mut self, now: Instant, req: Request, branch: String) {
        if req.body.is_empty() {
            // Offerless INVITEs (late offer) are not supported yet.
            return self.reply(now, &req, 488, &[]);
        }
        let handle = CallHandle(self.next_call);
        self.next_call += 1;
        let local_tag = self.ids.hex(10);
        let mut tx = ServerTx::new(branch.clone(), req.clone(), self.cfg.transport.reliable());
        let mut out = Vec::new();
        tx.respond(
            now,
            &Response::to_request(&req.method, &req.headers, 100, None),
            &mut out,
        );
        self.transmits.extend(out);
        self.servers.push(tx);
        let from = req.raw(&Name::FROM).unwrap_or_default().to_owned();
        let offer = req.body.clone();
        self.calls.push(Call {
            handle,
            call_id: req.call_id().to_owned(),
            state: CallState::Incoming {
                branch,
                invite: req,
                local_tag,
            },
            auth: Authenticator::new(&self.cfg.credentials),
            local_sdp: Bytes::new(),
            ending: None,
            last_status: None,
            ended: false,
        });
        self.events.push_back(UaEvent::IncomingCall {
            call: handle,
            from,
            offer,
        });
    }

    fn on_in_dialog(&mut self, now: Instant, req: Request) {
        let found = self.calls.iter_mut().find_map(|c| match &mut c.state {
            CallState::Answering { dialog, .. } | CallState::Confirmed { dialog, .. }
                if dialog.matches(&req) =>
            {
                Some((
                    c.handle,
                    dialog.accept_remote_seq(&req),
                    c.local_sdp.clone(),
                ))
            }
            _ => None,
        });
        let Some((handle, in_order, local_sdp)) = found else {
            return self.reply(now, &req, 481, &[]);
        };
        if !in_order {
            return self.reply(now, &req, 500, &[]);
        }
        match req.method {
            Method::BYE => {
                self.reply(now, &req, 200, &[]);
                self.end(handle, EndReason::RemoteHangup, None);
            }
            Method::INVITE => {
                // Session refresh or new offer: keep our media as it is (hold comes later).
                let mut extra = vec![(Name::CONTACT, self.dialog_contact())];
                extra.push((Name::CONTENT_TYPE, "application/sdp".into()));
                let mut resp = Response::to_request(&req.method, &req.headers, 200, None);
                for (n, v) in extra {
                    resp.headers.insert(n, v);
                }
                resp.body = local_sdp;
                let branch = req.top_branch().unwrap_or_default();
                let mut tx = ServerTx::new(branch, req.clone(), self.cfg.transport.reliable());
                let mut out = Vec::new();
                tx.respond(now, &resp, &mut out);
                self.transmits.extend(out);
                self.servers.push(tx);
                if !req.body.is_empty() {
                    self.events.push_back(UaEvent::RemoteSdp {
                        call: handle,
                        sdp: req.body,
                    });
                }
            }
            Method::OPTIONS | Method::INFO => self.reply(now, &req, 200, &options_headers()),
            _ => self.reply(now, &req, 501, &[(Name::ALLOW, ALLOW.into())]),
        }
    }

    // ---- internals: bookkeeping ----

    fn call_timers(&mut self, now: Instant) {
        let mut give_up = Vec::new();
        for call in &mut self.calls {
            if let CallState::Answering {
                ok,
                retransmit_at,
                interval,
                give_up_at,
                ..
            } = &mut call.state
            {
                if *give_up_at <= now {
                    give_up.push(call.handle);
                } else if *retransmit_at <= now {
                    self.transmits.push_back(ok.clone());
                    *interval = (*interval * 2).min(T2);
                    *retransmit_at = now + *interval;
                }
            }
        }
        for h in give_up {
            // RFC 3261 §13.3.1.4: no ACK in 64*T1 ends the session with a BYE.
            self.send_bye(now, h, EndReason::Failed(SipError::NoAck));
        }
    }

    fn end(&mut self, handle: CallHandle, reason: EndReason, status: Option<u16>) {
        if let Some(call) = self.calls.iter_mut().find(|c| c.handle == handle) {
            if call.ended {
                return;
            }
            call.ended = true;
            let status = status.or(call.last_status);
            tracing::debug!(call = %handle, call_id = %call.call_id.len(), "call ended");
            self.events.push_back(UaEvent::Ended {
                call: handle,
                reason,
                status,
            });
        }
    }

    fn collect_garbage(&mut self) {
        self.clients.retain(|(t, _)| !t.is_terminated());
        self.servers.retain(|t| !t.is_terminated());
        self.calls.retain(|c| !c.ended);
    }

    fn call_index(&self, handle: CallHandle) -> Result<usize, UaError> {
        self.calls
            .iter()
            .position(|c| c.handle == handle && !c.ended)
            .ok_or(UaError::NoSuchCall)
    }

    fn call_mut(&mut self, handle: CallHandle) -> Result<&mut Call, UaError> {
        let idx = self.call_index(handle)?;
        Ok(&mut self.calls[idx])
    }
}

fn options_headers() -> Vec<(Name, String)> {
    vec![
        (Name::ALLOW, ALLOW.into()),
        (Name::ACCEPT, "application/sdp".into()),
        (Name::SUPPORTED, "outbound".into()),
    ]
}

fn set_header(headers: &mut Headers, name: Name, value: String) {
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

fn bump_cseq(req: &mut Request) {
    let seq = req.cseq().map_or(1, |c| c.cseq + 1);
    set_header(
        &mut req.headers,
        Name::CSEQ,
        format!("{seq} {}", req.method),
    );
}

fn uri_string(uri: &SipUri, method: &Method) -> String {
    use ezk_sip_types::print::{AppendCtx, PrintCtx};
    uri.print_ctx(PrintCtx {
        method: Some(method),
        uri: None,
    })
    .to_string()
}
