//! A fake registrar and proxy for scenario tests: RFC 3261 §10.3 registration with digest
//! authentication (§22.4, RFC 2617 qop=auth over MD5), 423 Interval Too Brief, a binding table
//! with expiry; and a stateless proxy (§16.11) that forwards between registered UAs, adds
//! Record-Route to dialog-forming INVITEs, routes in-dialog requests by Route and
//! Request-URI, and can demand proxy authentication (407) for INVITE.
//!
//! Sans-IO like the UA: [`FakeProxy::handle`] takes one message from a node and returns what
//! to send to whom. It keeps just enough state for the scenarios: bindings, the nodes UAs send
//! from (their flows, RFC 5626), the nonces it issued and where to send responses back.

use crate::net::Node;
use bytes::Bytes;
use ezk_sip_types::uri::{SipUri, SipUriUserPart};
use ezk_sip_types::{Method, Name};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::{Duration, Instant};
use wren_sip::message::{parse, HeadersExt, Message, Request, Response};
use wren_sip::{Branch, StatusCode, Tag};

/// What the proxy serves and demands.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The SIP domain of the AoRs it registers (`alice@<domain>`).
    pub domain: String,
    /// Its own host, in its Via and Record-Route.
    pub host: String,
    pub realm: String,
    /// Username → password. When any are set, every REGISTER must authenticate.
    pub users: BTreeMap<String, String>,
    /// Refuse shorter registrations with 423 (RFC 3261 §10.3 step 7).
    pub min_expires: Option<u32>,
    /// Longest expiry granted; longer requests are cut down.
    pub max_expires: u32,
    /// Demand Proxy-Authorization on dialog-forming INVITEs (407).
    pub challenge_invites: bool,
}

impl ProxyConfig {
    pub fn new(domain: &str) -> Self {
        Self {
            domain: domain.to_owned(),
            host: format!("proxy.{domain}"),
            realm: domain.to_owned(),
            users: BTreeMap::new(),
            min_expires: None,
            max_expires: 3600,
            challenge_invites: false,
        }
    }

    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.insert(name.to_owned(), password.to_owned());
        self
    }
}

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The contact URI, without angle brackets or header parameters.
    pub contact: String,
    /// The node (flow) the REGISTER came from: requests for the AoR go there.
    pub node: Node,
    pub expires_at: Instant,
}

/// Counters the scenarios assert on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// REGISTERs received (including challenged ones).
    pub registers: u32,
    /// Registrations that were accepted while the previous binding was still alive.
    pub refreshes: u32,
    /// Registrations that arrived after the previous binding had already expired.
    pub lapses: u32,
    /// 401s and 407s sent.
    pub challenges: u32,
    /// Authorization headers whose digest did not verify.
    pub bad_digests: u32,
    /// Requests forwarded to a UA.
    pub forwarded: u32,
}

/// The fake registrar/proxy.
#[derive(Debug)]
pub struct FakeProxy {
    cfg: ProxyConfig,
    bindings: BTreeMap<String, Binding>,
    /// Host a UA puts in its Via (and Contact) → the node it sends from.
    flows: BTreeMap<String, Node>,
    nonces: BTreeSet<String>,
    counter: u64,
    /// Our Via branch → the node the request came from, for routing responses back.
    back: BTreeMap<Branch, Node>,
    /// Branches of INVITEs we answered with 407 ourselves: their ACK ends here.
    challenged: BTreeSet<Branch>,
    /// Branches of requests we sent ourselves (OPTIONS).
    own: BTreeSet<Branch>,
    /// Responses to our own requests.
    answers: Vec<Response>,
    stats: ProxyStats,
}

impl FakeProxy {
    pub fn new(cfg: ProxyConfig) -> Self {
        Self {
            cfg,
            bindings: BTreeMap::new(),
            flows: BTreeMap::new(),
            nonces: BTreeSet::new(),
            counter: 0,
            back: BTreeMap::new(),
            challenged: BTreeSet::new(),
            own: BTreeSet::new(),
            answers: Vec::new(),
            stats: ProxyStats::default(),
        }
    }

