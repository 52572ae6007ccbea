//! SIP messages (RFC 3261 §7): parsing and printing over ezk-sip-types, kept behind our types.
//!
//! One SIP message per WebSocket message (RFC 7118 §5) or datagram, so the parser takes a
//! whole message. A message that fails here never reaches the transaction layer: a request
//! gets a 400 built from whatever headers parsed ([`ParseError::partial`]), a response is
//! dropped.

use crate::wire::{Branch, SipCallId, StatusCode, Tag};
use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::header::typed::{CSeq, CallID, FromTo, MaxForwards, Via};
use ezk_sip_types::header::{ConstNamed, DecodeValues};
use ezk_sip_types::msg::{Line, MessageLine, PullParser, RequestLine, StatusLine};
use ezk_sip_types::parse::Parse;
use ezk_sip_types::print::{AppendCtx, PrintCtx};
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::{Headers, Method, Name, StatusCode as EzkStatus};
use std::fmt::Write as _;

/// Largest message we accept; anything bigger is hostile over WS and never a sane SDP.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// A SIP request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub uri: SipUri,
    pub headers: Headers,
    pub body: Bytes,
}

/// A SIP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub reason: Option<BytesStr>,
    pub headers: Headers,
    pub body: Bytes,
}

/// Either kind of SIP message.
#[derive(Debug, Clone)]
pub enum Message {
    Request(Request),
    Response(Response),
}

/// Why a message was refused; `partial` keeps what a 400 needs.
#[derive(Debug, thiserror::Error)]
#[error("malformed SIP message: {reason}")]
pub struct ParseError {
    pub reason: &'static str,
    /// Method and headers of a request whose start line parsed, so the UA can answer 400.
    pub partial: Option<(Method, Headers)>,
}

/// The one failure answered with 505 instead of 400 (RFC 3261 §8.2.2, RFC 4475 §3.1.2.16).
const UNSUPPORTED_VERSION: &str = "unsupported SIP version";

impl ParseError {
    /// The status a request that failed this way is answered with.
    pub fn status(&self) -> StatusCode {
        if self.reason == UNSUPPORTED_VERSION {
            StatusCode::VERSION_NOT_SUPPORTED
        } else {
            StatusCode::BAD_REQUEST
        }
    }
}

fn fail<T>(reason: &'static str, partial: Option<(Method, Headers)>) -> Result<T, ParseError> {
    Err(ParseError { reason, partial })
}

