//! Segment arrival (RFC 9293 3.10.7), with the RFC 5961 mitigations, PAWS
//! (RFC 7323 5), SACK (RFC 2018, RFC 6675) and NewReno recovery (RFC 6582).

use super::{Connection, DEFAULT_PEER_MSS, DUP_THRESH, Event, TS_OPTION_LEN, Timestamps, Undo};
use crate::cc::AckSample;
use crate::tcp::conn::ConnError;
use crate::tcp::rtt::SampleSource;
use crate::tcp::state::State;
use crate::tcp::timer::Timer;
use crate::time::{Duration, Instant};
use crate::wire::{SeqNum, TcpFlags, TcpRepr};

/// RFC 7323 5.5: TS.Recent older than 24 days no longer counts for PAWS.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

impl Connection {
    /// Processes one segment of this connection (already checksum-verified
    /// and matched to the 4-tuple by the endpoint).
    pub fn handle_segment(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        self.stats.segs_in += 1;
        self.stats.bytes_in += seg.payload.len() as u64;
        match self.state {
            State::Closed => {}
            State::Listen => self.on_listen(now, seg),
            State::SynSent => self.on_syn_sent(now, seg),
            _ => self.on_synchronized(now, seg),
        }
        self.arm_timers(now);
    }

    /// RFC 9293 3.10.7.2: LISTEN.
    fn on_listen(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        if seg.flags.contains(TcpFlags::RST) {
            // First: an incoming RST is ignored.
            self.state = State::Closed;
            return;
        }
        if let Some(ack) = seg.ack {
            // Second: any ACK is bad here: <SEQ=SEG.ACK><CTL=RST>.
            self.rst_pending = Some((ack, None));
            self.state = State::Closed;
            return;
        }
        if !seg.flags.contains(TcpFlags::SYN) {
            self.state = State::Closed;
            return;
        }
        // Third: SYN. RCV.NXT = SEG.SEQ+1, IRS = SEG.SEQ; the SYN-ACK goes
        // out from poll_transmit (snd_nxt == iss), SND.NXT = ISS+1 then.
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.negotiate(now, seg, true);
        self.snd_wnd = usize::from(seg.window_len); // RFC 7323 2.2: never scaled on SYN
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = self.iss;
        self.last_recv = now;
        self.state = State::SynReceived;
        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
    }

