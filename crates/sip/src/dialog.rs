//! Dialogs (RFC 3261 §12): identity, CSeq spaces, remote target and route set.

use crate::message::{split_list, HeadersExt, Request, Response};
use crate::wire::{SipCallId, Tag};
use ezk_sip_types::header::typed::Contact;
use ezk_sip_types::uri::SipUri;
use ezk_sip_types::Name;

/// One dialog. From/To values are kept whole (with tags) as they go on the wire.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: SipCallId,
    /// Our From (UAC) or To (UAS) value, including our tag.
    pub local: String,
    /// Their From or To value, including their tag.
    pub remote: String,
    pub local_tag: Tag,
    pub remote_tag: Tag,
    pub local_seq: u32,
    pub remote_seq: Option<u32>,
    pub remote_target: SipUri,
    /// Route set in the order to put in Route headers (RFC 3261 §12.1.1, §12.1.2).
    pub route_set: Vec<String>,
}

/// The first Contact URI of a message: the remote target.
pub fn contact_uri<M: HeadersExt>(msg: &M) -> Option<SipUri> {
    let contacts: Vec<Contact> = msg.headers().get_named().ok()?;
    contacts.into_iter().next().map(|c| c.uri.uri)
}

/// Record-Route values in message order, one per route (they may be comma-joined).
fn record_routes<M: HeadersExt>(msg: &M) -> Vec<String> {
    msg.headers()
        .get_raw(&Name::RECORD_ROUTE)
        .flat_map(|v| split_list(v.as_str()))
        .map(str::to_owned)
        .collect()
}

impl Dialog {
    /// UAC side, from the INVITE we sent and a 2xx or tagged 1xx (RFC 3261 §12.1.2).
    pub fn as_uac(invite: &Request, resp: &Response, local_tag: &Tag) -> Option<Self> {
        let remote_tag = resp.header_to_tag()?;
        let mut route_set = record_routes(resp);
        route_set.reverse();
        Some(Self {
            call_id: invite.call_id(),
            local: invite.raw(&Name::FROM)?.to_owned(),
            remote: resp.raw(&Name::TO)?.to_owned(),
            local_tag: local_tag.clone(),
            remote_tag,
            local_seq: invite.cseq()?.cseq,
            remote_seq: None,
            remote_target: contact_uri(resp)?,
            route_set,
        })
    }

    /// UAS side, from the INVITE we received and the tag we chose (RFC 3261 §12.1.1).
    pub fn as_uas(invite: &Request, local_tag: &Tag, local_seq: u32) -> Option<Self> {
        Some(Self {
            call_id: invite.call_id(),
            local: format!("{};tag={local_tag}", invite.raw(&Name::TO)?),
            remote: invite.raw(&Name::FROM)?.to_owned(),
            local_tag: local_tag.clone(),
            remote_tag: invite.header_from_tag()?,
            local_seq,
            remote_seq: Some(invite.cseq()?.cseq),
            remote_target: contact_uri(invite)?,
            route_set: record_routes(invite),
        })
    }

    /// Whether an incoming request belongs to this dialog (RFC 3261 §12.2.2).
    pub fn matches(&self, req: &Request) -> bool {
        let (Some(from), Some(to)) = (req.header_from(), req.header_to()) else {
            return false;
        };
        req.call_id() == self.call_id
            && to.tag.as_deref() == Some(self.local_tag.as_str())
            && from.tag.as_deref() == Some(self.remote_tag.as_str())
    }

    /// Checks the remote CSeq of an in-dialog request; false means out of order (500).
    pub fn accept_remote_seq(&mut self, req: &Request) -> bool {
        let Some(cseq) = req.cseq() else {
            return false;
        };
        if req.method == ezk_sip_types::Method::ACK {
            return true;
        }
        match self.remote_seq {
            Some(seq) if cseq.cseq <= seq => false,
            _ => {
                self.remote_seq = Some(cseq.cseq);
                true
            }
        }
    }

    /// Next local CSeq number for a new in-dialog request (not for ACK or CANCEL).
    pub fn next_seq(&mut self) -> u32 {
        self.local_seq += 1;
        self.local_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse, Message};

    fn msg(text: &str) -> Message {
        parse(text.replace('\n', "\r\n").as_bytes()).unwrap()
    }

    /// Kamailio bridging WS and UDP writes two Record-Routes, the WS one with `transport=ws`.
    #[test]
    fn uac_route_set_reverses_kamailio_double_record_route() {
        let Message::Request(invite) = msg("INVITE sip:bob@127.0.0.1 SIP/2.0
Via: SIP/2.0/WSS a.invalid;branch=z9hG4bK1
From: <sip:alice@127.0.0.1>;tag=at
To: <sip:bob@127.0.0.1>
Call-ID: c1
CSeq: 2 INVITE
Contact: <sip:x@a.invalid;transport=ws;ob>
Content-Length: 0

")
        else {
            panic!()
        };
        let Message::Response(ok) = msg("SIP/2.0 200 OK
Via: SIP/2.0/WSS a.invalid;branch=z9hG4bK1
Record-Route: <sip:127.0.0.1:15060;r2=on;lr>
Record-Route: <sip:127.0.0.1:18443;transport=ws;r2=on;lr>
From: <sip:alice@127.0.0.1>;tag=at
To: <sip:bob@127.0.0.1>;tag=bt
Call-ID: c1
CSeq: 2 INVITE
Contact: <sip:bob@127.0.0.1:15070>
Content-Length: 0

")
        else {
            panic!()
        };
        let d = Dialog::as_uac(&invite, &ok, &Tag::new("at")).unwrap();
        assert_eq!(d.remote_tag, "bt");
        assert_eq!(
            d.route_set,
            vec![
                "<sip:127.0.0.1:18443;transport=ws;r2=on;lr>",
                "<sip:127.0.0.1:15060;r2=on;lr>"
            ]
        );
        assert_eq!(d.local_seq, 2);
    }
}