/// Parses one complete SIP message.
pub fn parse(data: &[u8]) -> Result<Message, ParseError> {
    if data.len() > MAX_MESSAGE_LEN {
        return fail("message too large", None);
    }
    // RFC 3261 §7.5: ignore CRLFs before the start line (keep-alives). The pull parser
    // would read a leading empty line as the end of the head.
    let start = data
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(data.len());
    let src = Bytes::copy_from_slice(&data[start..]);
    let mut lines = PullParser::new(&src, 0);
    let Some(Ok(first)) = lines.next() else {
        return fail("no start line", None);
    };
    let first = std::str::from_utf8(first).or(fail("start line is not UTF-8", None))?;
    let start = start_line(&src, first);
    let method = match &start {
        Ok(line) => line.request_method().cloned(),
        Err((_, method)) => method.clone(),
    };
    if let (Err((reason, _)), None) = (&start, &method) {
        return fail(reason, None);
    }
    let mut headers = Headers::new();
    let mut bad_header = None;
    loop {
        match lines.next() {
            None => break,
            Some(Err(_)) => {
                return fail("truncated message head", method.map(|m| (m, headers)));
            }
            Some(Ok(raw)) => {
                let Ok(text) = std::str::from_utf8(raw) else {
                    bad_header = Some("header is not UTF-8");
                    continue;
                };
                match Line::parse(&src, text) {
                    Ok((_, line)) if !line.name.as_print_str().is_empty() => {
                        let value = BytesStr::from(line.value.as_str().trim_end());
                        headers.insert(line.name, value);
                    }
                    _ => bad_header = Some("bad header line"),
                }
            }
        }
    }
    let head_end = lines.head_end();
    let partial = |headers: &Headers| method.clone().map(|m| (m, headers.clone()));
    let start = match start {
        Ok(start) => start,
        Err((reason, _)) => return fail(reason, partial(&headers)),
    };
    if let Some(reason) = bad_header {
        return fail(reason, partial(&headers));
    }
    let mut body = src.slice(head_end.min(src.len())..);
    // Without Content-Length the transport framed the message: the rest is the body.
    if let Some(v) = headers.get_raw(&Name::CONTENT_LENGTH).next() {
        match v.trim().parse::<usize>() {
            Ok(len) if len <= body.len() => body.truncate(len),
            Ok(_) => return fail("body shorter than Content-Length", partial(&headers)),
            Err(_) => return fail("bad Content-Length", partial(&headers)),
        }
    }
    if headers.get_raw(&Name::CONTENT_LENGTH).count() > 1 {
        return fail("repeated Content-Length", partial(&headers));
    }
    check_mandatory(&headers, method.as_ref()).or_else(|r| fail(r, partial(&headers)))?;
    Ok(match start {
        MessageLine::Request(line) => Message::Request(Request {
            method: line.method,
            uri: line.uri,
            headers,
            body,
        }),
        MessageLine::Response(line) => {
            let code = line.code.into_u16();
            if !(100..=699).contains(&code) {
                return fail("status code out of range", None);
            }
            Message::Response(Response {
                status: StatusCode::new(code),
                reason: line.reason,
                headers,
                body,
            })
        }
    })
}

/// RFC 3261 §7.1: `Method SP Request-URI SP SIP-Version` with single spaces, or a status line.
/// A request line that is wrong after a good method keeps the method, so the UA can still
/// answer (RFC 4475 §3.1.2.7 to §3.1.2.11 and §3.1.2.16: 400 or 505, not silence).
fn start_line(src: &Bytes, line: &str) -> Result<MessageLine, (&'static str, Option<Method>)> {
    if line.starts_with("SIP/") {
        return match StatusLine::parse(src)(line) {
            Ok((rest, status)) if rest.trim().is_empty() => Ok(MessageLine::Response(status)),
            _ => Err(("bad status line", None)),
        };
    }
    let words: Vec<&str> = line.split(' ').collect();
    let looks_like_request = line
        .trim_end()
        .rsplit(' ')
        .next()
        .is_some_and(|v| v.starts_with("SIP/"));
    if !looks_like_request || words[0].is_empty() || !words[0].bytes().all(is_token_char) {
        return Err(("bad start line", None));
    }
    let method = Method::from(words[0]);
    let bad = |reason| Err((reason, Some(method.clone())));
    if words.len() != 3 {
        return bad("bad request line");
    }
    if words[2] != "SIP/2.0" {
        return bad(UNSUPPORTED_VERSION);
    }
    let uri = match SipUri::parse(src)(words[1]) {
        Ok(("", uri)) => uri,
        _ => return bad("bad Request-URI"),
    };
    if !uri.header_params.is_empty() {
        // RFC 3261 §19.1.5: escaped headers are not allowed in a Request-URI.
        return bad("Request-URI with headers");
    }
    Ok(MessageLine::Request(RequestLine { method, uri }))
}

