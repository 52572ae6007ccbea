//! Counters a media session keeps for the UI and for logs.

use crate::codec::CodecKind;

/// A snapshot of one session's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaStats {
    /// The codec in use.
    pub codec: CodecKind,
    /// RTP packets sent.
    pub rtp_tx: u64,
    /// RTP packets received from the peer and accepted (audio and telephone-event).
    pub rtp_rx: u64,
    /// Packets lost on the way to us (RFC 3550 §A.3 cumulative, never negative).
    pub rx_lost: u64,
    /// Interarrival jitter of the peer's stream (RFC 3550 §A.8), in milliseconds.
    pub jitter_ms: f64,
    /// Packets dropped because they came too late to play.
    pub rx_late: u64,
    /// Packets dropped as duplicates.
    pub rx_duplicate: u64,
    /// Datagrams that were not valid RTP or RTCP.
    pub rx_invalid: u64,
    /// RTP and RTCP datagrams from an address other than the far end's, dropped.
    pub rx_wrong_source: u64,
    /// RTP packets from the far end's address but not its current stream (another SSRC while
    /// that one is alive, or a new one that never passed probation), dropped.
    pub rx_other_ssrc: u64,
    /// RTP packets far off the stream's sequence and not confirmed by the next (RFC 3550
    /// §A.1), dropped.
    pub rx_out_of_sequence: u64,
    /// Times the far end's stream was replaced by a new SSRC (a restart after silence or BYE).
    pub stream_restarts: u64,
    /// RTP packets with a payload type we did not negotiate (comfort noise, ...).
    pub rx_unexpected_pt: u64,
    /// RFC 4733 telephone-event packets received.
    pub rx_telephone_event: u64,
    /// Frames of audio concealed (lost, late, undecodable or underrun).
    pub concealed_frames: u64,
    /// Lost frames rebuilt from the next packet's redundancy (Opus in-band FEC).
    pub fec_recovered: u64,
    /// RTCP compound packets sent.
    pub rtcp_tx: u64,
    /// RTCP compound packets received.
    pub rtcp_rx: u64,
    /// Round-trip time from the peer's last report on our SR (RFC 3550 §6.4.1), if known.
    pub rtt_ms: Option<f64>,
    /// Whether the peer sent an RTCP BYE.
    pub remote_bye: bool,
    /// DTMF digits the peer sent as RFC 4733 events (the first 64).
    pub dtmf_rx: String,
}
