//! Deciding and building the next segment: RST, SYN / SYN-ACK, retransmissions
//! (fast, SACK-driven, after a timeout), new data and FIN within the send and
//! congestion windows (Nagle and sender-side SWS avoidance, RFC 1122 4.2.3.4),
//! zero-window and keepalive probes, and ACKs with the receive window
//! (receiver-side SWS avoidance, RFC 1122 4.2.3.3), timestamps and SACK blocks.

use core::ops::Range;

use super::{Connection, DUP_THRESH};
use crate::tcp::sack::NextSeg;
use crate::tcp::state::State;
use crate::tcp::timer::Timer;
use crate::time::Instant;
use crate::wire::{SeqNum, TcpFlags, TcpPacket, TcpRepr, TcpTimestamps};

/// What one segment carries, before it is written.
#[derive(Debug, Clone, Copy)]
struct Plan {
    seq: SeqNum,
    flags: TcpFlags,
    ack: bool,
    /// Payload as (offset into the send buffer, length).
    data: (usize, usize),
    syn_options: bool,
}

impl Plan {
    fn control(seq: SeqNum, flags: TcpFlags, ack: bool) -> Plan {
        Plan {
            seq,
            flags,
            ack,
            data: (0, 0),
            syn_options: false,
        }
    }
}