/// RFC 3261 §25.1 `token` characters.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Checks a name-addr / addr-spec value (From, To, Contact; RFC 3261 §20.10, §25.1) and
/// returns it without its display name. ezk's quoted-string parser stops at the first `\"`
/// quoted-pair (RFC 4475 §3.1.1.1) and takes an unterminated quote or a comma in an unquoted
/// name as display text (§3.1.2.6, §3.1.2.15), so the display name is checked here and only
/// the rest goes to ezk. The UA never interprets display names.
fn without_display_name(value: &str) -> Result<&str, ()> {
    let lws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n');
    let v = value.trim_start_matches(lws);
    if let Some(quoted) = v.strip_prefix('"') {
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                // quoted-pair: any ASCII octet but CR and LF.
                '\\' => match chars.next() {
                    Some((_, e)) if e.is_ascii() && e != '\r' && e != '\n' => {}
                    _ => return Err(()),
                },
                '"' => {
                    let rest = quoted[i + 1..].trim_start_matches(lws);
                    return if rest.starts_with('<') {
                        Ok(rest)
                    } else {
                        Err(())
                    };
                }
                _ => {}
            }
        }
        return Err(());
    }
    match v.find('<') {
        Some(i)
            if v[..i]
                .bytes()
                .all(|b| is_token_char(b) || b" \t\r\n".contains(&b)) =>
        {
            Ok(&v[i..])
        }
        Some(_) => Err(()),
        // RFC 3261 §20: a URI with `?` (or `,`) must be in angle brackets (RFC 4475 §3.1.2.13).
        None if v.contains('?') => Err(()),
        None => Ok(v),
    }
}

/// Exactly one From or To value, its display name checked by us and the rest parsed by ezk.
fn from_to(headers: &Headers, name: Name) -> Option<FromTo> {
    let mut values = headers.get_raw(&name);
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    let rest = without_display_name(value.as_str()).ok()?;
    let mut one = Headers::new();
    one.insert(name.clone(), BytesStr::from(rest));
    one.get(name).ok()
}

/// RFC 3261 §8.1.1: the headers every request and response carries, each parsable.
fn check_mandatory(headers: &Headers, method: Option<&Method>) -> Result<(), &'static str> {
    let vias: Vec<Via> = headers.get_named().map_err(|_| "bad Via")?;
    if vias.is_empty() || vias.len() != raw_list_len(headers, &Name::VIA) {
        return Err("bad Via");
    }
    if method.is_some() && vias[0].params.get_val("branch").is_none() {
        // RFC 2543 peers without a branch are not supported; they would break matching. Only
        // the top Via is ours to match on: older hops below a proxy's Via don't matter.
        return Err("Via without branch");
    }
    from_to(headers, Name::FROM).ok_or("bad From")?;
    from_to(headers, Name::TO).ok_or("bad To")?;
    let contacts = headers.get_raw(&Name::CONTACT);
    if contacts
        .flat_map(|v| split_list(v.as_str()))
        .any(|c| c != "*" && without_display_name(c).is_err())
    {
        return Err("bad Contact");
    }
    let call_id = single::<CallID>(headers, Name::CALL_ID).ok_or("bad Call-ID")?;
    if call_id.0.is_empty() || call_id.0.contains(char::is_whitespace) {
        return Err("bad Call-ID");
    }
    let cseq = single::<CSeq>(headers, Name::CSEQ).ok_or("bad CSeq")?;
    if let Some(m) = method {
        if &cseq.method != m {
            return Err("CSeq method does not match");
        }
    }
    if headers.contains(&Name::MAX_FORWARDS) {
        headers
            .get_named::<MaxForwards>()
            .map_err(|_| "bad Max-Forwards")?;
    }
    if let Some(v) = headers.get_raw(&Name::EXPIRES).next() {
        v.trim().parse::<u32>().map_err(|_| "bad Expires")?;
    }
    Ok(())
}

/// How many comma-separated values a list header carries, for catching items ezk skipped.
fn raw_list_len(headers: &Headers, name: &Name) -> usize {
    headers
        .get_raw(name)
        .map(|v| split_list(v.as_str()).len())
        .sum()
}

/// Splits a header list on commas outside quotes and angle brackets.
pub(crate) fn split_list(value: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut angle) = (Vec::new(), 0, false, false);
    let mut escaped = false;
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// Exactly one value of a single-valued header, parsed.
fn single<H: DecodeValues>(headers: &Headers, name: Name) -> Option<H> {
    if headers.get_raw(&name).count() != 1 {
        return None;
    }
    headers.get(name).ok()
}