    pub fn config(&self) -> &ProxyConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }

    /// The live binding of `aor` (`user@domain`) at `now`.
    pub fn binding(&self, aor: &str, now: Instant) -> Option<&Binding> {
        self.bindings.get(aor).filter(|b| b.expires_at > now)
    }

    /// Responses to requests the proxy sent itself.
    pub fn answers(&self) -> &[Response] {
        &self.answers
    }

    /// Feeds one message that `from` sent; returns what to send and to whom.
    pub fn handle(&mut self, now: Instant, from: Node, data: &[u8]) -> Vec<(Node, Bytes)> {
        // A real proxy answers malformed requests with 400; the scenarios never send any.
        match parse(data) {
            Ok(Message::Request(req)) => {
                if let Some(host) = req.vias().first().map(|v| v.sent_by.host.to_string()) {
                    self.flows.insert(host, from);
                }
                self.on_request(now, from, req)
            }
            Ok(Message::Response(resp)) => self.on_response(resp),
            Err(_) => Vec::new(),
        }
    }

    /// Sends OPTIONS to the contact registered for `aor` (a registrar's keep-alive check).
    pub fn options(&mut self, now: Instant, aor: &str) -> Option<(Node, Bytes)> {
        let binding = self.binding(aor, now)?.clone();
        let n = self.next();
        let branch = format!("z9hG4bKopt{n}");
        let text = format!(
            "OPTIONS {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {host};branch={branch}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:proxy@{domain}>;tag=p{n}\r\nTo: <sip:{aor}>\r\n\
             Call-ID: options-{n}@{host}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            contact = binding.contact,
            host = self.cfg.host,
            domain = self.cfg.domain,
        );
        let Ok(Message::Request(req)) = parse(text.as_bytes()) else {
            panic!("the proxy's own OPTIONS must parse:\n{text}")
        };
        self.own.insert(Branch::new(branch));
        Some((binding.node, req.to_bytes()))
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn reply(
        &mut self,
        to: Node,
        req: &Request,
        code: u16,
        extra: &[(Name, String)],
    ) -> (Node, Bytes) {
        let tag = (code >= 200 && req.header_to().is_some_and(|t| t.tag.is_none()))
            .then(|| Tag::new(format!("p{}", self.next())));
        let code = StatusCode::new(code);
        let mut resp = Response::to_request(&req.method, &req.headers, code, tag.as_ref());
        for (name, value) in extra {
            resp.headers.insert(name.clone(), value.clone());
        }
        (to, resp.to_bytes())
    }

    fn on_request(&mut self, now: Instant, from: Node, req: Request) -> Vec<(Node, Bytes)> {
        let branch = req.top_branch().unwrap_or_default();
        if req.method == Method::REGISTER {
            return vec![self.register(now, from, &req)];
        }
        if req.method == Method::ACK && self.challenged.contains(&branch) {
            return Vec::new(); // ACK for our own 407: hop-by-hop, it ends here.
        }
        self.forward(now, from, req, branch)
    }

    // ---- registrar ----

    fn register(&mut self, now: Instant, from: Node, req: &Request) -> (Node, Bytes) {
        self.stats.registers += 1;
        if !self.cfg.users.is_empty() && !self.authorized(req, &Name::AUTHORIZATION) {
            return self.challenge(from, req, 401);
        }
        let Some(aor) = req.header_to().and_then(|t| aor_of(&t.uri.uri)) else {
            return self.reply(from, req, 400, &[]);
        };
        let contact = req.raw(&Name::CONTACT).map(str::to_owned);
        let Some(contact) = contact else {
            // A fetch: report the current binding.
            let extra = self.contact_header(&aor, now);
            return self.reply(from, req, 200, &extra);
        };
        let expires = param(&contact, "expires")
            .or_else(|| req.raw(&Name::EXPIRES).map(|v| v.trim().to_owned()))
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(3600);
        if expires == 0 {
            self.bindings.remove(&aor);
            return self.reply(from, req, 200, &[]);
        }
        if let Some(min) = self.cfg.min_expires.filter(|min| expires < *min) {
            return self.reply(from, req, 423, &[(Name::MIN_EXPIRES, min.to_string())]);
        }
        let granted = expires.min(self.cfg.max_expires);
        match self.bindings.get(&aor) {
            Some(old) if old.expires_at <= now => self.stats.lapses += 1,
            Some(_) => self.stats.refreshes += 1,
            None => {}
        }
        let uri = contact_uri(&contact);
        self.bindings.insert(
            aor.clone(),
            Binding {
                contact: uri,
                node: from,
                expires_at: now + Duration::from_secs(granted.into()),
            },
        );
        let extra = self.contact_header(&aor, now);
        self.reply(from, req, 200, &extra)
    }

    fn contact_header(&self, aor: &str, now: Instant) -> Vec<(Name, String)> {
        self.binding(aor, now)
            .map(|b| {
                let left = b.expires_at.saturating_duration_since(now).as_secs();
                vec![(Name::CONTACT, format!("<{}>;expires={left}", b.contact))]
            })
            .unwrap_or_default()
    }

    fn challenge(&mut self, to: Node, req: &Request, code: u16) -> (Node, Bytes) {
        self.stats.challenges += 1;
        let nonce = format!("{:016x}", 0x5eed_0000_0000 + self.next());
        self.nonces.insert(nonce.clone());
        let name = if code == 407 {
            Name::PROXY_AUTHENTICATE
        } else {
            Name::WWW_AUTHENTICATE
        };
        let value = format!(
            "Digest realm=\"{}\", nonce=\"{nonce}\", qop=\"auth\", algorithm=MD5",
            self.cfg.realm
        );
        self.reply(to, req, code, &[(name, value)])
    }

    /// Whether `req` carries a digest response (RFC 2617 §3.2.2, qop=auth) that verifies
    /// against one of our nonces and the user's password.
    fn authorized(&mut self, req: &Request, header: &Name) -> bool {
        let Some(value) = req.raw(header) else {
            return false;
        };
        let ok = self.verify(req, value);
        if !ok {
            self.stats.bad_digests += 1;
        }
        ok
    }

    fn verify(&self, req: &Request, value: &str) -> bool {
        let Some(params) = value.trim().strip_prefix("Digest") else {
            return false;
        };
        let params = digest_params(params);
        let get = |k: &str| params.get(k).map(String::as_str);
        let (Some(user), Some(realm), Some(nonce), Some(uri), Some(response)) = (
            get("username"),
            get("realm"),
            get("nonce"),
            get("uri"),
            get("response"),
        ) else {
            return false;
        };
        let Some(password) = self.cfg.users.get(user) else {
            return false;
        };
        if realm != self.cfg.realm || !self.nonces.contains(nonce) {
            return false;
        }
        if !get("algorithm").is_none_or(|a| a.eq_ignore_ascii_case("MD5")) {
            return false;
        }
        let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
        let ha2 = md5_hex(&format!("{}:{uri}", req.method));
        let expected = match (get("qop"), get("nc"), get("cnonce")) {
            (Some("auth"), Some(nc), Some(cnonce)) => {
                md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
            }
            (None, _, _) => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
            _ => return false,
        };
        expected.eq_ignore_ascii_case(response)
    }

    // ---- proxy ----

    fn forward(
        &mut self,
        now: Instant,
        from: Node,
        mut req: Request,
        branch: Branch,
    ) -> Vec<(Node, Bytes)> {
        strip_own_route(&mut req, &self.cfg.host);
        let initial = req.header_to().is_some_and(|t| t.tag.is_none());
        if req.method == Method::INVITE
            && initial
            && self.cfg.challenge_invites
            && !self.authorized(&req, &Name::PROXY_AUTHORIZATION)
        {
            self.challenged.insert(branch);
            return vec![self.challenge(from, &req, 407)];
        }
        let Some((to, uri)) = self.target(now, &req) else {
            if req.method == Method::ACK {
                return Vec::new();
            }
            return vec![self.reply(from, &req, 404, &[])];
        };
        if let Some(uri) = uri {
            match SipUri::from_str(&uri) {
                Ok(uri) => req.uri = uri,
                Err(_) => return vec![self.reply(from, &req, 480, &[])],
            }
        }
        let max_forwards = req
            .raw(&Name::MAX_FORWARDS)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(70);
        if max_forwards == 0 {
            return vec![self.reply(from, &req, 483, &[])];
        }
        set(&mut req, Name::MAX_FORWARDS, (max_forwards - 1).to_string());
        if req.method == Method::INVITE && initial {
            prepend(
                &mut req,
                Name::RECORD_ROUTE,
                format!("<sip:{};lr>", self.cfg.host),
            );
        }
        // RFC 3261 §16.11: a stateless proxy's branch is a function of the incoming one, so
        // retransmissions and the CANCEL of an INVITE get the same branch downstream.
        let ours = format!("z9hG4bKp{}", branch.trim_start_matches("z9hG4bK"));
        let transport = req
            .vias()
            .first()
            .map(|v| v.transport.to_string())
            .unwrap_or_else(|| "UDP".into());
        prepend(
            &mut req,
            Name::VIA,
            format!("SIP/2.0/{transport} {};branch={ours}", self.cfg.host),
        );
        self.back.insert(Branch::new(ours), from);
        self.stats.forwarded += 1;
        vec![(to, req.to_bytes())]
    }

    /// Where a request goes: an AoR of our domain → its binding (and the new Request-URI);
    /// anything else → the node that registered or sent from that host (in-dialog targets).
    fn target(&self, now: Instant, req: &Request) -> Option<(Node, Option<String>)> {
        let host = req.uri.host_port.host.to_string();
        if host.eq_ignore_ascii_case(&self.cfg.domain) {
            let aor = aor_of(&req.uri)?;
            let b = self.binding(&aor, now)?;
            return Some((b.node, Some(b.contact.clone())));
        }
        self.flows.get(&host).map(|n| (*n, None))
    }

    fn on_response(&mut self, mut resp: Response) -> Vec<(Node, Bytes)> {
        let Some(branch) = resp.top_branch() else {
            return Vec::new();
        };
        if self.own.contains(&branch) {
            self.answers.push(resp);
            return Vec::new();
        }
        let Some(&node) = self.back.get(&branch) else {
            return Vec::new();
        };
        let mut vias = resp.headers.remove(&Name::VIA).unwrap_or_default();
        if vias.is_empty() {
            return Vec::new();
        }
        vias.remove(0);
        let mut rest = vias.into_iter();
        if let Some(first) = rest.next() {
            resp.headers.insert_front(Name::VIA, first);
            for v in rest {
                resp.headers.insert(Name::VIA, v);
            }
        }
        vec![(node, resp.to_bytes())]
    }
}

