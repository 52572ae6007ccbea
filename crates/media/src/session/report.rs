//! RTCP reporting for a session: SR/RR with report blocks and SDES CNAME (RFC 3550 §6.4,
//! §6.5), the randomised interval (§6.2), BYE (§6.6) and round-trip time (§6.4.1).

use std::time::{Duration, Instant, SystemTime};

use super::{MediaSession, PacketKind, Transmit, RTCP_INTERVAL, SR_HISTORY};
use crate::rtcp::{self, NtpTime, RtcpPacket, SenderInfo};

impl MediaSession {
    /// RTT from a report block about us: arrival - LSR - DLSR (RFC 3550 §6.4.1).
    pub(super) fn take_reports(&mut self, now: Instant, reports: &[rtcp::ReportBlock]) {
        for block in reports
            .iter()
            .filter(|b| b.ssrc == self.ssrc && b.last_sr != 0)
        {
            if let Some(&(_, sent)) = self.sr_sent.iter().find(|(lsr, _)| *lsr == block.last_sr) {
                let delay = Duration::from_secs_f64(f64::from(block.delay_since_last_sr) / 65536.0);
                if let Some(rtt) = now.saturating_duration_since(sent).checked_sub(delay) {
                    self.stats.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                }
            }
        }
    }

    /// RFC 3550 §6.2: the interval randomised over [0.5, 1.5] of its nominal value.
    pub(super) fn next_interval(&mut self) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let factor = 0.5 + (self.rng % 1000) as f64 / 1000.0;
        RTCP_INTERVAL.mul_f64(factor)
    }

    /// An SR (if we sent since the last report) or RR, SDES CNAME, and BYE when leaving.
    pub(super) fn report(
        &mut self,
        now: Instant,
        wall: SystemTime,
        bye: Option<&str>,
    ) -> Vec<RtcpPacket> {
        let reports: Vec<_> = self
            .remote
            .as_mut()
            .map(|remote| {
                let (lsr, dlsr) = match remote.last_sr {
                    Some((lsr, at)) => {
                        let delay = now.saturating_duration_since(at).as_secs_f64() * 65536.0;
                        (lsr, delay.min(f64::from(u32::MAX)) as u32)
                    }
                    None => (0, 0),
                };
                remote.stats.report_block(remote.ssrc, lsr, dlsr)
            })
            .into_iter()
            .collect();
        let mut packets = Vec::with_capacity(3);
        match self.sender.last_sent {
            Some((sent_at, sent_ts)) if self.sender.sent_since_report => {
                let ntp = NtpTime::from_system_time(wall);
                let elapsed = now.saturating_duration_since(sent_at).as_secs_f64();
                let ticks = (elapsed * f64::from(self.neg.codec.clock_rate())) as u64 as u32;
                packets.push(RtcpPacket::SenderReport {
                    ssrc: self.ssrc,
                    info: SenderInfo {
                        ntp,
                        rtp_timestamp: sent_ts.wrapping_add(ticks),
                        packet_count: self.sender.packets as u32,
                        octet_count: self.sender.octets as u32,
                    },
                    reports,
                });
                if self.sr_sent.len() == SR_HISTORY {
                    self.sr_sent.pop_front();
                }
                self.sr_sent.push_back((ntp.middle32(), now));
            }
            _ => packets.push(RtcpPacket::ReceiverReport {
                ssrc: self.ssrc,
                reports,
            }),
        }
        self.sender.sent_since_report = false;
        packets.push(RtcpPacket::SourceDescription {
            chunks: vec![(self.ssrc, Some(self.cname.clone()))],
        });
        if let Some(reason) = bye {
            packets.push(RtcpPacket::Goodbye {
                ssrcs: vec![self.ssrc],
                reason: Some(reason.to_owned()),
            });
        }
        packets
    }

    pub(super) fn queue_rtcp(&mut self, packets: Vec<RtcpPacket>) {
        if self.rtcp_dest.addr.ip().is_unspecified() {
            // c=0.0.0.0 (RFC 3264 §8.4 hold) and nothing latched: nowhere to send.
            return;
        }
        self.stats.rtcp_tx += 1;
        self.transmits.push_back(Transmit {
            dest: self.rtcp_dest.addr,
            payload: rtcp::write_compound(&packets),
            kind: PacketKind::Rtcp,
        });
    }
}