/// Typed access shared by requests and responses.
pub trait HeadersExt {
    fn headers(&self) -> &Headers;

    fn call_id(&self) -> SipCallId {
        SipCallId::new(
            self.headers()
                .get_raw(&Name::CALL_ID)
                .next()
                .map(|v| v.as_str().trim())
                .unwrap_or_default(),
        )
    }
    fn cseq(&self) -> Option<CSeq> {
        single(self.headers(), Name::CSEQ)
    }
    fn header_from(&self) -> Option<FromTo> {
        from_to(self.headers(), Name::FROM)
    }
    fn header_to(&self) -> Option<FromTo> {
        from_to(self.headers(), Name::TO)
    }
    fn vias(&self) -> Vec<Via> {
        self.headers().get_named().unwrap_or_default()
    }
    fn top_branch(&self) -> Option<Branch> {
        self.vias()
            .first()
            .and_then(|v| v.params.get_val("branch").map(|b| Branch::new(b.as_str())))
    }
    /// The From tag, if any.
    fn header_from_tag(&self) -> Option<Tag> {
        self.header_from()?.tag.map(|t| Tag::new(t.as_str()))
    }
    /// The To tag, if any.
    fn header_to_tag(&self) -> Option<Tag> {
        self.header_to()?.tag.map(|t| Tag::new(t.as_str()))
    }
    fn typed<H: ConstNamed + DecodeValues>(&self) -> Option<H> {
        self.headers().get_named().ok()
    }
    fn raw(&self, name: &Name) -> Option<&str> {
        self.headers().get_raw(name).next().map(|v| v.as_str())
    }
}