fn md5_hex(s: &str) -> String {
    format!("{:x}", md5::compute(s.as_bytes()))
}

/// `user@host` of a SIP URI.
fn aor_of(uri: &SipUri) -> Option<String> {
    let user = match &uri.user_part {
        SipUriUserPart::User(u) => u.to_string(),
        SipUriUserPart::UserPw(up) => up.user.to_string(),
        SipUriUserPart::Empty => return None,
    };
    Some(format!("{user}@{}", uri.host_port.host))
}

/// The URI inside the first `<...>` of a Contact value, or the value up to its parameters.
fn contact_uri(value: &str) -> String {
    match (value.find('<'), value.find('>')) {
        (Some(start), Some(end)) if start < end => value[start + 1..end].to_owned(),
        _ => value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// A header parameter (after the `>` of a name-addr).
fn param(value: &str, name: &str) -> Option<String> {
    let params = value.rsplit_once('>').map_or(value, |(_, p)| p);
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// `k=v, k="v"` pairs of a digest credentials value (RFC 2617 §3.2.2).
fn digest_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let (mut start, mut quoted) = (0, false);
    let mut items = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&s[start..]);
    for item in items {
        if let Some((k, v)) = item.split_once('=') {
            out.insert(
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_owned(),
            );
        }
    }
    out
}

/// Removes the top Route if it is ours (loose routing, RFC 3261 §16.4).
fn strip_own_route(req: &mut Request, host: &str) {
    let Some(routes) = req.headers.remove(&Name::ROUTE) else {
        return;
    };
    let mut routes = routes.into_iter().peekable();
    if routes.peek().is_some_and(|r| r.contains(host)) {
        routes.next();
    }
    for r in routes {
        req.headers.insert(Name::ROUTE, r);
    }
}

/// Puts `value` first among the values of `name` (ezk's `insert_front` appends to an
/// existing entry).
fn prepend(req: &mut Request, name: Name, value: String) {
    let old = req.headers.remove(&name).unwrap_or_default();
    req.headers.insert_front(name.clone(), value);
    for v in old {
        req.headers.insert(name.clone(), v);
    }
}

fn set(req: &mut Request, name: Name, value: String) {
    req.headers.remove(&name);
    req.headers.insert(name, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_params_split_outside_quotes() {
        let p = digest_params(r#" username="a", realm="r, x", nc=00000001, qop=auth"#);
        assert_eq!(p["username"], "a");
        assert_eq!(p["realm"], "r, x");
        assert_eq!(p["nc"], "00000001");
        assert_eq!(p["qop"], "auth");
    }

    /// RFC 2617 §3.5's worked example, to pin the digest arithmetic.
    #[test]
    fn digest_matches_rfc2617_example() {
        let ha1 = md5_hex("Mufasa:testrealm@host.com:Circle Of Life");
        let ha2 = md5_hex("GET:/dir/index.html");
        let response = md5_hex(&format!(
            "{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{ha2}"
        ));
        assert_eq!(response, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn contact_parts() {
        let c =
            r#"<sip:x@h.invalid;transport=ws>;+sip.instance="<urn:uuid:1>";reg-id=1;expires=600"#;
        assert_eq!(contact_uri(c), "sip:x@h.invalid;transport=ws");
        assert_eq!(param(c, "expires").as_deref(), Some("600"));
        assert_eq!(param(c, "reg-id").as_deref(), Some("1"));
    }
}