    /// RFC 9293 3.10.7.3: SYN-SENT.
    fn on_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let rst = seg.flags.contains(TcpFlags::RST);
        let mut ack_ok = false;
        if let Some(ack) = seg.ack {
            // First: SEG.ACK =< ISS or SEG.ACK > SND.NXT is unacceptable.
            if ack <= self.iss || ack > self.snd_max {
                if !rst {
                    self.rst_pending = Some((ack, None));
                }
                self.stats.dropped_unacceptable += 1;
                return;
            }
            ack_ok = true;
        }
        if rst {
            // Second: a RST with an acceptable ACK refuses the connection
            // (RFC 5961 3.2 keeps this rule for SYN-SENT); without ACK, drop.
            if ack_ok {
                self.enter_closed(Some(ConnError::Refused));
            }
            return;
        }
        if !seg.flags.contains(TcpFlags::SYN) {
            return; // Fifth: neither SYN nor RST.
        }
        // Fourth: SYN.
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        // Our SYN's window was advertised before RCV.NXT was known: the edge
        // the peer holds is RCV.NXT plus that window.
        self.rcv_adv = self.rcv_nxt + self.rx.window().min(65535);
        self.negotiate(now, seg, false);
        self.last_recv = now;
        if let (true, Some(ack)) = (ack_ok, seg.ack) {
            self.snd_una = ack;
            self.syn_acked = true;
            if let Some((end, at)) = self.timed.take()
                && ack >= end
            {
                self.rtt.on_sample(now - at, SampleSource::Original, now);
            }
            self.consecutive_rtos = 0;
            self.snd_wnd = usize::from(seg.window_len);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            self.state = State::Established;
            self.timers.stop(Timer::Retransmit);
            self.ack_now = true;
            self.push_event(Event::Connected);
            self.push_event(Event::Writable);
        } else {
            // Simultaneous open: SYN-RECEIVED, and our SYN goes again as a
            // SYN-ACK <SEQ=ISS><ACK=RCV.NXT>.
            self.snd_wnd = usize::from(seg.window_len);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.state = State::SynReceived;
            self.snd_nxt = self.iss;
        }
    }

    /// Options from the peer's SYN or SYN-ACK (RFC 9293 3.7.1, RFC 7323 2.2
    /// and 3.2, RFC 2018 2). A passive opener answers only what was offered;
    /// an active opener keeps only what both sides sent.
    fn negotiate(&mut self, now: Instant, seg: &TcpRepr<'_>, passive: bool) {
        let _ = passive;
        let peer_mss = seg.mss.filter(|&m| m > 0).unwrap_or(DEFAULT_PEER_MSS);
        self.wscale_ok = self.cfg.window_scaling && seg.window_scale.is_some();
        match (self.cfg.window_scaling, seg.window_scale) {
            (true, Some(shift)) => {
                // RFC 7323 2.3: a shift above 14 is used as 14.
                self.snd_wscale = shift.min(super::MAX_WSCALE);
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.sack_ok = self.cfg.sack && seg.sack_permitted;
        self.ts = match (self.cfg.timestamps, seg.timestamps) {
            (true, Some(t)) => Some(Timestamps {
                recent: t.tsval,
                recent_at: now,
                // RFC 7323 7.1: a per-connection offset (set_ts_offset).
                offset: self.ts_offset,
            }),
            _ => None,
        };
        let opt = if self.ts.is_some() { TS_OPTION_LEN } else { 0 };
        self.send_mss = usize::from(peer_mss.min(self.cfg.mss))
            .saturating_sub(opt)
            .max(1);
    }

    /// Whether a segment of `len` sequence numbers at `seq` overlaps the
    /// receive window (RFC 9293 3.10.7.4 first, the four cases).
    fn acceptable(&self, seq: SeqNum, len: usize) -> bool {
        let wnd = self.rcv_wnd();
        if len == 0 {
            if wnd == 0 {
                seq == self.rcv_nxt
            } else {
                seq.in_window(self.rcv_nxt, wnd)
            }
        } else if wnd == 0 {
            false
        } else {
            seq.in_window(self.rcv_nxt, wnd) || (seq + (len - 1)).in_window(self.rcv_nxt, wnd)
        }
    }

    /// The receive window in force: what we advertised, or more if the
    /// application has read since.
    pub(super) fn rcv_wnd(&self) -> usize {
        let advertised = (self.rcv_adv - self.rcv_nxt).max(0) as usize;
        advertised.max(self.rx.window())
    }

    /// RFC 9293 3.10.7.4: SYN-RECEIVED and the synchronized states.
    fn on_synchronized(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let rst = seg.flags.contains(TcpFlags::RST);
        let syn = seg.flags.contains(TcpFlags::SYN);
        if self.state == State::SynReceived && syn && !rst && seg.seq == self.irs {
            match seg.ack {
                // RFC 9293 3.5 Figure 8 line 6: in a simultaneous open, the
                // peer's SYN-ACK acknowledges our SYN: ESTABLISHED.
                Some(ack) if self.snd_una < ack && ack <= self.snd_max => {
                    self.complete_handshake(seg, ack);
                    self.on_new_ack(now, ack, seg.timestamps.map(|t| t.tsecr));
                }
                // The peer's SYN again: our SYN-ACK was lost. Send it again.
                None => self.snd_nxt = self.iss,
                Some(ack) => self.rst_pending = Some((ack, None)),
            }
            return;
        }
        let mut payload = seg.payload;
        let mut fin = seg.flags.contains(TcpFlags::FIN);
        let len = payload.len() + usize::from(syn) + usize::from(fin);

        // RFC 7323 5.3: PAWS, before the sequence number check.
        if let (Some(ts), Some(t), false) = (self.ts, seg.timestamps, rst)
            && (t.tsval.wrapping_sub(ts.recent) as i32) < 0
            && now - ts.recent_at < PAWS_IDLE
        {
            self.stats.dropped_paws += 1;
            self.ack_now = true;
            return;
        }

        // First: sequence number.
        if !self.acceptable(seg.seq, len) {
            let zero_window_edge = self.rcv_wnd() == 0 && seg.seq == self.rcv_nxt;
            if !zero_window_edge || rst || syn {
                self.stats.dropped_unacceptable += 1;
                if self.state == State::TimeWait && fin && !rst {
                    // RFC 9293 3.10.7.4 eighth, TIME-WAIT: a retransmitted FIN
                    // is acknowledged and restarts the 2*MSL timeout.
                    self.timers.set(Timer::TimeWait, now + self.cfg.time_wait);
                }
                if !rst {
                    self.ack_now = true;
                    // RFC 2883 4.1: report a duplicate segment with D-SACK.
                    if self.sack_ok
                        && !payload.is_empty()
                        && seg.seq + payload.len() <= self.rcv_nxt
                    {
                        self.dsack = Some((seg.seq, seg.seq + payload.len()));
                    }
                }
                return;
            }
            // RFC 9293 3.10.7.4: with a zero window, still process the ACK
            // (and RST/URG) of a segment at RCV.NXT; drop its data.
            payload = &[];
            fin = false;
            self.ack_now = true;
        }
        let last_ack_sent = self.rcv_nxt;

        // Second: RST (RFC 5961 3.2).
        if rst {
            if seg.seq == self.rcv_nxt {
                match self.state {
                    State::TimeWait => self.state = State::Closed,
                    State::Closing | State::LastAck => self.enter_closed(None),
                    _ => self.enter_closed(Some(ConnError::Reset)),
                }
            } else {
                self.stats.challenge_acks += 1;
                self.ack_now = true;
            }
            return;
        }

        // Fourth: SYN in a synchronized state (RFC 5961 4.2): challenge ACK.
        if syn {
            self.stats.challenge_acks += 1;
            self.ack_now = true;
            return;
        }

        // RFC 7323 4.3: TS.Recent.
        if let (Some(ts), Some(t)) = (self.ts.as_mut(), seg.timestamps)
            && seg.seq <= last_ack_sent
            && (t.tsval.wrapping_sub(ts.recent) as i32) >= 0
        {
            ts.recent = t.tsval;
            ts.recent_at = now;
        }
        self.last_recv = now;
        self.keepalive_sent = 0;

        // Fifth: ACK.
        let Some(ack) = seg.ack else { return };
        if self.state == State::SynReceived {
            if ack <= self.snd_una || ack > self.snd_max {
                self.rst_pending = Some((ack, None));
                return;
            }
            self.complete_handshake(seg, ack);
        }
        if !self.process_ack(now, seg, ack) {
            return;
        }
        if self.state == State::Closed {
            return;
        }
        if self.state == State::TimeWait {
            // Only a retransmitted FIN can arrive: ACK it, restart 2*MSL.
            if fin {
                self.ack_now = true;
                self.timers.set(Timer::TimeWait, now + self.cfg.time_wait);
            }
            return;
        }

        // Seventh: segment text (URG is treated as ordinary data, RFC 6093).
        if !payload.is_empty() {
            if self.app_closed {
                // RFC 2525 2.17: nobody will read it; reset.
                self.rst_pending = Some((self.snd_nxt, Some(seg.seq + payload.len())));
                self.enter_closed(Some(ConnError::Aborted));
                return;
            }
            if self.state.accepts_data() {
                self.receive_data(now, seg.seq, payload);
            }
        }

        // Eighth: FIN.
        if fin && self.peer_fin.is_none() {
            self.peer_fin = Some(seg.seq + payload.len());
            self.ack_now = true;
        }
        self.check_peer_fin(now);
    }

    /// SYN-RECEIVED -> ESTABLISHED (or FIN-WAIT-1 if the application already
    /// shut down): RFC 9293 3.10.7.4 fifth, "SYN-RECEIVED STATE".
    fn complete_handshake(&mut self, seg: &TcpRepr<'_>, ack: SeqNum) {
        self.state = if self.fin_queued {
            State::FinWait1
        } else {
            State::Established
        };
        // A SYN's window is never scaled (RFC 7323 2.2); others are.
        let shift = if seg.flags.contains(TcpFlags::SYN) {
            0
        } else {
            self.snd_wscale
        };
        self.snd_wnd = usize::from(seg.window_len) << shift;
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = ack;
        self.push_event(Event::Connected);
        self.push_event(Event::Writable);
    }

    /// The ACK field of an acceptable segment (RFC 9293 3.10.7.4 fifth, RFC
    /// 5961 5.2). Returns false if the segment is to be dropped.
    fn process_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, ack: SeqNum) -> bool {
        if ack > self.snd_max {
            // Acknowledges something not yet sent: ACK and drop.
            self.stats.dropped_unacceptable += 1;
            self.ack_now = true;
            return false;
        }
        let max_wnd = self.max_snd_wnd.max(65535);
        if ack < self.snd_una - max_wnd {
            // RFC 5961 5.2: too old to be a real ACK.
            self.stats.challenge_acks += 1;
            self.ack_now = true;
            return false;
        }
        let window = usize::from(seg.window_len) << self.snd_wscale;
        let blocks = sack_blocks(seg);
        let before = BeforeAck {
            in_flight: self.in_flight(),
            lost: self.rate.lost(),
            in_recovery: self.recovery.is_some(),
        };
        let mut delivered = 0usize;
        let mut dsack = false;
        let newly_sacked = if self.sack_ok {
            let info = self.sack.on_ack(
                ack.max(self.snd_una),
                self.snd_max,
                &blocks[..blocks_len(seg)],
            );
            if let Some(block) = info.dsack {
                self.stats.dsacks_received += 1;
                dsack = true;
                self.on_dsack(now, block);
            }
            for &(start, end) in &blocks[..blocks_len(seg)] {
                if info.dsack == Some((start, end)) {
                    continue;
                }
                delivered += self
                    .sent
                    .on_sack(start, end, now, &mut self.rate, &mut self.rack);
            }
            info.newly_sacked_bytes
        } else {
            0
        };

        let advanced = ack > self.snd_una;
        if advanced {
            delivered += self
                .sent
                .on_cumulative_ack(ack, now, &mut self.rate, &mut self.rack);
            self.on_new_ack(now, ack, seg.timestamps.map(|t| t.tsecr));
        } else if ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.flags.intersects(TcpFlags::SYN | TcpFlags::FIN)
            && self.snd_max > self.snd_una
            && (window == self.snd_wnd || newly_sacked > 0)
        {
            // RFC 5681 2: a duplicate ACK (RFC 6675 counts SACK news too).
            self.on_dup_ack(now);
        }
        self.after_ack(now, before, delivered, dsack, advanced);

        // Window update, if the segment is not older than the last one used
        // (SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)).
        if self.snd_wl1 < seg.seq || (self.snd_wl1 == seg.seq && self.snd_wl2 <= ack) {
            let reopened = self.snd_wnd == 0 && window > 0;
            self.snd_wnd = window;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            if reopened {
                self.timers.stop(Timer::Persist);
                self.persist_backoff = 0;
            }
        }
        true
    }

    /// SND.UNA < SEG.ACK =< SND.MAX: new data acknowledged.
    fn on_new_ack(&mut self, now: Instant, ack: SeqNum, tsecr: Option<u32>) {
        let mut acked = (ack - self.snd_una) as usize;
        if !self.syn_acked {
            self.syn_acked = true;
            acked -= 1;
        }
        let data = acked.min(self.tx.len());
        self.tx.ack(data);
        self.tx_base += data;
        acked -= data;
        let fin_newly_acked = acked > 0 && !self.fin_acked;
        if fin_newly_acked {
            self.fin_acked = true;
        }
        self.snd_una = ack;
        if self.snd_nxt < self.snd_una {
            self.snd_nxt = self.snd_una;
        }
        self.stats.bytes_acked += data as u64;

        // RFC 6298 / Karn: the timed segment, if it was not retransmitted
        // (nanosecond precision).
        let mut sampled = false;
        if let Some((end, at)) = self.timed
            && ack >= end
        {
            self.timed = None;
            sampled = self.rtt.on_sample(now - at, SampleSource::Original, now);
        }
        // RFC 7323 4.1 (RTTM): otherwise, the echoed timestamp measures the
        // round trip even of a retransmission, which ends Karn's back-off.
        // Only echoes of segments sent since the last timeout count: an ACK
        // provoked by a duplicate carries an old TS.Recent (RFC 7323 4.3 does
        // not update it for unacceptable segments), and its "sample" would be
        // the whole outage, blowing the RTO up to its maximum. Our TSval clock
        // ticks in milliseconds, hence the coarser sample.
        if !sampled
            && self.consecutive_rtos > 0
            && tsecr.is_some_and(|e| (e.wrapping_sub(self.last_rto_tsval) as i32) >= 0)
            && self.ts.is_some()
            && let Some(tsecr) = tsecr
            && tsecr != 0
        {
            let elapsed_ms = self.tsval(now).wrapping_sub(tsecr);
            if (elapsed_ms as i32) >= 0 {
                let rtt = Duration::from_millis(u64::from(elapsed_ms));
                self.rtt.on_sample(rtt, SampleSource::Timestamp, now);
            }
        }

        self.consecutive_rtos = 0;
        match self.recovery {
            Some(recover) if ack >= recover => {
                // RFC 6582 3.2 step 3: full acknowledgment ends recovery.
                self.recovery = None;
                self.dup_acks = 0;
                self.cc.on_recovery_exit(now);
            }
            Some(_) => {
                // RFC 6582 3.2 step 5: partial acknowledgment; retransmit the
                // first unacknowledged segment.
                self.rtx_una = true;
                if !self.sack_ok {
                    self.dup_acks = 0;
                }
            }
            None => self.dup_acks = 0,
        }

        // RFC 6298 5.2, 5.3: stop the timer when all is acknowledged, else
        // restart it.
        if self.snd_una == self.snd_max {
            self.timers.stop(Timer::Retransmit);
            self.unacked_since = None;
        } else {
            self.timers.set(Timer::Retransmit, now + self.rtt.rto());
            self.unacked_since = Some(now);
        }
        if data > 0 && self.state.can_send() && !self.fin_queued {
            self.push_event(Event::Writable);
        }
        if fin_newly_acked {
            self.on_fin_acked(now);
        }
    }

    /// RFC 5681 3.2 and RFC 6675 5: the third duplicate ACK (or SACK showing
    /// the first segment lost) starts fast retransmit and recovery.
    fn on_dup_ack(&mut self, now: Instant) {
        self.dup_acks += 1;
        self.stats.dup_acks += 1;
        if self.recovery.is_some() {
            return;
        }
        let lost = self.dup_acks as usize >= DUP_THRESH
            || (self.sack_ok && self.sack.is_lost(self.snd_una, self.send_mss, DUP_THRESH));
        if lost {
            self.enter_recovery(now);
        }
    }

    /// RFC 2883 4: a D-SACK reports one of the episode's retransmissions as
    /// a duplicate (the original had arrived); when all have been, the
    /// congestion response is undone (RFC 9438 4.9 for CUBIC).
    fn on_dsack(&mut self, now: Instant, (start, end): (SeqNum, SeqNum)) {
        let Some(u) = self.undo.as_mut() else {
            return;
        };
        if start < u.low || end > u.high || u.retrans == 0 {
            return;
        }
        u.retrans -= 1;
        if u.retrans == 0 {
            self.undo = None;
            self.stats.spurious_undos += 1;
            self.cc.on_spurious_loss(now);
        }
    }

    /// A congestion response was taken: its retransmissions are counted
    /// from here, in case D-SACKs show them needless.
    pub(super) fn arm_undo(&mut self) {
        self.undo = self.sack_ok.then_some(Undo {
            retrans: 0,
            low: self.snd_una,
            high: self.snd_una,
        });
    }

    /// Fast retransmit and recovery begin (RFC 5681 3.2, RFC 6675 5, RFC
    /// 8985 6.2 when RACK found the loss), unless the loss may be of data
    /// sent before the last recovery or timeout.
    fn enter_recovery(&mut self, now: Instant) {
        // Without SACK (RFC 6582 4.1) only a cumulative ACK beyond `recover`
        // tells a new loss from the duplicate ACKs of the last episode. With
        // SACK the scoreboard tells them apart: the first segment at
        // `recover` was sent after the last episode began, and its loss is
        // new. RFC 6675 5.1 holds back a new recovery only until HighACK >=
        // RecoveryPoint after a timeout; Linux likewise keeps the RFC 6582
        // rule for Reno alone ("SACK TCP is safe", tcp_try_undo_recovery).
        let old_episode = if self.sack_ok {
            self.snd_una < self.last_recover
        } else {
            self.snd_una <= self.last_recover
        };
        if self.recovery.is_some() || old_episode {
            return;
        }
        self.recovery = Some(self.snd_max);
        self.last_recover = self.snd_max;
        self.high_rxt = self.snd_una;
        self.rtx_una = true;
        if self.sack_ok {
            // The first unacknowledged segment is the one fast retransmit
            // resends (RFC 5681 3.2 step 4 / RFC 6675 5 step 4.3).
            let n = self.sent.mark_lost_at(self.snd_una);
            self.rate.on_lost(n);
        }
        self.stats.fast_retransmits += 1;
        self.arm_undo();
        self.tlp_end = None;
        self.timers.stop(Timer::LossProbe);
        self.cc
            .on_congestion_event(now, self.flight(), self.send_mss);
    }

    /// After an ACK was processed: the tail-loss-probe episode (RFC 8985
    /// 7.4), RACK loss detection (6.2), the rate sample, the cwnd-limited
    /// test (RFC 7661) and the controller.
    fn after_ack(
        &mut self,
        now: Instant,
        before: BeforeAck,
        delivered: usize,
        dsack: bool,
        advanced: bool,
    ) {
        let recovery_exit = before.in_recovery && self.recovery.is_none();
        // RFC 8985 7.4 (as Linux tcp_process_tlp_ack): the episode ends at
        // the first ACK at or beyond TLP.end_seq. A probe of new data needs
        // nothing more (RACK judges any loss). For a retransmitted probe: a
        // D-SACK means the original had arrived; an ACK beyond TLP.end_seq
        // means the probe repaired a loss (respond once, as to a loss); a
        // plain duplicate ACK at TLP.end_seq means nothing was lost. An ACK
        // that reaches exactly TLP.end_seq waits for the D-SACK that may
        // follow.
        if let Some((end, retransmitted)) = self.tlp_end
            && self.snd_una >= end
        {
            if !retransmitted || dsack {
                self.tlp_end = None;
            } else if self.snd_una > end {
                self.tlp_end = None;
                if self.recovery.is_none() {
                    self.stats.tlp_recoveries += 1;
                    self.cc
                        .on_congestion_event(now, self.flight(), self.send_mss);
                    self.cc.on_recovery_exit(now);
                }
            } else if !advanced && delivered == 0 {
                self.tlp_end = None;
            }
        }
        if self.sack_ok {
            self.rack.set_min_rtt(self.rtt.min_rtt());
            self.rack.update_reo_wnd(
                self.snd_una,
                self.snd_max,
                dsack,
                recovery_exit,
                self.recovery.is_some(),
                self.sack.sacked_bytes(),
                DUP_THRESH * self.send_mss,
                self.rtt.srtt(),
            );
            self.rack_detect(now);
            if self.recovery.is_some() {
                // RFC 6675 IsLost: holes the SACKs show lost.
                let below = self.sack.lost_below(self.send_mss, DUP_THRESH);
                let n = self.sent.mark_lost_below(below);
                self.rate.on_lost(n);
            }
        }
        let newly_lost = (self.rate.lost() - before.lost) as usize;
        let rs = self.rate.finish(now, self.rtt.min_rtt());
        if rs.delivery_rate.is_some() {
            self.last_rate = rs.delivery_rate;
        }
        if self.snd_una >= self.round_end {
            self.prev_max_flight = self.max_flight;
            self.max_flight = self.in_flight();
            self.round_end = self.snd_max;
        }
        let m = self.prev_max_flight.max(self.max_flight);
        let cwnd = self.cc.cwnd();
        let cwnd_limited = if cwnd < self.cc.ssthresh() {
            cwnd < 2 * m
        } else {
            m + self.send_mss >= cwnd
        };
        if delivered > 0 || newly_lost > 0 {
            self.cc.on_ack(&AckSample {
                now,
                delivered,
                lost: newly_lost,
                prior_in_flight: before.in_flight,
                in_flight: self.in_flight(),
                rate: rs,
                rtt: rs.rtt,
                srtt: self.rtt.srtt(),
                min_rtt: self.rtt.min_rtt(),
                mss: self.send_mss,
                in_recovery: self.recovery.is_some(),
                cwnd_limited,
            });
        }
        if advanced {
            self.arm_loss_probe(now);
        }
    }

    /// RFC 8985 6.2 step 5 and 6.3: marks what RACK finds lost, starts
    /// recovery for it, and (re)arms the reordering timer.
    pub(super) fn rack_detect(&mut self, now: Instant) {
        if !self.sack_ok {
            return;
        }
        let v = self.sent.rack_detect_loss(&self.rack, now);
        match v.recheck_at {
            Some(t) => self.timers.set(Timer::Rack, t),
            None => self.timers.stop(Timer::Rack),
        }
        let Some(end) = v.lost_below else {
            return;
        };
        self.stats.rack_lost_bytes += v.newly_lost as u64;
        self.rate.on_lost(v.newly_lost);
        self.sack.set_time_lost_below(end);
        self.enter_recovery(now);
    }

    /// Our FIN was acknowledged (RFC 9293 3.10.7.4, fifth, per state).
    fn on_fin_acked(&mut self, now: Instant) {
        match self.state {
            State::FinWait1 => {
                if self.peer_fin_done {
                    self.enter_time_wait(now);
                } else {
                    self.state = State::FinWait2;
                    if self.app_closed {
                        self.timers.set(Timer::TimeWait, now + self.cfg.time_wait);
                    }
                }
            }
            State::Closing => self.enter_time_wait(now),
            State::LastAck => self.enter_closed(None),
            _ => {}
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.timers.stop_all();
        self.timers.set(Timer::TimeWait, now + self.cfg.time_wait);
        self.push_event(Event::Closed);
        self.release_buffers();
    }

    /// Seventh step: data into the receive buffer, and the ACK policy of RFC
    /// 5681 4.2 / RFC 1122 4.2.3.2.
    fn receive_data(&mut self, now: Instant, seq: SeqNum, payload: &[u8]) {
        let (offset, data) = if seq < self.rcv_nxt {
            let skip = ((self.rcv_nxt - seq) as usize).min(payload.len());
            if self.sack_ok && skip > 0 {
                // RFC 2883 4.1: the duplicate part.
                self.dsack = Some((seq, seq + skip));
            }
            (0, &payload[skip..])
        } else {
            ((seq - self.rcv_nxt) as usize, payload)
        };
        if data.is_empty() {
            self.ack_now = true;
            return;
        }
        let out = self.rx.write_at(offset, data);
        self.stats.dropped_ooo_full += out.dropped as u64;
        if out.duplicate > 0 && self.sack_ok && self.dsack.is_none() {
            self.dsack = Some((seq, seq + payload.len()));
        }
        if out.advanced > 0 {
            self.rcv_nxt += out.advanced;
            self.push_event(Event::Readable);
        }
        if self.dsack.is_some() {
            self.stats.dsacks_sent += 1;
        }
        if offset > 0 || out.advanced > data.len() || self.dsack.is_some() || out.trimmed > 0 {
            // Out of order, or filling a hole: ACK at once (RFC 5681 4.2).
            self.ack_now = true;
        } else {
            self.unacked_segs += 1;
            if self.quickacks > 0 {
                self.quickacks -= 1;
                self.ack_now = true;
            } else if self.unacked_segs >= 2 {
                // At least every second full-sized segment (RFC 5681 4.2).
                self.ack_now = true;
            } else if !self.timers.is_set(Timer::DelayedAck) {
                self.timers
                    .set(Timer::DelayedAck, now + self.cfg.delayed_ack);
            }
        }
    }

    /// Eighth step, once every byte before the peer's FIN has arrived.
    fn check_peer_fin(&mut self, now: Instant) {
        let Some(fin) = self.peer_fin else { return };
        if self.peer_fin_done || fin != self.rcv_nxt {
            return;
        }
        self.rcv_nxt += 1;
        self.peer_fin_done = true;
        self.ack_now = true;
        self.push_event(Event::PeerClosed);
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => {
                if self.fin_acked {
                    self.enter_time_wait(now);
                } else {
                    self.state = State::Closing;
                }
            }
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }
}

/// What the connection looked like before an ACK was processed.
#[derive(Debug, Clone, Copy)]
struct BeforeAck {
    in_flight: usize,
    /// C.lost: losses marked anywhere in the ACK's processing (fast
    /// retransmit, RACK, IsLost) reach the controller with it.
    lost: u64,
    in_recovery: bool,
}

fn sack_blocks(seg: &TcpRepr<'_>) -> [(SeqNum, SeqNum); 4] {
    let mut out = [(SeqNum::new(0), SeqNum::new(0)); 4];
    for (o, b) in out.iter_mut().zip(seg.sack_ranges.iter().flatten()) {
        *o = *b;
    }
    out
}

fn blocks_len(seg: &TcpRepr<'_>) -> usize {
    seg.sack_ranges.iter().flatten().count()
}