impl HeadersExt for Request {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

impl HeadersExt for Response {
    fn headers(&self) -> &Headers {
        &self.headers
    }
}

fn print_headers(out: &mut String, headers: &Headers, body: &[u8]) {
    for (name, value) in headers.iter() {
        if *name != Name::CONTENT_LENGTH {
            let _ = write!(out, "{}: {}\r\n", name.as_print_str(), value);
        }
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
}

impl Request {
    /// Prints the request for the wire, with a correct Content-Length.
    pub fn to_bytes(&self) -> Bytes {
        let ctx = PrintCtx {
            method: Some(&self.method),
            uri: None,
        };
        let mut out = format!("{} {} SIP/2.0\r\n", self.method, self.uri.print_ctx(ctx));
        print_headers(&mut out, &self.headers, &self.body);
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes.into()
    }
}

impl Response {
    /// Prints the response for the wire, with a correct Content-Length.
    pub fn to_bytes(&self) -> Bytes {
        let code = self.status;
        let reason = self
            .reason
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_else(|| reason_phrase(code).to_owned());
        let mut out = format!("SIP/2.0 {code} {reason}\r\n");
        print_headers(&mut out, &self.headers, &self.body);
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes.into()
    }

    /// The numeric status code.
    pub fn code(&self) -> StatusCode {
        self.status
    }

    /// Builds a response to a request (RFC 3261 §8.2.6): Via, From, To, Call-ID, CSeq copied,
    /// `to_tag` added to To when given and To has none.
    pub fn to_request(
        method: &Method,
        headers: &Headers,
        code: StatusCode,
        to_tag: Option<&Tag>,
    ) -> Response {
        let _ = method;
        let mut out = Headers::new();
        for name in [Name::VIA, Name::FROM, Name::TO, Name::CALL_ID, Name::CSEQ] {
            for value in headers.get_raw(&name) {
                let value = if name == Name::TO {
                    match to_tag {
                        Some(tag) if !has_tag(value.as_str()) => {
                            BytesStr::from(format!("{value};tag={tag}"))
                        }
                        _ => value.clone(),
                    }
                } else {
                    value.clone()
                };
                out.insert(name.clone(), value);
            }
        }
        if (180..300).contains(&code.as_u16()) || code == StatusCode::new(101) {
            for value in headers.get_raw(&Name::RECORD_ROUTE) {
                out.insert(Name::RECORD_ROUTE, value.clone());
            }
        }
        Response {
            status: code,
            reason: None,
            headers: out,
            body: Bytes::new(),
        }
    }
}

/// The usual reason phrase for a status code: ezk's table, the codes it lacks, or one for the
/// class (RFC 3261 §21: the phrase is for humans, the code is what counts).
pub fn reason_phrase(code: StatusCode) -> &'static str {
    if let Some(text) = EzkStatus::from(code.as_u16()).text() {
        return text;
    }
    match code.as_u16() {
        // RFC 6665 §8.3.1 (from RFC 3265), for SUBSCRIBE and REFER.
        202 => "Accepted",
        204 => "No Notification",
        100..=199 => "Progress",
        200..=299 => "OK",
        300..=399 => "Redirection",
        400..=499 => "Request Failure",
        500..=599 => "Server Failure",
        _ => "Global Failure",
    }
}

/// Whether a From/To value already carries a tag parameter (outside the URI's angle brackets).
fn has_tag(value: &str) -> bool {
    let params = match value.rfind('>') {
        Some(i) => &value[i..],
        None => value,
    };
    params
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
        Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKasudf\r\n\
        Max-Forwards: 70\r\n\
        To: Bob <sip:bob@biloxi.example.com>\r\n\
        From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710\r\n\
        CSeq: 314159 INVITE\r\n\
        Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws;ob>\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn parses_and_reprints_rfc7118_invite() {
        let Message::Request(req) = parse(INVITE.as_bytes()).unwrap() else {
            panic!("not a request")
        };
        assert_eq!(req.method, Method::INVITE);
        assert_eq!(req.call_id(), "a84b4c76e66710");
        assert_eq!(req.cseq().unwrap().cseq, 314159);
        assert_eq!(req.top_branch().as_deref(), Some("z9hG4bKasudf"));
        assert_eq!(&req.body[..], b"v=0\n");
        let again = parse(&req.to_bytes()).unwrap();
        let Message::Request(again) = again else {
            panic!()
        };
        assert_eq!(again.to_bytes(), req.to_bytes());
    }

    #[test]
    fn leading_crlfs_are_ignored_rfc3261_7_5() {
        let text = format!("\r\n\r\n{INVITE}");
        assert!(matches!(parse(text.as_bytes()), Ok(Message::Request(_))));
    }

    #[test]
    fn rejects_cseq_method_mismatch_with_partial_headers() {
        let bad = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE");
        let err = parse(bad.as_bytes()).unwrap_err();
        assert!(err.partial.is_some());
    }

    #[test]
    fn response_to_request_adds_to_tag_once() {
        let Message::Request(req) = parse(INVITE.as_bytes()).unwrap() else {
            panic!()
        };
        let resp = Response::to_request(
            &req.method,
            &req.headers,
            StatusCode::RINGING,
            Some(&Tag::new("xyz")),
        );
        let text = String::from_utf8(resp.to_bytes().to_vec()).unwrap();
        assert!(text.starts_with("SIP/2.0 180 Ringing\r\n"), "{text}");
        assert!(text.contains("To: Bob <sip:bob@biloxi.example.com>;tag=xyz\r\n"));
        assert!(has_tag("<sip:a@b;tag=no>;tag=yes"));
        assert!(!has_tag("<sip:a@b;tag=no>"));
    }

    #[test]
    fn split_list_respects_quotes_and_brackets() {
        assert_eq!(
            split_list(r#""a, b" <sip:x@y;p=1,2>, <sip:z@w>"#),
            vec![r#""a, b" <sip:x@y;p=1,2>"#, "<sip:z@w>"]
        );
    }
}
