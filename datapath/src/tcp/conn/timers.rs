//! Timer expirations: retransmission (RFC 6298 5.4-5.7), zero-window probes
//! (RFC 9293 3.8.6.1), delayed ACK, keepalive (RFC 1122 4.2.3.6), TIME-WAIT,
//! and the user timeout (RFC 5482).

use super::{ConnError, Connection};
use crate::tcp::state::State;
use crate::tcp::timer::Timer;
use crate::time::Instant;

impl Connection {
    /// When `handle_timeout` should next be called.
    /// (Segments ready to send are found by `poll_transmit`, which the
    /// caller runs after every input.)
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.timers.next(), self.pace_wait) {
            (Some(t), Some(p)) => Some(t.min(p)),
            (t, p) => t.or(p),
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.pace_wait.is_some_and(|p| p <= now) {
            // The pacer's hold is over; the next poll_transmit sends.
            self.pace_wait = None;
        }
        while let Some(t) = self.timers.take_expired(now) {
            match t {
                Timer::Retransmit => self.on_rto(now),
                Timer::Persist => {
                    self.probe_pending = true;
                    self.stats.zero_window_probes += 1;
                    self.persist_backoff = self.persist_backoff.saturating_add(1);
                    self.timers
                        .set(Timer::Persist, now + self.persist_interval());
                }
                Timer::DelayedAck => self.ack_now = true,
                Timer::Rack => self.rack_detect(now),
                Timer::LossProbe => {
                    // RFC 8985 7.3: send a probe, then wait an RTO for it.
                    if self.recovery.is_none() && self.snd_max > self.snd_una {
                        self.tlp_pending = true;
                        self.timers.set(Timer::Retransmit, now + self.rtt.rto());
                    }
                }
                Timer::Keepalive => {
                    let Some(k) = self.cfg.keepalive else {
                        continue;
                    };
                    if self.keepalive_sent >= k.probes {
                        self.enter_closed(Some(ConnError::KeepaliveTimeout));
                    } else {
                        self.keepalive_pending = true;
                        self.keepalive_sent += 1;
                        self.stats.keepalive_probes += 1;
                        self.timers.set(Timer::Keepalive, now + k.interval);
                    }
                }
                Timer::TimeWait => {
                    if self.state == State::TimeWait {
                        // 2*MSL is over: quietly gone.
                        self.state = State::Closed;
                        self.timers.stop_all();
                    } else if self.state == State::FinWait2 {
                        // The orphan timeout of a closed FIN-WAIT-2.
                        self.enter_closed(Some(ConnError::TimedOut));
                    }
                }
            }
        }
        self.arm_timers(now);
    }

    /// RFC 9293 3.8.6.1: the probe interval follows the RTO with back-off.
    fn persist_interval(&self) -> crate::time::Duration {
        let rto = self.rtt.rto();
        let shift = self.persist_backoff.min(16);
        (rto * (1u64 << shift))
            .min(self.cfg.max_rto)
            .max(self.cfg.min_rto)
    }

    /// RFC 6298 5.4-5.7 and RFC 5681 3.1 on a retransmission timeout.
    fn on_rto(&mut self, now: Instant) {
        match self.state {
            State::SynSent | State::SynReceived => {
                if self.consecutive_rtos >= self.cfg.syn_retries {
                    self.enter_closed(Some(ConnError::TimedOut));
                    return;
                }
                self.consecutive_rtos += 1;
                self.stats.rtos += 1;
                self.rtt.on_timeout();
                self.snd_nxt = self.iss;
                self.timed = None;
                self.timers.set(Timer::Retransmit, now + self.rtt.rto());
            }
            State::Closed | State::Listen | State::TimeWait => {}
            _ => {
                if self.snd_max == self.snd_una {
                    return;
                }
                let user_timeout = self
                    .cfg
                    .user_timeout
                    .zip(self.unacked_since)
                    .is_some_and(|(limit, since)| now - since >= limit);
                if self.consecutive_rtos >= self.cfg.max_retransmits || user_timeout {
                    self.enter_closed(Some(ConnError::TimedOut));
                    return;
                }
                self.consecutive_rtos += 1;
                self.stats.rtos += 1;
                self.cc.on_rto(now, self.flight(), self.send_mss);
                if self.consecutive_rtos == 1 {
                    self.arm_undo();
                }
                // RFC 8985 6.3 / Linux tcp_enter_loss: everything outstanding
                // is lost; the probe episode and RACK's timer are over.
                let lost = self.sent.on_rto();
                self.rate.on_lost(lost);
                self.tlp_end = None;
                self.tlp_pending = false;
                self.timers.stop(Timer::Rack);
                self.timers.stop(Timer::LossProbe);
                self.recovery = None;
                self.rtx_una = false;
                self.dup_acks = 0;
                // RFC 2018 8 / RFC 6675 5.1: SACK information is advisory;
                // after a timeout, resend from SND.UNA.
                self.sack.reset();
                self.last_recover = self.snd_max;
                self.snd_nxt = self.snd_una;
                self.high_rxt = self.snd_una;
                self.timed = None;
                self.last_rto_tsval = self.tsval(now);
                self.rtt.on_timeout(); // RFC 6298 5.5: back off
                self.timers.set(Timer::Retransmit, now + self.rtt.rto()); // 5.6
            }
        }
    }

    /// RFC 8985 7.2: arms the probe timeout after new data left or new data
    /// was acknowledged, unless in recovery, after a timeout, in a probe
    /// episode, or with nothing in flight. PTO = 2 SRTT (plus the worst-case
    /// delayed ACK, 200 ms, when one segment is in flight), no later than the
    /// retransmission timer.
    pub(super) fn arm_loss_probe(&mut self, now: Instant) {
        let eligible = self.sack_ok
            && self.state.is_synchronized()
            && self.recovery.is_none()
            && self.consecutive_rtos == 0
            && self.tlp_end.is_none()
            && self.snd_max > self.snd_una;
        if !eligible {
            self.timers.stop(Timer::LossProbe);
            return;
        }
        let mut pto = match self.rtt.srtt() {
            Some(srtt) => srtt * 2,
            None => crate::time::Duration::from_secs(1),
        };
        if self.flight() <= self.send_mss {
            pto += crate::time::Duration::from_millis(200);
        }
        // At least 2 ms, as Linux (TCP_TIMEOUT_MIN_US): at microsecond RTTs a
        // scheduling hiccup at the receiver is not a tail loss.
        pto = pto.max(crate::time::Duration::from_millis(2));
        let at = now + pto;
        match self.timers.get(Timer::Retransmit) {
            Some(rto_at) if rto_at <= at => self.timers.stop(Timer::LossProbe),
            _ => self.timers.set(Timer::LossProbe, at),
        }
    }

    /// Starts or stops the timers that depend on the connection's state:
    /// persist (zero window with data waiting and nothing in flight) and
    /// keepalive (idle, synchronized).
    pub(super) fn arm_timers(&mut self, now: Instant) {
        if !self.state.is_synchronized() || self.state == State::TimeWait {
            self.timers.stop(Timer::Persist);
            self.timers.stop(Timer::Keepalive);
            return;
        }
        let waiting = self.tx.len() > (self.snd_nxt - self.tx_base).max(0) as usize
            || (self.fin_queued && !self.fin_acked && self.snd_max <= self.tx_base + self.tx.len());
        // Data waits and nothing is in flight, so no ACK will come to open
        // the window: probe (RFC 9293 3.8.6.1), which also serves as the
        // sender-side SWS override timer of RFC 1122 4.2.3.4 when the window
        // is open but too small to use, and recovers a lost window update.
        let blocked = waiting && self.snd_max == self.snd_una;
        if blocked {
            if !self.timers.is_set(Timer::Persist) {
                self.timers
                    .set(Timer::Persist, now + self.persist_interval());
            }
        } else {
            self.timers.stop(Timer::Persist);
            self.persist_backoff = 0;
        }
        if let Some(k) = self.cfg.keepalive
            && self.keepalive_sent == 0
        {
            self.timers.set(Timer::Keepalive, self.last_recv + k.idle);
        }
    }
}