impl Connection {
    /// Writes the next segment into `buf` (the TCP header, options and payload,
    /// with its checksum) and returns its length, or `None` if there is
    /// nothing to send now. The caller adds the IPv4 and Ethernet headers.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        // Timers are re-armed even when nothing goes out: the application
        // may have queued data since the last input (a zero window then needs
        // the persist timer).
        let n = match self.next_plan(now, buf.len()) {
            Some(plan) => self.write_segment(now, buf, plan),
            None => None,
        };
        self.arm_timers(now);
        n
    }

    fn next_plan(&mut self, now: Instant, buf_len: usize) -> Option<Plan> {
        if let Some((seq, ack)) = self.rst_pending.take() {
            let mut p = Plan::control(seq, TcpFlags::RST, ack.is_some());
            if let Some(a) = ack {
                // A reset that acknowledges: SEG.ACK as the caller chose.
                self.rcv_nxt = a;
                p.ack = true;
            }
            return Some(p);
        }
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent | State::SynReceived => {
                if self.snd_nxt == self.iss {
                    let ack = self.state == State::SynReceived;
                    let mut p = Plan::control(self.iss, TcpFlags::SYN, ack);
                    p.syn_options = true;
                    Some(p)
                } else {
                    None
                }
            }
            _ => self.synchronized_plan(now, buf_len),
        }
    }

    /// Draft-cheng 3.4: the application has less to send than the window
    /// allows; rate samples until this data is delivered may understate
    /// the path.
    fn note_app_limited(&mut self) {
        let in_flight = self.in_flight();
        if in_flight + self.send_mss < self.cc.cwnd() && self.sent.lost_bytes() == 0 {
            self.rate.on_app_limited(in_flight);
        }
    }

    /// Asked right after a segment left: whether another `poll_transmit`
    /// now could send anything at all (`true` whenever unsure). When it
    /// could not, the rate sampler hears here that the application has
    /// nothing more, as that empty poll would have told it, and the caller
    /// need not poll until input, a timer or the application touches the
    /// connection (the empty poll and the event look after each sent
    /// segment were ~300 instructions of a 64-byte round trip).
    pub fn output_pending(&mut self) -> bool {
        let pending = self.rst_pending.is_some()
            || !self.state.is_synchronized()
            || self.ack_now
            || self.probe_pending
            || self.keepalive_pending
            || self.snd_nxt != self.snd_max
            || self.sent.lost_bytes() > 0
            || self.data_waiting();
        if !pending {
            self.note_app_limited();
        }
        pending
    }

    /// Payload bytes the next segment may carry: the send MSS less the SACK
    /// blocks it will carry (the MSS counts options, RFC 9293 3.7.1), and no
    /// more than fits in `buf_len` after the header.
    fn max_payload(&self, buf_len: usize) -> usize {
        let ts = if self.ts.is_some() {
            super::TS_OPTION_LEN
        } else {
            0
        };
        let blocks = if self.sack_ok {
            let held = self.rx.assembler().len() + usize::from(self.dsack.is_some());
            held.min(if ts > 0 { 3 } else { 4 })
        } else {
            0
        };
        let sack = if blocks > 0 { 4 + 8 * blocks } else { 0 };
        let room = buf_len.saturating_sub(20 + ts + sack);
        self.send_mss.saturating_sub(sack).min(room).max(1)
    }

    fn synchronized_plan(&mut self, now: Instant, buf_len: usize) -> Option<Plan> {
        let mss = self.max_payload(buf_len);
        // Data (new or retransmitted) leaves when the pacer lets it; ACKs and
        // probes do not wait.
        if self.pace_allows(now, mss) {
            if self.tlp_pending
                && let Some(p) = self.loss_probe_plan(mss)
            {
                return Some(p);
            }
            // Retransmissions in recovery come first.
            if let Some(p) = self.recovery_plan(mss) {
                return Some(p);
            }
            if let Some(p) = self.send_plan(mss, false) {
                return Some(p);
            }
        }
        if self.probe_pending || self.keepalive_pending {
            // RFC 9293 3.8.6.1 (zero window) and RFC 1122 4.2.3.6
            // (keepalive): a segment one below SND.UNA with no data, which the
            // peer must answer with an ACK carrying its window. Linux probes
            // zero windows this way too instead of sending a byte past it.
            self.probe_pending = false;
            self.keepalive_pending = false;
            return Some(Plan::control(self.snd_una - 1, TcpFlags::default(), true));
        }
        let _ = now;
        if self.ack_now {
            return Some(Plan::control(self.snd_nxt, TcpFlags::default(), true));
        }
        None
    }

    /// Loss recovery: RFC 6675 NextSeg with SACK, RFC 6582 first-segment
    /// retransmission without.
    fn recovery_plan(&mut self, mss: usize) -> Option<Plan> {
        if self.recovery.is_none() && !self.rtx_una {
            return self.after_timeout_plan(mss);
        }
        if !self.sack_ok {
            if !self.rtx_una {
                return None;
            }
            self.rtx_una = false;
            return self.retransmit_range(
                self.snd_una,
                self.snd_una + self.data_len_from(self.snd_una).min(mss),
            );
        }
        // RFC 6675 5 step (C) with the pipe kept per segment (as Linux
        // does): outstanding less SACKed less lost-and-not-resent. Send while
        // cwnd - pipe >= 1 SMSS; the first retransmission goes regardless
        // (step 4.3, fast retransmit).
        let cwnd = self.cc.cwnd();
        let pipe = self.in_flight();
        if !self.rtx_una && cwnd < pipe + mss {
            return None;
        }
        self.rtx_una = false;
        // NextSeg rule 1: the lowest segment judged lost (by the
        // duplicate-ACK rule or by RACK, which also finds retransmissions
        // lost again, RFC 8985 6.2), not resent since.
        if let Some((start, end)) = self.sent.first_lost().map(|s| (s.start, s.end)) {
            let start = start.max(self.snd_una);
            let end = end.min(start + mss);
            if end > start {
                self.high_rxt = self.high_rxt.max(end);
                return self.retransmit_range(start, end);
            }
        }
        // Rule 2: new data.
        if self.sendable_new_data() > 0 {
            return self.send_plan(mss, true);
        }
        // Rule 3: a hole not (yet) judged lost, once.
        match self
            .sack
            .next_seg(self.high_rxt.max(self.snd_una), mss, DUP_THRESH, 0)
        {
            NextSeg::RetransmitUnlost { start, end } | NextSeg::RetransmitLost { start, end } => {
                self.high_rxt = end;
                self.retransmit_range(start, end)
            }
            NextSeg::NewData { .. } | NextSeg::Nothing => None,
        }
    }

    /// After a timeout, until SND.UNA reaches the recovery point (no new
    /// recovery phase before, RFC 6675 5.1), go-back-N resends in order; a
    /// resend that RACK finds lost again (RFC 8985 6.2) goes first, within
    /// the congestion window, as in Linux's loss state
    /// (`tcp_xmit_retransmit_queue` in `TCP_CA_Loss`), instead of waiting
    /// for a second, backed-off timeout.
    fn after_timeout_plan(&mut self, mss: usize) -> Option<Plan> {
        if !self.sack_ok || self.snd_una >= self.last_recover || self.sent.lost_bytes() == 0 {
            return None;
        }
        let (start, end) = self.sent.first_lost().map(|s| (s.start, s.end))?;
        // Not yet reached by go-back-N: that resends it in order.
        if start >= self.snd_nxt || self.cc.cwnd() < self.in_flight() + mss {
            return None;
        }
        let start = start.max(self.snd_una);
        let end = end.min(start + mss);
        if end <= start {
            return None;
        }
        self.retransmit_range(start, end)
    }

    /// Data (new, resent or a probe of it) or a FIN waits to go: what the
    /// pacer may hold back.
    fn data_waiting(&self) -> bool {
        self.tlp_pending
            || self.rtx_una
            || self.recovery.is_some()
            || self.data_len_from(self.snd_nxt) > 0
            || self.fin_unsent()
    }

    /// Whether the pacer lets a segment of up to `mss` bytes leave now; if
    /// not, `pace_wait` says when it will.
    fn pace_allows(&mut self, now: Instant, mss: usize) -> bool {
        let Some(rate) = self.pacing_rate() else {
            self.pace_wait = None;
            return true;
        };
        if !self.data_waiting() {
            // Nothing for the pacer to hold: no wake-up, no hold counted.
            self.pace_wait = None;
            return true;
        }
        let quantum = self.cc.send_quantum_at(Some(rate), self.send_mss);
        let at = self.pacer.next_departure(now, mss, quantum, rate);
        if at <= now {
            self.pace_wait = None;
            true
        } else {
            if self.pace_wait.is_none() {
                // One hold per wait, however often the shard asks meanwhile.
                self.stats.pacing_holds += 1;
            }
            self.pace_wait = Some(at);
            false
        }
    }

    /// RFC 8985 7.3: the tail loss probe is new data if the receive window
    /// allows, else the highest segment sent again. The congestion window
    /// does not hold it back.
    fn loss_probe_plan(&mut self, mss: usize) -> Option<Plan> {
        self.tlp_pending = false;
        if self.recovery.is_some() || self.snd_max == self.snd_una {
            return None;
        }
        let new_data = self.sendable_new_data().min(mss);
        let plan = if new_data > 0 && self.snd_nxt == self.snd_max && !self.sent.is_full() {
            let off = (self.snd_nxt - self.tx_base).max(0) as usize;
            let mut flags = TcpFlags::default();
            flags.set(TcpFlags::PSH, off + new_data == self.tx.len());
            Some(Plan {
                seq: self.snd_nxt,
                flags,
                ack: true,
                data: (off, new_data),
                syn_options: false,
            })
        } else {
            let start = (self.snd_max - mss).max(self.snd_una);
            self.retransmit_range(start, self.snd_max)
        }?;
        self.stats.tlp_probes += 1;
        self.tlp_probe_out = true;
        Some(plan)
    }

    /// Bytes of data (not FIN) in the send buffer from `seq` on.
    fn data_len_from(&self, seq: SeqNum) -> usize {
        let off = (seq - self.tx_base).max(0) as usize;
        self.tx.len().saturating_sub(off)
    }

    /// New bytes the peer's window lets us send beyond snd_max.
    fn sendable_new_data(&self) -> usize {
        let wnd_end = self.snd_una + self.snd_wnd;
        let room = (wnd_end - self.snd_max).max(0) as usize;
        self.data_len_from(self.snd_max).min(room)
    }

    fn retransmit_range(&mut self, start: SeqNum, end: SeqNum) -> Option<Plan> {
        let off = (start - self.tx_base).max(0) as usize;
        let len = ((end - start).max(0) as usize).min(self.tx.len().saturating_sub(off));
        let fin = self.fin_queued && start + len == self.fin_seq() && end > start + len;
        if len == 0 && !fin {
            return None;
        }
        let mut flags = TcpFlags::default();
        if fin {
            flags.set(TcpFlags::FIN, true);
        }
        if len > 0 {
            flags.set(TcpFlags::PSH, off + len == self.tx.len());
        }
        Some(Plan {
            seq: start,
            flags,
            ack: true,
            data: (off, len),
            syn_options: false,
        })
    }

    /// Sequence number of our FIN (valid once the FIN is queued).
    fn fin_seq(&self) -> SeqNum {
        self.tx_base + self.tx.len()
    }

    /// Our FIN is queued and `send_plan` would send it (again, after a
    /// timeout) from snd_nxt.
    fn fin_unsent(&self) -> bool {
        self.fin_queued && !self.fin_acked && self.snd_nxt <= self.fin_seq()
    }

    /// New data or a FIN at snd_nxt (also a go-back-N resend after a timeout),
    /// if the windows, Nagle and SWS avoidance allow one now.
    fn send_plan(&mut self, mss: usize, in_recovery_ok: bool) -> Option<Plan> {
        if self.recovery.is_some() && self.sack_ok && !in_recovery_ok {
            return None;
        }
        // Skip SACKed data when resending after a timeout.
        if self.sack_ok && self.snd_nxt < self.snd_max {
            for (s, e) in self.sack.ranges() {
                if s <= self.snd_nxt && self.snd_nxt < e {
                    self.snd_nxt = e;
                }
            }
        }
        let fin_seq = self.fin_seq();
        let off = (self.snd_nxt - self.tx_base).max(0) as usize;
        let avail = self.tx.len().saturating_sub(off);
        let fin_unsent = self.fin_unsent();
        if avail == 0 && !fin_unsent {
            self.note_app_limited();
            return None;
        }
        let resend = self.snd_nxt < self.snd_max;
        if !resend && self.sent.is_full() {
            // Bounded table of segments in flight: wait for ACKs.
            self.sent.note_full();
            return None;
        }
        // Windows: the peer's (RFC 9293 3.8.6) and the congestion window.
        let wnd_room = ((self.snd_una + self.snd_wnd) - self.snd_nxt).max(0) as usize;
        let in_flight = if self.recovery.is_some() && !self.sack_ok {
            self.flight()
                .saturating_sub(self.dup_acks as usize * self.send_mss)
        } else if self.recovery.is_some() {
            // RFC 6675 pipe, kept per segment as `recovery_plan` does (RACK's
            // losses count as not in the network, as IsLost's do).
            self.in_flight()
        } else {
            (self.snd_nxt - self.snd_una).max(0) as usize
        };
        let cwnd_room = self.cc.cwnd().saturating_sub(in_flight);
        let mut len = avail.min(mss).min(wnd_room).min(cwnd_room);
        // Do not run into SACKed data on a resend.
        if self.sack_ok
            && resend
            && let Some(next_sacked) = self
                .sack
                .ranges()
                .map(|(st, _)| st)
                .find(|st| *st > self.snd_nxt)
        {
            len = len.min((next_sacked - self.snd_nxt) as usize);
        }
        let all = len == avail;
        let fin =
            fin_unsent && all && (cwnd_room > len || len > 0) && self.snd_nxt + len == fin_seq;
        if len == 0 && !fin {
            return None;
        }
        if len > 0 && !resend && !self.probe_pending {
            // RFC 1122 4.2.3.4: send a full segment, or all that is queued
            // when nothing is unacknowledged (or Nagle is off), or at least
            // half the largest window the peer has offered.
            let nothing_unacked = self.snd_nxt == self.snd_una;
            let ok = len == mss
                || (all && (self.cfg.nodelay || nothing_unacked))
                || len >= self.max_snd_wnd / 2
                || fin;
            if !ok {
                return None;
            }
        }
        // The persist timer's override of SWS avoidance is used up.
        self.probe_pending = false;
        let mut flags = TcpFlags::default();
        flags.set(TcpFlags::FIN, fin);
        flags.set(TcpFlags::PSH, len > 0 && all);
        Some(Plan {
            seq: self.snd_nxt,
            flags,
            ack: true,
            data: (off, len),
            syn_options: false,
        })
    }

    /// The window field to advertise, and the right edge it promises.
    /// RFC 1122 4.2.3.3: the right edge moves only by min(buffer/2, MSS) or
    /// more; RFC 7323 2.4 / RFC 9293 3.8.6.2.2: it never moves left.
    fn window_field(&mut self, syn: bool) -> u16 {
        let free = self.rx.window();
        let offered = (self.rcv_adv - self.rcv_nxt).max(0) as usize;
        let threshold = (self.cfg.recv_buffer / 2).min(usize::from(self.cfg.mss));
        let wnd = if free >= offered + threshold || offered == 0 && free >= threshold {
            free
        } else {
            offered.max(free.min(offered))
        };
        if syn {
            // RFC 7323 2.2: the window of a SYN is never scaled.
            let w = wnd.min(65535);
            self.rcv_adv = self.rcv_nxt + w;
            return w as u16;
        }
        let field = (wnd >> self.rcv_wscale).min(65535);
        let edge = self.rcv_nxt + (field << self.rcv_wscale);
        if edge > self.rcv_adv {
            self.rcv_adv = edge;
        }
        field as u16
    }

    fn write_segment(&mut self, now: Instant, buf: &mut [u8], plan: Plan) -> Option<usize> {
        let syn = plan.flags.contains(TcpFlags::SYN);
        let rst = plan.flags.contains(TcpFlags::RST);
        let window_len = if rst { 0 } else { self.window_field(syn) };
        let mut repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: plan.seq,
            ack: plan.ack.then_some(self.rcv_nxt),
            flags: plan.flags,
            window_len,
            ..TcpRepr::default()
        };
        if plan.syn_options {
            repr.mss = Some(self.cfg.mss);
            let active = self.state == State::SynSent;
            if if active {
                self.cfg.window_scaling
            } else {
                self.wscale_ok
            } {
                repr.window_scale = Some(self.rcv_wscale);
            }
            repr.sack_permitted = if active { self.cfg.sack } else { self.sack_ok };
            let offer_ts = if active {
                self.cfg.timestamps
            } else {
                self.ts.is_some()
            };
            if offer_ts {
                let tsecr = self.ts.map_or(0, |t| t.recent);
                let tsval = (now.as_millis() as u32).wrapping_add(self.ts_offset);
                repr.timestamps = Some(TcpTimestamps { tsval, tsecr });
            }
        } else if let Some(t) = self.ts {
            repr.timestamps = Some(TcpTimestamps {
                tsval: self.tsval(now),
                tsecr: t.recent,
            });
        }
        if self.sack_ok && plan.ack && !syn && !rst {
            self.fill_sack_blocks(&mut repr);
        }
        let header_len = repr.header_len();
        let (off, len) = plan.data;
        let total = header_len + len;
        if buf.len() < total {
            return None;
        }
        // Header, options and payload are written straight into the frame
        // and checksummed in one pass (the payload in up to two pieces when
        // it wraps around the send ring), or not summed at all when the
        // device finishes the checksum.
        let payload = self.tx.slice_at(off, len);
        let mut pkt = TcpPacket::new_unchecked(&mut buf[..total]);
        repr.emit_with_payload(
            &mut pkt,
            *self.local.ip(),
            *self.remote.ip(),
            payload,
            self.checksum_fill,
        )
        .ok()?;
        self.after_send(now, &plan, len);
        Some(total)
    }

    /// RFC 2018 4: the first block reports the most recent out-of-order data
    /// (after a D-SACK block, RFC 2883 4); the rest repeat recent ones.
    fn fill_sack_blocks(&mut self, repr: &mut TcpRepr<'_>) {
        let mut i = 0;
        if let Some((s, e)) = self.dsack {
            repr.sack_ranges[0] = Some((s, e));
            i = 1;
        }
        let mut ranges: [Range<usize>; 4] = Default::default();
        let n = self.rx.assembler().ranges_by_recency(&mut ranges);
        for r in ranges.iter().take(n) {
            if i >= repr.sack_ranges.len() {
                break;
            }
            repr.sack_ranges[i] = Some((self.rcv_nxt + r.start, self.rcv_nxt + r.end));
            i += 1;
        }
    }

    /// Bookkeeping after a segment left.
    fn after_send(&mut self, now: Instant, plan: &Plan, len: usize) {
        self.stats.segs_out += 1;
        self.stats.bytes_out += len as u64;
        if plan.ack {
            self.ack_now = false;
            self.unacked_segs = 0;
            self.timers.stop(Timer::DelayedAck);
            self.dsack = None;
        }
        if plan.flags.contains(TcpFlags::RST) {
            return;
        }
        let syn = plan.flags.contains(TcpFlags::SYN);
        let fin = plan.flags.contains(TcpFlags::FIN);
        let seq_len = len + usize::from(syn) + usize::from(fin);
        if seq_len == 0 {
            return;
        }
        let end = plan.seq + seq_len;
        let retransmission = plan.seq < self.snd_max;
        if !syn {
            self.on_data_sent(now, plan.seq, end, retransmission);
        }
        if retransmission {
            self.stats.retransmits += 1;
            // Karn: a retransmitted timed segment gives no sample.
            if let Some((timed_end, _)) = self.timed
                && timed_end > plan.seq
            {
                self.timed = None;
            }
        } else if self.timed.is_none() {
            self.timed = Some((end, now));
        }
        if plan.seq == self.snd_nxt || syn {
            self.snd_nxt = end;
        }
        if end > self.snd_max {
            self.snd_max = end;
        }
        if self.unacked_since.is_none() {
            self.unacked_since = Some(now);
        }
        // RFC 6298 5.1: start the timer if it is not running.
        if !self.timers.is_set(Timer::Retransmit) {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
        }
        if !syn && !retransmission {
            // RFC 8985 7.2: new data restarts the probe timeout.
            self.arm_loss_probe(now);
        }
    }
}

impl Connection {
    /// A data segment (or FIN) `[start, end)` left: its record and rate
    /// state, the controller, the pacer, the cwnd-limited bookkeeping, and
    /// the tail loss probe timer.
    fn on_data_sent(&mut self, now: Instant, start: SeqNum, end: SeqNum, retransmission: bool) {
        let len = (end - start).max(0) as usize;
        let in_flight = self.in_flight();
        let state = self.rate.on_send(now, in_flight, len);
        // A resend may run past what was ever sent (go-back-N after a
        // timeout cuts segments anew): the part below the old snd_max is a
        // retransmission, the rest new data with a record of its own.
        let old_max = self.snd_max;
        if retransmission && let Some(u) = self.undo.as_mut() {
            u.retrans += 1;
            u.low = u.low.min(start);
            u.high = u.high.max(end.min(old_max));
        }
        if retransmission {
            self.sent.on_retransmit(start, end.min(old_max), now, state);
        }
        if end > old_max {
            self.sent.push(start.max(old_max), end, now, state);
        }
        self.cc
            .on_send(now, len, in_flight, self.rate.is_app_limited());
        if let Some(rate) = self.pacing_rate() {
            let quantum = self.cc.send_quantum_at(Some(rate), self.send_mss);
            self.pacer.on_send(now, len, quantum, rate);
        }
        self.max_flight = self.max_flight.max(in_flight + len);
        if self.tlp_probe_out {
            // The probe itself just left: its episode starts (RFC 8985 7.3).
            self.tlp_probe_out = false;
            self.tlp_end = Some((self.snd_max.max(end), retransmission));
        }
    }
}
